"""A run killed in the middle of a step leaves sound stores, and the next run resumes.

``shipyard run`` runs in a subprocess; step 2 writes a marker file, and the
test kills the process (SIGKILL, or SIGINT like Ctrl-C) as soon as the marker
appears. Step 2 reads a ``fast`` flag file so the re-run can complete.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.helpers import run_cli, write_module
from tests.integration.support import (
    TRACEBACK,
    cli_json,
    popen_cli,
    query,
    sqlite_integrity,
    staging_leftovers,
    store_problems,
    wait_for,
)

pytestmark = pytest.mark.slow

STARTUP_TIMEOUT = 60.0
EXIT_TIMEOUT = 30.0

SLEEPING = """
import time
from pathlib import Path

from shipyard import pipeline, step

HERE = Path(__file__).resolve().parent


@step
def first(n: int = 5) -> list:
    return list(range(n))


@step
def second(values: list) -> dict:
    (HERE / "marker").write_text("in step 2")
    if not (HERE / "fast").exists():
        time.sleep(120)
    return {"total": sum(values)}


@step
def third(result: dict) -> int:
    return result["total"] * 2


@pipeline
def p():
    third(second(first()))
"""

COPYING = """
from pathlib import Path

from shipyard import pipeline, step

HERE = Path(__file__).resolve().parent


@step
def first(n: int = 5) -> list:
    return list(range(n))


@step
def second(values: list) -> Path:
    folder = HERE / ("small" if (HERE / "fast").exists() else "big")
    (HERE / "marker").write_text("copy starts")
    return folder


@step
def third(folder: Path) -> int:
    return len(list(folder.iterdir()))


@pipeline
def p():
    third(second(first()))
