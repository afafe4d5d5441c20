"""``shipyard.bundle.schema`` provides the input schema a model bundle checks rows against.

It is learned from the training split: each feature's type, the dtype it had,
whether it had missing values, the categories seen (for categorical and
boolean features) and the range seen (for numbers and dates).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

MAX_CATEGORIES = 1000


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return value


def infer_input_schema(frame: pd.DataFrame, features: Mapping[str, str]) -> dict[str, Any]:
    """The input schema of ``features`` as seen in ``frame`` (JSON-ready).

    Returns:
        ``{"columns": {name: {"type", "dtype", "null_fraction", ...}}}``.
    """
    from shipyard.bundle.transformers import AsCategory
    from shipyard.data.sources import to_datetime

    columns: dict[str, Any] = {}
    for name, kind in features.items():
        series = frame[name]
        entry: dict[str, Any] = {
            "type": kind,
            "dtype": str(series.dtype),
            "null_fraction": float(series.isna().mean()) if len(series) else 0.0,
        }
        values = series.dropna()
        if kind in ("categorical", "boolean"):
            texts = AsCategory().fit(values.to_frame()).transform(values.to_frame())[:, 0]
            distinct = sorted({str(v) for v in texts})
            entry["categories"] = distinct[:MAX_CATEGORIES]
            entry["categories_complete"] = len(distinct) <= MAX_CATEGORIES
        elif kind == "numeric" and len(values):
            import pandas as pd

            numbers = pd.to_numeric(values, errors="coerce")
            entry["min"] = _jsonable(numbers.min())
            entry["max"] = _jsonable(numbers.max())
        elif kind == "datetime" and len(values):
            dates = to_datetime(values).dropna()
            if len(dates):
                entry["min"] = str(dates.min())
                entry["max"] = str(dates.max())
        columns[name] = entry
    return {"columns": columns}


__all__ = ["MAX_CATEGORIES", "infer_input_schema"]
