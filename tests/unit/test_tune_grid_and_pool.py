"""A grid over huge ranges costs only the combinations taken; an interrupted local search stops at once."""

from __future__ import annotations

import itertools
import time
import tracemalloc

import pandas as pd
import pytest

from shipyard.ml.tune import (
    PoolExecutor,
    TrialData,
    dimensions,
    grid_candidates,
    iter_grid,
    open_executor,
    random_candidates,
)


def test_grid_order_is_that_of_the_product_with_the_last_param_fastest() -> None:
    space = {"a": {"choice": ["x", "y", "z"]}, "b": {"int": [-1, 2]}, "c": {"choice": [True, False]}}
    dims = dimensions(space)
    expected = [
        {"a": a, "b": b, "c": c}
        for a, b, c in itertools.product(["x", "y", "z"], range(-1, 3), [True, False])
    ]
    assert grid_candidates(dims) == list(iter_grid(dims)) == expected
    assert grid_candidates(dims, 5) == expected[:5]
    assert grid_candidates(dimensions({"a": {"int": [3, 1]}})) == []


def test_a_grid_with_trials_over_huge_int_ranges_builds_only_those_trials() -> None:
    dims = dimensions({"depth": {"int": [1, 2_000_000]}, "leaves": {"int": [2, 10**12]}})
    tracemalloc.start()
    try:
        first = grid_candidates(dims, 3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert first == [{"depth": 1, "leaves": 2}, {"depth": 1, "leaves": 3}, {"depth": 1, "leaves": 4}]
    assert peak < 1 << 20, f"{peak} bytes for 3 combinations"
    # Random search in such a space never lists it either.
    assert len(random_candidates(dims, 4, seed=0)) == 4


def tiny_data() -> TrialData:
    return TrialData(
        model="sklearn.linear_model.LogisticRegression", params={}, x_train=[[0.0]], y_train=[0],
        x_eval=[[0.0]], truth=pd.DataFrame({"label": [0]}), label="label", task="classification",
        classes=[0, 1], names=("accuracy",), metric="accuracy",
    )


def test_an_interrupted_local_search_does_not_wait_for_the_running_fits() -> None:
    futures: list = []
    processes: list = []
    with pytest.raises(KeyboardInterrupt), open_executor(tiny_data(), workers=2, jobs=8) as executor:
        assert isinstance(executor, PoolExecutor)
        futures = [executor.pool.submit(time.sleep, 30) for _ in range(8)]
        deadline = time.monotonic() + 30
        while len(executor.pool._processes or {}) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        processes = list(executor.pool._processes.values())
        time.sleep(0.5)  # the first sleeps have started
        interrupted = time.monotonic()
        raise KeyboardInterrupt
    assert time.monotonic() - interrupted < 10, "the pool waited for the running trials"
    assert len(processes) == 2 and not any(p.is_alive() for p in processes)
    assert any(f.cancelled() for f in futures)
