"""Runs in process through ``shipyard.Client`` on a real project (SQLite + artifact folder).

Pipelines are written as files into the project folder and run by target
(``client.run("file.py:p")``). To run an edited version, the test rewrites
the file and drops the module from ``sys.modules`` so it is imported afresh,
as a new ``shipyard run`` process would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.client import Client
from shipyard.engine.runner import RunResult
from shipyard.errors import ArtifactNotFound, StepFailed, UnsafeArtifactError
from tests.helpers import run_cli, write_module


@pytest.fixture(autouse=True)
def _forget_project_modules(project: Path) -> Iterator[None]:
    """Remove the modules the test imported from its project folder."""
    yield
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None) or ""
        if file.startswith(str(project)):
            del sys.modules[name]


def rewrite(folder: Path, name: str, source: str) -> Path:
    """Write a new version of a module and make the next run import it afresh."""
    sys.modules.pop(name, None)
    return write_module(folder, name, source)


def statuses(result: RunResult) -> dict[str, str]:
    return {name: step.status for name, step in result.steps.items()}


def line_of(source: str, needle: str) -> int:
    for number, line in enumerate(textwrap.dedent(source).splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in source")


# -- caching ------------------------------------------------------------------------

BASIC = """
from shipyard import log_metrics, pipeline, step


@step
def load(n: int = 5) -> list:
    return list(range(n))


@step
def square(values: list) -> list:
    return [v * v for v in values]


@step
def total(values: list) -> int:
    result = sum(values)
    log_metrics(total=result, count=len(values))
    return result


@pipeline
def p(n: int = 5):
    total(square(load(n=n)))
"""


def test_second_run_is_served_from_the_cache(project: Path, client: Client) -> None:
    write_module(project, "basic", BASIC)

    first = client.run("basic.py:p")
    second = client.run("basic.py:p")

    assert first.ok and second.ok
    assert statuses(first) == dict.fromkeys(["load", "square", "total"], "completed")
    assert {s.reason for s in first.steps.values()} == {"first run"}
    assert statuses(second) == dict.fromkeys(["load", "square", "total"], "cached")
    assert {s.reason for s in second.steps.values()} == {
        f"same key as run {first.run_id}"
    }
    for name in first.steps:
        assert second.artifact(name).id == first.artifact(name).id
    first_records = {s.step: s for s in client.step_runs(first.run_id)}
    for record in client.step_runs(second.run_id):
        assert record.cached_from == first_records[record.step].id

    uncached = client.run("basic.py:p", cache=False)
    assert statuses(uncached) == dict.fromkeys(["load", "square", "total"], "completed")
    assert {s.reason for s in uncached.steps.values()} == {
        "cache disabled for this run"
    }

    other = client.run("basic.py:p", params={"n": 3})
    assert statuses(other) == dict.fromkeys(["load", "square", "total"], "completed")
    assert other.steps["load"].reason == "params changed (n 5 -> 3)"
    assert client.load_output(other.run_id, "total") == 0 + 1 + 4


def test_metrics_are_recorded_and_copied_to_cached_step_runs(
    project: Path, client: Client
) -> None:
    write_module(project, "metrics_pipe", BASIC)

    first = client.run("metrics_pipe.py:p")
    second = client.run("metrics_pipe.py:p")

    expected = {"total": {"total": 30.0, "count": 5.0}}
    assert client.metrics(first.run_id) == expected
    assert client.metrics(second.run_id) == expected
    cached = client.step_run(second.run_id, "total")
    assert cached.status == "cached"
    assert cached.metrics == {"total": 30.0, "count": 5.0}
    assert cached.cached_from == client.step_run(first.run_id, "total").id


# -- code versions --------------------------------------------------------------------

HELPER_V1 = """
from shipyard import pipeline, step


def adjust(value):
    return value + 1


@step
def load() -> list:
    return [1, 2, 3]


@step
def compute(values: list) -> int:
    return sum(adjust(v) for v in values)


@step
def count(values: list) -> int:
    return len(values)


