"""Each preprocessing method, built by ``build_preprocessor`` and fitted on a small frame.

Expected values are computed by hand (or with NumPy from the fit frame), so a
method that silently does something else fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.bundle.io import load_sklearn, save_sklearn
from shipyard.config.spec import PreprocessSpec
from shipyard.ml.preprocess import PreprocessError, build_preprocessor


def fitted(types: dict[str, str], spec: dict[str, Any], fit: pd.DataFrame) -> Any:
    transformer = build_preprocessor(types, PreprocessSpec.model_validate(spec))
    return transformer.fit(fit[list(types)])


def apply(
    types: dict[str, str], spec: dict[str, Any], fit: pd.DataFrame, rows: pd.DataFrame | None = None
) -> np.ndarray:
    transformer = fitted(types, spec, fit)
    return transformer.transform((fit if rows is None else rows)[list(types)])


def one_column(values: list[float | None]) -> pd.DataFrame:
    return pd.DataFrame({"x": pd.Series(values, dtype=float)})


NUM = {"x": "numeric"}


# -- numbers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "filled"),
    [("mean", 26.75), ("median", 3.0), ("most_frequent", 1.0), ("constant", 0.0)],
)
def test_impute_strategies(strategy: str, filled: float) -> None:
    data = one_column([1.0, 2.0, None, 4.0, 100.0])
    out = apply(NUM, {"numeric": [{"impute": strategy}]}, data)
    assert out[:, 0].tolist() == [1.0, 2.0, filled, 4.0, 100.0]


def test_impute_constant_value() -> None:
    out = apply(NUM, {"numeric": [{"impute": {"strategy": "constant", "value": -5}}]}, one_column([1.0, None]))
    assert out[:, 0].tolist() == [1.0, -5.0]


def test_standard_scaler() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    out = apply(NUM, {"numeric": ["standard"]}, one_column(values.tolist()))
    np.testing.assert_allclose(out[:, 0], (values - values.mean()) / values.std())


def test_minmax_scaler() -> None:
    out = apply(NUM, {"numeric": ["minmax"]}, one_column([2.0, 4.0, 6.0, 10.0]))
    np.testing.assert_allclose(out[:, 0], [0.0, 0.25, 0.5, 1.0])


def test_robust_scaler_uses_median_and_iqr() -> None:
    # median 3, quartiles 2 and 4 -> (x - 3) / 2
    out = apply(NUM, {"numeric": ["robust"]}, one_column([1.0, 2.0, 3.0, 4.0, 100.0]))
    np.testing.assert_allclose(out[:, 0], [-1.0, -0.5, 0.0, 0.5, 48.5])


def test_log1p_keeps_sign() -> None:
    out = apply(NUM, {"numeric": ["log1p"]}, one_column([0.0, np.e - 1, -(np.e - 1), 99.0]))
    np.testing.assert_allclose(out[:, 0], [0.0, 1.0, -1.0, np.log(100.0)])


def test_clip() -> None:
    out = apply(NUM, {"numeric": [{"clip": {"min": 2, "max": 4}}]}, one_column([1.0, 2.5, 3.0, 9.0]))
    assert out[:, 0].tolist() == [2.0, 2.5, 3.0, 4.0]
    out = apply(NUM, {"numeric": [{"clip": {"min": 0}}]}, one_column([-3.0, 5.0]))
    assert out[:, 0].tolist() == [0.0, 5.0]


def test_bucketize_uniform_bins() -> None:
    spec = {"numeric": [{"bucketize": {"bins": 4, "strategy": "uniform"}}]}
    out = apply(NUM, spec, one_column([0.0, 1.0, 2.5, 5.0, 7.6, 10.0]))
    assert out[:, 0].tolist() == [0.0, 0.0, 1.0, 2.0, 3.0, 3.0]


def test_bucketize_quantile_bins_by_shorthand() -> None:
    out = apply(NUM, {"numeric": [{"bucketize": 2}]}, one_column([1.0, 2.0, 3.0, 4.0, 100.0, 200.0]))
    assert out[:, 0].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]


def test_bucketize_explicit_edges() -> None:
    spec = {"numeric": [{"bucketize": {"edges": [10, 2.5]}}]}  # sorted for the user
    out = apply(NUM, spec, one_column([1.0, 2.5, 3.0, 9.9, 10.0, 100.0, None]))
    assert out[:6, 0].tolist() == [0.0, 1.0, 1.0, 1.0, 2.0, 2.0]
    assert np.isnan(out[6, 0])


def test_passthrough_keeps_numbers() -> None:
    out = apply(NUM, {"numeric": ["passthrough"]}, one_column([1.0, None, 3.5]))
    assert out[0, 0] == 1.0 and np.isnan(out[1, 0]) and out[2, 0] == 3.5


def test_numbers_given_as_text_are_read_as_numbers() -> None:
    fit = one_column([1.0, 2.0, 3.0])
    rows = pd.DataFrame({"x": ["4", "5.5", None]})
    out = apply(NUM, {"numeric": ["passthrough"]}, fit, rows)
    assert out[:2, 0].tolist() == [4.0, 5.5] and np.isnan(out[2, 0])


def test_methods_chain_in_order() -> None:
    spec = {"numeric": [{"impute": "median"}, {"clip": {"max": 10}}, "minmax"]}
    out = apply(NUM, spec, one_column([0.0, None, 5.0, 100.0]))
    # median 5 fills the gap, 100 is clipped to 10, then scaled to [0, 1].
    np.testing.assert_allclose(out[:, 0], [0.0, 0.5, 0.5, 1.0])


def test_default_numeric_is_median_then_standard() -> None:
    values = [1.0, None, 3.0, 10.0]
    out = apply(NUM, {}, one_column(values))
    filled = np.array([1.0, 3.0, 3.0, 10.0])
    np.testing.assert_allclose(out[:, 0], (filled - filled.mean()) / filled.std())


# -- categories ------------------------------------------------------------------------

CAT = {"c": "categorical"}


def test_onehot_with_max_categories_uses_an_other_bucket() -> None:
    fit = pd.DataFrame({"c": ["a"] * 5 + ["b"] * 3 + ["c", "d"]})
    transformer = fitted(CAT, {"categorical": [{"onehot": 3}]}, fit)
    names = [str(n) for n in transformer.get_feature_names_out()]
    assert len(names) == 3
    assert names[0].endswith("c_a") and names[1].endswith("c_b")
    rows = pd.DataFrame({"c": ["a", "b", "c", "d", "never-seen"]})
    out = transformer.transform(rows)
    assert out.tolist() == [
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0],  # infrequent in training -> other
        [0.0, 0.0, 1.0],
        [0.0, 0.0, 1.0],  # unseen at transform -> other, no error
    ]


def test_onehot_numbers_and_text_are_one_category() -> None:
    fit = pd.DataFrame({"c": pd.Series([7, 8, 7, 8], dtype=object)})
    out = apply(CAT, {"categorical": [{"onehot": 5}]}, fit, pd.DataFrame({"c": ["7", 8.0]}))
    assert out.tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_default_categorical_imputes_most_frequent_then_onehot() -> None:
    fit = pd.DataFrame({"c": ["a", "a", "b", None]})
    out = apply(CAT, {}, fit)
    assert out.tolist() == [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]


def test_impute_constant_for_categories_adds_a_missing_category() -> None:
    fit = pd.DataFrame({"c": ["a", None, "b"]})
    transformer = fitted(CAT, {"categorical": [{"impute": "constant"}, {"onehot": 5}]}, fit)
    names = [str(n).rsplit("__", 1)[-1] for n in transformer.get_feature_names_out()]
    assert names == ["c_a", "c_b", "c_missing"]
    assert transformer.transform(fit).tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]


def test_ordinal_with_unknown_as_minus_one() -> None:
    fit = pd.DataFrame({"c": ["b", "a", "c", "a"]})
    out = apply(CAT, {"categorical": ["ordinal"]}, fit, pd.DataFrame({"c": ["a", "b", "c", "zzz", None]}))
    assert out[:, 0].tolist() == [0.0, 1.0, 2.0, -1.0, -1.0]


def test_hash_encoder_is_deterministic_and_sized() -> None:
    fit = pd.DataFrame({"c": ["a", "b", "a", "c"]})
    transformer = fitted(CAT, {"categorical": [{"hash": 8}]}, fit)
    out = transformer.transform(fit)
    assert out.shape == (4, 8)
    assert (np.abs(out).sum(axis=1) == 1).all()  # one hashed slot per value
    assert out[0].tolist() == out[2].tolist()  # same value, same slot
    assert out[0].tolist() != out[1].tolist()
    # No vocabulary: a value never seen still hashes, to the same slot every time.
    unseen = transformer.transform(pd.DataFrame({"c": ["zzz", "zzz"]}))
    assert (np.abs(unseen).sum(axis=1) == 1).all() and unseen[0].tolist() == unseen[1].tolist()


# -- dates, text, booleans ---------------------------------------------------------------


def test_datetime_parts() -> None:
    fit = pd.DataFrame({"d": ["2024-01-15 10:30:00", "2024-03-02 23:05:00", None]})
    spec = {"datetime": [{"datetime": ["year", "month", "day", "hour", "minute", "dayofweek", "quarter"]}]}
    transformer = fitted({"d": "datetime"}, spec, fit)
    out = transformer.transform(fit)
    assert out[0].tolist() == [2024, 1, 15, 10, 30, 0, 1]  # a Monday
    assert out[1].tolist() == [2024, 3, 2, 23, 5, 5, 1]  # a Saturday
    assert out[2].tolist() == [-1] * 7  # missing -> -1
    names = [str(n).rsplit("__", 1)[-1] for n in transformer.get_feature_names_out()]
    assert names[:2] == ["d_year", "d_month"]


def test_weekofyear() -> None:
    spec = {"datetime": [{"datetime": ["weekofyear"]}]}
    out = apply({"d": "datetime"}, spec, pd.DataFrame({"d": ["2024-01-01", "2024-12-30", "2024-06-15"]}))
    assert out[:, 0].tolist() == [1, 1, 24]  # ISO weeks: 30 Dec 2024 is in week 1 of 2025


def test_weekofyear_with_a_missing_date() -> None:
    spec = {"datetime": [{"datetime": ["weekofyear", "month"]}]}
    out = apply({"d": "datetime"}, spec, pd.DataFrame({"d": ["2024-01-01", None]}))
    assert out.tolist() == [[1, 1], [-1, -1]]


def test_default_datetime_parts_are_hour_dayofweek_month() -> None:
    out = apply({"d": "datetime"}, {}, pd.DataFrame({"d": ["2024-07-04 18:00"]}))
    assert out.tolist() == [[18, 3, 7]]


def test_datetime_parts_from_unix_seconds() -> None:
    stamp = int(pd.Timestamp("2024-05-06 07:00").timestamp())
    out = apply({"d": "datetime"}, {"datetime": [{"datetime": ["month", "hour"]}]}, pd.DataFrame({"d": [stamp]}))
    assert out.tolist() == [[5, 7]]


def test_tfidf() -> None:
    fit = pd.DataFrame({"t": ["the cat sat", "the dog ran", "a cat ran"]})
    transformer = fitted({"t": "text"}, {}, fit)
    vocabulary = [str(n).rsplit("__", 1)[-1] for n in transformer.get_feature_names_out()]
    assert vocabulary == ["cat", "dog", "ran", "sat", "the"]
    out = transformer.transform(pd.DataFrame({"t": ["cat cat", None, "unknown words"]}))
    assert out[0].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert out[1].tolist() == [0.0] * 5 and out[2].tolist() == [0.0] * 5
    rows = transformer.transform(fit)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0)


def test_tfidf_max_features_and_ngrams() -> None:
    fit = pd.DataFrame({"t": ["red car fast", "red car slow", "blue car fast"]})
    transformer = fitted({"t": "text"}, {"text": [{"tfidf": {"max_features": 3, "ngram_max": 2}}]}, fit)
    vocabulary = [str(n).rsplit("__", 1)[-1] for n in transformer.get_feature_names_out()]
    assert len(vocabulary) == 3 and "car" in vocabulary


def test_two_text_columns_get_their_own_vocabulary() -> None:
    fit = pd.DataFrame({"a": ["red car", "blue car"], "b": ["fast bike", "slow bike"]})
    transformer = fitted({"a": "text", "b": "text"}, {}, fit)
    names = [str(n) for n in transformer.get_feature_names_out()]
    assert len(names) == 6
    by_block: dict[str, list[str]] = {}
    for name in names:
        block, word = name.rsplit("__", 1)
        by_block.setdefault(block, []).append(word)
    assert sorted(map(sorted, by_block.values())) == [["bike", "fast", "slow"], ["blue", "car", "red"]]


@pytest.mark.parametrize(
    "values",
    [[True, False, True, False], ["yes", "no", "Yes", "NO"], [1, 0, 1, 0], ["t", "f", "T", "F"]],
)
def test_boolean_as_zero_one(values: list[object]) -> None:
    out = apply({"b": "boolean"}, {"boolean": ["boolean"]}, pd.DataFrame({"b": values}))
    assert out[:, 0].tolist() == [1.0, 0.0, 1.0, 0.0]


def test_default_boolean_imputes_most_frequent() -> None:
    out = apply({"b": "boolean"}, {}, pd.DataFrame({"b": ["yes", "yes", None, "no"]}))
    assert out[:, 0].tolist() == [1.0, 1.0, 1.0, 0.0]


def test_boolean_onehot() -> None:
    out = apply({"b": "boolean"}, {"boolean": ["onehot"]}, pd.DataFrame({"b": ["yes", "no", "yes"]}))
    assert out.tolist() == [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]  # columns: false, true


def test_column_overrides_replace_the_type_list() -> None:
    fit = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0, 3.0]})
    out = apply({"a": "numeric", "b": "numeric"}, {"columns": {"b": ["passthrough"]}}, fit)
    assert out[:, 1].tolist() == [1.0, 2.0, 3.0]  # b untouched
    np.testing.assert_allclose(out[:, 0], [-1.224745, 0.0, 1.224745], atol=1e-6)  # a standardized


# -- fitted on the fit frame only ---------------------------------------------------------


def test_statistics_come_from_the_fit_frame() -> None:
    train = one_column([1.0, 2.0, 3.0, 4.0, 5.0])
    other = one_column([None, 1000.0, 2000.0, 3000.0])
    imputed = apply(NUM, {"numeric": [{"impute": "median"}]}, train, other)
    assert imputed[:, 0].tolist() == [3.0, 1000.0, 2000.0, 3000.0]  # train median, not 2000
    scaled = apply(NUM, {"numeric": ["standard"]}, train, one_column([3.0, 5.0]))
    np.testing.assert_allclose(scaled[:, 0], [0.0, 2.0 / np.std([1, 2, 3, 4, 5])])
    minmax = apply(NUM, {"numeric": ["minmax"]}, train, one_column([9.0]))
    assert minmax[0, 0] == 2.0  # (9 - 1) / (5 - 1): the range seen in training
    bins = apply(NUM, {"numeric": [{"bucketize": {"bins": 2, "strategy": "uniform"}}]}, train, one_column([2.9, 3.1, 50.0]))
    assert bins[:, 0].tolist() == [0.0, 1.0, 1.0]


def test_categories_come_from_the_fit_frame() -> None:
    transformer = fitted(CAT, {"categorical": [{"onehot": 10}]}, pd.DataFrame({"c": ["a", "b"]}))
    out = transformer.transform(pd.DataFrame({"c": ["c", "c", "a"]}))
    assert out.shape == (3, 2)
    assert out.tolist() == [[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]]


# -- methods that do not fit a type ---------------------------------------------------------


@pytest.mark.parametrize(
    ("feature_type", "method", "column"),
    [
        ("categorical", "standard", "color"),
        ("numeric", "onehot", "amount"),
        ("numeric", "tfidf", "amount"),
        ("text", "clip", "note"),
        ("datetime", "minmax", "joined"),
        ("boolean", "hash", "member"),
        ("categorical", "datetime", "color"),
    ],
)
def test_method_not_applicable_to_type(feature_type: str, method: str, column: str) -> None:
    spec = PreprocessSpec.model_validate({feature_type: [method]})
    with pytest.raises(PreprocessError) as info:
        build_preprocessor({column: feature_type}, spec)
    assert info.value.message == f"method {method!r} does not apply to {feature_type} column {column!r}"


def test_column_override_not_applicable_names_the_column() -> None:
    spec = PreprocessSpec.model_validate({"columns": {"color": ["log1p"]}})
    with pytest.raises(PreprocessError, match="method 'log1p' does not apply to categorical column 'color'"):
        build_preprocessor({"amount": "numeric", "color": "categorical"}, spec)


def test_numeric_impute_on_categories_is_refused() -> None:
    spec = PreprocessSpec.model_validate({"categorical": [{"impute": "mean"}]})
    with pytest.raises(PreprocessError, match="impute mean needs numbers; column 'color' is categorical"):
        build_preprocessor({"color": "categorical"}, spec)


def test_every_problem_is_listed() -> None:
    spec = PreprocessSpec.model_validate({"numeric": ["onehot"], "columns": {"ghost": ["standard"]}})
    with pytest.raises(PreprocessError) as info:
        build_preprocessor({"a": "numeric", "b": "numeric"}, spec)
    message = info.value.message
    assert "preprocess.columns names 'ghost', which is not a feature (features: a, b)" in message
    assert "column 'a'" in message and "column 'b'" in message


# -- storage --------------------------------------------------------------------------------


def test_fitted_preprocessor_round_trips_through_skops(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "n": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0],
            "m": [1.0, 2.0, 3.0, 4.0, 5.0, 60.0],
            "k": [3, 1, 4, 1, 5, 9],
            "e": [0.5, 1.5, 2.5, 3.5, 4.5, 5.5],
            "c": ["a", "b", "a", None, "c", "a"],
            "o": ["x", "y", "x", "z", "y", "x"],
            "h": ["p", "q", "r", "s", "t", "u"],
            "b": ["yes", "no", "yes", "no", "yes", None],
            "d": ["2024-01-15 10:30", "2024-03-02 23:05", None, "2024-05-05", "2024-06-01", "2024-07-07"],
            "t": ["the cat sat", "the dog ran", "a cat ran", None, "dog dog", "cat"],
        }
    )
    types = {
        "n": "numeric", "m": "numeric", "k": "numeric", "e": "numeric", "c": "categorical",
        "o": "categorical", "h": "categorical", "b": "boolean", "d": "datetime", "t": "text",
    }
    spec = {
        "datetime": [{"datetime": ["year", "hour", "dayofyear"]}],
        "columns": {
            "n": [{"impute": "mean"}, "minmax"],
            "m": [{"clip": {"max": 10}}, "log1p", "robust"],
            "k": [{"bucketize": 2}],
            "e": [{"bucketize": {"edges": [1, 3]}}],
            "o": ["ordinal"],
            "h": [{"hash": 4}],
        },
    }
    transformer = fitted(types, spec, frame)
    rows = frame.assign(c=["a", "zzz", None, "b", "c", "q"])
    before = transformer.transform(rows)
    path = tmp_path / "preprocessor.skops"
    save_sklearn(transformer, path)
    loaded = load_sklearn(path)  # only trusted types: no trust needed
    after = loaded.transform(rows)
    assert before.shape == after.shape
    np.testing.assert_array_equal(before, after)
    assert list(loaded.get_feature_names_out()) == list(transformer.get_feature_names_out())
