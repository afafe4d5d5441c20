"""``shipyard.data.statistics`` provides per-column statistics, streaming and mergeable.

For every column: count, nulls, distinct values (exact up to 1,000, then a
HyperLogLog estimate: 1.6% standard error); by type:

* numeric — mean, std, min, max, zeros, quantiles (within 1% relative error)
  and a histogram;
* categorical and text — the most frequent values with their counts (exact up
  to 10,000 distinct values) and string lengths;
* datetime — min, max and a histogram by day;
* boolean — the share of true values.

Statistics are computed batch by batch from pyarrow record batches (a Parquet
file larger than memory is read in batches), and
each batch's statistics merge into the total: :meth:`Statistics.merge` is
exact for counts, sums, min/max and top values, and the sketches keep their
error bounds. They are stored as JSON.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.data.sketches import (
    ALPHA,
    DistinctSketch,
    GridSketch,
    QuantileSketch,
    TopValues,
    hash_values,
)
from shipyard.data.sources import DataError

if TYPE_CHECKING:
    import pyarrow as pa

STATS_FORMAT = 1
BATCH_ROWS = 250_000
HISTOGRAM_BINS = 20
_SECONDS_PER_DAY = 86_400


class StatisticsMismatch(DataError):
    """Statistics of one column with values of different types, which cannot be merged."""

    headline = "Statistics do not match"


@dataclass
class ColumnStatistics:
    """Mergeable statistics of one column."""

    name: str
    type: str
    dtype: str
    count: int = 0
    nulls: int = 0
    distinct: DistinctSketch = field(default_factory=DistinctSketch)
    minimum: float | None = None
    maximum: float | None = None
    mean: float = 0.0
    m2: float = 0.0
    zeros: int = 0
    infinite: int = 0
    sketch: QuantileSketch | None = None
    grid: GridSketch | None = None
    top: TopValues | None = None
    length_min: int | None = None
    length_max: int | None = None
    length_total: int = 0
    trues: int = 0
    days: dict[int, int] = field(default_factory=dict)

    # -- merging -------------------------------------------------------------

    def merge(self, other: ColumnStatistics) -> ColumnStatistics:
        """Statistics of the rows of both (same column, same type).

        A side without any value (a part where the column is empty, whatever
        type it was read as) adds only its nulls. Categorical and text merge
        as the first side's type.

        Raises:
            StatisticsMismatch: when both sides hold values of different types.
        """
        if self.type != other.type and not {self.type, other.type} <= {"categorical", "text"}:
            if other.count == 0:
                return replace(self, nulls=self.nulls + other.nulls)
            if self.count == 0:
                return replace(other, nulls=self.nulls + other.nulls)
            raise StatisticsMismatch(
                f"Column {self.name!r} holds {self.type} values ({self.dtype}) in one part and "
                f"{other.type} values ({other.dtype}) in another; statistics of different types "
                "do not merge.",
                hint="Read every part with the same column types (settled over all the parts, "
                "or a schema's types).",
            )
        n1, n2 = self.finite_count, other.finite_count
        total = n1 + n2
        delta = other.mean - self.mean
        mean = self.mean + delta * n2 / total if total else 0.0
        m2 = self.m2 + other.m2 + delta * delta * n1 * n2 / total if total else 0.0
        return replace(
            self,
            dtype=_merged_dtype(self.dtype, other.dtype),
            count=self.count + other.count,
            nulls=self.nulls + other.nulls,
            distinct=self.distinct.merge(other.distinct),
            minimum=_pick(min, self.minimum, other.minimum),
            maximum=_pick(max, self.maximum, other.maximum),
            mean=mean,
            m2=m2,
            zeros=self.zeros + other.zeros,
            infinite=self.infinite + other.infinite,
            sketch=_merge_optional(self.sketch, other.sketch),
            grid=_merge_optional(self.grid, other.grid),
            top=_merge_optional(self.top, other.top),
            length_min=_pick(min, self.length_min, other.length_min),
            length_max=_pick(max, self.length_max, other.length_max),
            length_total=self.length_total + other.length_total,
            trues=self.trues + other.trues,
            days={k: self.days.get(k, 0) + other.days.get(k, 0) for k in self.days.keys() | other.days.keys()},
        )

    # -- derived values -------------------------------------------------------

    @property
    def rows(self) -> int:
        """Rows seen (values and nulls)."""
        return self.count + self.nulls

    @property
    def finite_count(self) -> int:
        """Numeric values that are finite (what mean and std are of)."""
        return self.count - self.infinite

    @property
    def null_fraction(self) -> float:
        """Share of rows without a value."""
        return self.nulls / self.rows if self.rows else 0.0

    @property
    def std(self) -> float | None:
        """Sample standard deviation of the finite values."""
        n = self.finite_count
        return math.sqrt(self.m2 / (n - 1)) if n > 1 else None

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """The numeric distribution as weighted points (ascending values, counts).

        From whichever sketch resolves these values into more buckets: the
        relative one for values spread over orders of magnitude, the grid for a
        small spread far from zero.
        """
        candidates = [s.points() for s in (self.sketch, self.grid) if s is not None]
        if not candidates:
            return np.empty(0), np.empty(0)
        return max(candidates, key=lambda pc: pc[0].size)

    def quantiles(self, qs: Sequence[float] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)) -> dict[str, float | None]:
        """Quantiles of a numeric column, keyed ``"p25"``, ``"p50"``...

        Each comes from whichever sketch bounds its error tighter there: the
        relative one near zero, the grid far from zero.
        """
        if self.type != "numeric" or self.sketch is None or self.sketch.count == 0:
            return {}
        grid_width = 2.0**self.grid.exponent if self.grid is not None and self.grid.exponent is not None else None
        out: dict[str, float | None] = {}
        for q in qs:
            value = _quantile(*self.sketch.points(), q)
            if grid_width is not None and ALPHA * abs(value) > grid_width / 2:
                value = _quantile(*self.grid.points(), q)  # type: ignore[union-attr]
            # Keep within the seen range; whole numbers stay whole.
            out[f"p{round(q * 100):g}"] = _snap(min(max(value, self.minimum), self.maximum), self.dtype)  # type: ignore[type-var]
        return out

    def histogram(self, bins: int = HISTOGRAM_BINS, lo: float | None = None, hi: float | None = None) -> dict[str, list[float]]:
        """Counts in ``bins`` equal-width bins (numeric: values; datetime: days)."""
        if self.type == "datetime":
            points = np.asarray(sorted(self.days), dtype=float) * _SECONDS_PER_DAY
            counts = np.asarray([self.days[int(d / _SECONDS_PER_DAY)] for d in points], dtype=float)
        elif self.sketch is not None:
            points, counts = self.points()
        else:
            return {"edges": [], "counts": []}
        if counts.size == 0:
            return {"edges": [], "counts": []}
        lo = float(points.min()) if lo is None else lo
        hi = float(points.max()) if hi is None else hi
        if hi <= lo:
            hi = lo + 1.0
        edges = np.linspace(lo, hi, bins + 1)
        which = np.clip(np.searchsorted(edges, points, side="right") - 1, 0, bins - 1)
        return {"edges": edges.tolist(), "counts": np.bincount(which, weights=counts, minlength=bins).tolist()}

    def summary(self, top: int = 5) -> dict[str, Any]:
        """The values a person looks at, by type (JSON-ready)."""
        out: dict[str, Any] = {
            "type": self.type,
            "count": self.count,
            "nulls": self.nulls,
            "null_fraction": round(self.null_fraction, 6),
            "distinct": self.distinct.estimate(),
            "distinct_exact": self.distinct.is_exact,
        }
        if self.type == "numeric":
            out |= {
                "mean": self.mean if self.finite_count else None,
                "std": self.std,
                "min": self.minimum,
                "max": self.maximum,
                "zeros": self.zeros,
                **self.quantiles((0.25, 0.5, 0.75)),
            }
        elif self.type in ("categorical", "text") and self.top is not None:
            out["top"] = [[value, count] for value, count in self.top.most_common(top)]
            if self.count:
                out["length"] = {
                    "min": self.length_min,
                    "mean": self.length_total / self.count,
                    "max": self.length_max,
                }
        elif self.type == "boolean":
            out["true_ratio"] = self.trues / self.count if self.count else None
        elif self.type == "datetime" and self.minimum is not None:
            out["min"] = _iso(self.minimum)
            out["max"] = _iso(self.maximum)
        return out

    # -- JSON -------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "type": self.type,
            "dtype": self.dtype,
            "count": self.count,
            "nulls": self.nulls,
            "distinct": self.distinct.to_json(),
            "min": self.minimum,
            "max": self.maximum,
            "mean": self.mean,
            "m2": self.m2,
            "zeros": self.zeros,
            "infinite": self.infinite,
            "sketch": self.sketch.to_json() if self.sketch is not None else None,
            "grid": self.grid.to_json() if self.grid is not None else None,
            "top": self.top.to_json() if self.top is not None else None,
            "length": [self.length_min, self.length_max, self.length_total],
            "trues": self.trues,
            "days": {str(k): v for k, v in self.days.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ColumnStatistics:
        """Read the JSON form."""
        length = data.get("length") or [None, None, 0]
        return cls(
            name=data["name"],
            type=data["type"],
            dtype=data.get("dtype", ""),
            count=int(data["count"]),
            nulls=int(data["nulls"]),
            distinct=DistinctSketch.from_json(data["distinct"]),
            minimum=data.get("min"),
            maximum=data.get("max"),
            mean=float(data.get("mean", 0.0)),
            m2=float(data.get("m2", 0.0)),
            zeros=int(data.get("zeros", 0)),
            infinite=int(data.get("infinite", 0)),
            sketch=QuantileSketch.from_json(data["sketch"]) if data.get("sketch") else None,
            grid=GridSketch.from_json(data["grid"]) if data.get("grid") else None,
            top=TopValues.from_json(data["top"]) if data.get("top") else None,
            length_min=length[0],
            length_max=length[1],
            length_total=int(length[2] or 0),
            trues=int(data.get("trues", 0)),
            days={int(k): int(v) for k, v in (data.get("days") or {}).items()},
        )


def _quantile(values: np.ndarray, counts: np.ndarray, q: float) -> float:
    cumulative = np.cumsum(counts)
    return float(values[int(np.searchsorted(cumulative, q * (cumulative[-1] - 1), side="right"))])


def _snap(value: float, dtype: str) -> float:
    return float(round(value)) if dtype.startswith(("int", "uint")) else value


def _merged_dtype(a: str, b: str) -> str:
    """The arrow type to report for two parts: a part of nulls only takes the other's; int and float: float."""
    if a == b or b in ("", "null"):
        return a
    if a in ("", "null"):
        return b
    if a.startswith(("int", "uint")) and not b.startswith(("int", "uint")):
        return b
    return a