@pipeline
def p():
    values = load()
    compute(values)
    count(values)
"""


def test_editing_a_helper_reruns_the_step_that_calls_it(
    project: Path, client: Client
) -> None:
    write_module(project, "helper_pipe", HELPER_V1)
    first = client.run("helper_pipe.py:p")
    assert client.load_output(first.run_id, "compute") == 9

    # Same length, one character differs: only what the helper does changed.
    rewrite(project, "helper_pipe", HELPER_V1.replace("value + 1", "value + 2"))
    second = client.run("helper_pipe.py:p")

    assert statuses(second) == {
        "load": "cached",
        "compute": "completed",
        "count": "cached",
    }
    reason = second.steps["compute"].reason
    assert reason.startswith("code changed (") and "adjust" in reason, reason
    assert client.load_output(second.run_id, "compute") == 12
    assert second.artifact("load").id == first.artifact("load").id


def test_comments_and_docstrings_do_not_invalidate_the_cache(
    project: Path, client: Client
) -> None:
    write_module(project, "cosmetic", HELPER_V1)
    first = client.run("cosmetic.py:p")

    edited = HELPER_V1.replace(
        "def adjust(value):\n",
        'def adjust(value):\n    """Add one."""\n    # a comment\n',
    )
    rewrite(project, "cosmetic", edited)
    second = client.run("cosmetic.py:p")

    assert statuses(second) == dict.fromkeys(["load", "compute", "count"], "cached")
    assert second.steps["compute"].reason == f"same key as run {first.run_id}"


FEATURES_V1 = """
OFFSET = 10


def base(value):
    return value * 2


def transform(value):
    return base(value) + OFFSET
"""

USES_FEATURES = """
import features
from shipyard import pipeline, step


@step
def load() -> list:
    return [1, 2, 3]


@step
def engineer(values: list) -> list:
    return [features.transform(v) for v in values]


@step
def untouched(values: list) -> int:
    return max(values)


@pipeline
def p():
    values = load()
    engineer(values)
    untouched(values)
"""


def test_editing_a_helper_in_another_module_two_calls_deep(
    project: Path, client: Client
) -> None:
    write_module(project, "features", FEATURES_V1)
    write_module(project, "uses_features", USES_FEATURES)
    first = client.run("uses_features.py:p")
    assert client.load_output(first.run_id, "engineer") == [12, 14, 16]

    rewrite(project, "features", FEATURES_V1.replace("value * 2", "value * 3"))
    sys.modules.pop("uses_features", None)
    second = client.run("uses_features.py:p")

    assert statuses(second) == {
        "load": "cached",
        "engineer": "completed",
        "untouched": "cached",
    }
    assert "base" in second.steps["engineer"].reason
    assert client.load_output(second.run_id, "engineer") == [13, 16, 19]

    rewrite(
        project,
        "features",
        FEATURES_V1.replace("value * 2", "value * 3").replace("10", "20"),
    )
    sys.modules.pop("uses_features", None)
    third = client.run("uses_features.py:p")

    assert statuses(third) == {
        "load": "cached",
        "engineer": "completed",
        "untouched": "cached",
    }
    assert "OFFSET" in third.steps["engineer"].reason
    assert client.load_output(third.run_id, "engineer") == [23, 26, 29]


LOCAL_IMPORT = """
from shipyard import pipeline, step


@step
def load() -> list:
    return [1, 2, 3]


@step
def engineer(values: list) -> list:
    from local_features import transform

    return [transform(v) for v in values]


@pipeline
def p():
    engineer(load())
"""


def test_editing_a_helper_imported_inside_the_step(
    project: Path, client: Client
) -> None:
    write_module(project, "local_features", FEATURES_V1)
    write_module(project, "local_import", LOCAL_IMPORT)
    first = client.run("local_import.py:p")
    assert client.load_output(first.run_id, "engineer") == [12, 14, 16]

    rewrite(project, "local_features", FEATURES_V1.replace("value * 2", "value * 3"))
    sys.modules.pop("local_import", None)
    second = client.run("local_import.py:p")

    assert second.steps["engineer"].status == "completed", second.steps[
        "engineer"
    ].reason
    assert client.load_output(second.run_id, "engineer") == [13, 16, 19]


STALE = """
from shipyard import pipeline, step


