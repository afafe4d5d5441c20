"""``shipyard.data.sketches`` provides the mergeable summaries statistics are made of.

* :class:`QuantileSketch` — a log-bucketed histogram (the DDSketch idea):
  every value lands in a bucket whose width is 2% of its magnitude, so any
  quantile is known within 1% relative error, the sketch has a few thousand
  buckets at most, and two sketches merge by adding counts.
* :class:`GridSketch` — equal-width bins (up to 4,096 across the values'
  range) for values whose spread is small next to their size, where 2% of the
  magnitude would lump everything together (coordinates, timestamps).
* :class:`DistinctSketch` — HyperLogLog registers (4,096, about 1.6% error)
  plus the exact set of value hashes while there are at most 1,000 of them.
* :class:`TopValues` — exact value counts while there are at most 10,000
  distinct values, then the 1,000 most frequent with an error bound.

All three are built from NumPy/pyarrow arrays in vectorised passes, turn into
JSON and back, and merge: the statistics of parts combine into the statistics
of the whole.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ALPHA = 0.01
GAMMA = (1 + ALPHA) / (1 - ALPHA)
LOG_GAMMA = math.log(GAMMA)
MIN_MAGNITUDE = 1e-12
HLL_P = 12
HLL_M = 1 << HLL_P
EXACT_DISTINCT = 1000
EXACT_TOP = 10_000
KEPT_TOP = 1000


def _bucket_counts(values: np.ndarray) -> dict[int, int]:
    if values.size == 0:
        return {}
    index = np.ceil(np.log(values) / LOG_GAMMA).astype(np.int64)
    low = int(index.min())
    counts = np.bincount(index - low)
    nonzero = np.flatnonzero(counts)
    return {int(i + low): int(counts[i]) for i in nonzero}


def _add(a: Mapping[int, int], b: Mapping[int, int]) -> dict[int, int]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return out


@dataclass
class QuantileSketch:
    """Counts of values in log-spaced buckets, for quantiles within 1% relative error."""

    positive: dict[int, int] = field(default_factory=dict)
    negative: dict[int, int] = field(default_factory=dict)
    zeros: int = 0

    @classmethod
    def of(cls, values: np.ndarray) -> QuantileSketch:
        """A sketch of finite float values."""
        positive = values > MIN_MAGNITUDE
        negative = values < -MIN_MAGNITUDE
        n_pos, n_neg = int(positive.sum()), int(negative.sum())
        return cls(
            positive=_bucket_counts(values if n_pos == values.size else values[positive]),
            negative=_bucket_counts(-values[negative]) if n_neg else {},
            zeros=int(values.size - n_pos - n_neg),
        )

    def merge(self, other: QuantileSketch) -> QuantileSketch:
        """The sketch of both sets of values."""
        return QuantileSketch(
            _add(self.positive, other.positive),
            _add(self.negative, other.negative),
            self.zeros + other.zeros,
        )

    @property
    def count(self) -> int:
        """How many values it holds."""
        return sum(self.positive.values()) + sum(self.negative.values()) + self.zeros

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """Bucket values (ascending) and their counts: the distribution as weighted points."""
        neg = sorted(self.negative.items(), reverse=True)
        pos = sorted(self.positive.items())
        values = [-_value(i) for i, _ in neg] + ([0.0] if self.zeros else []) + [_value(i) for i, _ in pos]
        counts = [c for _, c in neg] + ([self.zeros] if self.zeros else []) + [c for _, c in pos]
        return np.asarray(values, dtype=float), np.asarray(counts, dtype=float)

    def intervals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each bucket's lower and upper edge and its count."""
        neg = sorted(self.negative.items(), reverse=True)
        pos = sorted(self.positive.items())
        lows = [-(GAMMA**i) for i, _ in neg] + ([0.0] if self.zeros else []) + [GAMMA ** (i - 1) for i, _ in pos]
        highs = [-(GAMMA ** (i - 1)) for i, _ in neg] + ([0.0] if self.zeros else []) + [GAMMA**i for i, _ in pos]
        counts = [c for _, c in neg] + ([self.zeros] if self.zeros else []) + [c for _, c in pos]
        return np.asarray(lows, dtype=float), np.asarray(highs, dtype=float), np.asarray(counts, dtype=float)

    def quantiles(self, qs: list[float]) -> list[float | None]:
        """Values at the quantiles ``qs`` (each in [0, 1]); None when empty."""
        values, counts = self.points()
        if counts.sum() == 0:
            return [None for _ in qs]
        cumulative = np.cumsum(counts)
        total = cumulative[-1]
        out: list[float | None] = []
        for q in qs:
            rank = q * (total - 1)
            out.append(float(values[int(np.searchsorted(cumulative, rank, side="right"))]))
        return out

    def to_json(self) -> dict[str, Any]:
        """JSON form (bucket indices as strings)."""
        return {
            "alpha": ALPHA,
            "positive": {str(k): v for k, v in self.positive.items()},
            "negative": {str(k): v for k, v in self.negative.items()},
            "zeros": self.zeros,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QuantileSketch:
        """Read the JSON form."""
        return cls(
            {int(k): int(v) for k, v in data.get("positive", {}).items()},
            {int(k): int(v) for k, v in data.get("negative", {}).items()},
            int(data.get("zeros", 0)),
        )


def _value(index: int) -> float:
    """The representative value of a bucket (the middle of its range, relatively)."""
    return 2.0 * GAMMA**index / (GAMMA + 1)


GRID_BINS = 4096


@dataclass
class GridSketch:
    """Counts in equal-width bins of width ``2**exponent`` on a grid anchored at 0.

    Where the quantile sketch's 1% relative width is too coarse (latitudes,
    timestamps: a small spread far from zero), this one resolves the spread
    into up to 4,096 bins. Two grids merge by coarsening the finer one to the
    wider bins (powers of two divide each other) and adding counts.
    """

    exponent: int | None = None
    counts: dict[int, int] = field(default_factory=dict)

    @classmethod
    def of(cls, values: np.ndarray) -> GridSketch:
        """A grid sketch of finite float values."""
        if values.size == 0:
            return cls()
        low, high = float(values.min()), float(values.max())
        span = high - low
        scale = span / GRID_BINS if span > 0 else max(abs(low), 1.0) * 1e-9
        exponent = math.floor(math.log2(scale))
        return cls(exponent, _grid_counts(values, exponent))._bounded()

    def _coarsened(self, exponent: int) -> dict[int, int]:
        if self.exponent is None or exponent == self.exponent:
            return dict(self.counts)
        factor = 2 ** (exponent - self.exponent)
        out: dict[int, int] = {}
        for index, count in self.counts.items():
            key = index // factor
            out[key] = out.get(key, 0) + count
        return out

    def _bounded(self) -> GridSketch:
        sketch = self
        while sketch.counts and max(sketch.counts) - min(sketch.counts) >= 2 * GRID_BINS:
            assert sketch.exponent is not None
            sketch = GridSketch(sketch.exponent + 1, sketch._coarsened(sketch.exponent + 1))
        return sketch

    def merge(self, other: GridSketch) -> GridSketch:
        """The grid of both sets of values (at the coarser of the two widths)."""
        if self.exponent is None:
            return other
        if other.exponent is None:
            return self
        exponent = max(self.exponent, other.exponent)
        return GridSketch(exponent, _add(self._coarsened(exponent), other._coarsened(exponent)))._bounded()

    def aligned(self, other: GridSketch) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """Both grids' points at the wider of the two bin widths (their centres line up)."""
        if self.exponent is None or other.exponent is None:
            return self.points(), other.points()
        exponent = max(self.exponent, other.exponent)
        return (
            GridSketch(exponent, self._coarsened(exponent)).points(),
            GridSketch(exponent, other._coarsened(exponent)).points(),
        )

    def intervals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each bin's lower and upper edge and its count."""
        if self.exponent is None or not self.counts:
            return np.empty(0), np.empty(0), np.empty(0)
        keys = np.asarray(sorted(self.counts), dtype=float)
        width = 2.0**self.exponent
        return keys * width, (keys + 1) * width, np.asarray([self.counts[int(k)] for k in keys], dtype=float)

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """Bin centres (ascending) and their counts."""
        if self.exponent is None or not self.counts:
            return np.empty(0), np.empty(0)
        keys = sorted(self.counts)
        width = 2.0**self.exponent
        return (np.asarray(keys, dtype=float) + 0.5) * width, np.asarray([self.counts[k] for k in keys], dtype=float)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"exponent": self.exponent, "counts": {str(k): v for k, v in self.counts.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GridSketch:
        """Read the JSON form."""
        return cls(data.get("exponent"), {int(k): int(v) for k, v in data.get("counts", {}).items()})


def _grid_counts(values: np.ndarray, exponent: int) -> dict[int, int]:
    index = np.floor(values / 2.0**exponent).astype(np.int64)
    low = int(index.min())
    counts = np.bincount(index - low)
    return {int(i + low): int(counts[i]) for i in np.flatnonzero(counts)}


def hash_values(values: Any) -> np.ndarray:
    """64-bit hashes of an array's values (the same value always hashes the same)."""
    import pandas as pd

    return pd.util.hash_array(np.asarray(values), categorize=False).astype(np.uint64)


_LOW_BITS = 52  # the bits after the register index that give the rank; exact in a float64


def _registers(hashes: np.ndarray) -> np.ndarray:
    if hashes.size == 0:
        return np.zeros(HLL_M, dtype=np.uint8)
    index = (hashes >> np.uint64(64 - HLL_P)).astype(np.int64)
    low = (hashes & np.uint64((1 << _LOW_BITS) - 1)).astype(np.float64)
    # frexp's exponent is the bit length: the rank is the leading zeros + 1.
    _, bit_length = np.frexp(low)
    rank = (_LOW_BITS + 1 - bit_length).astype(np.int64)
    counts = np.bincount(index * 64 + rank, minlength=HLL_M * 64).reshape(HLL_M, 64) > 0
    highest = 63 - np.argmax(counts[:, ::-1], axis=1)
    return np.where(counts.any(axis=1), highest, 0).astype(np.uint8)


@dataclass
class DistinctSketch:
    """Distinct values: exact up to 1,000 (a set of hashes), then HyperLogLog."""

    registers: np.ndarray = field(default_factory=lambda: np.zeros(HLL_M, dtype=np.uint8))
    exact: set[int] | None = field(default_factory=set)

    @classmethod
    def of(cls, hashes: np.ndarray) -> DistinctSketch:
        """A sketch of the hashed values."""
        registers = _registers(hashes)
        exact: set[int] | None = None
        if _estimate(registers) <= 2 * EXACT_DISTINCT:
            unique = np.unique(hashes)
            exact = set(unique.tolist()) if unique.size <= EXACT_DISTINCT else None
        return cls(registers, exact)

    def merge(self, other: DistinctSketch) -> DistinctSketch:
        """The sketch of both sets of values."""
        exact = None
        if self.exact is not None and other.exact is not None:
            union = self.exact | other.exact
            exact = union if len(union) <= EXACT_DISTINCT else None
        return DistinctSketch(np.maximum(self.registers, other.registers), exact)

    @property
    def is_exact(self) -> bool:
        """True while the count is exact."""
        return self.exact is not None

    def estimate(self) -> int:
        """The number of distinct values (exact when :attr:`is_exact`)."""
        if self.exact is not None:
            return len(self.exact)
        return round(_estimate(self.registers))

    def to_json(self) -> dict[str, Any]:
        """JSON form (registers base64-encoded)."""
        return {
            "registers": base64.b64encode(self.registers.tobytes()).decode(),
            "exact": sorted(self.exact) if self.exact is not None else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DistinctSketch:
        """Read the JSON form."""
        registers = np.frombuffer(base64.b64decode(data["registers"]), dtype=np.uint8).copy()
        exact = data.get("exact")
        return cls(registers, set(exact) if exact is not None else None)


def _estimate(registers: np.ndarray) -> float:
    m = float(HLL_M)
    raw = (0.7213 / (1 + 1.079 / m)) * m * m / float(np.sum(2.0 ** -registers.astype(float)))
    zeros = int((registers == 0).sum())
    if raw <= 2.5 * m and zeros:
        return m * math.log(m / zeros)  # linear counting for small cardinalities
    return raw


@dataclass
class TopValues:
    """Value counts: exact up to 10,000 distinct values, then the 1,000 most frequent.

    ``dropped`` counts the occurrences of values no longer tracked; a tracked
    value's count may be short by at most ``max_error``.
    """

    counts: dict[str, int] = field(default_factory=dict)
    dropped: int = 0
    max_error: int = 0

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> TopValues:
        """Top values from exact counts."""
        return cls(dict(counts))._pruned()

    def _pruned(self) -> TopValues:
        if len(self.counts) <= EXACT_TOP:
            return self
        ordered = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        kept = dict(ordered[:KEPT_TOP])
        gone = ordered[KEPT_TOP:]
        return TopValues(
            kept,
            self.dropped + sum(c for _, c in gone),
            max(self.max_error, gone[0][1] if gone else 0),
        )

    def merge(self, other: TopValues) -> TopValues:
        """The top values of both."""
        return TopValues(
            _add(self.counts, other.counts),  # type: ignore[arg-type]
            self.dropped + other.dropped,
            self.max_error + other.max_error,
        )._pruned()

    @property
    def complete(self) -> bool:
        """True when every value is counted exactly."""
        return self.dropped == 0

    def most_common(self, k: int) -> list[tuple[str, int]]:
        """The ``k`` most frequent values with their counts."""
        return sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"counts": self.counts, "dropped": self.dropped, "max_error": self.max_error}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TopValues:
        """Read the JSON form."""
        return cls(
            {str(k): int(v) for k, v in data.get("counts", {}).items()},
            int(data.get("dropped", 0)),
            int(data.get("max_error", 0)),
        )


__all__ = ["ALPHA", "DistinctSketch", "GridSketch", "QuantileSketch", "TopValues", "hash_values"]
