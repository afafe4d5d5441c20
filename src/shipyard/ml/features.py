"""``shipyard.ml.features`` provides feature type inference.

Types: ``numeric``, ``categorical``, ``text``, ``datetime``, ``boolean``.
Declared types win; the others are inferred from the training split:

* bool dtype, or exactly the values {0, 1}, or two yes/no-like strings -> boolean
* datetime dtype, or strings that parse as dates (95%+ of a sample) -> datetime
* other numbers -> numeric
* strings averaging more than 30 characters and mostly distinct -> text
* other strings -> categorical
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

_BOOL_WORDS = {"true", "false", "yes", "no", "y", "n", "t", "f"}
_SAMPLE = 1000


def infer_type(series: pd.Series) -> str:
    """The feature type of one column."""
    from pandas.api import types as pt

    if pt.is_bool_dtype(series):
        return "boolean"
    if pt.is_datetime64_any_dtype(series):
        return "datetime"
    values = series.dropna()
    if pt.is_numeric_dtype(series):
        distinct = set(values.unique()[:3].tolist())
        return "boolean" if len(distinct) == 2 and distinct <= {0, 1} else "numeric"
    sample = values.astype(str).head(_SAMPLE)
    if sample.empty:
        return "categorical"
    lowered = set(sample.str.strip().str.lower().unique())
    if len(lowered) <= 2 and lowered <= _BOOL_WORDS:
        return "boolean"
    if sample.str.contains(r"\d").mean() > 0.95 and sample.str.contains(r"[-/:]").mean() > 0.95:
        from shipyard.data.sources import parse_dates

        parsed = parse_dates(sample)
        if parsed.notna().mean() >= 0.95:
            return "datetime"
    lengths = sample.str.len()
    if lengths.mean() > 30 and sample.nunique() > 0.5 * len(sample):
        return "text"
    return "categorical"


def resolve_features(
    frame: pd.DataFrame,
    *,
    label: str,
    select: Sequence[str] | None = None,
    types: Mapping[str, str | None] | None = None,
    drop: Sequence[str] = (),
) -> dict[str, dict[str, object]]:
    """Each feature column with its type and whether it was inferred.

    Args:
        frame: the training rows.
        label: the label column (never a feature).
        select: only these columns are features (``features:`` as a list).
        types: declared types (``features:`` as a mapping); the other columns
            are features too, with inferred types.
        drop: columns that are not features.

    Returns:
        ``{column: {"type": ..., "inferred": bool}}`` in column order.
    """
    declared = dict(types or {})
    dropped = set(drop)
    if select:
        columns = list(select)
    else:
        columns = [c for c in frame.columns if c != label and c not in dropped]
    out: dict[str, dict[str, object]] = {}
    for column in columns:
        given = declared.get(column)
        out[column] = {
            "type": given or infer_type(frame[column]),
            "inferred": given is None,
        }
    return out


def infer_task(label: pd.Series) -> str:
    """``classification`` for bools, strings and integers with few values; else ``regression``."""
    from pandas.api import types as pt

    if pt.is_bool_dtype(label) or not pt.is_numeric_dtype(label):
        return "classification"
    values = label.dropna()
    if pt.is_integer_dtype(label) or (values == values.round()).all():
        return "classification" if values.nunique() <= 20 else "regression"
    return "regression"


__all__ = ["infer_task", "infer_type", "resolve_features"]
