"""Per-step overhead of Shipyard, and the cold start of ``shipyard --help``.

Run: ``.venv/bin/python benchmarks/overhead.py [--repeat N] [--peers zenml]``

Figures printed:

* per-step overhead of a pipeline of 10 chained trivial steps passing small
  values, on a first run (fresh stores) and a fully cached run: run wall time
  minus the same functions called directly, divided by the number of steps;
* the same for a 3-step pipeline passing a 1,000,000-row DataFrame;
* ``shipyard --help`` wall time in a new process;
* with ``--peers zenml``: the same trivial pipeline in ZenML, installed in its
  own virtual environment under ``benchmarks/.venvs/`` and run as a
  subprocess, with the ratios between the two measured in this same run.

The machine is shared and noisy: every figure is a median of repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHAIN = 10

CHAIN_PIPELINE = '''
from shipyard import pipeline, step

@step
def start() -> int:
    return 0

@step
def inc(x: int) -> int:
    return x + 1

@pipeline
def chain():
    value = start()
    for i in range({chain} - 1):
        value = inc.named(f"inc_{{i}}")(value)
'''

FRAMES_PIPELINE = '''
import numpy as np
import pandas as pd
from shipyard import pipeline, step

@step
def make_frame(rows: int = 1_000_000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({{"a": rng.random(rows), "b": rng.integers(0, 100, rows),
                         "c": rng.choice(["x", "y", "z"], rows)}})

@step
def add_column(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(d=df["a"] * 2)

@step
def summarise(df: pd.DataFrame) -> dict:
    return {{"rows": len(df), "mean": float(df["d"].mean())}}

@pipeline
def frames():
    summarise(add_column(make_frame()))
'''


def _median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _direct_chain() -> None:
    value = 0
    for _ in range(CHAIN - 1):
        value = value + 1


def _direct_frames(mod: object) -> None:
    df = mod.make_frame.func()  # type: ignore[attr-defined]
    df = mod.add_column.func(df)  # type: ignore[attr-defined]
    mod.summarise.func(df)  # type: ignore[attr-defined]


def measure_shipyard(repeat: int) -> dict[str, float]:
    """Per-step overhead in ms for first and cached runs, in this process."""
    import importlib

    from shipyard.client import Client

    work = Path(tempfile.mkdtemp(prefix="shipyard-bench-"))
    (work / "bench_chain.py").write_text(CHAIN_PIPELINE.format(chain=CHAIN))
    (work / "bench_frames.py").write_text(FRAMES_PIPELINE.format())
    sys.path.insert(0, str(work))
    chain_mod = importlib.import_module("bench_chain")
    frames_mod = importlib.import_module("bench_frames")
    results: dict[str, float] = {}
    try:
        for name, steps, direct, mod in (
            ("chain", CHAIN, _direct_chain, chain_mod),
            ("frames", 3, lambda: _direct_frames(frames_mod), frames_mod),
        ):
            pipe = getattr(mod, name).build()
            direct_s = _median_time(direct, repeat)
            first, cached = [], []
            for i in range(repeat):
                project = work / f"{name}-{i}"
                project.mkdir()
                with Client(project, create=True) as client:
                    client.metadata_store  # noqa: B018 - open the stores outside the timing
                    client.artifact_store  # noqa: B018
                    start = time.perf_counter()
                    result = client.run(pipe)
                    first.append(time.perf_counter() - start)
                    assert result.ok, result.error
                    start = time.perf_counter()
                    result = client.run(pipe)
                    cached.append(time.perf_counter() - start)
                    assert all(s.status == "cached" for s in result.steps.values())
            results[f"{name}_direct_ms"] = direct_s * 1000
            results[f"{name}_first_run_ms"] = statistics.median(first) * 1000
            results[f"{name}_cached_run_ms"] = statistics.median(cached) * 1000
            results[f"{name}_first_per_step_ms"] = (
                (statistics.median(first) - direct_s) / steps * 1000
            )
            results[f"{name}_cached_per_step_ms"] = (
                (statistics.median(cached) - direct_s) / steps * 1000
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def measure_help(command: list[str], repeat: int) -> float:
    """Median wall time in seconds of ``command --help`` in a new process."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([*command, "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_process_runs(repeat: int) -> dict[str, float]:
    """Wall time of ``shipyard run`` of the 10-step chain as a whole process."""
    shipyard = Path(sys.executable).with_name("shipyard")
    work = Path(tempfile.mkdtemp(prefix="shipyard-bench-cli-"))
    (work / "bench_chain.py").write_text(CHAIN_PIPELINE.format(chain=CHAIN))
    first, cached = [], []
    try:
        for i in range(repeat):
            project = work / f"p{i}"
            project.mkdir()
            shutil.copy(work / "bench_chain.py", project)
            subprocess.run([str(shipyard), "init"], cwd=project, capture_output=True, check=True)
            for bucket in (first, cached):
                start = time.perf_counter()
                subprocess.run(
                    [str(shipyard), "run", "bench_chain.py:chain"],
                    cwd=project,
                    capture_output=True,
                    check=True,
                )
                bucket.append(time.perf_counter() - start)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "cli_first_run_s": statistics.median(first),
        "cli_cached_run_s": statistics.median(cached),
    }


