"""The split strategies on small real DataFrames (``shipyard.ml.split.split_frame``)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from shipyard.data.sources import DataError
from shipyard.ml.split import split_frame

R70 = {"train": 0.7, "eval": 0.15, "test": 0.15}
R60 = {"train": 0.6, "eval": 0.2, "test": 0.2}


def ids(parts: dict[str, pd.DataFrame]) -> dict[str, list[int]]:
    return {name: part["id"].tolist() for name, part in parts.items()}


def assert_partition(frame: pd.DataFrame, parts: dict[str, pd.DataFrame]) -> None:
    """Every row lands in exactly one split, unchanged."""
    assert list(parts) == ["train", "eval", "test"]
    seen = [i for part in parts.values() for i in part["id"]]
    assert sorted(seen) == sorted(frame["id"])  # complete and disjoint
    for part in parts.values():
        assert list(part.columns) == list(frame.columns)
        assert part.index.equals(pd.RangeIndex(len(part)))
        expected = frame.set_index("id").loc[part["id"]].reset_index()
        pd.testing.assert_frame_equal(part, expected[frame.columns], check_dtype=False)


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 200
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "x": rng.normal(size=n),
            "label": np.where(np.arange(n) % 5 == 0, "rare", "common"),
        }
    )


# -- random -------------------------------------------------------------------------


def test_random_sizes_follow_ratios(frame: pd.DataFrame) -> None:
    parts = split_frame(frame, by="random", label="label", ratios=R70, seed=0)
    assert {k: len(v) for k, v in parts.items()} == {"train": 140, "eval": 30, "test": 30}
    assert_partition(frame, parts)


def test_random_is_seeded_and_reproducible(frame: pd.DataFrame) -> None:
    first = split_frame(frame, by="random", label="label", ratios=R70, seed=3)
    again = split_frame(frame, by="random", label="label", ratios=R70, seed=3)
    other = split_frame(frame, by="random", label="label", ratios=R70, seed=4)
    assert ids(first) == ids(again)
    assert ids(first) != ids(other)


def test_random_shuffles(frame: pd.DataFrame) -> None:
    parts = split_frame(frame, by="random", label="label", ratios=R70, seed=0)
    # Not the first 140 rows in order: the rows are shuffled before the cut.
    assert sorted(parts["train"]["id"]) != list(range(140))


def test_random_on_other_ratios(frame: pd.DataFrame) -> None:
    parts = split_frame(frame, by="random", label="label", ratios={"train": 0.5, "eval": 0.25, "test": 0.25})
    assert [len(p) for p in parts.values()] == [100, 50, 50]


# -- stratified ----------------------------------------------------------------------


def test_stratified_keeps_class_shares(frame: pd.DataFrame) -> None:
    parts = split_frame(frame, by="stratified", label="label", ratios=R60, seed=0)
    assert_partition(frame, parts)
    overall = frame["label"].value_counts(normalize=True)
    for name, part in parts.items():
        shares = part["label"].value_counts(normalize=True)
        assert shares.to_dict() == pytest.approx(overall.to_dict(), abs=1e-9), name
    assert {k: len(v) for k, v in parts.items()} == {"train": 120, "eval": 40, "test": 40}


def test_stratified_is_seeded(frame: pd.DataFrame) -> None:
    a = split_frame(frame, by="stratified", label="label", ratios=R60, seed=1)
    b = split_frame(frame, by="stratified", label="label", ratios=R60, seed=1)
    c = split_frame(frame, by="stratified", label="label", ratios=R60, seed=2)
    assert ids(a) == ids(b) and ids(a) != ids(c)


def test_stratified_keeps_a_rare_class_in_every_split() -> None:
    # 10% positives: a random split of 50 rows could easily leave one split without any.
    frame = pd.DataFrame({"id": range(50), "label": [1 if i % 10 == 0 else 0 for i in range(50)]})
    for seed in range(5):
        parts = split_frame(frame, by="stratified", label="label", ratios=R60, seed=seed)
        assert [int(p["label"].sum()) for p in parts.values()] == [3, 1, 1]


# -- time ------------------------------------------------------------------------------


@pytest.fixture
def timed() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    days = pd.date_range("2024-01-01", periods=20, freq="D")
    order = rng.permutation(20)  # rows are not in time order
    return pd.DataFrame(
        {
            "id": np.arange(20),
            "when": days[order].strftime("%Y-%m-%d").to_numpy(),
            "stamp": (days[order].astype("int64") // 10**9).to_numpy(),
            "label": np.arange(20) % 2,
        }
    )


@pytest.mark.parametrize("column", ["when", "stamp"])
def test_time_by_ratios_puts_earliest_in_train(timed: pd.DataFrame, column: str) -> None:
    parts = split_frame(timed, by="time", label="label", ratios=R60, column=column)
    assert_partition(timed, parts)
    assert [len(p) for p in parts.values()] == [12, 4, 4]
    key = pd.to_datetime(timed["when"])
    times = {name: key[timed["id"].isin(p["id"])] for name, p in parts.items()}
    assert times["train"].max() < times["eval"].min()
    assert times["eval"].max() < times["test"].min()
    assert times["test"].max() == key.max() and times["train"].min() == key.min()


def test_time_with_date_cutoffs(timed: pd.DataFrame) -> None:
    parts = split_frame(
        timed, by="time", label="label", ratios=R60, column="when",
        cutoffs={"eval": dt.date(2024, 1, 11), "test": "2024-01-16"},
    )
    assert_partition(timed, parts)
    dates = {name: sorted(p["when"]) for name, p in parts.items()}
    assert dates["train"] == [f"2024-01-{d:02d}" for d in range(1, 11)]
    assert dates["eval"] == [f"2024-01-{d:02d}" for d in range(11, 16)]
    assert dates["test"] == [f"2024-01-{d:02d}" for d in range(16, 21)]


def test_time_with_datetime_column_and_datetime_cutoffs(timed: pd.DataFrame) -> None:
    frame = timed.assign(when=pd.to_datetime(timed["when"]))
    parts = split_frame(
        frame, by="time", label="label", ratios=R60, column="when",
        cutoffs={"eval": dt.datetime(2024, 1, 15, 12), "test": dt.datetime(2024, 1, 18)},
    )
    assert [len(p) for p in parts.values()] == [15, 2, 3]


def test_time_with_number_cutoffs() -> None:
    frame = pd.DataFrame({"id": range(10), "step": [5, 3, 9, 1, 7, 2, 8, 4, 6, 10], "label": [0, 1] * 5})
    parts = split_frame(frame, by="time", label="label", ratios=R60, column="step", cutoffs={"eval": 7, "test": 9})
    assert {k: sorted(v["step"]) for k, v in parts.items()} == {
        "train": [1, 2, 3, 4, 5, 6],
        "eval": [7, 8],
        "test": [9, 10],
    }


def test_time_cutoffs_out_of_order() -> None:
    frame = pd.DataFrame({"id": range(10), "step": range(10), "label": [0, 1] * 5})
    with pytest.raises(DataError, match="must come before the test cutoff"):
        split_frame(frame, by="time", label="label", ratios=R60, column="step", cutoffs={"eval": 8, "test": 3})


def test_time_text_cutoff_on_number_column() -> None:
    frame = pd.DataFrame({"id": range(10), "step": range(10), "label": [0, 1] * 5})
    with pytest.raises(DataError, match="cutoff 'soon' is not a number"):
        split_frame(frame, by="time", label="label", ratios=R60, column="step", cutoffs={"eval": "soon", "test": 8})


def test_time_with_missing_times_is_an_error(timed: pd.DataFrame) -> None:
    frame = timed.copy()
    frame.loc[[2, 5], "when"] = None
    with pytest.raises(DataError) as info:
        split_frame(frame, by="time", label="label", ratios=R60, column="when")
    assert "column 'when' is empty in 2 row(s)" in info.value.message


def test_time_with_values_that_are_not_times(timed: pd.DataFrame) -> None:
    frame = timed.copy()
    frame.loc[4, "when"] = "next tuesday"
    with pytest.raises(DataError, match=r"neither numbers nor dates, e\.g\. 'next tuesday'"):
        split_frame(frame, by="time", label="label", ratios=R60, column="when")


# -- group ------------------------------------------------------------------------------


@pytest.fixture
def grouped() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    stores = rng.choice([f"s{i}" for i in range(25)], size=300)
    return pd.DataFrame({"id": np.arange(300), "store": stores, "label": rng.integers(0, 2, 300)})


def test_group_never_splits_a_group(grouped: pd.DataFrame) -> None:
    parts = split_frame(grouped, by="group", label="label", ratios=R60, column="store", seed=0)
    assert_partition(grouped, parts)
    sets = {name: set(p["store"]) for name, p in parts.items()}
    assert not sets["train"] & sets["eval"]
    assert not sets["train"] & sets["test"]
    assert not sets["eval"] & sets["test"]
    # Shares are near the ratios (whole groups of ~12 rows each move together).
    shares = [len(p) / len(grouped) for p in parts.values()]
    assert shares == pytest.approx([0.6, 0.2, 0.2], abs=0.08)


def test_group_is_seeded(grouped: pd.DataFrame) -> None:
    a = split_frame(grouped, by="group", label="label", ratios=R60, column="store", seed=5)
    b = split_frame(grouped, by="group", label="label", ratios=R60, column="store", seed=5)
    c = split_frame(grouped, by="group", label="label", ratios=R60, column="store", seed=6)
    assert ids(a) == ids(b) and ids(a) != ids(c)


def test_group_with_explicit_groups(grouped: pd.DataFrame) -> None:
    parts = split_frame(
        grouped, by="group", label="label", ratios=R60, column="store",
        groups={"eval": ["s1", "s2"], "test": ["s3"]},
    )
    assert_partition(grouped, parts)
    assert set(parts["eval"]["store"]) == {"s1", "s2"}
    assert set(parts["test"]["store"]) == {"s3"}
    assert not {"s1", "s2", "s3"} & set(parts["train"]["store"])


def test_group_with_explicit_integer_groups() -> None:
    frame = pd.DataFrame({"id": range(10), "store": [1, 1, 2, 2, 3, 3, 4, 5, 5, 6], "label": [0, 1] * 5})
    parts = split_frame(frame, by="group", label="label", ratios=R60, column="store", groups={"eval": [3], "test": [4]})
    assert {k: sorted(set(v["store"])) for k, v in parts.items()} == {
        "train": [1, 2, 5, 6], "eval": [3], "test": [4],
    }


def test_group_with_explicit_integer_groups_on_a_column_with_missing_values() -> None:
    frame = pd.DataFrame(
        {"id": range(10), "store": [1, 1, 2, 2, 3, 3, 4, np.nan, 5, 5], "label": [0, 1] * 5}
    )
    parts = split_frame(frame, by="group", label="label", ratios=R60, column="store", groups={"eval": [3], "test": [4]})
    assert parts["eval"]["store"].tolist() == [3.0, 3.0]
    assert parts["test"]["store"].tolist() == [4.0]


def test_group_listed_for_eval_and_test(grouped: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"\['s1'\] listed for both eval and test"):
        split_frame(
            grouped, by="group", label="label", ratios=R60, column="store",
            groups={"eval": ["s1", "s2"], "test": ["s1"]},
        )


# -- empty splits ------------------------------------------------------------------------


def test_too_few_rows_leave_a_split_empty() -> None:
    frame = pd.DataFrame({"id": range(3), "label": [0, 1, 0]})
    with pytest.raises(DataError) as info:
        split_frame(frame, by="random", label="label", ratios=R70)
    assert info.value.message.startswith("Split by random leaves eval empty")
    assert "of 3)" in info.value.message


def test_cutoffs_after_all_data_leave_test_empty(timed: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="Split by time leaves test empty"):
        split_frame(
            timed, by="time", label="label", ratios=R60, column="when",
            cutoffs={"eval": "2024-01-10", "test": "2025-01-01"},
        )


def test_explicit_groups_absent_from_data_leave_splits_empty(grouped: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="Split by group leaves eval, test empty"):
        split_frame(
            grouped, by="group", label="label", ratios=R60, column="store",
            groups={"eval": ["nowhere"], "test": ["nothere"]},
        )


def test_single_group_cannot_be_split() -> None:
    frame = pd.DataFrame({"id": range(10), "store": ["a"] * 10, "label": [0, 1] * 5})
    with pytest.raises(DataError, match=r"leaves .* empty"):
        split_frame(frame, by="group", label="label", ratios=R60, column="store")
