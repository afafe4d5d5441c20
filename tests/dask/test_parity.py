"""The core scenarios of ``tests/integration/test_runs.py``, on both orchestrators.

The test functions are imported from that module unchanged and run twice:
with the local orchestrator, and on the session's Dask cluster. The
orchestrator comes from the environment (``SHIPYARD_ORCHESTRATOR`` and
``SHIPYARD_DASK_ADDRESS``), which the ``client`` fixture's stack reads, so
these also check that plumbing. Caching, code versions, failures, resuming,
lineage and the pickle opt-in must behave the same whichever executes the
steps; on Dask every pipeline file lives in the test's own folder, which the
workers import from (and re-import when a test edits it).
"""

from __future__ import annotations

import pytest

from shipyard.client import Client
from tests.integration.test_runs import (  # noqa: F401 - collected here as well
    _forget_project_modules,
    test_a_step_whose_cached_outputs_were_deleted_runs_again,
    test_a_value_contradicting_the_return_annotation_fails_the_step,
    test_comments_and_docstrings_do_not_invalidate_the_cache,
    test_editing_a_helper_imported_inside_the_step,
    test_editing_a_helper_in_another_module_two_calls_deep,
    test_editing_a_helper_reruns_the_step_that_calls_it,
    test_failure_skips_downstream_and_runs_independent_branches,
    test_lineage_and_load_output,
    test_metrics_are_recorded_and_copied_to_cached_step_runs,
    test_next_run_resumes_from_the_failed_step,
    test_pickle_needs_an_explicit_opt_in,
    test_running_an_edited_file_again_in_the_same_process,
    test_second_run_is_served_from_the_cache,
    test_step_with_cache_false_always_runs,
    test_step_without_return_annotation,
)


@pytest.fixture(autouse=True, params=["local", "dask"])
def orchestrator(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which orchestrator the stack of this test's ``client`` uses."""
    if request.param == "dask":
        cluster = request.getfixturevalue("dask_cluster")
        monkeypatch.setenv("SHIPYARD_ORCHESTRATOR", "dask")
        monkeypatch.setenv("SHIPYARD_DASK_ADDRESS", cluster.address)
    return str(request.param)


def test_the_client_runs_on_the_chosen_orchestrator(
    orchestrator: str, client: Client
) -> None:
    """Guards the rest: the runs above really used the orchestrator in their name."""
    assert client.stack.orchestrator == orchestrator
    from tests.helpers import write_module

    assert client.stack.project_dir is not None
    write_module(
        client.stack.project_dir,
        "which",
        """
        from shipyard import pipeline, step


        @step
        def one() -> int:
            return 1


        @pipeline
        def p():
            one()
        """,
    )
    result = client.run("which.py:p")

    assert result.ok, result.error
    assert client.get_run(result.run_id).orchestrator == orchestrator
