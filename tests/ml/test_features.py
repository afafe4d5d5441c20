"""Feature type and task inference (``shipyard.ml.features``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shipyard.ml.features import infer_task, infer_type, resolve_features

LONG_TEXT = [
    f"rider left a long comment number {i} about the trip, the driver and the route taken"
    for i in range(40)
]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1.5, 2.25, np.nan, 4.0], "numeric"),
        ([3, 7, 1, 9, 12], "numeric"),
        ([0, 1, 2], "numeric"),
        ([-1, 1, -1], "numeric"),
        (["red", "green", "blue", "red"], "categorical"),
        (["A-1", "B-2", "C-3"], "categorical"),
        (["0", "1", "1"], "categorical"),
        (["ab", "cd"] * 20, "categorical"),
        ([True, False, True], "boolean"),
        ([0, 1, 1, 0], "boolean"),
        ([0.0, 1.0, np.nan, 1.0], "boolean"),
        (["yes", "no", "Yes", None], "boolean"),
        (["Y", "N", "Y"], "boolean"),
        (["true", "FALSE", "True"], "boolean"),
        (["2024-01-01", "2024-02-03", "2024-03-05 10:00"], "datetime"),
        (["2024/01/01", "2024/02/03", "2024/03/05"], "datetime"),
        (LONG_TEXT, "text"),
    ],
)
def test_infer_type(values: list[object], expected: str) -> None:
    assert infer_type(pd.Series(values, name="col")) == expected


def test_infer_type_of_datetime_dtype() -> None:
    assert infer_type(pd.Series(pd.date_range("2024-01-01", periods=3))) == "datetime"


def test_infer_type_of_bool_dtype_with_missing_values() -> None:
    assert infer_type(pd.Series([True, None, False], dtype="boolean")) == "boolean"


def test_long_but_repeated_strings_are_categorical() -> None:
    repeated = [LONG_TEXT[0], LONG_TEXT[1]] * 20
    assert infer_type(pd.Series(repeated)) == "categorical"


def test_mostly_unparseable_date_like_strings_are_categorical() -> None:
    codes = ["2024-01-01"] + [f"X-{i}:{i}" for i in range(19)]
    assert infer_type(pd.Series(codes)) == "categorical"


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": [1.5, 2.0, 3.5, 4.0],
            "color": ["red", "blue", "red", "green"],
            "member": ["yes", "no", "no", "yes"],
            "joined": ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"],
            "zip": [60601, 60602, 60603, 60604],
            "label": [0, 1, 0, 1],
        }
    )


def test_resolve_features_infers_every_column_but_the_label() -> None:
    found = resolve_features(frame(), label="label")
    assert found == {
        "amount": {"type": "numeric", "inferred": True},
        "color": {"type": "categorical", "inferred": True},
        "member": {"type": "boolean", "inferred": True},
        "joined": {"type": "datetime", "inferred": True},
        "zip": {"type": "numeric", "inferred": True},
    }


def test_resolve_features_drop() -> None:
    found = resolve_features(frame(), label="label", drop=["zip", "joined"])
    assert list(found) == ["amount", "color", "member"]


def test_declared_types_win_over_inference() -> None:
    found = resolve_features(frame(), label="label", types={"zip": "categorical", "amount": None})
    assert found["zip"] == {"type": "categorical", "inferred": False}
    assert found["amount"] == {"type": "numeric", "inferred": True}  # null: infer
    # Columns the mapping leaves out are features too, with inferred types.
    assert found["color"] == {"type": "categorical", "inferred": True}
    assert list(found) == ["amount", "color", "member", "joined", "zip"]


def test_list_selects_columns_in_its_order() -> None:
    found = resolve_features(frame(), label="label", select=["zip", "color"])
    assert found == {
        "zip": {"type": "numeric", "inferred": True},
        "color": {"type": "categorical", "inferred": True},
    }


def test_mapping_with_drop() -> None:
    found = resolve_features(frame(), label="label", types={"member": "categorical"}, drop=["joined"])
    assert list(found) == ["amount", "color", "member", "zip"]
    assert found["member"] == {"type": "categorical", "inferred": False}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0, 1, 1, 0], "classification"),
        ([True, False, True], "classification"),
        (["cat", "dog", "cat"], "classification"),
        (["yes", "no"], "classification"),
        ([0, 1, 2, 3, 4], "classification"),
        ([1.5, 2.25, 3.0], "regression"),
        (list(range(100)), "regression"),
        ([float(i) for i in range(50)], "regression"),
    ],
)
def test_infer_task(values: list[object], expected: str) -> None:
    assert infer_task(pd.Series(values, name="y")) == expected


def test_counts_with_many_values_are_regression() -> None:
    counts = pd.Series(np.random.default_rng(0).poisson(40, size=500), name="cnt")
    assert counts.nunique() > 20
    assert infer_task(counts) == "regression"


def test_task_of_a_real_label_column() -> None:
    from tests.ml.support import BIKES, taxi_rows

    assert infer_task(taxi_rows(500)["big_tipper"]) == "classification"
    bikes = pd.read_csv(BIKES / "data" / "bike_sharing_hourly.csv", nrows=500)
    assert infer_task(bikes["cnt"]) == "regression"
    assert infer_type(bikes["dteday"]) == "datetime"
    assert infer_type(bikes["workingday"]) == "boolean"
