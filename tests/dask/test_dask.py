"""The ``dask`` orchestrator on a real cluster (scheduler + two worker processes).

Runs go through ``Client.run`` in this process (the client side) while the
steps execute in the workers; the CLI tests run ``shipyard`` in a subprocess.
Worker deaths are real: a test kills a worker process with SIGKILL (or a
step kills its own), the nanny restarts it, and the test waits until both
workers are back before it ends.
"""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from shipyard.cli.render import Progress
from shipyard.client import Client
from shipyard.engine.cluster import workers_missing_folder
from shipyard.engine.runner import RunHooks, RunResult
from tests.dask.conftest import ALLOWED_FAILURES, DaskCluster
from tests.helpers import run_cli, write_module
from tests.integration.support import (
    assert_user_error,
    staging_leftovers,
    store_problems,
    wait_for,
)
from tests.ml.support import FAST, STEPS, copy_taxi, isolated, new_project

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart" / "pipelines.py"


def statuses(result: RunResult) -> dict[str, str]:
    return {name: step.status for name, step in result.steps.items()}


def bundle_files(client: Client, result: RunResult) -> dict[str, bytes]:
    """The bundle's files as bytes, with the building run's id blanked in bundle.json."""
    folder = client.artifact_store.local_path(result.artifact("bundle").id)
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != ".manifest.json"}
    manifest = json.loads(files["bundle.json"])
    assert manifest["run_id"] == result.run_id
    manifest["run_id"] = None
    files["bundle.json"] = json.dumps(manifest, sort_keys=True).encode()
    return files


def on_dask(client: Client, cluster: DaskCluster, target: Any, **kwargs: Any) -> RunResult:
    """Run ``target`` with the dask orchestrator on the session's cluster."""
    return client.run(
        target, orchestrator="dask", orchestrator_options={"address": cluster.address}, **kwargs
    )


@pytest.fixture
def workers_back(dask_cluster: DaskCluster) -> Iterator[DaskCluster]:
    """For tests that kill workers: wait for the nannies to restart them afterwards."""
    yield dask_cluster
    dask_cluster.wait_for_workers()


# -- the taxi YAML pipeline ----------------------------------------------------------


def test_taxi_on_the_cluster_matches_the_local_run_and_is_cached_after(
    dask_cluster: DaskCluster, tmp_path: Path
) -> None:
    from threadpoolctl import threadpool_limits

    with isolated(), threadpool_limits(limits=1):
        local_client = new_project(tmp_path / "local")
        dask_client = new_project(tmp_path / "dask")
        local = local_client.run(str(copy_taxi(tmp_path / "local")), overrides=[FAST])
        yaml = str(copy_taxi(tmp_path / "dask"))
        first = on_dask(dask_client, dask_cluster, yaml, overrides=[FAST])
        again = on_dask(dask_client, dask_cluster, yaml, overrides=[FAST])

    assert local.ok, local.error
    assert first.ok, first.error
    assert statuses(first) == dict.fromkeys(STEPS, "completed")
    record = dask_client.get_run(first.run_id)
    assert record.orchestrator == "dask"
    assert record.config["dask"] == {"address": dask_cluster.address}
    # The same model on the same rows: the same metrics, to the last digit.
    assert dask_client.metrics(first.run_id) == local_client.metrics(local.run_id)
    # The same content gets the same id, wherever it was written (fitted
    # objects included: their files are byte-reproducible). The bundle names
    # the run that built it, so there only that field differs.
    for step in STEPS:
        if step == "bundle":
            continue
        assert {k: v.id for k, v in first.steps[step].outputs.items()} == {
            k: v.id for k, v in local.steps[step].outputs.items()
        }, step
    assert bundle_files(dask_client, first) == bundle_files(local_client, local)

    assert again.ok, again.error
    assert statuses(again) == dict.fromkeys(STEPS, "cached")
    for step in STEPS:
        assert again.steps[step].reason == f"same key as run {first.run_id}"
        assert {k: v.id for k, v in again.steps[step].outputs.items()} == {
            k: v.id for k, v in first.steps[step].outputs.items()
        }
    predictor = dask_client.load_bundle(first.run_id)
    test_rows = dask_client.load_output(first.run_id, "split", "test")
    assert len(predictor.predict_frame(test_rows)) == len(test_rows)
    assert store_problems(tmp_path / "dask") == []


# -- parallel branches and progress ------------------------------------------------------

