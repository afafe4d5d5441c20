"""Statistics and drift of a 20-column table: Shipyard, a hand-written baseline, Evidently.

Run: ``.venv/bin/python benchmarks/data.py [--rows N ...] [--quick] [--peers evidently] [--json]``

The table has 12 numeric columns (normal, log-normal, heavy-tailed, integer,
with nulls, zero-inflated, a narrow spread far from zero), 6 categorical ones
(2 to 20,000 values, Zipf-like shares, one with nulls), a datetime and a 0/1
label. Reference and current tables come from the same seeded generator; the
current one has exactly 3 drifts: ``score`` mean +0.5 std, ``sensor`` std x1.5
and ``plan`` 74/26 -> 56/44. The other 17 columns keep their distribution
(different random draws). Both are written to Parquet in a temporary folder, and
every method reads those same files, each in its own process (so the peak
memory, the process's high-water mark, is per method):

* Shipyard statistics: ``compute_statistics(path)`` of the reference;
* Shipyard drift: statistics of reference and current, ``compare`` and the
  report's JSON;
* baseline: the same work written directly with pandas/numpy/scipy on the whole
  table: per column count, nulls, exact distinct, mean, std, min, max, zeros,
  quantiles and histogram (numbers), value counts and lengths (categories),
  min/max/days (datetime); drift with ``ks_2samp`` + Wasserstein / reference std
  + PSI for numbers and chi-square + Jensen-Shannon + PSI for categories,
  deciding by the same rules (normalised Wasserstein >= 0.1, JS >= 0.1);
* with ``--peers evidently``: Evidently 0.7's ``DataDriftPreset`` (``Report``
  API), installed with ``pandas<3`` into ``benchmarks/.venvs/evidently`` on first
  use, reading the same files in a subprocess that times itself and reports its
  own peak memory; it is given the column types Shipyard infers (a
  ``DataDefinition``) and its per-column verdicts are its ``ValueDrift`` tests.

Times include reading the Parquet files; imports are done before the clock
starts and their memory is shown. Each figure is the median of ``--repeat`` runs
(one run at 5M rows and above; Evidently runs once per size). Drift rows/s
count the rows of both tables. Also printed: where Shipyard's sketched figures
differ from the exact ones (quantiles in reference stds, distinct counts, drift
scores on raw data). ``--rows 100000 1000000`` takes about 1.5 minutes; 5M rows
add about 2.5 minutes, and Evidently about 1 minute at 1M rows and 11 at 5M.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_ROWS = [100_000, 1_000_000]
QS = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
BINS = 20
TOP = 5
WASSERSTEIN_RULE = 0.1
JS_RULE = 0.1

NUMERIC = [
    "score", "sensor", "price", "income", "age", "visits",
    "ratio", "delta", "balance", "temperature", "duration", "year",
]
CATEGORICAL = ["plan", "device", "country", "category", "city", "merchant"]
DATETIME = "event_time"
LABEL = "label"
COLUMNS = NUMERIC + CATEGORICAL + [DATETIME, LABEL]
DRIFTED = {"score": "mean +0.5 std", "sensor": "std x1.5", "plan": "74/26 -> 56/44"}
STABLE = [c for c in COLUMNS if c not in DRIFTED]
WORKER_TIMEOUT = 3600
EVIDENTLY_REQUIREMENTS = ["evidently==0.7.*", "pandas<3", "pyarrow"]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- memory, measured inside each process -------------------------------------------

def _status_mb(key: str) -> float | None:
    """A /proc/self/status figure (VmHWM: peak, VmRSS: now) in MB, or None."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _peak_mb() -> float:
    """Peak resident memory of this process in MB.

    VmHWM is this process's own high-water mark. ``ru_maxrss`` is the fallback
    (on Linux it survives exec: a child of a big parent would report the
    parent's peak, which is why the parent here never holds the data).
    """
    import resource

    peak = _status_mb("VmHWM")
    if peak is None:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024
    return peak


