"""Hyperparameter search in YAML pipelines (``tune:``), end to end.

Real projects in tmp folders, a small seeded synthetic table, small models.
Trials run in this process, in a local process pool and on a real Dask
``LocalCluster`` of worker processes; each way must pick the same best values.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.client import Client
from shipyard.config.yamlio import ConfigError
from shipyard.engine.cluster import ENV_ADDRESS
from shipyard.ml.compile import load_yaml_pipeline
from tests.ml.support import (
    assert_user_error,
    classification_frame,
    cli,
    isolated,
    new_project,
)

HEAD = """\
name: shop
data: data.csv
label: label
train: {model: sklearn.ensemble.HistGradientBoostingClassifier, params: {max_iter: 15}}
"""
SEARCH = HEAD + """\
tune:
  method: random
  trials: 6
  metric: roc_auc
  seed: 0
  workers: 1
  space:
    learning_rate: {loguniform: [0.01, 0.3]}
    max_depth: {int: [2, 6]}
"""
FLAKY = '''\
from sklearn.linear_model import LogisticRegression


class FlakyClassifier(LogisticRegression):
    """Refuses to fit with a large C, so some trials fail."""

    def fit(self, X, y, sample_weight=None):
        if self.C > 5:
            raise ValueError(f"C={self.C} is too large for this test")
        return super().fit(X, y, sample_weight)
'''


def make_folder(folder: Path, yaml: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    classification_frame(400).to_csv(folder / "data.csv", index=False)
    (folder / "pipeline.yaml").write_text(textwrap.dedent(yaml), encoding="utf-8")
    (folder / "flaky.py").write_text(FLAKY, encoding="utf-8")
    return folder / "pipeline.yaml"


@dataclass
class Searched:
    folder: Path
    yaml: Path
    client: Client
    run_id: str

    def run(self, *overrides: str, cache: bool = True):
        result = self.client.run(str(self.yaml), overrides=list(overrides), cache=cache)
        assert result.ok, result.error
        return result

    def best(self, run_id: str) -> dict:
        return self.client.load_output(run_id, "tune", "best")


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Searched]:
    """One project with one completed random search (6 trials, in this process)."""
    folder = tmp_path_factory.mktemp("tune")
    yaml = make_folder(folder, SEARCH)
    with isolated(folder):
        client = new_project(folder)
        result = client.run(str(yaml))
        assert result.ok, result.error
        try:
            yield Searched(folder, yaml, client, result.run_id)
        finally:
            client.close()


# -- the search and its records ------------------------------------------------------


def test_trials_are_child_runs_and_the_best_values_are_refitted(searched):
    client = searched.client
    run = client.get_run(searched.run_id)
    steps = [s["name"] for s in run.graph["steps"]]
    assert steps.index("validate") < steps.index("tune") < steps.index("train")

    trials = client.trials(run)
    assert len(trials) == 6
    assert {t.run.parent_id for t in trials} == {run.id}
    assert all(t.run.kind == "trial" and t.run.status == "completed" for t in trials)
    assert sorted(t.run.config["trial"] for t in trials) == list(range(6))
    for child in trials:
        values = child.params["tune"]
        assert set(values) == {"learning_rate", "max_depth"}
        assert 0.01 <= values["learning_rate"] <= 0.3 and 2 <= values["max_depth"] <= 6
        assert {"eval.roc_auc", "eval.accuracy", "eval.log_loss"} <= set(child.metrics["tune"])
        assert child.run.config["value"] == child.metrics["tune"]["eval.roc_auc"]
        assert child.run.orchestrator == "inline"
    values = [t.run.config["value"] for t in trials]
    assert values == sorted(values, reverse=True)  # best first
    chosen = [t for t in trials if t.run.config["chosen"]]
    assert chosen == [trials[0]]

    best = searched.best(run.id)
    assert best["trial"] == chosen[0].run.config["trial"]
    assert best["params"] == {**chosen[0].params["tune"], "random_state": 0}
    assert best["metric"] == "eval.roc_auc" and best["direction"] == "max"

    # The train step refits with those values; evaluate then scores exactly the best trial.
    bundle = client.load_output(run.id, "train")
    params = bundle.model.get_params()
    assert params["learning_rate"] == best["params"]["learning_rate"]
    assert params["max_depth"] == best["params"]["max_depth"]
    assert params["max_iter"] == 15  # train.params still apply
    metrics = client.metrics(run)
    assert metrics["evaluate"]["eval.roc_auc"] == pytest.approx(best["value"], abs=1e-12)
    assert metrics["tune"] == {
        "best_roc_auc": best["value"], "trials": 6.0, "failed_trials": 0.0,
        "best_trial": float(best["trial"]),
    }
    # Child runs are not ordinary runs.
    assert [r.id for r in client.runs()] == [run.id]
    assert client.get_run("latest").id == run.id
    assert client.trials(trials[0].run) == []


def test_an_unchanged_rerun_is_cached_and_a_new_search_reruns(searched):
    again = searched.run()
    assert again.steps["tune"].status == "cached"
    assert again.steps["train"].status == "cached"
    # The cached run shows the trials of the run that made them.
    trials = searched.client.trials(again.run_id)
    assert {t.run.parent_id for t in trials} == {searched.run_id}

    longer = searched.run("tune.trials=8")
    assert longer.steps["tune"].status == "completed"
    assert "trials 6 -> 8" in longer.steps["tune"].reason
    first = {t.run.config["trial"]: t.params for t in searched.client.trials(searched.run_id)}
    second = {t.run.config["trial"]: t.params for t in searched.client.trials(longer.run_id)}
    assert len(second) == 8
    assert {n: second[n] for n in first} == first  # the first six trials are the same

    space = searched.run("tune.space.max_depth={int: [2, 3]}")
    assert space.steps["tune"].status == "completed"
    assert "space.max_depth.int" in space.steps["tune"].reason


def test_pool_and_dask_pick_the_same_best_values(searched, monkeypatch):
    from shipyard.engine.cluster import connect

    expected = searched.best(searched.run_id)
    pooled = searched.run("tune.workers=2")
    assert pooled.steps["tune"].status == "completed"
    assert searched.best(pooled.run_id) == expected
    assert {t.run.orchestrator for t in searched.client.trials(pooled.run_id)} == {"processes"}

    with connect("local", n_workers=2) as dask:
        monkeypatch.setenv(ENV_ADDRESS, dask.scheduler.address)
        on_dask = searched.run(cache=False)
        # A search running inside a Dask task (as the dask orchestrator runs
        # steps) submits its trials from the worker, to the same cluster.
        from shipyard.ml.tune import best_of, search

        data = _trial_data(searched, on_dask.run_id)
        space = searched.client.get_run(on_dask.run_id).config["spec"]["tune"]["space"]
        results = dask.submit(search, data, space, method="random", trials=6, seed=0).result()
    assert searched.best(on_dask.run_id) == expected
    trials = searched.client.trials(on_dask.run_id)
    assert {t.run.orchestrator for t in trials} == {"dask"}
    assert [r["executor"] for r in results] == ["dask"] * 6
    assert best_of(results, "max")["params"] == {
        k: v for k, v in expected["params"].items() if k != "random_state"
    }


def _trial_data(searched: Searched, run_id: str):
    from shipyard.ml.tune import prepare

    client = searched.client
    return prepare(
        client.load_output(run_id, "split", "train"),
        client.load_output(run_id, "split", "eval"),
        preprocessor=client.load_output(run_id, "preprocess", "preprocessor"),
        features=client.load_output(run_id, "features"),
        label="label",
        model="sklearn.ensemble.HistGradientBoostingClassifier",
        params={"max_iter": 15},
        space={},
        metric="roc_auc",
        seed=0,
    )[0]


def test_runs_show_lists_trials_best_first(searched):
    shown = cli("runs", "show", searched.run_id, cwd=searched.folder)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "Trials: 6 by eval.roc_auc, higher is better" in out
    rows = [line for line in out.splitlines() if "completed" in line and "│" in line]
    trial_rows = [r for r in rows if r.count("│") > 8][-6:]
    values = [float(r.split("│")[4]) for r in trial_rows]
    assert values == sorted(values, reverse=True)
    assert "★" in trial_rows[0] and not any("★" in r for r in trial_rows[1:])

    data = json.loads(cli("runs", "show", searched.run_id, "--json", cwd=searched.folder).stdout)
    assert data["trials"][0]["config"]["trial"] == searched.best(searched.run_id)["trial"]

    listed = cli("runs", "list", "--json", cwd=searched.folder).stdout
    assert all(r["parent_id"] is None for r in json.loads(listed))
    everything = json.loads(cli("runs", "list", "--all", "--json", "-n", "100", cwd=searched.folder).stdout)
    assert sum(1 for r in everything if r["parent_id"] == searched.run_id) == 6

    child = data["trials"][0]["id"]
    shown_child = cli("runs", "show", child, cwd=searched.folder).stdout
    assert f"part of       run {searched.run_id}" in shown_child
    assert "the chosen one" in shown_child and "learning_rate =" in shown_child


# -- other methods, failures -----------------------------------------------------------


def test_grid_and_optuna_searches(tmp_path):
    yaml = make_folder(tmp_path, HEAD + """\
