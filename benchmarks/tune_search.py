"""Wall time of a hyperparameter search on the taxi example: local process pool vs Dask.

Run: ``.venv/bin/python benchmarks/tune_search.py [--trials 16] [--address tcp://HOST:PORT]``

On a copy of ``examples/taxi`` (``tune.yaml``: HistGradientBoosting, random
search over learning rate, depth and iterations, scored by eval ROC AUC) in a
fresh project, the search runs twice with every step executed (no cache):

* **serial**: the trials one after another in one process (``tune.workers: 1``);
* **pool**: the trials in a pool of 2 local processes (``tune.workers: 2``);
* **dask**: the trials on a Dask cluster of 2 worker processes, started here
  with ``shipyard.engine.cluster.connect("local", n_workers=2)`` (its start-up
  is timed apart), or on the scheduler at ``address``.

The figure is the ``tune`` step's own time (the trials, plus preprocessing the
splits once); both searches must pick the same best values. Import
:func:`search_benchmark` to get the figures as a dict.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "taxi"


@contextmanager
def _env(name: str, value: str | None) -> Iterator[None]:
    old = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _search(client: Any, yaml: Path, overrides: list[str]) -> dict[str, Any]:
    result = client.run(str(yaml), overrides=overrides, cache=False)
    if not result.ok:
        raise SystemExit(f"the search failed at {result.error_step}: {result.error}")
    best = client.load_output(result.run_id, "tune", "best")
    trials = client.trials(result.run_id)
    return {
        "tune_s": round(result.steps["tune"].duration, 2),
        "run_s": round(result.duration, 2),
        "best_params": best["params"],
        "best_value": best["value"],
        "trials": len(trials),
        "failed": sum(1 for t in trials if t.run.status != "completed"),
        "ran_in": sorted({t.run.orchestrator or "?" for t in trials}),
        "run_id": result.run_id,
    }


def search_benchmark(trials: int = 16, address: str | None = None) -> dict:
    """Time a ``trials``-trial search in a 2-process local pool and on a 2-worker Dask cluster.

    Args:
        trials: trials per search.
        address: a running Dask scheduler to use instead of a local cluster.

    Returns:
        ``{"trials", "machine", "pool": {...}, "dask": {...}, "same_best"}``;
        each side holds ``tune_s`` (the tune step), ``run_s`` (the whole
        run), the best values and score, and where the trials ran; ``dask``
        also holds ``startup_s`` (starting or reaching the cluster) and
        ``workers``.
    """
    from shipyard.client import Client
    from shipyard.engine.cluster import ENV_ADDRESS, connect

    work = Path(tempfile.mkdtemp(prefix="shipyard-bench-tune-"))
    try:
        shutil.copytree(EXAMPLE, work / "taxi", ignore=shutil.ignore_patterns(".shipyard"))
        project = work / "taxi"
        yaml = project / "tune.yaml"
        overrides = [f"tune.trials={trials}"]
        with _env(ENV_ADDRESS, None), Client(project, create=True) as client:
            # Untimed: imports and the data steps' first run, so both searches start warm.
            client.run(str(yaml), overrides=["tune.trials=1", "tune.workers=1"])
            serial = _search(client, yaml, [*overrides, "tune.workers=1"])
            pool = _search(client, yaml, [*overrides, "tune.workers=2"])
            started = time.perf_counter()
            with connect(address or "local", n_workers=2) as dask:
                dask.wait_for_workers(1, timeout=60)
                startup = time.perf_counter() - started
                workers = len(dask.scheduler_info().get("workers", {}))
                with _env(ENV_ADDRESS, dask.scheduler.address):
                    on_dask = _search(client, yaml, overrides)
            on_dask |= {"startup_s": round(startup, 2), "workers": workers}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "trials": trials,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "serial": {**serial, "workers": 1},
        "pool": {**pool, "workers": 2},
        "dask": on_dask,
        "same_best": serial["best_params"] == pool["best_params"] == on_dask["best_params"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=16, help="trials per search")
    parser.add_argument("--address", default=None, help="a Dask scheduler (default: a local cluster)")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    figures = search_benchmark(args.trials, args.address)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"machine: {figures['machine']}; {figures['trials']} trials per search")
    for side in ("serial", "pool", "dask"):
        f = figures[side]
        extra = f", cluster start {f['startup_s']:.2f} s" if side == "dask" else ""
        speedup = figures["serial"]["tune_s"] / f["tune_s"]
        print(
            f"{side:6} {f['workers']} worker(s): {speedup:4.2f}x, tune step {f['tune_s']:6.2f} s, whole run "
            f"{f['run_s']:6.2f} s{extra}; best eval roc_auc {f['best_value']:.4f}, "
            f"{f['failed']} failed"
        )
    print(f"same best values: {figures['same_best']}  {figures['pool']['best_params']}")


if __name__ == "__main__":
    main()