def _rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    return _status_mb("VmRSS") or _peak_mb()


# -- the synthetic table --------------------------------------------------------------


def _zipf(size: int, exponent: float) -> Any:
    import numpy as np

    shares = 1.0 / np.arange(1, size + 1) ** exponent
    return shares / shares.sum()


def _category_specs() -> dict[str, tuple[list[str], Any, float]]:
    """Labels, shares and null share of each categorical column (reference)."""
    import numpy as np

    return {
        "plan": (["basic", "premium"], np.array([0.74, 0.26]), 0.0),
        "device": (["mobile", "desktop", "tablet", "tv"], np.array([0.5, 0.3, 0.15, 0.05]), 0.0),
        "country": ([f"country_{i:02d}" for i in range(30)], _zipf(30, 1.0), 0.0),
        "category": ([f"category_{i:03d}" for i in range(200)], _zipf(200, 1.1), 0.0),
        "city": ([f"city_{i:04d}" for i in range(2000)], _zipf(2000, 1.1), 0.02),
        "merchant": ([f"merchant_{i:05d}" for i in range(20_000)], _zipf(20_000, 1.1), 0.0),
    }


def make_table(rows: int, seed: int, drift: bool) -> Any:
    """The synthetic table as a pyarrow Table (``drift``: with the 3 injected drifts)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)

    def with_nulls(values: Any, share: float) -> Any:
        return pa.array(values, mask=rng.random(rows) < share)

    data: dict[str, Any] = {
        "score": rng.normal(0.5 if drift else 0.0, 1.0, rows),
        "sensor": rng.normal(50.0, 15.0 if drift else 10.0, rows),
        "price": rng.lognormal(3.0, 1.0, rows),
        "income": with_nulls(rng.lognormal(10.5, 0.6, rows), 0.05),
        "age": rng.integers(18, 91, rows),
        "visits": rng.poisson(3.0, rows),
        "ratio": rng.random(rows),
        "delta": rng.standard_t(3, rows),
        "balance": np.where(rng.random(rows) < 0.3, 0.0, rng.exponential(1000.0, rows)),
        "temperature": rng.normal(21.0, 3.0, rows),
        "duration": with_nulls(rng.exponential(60.0, rows), 0.02),
        "year": rng.integers(1990, 2025, rows),
    }
    for name, (labels, shares, nulls) in _category_specs().items():
        if name == "plan" and drift:
            shares = np.array([0.56, 0.44])
        codes = np.minimum(np.searchsorted(np.cumsum(shares), rng.random(rows), side="right"), len(labels) - 1)
        data[name] = pc.take(pa.array(labels), with_nulls(codes.astype(np.int32), nulls))
    start = np.datetime64("2024-01-01T00:00:00", "s")
    data[DATETIME] = pa.array((start + rng.integers(0, 366 * 86_400, rows)).astype("datetime64[us]"))
    data[LABEL] = (rng.random(rows) < 0.3).astype(np.int64)
    return pa.table({name: data[name] for name in COLUMNS})


def generate(rows: int, folder: Path) -> dict[str, Any]:
    """Write ``reference.parquet`` and ``current.parquet``; the table's in-memory size."""
    import pandas as pd
    import pyarrow.parquet as pq

    start = time.perf_counter()
    for name, seed, drift in (("reference", 0, False), ("current", 1, True)):
        pq.write_table(make_table(rows, seed, drift), folder / f"{name}.parquet")
    frame = pd.read_parquet(folder / "reference.parquet")
    return {
        "seconds": time.perf_counter() - start,
        "memory_mb": float(frame.memory_usage(deep=True).sum()) / 2**20,
        "reference_file_mb": (folder / "reference.parquet").stat().st_size / 2**20,
        "current_file_mb": (folder / "current.parquet").stat().st_size / 2**20,
        "dtypes": {c: str(t) for c, t in frame.dtypes.items()},
    }