tune:
  method: grid
  metric: accuracy
  workers: 1
  space:
    max_depth: {choice: [2, 4]}
    max_leaf_nodes: {int: [3, 5]}
""")
    with isolated(tmp_path), new_project(tmp_path) as client:
        grid = client.run(str(yaml))
        assert grid.ok, grid.error
        trials = client.trials(grid.run_id)
        combos = sorted((t.params["tune"]["max_depth"], t.params["tune"]["max_leaf_nodes"]) for t in trials)
        assert combos == [(d, n) for d in (2, 4) for n in (3, 4, 5)]
        ordered = sorted(trials, key=lambda t: t.run.config["trial"])
        assert [t.params["tune"]["max_leaf_nodes"] for t in ordered] == [3, 4, 5, 3, 4, 5]

        overrides = ["tune.method=optuna", "tune.trials=4", "tune.batch=2",
                     "tune.space={learning_rate: {loguniform: [0.01, 0.3]}, max_depth: {int: [2, 6]}}"]
        first = client.run(str(yaml), overrides=overrides)
        second = client.run(str(yaml), overrides=overrides, cache=False)
        assert first.ok and second.ok, (first.error, second.error)
        params = [
            [t.params for t in sorted(client.trials(r.run_id), key=lambda t: t.run.config["trial"])]
            for r in (first, second)
        ]
        assert len(params[0]) == 4 and params[0] == params[1]
        assert client.load_output(first.run_id, "tune", "best") == client.load_output(
            second.run_id, "tune", "best"
        )


def test_a_failing_trial_is_recorded_and_the_search_goes_on(tmp_path):
    yaml = make_folder(tmp_path, """\
