"""Four ``shipyard run`` processes at once against one project's SQLite store.

Each process runs a four-step pipeline; ``load`` has no params (every run may
share it), the others depend on ``-p k=...``, and two processes use the same
``k``. Whatever the interleaving, every run must complete and every step run,
artifact and lineage edge must be recorded.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from shipyard.client import Client
from tests.helpers import write_module
from tests.integration.support import popen_cli, query, sqlite_integrity, store_problems

pytestmark = pytest.mark.slow

TIMEOUT = 90.0
STEPS = ["load", "scale", "total", "describe"]
KS = [1, 2, 1, 3]

PIPELINE = """
import time

from shipyard import log_metrics, pipeline, step


@step
def load() -> list:
    time.sleep(0.2)
    return list(range(100))


@step
def scale(values: list, k: int = 1) -> list:
    time.sleep(0.2)
    return [v * k for v in values]


@step
def total(values: list) -> int:
    log_metrics(total=sum(values))
    return sum(values)


@step
def describe(values: list, total: int) -> dict:
    return {"n": len(values), "total": total}


@pipeline
def p(k: int = 1):
    values = scale(load(), k=k)
    describe(values, total(values))
"""


def run_four_at_once(root: Path) -> list[dict]:
    procs = [
        popen_cli("run", "pipe.py:p", "-p", f"k={k}", "--json", cwd=root) for k in KS
    ]
    deadline = time.monotonic() + TIMEOUT
    outputs: list[tuple[int, str, str]] = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            outputs.append((proc.returncode, out, err))
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
            proc.communicate(timeout=30)
        raise
    for code, out, err in outputs:
        assert code == 0, f"exit {code}\n{out}\n{err}"
    return [json.loads(out) for _, out, _ in outputs]


def assert_everything_recorded(root: Path, results: list[dict]) -> None:
    assert len({r["run_id"] for r in results}) == 4
    for result in results:
        assert result["status"] == "completed"
        assert set(result["steps"]) == set(STEPS)
        assert {s["status"] for s in result["steps"].values()} <= {
            "completed",
            "cached",
        }

    with Client(root) as client:
        runs = client.runs(limit=100)
        assert sorted(r.id for r in runs) == sorted(r["run_id"] for r in results)
        assert {r.status for r in runs} == {"completed"}
        for result, k in zip(results, KS, strict=True):
            steps = client.step_runs(result["run_id"])
            assert sorted(s.step for s in steps) == sorted(STEPS)
            for record in steps:
                assert record.outputs == {
                    "output": result["steps"][record.step]["outputs"]["output"]
                }
            values = list(range(100))
            assert client.load_output(result["run_id"], "describe") == {
                "n": 100,
                "total": sum(v * k for v in values),
            }
            assert client.metrics(result["run_id"]) == {
                "total": {"total": float(sum(v * k for v in values))}
            }
            assert client.params(result["run_id"])[""] == {"k": k}

    (count,) = query(root, "SELECT COUNT(*) FROM step_runs")
    assert count[0] == 4 * len(STEPS)
    (edges,) = query(root, "SELECT COUNT(*) FROM step_outputs")
    assert edges[0] == 4 * len(STEPS)
    (inputs,) = query(root, "SELECT COUNT(*) FROM step_inputs")
    assert inputs[0] == 4 * 4  # scale 1, total 1, describe 2 per run
    # Same content, same artifact: load is shared, k=1 runs share everything.
    loads = {r["steps"]["load"]["outputs"]["output"] for r in results}
    assert len(loads) == 1
    same_k = [r for r, k in zip(results, KS, strict=True) if k == 1]
    assert (
        same_k[0]["steps"]["describe"]["outputs"]
        == same_k[1]["steps"]["describe"]["outputs"]
    )
    artifacts = {a["id"] for a in query(root, "SELECT id FROM artifacts")}
    expected = {s["outputs"]["output"] for r in results for s in r["steps"].values()}
    assert artifacts == expected
    assert sqlite_integrity(root) == "ok"
    assert store_problems(root) == []


def test_four_processes_on_one_initialised_store(tmp_path: Path) -> None:
    write_module(tmp_path, "pipe", PIPELINE)
    Client(tmp_path, create=True).close()

    results = run_four_at_once(tmp_path)

    assert_everything_recorded(tmp_path, results)


def test_four_processes_creating_the_store_at_once(tmp_path: Path) -> None:
    write_module(tmp_path, "pipe", PIPELINE)
    assert not (tmp_path / ".shipyard").exists()

    results = run_four_at_once(tmp_path)

    assert_everything_recorded(tmp_path, results)