# -- Shipyard ---------------------------------------------------------------------------


def _shipyard_imports() -> None:
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import scipy.spatial.distance
    import scipy.stats  # noqa: F401

    import shipyard.data.drift
    import shipyard.data.sources
    import shipyard.data.statistics  # noqa: F401


def shipyard_summary(stats: Any) -> dict[str, Any]:
    """The figures compared with the baseline's, per column."""
    out: dict[str, Any] = {}
    for name, column in stats.columns.items():
        entry: dict[str, Any] = {
            "type": column.type,
            "count": column.count,
            "nulls": column.nulls,
            "distinct": column.distinct.estimate(),
        }
        if column.type == "numeric":
            entry |= {
                "mean": column.mean,
                "std": column.std,
                "min": column.minimum,
                "max": column.maximum,
                "zeros": column.zeros,
                "quantiles": column.quantiles(QS),
            }
        elif column.type == "datetime":
            entry |= {"min": column.minimum, "max": column.maximum, "days": len(column.days)}
        elif column.top is not None:
            entry["top"] = [[value, count] for value, count in column.top.most_common(TOP)]
        out[name] = entry
    return out


def run_shipyard(kind: str, reference: Path, current: Path) -> dict[str, Any]:
    from shipyard.data.drift import compare
    from shipyard.data.statistics import compute_statistics

    start = time.perf_counter()
    ref = compute_statistics(reference)
    if kind == "stats":
        return {"seconds": time.perf_counter() - start, "summary": shipyard_summary(ref)}
    ref_s = time.perf_counter() - start
    cur = compute_statistics(current)
    cur_s = time.perf_counter() - start - ref_s
    report = compare(ref, cur)
    json.dumps(report.to_json())
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "parts": {"statistics_s": ref_s + cur_s, "compare_s": seconds - ref_s - cur_s},
        "drifted": report.drifted,
        "scores": {c.column: c.score for c in report.columns},
    }


# -- the hand-written baseline -------------------------------------------------------


def _baseline_imports() -> None:
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import scipy.spatial.distance
    import scipy.stats  # noqa: F401


