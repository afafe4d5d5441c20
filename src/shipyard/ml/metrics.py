"""``shipyard.ml.metrics`` provides the evaluation metrics, overall and per slice.

Classification: accuracy, precision, recall, f1 (binary: of the second class in
sorted order; more classes: macro average), roc_auc, log_loss. Regression: mae,
rmse, r2, mape. A metric that cannot be computed on a split (roc_auc with one
class present) is left out rather than reported as a number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


#: The splits a metric key may start with (``eval.roc_auc``), in display order.
SPLITS = ("train", "eval", "test")


def arrange_metrics(metrics: Mapping[str, Mapping[str, float | None]]) -> dict[str, Any]:
    """A run's metrics arranged for reading: by split, by slice, and the rest.

    ``eval.x`` goes to the split table, ``test[column=value].x`` (what the
    evaluate step logs per slice) to the table of that column's slices, and
    every other key, with its step, to ``plain``.

    Returns:
        ``{"splits": {"names": [...], "rows": [[metric, {split: value}]...]},
        "slices": [{"title", "columns", "rows": [[slice value, {metric: value}]...]}...],
        "plain": [[step, key, value]...]}``; a slice table's ``rows`` column comes first.
    """
    splits: dict[str, dict[str, float | None]] = {}
    slices: dict[str, dict[str, dict[str, float | None]]] = {}
    plain: list[list[Any]] = []
    for step, values in metrics.items():
        for key, value in values.items():
            head, dot, name = key.rpartition(".")
            if dot and "[" in head and head.endswith("]"):
                split, _, inner = head[:-1].partition("[")
                column, _, slice_value = inner.partition("=")
                slices.setdefault(f"{split} by {column}", {}).setdefault(slice_value, {})[name] = value
            elif dot and head in SPLITS:
                splits.setdefault(name, {})[head] = value
            else:
                plain.append([step, key, value])
    slice_tables = []
    for title, rows in slices.items():
        columns = list(dict.fromkeys(k for values in rows.values() for k in values))
        if "rows" in columns:
            columns = ["rows", *[c for c in columns if c != "rows"]]
        slice_tables.append({"title": title, "columns": columns, "rows": [[v, m] for v, m in rows.items()]})
    return {
        "splits": {
            "names": [s for s in SPLITS if any(s in v for v in splits.values())],
            "rows": [[m, v] for m, v in splits.items()],
        },
        "slices": slice_tables,
        "plain": plain,
    }
