"""``shipyard.ml.split`` provides the train/eval/test split strategies.

* ``random``: a seeded shuffle cut by the ratios.
* ``stratified``: the same within each label class, so each split keeps the
  class shares.
* ``time``: rows ordered by a datetime or number column; the earliest go to
  train and the latest to test, by ratios or at explicit ``cutoffs``.
* ``group``: every row of a column value lands in the same split; groups are
  shuffled (seeded) and assigned until each split has its share of rows, or
  named explicitly with ``groups``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shipyard.data.sources import DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

SPLITS = ("train", "eval", "test")


def _counts(n: int, ratios: Mapping[str, float]) -> tuple[int, int]:
    """Rows for train and eval out of ``n`` (test gets the rest)."""
    n_train = round(n * ratios["train"])
    n_eval = round(n * ratios["eval"])
    return n_train, n_eval


def _by_positions(order: np.ndarray, ratios: Mapping[str, float]) -> dict[str, np.ndarray]:
    n_train, n_eval = _counts(len(order), ratios)
    return {
        "train": order[:n_train],
        "eval": order[n_train : n_train + n_eval],
        "test": order[n_train + n_eval :],
    }


def _random(frame: pd.DataFrame, ratios: Mapping[str, float], seed: int) -> dict[str, np.ndarray]:
    import numpy as np

    order = np.random.default_rng(seed).permutation(len(frame))
    return _by_positions(order, ratios)


def _stratified(
    frame: pd.DataFrame, label: str, ratios: Mapping[str, float], seed: int
) -> dict[str, np.ndarray]:
    import numpy as np

    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLITS}
    codes = frame[label].astype("category").cat.codes.to_numpy()
    for code in np.unique(codes):
        members = rng.permutation(np.flatnonzero(codes == code))
        for name, rows in _by_positions(members, ratios).items():
            parts[name].append(rows)
    return {name: np.sort(np.concatenate(rows)) for name, rows in parts.items()}


def _time_values(series: pd.Series) -> pd.Series:
    from pandas.api import types as pt

    if pt.is_numeric_dtype(series) or pt.is_datetime64_any_dtype(series):
        return series
    from shipyard.data.sources import parse_dates

    parsed = parse_dates(series)
    bad = parsed.isna() & series.notna()
    if bad.any():
        raise DataError(
            f"Split by time: column {series.name!r} holds values that are neither numbers "
            f"nor dates, e.g. {series[bad].iloc[0]!r}."
        )
    return parsed


def _cutoff(value: Any, times: pd.Series) -> Any:
    import pandas as pd
    from pandas.api import types as pt

    if pt.is_datetime64_any_dtype(times):
        stamp = pd.Timestamp(value)
        tz = getattr(times.dt, "tz", None)
        if tz is not None and stamp.tzinfo is None:
            stamp = stamp.tz_localize(tz)
        return stamp
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataError(
            f"Split by time: cutoff {value!r} is not a number, but column {times.name!r} "
            "holds numbers."
        ) from None


def _time(
    frame: pd.DataFrame,
    column: str,
    ratios: Mapping[str, float],
    cutoffs: Mapping[str, Any] | None,
) -> dict[str, np.ndarray]:
    import numpy as np

    times = _time_values(frame[column])
    missing = int(times.isna().sum())
    if missing:
        raise DataError(
            f"Split by time: column {column!r} is empty in {missing} row(s); every row "
            "needs a time. Drop or fill them in a custom step."
        )
    if cutoffs is None:
        order = np.argsort(times.to_numpy(), kind="stable")
        return _by_positions(order, ratios)
    eval_at, test_at = _cutoff(cutoffs["eval"], times), _cutoff(cutoffs["test"], times)
    if not eval_at < test_at:
        raise DataError(f"Split by time: the eval cutoff {eval_at} must come before the test cutoff {test_at}.")
    values = times.to_numpy()
    return {
        "train": np.flatnonzero(values < eval_at),
        "eval": np.flatnonzero((values >= eval_at) & (values < test_at)),
        "test": np.flatnonzero(values >= test_at),
    }


def _group(
    frame: pd.DataFrame,
    column: str,
    ratios: Mapping[str, float],
    groups: Mapping[str, list[Any]] | None,
    seed: int,
) -> dict[str, np.ndarray]:
    import numpy as np

    from shipyard.bundle.transformers import _category_text

    # 3, 3.0 (a number column with missing values) and "3" are one group.
    keys = frame[column].map(_category_text, na_action="ignore").fillna("<missing>")
    if groups is not None:
        eval_keys = {_category_text(v) for v in groups["eval"]}
        test_keys = {_category_text(v) for v in groups["test"]}
        both = eval_keys & test_keys
        if both:
            raise DataError(f"Split by group: {sorted(both)} listed for both eval and test.")
        assigned = np.where(keys.isin(test_keys), "test", np.where(keys.isin(eval_keys), "eval", "train"))
    else:
        sizes = keys.value_counts(sort=False)
        order = np.random.default_rng(seed).permutation(len(sizes))
        target_train = ratios["train"] * len(frame)
        target_eval = (ratios["train"] + ratios["eval"]) * len(frame)
        mapping: dict[str, str] = {}
        running = 0
        for idx in order:
            key = sizes.index[idx]
            size = int(sizes.iloc[idx])
            # A group goes where the middle of its rows falls.
            middle = running + size / 2
            mapping[key] = "train" if middle <= target_train else (
                "eval" if middle <= target_eval else "test"
            )
            running += size
        assigned = keys.map(mapping).to_numpy()
    return {name: np.flatnonzero(assigned == name) for name in SPLITS}


def split_frame(
    frame: pd.DataFrame,
    *,
    by: str,
    label: str,
    ratios: Mapping[str, float],
    column: str | None = None,
    cutoffs: Mapping[str, Any] | None = None,
    groups: Mapping[str, list[Any]] | None = None,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """Split rows into train, eval and test.

    Raises:
        DataError: when a split would be empty or the column does not fit the strategy.
    """
    if by == "random":
        rows = _random(frame, ratios, seed)
    elif by == "stratified":
        rows = _stratified(frame, label, ratios, seed)
    elif by == "time":
        rows = _time(frame, str(column), ratios, cutoffs)
    elif by == "group":
        rows = _group(frame, str(column), ratios, groups, seed)
    else:
        raise DataError(f"Unknown split strategy {by!r}.")
    empty = [name for name in SPLITS if len(rows[name]) == 0]
    if empty:
        sizes = ", ".join(f"{name} {len(rows[name])}" for name in SPLITS)
        raise DataError(
            f"Split by {by} leaves {', '.join(empty)} empty ({sizes} rows of {len(frame)}); "
            "adjust the ratios, cutoffs or groups."
        )
    return {name: frame.iloc[rows[name]].reset_index(drop=True) for name in SPLITS}


__all__ = ["SPLITS", "split_frame"]