PARALLEL = """
import time

from shipyard import pipeline, step


@step
def root() -> int:
    return 1


@step
def left(x: int) -> int:
    time.sleep(1.0)
    return x + 1


@step
def right(x: int) -> int:
    time.sleep(1.0)
    return x + 2


@step
def join(a: int, b: int) -> int:
    return a + b


@pipeline
def p():
    value = root()
    join(left(value), right(value))
"""


class RecordingProgress(Progress):
    """The CLI's progress display, on a string, also noting each hook call."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        super().__init__(Console(file=self.buffer, width=200, force_terminal=False))
        self.calls: list[tuple[str, str, str]] = []

    def on_step_start(self, *, run_id: str, step: str, reason: str, **future: Any) -> None:
        self.calls.append(("start", step, threading.current_thread().name))
        super().on_step_start(run_id=run_id, step=step, reason=reason, **future)

    def on_step_end(self, *, run_id: str, step: str, status: str, **kwargs: Any) -> None:
        self.calls.append(("end", step, status))
        super().on_step_end(run_id=run_id, step=step, status=status, **kwargs)


def test_independent_branches_run_at_once_and_progress_shows_every_step(
    dask_cluster: DaskCluster, project: Path, client: Client
) -> None:
    write_module(project, "parallel", PARALLEL)
    progress = RecordingProgress()

    result = on_dask(client, dask_cluster, "parallel.py:p", hooks=progress)

    assert result.ok, result.error
    assert client.load_output(result.run_id, "join") == 5
    records = {r.step: r for r in client.step_runs(result.run_id)}
    left, right = records["left"], records["right"]
    assert max(left.started_at, right.started_at) < min(left.ended_at, right.ended_at), (
        "the two branches did not overlap"
    )
    starts = [step for kind, step, _ in progress.calls if kind == "start"]
    ends = [(step, status) for kind, step, status in progress.calls if kind == "end"]
    assert starts[0] == "root" and set(starts) == {"root", "left", "right", "join"}
    assert sorted(ends) == sorted((s, "completed") for s in ("root", "left", "right", "join"))
    # Hooks run in the client's own thread, as with the local orchestrator.
    assert {thread for kind, _, thread in progress.calls if kind == "start"} == {
        threading.current_thread().name
    }
    printed = progress.buffer.getvalue()
    for step in ("root", "left", "right", "join"):
        assert f"completed  {step}" in printed, printed


# -- worker deaths --------------------------------------------------------------------

KILLED_IN_STEP = """
import os
import time
from pathlib import Path

from shipyard import pipeline, step

HERE = Path(__file__).resolve().parent


@step
def source() -> list:
    return [1, 2, 3]


@step
def slow(values: list) -> list:
    attempts = HERE / "attempts"
    earlier = attempts.read_text().split() if attempts.exists() else []
    with attempts.open("a") as fh:
        fh.write(f"{os.getpid()}\\n")
    if not earlier:  # the first attempt waits for the test to kill its worker
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (HERE / "release").exists():
            time.sleep(0.05)
    return [v * 10 for v in values]


@step
def total(values: list) -> int:
    return sum(values)


@pipeline
def p():
    total(slow(source()))
"""


def test_a_worker_killed_during_a_step_is_retried_on_another(
    workers_back: DaskCluster, project: Path, client: Client
) -> None:
    cluster = workers_back
    write_module(project, "killed_in_step", KILLED_IN_STEP)
    attempts = project / "attempts"
    problems: list[str] = []

    def kill_the_first_attempt() -> None:
        try:
            wait_for(lambda: attempts.exists() and attempts.read_text().strip() != "",
                     timeout=60, what="the first attempt of 'slow'")
            pid = int(attempts.read_text().split()[0])
            if pid not in cluster.worker_pids().values():
                problems.append(f"pid {pid} is not a worker process: {cluster.worker_pids()}")
                return
            os.kill(pid, signal.SIGKILL)
        except BaseException as exc:
            problems.append(repr(exc))

    killer = threading.Thread(target=kill_the_first_attempt, daemon=True)
    killer.start()
    try:
        result = on_dask(client, cluster, "killed_in_step.py:p")
    finally:
        (project / "release").touch()
        killer.join(timeout=60)

    assert problems == []
    assert result.ok, result.error
    assert statuses(result) == dict.fromkeys(["source", "slow", "total"], "completed")
    assert client.load_output(result.run_id, "total") == 60
    pids = attempts.read_text().split()
    assert len(pids) == 2 and pids[0] != pids[1], pids
    assert store_problems(project) == []


KILLED_WHILE_WRITING = """
import os
from pathlib import Path