def adjust(value):
    return value + 1


def other(value):
    return value + 1


@step
def load() -> list:
    return [1, 2, 3]


@step
def compute(values: list) -> int:
    return sum(adjust(v) for v in values)


@step
def later(values: list) -> int:
    return sum(other(v) for v in values)


@pipeline
def p():
    compute(load())


@pipeline
def p2():
    later(load())
"""


def test_running_an_edited_file_again_in_the_same_process(
    project: Path, client: Client
) -> None:
    write_module(project, "stale", STALE)
    first = client.run("stale.py:p")
    assert client.load_output(first.run_id, "compute") == 9

    write_module(project, "stale", STALE.replace("value + 1", "value + 2", 1))
    second = client.run("stale.py:p")

    assert client.load_output(second.run_id, "compute") == 12
    assert second.steps["compute"].status == "completed"


def test_a_stale_module_does_not_poison_the_cache_of_other_processes(
    project: Path, client: Client
) -> None:
    write_module(project, "poison", STALE)
    client.run("poison.py:p").raise_for_status()
    # Edit a helper the process has not hashed yet, then run the pipeline using
    # it in the same process (the module in sys.modules is the old one).
    write_module(
        project,
        "poison",
        STALE.replace("return value + 1\n\n\n@step", "return value + 5\n\n\n@step"),
    )
    assert "value + 5" in (project / "poison.py").read_text()
    client.run("poison.py:p2").raise_for_status()

    fresh = run_cli("run", "poison.py:p2", "--json", cwd=project)

    assert fresh.returncode == 0, fresh.stderr
    run_id = json.loads(fresh.stdout)["run_id"]
    # A new process imports the edited file: other(v) = v + 5.
    assert client.load_output(run_id, "later") == 6 + 7 + 8


NOT_CACHED = """
from pathlib import Path

from shipyard import pipeline, step

SOURCE = Path(__file__).resolve().parent / "source.txt"


@step(cache=False)
def read() -> str:
    return SOURCE.read_text()


@step
def shout(text: str) -> str:
    return text.upper()


@pipeline
def p():
    shout(read())
"""


def test_step_with_cache_false_always_runs(project: Path, client: Client) -> None:
    write_module(project, "not_cached", NOT_CACHED)
    (project / "source.txt").write_text("hello")

    first = client.run("not_cached.py:p")
    second = client.run("not_cached.py:p")
    (project / "source.txt").write_text("bye")
    third = client.run("not_cached.py:p")

    for result in (first, second, third):
        assert result.steps["read"].status == "completed"
        assert result.steps["read"].reason in (
            "first run",
            "cache disabled for this step",
        )
    assert second.steps["read"].reason == "cache disabled for this step"
    # Same bytes, same artifact: the step after it is still a cache hit.
    assert second.steps["shout"].status == "cached"
    assert third.steps["shout"].status == "completed"
    assert client.load_output(third.run_id, "shout") == "BYE"


# -- failures -----------------------------------------------------------------------

FAILING = """
from shipyard import pipeline, step


@step
def load() -> list:
    return [3, 1, 2]


@step
def fragile(values: list) -> list:
    if len(values) > 2:
        raise RuntimeError(f"too many values: {len(values)}")
    return sorted(values)


@step
def after(values: list) -> int:
    return len(values)


@step
def independent(values: list) -> int:
    return max(values)


@pipeline
def p():
    values = load()
    after(fragile(values))
    independent(values)
