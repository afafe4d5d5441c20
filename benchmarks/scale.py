"""Data-parallel statistics, drift and batch prediction on a local Dask cluster, against one process.

Run: ``.venv/bin/python benchmarks/scale.py [--rows N] [--parts P] [--quick] [--memory-limit 1GiB] [--trials 16] [--no-tune] [--json]``

A partitioned dataset of ``--rows`` rows (default 10,000,000) in ``--parts``
Parquet parts (default 40) is generated in a temporary folder with the
20-column synthetic table of ``benchmarks/data.py`` (its generator, imported),
each part from its own seed. A "current" dataset of a quarter of the rows,
with ``data.py``'s three injected drifts, is the other side of the drift.

Measured, each workload in a fresh process or a fresh cluster:

* **statistics** of the dataset, part by part and merged: one process
  (``compute_statistics`` of the files, what ``shipyard data stats 'glob'``
  does without a cluster) against ``partitioned_statistics`` on a
  ``LocalCluster`` of 1 and 2 worker processes (``--address local``);
* **drift** of the current dataset from the reference: statistics of both
  sides and ``compare``, the same three ways;
* **batch prediction**: a HistGradientBoosting model trained once by a
  Shipyard YAML pipeline on a 50,000-row sample, then every part scored
  through the bundle's ``Predictor`` into a folder of Parquet parts: in one
  process (``shipyard predict --input 'glob'``) and on the clusters
  (``--address``).

The clusters' workers get a memory limit (``--memory-limit``, default 1 GiB)
below the table's in-memory size (pandas, deep) at the default size, and
their peak resident memory is read from each worker (``VmHWM``, reset before
each workload); a workload that completes under that limit shows that a
worker holds a batch at a time, not the table. Cluster start-up (about a
second) is timed apart from the work; speedups are of the work. Statistics
computed on the cluster are checked to equal those of the single process.

``--quick`` is 1,000,000 rows in 8 parts (about a minute). The default size
takes about 8 minutes on 2 cores.

Last, a 16-trial hyperparameter search (``--trials``) on the taxi example is
timed serially, in a local pool of 2 processes and on a Dask cluster of 2
workers (``benchmarks/tune_search.py``; ``--no-tune`` skips it).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_ROWS = 10_000_000
DEFAULT_PARTS = 40
QUICK_ROWS, QUICK_PARTS = 1_000_000, 8
SAMPLE_ROWS = 50_000
WORKER_COUNTS = (1, 2)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@functools.lru_cache(maxsize=1)
def _bench_data() -> Any:
    """``benchmarks/data.py`` as a module (its table generator and column lists)."""
    spec = importlib.util.spec_from_file_location("shipyard_bench_data", HERE / "data.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


# -- memory, read inside each process --------------------------------------------------


def peak_mb() -> float:
    """This process's peak resident memory in MB (VmHWM; ru_maxrss where there is no /proc)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def reset_peak() -> bool:
    """Start this process's peak memory afresh (Linux: ``5`` into clear_refs); False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


# -- the data ------------------------------------------------------------------------------


@dataclass
class Dataset:
    folder: Path
    reference: list[Path]
    current: list[Path]
    rows: int
    current_rows: int
    memory_mb: float
    file_mb: float
    seconds: float
    sample: Path


def _write_part(job: tuple[str, int, int, bool]) -> tuple[str, float]:
    path, rows, seed, drift = job
    import pyarrow.parquet as pq

    table = _bench_data().make_table(rows, seed, drift)
    pq.write_table(table, path)
    # The in-memory size of one part as pandas (deep), measured on the first.
    return path, float(table.to_pandas().memory_usage(deep=True).sum()) / 2**20 if seed == 0 else 0.0


def generate(folder: Path, rows: int, parts: int) -> Dataset:
    """The reference parts, the current parts (a quarter of the rows, drifted), a training sample."""
    start = time.perf_counter()
    per_part = rows // parts
    current_parts = max(1, parts // 4)
    (folder / "reference").mkdir(parents=True)
    (folder / "current").mkdir()
    jobs = [(str(folder / "reference" / f"part-{i:03d}.parquet"), per_part, i, False) for i in range(parts)]
    jobs += [(str(folder / "current" / f"part-{i:03d}.parquet"), per_part, 10_000 + i, True) for i in range(current_parts)]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_write_part, jobs))
    part_mb = next(mb for _, mb in results if mb)
    reference = [Path(j[0]) for j in jobs[:parts]]
    current = [Path(j[0]) for j in jobs[parts:]]
    import pyarrow.parquet as pq

    sample = folder / "sample.parquet"
    pq.write_table(pq.read_table(reference[0]).slice(0, SAMPLE_ROWS), sample)
    return Dataset(
        folder=folder,
        reference=reference,
        current=current,
        rows=per_part * parts,
        current_rows=per_part * current_parts,
        memory_mb=part_mb * parts,
        file_mb=sum(p.stat().st_size for p in reference) / 2**20,
        seconds=time.perf_counter() - start,
        sample=sample,
    )


# -- the workloads ---------------------------------------------------------------------------


def _single(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """One workload in this (fresh) process: seconds, peak memory, and what it computed."""
    start = time.perf_counter()
    out: dict[str, Any] = {}
    if kind == "stats":
        from shipyard.data.statistics import compute_statistics

        out["statistics"] = compute_statistics(data["reference"]).to_json()
    elif kind == "drift":
        from shipyard.data.drift import compare
        from shipyard.data.statistics import compute_statistics

        ref = compute_statistics(data["reference"])
        cur = compute_statistics(data["current"], types={n: c.type for n, c in ref.columns.items()})
        out["drifted"] = compare(ref, cur).drifted
    else:
        from shipyard.bundle.bundle import Predictor
        from shipyard.bundle.io import load_bundle_folder
        from shipyard.ml.parallel_predict import predict_parts

        predictor = Predictor(load_bundle_folder(Path(data["bundle"])))
        summary = predict_parts(predictor, data["reference"], Path(data["output"]))
        out["rows"] = summary.rows
    out["seconds"] = time.perf_counter() - start
    out["peak_mb"] = peak_mb()
    return out


def run_single(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_single, kind, data).result()


def _warm_up() -> bool:
    """Imports a worker needs, before the clock starts."""
    import pyarrow.parquet  # noqa: F401
    import scipy.stats  # noqa: F401
    import sklearn.ensemble  # noqa: F401

    import shipyard.bundle.bundle
    import shipyard.data.datasets
    import shipyard.ml.parallel_predict  # noqa: F401

    return True


def run_cluster(workers: int, memory_limit: str, data: dict[str, Any]) -> dict[str, Any]:
    """Statistics, drift and prediction on a fresh local cluster of ``workers`` processes."""
    from shipyard.bundle.bundle import Predictor
    from shipyard.bundle.io import load_bundle_folder
    from shipyard.data.parallel import partitioned_drift, partitioned_statistics
    from shipyard.engine.cluster import connect
    from shipyard.ml.parallel_predict import predict_parts

    out: dict[str, Any] = {"workers": workers}
    start = time.perf_counter()
    with connect("local", n_workers=workers, memory_limit=memory_limit) as client:
        client.run(_warm_up)
        out["start_s"] = time.perf_counter() - start

        def measure(name: str, work: Any) -> Any:
            resettable = all(client.run(reset_peak).values())
            before = set(client.scheduler_info()["workers"])
            began = time.perf_counter()
            value = work()
            seconds = time.perf_counter() - began
            peaks = client.run(peak_mb)
            # A worker killed for exceeding its memory limit comes back under a new address.
            restarted = set(client.scheduler_info()["workers"]) - before
            out[name] = {
                "seconds": seconds,
                "worker_peak_mb": max(peaks.values()),
                "peak_reset": resettable,
                "restarts": len(restarted),
            }
            return value

        stats = measure("stats", lambda: partitioned_statistics(data["reference"], dask_client=client))
        out["stats"]["identical"] = stats.to_json() == data["single_statistics"]
        _, _, report = measure("drift", lambda: partitioned_drift(data["reference"], data["current"], dask_client=client))
        out["drift"]["drifted"] = report.drifted
        predictor = Predictor(load_bundle_folder(Path(data["bundle"])))
        output = Path(data["output"] + f"-{workers}")
        summary = measure("predict", lambda: predict_parts(
            predictor, data["reference"], output, bundle_folder=Path(data["bundle"]), dask_client=client,
        ))
        out["predict"]["rows"] = summary.rows
        shutil.rmtree(output, ignore_errors=True)
    return out


def train_bundle(folder: Path, sample: Path) -> Path:
    """A HistGradientBoosting bundle from a YAML pipeline on the sample; its folder."""
    import shipyard

    project = folder / "project"
    project.mkdir()
    (project / "pipeline.yaml").write_text(
        "name: scale\n"
        f"data: {sample}\n"
        "label: label\n"
        "drop: [event_time, merchant]\n"
        "split: {by: random, ratios: {train: 0.8, eval: 0.1, test: 0.1}}\n"
        "train: {model: sklearn.ensemble.HistGradientBoostingClassifier, params: {max_iter: 50}}\n"
    )
    with shipyard.Client(project, create=True) as client:
        result = client.run(str(project / "pipeline.yaml"))
        result.raise_for_status()
        return client.artifact_store.local_path(result.artifact("bundle").id)


# -- hyperparameter search -----------------------------------------------------------------------


def tuning_benchmark(trials: int) -> dict[str, Any]:
    """A ``trials``-trial search on the taxi example: serial, a local pool of 2, a cluster of 2.

    The measurement is ``benchmarks/tune_search.py``'s, run in a fresh process.
    """
    done = subprocess.run(
        [sys.executable, str(HERE / "tune_search.py"), "--json", "--trials", str(trials)],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the hyperparameter search benchmark failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


# -- the report --------------------------------------------------------------------------------


@dataclass
class Figures:
    machine: str
    commit: str
    rows: int
    parts: int
    memory_limit: str
    dataset: dict[str, Any] = field(default_factory=dict)
    single: dict[str, Any] = field(default_factory=dict)
    clusters: list[dict[str, Any]] = field(default_factory=list)
    tuning: dict[str, Any] | None = None
    total_s: float = 0.0


def _limit_mb(limit: str) -> float:
    from dask.utils import parse_bytes

    return parse_bytes(limit) / 2**20


def print_figures(fig: Figures) -> None:
    ds = fig.dataset
    print(f"machine: {fig.machine}; shipyard at {fig.commit}")
    print(
        f"dataset: {fig.rows:,} rows in {fig.parts} Parquet parts ({ds['file_mb']:.0f} MB on disk, "
        f"{ds['memory_mb']:,.0f} MB in memory as pandas); current side {ds['current_rows']:,} rows; "
        f"generated in {ds['seconds']:.0f} s"
    )
    limit = _limit_mb(fig.memory_limit)
    print(f"worker memory limit: {fig.memory_limit} ({limit:,.0f} MB = {limit / ds['memory_mb']:.2f}x the table)")
    head = f"{'workload':10} {'1 process':>10}"
    for c in fig.clusters:
        head += f" {str(c['workers']) + ' worker' + ('s' if c['workers'] > 1 else ''):>10} {'speedup':>8}"
    head += "   peak MB: process / per worker"
    print(head)
    for kind in ("stats", "drift", "predict"):
        single = fig.single[kind]
        line = f"{kind:10} {single['seconds']:9.1f}s"
        peaks = [f"{single['peak_mb']:.0f}"]
        for c in fig.clusters:
            r = c[kind]
            line += f" {r['seconds']:9.1f}s {single['seconds'] / r['seconds']:7.2f}x"
            peaks.append(f"{r['worker_peak_mb']:.0f}" + ("" if r["peak_reset"] else "*"))
        print(line + "   " + " / ".join(peaks))
    for c in fig.clusters:
        extra = [f"start {c['start_s']:.1f} s"]
        if c["stats"]["identical"]:
            extra.append("statistics identical to one process")
        else:
            extra.append("STATISTICS DIFFER from one process")
        restarts = sum(c[k]["restarts"] for k in ("stats", "drift", "predict"))
        extra.append(f"{restarts} worker restart(s)")
        print(f"  {c['workers']} worker(s): " + "; ".join(extra))
    print(f"  drift found: {', '.join(fig.single['drift']['drifted'])} (injected: score, sensor, plan)")
    print(f"  predictions: {fig.single['predict']['rows']:,} rows, folder of {fig.parts} parts")
    if any(not c[k]["peak_reset"] for c in fig.clusters for k in ("stats", "drift", "predict")):
        print("  * peak since the worker started (this system cannot reset it between workloads)")
    if fig.tuning is not None:
        t = fig.tuning
        print(f"hyperparameter search, {t['trials']} trials (taxi example, the tune step's time):")
        for side, label in (("serial", "one process"), ("pool", "local pool of 2"), ("dask", "Dask, 2 workers")):
            f = t[side]
            print(
                f"  {label:16} {f['tune_s']:6.1f}s {t['serial']['tune_s'] / f['tune_s']:5.2f}x"
                f"   best eval roc_auc {f['best_value']:.4f}"
            )
        print(f"  same best values on all three: {t['same_best']}")
    print(f"(total {fig.total_s:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows of the dataset")
    parser.add_argument("--parts", type=int, default=DEFAULT_PARTS, help="Parquet parts")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows in {QUICK_PARTS} parts")
    parser.add_argument("--memory-limit", default="1GiB", help="memory limit of each worker (Dask syntax)")
    parser.add_argument("--trials", type=int, default=16, help="trials of the hyperparameter search")
    parser.add_argument("--no-tune", action="store_true", help="skip the hyperparameter search")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    rows, parts = (QUICK_ROWS, QUICK_PARTS) if args.quick else (args.rows, args.parts)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    fig = Figures(machine, _bench_data()._commit(), rows, parts, args.memory_limit)
    start = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="shipyard-scale-"))
    try:
        _log(f"generating {rows:,} rows in {parts} parts...")
        dataset = generate(folder, rows, parts)
        fig.rows = dataset.rows
        fig.dataset = {k: getattr(dataset, k) for k in ("memory_mb", "file_mb", "seconds", "current_rows")}
        _log("training the model on a sample...")
        bundle = train_bundle(folder, dataset.sample)
        data: dict[str, Any] = {
            "reference": [str(p) for p in dataset.reference],
            "current": [str(p) for p in dataset.current],
            "bundle": str(bundle),
            "output": str(folder / "predictions"),
        }
        for kind in ("stats", "drift", "predict"):
            _log(f"one process: {kind}...")
            fig.single[kind] = run_single(kind, data)
        data["single_statistics"] = fig.single["stats"].pop("statistics")
        shutil.rmtree(folder / "predictions", ignore_errors=True)
        for workers in WORKER_COUNTS:
            _log(f"cluster of {workers} worker(s)...")
            fig.clusters.append(run_cluster(workers, args.memory_limit, data))
        if not args.no_tune:
            _log(f"hyperparameter search, {args.trials} trials...")
            fig.tuning = tuning_benchmark(args.trials)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    fig.total_s = time.perf_counter() - start
    if args.json:
        print(json.dumps(fig.__dict__, indent=2, default=str))
    else:
        print_figures(fig)


if __name__ == "__main__":
    main()