from shipyard import Materializer, pipeline, register_materializer, step

HERE = Path(__file__).resolve().parent


class Blob:
    def __init__(self, parts):
        self.parts = parts


@register_materializer
class BlobMaterializer(Materializer):
    NAME, VERSION, TYPES = "test-blob", 1, ("killed_writing.Blob",)

    def save(self, value, folder):
        for i, part in enumerate(value.parts):
            (folder / f"part{i}.txt").write_text(part)
            if i == 0 and not (HERE / "first-writer").exists():
                # Die with one file of three written, like a machine losing power.
                (HERE / "first-writer").write_text(str(os.getpid()))
                os.kill(os.getpid(), 9)

    def load(self, folder):
        return Blob([p.read_text() for p in sorted(folder.glob("part*.txt"))])


@step
def make() -> Blob:
    return Blob(["a", "b", "c"])


@step
def count(blob: Blob) -> int:
    return len(blob.parts)


@pipeline
def p():
    count(make())
"""


def test_a_worker_killed_while_writing_an_output_leaves_no_partial_artifact(
    workers_back: DaskCluster, project: Path, client: Client
) -> None:
    write_module(project, "killed_writing", KILLED_WHILE_WRITING)

    result = on_dask(client, workers_back, "killed_writing.py:p")

    assert result.ok, result.error
    assert client.load_output(result.run_id, "count") == 3
    # The killed writer left its staging folder, with one file: never visible.
    dead_pid = (project / "first-writer").read_text()
    leftovers = [f for f in staging_leftovers(project) if f.name.startswith(f"{dead_pid}-")]
    assert len(leftovers) == 1, staging_leftovers(project)
    assert sorted(p.name for p in leftovers[0].iterdir()) == ["part0.txt"]
    assert store_problems(project) == []
    artifact = result.artifact("make")
    assert artifact.files == 3 and artifact.materializer == "test-blob"


DOOMED = """
import os
import signal

from shipyard import pipeline, step


@step
def source() -> list:
    return [1, 2]


@step
def doomed(values: list) -> list:
    os.kill(os.getpid(), signal.SIGKILL)
    return values


@step
def after(values: list) -> int:
    return len(values)


@step
def independent(values: list) -> int:
    return sum(values)


@pipeline
def p():
    values = source()
    after(doomed(values))
    independent(values)
"""


def test_a_step_whose_worker_dies_every_time_fails_the_run_with_its_name(
    workers_back: DaskCluster, project: Path, client: Client
) -> None:
    write_module(project, "doomed", DOOMED)

    result = on_dask(client, workers_back, "doomed.py:p")

    assert result.status == "failed"
    assert statuses(result) == {
        "source": "completed",
        "doomed": "failed",
        "after": "skipped",
        "independent": "completed",
    }
    assert result.error_step == "doomed"
    deaths = ALLOWED_FAILURES + 1
    assert result.error is not None
    assert result.error.startswith(f"step 'doomed' was lost: its worker died {deaths} times"), (
        result.error
    )
    assert client.load_output(result.run_id, "independent") == 3
    assert client.get_run(result.run_id).status == "failed"
    assert store_problems(project) == []


# -- interruption -----------------------------------------------------------------------

INTERRUPTED = """
import time
from pathlib import Path

from shipyard import pipeline, step

HERE = Path(__file__).resolve().parent


@step
def first() -> int:
    return 1