name: flaky
data: data.csv
label: label
train: {model: flaky.FlakyClassifier}
tune:
  method: grid
  metric: log_loss
  workers: 2
  space:
    C: {choice: [0.1, 10.0, 1.0]}
""")
    with isolated(tmp_path), new_project(tmp_path) as client:
        result = client.run(str(yaml))
        assert result.ok, result.error
        trials = client.trials(result.run_id)
        assert [t.run.status for t in trials] == ["completed", "completed", "failed"]
        failed = trials[-1]
        assert failed.run.config["trial"] == 1 and failed.params == {"tune": {"C": 10.0}}
        assert "C=10.0 is too large for this test" in failed.run.error
        assert failed.run.config["value"] is None and failed.metrics == {}
        values = [t.run.config["value"] for t in trials[:2]]
        assert values == sorted(values)  # log_loss: lower is better, so first
        assert client.metrics(result.run_id)["tune"]["failed_trials"] == 1

        everything = client.run(str(yaml), overrides=["tune.space.C={choice: [10.0, 20.0]}", "tune.workers=1"])
        assert not everything.ok
        assert everything.error_step == "tune"
        assert "All 2 trials of the search failed: trial 0: ValueError: C=10.0 is too large" in everything.error
        assert "trial 1: ValueError: C=20.0" in everything.error
        assert everything.steps["train"].status == "skipped"


# -- config errors ---------------------------------------------------------------------


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("tune", "needle", "message"),
    [
        ("tune: {method: grd, space: {max_depth: {int: [2, 4]}}}", "tune:",
         "tune.method: 'grd' is not one of grid, random, optuna; did you mean 'grid'?"),
        ("tune:\n  space:\n    learning_rate: {loguniform: [0, 0.3]}\n", "learning_rate",
         "loguniform range [0, 0.3]: both bounds must be above 0"),
        ("tune:\n  space:\n    max_depth: {int: [8, 2]}\n", "max_depth",
         "int range [8, 2]: the lower bound must be below the upper one"),
        ("tune:\n  space:\n    max_dept: {int: [2, 8]}\n", "max_dept",
         "takes no param 'max_dept'; did you mean 'max_depth'?"),
        ("tune:\n  space:\n    learning_rate: {choice: [0.1, -1]}\n", "learning_rate",
         "learning_rate = -1 is refused by the model"),
        ("tune:\n  metric: rmse\n  space:\n    max_depth: {int: [2, 8]}\n", "metric",
         "metric 'rmse' is not computed for classification; use one of accuracy"),
        ("tune:\n  method: grid\n  space:\n    learning_rate: {uniform: [0.01, 0.3]}\n", "learning_rate",
         "a grid takes choice or int values; 'learning_rate' is uniform"),
        ("tune:\n  space:\n    max_depth: {integer: [2, 8]}\n", "max_depth",
         "unknown search space 'integer'; did you mean 'int'?"),
        ("tune:\n  trials: 0\n  space:\n    max_depth: {int: [2, 8]}\n", "trials",
         "tune.trials: Input should be greater than or equal to 1"),
    ],
)
def test_a_bad_tune_block_is_a_config_error_with_its_line(tmp_path, monkeypatch, tune, needle, message):
    text = HEAD + tune
    make_folder(tmp_path, text)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_yaml_pipeline("pipeline.yaml")
    (problem,) = info.value.problems
    assert problem.startswith(f"pipeline.yaml:{line_of(text, needle)}: "), problem
    assert message in problem


def test_the_cli_reports_a_bad_tune_block_with_exit_code_2(tmp_path):
    text = HEAD + "tune:\n  space:\n    max_dept: {int: [2, 8]}\n"
    make_folder(tmp_path, text)
    result = cli("run", "pipeline.yaml", cwd=tmp_path)
    assert_user_error(
        result, f"pipeline.yaml:{line_of(text, 'max_dept')}:", "did you mean 'max_depth'?"
    )