"""


def test_failure_skips_downstream_and_runs_independent_branches(
    project: Path, client: Client
) -> None:
    write_module(project, "failing", FAILING)
    line = line_of(FAILING, "raise RuntimeError")

    result = client.run("failing.py:p")

    assert not result.ok
    assert result.status == "failed"
    assert statuses(result) == {
        "load": "completed",
        "fragile": "failed",
        "after": "skipped",
        "independent": "completed",
    }
    assert result.error_step == "fragile"
    assert "RuntimeError: too many values: 3" in result.error
    assert f"failing.py:{line}" in result.error
    assert result.steps["after"].reason == "upstream step 'fragile' did not complete"
    assert "raise RuntimeError" in (result.traceback or "")

    run = client.get_run(result.run_id)
    assert run.status == "failed"
    assert run.error_step == "fragile"
    assert "too many values" in (run.error or "")
    records = {s.step: s for s in client.step_runs(result.run_id)}
    assert records["fragile"].status == "failed"
    assert "Traceback (most recent call last)" in (records["fragile"].traceback or "")
    assert (
        'raise RuntimeError(f"too many values: {len(values)}")'
        in records["fragile"].traceback
    )
    assert "shipyard/engine" not in records["fragile"].traceback
    assert records["after"].status == "skipped"
    assert records["fragile"].outputs == {}

    with pytest.raises(StepFailed) as caught:
        result.raise_for_status()
    assert caught.value.step == "fragile"
    assert caught.value.run_id == result.run_id
    assert "too many values" in str(caught.value)


def test_next_run_resumes_from_the_failed_step(project: Path, client: Client) -> None:
    write_module(project, "resume", FAILING)
    failed = client.run("resume.py:p")
    assert failed.status == "failed"

    rewrite(project, "resume", FAILING.replace("len(values) > 2", "len(values) > 9"))
    fixed = client.run("resume.py:p")

    assert fixed.ok
    assert fixed.raise_for_status() is fixed
    assert statuses(fixed) == {
        "load": "cached",
        "fragile": "completed",
        "after": "completed",
        "independent": "cached",
    }
    assert fixed.steps["load"].reason == f"same key as run {failed.run_id}"
    assert fixed.steps["fragile"].reason == "code changed (fragile)"
    assert client.load_output(fixed.run_id, "fragile") == [1, 2, 3]
    assert [r.status for r in client.runs()] == ["completed", "failed"]


# -- lineage and loading --------------------------------------------------------------


def test_lineage_and_load_output(project: Path, client: Client) -> None:
    write_module(project, "lineage_pipe", BASIC)
    first = client.run("lineage_pipe.py:p")
    second = client.run("lineage_pipe.py:p")

    square_id = first.artifact("square").id
    lineage = client.lineage(square_id[:10])

    assert lineage.artifact.id == square_id
    assert [(s.run_id, s.step, s.status, name) for s, name in lineage.produced_by] == [
        (first.run_id, "square", "completed", "output"),
        (second.run_id, "square", "cached", "output"),
    ]
    assert [(s.run_id, s.step, name) for s, name in lineage.consumed_by] == [
        (first.run_id, "total", "values"),
        (second.run_id, "total", "values"),
    ]
    assert lineage.produced_by[0][0].id == lineage.artifact.producer

    assert client.load_output(first.run_id, "square") == [0, 1, 4, 9, 16]
    assert client.load_output(second.run_id[:8], "total") == 30
    assert client.load_artifact(square_id) == [0, 1, 4, 9, 16]
    with pytest.raises(ArtifactNotFound):
        client.load_output(first.run_id, "square", output="other")


# -- provenance ---------------------------------------------------------------------


def git(project: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.strip()


def test_run_records_git_user_and_environment(project: Path, client: Client) -> None:
    write_module(project, "prov", BASIC)
    outside = subprocess.run(
        ["git", "rev-parse", "--git-dir"], cwd=project, capture_output=True, timeout=30
    )
    if outside.returncode == 0:
        pytest.skip("the tmp folder is inside a git repository")

    plain = client.get_run(client.run("prov.py:p").run_id)
    assert (plain.git_commit, plain.git_branch, plain.git_dirty) == (None, None, None)

    git(project, "init", "-q", "-b", "main")
    git(project, "add", "prov.py")
    git(project, "commit", "-q", "-m", "first")
    head = git(project, "rev-parse", "HEAD")

    clean = client.get_run(client.run("prov.py:p").run_id)
    assert clean.git_commit == head
    assert clean.git_branch == "main"
    assert clean.git_dirty is False
    assert clean.user == "tester"
    assert clean.host
    assert clean.environment["python"] == ".".join(map(str, sys.version_info[:3]))
    packages = clean.environment["packages"]
    assert {"shipyard", "pandas", "pyarrow", "SQLAlchemy"} <= set(packages)

    with (project / "prov.py").open("a") as fh:
        fh.write("\n# edited after the commit\n")
    dirty = client.get_run(client.run("prov.py:p").run_id)
    assert dirty.git_commit == head
    assert dirty.git_dirty is True


# -- pickle opt-in ------------------------------------------------------------------

PICKLED = """
from shipyard import pipeline, step


