"""``shipyard.data.validation`` provides checking data against a schema.

Checks run on statistics, so they work on data of any size (and on batches
merged over time): missing and extra columns, type mismatches, values out of
range, unseen categories and too many missing values. Each anomaly has a
column, a kind, a severity (from the schema) and a sentence for people.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from shipyard.data.schema import ColumnSchema, Schema
from shipyard.data.statistics import ColumnStatistics, Statistics
from shipyard.errors import ShipyardError


class ValidationFailed(ShipyardError):
    """Data has anomalies of severity error."""

    headline = "Data validation failed"


@dataclass(frozen=True)
class Anomaly:
    """One way the data departs from its schema."""

    column: str | None
    kind: str
    severity: str
    message: str
    split: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


@dataclass(frozen=True)
class ValidationResult:
    """The anomalies found in one or more tables."""

    anomalies: tuple[Anomaly, ...] = ()

    @property
    def errors(self) -> list[Anomaly]:
        """Anomalies of severity error."""
        return [a for a in self.anomalies if a.severity == "error"]

    @property
    def warnings(self) -> list[Anomaly]:
        """Anomalies of severity warning."""
        return [a for a in self.anomalies if a.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there is no error."""
        return not self.errors

    def merge(self, other: ValidationResult) -> ValidationResult:
        """Both results' anomalies."""
        return ValidationResult(self.anomalies + other.anomalies)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "anomalies": [a.to_json() for a in self.anomalies],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ValidationResult:
        """Read the JSON form."""
        return cls(tuple(Anomaly(**a) for a in data.get("anomalies", [])))

    def raise_for_errors(self, where: str = "the data") -> None:
        """Raise :class:`ValidationFailed` listing the errors, if any."""
        if self.errors:
            lines = "\n".join(f"- {_label(a)}{a.message}" for a in self.errors)
            raise ValidationFailed(f"{len(self.errors)} error(s) in {where}:\n{lines}")


def _label(anomaly: Anomaly) -> str:
    return f"[{anomaly.split}] " if anomaly.split else ""


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    stamp = dt.datetime.fromisoformat(str(value))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.timestamp()


def _mass_outside(stats: ColumnStatistics, low: float | None, high: float | None) -> tuple[int, int]:
    """How many values lie below ``low`` and above ``high`` (at least one when the
    exact minimum or maximum does; buckets straddling a bound do not count)."""
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    if stats.type == "datetime":
        days = np.asarray(sorted(stats.days), dtype=float)
        counts = np.asarray([stats.days[int(d)] for d in days], dtype=float)
        parts.append((days * 86_400.0, (days + 1) * 86_400.0, counts))
    else:
        parts += [s.intervals() for s in (stats.sketch, stats.grid) if s is not None]
    below = above = 0
    for lows, highs, counts in parts:
        if low is not None:
            below = max(below, int(counts[highs < low].sum()))
        if high is not None:
            above = max(above, int(counts[lows > high].sum()))
    if low is not None and stats.minimum is not None and stats.minimum < low:
        below = max(below, 1)
    if high is not None and stats.maximum is not None and stats.maximum > high:
        above = max(above, 1)
    return below, above


def _share(part: int, whole: int) -> str:
    return f"{part} ({part / whole:.1%})" if whole else str(part)


def _check_column(name: str, expected: ColumnSchema, stats: ColumnStatistics, schema: Schema) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    compatible = stats.type == expected.type or {stats.type, expected.type} <= {"categorical", "text"}
    if not compatible:
        problems.append(
            ("type_mismatch", f"column {name!r} should be {expected.type} but holds {stats.type} values ({stats.dtype})")
        )
        return problems
    if stats.null_fraction > expected.max_null_fraction + 1e-12:
        problems.append(
            (
                "null_fraction",
                f"column {name!r}: {stats.null_fraction:.1%} of rows are empty; at most "
                f"{expected.max_null_fraction:.1%} allowed",
            )
        )
    if expected.type in ("numeric", "datetime") and (expected.min is not None or expected.max is not None):
        low, high = _seconds(expected.min) if expected.type == "datetime" else expected.min, (
            _seconds(expected.max) if expected.type == "datetime" else expected.max
        )
        below, above = _mass_outside(stats, low, high)  # type: ignore[arg-type]
        shown_min = _shown(stats.minimum, expected.type)
        shown_max = _shown(stats.maximum, expected.type)
        if below:
            problems.append(
                ("out_of_range", f"column {name!r}: {_share(below, stats.count)} values below the minimum {expected.min} (lowest {shown_min})")
            )
        if above:
            problems.append(
                ("out_of_range", f"column {name!r}: {_share(above, stats.count)} values above the maximum {expected.max} (highest {shown_max})")
            )
    if expected.categories is not None and stats.top is not None and stats.count:
        allowed = set(expected.categories)
        unseen = {v: c for v, c in stats.top.counts.items() if v not in allowed}
        unseen_count = sum(unseen.values()) + stats.top.dropped
        fraction = unseen_count / stats.count
        if unseen_count and fraction > expected.max_unseen_fraction:
            examples = ", ".join(repr(v) for v, _ in sorted(unseen.items(), key=lambda kv: -kv[1])[:3])
            problems.append(
                (
                    "unseen_categories",
                    f"column {name!r}: {_share(unseen_count, stats.count)} values are not among "
                    f"the {len(allowed)} known categories (e.g. {examples})",
                )
            )
    return problems


def _shown(value: float | None, kind: str) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return dt.datetime.fromtimestamp(value, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{value:g}"


def validate_statistics(stats: Statistics, schema: Schema, *, split: str | None = None) -> ValidationResult:
    """Anomalies of a table (given by its statistics) against a schema.

    Args:
        stats: statistics of the table, computed with the schema's types.
        schema: the schema.
        split: a label for the anomalies (``"test"``, ``"batch 3"``...).
    """
    found: list[tuple[str | None, str, str]] = []
    for name, expected in schema.columns.items():
        column = stats.columns.get(name)
        if column is None:
            if expected.required and name != schema.label:
                found.append((name, "missing_column", f"column {name!r} is missing"))
            continue
        found += [(name, kind, text) for kind, text in _check_column(name, expected, column, schema)]
    for name in stats.columns:
        if name not in schema.columns and name != schema.label:
            found.append((name, "extra_column", f"column {name!r} is not in the schema"))
    anomalies = tuple(
        Anomaly(column, kind, schema.severity_of(kind), message, split)
        for column, kind, message in found
        if schema.severity_of(kind) != "ignore"
    )
    return ValidationResult(anomalies)


def schema_types(schema: Schema) -> dict[str, str]:
    """The column types to compute statistics with, for validation against ``schema``."""
    return {name: column.type for name, column in schema.columns.items()}


__all__ = ["Anomaly", "ValidationFailed", "ValidationResult", "schema_types", "validate_statistics"]
