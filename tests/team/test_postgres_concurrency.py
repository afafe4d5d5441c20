"""Four processes running pipelines at once against one PostgreSQL store lose nothing.

Each process runs a small pipeline three times through a named stack (the
session's PostgreSQL server + one artifact folder they share): once without
the cache, and twice with it, with params that overlap between processes, so
they race to record the same pipeline, the same de-duplicated artifacts and
cache hits on each other's step runs. Afterwards every run, step run,
artifact, lineage edge, param and metric is read back with psycopg directly
(not through Shipyard) and checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from shipyard.client import Client
from shipyard.stackfile import StackEntry, register_stack
from tests.helpers import write_module
from tests.integration.support import cli_env
from tests.integration.test_concurrency import PIPELINE as SQLITE_PIPELINE

pytestmark = pytest.mark.slow

TIMEOUT = 120.0
STEPS = ["load", "scale", "total", "describe"]
WORKERS = 4

# The pipeline of the SQLite concurrency test, here against PostgreSQL.
PIPELINE = SQLITE_PIPELINE

# Each process: (k, cache) three times; k=1 is shared by all, k=2/3 by pairs.
WORKER = """
import json
import sys

from shipyard import Client
from pipe import p

worker = int(sys.argv[1])
plan = [(1, False), (2 + worker % 2, True), (1, True)]
with Client() as client:  # the stack comes from SHIPYARD_STACK
    for k, cache in plan:
        result = client.run(p, params={"k": k}, cache=cache)
        print(json.dumps({
            "k": k,
            "run_id": result.run_id,
            "status": result.status,
            "steps": {
                name: {"status": s.status, "output": s.outputs["output"].id, "step_run_id": s.step_run_id}
                for name, s in result.steps.items()
            },
        }), flush=True)
"""


def run_workers(root: Path) -> list[dict]:
    procs = [
        subprocess.Popen(
            [sys.executable, "worker.py", str(w)],
            cwd=root,
            env=cli_env({"SHIPYARD_STACK": "team", "PYTHONPATH": str(root)}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(WORKERS)
    ]
    deadline = time.monotonic() + TIMEOUT
    results: list[dict] = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
            results += [json.loads(line) for line in out.splitlines()]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)
    return results


def test_four_processes_share_one_postgresql_store(tmp_path: Path, postgres_url, postgres_server) -> None:
    root = tmp_path
    write_module(root, "pipe", PIPELINE)
    (root / "worker.py").write_text(textwrap.dedent(WORKER))
    Client(root, create=True).close()
    shared = tmp_path / "shared-artifacts"
    register_stack(root, StackEntry("team", str(shared), postgres_url))

    results = run_workers(root)

    assert len(results) == WORKERS * 3
    assert {r["status"] for r in results} == {"completed"}
    run_ids = {r["run_id"] for r in results}
    assert len(run_ids) == WORKERS * 3
    database = postgres_url.rsplit("/", 1)[1]

    def rows(sql: str) -> list[tuple]:
        return postgres_server.query(database, sql)

    assert rows("SELECT name FROM pipelines") == [("p",)]
    runs = dict(rows("SELECT id, status FROM runs"))
    assert runs == {run_id: "completed" for run_id in run_ids}
    step_runs = rows("SELECT id, run_id, step, status FROM step_runs")
    assert len(step_runs) == WORKERS * 3 * len(STEPS)
    by_run: dict[str, list[str]] = {}
    for _id, run_id, step, status in step_runs:
        by_run.setdefault(run_id, []).append(step)
        assert status in ("completed", "cached")
    assert {run_id: sorted(steps) for run_id, steps in by_run.items()} == {
        run_id: sorted(STEPS) for run_id in run_ids
    }
    # Every step run's output edge is recorded and names what the process saw.
    outputs = {(sr, name): aid for sr, name, aid in rows("SELECT step_run_id, name, artifact_id FROM step_outputs")}
    expected_outputs = {
        (s["step_run_id"], "output"): s["output"] for r in results for s in r["steps"].values()
    }
    assert outputs == expected_outputs
    inputs = rows("SELECT step_run_id, name, artifact_id FROM step_inputs")
    assert len(inputs) == WORKERS * 3 * 4  # scale 1, total 1, describe 2 per run
    artifacts = {aid: uri for aid, uri in rows("SELECT id, uri FROM artifacts")}
    assert set(artifacts) == set(expected_outputs.values()) | {aid for _, _, aid in inputs}
    # Same content, same artifact: one `load` output, one output set per k.
    assert len({r["steps"]["load"]["output"] for r in results}) == 1
    for k in (1, 2, 3):
        described = {r["steps"]["describe"]["output"] for r in results if r["k"] == k}
        assert len(described) == 1, k
    # Metrics and params: one per executed or cached `total`, one k per run.
    metrics = rows("SELECT run_id, key, value FROM metrics WHERE step = 'total'")
    assert sorted((run_id, value) for run_id, _, value in metrics) == sorted(
        (r["run_id"], float(sum(v * r["k"] for v in range(100)))) for r in results
    )
    params = dict(rows("SELECT run_id, value FROM params WHERE key = 'k'"))
    assert params == {r["run_id"]: r["k"] for r in results}
    # Every artifact row points at a complete folder of the shared store.
    for aid, uri in artifacts.items():
        folder = Path(uri.removeprefix("file://"))
        assert folder.parent.parent == shared and folder.name == aid, uri
        manifest = json.loads((folder / ".manifest.json").read_text())
        for entry in manifest["files"]:
            assert (folder / entry["path"]).stat().st_size == entry["size"]
    assert not list((shared / ".tmp").iterdir())  # no staging folder left behind

    with Client(root, stack="team") as client:
        for r in results:
            assert client.load_output(r["run_id"], "describe") == {
                "n": 100, "total": sum(v * r["k"] for v in range(100))
            }