class Model:
    def __init__(self, weight):
        self.weight = weight


@step{options}
def fit() -> Model:
    return Model(3)


@step
def use(model: Model) -> int:
    return model.weight * 2


@pipeline
def p():
    use(fit())
"""


def test_pickle_needs_an_explicit_opt_in(project: Path, client: Client) -> None:
    write_module(project, "unpickled", PICKLED.format(options=""))

    refused = client.run("unpickled.py:p")

    assert statuses(refused) == {"fit": "failed", "use": "skipped"}
    assert "Model" in refused.error
    assert "allow_pickle=True" in refused.error

    write_module(project, "pickled", PICKLED.format(options="(allow_pickle=True)"))
    allowed = client.run("pickled.py:p")

    assert allowed.ok, allowed.error
    assert statuses(allowed) == {"fit": "completed", "use": "completed"}
    assert client.load_output(allowed.run_id, "use") == 6
    record = allowed.artifact("fit")
    assert record.materializer == "pickle"
    with pytest.raises(UnsafeArtifactError):
        client.load_output(allowed.run_id, "fit")
    assert client.load_artifact(record.id, allow_pickle=True).weight == 3

    again = client.run("pickled.py:p")
    assert statuses(again) == {"fit": "cached", "use": "cached"}


# -- return annotations ---------------------------------------------------------------


def test_step_without_return_annotation(project: Path, client: Client) -> None:
    write_module(
        project,
        "unannotated",
        """
        from shipyard import pipeline, step


        @step
        def produce(n: int = 2):
            return {"n": n}


        @step
        def consume(value) -> int:
            return value["n"] * 10


        @pipeline
        def p():
            consume(produce())
        """,
    )

    result = client.run("unannotated.py:p")

    assert result.ok, result.error
    assert client.load_output(result.run_id, "consume") == 20


# -- the artifact store is the truth ----------------------------------------------


def test_a_step_whose_cached_outputs_were_deleted_runs_again(
    project: Path, client: Client
) -> None:
    write_module(project, "gone", BASIC)
    first = client.run("gone.py:p")
    square = first.artifact("square")
    folder = project / ".shipyard" / "artifacts" / square.id[:2] / square.id
    assert folder.is_dir()
    shutil.rmtree(folder)

    second = client.run("gone.py:p")

    assert statuses(second) == {
        "load": "cached",
        "square": "completed",
        "total": "cached",
    }
    assert (
        second.steps["square"].reason
        == "cached outputs are gone from the artifact store"
    )
    # Same bytes again: same id, folder restored, and the next step still hits.
    assert second.artifact("square").id == square.id
    assert (folder / ".manifest.json").is_file()
    assert client.load_output(second.run_id, "total") == 30


def test_a_value_contradicting_the_return_annotation_fails_the_step(
    project: Path, client: Client
) -> None:
    write_module(
        project,
        "contradiction",
        """
        from shipyard import pipeline, step


        @step
        def produce() -> list:
            return {"not": "a list"}


        @pipeline
        def p():
            produce()
        """,
    )

    result = client.run("contradiction.py:p")

    assert result.status == "failed"
    assert "'produce'" in result.error
    assert "dict" in result.error and "list" in result.error
    assert client.artifacts(run=result.run_id) == []
