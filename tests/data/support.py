"""Helpers of the data tests: real projects, real files, seeded data, order statistics.

Nothing here is mocked: projects are real folders with a SQLite metadata store
and an artifact folder, data files are written with pandas/pyarrow, and the
reference answers come from NumPy and SciPy on the raw values.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard.client import Client
from shipyard.data.statistics import ColumnStatistics, Statistics

REPO = Path(__file__).resolve().parents[2]
TAXI_CSV = REPO / "examples" / "taxi" / "data" / "chicago_taxi_trips.csv"
TAXI_NEW = REPO / "examples" / "taxi" / "new_trips.csv"
TRACEBACK = "Traceback (most recent call last)"
#: A fast estimator for the YAML pipelines of these tests.
FAST_MODEL = "sklearn.linear_model.LogisticRegression"


@contextmanager
def isolated() -> Iterator[pytest.MonkeyPatch]:
    """No SHIPYARD_* settings of the developer while a module fixture builds a project."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("SHIPYARD_"):
                mp.delenv(name, raising=False)
        mp.setenv("SHIPYARD_USER", "tester")
        yield mp


def new_client(folder: Path) -> Client:
    """A client on a new project in ``folder`` (SQLite + artifact folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    Client(folder, create=True).close()
    return Client(folder)


def toy_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A small classification table: two numbers, a colour, a 0/1 label."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n).round(4)
    x2 = rng.uniform(0, 5, size=n).round(3)
    color = rng.choice(["red", "green", "blue"], size=n)
    score = x1 + (color == "red") - 0.2 * x2 + rng.normal(scale=0.3, size=n)
    return pd.DataFrame({"x1": x1, "x2": x2, "color": color, "label": (score > 0).astype(int)})


def pipeline_yaml(data: str, *, name: str = "toy", extra: str = "") -> str:
    """The text of a minimal YAML pipeline on ``data`` (a line of YAML for ``data:``)."""
    return (
        f"name: {name}\n"
        f"data: {data}\n"
        "label: label\n"
        f"train: {{model: {FAST_MODEL}}}\n"
        f"{extra}"
    )


def order_stat_error(values: np.ndarray, q: float, estimate: float) -> float:
    """Relative error of ``estimate`` against the order statistic(s) at rank q*(n-1)."""
    ordered = np.sort(values)
    rank = q * (ordered.size - 1)
    candidates = ordered[[int(np.floor(rank)), int(np.ceil(rank))]]
    return float(np.min(np.abs(estimate - candidates) / np.maximum(np.abs(candidates), 1e-300)))


def order_stat_gap(values: np.ndarray, q: float, estimate: float) -> float:
    """Absolute distance of ``estimate`` from the order statistic(s) at rank q*(n-1)."""
    ordered = np.sort(values)
    rank = q * (ordered.size - 1)
    candidates = ordered[[int(np.floor(rank)), int(np.ceil(rank))]]
    return float(np.min(np.abs(estimate - candidates)))


EXACT_FIELDS = (
    "type", "count", "nulls", "minimum", "maximum", "zeros", "infinite", "length_min",
    "length_max", "length_total", "trues", "days",
)


def assert_same_exact_parts(a: ColumnStatistics, b: ColumnStatistics) -> None:
    """Counts, min/max, lengths, trues, days, top values and sketch buckets are equal."""
    for name in EXACT_FIELDS:
        assert getattr(a, name) == getattr(b, name), (a.name, name)
    assert (a.top.counts if a.top else None) == (b.top.counts if b.top else None), a.name
    if a.top is not None and b.top is not None:
        assert (a.top.dropped, a.top.max_error) == (b.top.dropped, b.top.max_error)
    if a.sketch is not None or b.sketch is not None:
        assert a.sketch is not None and b.sketch is not None
        assert a.sketch.positive == b.sketch.positive, a.name
        assert a.sketch.negative == b.sketch.negative, a.name
        assert a.sketch.zeros == b.sketch.zeros, a.name
    assert np.array_equal(a.distinct.registers, b.distinct.registers), a.name
    assert a.distinct.estimate() == b.distinct.estimate(), a.name
    # Mean and sum of squares: the same up to floating-point rounding.
    assert a.mean == pytest.approx(b.mean, rel=1e-9, abs=1e-9), a.name
    assert a.m2 == pytest.approx(b.m2, rel=1e-9, abs=1e-6), a.name


def assert_statistics_match(merged: Statistics, whole: Statistics, raw: pd.DataFrame | None = None) -> None:
    """``merged`` equals ``whole``: exactly where exact, quantiles/distinct within tolerance."""
    assert merged.rows == whole.rows
    assert list(merged.columns) == list(whole.columns)
    for name, column in whole.columns.items():
        other = merged[name]
        assert_same_exact_parts(other, column)
        if column.type == "numeric" and column.count:
            span = (column.maximum - column.minimum) or 1.0
            for key, value in column.quantiles().items():
                got = other.quantiles()[key]
                # Both within the bounds of their sketch: 1% relative or 0.1% of the range.
                assert abs(got - value) <= max(0.02 * abs(value), 0.002 * span), (name, key, got, value)
            if raw is not None:
                values = pd.to_numeric(raw[name], errors="coerce").to_numpy(dtype=float)
                values = values[np.isfinite(values)]
                for key, got in other.quantiles().items():
                    q = int(key[1:]) / 100
                    assert min(order_stat_error(values, q, got), order_stat_gap(values, q, got) / span) <= 0.01