def _pick(func: Any, a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return func(a, b)


def _merge_optional(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return a.merge(b)


def _iso(seconds: float | None) -> str | None:
    import datetime as dt

    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Statistics:
    """Statistics of a table: its row count and each column's statistics."""

    rows: int = 0
    columns: dict[str, ColumnStatistics] = field(default_factory=dict)

    def merge(self, other: Statistics) -> Statistics:
        """Statistics of both tables' rows (columns matched by name)."""
        columns = dict(self.columns)
        for name, stats in other.columns.items():
            columns[name] = columns[name].merge(stats) if name in columns else stats
        return Statistics(self.rows + other.rows, columns)

    def __getitem__(self, column: str) -> ColumnStatistics:
        return self.columns[column]

    def summary(self) -> dict[str, Any]:
        """Rows and each column's summary."""
        return {"rows": self.rows, "columns": {n: c.summary() for n, c in self.columns.items()}}

    def to_json(self) -> dict[str, Any]:
        """JSON form (what the statistics artifact stores)."""
        return {
            "format": STATS_FORMAT,
            "rows": self.rows,
            "columns": {name: c.to_json() for name, c in self.columns.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Statistics:
        """Read the JSON form."""
        return cls(
            int(data["rows"]),
            {name: ColumnStatistics.from_json(c) for name, c in data["columns"].items()},
        )


# -- computing ---------------------------------------------------------------------------


def arrow_type(arrow: pa.DataType) -> str:
    """The feature type a column of this arrow type gets when none is declared."""
    import pyarrow as pa

    if pa.types.is_boolean(arrow):
        return "boolean"
    if pa.types.is_integer(arrow) or pa.types.is_floating(arrow) or pa.types.is_decimal(arrow):
        return "numeric"
    if pa.types.is_timestamp(arrow) or pa.types.is_date(arrow):
        return "datetime"
    return "categorical"


def _numeric(column: ColumnStatistics, array: pa.Array) -> ColumnStatistics:
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pc.cast(array, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
    finite_mask = np.isfinite(values)
    if finite_mask.all():
        present = finite = values
    else:
        present = values[~np.isnan(values)]
        finite = values[finite_mask]
    column.count = int(present.size)
    column.nulls = int(len(array) - present.size)
    column.infinite = int(present.size - finite.size)
    if finite.size:
        column.minimum = float(finite.min())
        column.maximum = float(finite.max())
        column.mean = float(finite.mean())
        column.m2 = float(((finite - column.mean) ** 2).sum())
        column.zeros = int((finite == 0).sum())
    column.sketch = QuantileSketch.of(finite)
    column.grid = GridSketch.of(finite)
    column.distinct = DistinctSketch.of(hash_values(present))
    return column


def _strings(column: ColumnStatistics, array: pa.Array) -> ColumnStatistics:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = pc.cast(array, pa.string())
    counts = pc.value_counts(array)
    values = counts.field("values").to_pylist()
    numbers = counts.field("counts").to_pylist()
    exact = {str(v): int(n) for v, n in zip(values, numbers, strict=True) if v is not None}
    column.count = int(len(array) - array.null_count)
    column.nulls = int(array.null_count)
    column.top = TopValues.of(exact)
    column.distinct = DistinctSketch.of(hash_values(np.asarray(list(exact), dtype=object)))
    lengths = pc.utf8_length(array)
    if column.count:
        column.length_min = int(pc.min(lengths).as_py())
        column.length_max = int(pc.max(lengths).as_py())
        column.length_total = int(pc.sum(lengths).as_py())
    return column




def _boolean(column: ColumnStatistics, array: pa.Array) -> ColumnStatistics:
    import pyarrow as pa
    import pyarrow.compute as pc

    from shipyard.data.sources import TRUE_WORDS

    column.count = int(len(array) - array.null_count)
    column.nulls = int(array.null_count)
    if pa.types.is_boolean(array.type):
        column.trues = int(pc.sum(pc.cast(array, pa.int64())).as_py() or 0)
    else:
        texts = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(array, pa.string())))
        column.trues = int(pc.sum(pc.cast(pc.is_in(texts, pa.array(sorted(TRUE_WORDS))), pa.int64())).as_py() or 0)
    falses = column.count - column.trues
    column.top = TopValues.of({k: v for k, v in (("true", column.trues), ("false", falses)) if v})
    column.distinct = DistinctSketch.of(hash_values(np.asarray([k for k in column.top.counts], dtype=object)))
    return column


def _datetime(column: ColumnStatistics, array: pa.Array) -> ColumnStatistics:
    import pandas as pd
    import pyarrow as pa

    from shipyard.data.sources import to_datetime

    series = to_datetime(pd.Series(array.to_pandas() if not pa.types.is_null(array.type) else []))
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    present = series.dropna()
    seconds = present.astype("datetime64[s]").astype("int64").to_numpy(dtype=float)
    column.count = int(seconds.size)
    column.nulls = int(len(array) - seconds.size)
    if seconds.size:
        column.minimum = float(seconds.min())
        column.maximum = float(seconds.max())
        days = np.floor(seconds / _SECONDS_PER_DAY).astype(np.int64)
        low = int(days.min())
        counts = np.bincount(days - low)
        column.days = {int(i + low): int(counts[i]) for i in np.flatnonzero(counts)}
    column.distinct = DistinctSketch.of(hash_values(seconds))
    return column


_BUILDERS = {
    "numeric": _numeric,
    "categorical": _strings,
    "text": _strings,
    "boolean": _boolean,
    "datetime": _datetime,
}


def column_statistics(name: str, array: pa.Array, kind: str | None = None) -> ColumnStatistics:
    """Statistics of one column's values.

    Args:
        name: the column's name.
        array: its values (pyarrow array or chunked array).
        kind: its feature type; inferred from the arrow type when None.
    """
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    kind = kind or arrow_type(array.type)
    column = ColumnStatistics(name=name, type=kind, dtype=str(array.type))
    try:
        return _BUILDERS[kind](column, array)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, TypeError):
        # Values that do not fit the declared type: count them as categories.
        return _strings(ColumnStatistics(name=name, type="categorical", dtype=str(array.type)), array)


def _batch_statistics(batch: pa.RecordBatch | pa.Table, types: Mapping[str, str]) -> Statistics:
    columns = [column_statistics(n, batch.column(n), types.get(n)) for n in batch.schema.names]
    return Statistics(batch.num_rows, {c.name: c for c in columns})


def batches(
    source: Any, *, batch_rows: int = BATCH_ROWS, schema: pa.Schema | None = None
) -> Iterator[pa.RecordBatch | pa.Table]:
    """Record batches of a DataFrame, arrow Table, file path or URL, or a list of them.

    Files are read with ``schema``'s column types when it is given (see
    :func:`shipyard.data.arrowtypes.file_batches`), else with their own.
    """
    import pyarrow as pa

    if isinstance(source, pa.Table):
        yield from source.to_batches(max_chunksize=batch_rows)
        return
    if hasattr(source, "to_parquet") and hasattr(source, "columns"):  # a pandas DataFrame
        for start in range(0, max(len(source), 1), batch_rows):
            yield pa.Table.from_pandas(source.iloc[start : start + batch_rows], preserve_index=False)
        return
    from shipyard.data.arrowtypes import file_batches

    for path in _paths(source):
        # Empty CSV cells are missing values, as pandas reads them elsewhere.
        yield from file_batches(path, batch_rows, schema)


def _paths(source: Any) -> list[Any] | None:
    """The file paths of a source (None for a DataFrame or a Table)."""
    if isinstance(source, (str, Path)):
        return [source]
    if hasattr(source, "columns") or hasattr(source, "schema"):
        return None
    return list(source)


def compute_statistics(
    source: Any,
    *,
    types: Mapping[str, str] | None = None,
    columns: Iterable[str] | None = None,
    batch_rows: int = BATCH_ROWS,
    schema: pa.Schema | None = None,
) -> Statistics:
    """Statistics of a table, computed batch by batch and merged.

    Args:
        source: a pandas DataFrame, a pyarrow Table, or the path(s) of CSV,
            Parquet or JSON-lines files (read in batches: larger than memory is fine).
        types: feature types by column; the others follow their arrow type.
        columns: only these columns (default: all).
        batch_rows: rows per batch.
        schema: the arrow types to read files with (default: settled over all
            the files when there are several, see :mod:`shipyard.data.arrowtypes`;
            one file's own types).

    Raises:
        DataError: when a file cannot be read.
        StatisticsMismatch: when the parts of a column hold values of different types.
    """
    import pyarrow as pa

    from shipyard.data.arrowtypes import settled_schema

    wanted = list(columns) if columns is not None else None
    paths = _paths(source)
    if schema is None and paths is not None and len(paths) > 1:
        # Several files: one type per column for all of them, or their
        # statistics would not be of the same type and would not merge.
        schema = settled_schema(paths)

    def compute(schema: pa.Schema | None) -> Statistics:
        total = Statistics()
        for batch in batches(paths if paths is not None else source, batch_rows=batch_rows, schema=schema):
            part = batch.select(wanted) if wanted is not None else batch
            total = total.merge(_batch_statistics(part, types or {}))
        return total

    if schema is not None or paths is None:
        return compute(schema)
    try:
        return compute(None)
    except pa.ArrowInvalid as exc:
        if "conversion error" not in str(exc):
            raise
        # A CSV value later in the file does not fit the types pyarrow
        # inferred from its first block: settle them over all rows.
        return compute(settled_schema(paths))


def merge_statistics(parts: Iterable[Statistics]) -> Statistics:
    """The statistics of several tables' rows, merged in the order given.

    Parts computed separately (files, partitions, batches from a stream) combine
    into the statistics of all their rows: exact for counts, sums, min/max and
    top values, within the sketches' error bounds for quantiles and distinct
    counts.
    """
    total = Statistics()
    for part in parts:
        total = total.merge(part)
    return total


def schema_types(schema: pa.Schema) -> dict[str, str]:
    """The feature type of each column of an arrow schema (see :func:`arrow_type`)."""
    return {field.name: arrow_type(field.type) for field in schema}


__all__ = [
    "ColumnStatistics",
    "Statistics",
    "StatisticsMismatch",
    "arrow_type",
    "batches",
    "column_statistics",
    "compute_statistics",
    "merge_statistics",
    "schema_types",
]
