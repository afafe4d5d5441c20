"""``shipyard.data.schema`` provides ``Schema``: what a table's columns must look like.

A schema is inferred from statistics (usually the training split's) and saved
as an editable ``schema.yaml``: each column's type, whether it is required, the
largest share of missing values allowed, the range of numbers (and dates) and,
for categorical columns with few values, the allowed categories; plus which
column is the label and how severe each kind of anomaly is.

Inferred limits leave room for ordinary variation: the allowed null share is
the share seen plus 5 points (also for columns without gaps), ranges are the
values seen (values outside are a warning by default, not an error).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shipyard.data.statistics import Statistics

Severity = Literal["error", "warning", "ignore"]
ANOMALY_KINDS = (
    "missing_column",
    "extra_column",
    "type_mismatch",
    "out_of_range",
    "unseen_categories",
    "null_fraction",
)
DEFAULT_SEVERITY: dict[str, str] = {
    "missing_column": "error",
    "extra_column": "warning",
    "type_mismatch": "error",
    "out_of_range": "warning",
    "unseen_categories": "warning",
    "null_fraction": "error",
}
MAX_DOMAIN = 50
NULL_MARGIN = 0.05


class ColumnSchema(BaseModel):
    """What one column must look like."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["numeric", "categorical", "text", "datetime", "boolean"]
    required: bool = True
    max_null_fraction: float = Field(0.0, ge=0, le=1)
    min: float | str | None = None
    max: float | str | None = None
    categories: list[str] | None = None
    max_unseen_fraction: float = Field(0.0, ge=0, le=1)


class Schema(BaseModel):
    """A table's schema: its columns, its label and the severity of each anomaly kind."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, ColumnSchema]
    label: str | None = None
    severity: dict[
        Literal[
            "missing_column", "extra_column", "type_mismatch", "out_of_range",
            "unseen_categories", "null_fraction",
        ],
        Severity,
    ] = Field(default_factory=dict)

    def severity_of(self, kind: str) -> str:
        """The severity of an anomaly kind (the schema's, else the default)."""
        return self.severity.get(kind, DEFAULT_SEVERITY[kind])  # type: ignore[call-overload]


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def infer_schema(stats: Statistics, *, label: str | None = None, max_domain: int = MAX_DOMAIN) -> Schema:
    """A schema matching ``stats``, with margins for ordinary variation.

    Args:
        stats: statistics of the reference data (e.g. the training split).
        label: the label column, if any.
        max_domain: categorical columns with at most this many values get an
            explicit list of allowed categories.
    """
    columns: dict[str, ColumnSchema] = {}
    for name, column in stats.columns.items():
        # A margin even for columns without gaps: a few empty values in new data
        # are ordinary; tighten it in schema.yaml where a gap is an error.
        entry: dict[str, Any] = {
            "type": column.type,
            "max_null_fraction": round(min(1.0, column.null_fraction + NULL_MARGIN), 4),
        }
        if column.type == "numeric" and column.minimum is not None:
            entry["min"], entry["max"] = column.minimum, column.maximum
        elif column.type == "datetime" and column.minimum is not None:
            entry["min"], entry["max"] = _iso(column.minimum), _iso(column.maximum)
        elif (
            column.type in ("categorical", "boolean")
            and column.top is not None
            and column.top.complete
            and len(column.top.counts) <= max_domain
        ):
            entry["categories"] = sorted(column.top.counts)
        columns[name] = ColumnSchema(**entry)
    return Schema(columns=columns, label=label)


def schema_yaml(schema: Schema) -> str:
    """The schema as commented YAML, ready to edit."""
    import yaml

    body = schema.model_dump(exclude_defaults=True, exclude_none=True)
    body.setdefault("severity", {})
    body["severity"] = {**DEFAULT_SEVERITY, **body["severity"]}
    text = yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=100)
    head = (
        "# Schema: what each column must look like. Edit freely; check data with\n"
        "#   shipyard data validate DATA --schema schema.yaml\n"
        "# per column: type, required (true), max_null_fraction (0), min/max,\n"
        "#   categories (allowed values), max_unseen_fraction (0)\n"
        "# severity per anomaly kind: error (fails a pipeline), warning, or ignore\n"
    )
    return head + text


def load_schema(path: str | Path) -> Schema:
    """Read a ``schema.yaml``.

    Raises:
        ConfigError: naming the file and line of every problem.
    """
    from shipyard.config.yamlio import load_yaml, validate

    data, lines = load_yaml(Path(path))
    return validate(Schema, data, lines)


def schema_from_json(data: Mapping[str, Any]) -> Schema:
    """A schema from its JSON form (as stored in artifacts and bundles)."""
    return Schema.model_validate(data)


__all__ = [
    "ANOMALY_KINDS",
    "DEFAULT_SEVERITY",
    "ColumnSchema",
    "Schema",
    "infer_schema",
    "load_schema",
    "schema_from_json",
    "schema_yaml",
]
