"""Page times of the dashboard (``shipyard ui``) on a store with 10,000 runs.

Run: ``.venv/bin/python benchmarks/ui.py [--runs 10000] [--repeat 7] [--keep FOLDER]``

It trains one real run of the taxi YAML pipeline (a 3,000-row cut, a small
model) in a fresh project, then copies that run's records directly into the
metadata store, in batches, until it holds ``--runs`` runs: each copy has its
own id, start time, user, pipeline name, status and metric values, and its
step runs read and write the same artifacts (as cache hits would), so an
artifact of the first run is read by every run. Then it serves the dashboard
with uvicorn on 127.0.0.1 and times each page over HTTP: the median of
``--repeat`` requests after one warm-up request.

The target is every page under 300 ms at 10,000 runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TAXI = REPO / "examples" / "taxi"
ROWS = 3000
BATCH = 1000
TARGET_MS = 300.0
USERS = ("ana", "bo", "chen", "dara", "eli")
PIPELINES = ("taxi-tips", "taxi-tips-nightly", "taxi-tips-experiments")


def make_project(folder: Path) -> tuple[str, object]:
    """A project with one real run of the taxi pipeline; returns (run id, client)."""
    from shipyard.client import Client

    (folder / "data").mkdir(parents=True)
    shutil.copyfile(TAXI / "pipeline.yaml", folder / "pipeline.yaml")
    with (TAXI / "data" / "chicago_taxi_trips.csv").open(encoding="utf-8") as src, (
        folder / "data" / "chicago_taxi_trips.csv"
    ).open("w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i > ROWS:
                break
            dst.write(line)
    os.chdir(folder)
    client = Client(folder, create=True)
    result = client.run(str(folder / "pipeline.yaml"), overrides=["train.params.max_iter=20"])
    result.raise_for_status()
    return result.run_id, client


def fill(url: str, template_id: str, count: int, seed: int = 0) -> float:
    """Copy the template run's records until the store holds ``count`` runs; returns seconds."""
    from sqlalchemy import create_engine, insert, select

    from shipyard.stores.metadata import schema as t

    rng = random.Random(seed)
    engine = create_engine(url)
    started = time.perf_counter()
    with engine.connect() as conn:
        run = conn.execute(select(t.runs).where(t.runs.c.id == template_id)).one()._asdict()
        steps = [r._asdict() for r in conn.execute(select(t.step_runs).where(t.step_runs.c.run_id == template_id))]
        ids = [s["id"] for s in steps]
        inputs = [r._asdict() for r in conn.execute(select(t.step_inputs).where(t.step_inputs.c.step_run_id.in_(ids)))]
        outputs = [r._asdict() for r in conn.execute(select(t.step_outputs).where(t.step_outputs.c.step_run_id.in_(ids)))]
        params = [r._asdict() for r in conn.execute(select(t.params).where(t.params.c.run_id == template_id))]
        metrics = [r._asdict() for r in conn.execute(select(t.metrics).where(t.metrics.c.run_id == template_id))]
        existing = {p for (p,) in conn.execute(select(t.pipelines.c.name))}
    with engine.begin() as conn:
        fresh = [{"name": p, "created_at": time.time()} for p in PIPELINES if p not in existing]
        if fresh:
            conn.execute(insert(t.pipelines), fresh)
    base = run["started_at"] - count * 60.0
    for first in range(1, count, BATCH):
        rows: dict[str, list[dict]] = {name: [] for name in ("runs", "steps", "inputs", "outputs", "params", "metrics")}
        for n in range(first, min(first + BATCH, count)):
            run_id = uuid.uuid4().hex[:16]
            start = base + n * 60.0
            status = rng.choices(("completed", "failed", "crashed"), weights=(90, 8, 2))[0]
            rows["runs"].append({
                **run, "id": run_id, "started_at": start, "ended_at": start + rng.uniform(5, 40),
                "pipeline": rng.choice(PIPELINES), "user": rng.choice(USERS), "status": status,
                "pid": None, "process_token": None,
            })
            step_ids = {}
            for s in steps:
                step_ids[s["id"]] = uuid.uuid4().hex[:16]
                rows["steps"].append({
                    **s, "id": step_ids[s["id"]], "run_id": run_id, "status": "cached",
                    "started_at": start + 0.1, "ended_at": start + 0.2, "cached_from": s["id"],
                    "reason": "cached: same code, params and inputs",
                })
            rows["inputs"] += [{**e, "step_run_id": step_ids[e["step_run_id"]]} for e in inputs]
            rows["outputs"] += [{**e, "step_run_id": step_ids[e["step_run_id"]]} for e in outputs]
            rows["params"] += [{**p, "run_id": run_id} for p in params]
            rows["metrics"] += [
                {**m, "run_id": run_id, "step_run_id": step_ids.get(m["step_run_id"]),
                 "value": None if m["value"] is None else m["value"] * rng.uniform(0.9, 1.1)}
                for m in metrics
            ]
        with engine.begin() as conn:
            for table, key in ((t.runs, "runs"), (t.step_runs, "steps"), (t.step_inputs, "inputs"),
                               (t.step_outputs, "outputs"), (t.params, "params"), (t.metrics, "metrics")):
                conn.execute(insert(table), rows[key])
    engine.dispose()
    return time.perf_counter() - started


