"""``shipyard.bundle.fastpath`` compiles a bundle's fitted preprocessing to plain NumPy.

scikit-learn's ColumnTransformer spends most of a one-row prediction building
DataFrames and validating inputs. For serving, the fitted steps are compiled
into small functions on a validated record:

* elementwise steps (Shipyard's conversions, imputers, scalers, log1p, clip,
  bucketize, datetime parts, hashing) become NumPy or Python arithmetic with
  the fitted parameters;
* encoders (one-hot, ordinal) become lookup tables built by *asking the fitted
  encoder* about every category it knows, about an unseen value and about a
  missing one — so the table matches scikit-learn's answer by construction;
* anything else is delegated to the fitted step on a one-row array.

Before it is used, the compiled path is checked against the reference path on
synthetic records drawn from the bundle's input schema (categories, ranges,
missing values, unseen categories): any difference disables it and the
predictor stays on the reference path.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.bundle.transformers import _FALSE, _TRUE, _category_text

logger = logging.getLogger(__name__)

Op = Callable[[Any], Any]
_UNSEEN = "\x00shipyard-unseen\x00"
_PARITY_ROWS = 200


class NotCompilable(Exception):
    """A step the fast path cannot reproduce."""


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# -- elementwise steps ------------------------------------------------------------------


def _to_float(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values))
    for i, v in enumerate(values):
        try:
            out[i] = math.nan if _missing(v) else float(v)
        except (TypeError, ValueError):
            out[i] = math.nan
    return out


def _as_category(values: list[Any]) -> list[Any]:
    return [math.nan if _missing(v) else _category_text(v) for v in values]


def _boolean(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values))
    for i, v in enumerate(values):
        text = str(v).strip().lower()
        out[i] = math.nan if _missing(v) else 1.0 if text in _TRUE else 0.0 if text in _FALSE else math.nan
    return out


def _datetime_value(value: Any) -> dt.datetime | None:
    if _missing(value):
        return None
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None) if value.tzinfo is None else value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # As pandas does: seconds it cannot place on the calendar are no date.
        try:
            return dt.datetime.fromtimestamp(float(value), tz=dt.UTC).replace(tzinfo=None)
        except (OverflowError, ValueError, OSError):
            return None
    import pandas as pd

    from shipyard.data.sources import parse_dates

    stamp = parse_dates(pd.Series([value])).iloc[0]
    return None if pd.isna(stamp) else stamp.to_pydatetime()


_PARTS: dict[str, Callable[[dt.datetime], float]] = {
    "year": lambda d: d.year,
    "month": lambda d: d.month,
    "day": lambda d: d.day,
    "hour": lambda d: d.hour,
    "minute": lambda d: d.minute,
    "dayofweek": lambda d: d.weekday(),
    "dayofyear": lambda d: d.timetuple().tm_yday,
    "weekofyear": lambda d: d.isocalendar()[1],
    "quarter": lambda d: (d.month - 1) // 3 + 1,
}


def _compile_step(step: Any, n_in: int) -> Op:
    """An op for one fitted step, given the number of values it receives."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import (
        MinMaxScaler,
        OneHotEncoder,
        OrdinalEncoder,
        RobustScaler,
        StandardScaler,
    )

    from shipyard.bundle import transformers as t

    kind = type(step)
    if kind is t.ToFloat:
        return _to_float
    if kind is t.AsCategory:
        return _as_category
    if kind is t.BooleanToNumber:
        return _boolean
    if kind is t.SignedLog1p:
        return lambda x: np.sign(np.asarray(x, float)) * np.log1p(np.abs(np.asarray(x, float)))
    if kind is t.Clip:
        return lambda x, lo=step.min, hi=step.max: np.clip(np.asarray(x, float), lo, hi)
    if kind is t.Bucketize:
        edges = np.asarray(step.edges or [], float)

        def bucketize(x: Any) -> np.ndarray:
            values = np.asarray(x, float)
            out = np.digitize(values, edges).astype(float)
            out[np.isnan(values)] = np.nan
            return out

        return bucketize
    if kind is t.DatetimeParts:
        parts = list(step.parts or ["hour", "dayofweek", "month"])

        def datetime_parts(values: list[Any]) -> np.ndarray:
            out = []
            for v in values:
                stamp = _datetime_value(v)
                out += [-1.0 if stamp is None else float(_PARTS[p](stamp)) for p in parts]
            return np.asarray(out)

        return datetime_parts
    if kind is t.HashEncoder:
        return _hasher(step)
    if kind is SimpleImputer:
        return _imputer(step)
    if kind is StandardScaler:
        mean = step.mean_ if step.with_mean else 0.0
        scale = step.scale_ if step.with_std else 1.0
        return lambda x: (np.asarray(x, float) - mean) / scale
    if kind is MinMaxScaler:
        if step.clip:
            lo, hi = step.feature_range
            return lambda x: np.clip(np.asarray(x, float) * step.scale_ + step.min_, lo, hi)
        return lambda x: np.asarray(x, float) * step.scale_ + step.min_
    if kind is RobustScaler:
        center = step.center_ if step.with_centering else 0.0
        scale = step.scale_ if step.with_scaling else 1.0
        return lambda x: (np.asarray(x, float) - center) / scale
    if kind in (OneHotEncoder, OrdinalEncoder):
        return _encoder(step, n_in)
    return _delegate(step)


