"""``shipyard.bundle.bundle`` provides ``ModelBundle`` and ``Predictor``.

A bundle is everything needed to predict from raw rows: the fitted
preprocessing, the fitted model, the input schema learned in training, the
label mapping, custom row transforms, metrics, and the ids of the run and the
data version that made it. ``Predictor`` is the only prediction code path:
the pipeline's evaluate step, ``shipyard predict`` and serving all use it.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

BUNDLE_FORMAT = 1


class InputError(ShipyardError):
    """Rows given for prediction do not fit the model's input schema."""

    headline = "Invalid input rows"


@dataclass(frozen=True)
class ModelBundle:
    """A fitted model with its preprocessing and everything needed to use it.

    Attributes:
        preprocessor: the fitted scikit-learn ColumnTransformer.
        model: the fitted estimator.
        features: feature column -> type (numeric, categorical, text, datetime, boolean).
        schema: the input schema learned from the training split.
        label: ``{"name", "task", "classes"}`` (classes: original label values, in
            the order of the model's class indices; None for regression).
        transforms: custom row transforms ``{"name", "run", "params"}`` applied
            to raw rows before preprocessing.
        metrics: evaluation metrics.
        run_id: the run that made the bundle.
        data_version: content hash of the data it was trained on.
        model_class: import path of the estimator class.
        statistics: statistics of the training split's feature columns (JSON),
            the reference for drift in serving.
        data_schema: the schema rows are validated against (JSON, features only).
    """

    preprocessor: Any
    model: Any
    features: Mapping[str, str]
    schema: Mapping[str, Any]
    label: Mapping[str, Any]
    transforms: tuple[Mapping[str, Any], ...] = ()
    metrics: Mapping[str, float] = field(default_factory=dict)
    run_id: str | None = None
    data_version: str | None = None
    model_class: str = ""
    statistics: Mapping[str, Any] | None = None
    data_schema: Mapping[str, Any] | None = None

    @property
    def task(self) -> str:
        """``classification`` or ``regression``."""
        return str(self.label["task"])

    @property
    def classes(self) -> list[Any] | None:
        """Class labels (classification) in the order of probability columns."""
        classes = self.label.get("classes")
        return list(classes) if classes is not None else None

    def with_info(self, **changes: Any) -> ModelBundle:
        """A copy with metrics, run id or data version set."""
        return replace(self, **changes)

    def metadata(self) -> dict[str, Any]:
        """Everything but the fitted objects, JSON-ready."""
        return {
            "format": BUNDLE_FORMAT,
            "features": dict(self.features),
            "schema": dict(self.schema),
            "label": dict(self.label),
            "transforms": [dict(t) for t in self.transforms],
            "metrics": dict(self.metrics),
            "run_id": self.run_id,
            "data_version": self.data_version,
            "model_class": self.model_class,
        }


@dataclass
class PredictionReport:
    """What the predictor noticed in the last batch of rows."""

    rows: int = 0
    extra_columns: list[str] = field(default_factory=list)
    unseen: dict[str, int] = field(default_factory=dict)




def _example(series: pd.Series, mask: pd.Series) -> str:
    index = mask[mask].index[0]
    return f"{series[index]!r} (row {index})"


