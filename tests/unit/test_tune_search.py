"""Hyperparameter search without a pipeline: spaces, samplers, trials, choosing the best.

Trials fit real scikit-learn models on a small seeded synthetic problem, in
this process (the inline executor); the pipeline tests run them in process
pools and on Dask.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from shipyard.config.spec import TuneSpec
from shipyard.ml.tune import (
    Dimension,
    InlineExecutor,
    TrialData,
    TuneError,
    best_of,
    default_metric,
    describe_failures,
    dimensions,
    direction_of,
    grid_candidates,
    grid_size,
    random_candidates,
    run_trial,
    search,
)

SPACE = {
    "C": {"loguniform": [0.001, 10.0]},
    "fit_intercept": {"choice": [True, False]},
    "max_iter": {"int": [50, 60]},
}


def trial_data(n: int = 240, seed: int = 0) -> TrialData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.7, size=n) > 0).astype(int)
    cut = int(n * 0.7)
    return TrialData(
        model="sklearn.linear_model.LogisticRegression",
        params={},
        x_train=x[:cut],
        y_train=y[:cut],
        x_eval=x[cut:],
        truth=pd.DataFrame({"label": y[cut:]}),
        label="label",
        task="classification",
        classes=[0, 1],
        names=("accuracy", "roc_auc", "log_loss"),
        metric="roc_auc",
    )


def inline(data, *, workers, jobs):  # an executor factory for search()
    from contextlib import nullcontext

    return nullcontext(InlineExecutor(data))


# -- directions and defaults ---------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "expected"),
    [("roc_auc", "max"), ("accuracy", "max"), ("r2", "max"), ("f1", "max"),
     ("log_loss", "min"), ("rmse", "min"), ("mae", "min"), ("mape", "min")],
)
def test_direction_follows_the_metric(metric, expected):
    assert direction_of(metric) == expected
    other = "min" if expected == "max" else "max"
    assert direction_of(metric, other) == other


def test_default_metric_by_task():
    assert default_metric("classification", True) == "roc_auc"
    assert default_metric("classification", False) == "accuracy"
    assert default_metric("regression", False) == "rmse"


# -- spaces and samplers -------------------------------------------------------------


def test_space_forms_round_trip_through_the_spec():
    spec = TuneSpec.model_validate({"space": SPACE})
    assert spec.space_json() == SPACE
    dims = dimensions(spec.space_json())
    assert [(d.name, d.form, d.values) for d in dims] == [
        ("C", "loguniform", (0.001, 10.0)),
        ("fit_intercept", "choice", (True, False)),
        ("max_iter", "int", (50, 60)),
    ]
    assert grid_size(dims) is None
    assert grid_size(dims[1:]) == 2 * 11


def test_grid_enumerates_in_order_up_to_the_limit():
    dims = dimensions({"a": {"choice": ["x", "y"]}, "b": {"int": [1, 3]}})
    every = grid_candidates(dims)
    assert every == [
        {"a": "x", "b": 1}, {"a": "x", "b": 2}, {"a": "x", "b": 3},
        {"a": "y", "b": 1}, {"a": "y", "b": 2}, {"a": "y", "b": 3},
    ]
    assert grid_candidates(dims, 4) == every[:4]
    with pytest.raises(TuneError, match="C is continuous"):
        grid_candidates(dimensions({"C": {"uniform": [0, 1]}}))


def test_random_sampling_is_seeded_per_trial_and_stays_in_range():
    dims = dimensions(SPACE)
    first = random_candidates(dims, 12, seed=3)
    assert first == random_candidates(dims, 12, seed=3)
    # Trial i depends only on (seed, i): a longer search starts with the same trials.
    assert random_candidates(dims, 20, seed=3)[:12] == first
    assert random_candidates(dims, 12, seed=4) != first
    for candidate in first:
        assert 0.001 <= candidate["C"] <= 10.0
        assert candidate["fit_intercept"] in (True, False)
        assert isinstance(candidate["max_iter"], int) and 50 <= candidate["max_iter"] <= 60
    # Log-uniform: both decades of the range are visited, not only the top one.
    logs = [math.log10(c["C"]) for c in random_candidates(dims, 200, seed=0)]
    assert min(logs) < -2 and max(logs) > 0


def test_random_sampling_of_a_small_discrete_space_never_repeats():
    dims = dimensions({"a": {"choice": [1, 2]}, "b": {"int": [0, 1]}})
    drawn = random_candidates(dims, 10, seed=0)
    assert len(drawn) == 4  # every combination once, then no more
    assert sorted((c["a"], c["b"]) for c in drawn) == [(1, 0), (1, 1), (2, 0), (2, 1)]


def test_sampled_floats_are_short_and_inside_the_bounds():
    dim = Dimension("x", "uniform", (0.1, 0.2))
    rng = np.random.default_rng(0)
    for _ in range(50):
        value = dim.sample(rng)
        assert 0.1 <= value <= 0.2
        assert len(f"{value!r}") <= 9


# -- trials ----------------------------------------------------------------------------


def test_a_trial_fits_and_scores_on_the_eval_split():
    data = trial_data()
    result = run_trial(data, 0, {"C": 1.0})
    assert result["status"] == "completed", result["error"]
    assert set(result["metrics"]) == {"eval.accuracy", "eval.roc_auc", "eval.log_loss"}
    assert result["value"] == result["metrics"]["eval.roc_auc"] > 0.7
    assert result["params"] == {"C": 1.0}
    assert result["ended_at"] >= result["started_at"]


def test_a_failing_trial_returns_its_error():
    result = run_trial(trial_data(), 5, {"C": -1.0})
    assert result["status"] == "failed"
    assert result["number"] == 5
    assert "C" in result["error"] and result["value"] is None


def test_best_of_prefers_the_lowest_number_on_ties_and_skips_failures():
    results = [
        {"number": 0, "status": "completed", "value": 0.8},
        {"number": 1, "status": "completed", "value": 0.9},
        {"number": 2, "status": "failed", "value": None, "error": "boom"},
        {"number": 3, "status": "completed", "value": 0.9},
    ]
    assert best_of(results, "max")["number"] == 1
    assert best_of(results, "min")["number"] == 0
    assert best_of([results[2]], "max") is None
    assert describe_failures([results[2], {**results[2], "number": 4}]) == "trial 2: boom"


@pytest.mark.parametrize("method", ["grid", "random", "optuna"])
def test_a_search_is_repeatable(method):
    space = {"C": {"choice": [0.01, 0.1, 1.0, 10.0]}, "max_iter": {"int": [50, 51]}}
    if method != "grid":
        space["C"] = {"loguniform": [0.001, 10.0]}
    data = trial_data()
    kwargs = {"method": method, "trials": 6, "seed": 1, "batch": 3, "executor": inline}
    first = search(data, space, **kwargs)
    again = search(data, space, **kwargs)
    assert [r["number"] for r in first] == list(range(6))
    assert [r["params"] for r in first] == [r["params"] for r in again]
    assert [r["value"] for r in first] == [r["value"] for r in again]
    assert all(r["status"] == "completed" for r in first)
    if method == "grid":
        assert [r["params"]["C"] for r in first] == [0.01, 0.01, 0.1, 0.1, 1.0, 1.0]


def test_optuna_proposals_depend_on_the_seed():
    data = trial_data()
    space = {"C": {"loguniform": [0.001, 10.0]}}
    one = search(data, space, method="optuna", trials=4, seed=0, executor=inline)
    two = search(data, space, method="optuna", trials=4, seed=1, executor=inline)
    assert [r["params"] for r in one] != [r["params"] for r in two]


def test_a_failing_trial_does_not_stop_the_search():
    data = trial_data()
    results = search(
        data, {"C": {"choice": [1.0, -1.0, 0.5]}}, method="grid", executor=inline
    )
    assert [r["status"] for r in results] == ["completed", "failed", "completed"]
    assert best_of(results, "max")["number"] in (0, 2)


def test_a_choice_listing_a_value_twice_is_refused():
    with pytest.raises(ValueError, match=r"choice lists 1 more than once"):
        TuneSpec.model_validate({"space": {"a": {"choice": [1, 2, 1]}}})