def serve(client: object) -> tuple[str, object, threading.Thread]:
    """The dashboard on a free loopback port, in a thread."""
    import uvicorn

    from shipyard.ui.app import build_app
    from shipyard.ui.store import ReadOnlyClient

    app = build_app(ReadOnlyClient(stack=client.stack))  # type: ignore[attr-defined]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("the dashboard did not start within 30 s")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="build the project in this (new) folder and keep it")
    args = parser.parse_args()

    import httpx

    folder = args.keep or Path(tempfile.mkdtemp(prefix="shipyard-ui-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SHIPYARD_USER", "ana")
    try:
        template, client = make_project(folder)
        seconds = fill(client.stack.metadata, template, args.runs)  # type: ignore[attr-defined]
        run_ids = [r.id for r in client.runs(limit=2)]  # type: ignore[attr-defined]
        template_steps = {s.step: s for s in client.step_runs(template)}  # type: ignore[attr-defined]
        raw = template_steps["ingest"].outputs["output"]
        train = template_steps["split"].outputs["train"]
        bundle = template_steps["bundle"].outputs["output"]
        print(f"store: {args.runs:,} runs filled in {seconds:.1f} s "
              f"({len(template_steps)} step runs, their lineage, params and metrics each)")
        base, server, thread = serve(client)
        pages = [
            ("runs list, page 1", "/"),
            ("runs list, page 100", "/?page=100"),
            ("runs list, sorted by eval.roc_auc", "/?metric=eval.roc_auc&sort=metric&order=desc"),
            ("runs list, filtered (pipeline, user, status)", "/?pipeline=taxi-tips&user=bo&status=completed"),
            ("runs list, filtered + sorted by metric", "/?pipeline=taxi-tips&metric=test.f1&sort=metric"),
            ("runs API, sorted by metric", "/api/runs?metric=eval.roc_auc&sort=metric"),
            ("run page (graph, steps, metrics)", f"/runs/{run_ids[0]}"),
            ("run page of the trained run", f"/runs/{template}"),
            ("artifact: raw data (read by every run)", f"/artifacts/{raw}"),
            ("artifact: train split (table preview)", f"/artifacts/{train}"),
            ("artifact: model bundle", f"/artifacts/{bundle}"),
            ("data report page", f"/runs/{template}/report"),
            ("data report document", f"/runs/{template}/report.html"),
            ("reports list", "/reports"),
            ("compare 2 runs", f"/compare?runs={run_ids[0]}&runs={template}"),
            ("datasets", "/datasets"),
        ]
        width = max(len(name) for name, _ in pages)
        print(f"\n{'page':<{width}}  median    max  status")
        slow = []
        with httpx.Client(base_url=base, timeout=60) as http:
            for name, path in pages:
                response = http.get(path)  # warm-up (and the status check)
                times = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    http.get(path).raise_for_status()
                    times.append((time.perf_counter() - start) * 1000)
                median = statistics.median(times)
                if median > TARGET_MS:
                    slow.append(name)
                print(f"{name:<{width}}  {median:5.0f} ms {max(times):5.0f} ms  {response.status_code}")
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(10)
        client.close()  # type: ignore[attr-defined]
        print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
              f"medians of {args.repeat} requests after a warm-up")
        print("every page under 300 ms" if not slow else f"over 300 ms: {', '.join(slow)}")
    finally:
        os.chdir(REPO)
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    sys.exit(1 if slow else 0)


if __name__ == "__main__":
    main()