class Predictor:
    """Predictions from raw rows through a bundle's preprocessing and model.

    Args:
        bundle: the model bundle.
        runtime: what runs the model on the fast path of :meth:`predict_records`:
            ``"sklearn"`` (the fitted model itself) or ``"onnx"`` (the model
            converted to ONNX and run by ONNX Runtime, checked against the
            fitted model first; see :mod:`shipyard.bundle.onnx`). When ONNX
            cannot be used the fitted model runs instead: ``model_runtime``
            says which runs, ``onnx_problem`` why ONNX does not.

    Example:
        >>> predictor = shipyard.load_bundle("latest")          # doctest: +SKIP
        >>> predictor.predict(pd.read_csv("new.csv"))           # doctest: +SKIP
    """

    def __init__(self, bundle: ModelBundle, *, apply_transforms: bool = True, runtime: str = "sklearn") -> None:
        if runtime not in ("sklearn", "onnx"):
            raise ShipyardError(f"Unknown model runtime {runtime!r}; use 'sklearn' or 'onnx'.")
        self.bundle = bundle
        self.runtime = runtime
        self.report = PredictionReport()
        # Rows that already went through the custom steps (the pipeline's own
        # splits) must not go through them again.
        self._transforms = [_load_transform(t) for t in bundle.transforms] if apply_transforms else []
        self._fast: Any = None
        self._fast_checked = False
        self._onnx: Any = None
        self._onnx_problem: str | None = None
        columns = bundle.schema.get("columns", {})
        self._known_categories = {
            name: set(info["categories"])
            for name, info in columns.items()
            if bundle.features.get(name) == "categorical"
            and info.get("categories_complete", True)
            and "categories" in info
        }

    @property
    def fast_path(self) -> bool:
        """True when one-record predictions use the compiled preprocessing."""
        self._ensure_fast()
        return self._fast is not None

    def _ensure_fast(self) -> None:
        if not self._fast_checked:
            from shipyard.bundle.fastpath import compile_fast_path

            self._fast_checked = True
            self._fast = None if self._transforms else compile_fast_path(self.bundle)
            if self.runtime == "onnx":
                from shipyard.bundle.onnx import compile_onnx

                self._onnx, reason = compile_onnx(self.bundle, self._fast)
                self._onnx_problem = None if self._onnx is not None else reason

    @property
    def model_runtime(self) -> str:
        """What runs the model for :meth:`predict_records`: ``"onnx"`` or ``"sklearn"`` (after any fallback)."""
        self._ensure_fast()
        return "onnx" if self._onnx is not None else "sklearn"

    @property
    def onnx_problem(self) -> str | None:
        """Why ``runtime="onnx"`` fell back to the scikit-learn model (None when it did not)."""
        self._ensure_fast()
        return self._onnx_problem

    @property
    def feature_columns(self) -> list[str]:
        """The raw columns the model reads."""
        return list(self.bundle.features)

    def prepare(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Apply custom transforms and check rows against the input schema.

        Returns:
            The feature columns, in order.

        Raises:
            InputError: naming each missing column and each column of the wrong type.
        """
        frame, self.report = self._checked(rows)
        return frame

    def _checked(self, rows: pd.DataFrame) -> tuple[pd.DataFrame, PredictionReport]:
        """:meth:`prepare`, returning the report instead of keeping it."""
        frame = rows
        for (func, params), spec in zip(self._transforms, self.bundle.transforms, strict=False):
            try:
                frame = func(frame, **params)
            except Exception as exc:
                raise InputError(
                    f"The custom step {spec['name']!r} ({spec['run']}) failed on these rows: "
                    f"{type(exc).__name__}: {exc}. The rows need the raw columns it reads."
                ) from exc
            if len(frame) != len(rows):
                raise InputError(
                    f"The custom step {spec['name']!r} turned {len(rows)} rows into {len(frame)}; "
                    "custom steps must work row by row and keep every row."
                )
        missing = [c for c in self.feature_columns if c not in frame.columns]
        if missing:
            raise InputError(
                f"Missing column(s) {', '.join(map(repr, missing))}; the model needs "
                f"{self.feature_columns}."
            )
        schema = self.bundle.schema.get("columns", {})
        problems: list[str] = []
        unseen: dict[str, int] = {}
        for column, kind in self.bundle.features.items():
            problem = type_problem(frame[column], kind)
            if problem:
                problems.append(f"column {column!r}: {problem}")
            elif kind == "categorical":
                known = schema.get(column, {})
                if known.get("categories_complete", True) and "categories" in known:
                    count = _count_unseen(frame[column], set(known["categories"]))
                    if count:
                        unseen[column] = count
        if problems:
            raise InputError("; ".join(problems))
        report = PredictionReport(
            rows=len(frame),
            extra_columns=[c for c in rows.columns if c not in self.bundle.features],
            unseen=unseen,
        )
        return frame[self.feature_columns], report

    def transform(self, rows: pd.DataFrame) -> np.ndarray:
        """The model's input matrix for raw rows."""
        return self.bundle.preprocessor.transform(self.prepare(rows))

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        """Predicted labels (original label values) or numbers."""
        import numpy as np

        raw = self.bundle.model.predict(self.transform(rows))
        classes = self.bundle.classes
        if classes is None:
            return np.asarray(raw)
        return np.asarray(classes)[class_codes(raw, len(classes))]

    def predict_proba(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Class probabilities, one column per class.

        Raises:
            ShipyardError: for a regression model or one without predict_proba.
        """
        import pandas as pd

        classes = self.bundle.classes
        if classes is None or not hasattr(self.bundle.model, "predict_proba"):
            raise ShipyardError(
                f"{self.bundle.model_class or 'This model'} gives no class probabilities."
            )
        proba = self.bundle.model.predict_proba(self.transform(rows))
        return pd.DataFrame(proba, columns=[str(c) for c in classes], index=rows.index)

    def predict_records(self, records: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Predictions for a few validated records: ``{"prediction", "probabilities"}``.

        Uses the compiled fast path when the bundle has one (see
        :mod:`shipyard.bundle.fastpath`, checked for parity with the reference
        path when it was compiled), else the DataFrame path. ``report`` counts
        unseen categories.
        """
        results, self.report = self.predict_records_with_report(records)
        return results

    def predict_records_with_report(
        self, records: list[Mapping[str, Any]]
    ) -> tuple[list[dict[str, Any]], PredictionReport]:
        """Like :meth:`predict_records`, returning the report instead of keeping it
        (safe when several threads share the predictor)."""
        import numpy as np

        self._ensure_fast()
        if self._fast is None:
            import pandas as pd

            frame = pd.DataFrame(list(records))
            features, report = self._checked(frame)
            out = self._frame_of(self.bundle.preprocessor.transform(features), frame.index)
            classes = self.bundle.classes
            return [
                {
                    "prediction": _plain(row["prediction"]),
                    "probabilities": (
                        {str(c): float(row[f"proba_{c}"]) for c in classes}
                        if classes is not None and f"proba_{classes[0]}" in out
                        else None
                    ),
                }
                for _, row in out.iterrows()
            ], report
        unseen: dict[str, int] = {}
        for column, known in self._known_categories.items():
            count = sum(1 for r in records if not _is_missing(r.get(column)) and _text(r.get(column)) not in known)
            if count:
                unseen[column] = count
        report = PredictionReport(rows=len(records), unseen=unseen)
        matrix = np.vstack([self._fast.transform_record(r) for r in records])
        model = self._onnx if self._onnx is not None else self.bundle.model
        classes = self.bundle.classes
        if classes is None:
            return [{"prediction": float(v), "probabilities": None} for v in model.predict(matrix)], report
        proba = model.predict_proba(matrix) if hasattr(self.bundle.model, "predict_proba") else None
        codes = (
            np.argmax(proba, axis=1)
            if proba is not None and _predict_is_argmax(self.bundle.model)
            else class_codes(model.predict(matrix), len(classes))
        )
        return [
            {
                "prediction": _plain(classes[int(code)]),
                "probabilities": (
                    {str(c): float(p) for c, p in zip(classes, proba[i], strict=True)}
                    if proba is not None
                    else None
                ),
            }
            for i, code in enumerate(codes)
        ], report

    def predict_frame(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``prediction`` and, for classifiers, ``proba_<class>`` columns."""
        return self._frame_of(self.transform(rows), rows.index)

    def _frame_of(self, matrix: Any, index: pd.Index) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        raw = self.bundle.model.predict(matrix)
        classes = self.bundle.classes
        out = pd.DataFrame(index=index)
        if classes is None:
            out["prediction"] = np.asarray(raw)
            return out
        out["prediction"] = np.asarray(classes)[class_codes(raw, len(classes))]
        if hasattr(self.bundle.model, "predict_proba"):
            proba = self.bundle.model.predict_proba(matrix)
            for i, cls in enumerate(classes):
                out[f"proba_{cls}"] = proba[:, i]
        return out


_ARGMAX_MODULES = ("sklearn.ensemble", "sklearn.tree", "sklearn.linear_model", "sklearn.naive_bayes", "xgboost", "lightgbm", "shipyard.bundle.io")


def class_codes(raw: Any, n_classes: int) -> Any:
    """A classifier's raw predictions as class indices, checked.

    Raises:
        ShipyardError: when the model did not predict class indices (a regressor
            used for a classification task).
    """
    import numpy as np

    values = np.asarray(raw)
    codes = values.astype(int)
    if values.size and (not np.array_equal(codes, values) or codes.min() < 0 or codes.max() >= n_classes):
        raise ShipyardError(
            "The model predicted values that are not class indices; is it a regressor used "
            "for a classification task?"
        )
    return codes


def _predict_is_argmax(model: Any) -> bool:
    """True for models whose predict() is the argmax of predict_proba() (so one call serves both)."""
    module = type(model).__module__
    if type(model).__name__ in ("VotingClassifier", "StackingClassifier"):
        return False
    return module.startswith(_ARGMAX_MODULES)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _text(value: Any) -> str:
    from shipyard.bundle.transformers import _category_text

    return _category_text(value)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def type_problem(series: pd.Series, kind: str) -> str | None:
    """Why a column's values do not fit a feature type, or None when they do."""
    import pandas as pd
    from pandas.api import types as pt

    from shipyard.data.sources import FALSE_WORDS, TRUE_WORDS, parse_dates

    present = series.notna()
    if kind == "numeric" and pt.is_datetime64_any_dtype(series):
        return "expected numbers, found dates"
    if kind == "numeric" and not pt.is_numeric_dtype(series):
        bad = present & pd.to_numeric(series, errors="coerce").isna()
        if bad.any():
            return f"expected numbers, found {_example(series, bad)}"
    elif kind == "boolean" and not pt.is_bool_dtype(series):
        text = series.astype(str).str.strip().str.lower()
        bad = present & ~text.isin(TRUE_WORDS | FALSE_WORDS)
        if bad.any():
            return f"expected true/false (or yes/no, 1/0), found {_example(series, bad)}"
    elif kind == "datetime" and not (pt.is_datetime64_any_dtype(series) or pt.is_numeric_dtype(series)):
        bad = present & parse_dates(series).isna()
        if bad.any():
            return f"expected dates, found {_example(series, bad)}"
    return None


def _count_unseen(series: pd.Series, known: set[str]) -> int:
    from shipyard.bundle.transformers import _category_text

    values = series.dropna()
    if values.empty:
        return 0
    return int((~values.map(_category_text).isin(known)).sum())


def _load_transform(spec: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The function of a custom row transform, by its ``module:function`` path."""
    from shipyard.engine.hashing import is_user_file

    module_name, _, attr = str(spec["run"]).partition(":")
    try:
        found = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise ShipyardError(
            f"The bundle applies the custom step {spec['name']!r} ({spec['run']}) to raw "
            "rows, but its module cannot be found here.",
            hint="Run from the project folder (or put it on PYTHONPATH).",
        )
    # Look before importing: a bundle must not be able to run library code.
    if not is_user_file(found.origin or ""):
        raise ShipyardError(
            f"The bundle's custom step {spec['name']!r} points to {spec['run']}, which is not "
            "part of a project's own code; refusing to import it."
        )
    try:
        func = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ShipyardError(
            f"The bundle's custom step {spec['name']!r} ({spec['run']}) cannot be loaded: {exc}."
        ) from exc
    func = getattr(func, "__shipyard_func__", func)
    return func, dict(spec.get("params") or {})


__all__ = ["BUNDLE_FORMAT", "InputError", "ModelBundle", "PredictionReport", "Predictor"]