# -- peers ---------------------------------------------------------------------

ZENML_SCRIPT = '''
import sys, time
from zenml import pipeline, step

@step
def start() -> int:
    return 0 * {salt}

@step
def inc(x: int) -> int:
    return x + 1 + 0 * {salt}

@pipeline
def chain():
    value = start()
    for i in range({chain} - 1):
        value = inc(value, id=f"inc_{{i}}")

if __name__ == "__main__":
    t = time.perf_counter()
    chain()
    print("RUN_SECONDS", time.perf_counter() - t)
'''


def _peer_venv(name: str, requirement: str) -> Path:
    venv = HERE / ".venvs" / name
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if not marker.exists():
        print(f"installing {requirement} into {venv.relative_to(HERE.parent)} (first time only)...")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        out = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", requirement],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            sys.exit(f"pip install {requirement} failed:\n{out.stderr[-3000:]}")
        marker.write_text(requirement)
    return venv


def measure_zenml(repeat: int) -> dict[str, float]:
    """ZenML: ``zenml --help`` and the 10-step trivial pipeline, first and cached."""
    venv = _peer_venv("zenml", "zenml[local]")
    work = Path(tempfile.mkdtemp(prefix="zenml-bench-"))
    env = {
        **os.environ,
        "ZENML_ANALYTICS_OPT_IN": "false",
        "ZENML_CONFIG_PATH": str(work / "config"),
        "ZENML_LOGGING_VERBOSITY": "ERROR",
        "ZENML_ENABLE_RICH_TRACEBACK": "false",
    }
    zenml = str(venv / "bin" / "zenml")
    python = str(venv / "bin" / "python")
    subprocess.run([zenml, "init"], cwd=work, env=env, capture_output=True, check=True)
    # One untimed run initialises ZenML's local store, as `shipyard init` does ours.
    (work / "warmup.py").write_text(ZENML_SCRIPT.format(salt=-1, chain=CHAIN))
    subprocess.run([python, "warmup.py"], cwd=work, env=env, capture_output=True, check=True)
    help_times, first, cached, first_in, cached_in = [], [], [], [], []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([zenml, "--help"], cwd=work, env=env, capture_output=True, check=True)
        help_times.append(time.perf_counter() - start)
    for i in range(repeat):
        # New step source per repeat (ZenML keys its cache on it): a real first run.
        script = work / f"run_{i}.py"
        script.write_text(ZENML_SCRIPT.format(salt=i, chain=CHAIN))
        for bucket, inner in ((first, first_in), (cached, cached_in)):
            start = time.perf_counter()
            out = subprocess.run(
                [python, str(script)], cwd=work, env=env, capture_output=True, text=True,
                check=True,
            )
            bucket.append(time.perf_counter() - start)
            inner.append(float(out.stdout.split("RUN_SECONDS")[-1].split()[0]))
    shutil.rmtree(work, ignore_errors=True)
    return {
        "help_s": statistics.median(help_times),
        "process_first_run_s": statistics.median(first),
        "process_cached_run_s": statistics.median(cached),
        "first_per_step_ms": statistics.median(first_in) / CHAIN * 1000,
        "cached_per_step_ms": statistics.median(cached_in) / CHAIN * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="repeats per figure (median)")
    parser.add_argument("--peers", nargs="*", default=[], choices=["zenml"], help="peers to compare")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    figures: dict[str, object] = {"machine": machine}
    figures["shipyard"] = {
        **measure_shipyard(args.repeat),
        **measure_process_runs(max(3, args.repeat // 2)),
        "help_s": measure_help([str(Path(sys.executable).with_name("shipyard"))], args.repeat),
    }
    if "zenml" in args.peers:
        figures["zenml"] = measure_zenml(max(3, args.repeat // 2))
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    ours = figures["shipyard"]
    assert isinstance(ours, dict)
    print(f"machine: {machine}")
    print(f"{'figure':44} {'shipyard':>10}")
    for key, value in ours.items():
        unit = "s" if key.endswith("_s") else "ms"
        print(f"{key:44} {value:10.3f} {unit}")
    if "zenml" in figures:
        peer = figures["zenml"]
        assert isinstance(peer, dict)
        print(f"\n{'figure':44} {'zenml':>10} {'zenml/shipyard':>15}")
        pairs = {
            "help_s": "help_s",
            "process_first_run_s": "cli_first_run_s",
            "process_cached_run_s": "cli_cached_run_s",
            "first_per_step_ms": "chain_first_per_step_ms",
            "cached_per_step_ms": "chain_cached_per_step_ms",
        }
        for key, ours_key in pairs.items():
            unit = "s" if key.endswith("_s") else "ms"
            ratio = peer[key] / ours[ours_key] if ours[ours_key] > 0 else float("nan")
            print(f"{key:44} {peer[key]:10.3f} {unit} {ratio:13.0f}x")


if __name__ == "__main__":
    main()