def baseline_statistics(frame: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per-column statistics, and the values the drift tests reuse."""
    import numpy as np
    import pandas as pd

    summary: dict[str, Any] = {}
    kept: dict[str, Any] = {}
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            present = series.dropna()
            seconds = present.to_numpy().astype("datetime64[s]").astype(np.int64)
            days = np.unique(seconds // 86_400)
            summary[name] = {
                "type": "datetime", "count": int(present.size), "nulls": int(series.size - present.size),
                "distinct": int(present.nunique()), "min": float(seconds.min()), "max": float(seconds.max()),
                "days": int(days.size),
            }
        elif pd.api.types.is_numeric_dtype(series.dtype):
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            present = values[~np.isnan(values)]
            quantiles = np.quantile(present, QS)
            counts, _ = np.histogram(present, bins=BINS)
            summary[name] = {
                "type": "numeric", "count": int(present.size), "nulls": int(values.size - present.size),
                "distinct": int(pd.unique(present).size), "mean": float(present.mean()),
                "std": float(present.std(ddof=1)), "min": float(present.min()), "max": float(present.max()),
                "zeros": int((present == 0).sum()),
                "quantiles": {f"p{round(q * 100):g}": float(v) for q, v in zip(QS, quantiles, strict=True)},
                "histogram": counts.tolist(),
            }
            kept[name] = present
        else:
            counts = series.value_counts()
            lengths = series.dropna().str.len()
            summary[name] = {
                "type": "categorical", "count": int(counts.sum()), "nulls": int(series.isna().sum()),
                "distinct": int(counts.size),
                "top": [[str(k), int(v)] for k, v in counts.head(TOP).items()],
                "length": [int(lengths.min()), float(lengths.mean()), int(lengths.max())],
            }
            kept[name] = counts
    return summary, kept


def _psi(ref_share: Any, cur_share: Any) -> float:
    import numpy as np

    r, c = np.clip(ref_share, 1e-4, None), np.clip(cur_share, 1e-4, None)
    return float(np.sum((c - r) * np.log(c / r)))


def baseline_drift(ref: dict[str, Any], cur: dict[str, Any], ref_kept: dict[str, Any], cur_kept: dict[str, Any]) -> dict[str, Any]:
    """Per-column tests on the raw values; verdicts by the distance rules."""
    import numpy as np
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

    results: dict[str, Any] = {}
    for name, stats in ref.items():
        if stats["type"] == "numeric":
            a, b = ref_kept[name], cur_kept[name]
            ks = ks_2samp(a, b)
            score = wasserstein_distance(a, b) / (stats["std"] or 1.0)
            edges = np.unique(np.quantile(a, np.linspace(0.1, 0.9, 9)))
            shares = [np.bincount(np.searchsorted(edges, v, side="right"), minlength=edges.size + 1) / v.size for v in (a, b)]
            results[name] = {"score": float(score), "drifted": bool(score >= WASSERSTEIN_RULE),
                             "ks_p": float(ks.pvalue), "psi": _psi(*shares)}
        elif stats["type"] == "categorical":
            r_counts, c_counts = ref_kept[name], cur_kept[name]
            keys = r_counts.index.union(c_counts.index)
            r = r_counts.reindex(keys, fill_value=0).to_numpy(dtype=float)
            c = c_counts.reindex(keys, fill_value=0).to_numpy(dtype=float)
            chi = chi2_contingency(np.vstack([r, c]), correction=False)
            score = jensenshannon(r / r.sum(), c / c.sum(), base=2)
            results[name] = {"score": float(score), "drifted": bool(score >= JS_RULE),
                             "chi2_p": float(chi.pvalue), "psi": _psi(r / r.sum(), c / c.sum())}
    return results


def run_baseline(kind: str, reference: Path, current: Path) -> dict[str, Any]:
    import pandas as pd

    start = time.perf_counter()
    ref_summary, ref_kept = baseline_statistics(pd.read_parquet(reference))
    if kind == "stats":
        return {"seconds": time.perf_counter() - start, "summary": ref_summary}
    cur_summary, cur_kept = baseline_statistics(pd.read_parquet(current))
    stats_s = time.perf_counter() - start
    results = baseline_drift(ref_summary, cur_summary, ref_kept, cur_kept)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "parts": {"statistics_s": stats_s, "tests_s": seconds - stats_s},
        "drifted": [name for name, r in results.items() if r["drifted"]],
        "scores": {name: r["score"] for name, r in results.items()},
    }


# -- Evidently (its own venv, its own process) -------------------------------------

EVIDENTLY_SCRIPT = '''
import json, sys, time

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
import evidently

imports_mb = _rss_mb()
reference, current, types = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
start = time.perf_counter()
ref = pd.read_parquet(reference)
cur = pd.read_parquet(current)
read_s = time.perf_counter() - start
definition = DataDefinition(
    numerical_columns=types["numerical"],
    categorical_columns=types["categorical"],
    datetime_columns=types["datetime"],
)
start = time.perf_counter()
snapshot = Report([DataDriftPreset()], include_tests=True).run(
    Dataset.from_pandas(cur, data_definition=definition),
    Dataset.from_pandas(ref, data_definition=definition),
)
doc = snapshot.dict()
report_s = time.perf_counter() - start
flags, scores, methods = {}, {}, {}
for test in doc.get("tests", []):
    params = (test.get("metric_config") or {}).get("params") or {}
    if params.get("type", "").endswith("ValueDrift"):
        flags[params["column"]] = test["status"] == "FAIL"
for metric in doc.get("metrics", []):
    config = metric.get("config") or {}
    if config.get("type", "").endswith("ValueDrift"):
        scores[config["column"]] = metric["value"]
        methods[config["column"]] = config.get("method")
print("RESULT " + json.dumps({
    "version": evidently.__version__, "pandas": pd.__version__,
    "read_s": read_s, "report_s": report_s, "seconds": read_s + report_s,
    "drifted": [c for c, flag in flags.items() if flag], "flags": flags,
    "scores": scores, "methods": methods,
    "imports_mb": imports_mb, "peak_mb": _peak_mb(),
}))
'''


def _peer_venv(name: str, requirements: list[str]) -> tuple[Path, float | None]:
    """The peer's venv (made on first use) and the install time when it was made now."""
    venv = HERE / ".venvs" / name
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if marker.exists():
        return venv, None
    _log(f"installing {' '.join(requirements)} into {venv.relative_to(HERE.parent)} (first time only)...")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    out = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"pip install {' '.join(requirements)} failed:\n{out.stderr[-3000:]}")
    marker.write_text("\n".join(requirements))
    seconds = time.perf_counter() - start
    _log(f"installed in {seconds:.0f} s")
    return venv, seconds