def _imputer(step: Any) -> Op:
    fill = list(step.statistics_)
    if step.missing_values is not np.nan and not (isinstance(step.missing_values, float) and math.isnan(step.missing_values)):
        raise NotCompilable("an imputer with a custom missing-value marker")
    numeric = np.asarray(step.statistics_).dtype.kind in "fiub"

    def impute(values: Any) -> Any:
        if numeric:
            array = np.asarray(values, float)
            return np.where(np.isnan(array), np.asarray(fill, float), array)
        return [fill[i] if _missing(v) else v for i, v in enumerate(values)]

    return impute


def _hasher(step: Any) -> Op:
    from sklearn.utils import murmurhash3_32

    n = int(step.n_features)
    names = list(step.feature_names_in_)

    def hashed(values: list[Any]) -> np.ndarray:
        out = np.zeros(n)
        for name, value in zip(names, values, strict=True):
            h = murmurhash3_32(f"{name}={value}", seed=0)
            out[abs(h) % n] += 1.0 if h >= 0 else -1.0
        return out

    return hashed


def _encoder(step: Any, n_in: int) -> Op:
    """Lookup tables built from the fitted encoder's own answers."""
    sizes = getattr(step, "_n_features_outs", None)
    if type(step).__name__ == "OrdinalEncoder":
        sizes = [1] * n_in
    if sizes is None or len(sizes) != n_in or getattr(step, "handle_unknown", "") == "error":
        raise NotCompilable("an encoder without known output blocks or that rejects unknowns")
    base = [cats[0] for cats in step.categories_]
    offsets = np.cumsum([0, *sizes])
    tables: list[dict[Any, np.ndarray]] = []
    fallbacks: list[np.ndarray] = []
    missing_rows: list[np.ndarray | None] = []
    for j, cats in enumerate(step.categories_):
        probes = [c for c in cats if not _missing(c)] + [_UNSEEN, np.nan]
        rows = np.asarray([[*base[:j], p, *base[j + 1 :]] for p in probes], dtype=object)
        try:
            out = step.transform(rows)
        except ValueError as exc:  # e.g. missing values not allowed
            raise NotCompilable(f"encoder probe failed: {exc}") from exc
        out = out.toarray() if hasattr(out, "toarray") else np.asarray(out, float)
        block = out[:, offsets[j] : offsets[j + 1]]
        tables.append({p: block[i] for i, p in enumerate(probes[:-2])})
        fallbacks.append(block[-2])
        missing_rows.append(block[-1])

    def encode(values: list[Any]) -> np.ndarray:
        parts = []
        for j, v in enumerate(values):
            if _missing(v):
                parts.append(missing_rows[j])
            else:
                parts.append(tables[j].get(v, fallbacks[j]))
        return np.concatenate(parts)

    return encode


def _delegate(step: Any) -> Op:
    if not hasattr(step, "transform"):
        raise NotCompilable(f"{type(step).__name__} has no transform")

    def delegated(values: Any) -> np.ndarray:
        array = np.asarray([values], dtype=object if not isinstance(values, np.ndarray) else None)
        out = step.transform(array)
        out = out.toarray() if hasattr(out, "toarray") else np.asarray(out)
        return np.asarray(out, float).ravel()

    return delegated


# -- the whole preprocessor ---------------------------------------------------------------


@dataclass(frozen=True)
class _Group:
    columns: tuple[str, ...]
    ops: tuple[Op, ...]
    one_dimensional: bool