@step
def waiting(x: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (HERE / "release").exists():
        time.sleep(0.05)
    return x


@step
def other(x: int) -> int:
    return x


@pipeline
def p():
    value = first()
    waiting(value)
    other(value)
"""


class CtrlC(RunHooks):
    """Raises KeyboardInterrupt when ``other`` starts: ``waiting`` is on the cluster then."""

    def on_step_start(self, *, run_id: str, step: str, reason: str, **future: Any) -> None:
        if step == "other":
            raise KeyboardInterrupt


def test_ctrl_c_cancels_the_running_steps_and_marks_the_run_crashed(
    dask_cluster: DaskCluster, project: Path, client: Client
) -> None:
    write_module(project, "interrupted", INTERRUPTED)
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            on_dask(client, dask_cluster, "interrupted.py:p", hooks=CtrlC())
        took = time.monotonic() - started
        # Its task is cancelled: the scheduler forgets it.
        wait_for(
            lambda: not any("waiting" in key for key in dask_cluster.scheduler_tasks()),
            timeout=15,
            interval=0.1,
            what="the scheduler to drop the cancelled step",
        )
    finally:
        (project / "release").touch()

    assert took < 20, "the interrupted run waited for its running step"
    run = client.runs()[0]
    assert run.status == "crashed"
    assert run.error == "interrupted (Ctrl-C)"


# -- code the workers cannot import ---------------------------------------------------

ELSEWHERE = """
from typing import NamedTuple

from shipyard import log_metrics, pipeline, step

FACTOR = 7


class Parts(NamedTuple):
    low: list
    high: list


def scale(value):
    return value * FACTOR


@step
def load() -> list:
    return [1, 2, 3, 4]


@step
def split(values: list) -> Parts:
    return Parts([v for v in values if v < 3], [v for v in values if v >= 3])


@step
def scaled(values: list) -> list:
    log_metrics(count=len(values))
    return [scale(v) for v in values]


@pipeline
def p():
    parts = split(load())
    scaled(parts.high)
"""


def test_a_worker_without_the_project_files_gets_the_code_itself(
    dask_cluster: DaskCluster, project: Path, client: Client, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import importlib
    import sys

    folder = tmp_path_factory.mktemp("elsewhere")
    write_module(folder, "elsewhere_pipeline", ELSEWHERE)
    sys.path.insert(0, str(folder))
    try:
        module = importlib.import_module("elsewhere_pipeline")
        pipeline = module.p.build()
        # Like a laptop's folder that the cluster's machines do not have.
        (folder / "elsewhere_pipeline.py").unlink()
        result = on_dask(client, dask_cluster, pipeline)
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("elsewhere_pipeline", None)

    assert result.ok, result.error
    assert client.load_output(result.run_id, "scaled") == [21, 28]
    assert client.metrics(result.run_id) == {"scaled": {"count": 2.0}}


STALE_HELPER = """
def bump(value):
    return value + 1
"""

USES_STALE = """
import stale_helper
from shipyard import pipeline, step


@step
def load() -> list:
    return [1, 2, 3]


@step
def bumped(values: list) -> list:
    return [stale_helper.bump(v) for v in values]


@pipeline
def p():
    bumped(load())
"""


def test_a_helper_edited_after_the_client_imported_it_runs_as_the_client_has_it(
    dask_cluster: DaskCluster, project: Path, client: Client
) -> None:
    """Like a notebook: the file changed, the process still runs the old code.

    The cache key covers the code that runs here, so the workers must run that
    too (the local orchestrator would), not the edited file.
    """
    import sys

    write_module(project, "stale_helper", STALE_HELPER)
    write_module(project, "uses_stale", USES_STALE)
    try:
        pipeline = client.run("uses_stale.py:p").raise_for_status()  # imports both, locally
        write_module(project, "stale_helper", STALE_HELPER.replace("+ 1", "+ 100"))

        result = on_dask(client, dask_cluster, "uses_stale.py:p", cache=False)
    finally:
        sys.modules.pop("stale_helper", None)
        sys.modules.pop("uses_stale", None)

    assert result.ok, result.error
    assert client.load_output(result.run_id, "bumped") == [2, 3, 4]
    assert result.artifact("bumped").id == pipeline.artifact("bumped").id


def test_workers_that_do_not_see_a_folder_are_named(dask_cluster: DaskCluster, tmp_path: Path) -> None:
    workers = set(dask_cluster.worker_pids())

    assert workers_missing_folder(dask_cluster.client, str(tmp_path)) == []
    assert set(workers_missing_folder(dask_cluster.client, str(tmp_path / "absent"))) == workers


# -- the command line -----------------------------------------------------------------


def test_cli_runs_the_quickstart_on_a_local_cluster_then_on_the_stack_cluster(
    dask_cluster: DaskCluster, tmp_path: Path
) -> None:
    target = f"{QUICKSTART}:taxi_baseline"
    steps = ["ingest", "clean", "split_by_time", "train", "evaluate"]

    first = run_cli("run", target, "--orchestrator", "dask", "--address", "local", "--workers", "2",
                    cwd=tmp_path)

    assert first.returncode == 0, first.stdout + first.stderr
    for step in steps:
        assert f"completed  {step}" in first.stdout, first.stdout
    assert "Traceback" not in first.stderr, first.stderr

    # The stack's orchestrator from the environment, on the session's cluster.
    again = run_cli(
        "run", target, "--json", cwd=tmp_path,
        env={"SHIPYARD_ORCHESTRATOR": "dask", "SHIPYARD_DASK_ADDRESS": dask_cluster.address},
    )

    assert again.returncode == 0, again.stdout + again.stderr
    result = json.loads(again.stdout)
    assert {s: v["status"] for s, v in result["steps"].items()} == {
        "ingest": "completed",  # @step(cache=False)
        "clean": "cached",
        "split_by_time": "cached",
        "train": "cached",
        "evaluate": "cached",
    }
    with Client(tmp_path) as client:
        runs = client.runs()
        assert [r.orchestrator for r in runs] == ["dask", "dask"]
        assert runs[0].config["dask"] == {"address": dask_cluster.address}
        assert runs[1].config["dask"] == {"address": "local"}
        assert client.metrics(runs[0].id) == client.metrics(runs[1].id)

    # --orchestrator dask alone takes its address from SHIPYARD_DASK_ADDRESS.
    third = run_cli(
        "run", target, "--json", "--orchestrator", "dask", cwd=tmp_path,
        env={"SHIPYARD_DASK_ADDRESS": dask_cluster.address},
    )
    assert third.returncode == 0, third.stdout + third.stderr
    with Client(tmp_path) as client:
        assert client.runs()[0].config["dask"] == {"address": dask_cluster.address}


ONE_STEP = """
from shipyard import pipeline, step


@step
def one() -> int:
    return 1


@pipeline
def p():
    one()
"""


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (
            ["--address", "tcp://192.0.2.1:8786"],
            ["is a folder on this machine", "tcp://192.0.2.1:8786", "SHIPYARD_ARTIFACTS"],
        ),
        (["--orchestrator", "local", "--address", "local"], ["--address is for the dask orchestrator"]),
        (["--address", "no-port-here"], ["'no-port-here' is not a Dask scheduler address"]),
        (["--address", "tcp://192.0.2.1:8786", "--workers", "2"], ["for a local cluster"]),
        (["--orchestrator", "kubernetes"], ["No orchestrator 'kubernetes'"]),
    ],
    ids=["remote-scheduler-local-folder", "address-with-local", "bad-address", "workers-remote",
         "unknown"],
)
def test_cli_refuses_what_cannot_work_before_running(
    tmp_path: Path, args: list[str], needles: list[str]
) -> None:
    write_module(tmp_path, "one", ONE_STEP)

    started = time.monotonic()
    result = run_cli("run", "one.py:p", *args, cwd=tmp_path)

    assert_user_error(result, *needles)
    assert time.monotonic() - started < 30  # refused before trying to connect
    with Client(tmp_path) as client:
        assert client.runs() == []


# -- settings and store checks (no cluster needed) ---------------------------------------


def test_the_stack_takes_the_orchestrator_and_address_from_the_environment(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.stack import resolve_stack

    monkeypatch.setenv("SHIPYARD_DASK_ADDRESS", "tcp://10.1.2.3:8786")
    plain = resolve_stack(project)
    assert (plain.orchestrator, dict(plain.orchestrator_options)) == ("local", {})

    monkeypatch.setenv("SHIPYARD_ORCHESTRATOR", "dask")
    stack = resolve_stack(project)
    assert stack.orchestrator == "dask"
    assert dict(stack.orchestrator_options) == {"address": "tcp://10.1.2.3:8786"}
    hash(stack)  # still usable as a key


def test_a_folder_on_a_network_file_system_may_serve_a_remote_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.engine import cluster
    from shipyard.errors import ShipyardError
    from shipyard.stores.artifacts import ArtifactStore

    shared, local = tmp_path / "shared", tmp_path / "shared" / "scratch"
    mounts = [("/", "ext4"), (str(shared), "nfs4"), (str(local), "tmpfs")]
    monkeypatch.setattr(cluster, "_proc_mounts", lambda: mounts)
    remote = "tcp://10.1.2.3:8786"

    assert cluster.filesystem_type(shared / "artifacts") == "nfs4"
    cluster.check_store_for_cluster(ArtifactStore(str(shared / "artifacts")), remote)
    with pytest.raises(ShipyardError, match="is a folder on this machine"):
        cluster.check_store_for_cluster(ArtifactStore(str(local / "artifacts")), remote)
    cluster.check_store_for_cluster(ArtifactStore(str(local / "artifacts")), "local")
    with pytest.raises(ShipyardError, match="memory"):
        cluster.check_store_for_cluster(ArtifactStore("memory://shipyard-test"), "local")
