"""``shipyard.bundle.transformers`` provides the small scikit-learn transformers Shipyard adds.

They are plain estimators (no lambdas, no closures), so a fitted preprocessor
is stored with skops without pickle; their qualified names are on the trusted
list used when a model bundle is loaded.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from shipyard.data.sources import FALSE_WORDS, TRUE_WORDS, to_datetime


def _frame(X: Any) -> pd.DataFrame:
    return X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)


class _Stateless(TransformerMixin, BaseEstimator):
    def fit(self, X: Any, y: Any = None) -> _Stateless:
        frame = _frame(X)
        self.n_features_in_ = frame.shape[1]
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        return self

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = input_features if input_features is not None else self.feature_names_in_
        return np.asarray([str(n) for n in names], dtype=object)


class ToFloat(_Stateless):
    """Numbers as floats; anything else becomes NaN (the predictor rejects it first)."""

    def transform(self, X: Any) -> np.ndarray:
        frame = _frame(X)
        return np.column_stack(
            [pd.to_numeric(frame[c], errors="coerce").astype(float) for c in frame.columns]
        ) if frame.shape[1] else np.empty((len(frame), 0))


class AsCategory(_Stateless):
    """Values as strings (``7`` and ``"7"`` are one category); missing stays NaN."""

    def transform(self, X: Any) -> np.ndarray:
        frame = _frame(X)
        out = frame.astype(object).where(frame.notna(), np.nan)
        for column in out.columns:
            mask = out[column].notna()
            out.loc[mask, column] = out.loc[mask, column].map(_category_text)
        return out.to_numpy(dtype=object)


def _category_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_TRUE, _FALSE = TRUE_WORDS, FALSE_WORDS


class BooleanToNumber(_Stateless):
    """True/yes/1 -> 1.0, false/no/0 -> 0.0, missing -> NaN."""

    def transform(self, X: Any) -> np.ndarray:
        frame = _frame(X)
        columns = []
        for column in frame.columns:
            text = frame[column].astype(str).str.strip().str.lower()
            values = np.where(text.isin(_TRUE), 1.0, np.where(text.isin(_FALSE), 0.0, np.nan))
            values[frame[column].isna().to_numpy()] = np.nan
            columns.append(values)
        return np.column_stack(columns) if columns else np.empty((len(frame), 0))


class SignedLog1p(_Stateless):
    """``sign(x) * log1p(|x|)``: log1p that keeps negative values finite."""

    def transform(self, X: Any) -> np.ndarray:
        values = np.asarray(X, dtype=float)
        return np.sign(values) * np.log1p(np.abs(values))


class Clip(_Stateless):
    """Clip values to ``[min, max]`` (either bound may be None)."""

    def __init__(self, min: float | None = None, max: float | None = None) -> None:
        self.min = min
        self.max = max

    def transform(self, X: Any) -> np.ndarray:
        return np.clip(np.asarray(X, dtype=float), self.min, self.max)


class Bucketize(_Stateless):
    """Bucket index of each value between explicit ``edges`` (NaN stays NaN)."""

    def __init__(self, edges: list[float] | None = None) -> None:
        self.edges = edges

    def transform(self, X: Any) -> np.ndarray:
        values = np.asarray(X, dtype=float)
        out = np.digitize(values, np.asarray(self.edges or [], dtype=float)).astype(float)
        out[np.isnan(values)] = np.nan
        return out


DATETIME_PARTS = {
    "year": lambda s: s.dt.year,
    "month": lambda s: s.dt.month,
    "day": lambda s: s.dt.day,
    "hour": lambda s: s.dt.hour,
    "minute": lambda s: s.dt.minute,
    "dayofweek": lambda s: s.dt.day_of_week,
    "dayofyear": lambda s: s.dt.day_of_year,
    "weekofyear": lambda s: s.dt.isocalendar().week.astype("Float64"),
    "quarter": lambda s: s.dt.quarter,
}


class DatetimeParts(_Stateless):
    """Parts of each date (hour, day of week, month, ...) as numbers; missing -> -1."""

    def __init__(self, parts: list[str] | None = None) -> None:
        self.parts = parts

    def _parts(self) -> list[str]:
        return list(self.parts or ["hour", "dayofweek", "month"])

    def transform(self, X: Any) -> np.ndarray:
        frame = _frame(X)
        columns = []
        for column in frame.columns:
            dates = to_datetime(frame[column])
            for part in self._parts():
                values = pd.to_numeric(DATETIME_PARTS[part](dates), errors="coerce")
                columns.append(values.astype(float).fillna(-1).to_numpy(float))
        return np.column_stack(columns) if columns else np.empty((len(frame), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = input_features if input_features is not None else self.feature_names_in_
        return np.asarray([f"{n}_{p}" for n in names for p in self._parts()], dtype=object)


class TextColumn(_Stateless):
    """One text column as a 1-D array of strings (missing -> empty), for TF-IDF."""

    def transform(self, X: Any) -> np.ndarray:
        frame = _frame(X)
        return frame.iloc[:, 0].fillna("").astype(str).to_numpy()


class HashEncoder(_Stateless):
    """Hash ``column=value`` pairs into ``n_features`` columns (no vocabulary is fitted)."""

    def __init__(self, n_features: int = 16) -> None:
        self.n_features = n_features

    def transform(self, X: Any) -> np.ndarray:
        from sklearn.feature_extraction import FeatureHasher

        frame = _frame(X)
        rows = [
            [f"{c}={v}" for c, v in zip(frame.columns, row, strict=True)]
            for row in frame.astype(str).itertuples(index=False, name=None)
        ]
        hasher = FeatureHasher(n_features=self.n_features, input_type="string")
        return hasher.transform(rows).toarray()

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([f"hash_{i}" for i in range(self.n_features)], dtype=object)


__all__ = [
    "AsCategory",
    "BooleanToNumber",
    "Bucketize",
    "Clip",
    "DatetimeParts",
    "HashEncoder",
    "SignedLog1p",
    "TextColumn",
    "ToFloat",
]