def run_evidently(folder: Path) -> dict[str, Any]:
    venv, install_s = _peer_venv("evidently", EVIDENTLY_REQUIREMENTS)
    script = folder / "evidently_drift.py"
    helpers = "".join(inspect.getsource(f) + "\n" for f in (_status_mb, _peak_mb, _rss_mb))
    script.write_text("from __future__ import annotations\nimport sys\n" + helpers + EVIDENTLY_SCRIPT)
    types = {"numerical": [*NUMERIC, LABEL], "categorical": CATEGORICAL, "datetime": [DATETIME]}
    result = _run_process(
        [str(venv / "bin" / "python"), str(script), str(folder / "reference.parquet"),
         str(folder / "current.parquet"), json.dumps(types)],
        env={**os.environ, "DO_NOT_TRACK": "1", "EVIDENTLY_DISABLE_TELEMETRY": "1"},
    )
    if install_s is not None:
        result["install_s"] = install_s
    return result


# -- processes ---------------------------------------------------------------------------


def _run_process(command: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    out = subprocess.run(command, capture_output=True, text=True, timeout=WORKER_TIMEOUT, env=env, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"exit {out.returncode}:\n{(out.stderr or out.stdout)[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def _worker(kind: str, rows: int, folder: Path) -> dict[str, Any]:
    return _run_process([sys.executable, str(Path(__file__).resolve()), "--worker", kind,
                         "--rows", str(rows), "--folder", str(folder)])


def worker_main(kind: str, rows: int, folder: Path) -> None:
    """One measurement in this (new) process; prints ``RESULT {json}``."""
    reference, current = folder / "reference.parquet", folder / "current.parquet"
    if kind == "generate":
        result = generate(rows, folder)
    else:
        method, what = kind.split("-")
        (_shipyard_imports if method == "shipyard" else _baseline_imports)()
        imports_mb = _rss_mb()
        run = run_shipyard if method == "shipyard" else run_baseline
        result = run(what, reference, current)
        result |= {"imports_mb": imports_mb}
    result["peak_mb"] = _peak_mb()
    print("RESULT " + json.dumps(result))


# -- measuring and reporting --------------------------------------------------------------


def _drift_check(drifted: list[str]) -> dict[str, Any]:
    found = [c for c in DRIFTED if c in drifted]
    false = [c for c in drifted if c not in DRIFTED]
    return {"found": len(found), "missed": [c for c in DRIFTED if c not in drifted],
            "false_alarms": len(false), "false_alarm_columns": false}


def _margins(scores: dict[str, float | None]) -> dict[str, Any]:
    """Scores of the drifted columns and the highest score of the stable ones."""
    stable = {c: s for c, s in scores.items() if c not in DRIFTED and s is not None}
    top = max(stable, key=lambda c: stable[c]) if stable else None
    return {"drifted": {c: scores.get(c) for c in DRIFTED},
            "max_stable": [top, stable[top]] if top else None}


def _aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(runs[0])
    out["seconds"] = statistics.median(r["seconds"] for r in runs)
    out["peak_mb"] = max(r["peak_mb"] for r in runs)
    out["runs_s"] = [r["seconds"] for r in runs]
    if "parts" in out:
        out["parts"] = {k: statistics.median(r["parts"][k] for r in runs) for k in out["parts"]}
    return out


def agreement(ship: dict[str, Any], base: dict[str, Any], ship_scores: dict[str, Any], base_scores: dict[str, Any]) -> dict[str, Any]:
    """Where Shipyard's statistics and drift scores differ from the exact ones."""
    worst_q = [0.0, None, None]  # error in reference stds, column, quantile
    worst_distinct = [0.0, None, None, None]
    mismatches = []
    for name, b in base.items():
        s = ship.get(name)
        if s is None:
            mismatches.append(f"{name}: missing in Shipyard")
            continue
        if s["type"] != b["type"]:
            mismatches.append(f"{name}: type {s['type']} (baseline {b['type']})")
            continue
        for key in ("count", "nulls"):
            if s[key] != b[key]:
                mismatches.append(f"{name}: {key} {s[key]} (exact {b[key]})")
        error = abs(s["distinct"] - b["distinct"]) / max(b["distinct"], 1)
        if error > worst_distinct[0]:
            worst_distinct = [error, name, s["distinct"], b["distinct"]]
        if b["type"] == "numeric":
            for key in ("mean", "std", "min", "max"):
                if abs(s[key] - b[key]) > 1e-9 * max(1.0, abs(b[key])):
                    mismatches.append(f"{name}: {key} {s[key]:.6g} (exact {b[key]:.6g})")
            for q, exact in b["quantiles"].items():
                value = s["quantiles"].get(q)
                err = abs(value - exact) / b["std"] if value is not None and b["std"] else 0.0
                if err > worst_q[0]:
                    worst_q = [err, name, f"{q}: {value:.6g} vs {exact:.6g}"]
        elif b["type"] == "categorical" and s.get("top") and sorted(map(tuple, s["top"])) != sorted(map(tuple, b["top"])):
            mismatches.append(f"{name}: top {s['top'][:2]}... (exact {b['top'][:2]}...)")
        elif b["type"] == "datetime":
            for key in ("min", "max", "days"):
                if s[key] != b[key]:
                    mismatches.append(f"{name}: {key} {s[key]} (exact {b[key]})")
    score_diffs = {c: abs(ship_scores[c] - base_scores[c]) for c in base_scores
                   if ship_scores.get(c) is not None and base_scores[c] is not None}
    worst_score = max(score_diffs, key=lambda c: score_diffs[c]) if score_diffs else None
    return {
        "worst_quantile_error_in_std": worst_q,
        "worst_distinct_relative_error": worst_distinct,
        "worst_drift_score_difference": [worst_score, score_diffs.get(worst_score),
                                         ship_scores.get(worst_score), base_scores.get(worst_score)],
        "mismatches": mismatches,
    }


def measure(rows: int, repeat: int, peers: list[str], keep: Path) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix=f"shipyard-data-{rows}-", dir=keep))
    result: dict[str, Any] = {"rows": rows}
    try:
        _log(f"{rows:,} rows: generating...")
        result["table"] = _worker("generate", rows, folder)
        kinds = ["shipyard-stats", "baseline-stats", "shipyard-drift", "baseline-drift"]
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
        repeats = 1 if rows >= 5_000_000 else repeat
        for i in range(repeats):
            for kind in kinds:
                _log(f"{rows:,} rows: {kind} ({i + 1}/{repeats})...")
                try:
                    runs[kind].append(_worker(kind, rows, folder))
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    _log(f"{kind} failed: {exc}")
                    result.setdefault("errors", {})[kind] = str(exc)[-2000:]
        for kind, done in runs.items():
            if done:
                result[kind] = _aggregate(done)
        if "evidently" in peers:
            _log(f"{rows:,} rows: evidently drift...")
            try:
                result["evidently-drift"] = run_evidently(folder)
            except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as exc:
                _log(f"evidently failed: {exc}")
                result.setdefault("errors", {})["evidently-drift"] = str(exc)[-2000:]
        for kind in ("shipyard-drift", "baseline-drift", "evidently-drift"):
            if kind in result:
                result[kind]["check"] = _drift_check(result[kind]["drifted"])
                result[kind]["margins"] = _margins(result[kind]["scores"])
        if all(k in result for k in kinds):
            result["agreement"] = agreement(
                result["shipyard-stats"]["summary"], result["baseline-stats"]["summary"],
                result["shipyard-drift"]["scores"], result["baseline-drift"]["scores"],
            )
        result["ratios"] = ratios(result)
        for kind in ("shipyard-stats", "baseline-stats"):
            result.get(kind, {}).pop("summary", None)  # compared above; too long to print
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def ratios(result: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}

    def time_of(kind: str) -> float | None:
        return result[kind]["seconds"] if kind in result else None

    for what in ("stats", "drift"):
        ship, base = time_of(f"shipyard-{what}"), time_of(f"baseline-{what}")
        if ship and base:
            out[f"shipyard_over_baseline_{what}"] = ship / base
    ship, peer = time_of("shipyard-drift"), time_of("evidently-drift")
    if ship and peer:
        out["evidently_over_shipyard_drift"] = peer / ship
        out["evidently_report_only_over_shipyard_drift"] = result["evidently-drift"]["report_s"] / ship
    memory = result["table"]["memory_mb"]
    for kind in ("shipyard-stats", "shipyard-drift"):
        if kind in result:
            out[f"{kind}_peak_over_table"] = result[kind]["peak_mb"] / memory
            out[f"{kind}_peak_above_imports_over_table"] = (result[kind]["peak_mb"] - result[kind]["imports_mb"]) / memory
    return out