def _compile_group(transformer: Any, columns: Sequence[str]) -> _Group:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import Pipeline

    if transformer == "passthrough":
        return _Group(tuple(columns), (_to_float,), False)
    steps = [s for _, s in transformer.steps] if isinstance(transformer, Pipeline) else [transformer]
    ops: list[Op] = []
    one_dimensional = False
    for step in steps:
        if type(step).__name__ == "TextColumn":
            one_dimensional = True
            ops.append(lambda values: ["" if _missing(v) else str(v) for v in values])
            continue
        if isinstance(step, TfidfVectorizer):
            ops.append(lambda values, s=step: np.asarray(s.transform(values).toarray(), float).ravel())
            continue
        ops.append(_compile_step(step, len(columns)))
    return _Group(tuple(columns), tuple(ops), one_dimensional)


class FastPreprocessor:
    """A fitted ColumnTransformer as plain functions on one record.

    Raises:
        NotCompilable: when the transformer has parts the fast path cannot reproduce.
    """

    def __init__(self, transformer: Any) -> None:
        if getattr(transformer, "sparse_output_", False):
            raise NotCompilable("sparse output")
        if transformer.remainder != "drop" and any(name == "remainder" for name, *_ in transformer.transformers_):
            remainder = next(t for t in transformer.transformers_ if t[0] == "remainder")
            if remainder[1] != "drop" and len(remainder[2]):
                raise NotCompilable("a remainder that is not dropped")
        self.groups = [
            _compile_group(tr, list(cols))
            for name, tr, cols in transformer.transformers_
            if tr != "drop" and len(cols) and name != "remainder"
        ]

    def transform_record(self, record: Mapping[str, Any]) -> np.ndarray:
        """The model's input row for one validated record."""
        pieces = []
        for group in self.groups:
            values: Any = [record.get(c) for c in group.columns]
            for op in group.ops:
                values = op(values)
            pieces.append(np.asarray(values, float).ravel())
        return np.concatenate(pieces) if pieces else np.empty(0)


def synthetic_records(schema: Mapping[str, Any], features: Mapping[str, str], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Random records shaped like the training data, with missing and unseen values."""
    rng = np.random.default_rng(seed)
    columns = schema.get("columns", {})
    records = []
    for i in range(n):
        record: dict[str, Any] = {}
        for name, kind in features.items():
            info = columns.get(name, {})
            roll = rng.random()
            if roll < 0.08:
                record[name] = None
                continue
            if kind == "numeric":
                low, high = info.get("min", 0.0), info.get("max", 1.0)
                low, high = (0.0, 1.0) if low is None or high is None else (float(low), float(high))
                value = rng.uniform(low - 0.1 * abs(high - low), high + 0.1 * abs(high - low))
                record[name] = float(np.round(value)) if i % 3 == 0 else float(value)
            elif kind in ("categorical", "boolean"):
                cats = info.get("categories") or ["a", "b"]
                record[name] = "never-seen-value" if roll > 0.92 else cats[int(rng.integers(len(cats)))]
            elif kind == "datetime":
                record[name] = (dt.datetime(2015, 1, 1) + dt.timedelta(minutes=int(rng.integers(0, 10**6)))).isoformat()
            else:
                record[name] = " ".join(rng.choice(["alpha", "beta", "gamma", "delta"], size=3))
        records.append(record)
    return records


def compile_fast_path(bundle: Any, *, check_rows: int = _PARITY_ROWS) -> FastPreprocessor | None:
    """The bundle's preprocessing compiled for one-record predictions, or None.

    None when it cannot be compiled, or when on synthetic records its output
    differs from the reference ColumnTransformer's (the reason is logged).
    """
    import pandas as pd

    try:
        fast = FastPreprocessor(bundle.preprocessor)
    except NotCompilable as exc:
        logger.info("fast path not available: %s", exc)
        return None
    except Exception as exc:  # an unexpected fitted object: stay on the reference path
        logger.warning("fast path not available: %s: %s", type(exc).__name__, exc)
        return None
    records = synthetic_records(bundle.schema, bundle.features, check_rows)
    try:
        frame = pd.DataFrame(records, columns=list(bundle.features))
        for name, kind in bundle.features.items():
            if kind == "numeric":
                frame[name] = pd.to_numeric(frame[name])
        reference = np.asarray(bundle.preprocessor.transform(frame), float)
        compiled = np.vstack([fast.transform_record(r) for r in records])
    except Exception as exc:
        logger.warning("fast path disabled: the parity check failed to run: %s", exc)
        return None
    if reference.shape != compiled.shape or not np.allclose(reference, compiled, rtol=1e-9, atol=1e-12, equal_nan=True):
        logger.warning("fast path disabled: it differs from the reference preprocessing")
        return None
    return fast


__all__ = ["FastPreprocessor", "NotCompilable", "compile_fast_path", "synthetic_records"]
