"""``shipyard.ml.train`` provides estimator loading and fitting.

The model is any class with ``fit`` and ``predict``, given by import path
(``sklearn.ensemble.HistGradientBoostingClassifier``, ``xgboost.XGBClassifier``,
``lightgbm.LGBMRegressor``, your own). Classification labels are encoded as
0..k-1 in sorted order; the bundle keeps the original values.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

_EXTRAS = {"xgboost": "xgboost", "lightgbm": "lightgbm"}


class ModelError(ShipyardError):
    """The model named in the pipeline cannot be used."""

    headline = "Invalid model"


def load_model_class(path: str) -> type:
    """The estimator class at ``module.Class`` (or ``module:Class``).

    Raises:
        ModelError: when it cannot be imported or lacks fit/predict.
    """
    module_name, _, attr = path.replace(":", ".").rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        root = module_name.split(".", 1)[0]
        hint = (
            f"Install it: pip install 'shipyard[{_EXTRAS[root]}]'." if root in _EXTRAS else None
        )
        raise ModelError(f"Cannot import model {path!r}: {exc}.", hint=hint) from exc
    cls = getattr(module, attr, None)
    if cls is None:
        import difflib

        names = [n for n in dir(module) if not n.startswith("_")]
        guess = difflib.get_close_matches(attr, names, n=1, cutoff=0.6)
        hint = f"; did you mean {module_name}.{guess[0]}?" if guess else ""
        raise ModelError(f"Module {module_name!r} has no model {attr!r}{hint}")
    if not isinstance(cls, type) or not (hasattr(cls, "fit") and hasattr(cls, "predict")):
        raise ModelError(f"{path!r} is not an estimator class with fit() and predict().")
    return cls


def make_model(path: str, params: Mapping[str, Any]) -> Any:
    """An unfitted estimator with ``params``.

    Raises:
        ModelError: for an unknown or invalid param, naming it.
    """
    cls = load_model_class(path)
    try:
        model = cls(**params)
    except TypeError as exc:
        raise ModelError(f"{path}: {exc}") from exc
    # scikit-learn estimators declare their params' constraints: check them now,
    # with a clear message, rather than deep inside fit().
    if hasattr(model, "_validate_params") and hasattr(type(model), "_parameter_constraints"):
        try:
            model._validate_params()
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{path}: {exc}") from exc
    return model


def check_task(model: Any, task: str, path: str) -> None:
    """Refuse a scikit-learn regressor for classification (and a classifier for regression).

    Raises:
        ModelError: naming the model and the task.
    """
    from sklearn.base import is_classifier, is_regressor

    if task == "classification" and is_regressor(model):
        raise ModelError(
            f"{path} is a regressor, but the task is classification; use a classifier "
            "(e.g. sklearn.ensemble.HistGradientBoostingClassifier) or set train.task: regression."
        )
    if task == "regression" and is_classifier(model):
        raise ModelError(
            f"{path} is a classifier, but the task is regression; use a regressor "
            "(e.g. sklearn.ensemble.HistGradientBoostingRegressor) or set train.task: classification."
        )


def encode_labels(y: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """Labels as codes 0..k-1 (sorted classes) and the classes as JSON values.

    Raises:
        ShipyardError: when the label has missing values or a single class.
    """
    import numpy as np

    if y.isna().any():
        raise ShipyardError(
            f"The label {y.name!r} is empty in {int(y.isna().sum())} training row(s); "
            "drop those rows in a custom step."
        )
    classes = sorted(y.unique().tolist(), key=lambda v: (str(type(v)), v))
    if len(classes) < 2:
        raise ShipyardError(f"The label {y.name!r} has a single class {classes!r} in training.")
    index = {value: i for i, value in enumerate(classes)}
    codes = np.asarray([index[v] for v in y.tolist()], dtype=int)
    return codes, [c.item() if hasattr(c, "item") else c for c in classes]


def regression_target(y: pd.Series) -> np.ndarray:
    """The label as floats.

    Raises:
        ShipyardError: when it is missing or not numeric.
    """
    import pandas as pd

    values = pd.to_numeric(y, errors="coerce")
    bad = values.isna()
    if bad.any():
        raise ShipyardError(
            f"Regression needs a numeric label; {y.name!r} has {int(bad.sum())} missing or "
            f"non-numeric value(s), e.g. {y[bad].iloc[0]!r}."
        )
    return values.to_numpy(dtype=float)


__all__ = ["ModelError", "encode_labels", "load_model_class", "make_model", "regression_target"]