def _rate(rows: float, seconds: float) -> str:
    per_s = rows / seconds if seconds else float("inf")
    return f"{per_s / 1e6:.2f}M/s" if per_s >= 1e6 else f"{per_s / 1e3:.0f}k/s"


def print_size(result: dict[str, Any]) -> None:
    rows, table = result["rows"], result["table"]
    print(f"\n== {rows:,} rows: table in memory (pandas, deep) {table['memory_mb']:.0f} MB; "
          f"Parquet {table['reference_file_mb']:.0f} + {table['current_file_mb']:.0f} MB")
    print(f"{'method':24} {'time':>9} {'rows/s':>10} {'peak MB':>9} {'(imports)':>9}  {'drifts':>6} {'false alarms':>12}")
    for kind in ("shipyard-stats", "baseline-stats", "shipyard-drift", "baseline-drift", "evidently-drift"):
        if kind not in result:
            continue
        r = result[kind]
        processed = rows * (2 if kind.endswith("drift") else 1)
        line = (f"{kind:24} {r['seconds']:8.2f}s {_rate(processed, r['seconds']):>10} "
                f"{r['peak_mb']:9.0f} {r['imports_mb']:9.0f}")
        if "check" in r:
            c = r["check"]
            line += f"  {c['found']:>4}/3 {c['false_alarms']:>9}/17"
            if c["missed"] or c["false_alarm_columns"]:
                line += f"  missed {c['missed']} false {c['false_alarm_columns']}"
        print(line)
    print("  (drift rows/s count the rows of both tables)")
    for kind, label in (("shipyard-drift", "shipyard"), ("baseline-drift", "baseline")):
        if kind in result:
            parts = ", ".join(f"{k} {v:.2f}" for k, v in result[kind]["parts"].items())
            print(f"  {label} drift parts: {parts}")
    if "evidently-drift" in result:
        e = result["evidently-drift"]
        print(f"  evidently {e['version']} (pandas {e['pandas']}): read {e['read_s']:.2f} s, report {e['report_s']:.2f} s"
              + (f"; installed in {e['install_s']:.0f} s" if "install_s" in e else ""))
    for kind in ("shipyard-drift", "baseline-drift", "evidently-drift"):
        if kind in result:
            m = result[kind]["margins"]
            drifted = ", ".join(f"{c} {s:.3f}" if s is not None else f"{c} -" for c, s in m["drifted"].items())
            top = f"{m['max_stable'][0]} {m['max_stable'][1]:.3f}" if m["max_stable"] else "-"
            print(f"  {kind.split('-')[0]:9} scores: {drifted}; highest stable: {top}")
    if "agreement" in result:
        a = result["agreement"]
        q, d, s = a["worst_quantile_error_in_std"], a["worst_distinct_relative_error"], a["worst_drift_score_difference"]
        print(f"  shipyard vs exact: worst quantile error {q[0]:.3f} std ({q[1]} {q[2]}); "
              f"worst distinct error {d[0]:.2%} ({d[1]} {d[2]} vs {d[3]})")
        if s[0] is not None:
            print(f"  shipyard vs raw-data drift score: worst difference {s[1]:.4f} ({s[0]} {s[2]:.4f} vs {s[3]:.4f})")
        for mismatch in a["mismatches"]:
            print(f"  mismatch: {mismatch}")
    ratios = result["ratios"]
    parts = []
    if "shipyard_over_baseline_stats" in ratios:
        parts.append(f"shipyard/baseline stats {ratios['shipyard_over_baseline_stats']:.2f}x")
    if "shipyard_over_baseline_drift" in ratios:
        parts.append(f"drift {ratios['shipyard_over_baseline_drift']:.2f}x (target <= 1.3x)")
    if "evidently_over_shipyard_drift" in ratios:
        parts.append(f"evidently/shipyard drift {ratios['evidently_over_shipyard_drift']:.1f}x "
                     f"(report only {ratios['evidently_report_only_over_shipyard_drift']:.1f}x; target >= 40x)")
    if parts:
        print("  ratios: " + "; ".join(parts))
    if "shipyard-drift_peak_over_table" in ratios:
        print(f"  shipyard peak / table in memory: stats {ratios['shipyard-stats_peak_over_table']:.2f}x, "
              f"drift {ratios['shipyard-drift_peak_over_table']:.2f}x; above imports: stats "
              f"{ratios['shipyard-stats_peak_above_imports_over_table']:.2f}x, drift "
              f"{ratios['shipyard-drift_peak_above_imports_over_table']:.2f}x (target < 2x at 5M rows)")
    for kind, error in result.get("errors", {}).items():
        print(f"  {kind} FAILED: {error.strip().splitlines()[-1] if error.strip() else error}")


def _commit() -> str:
    """The commit measured (``+`` when the tree has changes)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "../src"], cwd=HERE, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=DEFAULT_ROWS, help="table sizes")
    parser.add_argument("--quick", action="store_true", help="100,000 rows only")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure below 5M rows (median)")
    parser.add_argument("--peers", nargs="*", default=[], choices=["evidently"], help="peers to compare")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker, args.rows[0], args.folder)
        return

    sizes = [100_000] if args.quick else args.rows
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    figures: dict[str, Any] = {"machine": machine, "commit": _commit(), "repeat": args.repeat, "sizes": []}
    start = time.perf_counter()
    for rows in sizes:
        result = measure(rows, args.repeat, args.peers, Path(tempfile.gettempdir()))
        figures["sizes"].append(result)
        if not args.json:
            if len(figures["sizes"]) == 1:
                print(f"machine: {machine}; shipyard at {figures['commit']}")
            print_size(result)
    figures["total_s"] = time.perf_counter() - start
    if args.json:
        print(json.dumps(figures, indent=2, default=str))
    else:
        print(f"\n(total {figures['total_s']:.0f} s)")


if __name__ == "__main__":
    main()