"""


def start_and_wait_for_marker(root: Path) -> subprocess.Popen[str]:
    proc = popen_cli("run", "pipe.py:p", cwd=root)
    marker = root / "marker"
    try:
        wait_for(
            lambda: marker.exists() or proc.poll() is not None,
            timeout=STARTUP_TIMEOUT,
            interval=0.005,
            what="step 2 to start",
        )
    except AssertionError:
        proc.kill()
        proc.communicate(timeout=EXIT_TIMEOUT)
        raise
    if proc.poll() is not None:
        out, err = proc.communicate()
        raise AssertionError(f"run ended before step 2 started:\n{out}\n{err}")
    return proc


def kill_and_reap(proc: subprocess.Popen[str], sig: int) -> tuple[int, str, str]:
    os.kill(proc.pid, sig)
    try:
        out, err = proc.communicate(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=EXIT_TIMEOUT)
        raise
    return proc.returncode, out, err


def assert_resumes(root: Path, crashed_run: str) -> dict:
    """Re-run with step 2 made fast: step 1 is cached, step 2 runs."""
    (root / "marker").unlink(missing_ok=True)
    (root / "fast").write_text("")
    result = run_cli("run", "pipe.py:p", "--json", cwd=root)
    assert result.returncode == 0, result.stderr
    rerun = json.loads(result.stdout)
    assert rerun["status"] == "completed"
    statuses = {name: s["status"] for name, s in rerun["steps"].items()}
    assert statuses == {"first": "cached", "second": "completed", "third": "completed"}
    assert rerun["steps"]["first"]["reason"] == f"same key as run {crashed_run}"
    assert store_problems(root) == []
    runs = cli_json("runs", "list", cwd=root)
    assert [r["status"] for r in runs] == ["completed", "crashed"]
    return rerun


def crashed_run_after(root: Path) -> dict:
    """The single run, as the next command (which reaps dead runs) reports it."""
    runs = cli_json("runs", "list", cwd=root)
    assert len(runs) == 1
    assert not [r for r in runs if r["status"] == "running"]
    return runs[0]


def test_sigkill_during_a_step(tmp_path: Path) -> None:
    write_module(tmp_path, "pipe", SLEEPING)
    proc = start_and_wait_for_marker(tmp_path)

    code, _, _ = kill_and_reap(proc, signal.SIGKILL)

    assert code == -signal.SIGKILL
    assert sqlite_integrity(tmp_path) == "ok"
    # Nobody has looked yet: the run still says running, with step 1 recorded.
    (row,) = query(tmp_path, "SELECT id, status, pid FROM runs")
    assert (row["status"], row["pid"]) == ("running", proc.pid)
    steps = query(
        tmp_path, "SELECT step, status FROM step_runs WHERE run_id = ?", (row["id"],)
    )
    assert [(s["step"], s["status"]) for s in steps] == [("first", "completed")]
    assert store_problems(tmp_path) == []

    run = crashed_run_after(tmp_path)

    assert run["id"] == row["id"]
    assert run["status"] == "crashed"
    assert str(proc.pid) in run["error"]
    assert run["ended_at"] is not None
    shown = cli_json("runs", "show", run["id"], cwd=tmp_path)
    assert [(s["step"], s["status"]) for s in shown["steps"]] == [
        ("first", "completed")
    ]

    assert_resumes(tmp_path, run["id"])


def test_sigkill_while_an_output_folder_is_copied(tmp_path: Path) -> None:
    write_module(tmp_path, "pipe", COPYING)
    big = tmp_path / "big"
    big.mkdir()
    block = os.urandom(32 * 1024)
    for i in range(1500):
        (big / f"part-{i:04d}.bin").write_bytes(i.to_bytes(4, "big") + block)
    small = tmp_path / "small"
    small.mkdir()
    (small / "only.txt").write_text("small\n")
    proc = start_and_wait_for_marker(tmp_path)

    code, _, _ = kill_and_reap(proc, signal.SIGKILL)

    assert code == -signal.SIGKILL
    assert sqlite_integrity(tmp_path) == "ok"
    # Whatever the copy had written stays in staging, invisible; no artifact
    # folder and no record exists for step 2's output.
    assert store_problems(tmp_path) == []
    assert query(tmp_path, "SELECT step FROM step_runs WHERE step = 'second'") == []
    stored_types = {r[0] for r in query(tmp_path, "SELECT data_type FROM artifacts")}
    assert not any("Path" in t for t in stored_types)
    leftovers = staging_leftovers(tmp_path)
    assert all(folder.name.startswith(f"{proc.pid}-") for folder in leftovers)

    run = crashed_run_after(tmp_path)
    assert run["status"] == "crashed"

    rerun = assert_resumes(tmp_path, run["id"])
    folder_id = rerun["steps"]["second"]["outputs"]["output"]
    shown = cli_json("artifacts", "show", folder_id, cwd=tmp_path)
    assert shown["files"] == 1
    assert shown["preview"]["kind"] == "folder"
    assert shown["preview"]["first"] == ["only.txt"]


def test_ctrl_c_during_a_step(tmp_path: Path) -> None:
    write_module(tmp_path, "pipe", SLEEPING)
    proc = start_and_wait_for_marker(tmp_path)

    code, _, err = kill_and_reap(proc, signal.SIGINT)

    assert code == 130, err
    assert TRACEBACK not in err
    # The interrupted process recorded the end of its run itself.
    (row,) = query(tmp_path, "SELECT id, status, error FROM runs")
    assert row["status"] == "crashed"
    assert "interrupted" in row["error"].lower()
    assert store_problems(tmp_path) == []

    run = crashed_run_after(tmp_path)
    assert run["status"] == "crashed"
    assert "interrupted" in run["error"].lower()

    assert_resumes(tmp_path, run["id"])


def test_ctrl_c_tells_the_user_the_run_was_interrupted(tmp_path: Path) -> None:
    write_module(tmp_path, "pipe", SLEEPING)
    proc = start_and_wait_for_marker(tmp_path)

    code, _, err = kill_and_reap(proc, signal.SIGINT)

    assert code == 130
    assert "interrupted" in err.lower(), f"stderr: {err!r}"
