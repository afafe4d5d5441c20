"""Helpers for the YAML training pipeline tests: data files, projects, CLI checks.

Everything here builds real inputs (CSV files cut from the example datasets or
generated with a seeded RNG) and real projects (SQLite metadata + artifact
folder in a tmp folder); nothing is mocked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard import errors
from shipyard.client import Client

REPO = Path(__file__).resolve().parents[2]
TAXI = REPO / "examples" / "taxi"
TAXI_CSV = TAXI / "data" / "chicago_taxi_trips.csv"
BIKES = REPO / "examples" / "bikes"
TAXI_ROWS = 3000
TRACEBACK = "Traceback (most recent call last)"
#: Keeps the taxi model small and fast; the example asks for 200 iterations.
FAST = "train.params.max_iter=30"
STEPS = [
    "ingest", "split", "features", "statistics", "schema", "validate", "skew",
    "preprocess", "train", "evaluate", "gate", "bundle",
]
DATA_STEPS = {"statistics": "cached", "schema": "cached", "validate": "cached", "skew": "cached"}


def taxi_rows(n: int = TAXI_ROWS) -> pd.DataFrame:
    """The first ``n`` rows of the real taxi dataset."""
    return pd.read_csv(TAXI_CSV, nrows=n, low_memory=False)


def copy_taxi(folder: Path, rows: int = TAXI_ROWS) -> Path:
    """Copy the taxi example (pipeline.yaml + the first ``rows`` data rows) into ``folder``.

    The CSV is cut line by line, so the copied rows are byte-identical to the
    example's.
    """
    (folder / "data").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TAXI / "pipeline.yaml", folder / "pipeline.yaml")
    with TAXI_CSV.open(encoding="utf-8") as src, (
        folder / "data" / TAXI_CSV.name
    ).open("w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i > rows:
                break
            dst.write(line)
    return folder / "pipeline.yaml"


def regression_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A small synthetic regression table: y = 3*x1 - 2*x2 + color effect + noise."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.uniform(0, 5, size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    effect = pd.Series(color).map({"red": 1.0, "green": 0.0, "blue": -1.0}).to_numpy()
    y = 3 * x1 - 2 * x2 + effect + rng.normal(scale=0.1, size=n)
    return pd.DataFrame(
        {"row_id": np.arange(n), "x1": x1.round(4), "x2": x2.round(4), "color": color, "y": y.round(4)}
    )


def classification_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """A small synthetic classification table with a 0/1 label."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    shade = rng.choice(["light", "dark"], size=n)
    score = x1 + 0.5 * x2 + (shade == "dark") + rng.normal(scale=0.5, size=n)
    return pd.DataFrame(
        {"x1": x1.round(4), "x2": x2.round(4), "shade": shade, "label": (score > 0.5).astype(int)}
    )


@contextmanager
def isolated(folder: Path | None = None, *, chdir: bool = False) -> Iterator[pytest.MonkeyPatch]:
    """No SHIPYARD_* settings of the developer; optionally work from ``folder``."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("SHIPYARD_"):
                mp.delenv(name, raising=False)
        mp.setenv("SHIPYARD_USER", "tester")
        if folder is not None:
            mp.syspath_prepend(str(folder))
            if chdir:
                mp.chdir(folder)
        yield mp


def new_project(folder: Path) -> Client:
    """A client on a new project (``.shipyard/``) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return Client(folder, create=True)


def statuses(result: object) -> dict[str, str]:
    """Step name -> status of a RunResult."""
    return {name: step.status for name, step in result.steps.items()}  # type: ignore[attr-defined]


def cli(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run ``python -m shipyard ARGS`` in a subprocess, as a user would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update({"SHIPYARD_USER": "tester", "COLUMNS": "200", "NO_COLOR": "1"})
    # One OpenMP/BLAS thread: on a busy 2-core machine, spinning worker threads
    # make small boosting fits many times slower. Results do not change.
    env.update({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    return subprocess.run(
        [sys.executable, "-m", "shipyard", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _headlines() -> set[str]:
    found: set[str] = set()
    pending: list[type[errors.ShipyardError]] = [errors.ShipyardError]
    while pending:
        cls = pending.pop()
        found.add(cls.headline)
        pending.extend(cls.__subclasses__())
    return found


def assert_user_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit code 2, exactly one error headline on stderr, no traceback; returns stderr unwrapped."""
    import importlib

    # Import the modules defining error classes so their headlines are known.
    for module in (
        "shipyard.config.yamlio", "shipyard.data.sources", "shipyard.ml.steps", "shipyard.ml.train",
        "shipyard.ml.preprocess", "shipyard.bundle.bundle",
    ):
        importlib.import_module(module)
    out, err = result.stdout, result.stderr
    assert result.returncode == 2, f"exit {result.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    assert TRACEBACK not in out + err, out + err
    headlines = _headlines()
    lines = [ln for ln in err.splitlines() if any(ln.startswith(f"{h}:") for h in headlines)]
    assert len(lines) == 1, f"expected one error message, got:\n{err}"
    flat = " ".join(err.split())
    for needle in needles:
        assert " ".join(needle.split()) in flat, f"{needle!r} not in:\n{err}"
    return flat
