"""``shipyard.ml.metrics`` provides the evaluation metrics, overall and per slice.

Classification: accuracy, precision, recall, f1 (binary: of the second class in
sorted order; more classes: macro average), roc_auc, log_loss. Regression: mae,
rmse, r2, mape. A metric that cannot be computed on a split (roc_auc with one
class present) is left out rather than reported as a number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shipyard.config.spec import CLASSIFICATION_METRICS, REGRESSION_METRICS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

DEFAULTS = {"classification": CLASSIFICATION_METRICS, "regression": REGRESSION_METRICS}


def default_metrics(task: str) -> tuple[str, ...]:
    """The metrics computed when the pipeline names none."""
    return DEFAULTS[task]


def classification_metrics(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    proba: np.ndarray | None,
    classes: Sequence[Any],
    names: Sequence[str],
) -> dict[str, float]:
    """Classification metrics of predictions against true labels (original values)."""
    import numpy as np
    from sklearn import metrics as m

    truth = np.asarray(list(y_true))
    pred = np.asarray(list(y_pred))
    labels = list(classes)
    binary = len(labels) == 2
    avg: dict[str, Any] = (
        {"average": "binary", "pos_label": labels[1]} if binary else {"average": "macro"}
    )
    out: dict[str, float] = {}
    for name in names:
        if name == "accuracy":
            out[name] = m.accuracy_score(truth, pred)
        elif name in ("precision", "recall", "f1"):
            func = {"precision": m.precision_score, "recall": m.recall_score, "f1": m.f1_score}[name]
            out[name] = func(truth, pred, labels=labels if not binary else None, zero_division=0, **avg)
        elif name == "roc_auc" and proba is not None:
            present = set(truth.tolist())
            if len(present) < 2 or not present <= set(labels):
                continue
            if binary:
                out[name] = m.roc_auc_score(truth == labels[1], proba[:, 1])
            elif present == set(labels):
                out[name] = m.roc_auc_score(
                    np.searchsorted(np.asarray(labels), truth), proba,
                    multi_class="ovr", labels=list(range(len(labels))),
                )
        elif name == "log_loss" and proba is not None:
            if not set(truth.tolist()) <= set(labels):
                continue
            index = {label: i for i, label in enumerate(labels)}
            codes = np.asarray([index[v] for v in truth])
            out[name] = m.log_loss(codes, proba, labels=list(range(len(labels))))
    return {k: float(v) for k, v in out.items()}


def regression_metrics(
    y_true: Sequence[float], y_pred: Sequence[float], names: Sequence[str]
) -> dict[str, float]:
    """Regression metrics of predictions against true values."""
    import numpy as np
    from sklearn import metrics as m

    truth = np.asarray(y_true, dtype=float)
    pred = np.asarray(y_pred, dtype=float)
    out: dict[str, float] = {}
    for name in names:
        if name == "mae":
            out[name] = m.mean_absolute_error(truth, pred)
        elif name == "rmse":
            out[name] = float(np.sqrt(m.mean_squared_error(truth, pred)))
        elif name == "r2" and len(truth) > 1:
            out[name] = m.r2_score(truth, pred)
        elif name == "mape":
            out[name] = m.mean_absolute_percentage_error(truth, pred)
    return {k: float(v) for k, v in out.items()}


def split_metrics(
    frame: pd.DataFrame,
    predictions: pd.DataFrame,
    *,
    label: str,
    task: str,
    classes: Sequence[Any] | None,
    names: Sequence[str],
) -> dict[str, float]:
    """Metrics of one split from its rows and the predictor's output frame."""
    if task == "regression":
        return regression_metrics(frame[label], predictions["prediction"], names)
    proba_columns = [f"proba_{c}" for c in classes or []]
    proba = (
        predictions[proba_columns].to_numpy()
        if all(c in predictions for c in proba_columns)
        else None
    )
    return classification_metrics(
        frame[label].tolist(), predictions["prediction"].tolist(), proba, classes or [], names
    )


__all__ = [
    "classification_metrics",
    "default_metrics",
    "regression_metrics",
    "split_metrics",
]
