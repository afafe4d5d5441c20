"""YAML pipelines end to end: real data, real stores, real scikit-learn.

* ``trained_taxi`` (session fixture): one run of the taxi example, read only.
* ``taxi_runs``: a project of its own where the taxi example is run several
  times (again, with a changed train param, with a gate that fails, with a
  changed slice list, on changed data) to check caching and the gate.
* ``synthetic``: small generated regression/classification tables for custom
  steps, ``features:`` as list or mapping, and the task override.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from shipyard.bundle.bundle import InputError
from shipyard.client import Client
from shipyard.config.spec import CLASSIFICATION_METRICS, REGRESSION_METRICS
from shipyard.errors import ArtifactNotFound
from tests.ml.conftest import TrainedTaxi
from tests.ml.support import (
    DATA_STEPS,
    FAST,
    STEPS,
    TAXI_ROWS,
    classification_frame,
    copy_taxi,
    isolated,
    new_project,
    regression_frame,
    statuses,
)

# -- one run of the taxi example --------------------------------------------------------


def test_taxi_run_completes_every_step(trained_taxi: TrainedTaxi) -> None:
    assert trained_taxi.result.ok
    assert statuses(trained_taxi.result) == {name: "completed" for name in STEPS}
    run = trained_taxi.client.get_run(trained_taxi.run_id)
    assert run.status == "completed" and run.pipeline == "taxi-tips"


def test_taxi_rows_flow_through_the_split(trained_taxi: TrainedTaxi) -> None:
    metrics = trained_taxi.client.metrics(trained_taxi.run_id)
    assert metrics["ingest"] == {"rows": float(TAXI_ROWS), "columns": 19.0}
    assert metrics["split"] == {
        "train_rows": 2100.0, "eval_rows": 450.0, "test_rows": 450.0, "unlabeled_rows": 0.0
    }
    train = trained_taxi.output("split", "train")
    test = trained_taxi.test_rows()
    # split by time: every training trip starts before every test trip
    assert train["trip_start_timestamp"].max() <= test["trip_start_timestamp"].min()


def test_taxi_features_and_task_are_inferred(trained_taxi: TrainedTaxi) -> None:
    info = trained_taxi.output("features")
    assert info["task"] == "classification" and info["task_inferred"] is True
    columns = info["columns"]
    assert "big_tipper" not in columns and "tips" not in columns  # label, and drop
    assert columns["payment_type"] == {"type": "categorical", "inferred": True}
    assert columns["fare"] == {"type": "numeric", "inferred": True}
    assert len(columns) == 17


def test_taxi_metrics_are_recorded_for_eval_test_and_slices(trained_taxi: TrainedTaxi) -> None:
    recorded = trained_taxi.client.metrics(trained_taxi.run_id)["evaluate"]
    for split in ("eval", "test"):
        for name in CLASSIFICATION_METRICS:
            assert f"{split}.{name}" in recorded, f"{split}.{name}"
    assert recorded["test.roc_auc"] > 0.8  # the model learned something
    test = trained_taxi.test_rows()
    cash = int((test["payment_type"] == "Cash").sum())
    assert recorded["test[payment_type=Cash].rows"] == cash > 0
    assert "test[payment_type=Cash].accuracy" in recorded
    assert "test[payment_type=Credit Card].roc_auc" in recorded
    rows = [v for k, v in recorded.items() if k.startswith("test[payment_type=") and k.endswith("].rows")]
    assert sum(rows) == len(test)


def test_taxi_metrics_match_an_independent_computation(trained_taxi: TrainedTaxi) -> None:
    recorded = trained_taxi.client.metrics(trained_taxi.run_id)["evaluate"]
    evaluation = trained_taxi.output("evaluate", "predictions")
    test = trained_taxi.test_rows()
    truth = test["big_tipper"].to_numpy()
    predicted = evaluation["prediction"].to_numpy()
    assert recorded["test.accuracy"] == pytest.approx(skm.accuracy_score(truth, predicted))
    assert recorded["test.f1"] == pytest.approx(skm.f1_score(truth, predicted))
    assert recorded["test.roc_auc"] == pytest.approx(skm.roc_auc_score(truth, evaluation["proba_1"]))
    cash = (test["payment_type"] == "Cash").to_numpy()
    assert recorded["test[payment_type=Cash].accuracy"] == pytest.approx(
        skm.accuracy_score(truth[cash], predicted[cash])
    )


def test_taxi_bundle_has_run_id_data_version_and_metrics(trained_taxi: TrainedTaxi) -> None:
    client = trained_taxi.client
    record = client.find_bundle(trained_taxi.run_id)
    assert record.id == trained_taxi.bundle_id
    assert record.materializer == "model-bundle"
    bundle = client.load_bundle(trained_taxi.run_id).bundle
    ingest_output = client.step_run(trained_taxi.run_id, "ingest").outputs["output"]
    assert bundle.run_id == trained_taxi.run_id
    assert bundle.data_version == ingest_output
    assert bundle.task == "classification" and bundle.classes == [0, 1]
    assert bundle.label["name"] == "big_tipper"
    assert bundle.model_class == "sklearn.ensemble.HistGradientBoostingClassifier"
    assert bundle.model.max_iter == 30  # the --set override reached the estimator
    recorded = client.metrics(trained_taxi.run_id)["evaluate"]
    assert dict(bundle.metrics) == {k: v for k, v in recorded.items() if "[" not in k}


def test_bundle_predictions_on_raw_test_rows_equal_evaluate_predictions(trained_taxi: TrainedTaxi) -> None:
    client = trained_taxi.client
    evaluated = trained_taxi.output("evaluate", "predictions")
    test = trained_taxi.test_rows()
    assert len(evaluated) == len(test) == 450
    for ref in (trained_taxi.run_id, trained_taxi.bundle_id):
        predicted = client.load_bundle(ref).predict_frame(test)
        pd.testing.assert_frame_equal(predicted.reset_index(drop=True), evaluated, check_exact=True)


def test_preprocessing_is_fitted_on_the_train_split_only(trained_taxi: TrainedTaxi) -> None:
    preprocessor = trained_taxi.output("preprocess", "preprocessor")
    train = trained_taxi.output("split", "train")
    everything = pd.concat([train, trained_taxi.output("split", "eval"), trained_taxi.test_rows()])
    checked = 0
    for name, transformer, columns in preprocessor.transformers_:
        if not name.startswith("numeric"):
            continue
        # A column empty in train is kept and filled with 0 (keep_empty_features).
        train_medians = train[columns].median().fillna(0.0)
        medians = transformer.named_steps["impute"].statistics_
        np.testing.assert_allclose(medians, train_medians.to_numpy())
        scaler = transformer.named_steps["standard"]
        filled = train[columns].fillna(train_medians)
        np.testing.assert_allclose(scaler.mean_, filled.mean().to_numpy())
        all_medians = everything[columns].median().fillna(0.0)
        differs = ~np.isclose(scaler.mean_, everything[columns].fillna(all_medians).mean())
        assert differs.any()  # eval/test rows would have moved the means
        checked += len(columns)
    assert checked == 15
    schema = trained_taxi.output("preprocess", "schema")["columns"]
    assert schema["fare"]["max"] == pytest.approx(train["fare"].max())
    assert schema["payment_type"]["categories"] == sorted(train["payment_type"].dropna().unique())


def test_run_records_yaml_config_and_overrides(trained_taxi: TrainedTaxi) -> None:
    run = trained_taxi.client.get_run(trained_taxi.run_id)
    assert run.config["kind"] == "yaml"
    assert run.config["overrides"] == [FAST]
    assert run.config["spec"]["train"]["params"] == {"max_iter": 30}
    assert run.config["spec"]["label"] == "big_tipper"
    params = trained_taxi.client.params(trained_taxi.run_id)
    assert params["train"]["params"] == {"max_iter": 30, "random_state": 0}
    assert params["split"]["by"] == "time"


# -- caching, overrides and the gate -------------------------------------------------------


@dataclass
class TaxiRuns:
    folder: Path
    client: Client
    runs: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def taxi_runs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("taxi-runs")
    yaml = str(copy_taxi(folder))
    with isolated(), new_project(folder) as client:
        out = TaxiRuns(folder, client)
        out.runs["first"] = client.run(yaml, overrides=[FAST])
        out.runs["again"] = client.run(yaml, overrides=[FAST])
        out.runs["train_param"] = client.run(yaml, overrides=["train.params.max_iter=20"])
        out.runs["gate_fails"] = client.run(yaml, overrides=[FAST, "gate.roc_auc.min=0.999"])
        out.runs["slices"] = client.run(yaml, overrides=[FAST, "evaluate.slices=[company]"])
        data = folder / "data" / "chicago_taxi_trips.csv"
        lines = data.read_text(encoding="utf-8").splitlines(keepends=True)
        data.write_text("".join(lines[:-200]), encoding="utf-8")
        out.runs["new_data"] = client.run(yaml, overrides=[FAST])
        yield out


def bundle_of(result: Any) -> str:
    return result.steps["bundle"].outputs["output"].id


def test_second_run_is_fully_cached(taxi_runs: TaxiRuns) -> None:
    first, again = taxi_runs.runs["first"], taxi_runs.runs["again"]
    assert first.ok and again.ok
    assert statuses(again) == {name: "cached" for name in STEPS}
    assert again.run_id != first.run_id
    for name in STEPS:
        assert again.steps[name].reason == f"same key as run {first.run_id}"
        assert {k: v.id for k, v in again.steps[name].outputs.items()} == {
            k: v.id for k, v in first.steps[name].outputs.items()
        }
    assert taxi_runs.client.find_bundle(again.run_id).id == bundle_of(first)


def test_changing_a_train_param_reruns_only_train_and_after(taxi_runs: TaxiRuns) -> None:
    first, changed = taxi_runs.runs["first"], taxi_runs.runs["train_param"]
    assert changed.ok, changed.error
    assert statuses(changed) == {
        "ingest": "cached", "split": "cached", "features": "cached", "preprocess": "cached",
        **DATA_STEPS,
        "train": "completed", "evaluate": "completed", "gate": "completed", "bundle": "completed",
    }
    assert "max_iter" in changed.steps["train"].reason
    client = taxi_runs.client
    bundle = client.load_bundle(changed.run_id).bundle
    assert bundle.model.max_iter == 20
    assert bundle.run_id == changed.run_id
    assert bundle.data_version == client.load_bundle(first.run_id).bundle.data_version
    assert bundle_of(changed) != bundle_of(first)
    assert client.get_run(changed.run_id).config["overrides"] == ["train.params.max_iter=20"]
    assert client.params(changed.run_id)["train"]["params"] == {"max_iter": 20, "random_state": 0}


def test_changing_slices_reruns_only_evaluate_and_after(taxi_runs: TaxiRuns) -> None:
    result = taxi_runs.runs["slices"]
    assert result.ok, result.error
    found = statuses(result)
    # The split re-executes (its params list the columns the YAML names, slices
    # included, to check them), but its outputs are the same artifacts, so
    # everything up to the model is served from the cache.
    assert found["split"] in ("cached", "completed")
    assert result.steps["split"].outputs["train"].id == taxi_runs.runs["first"].steps["split"].outputs["train"].id
    del found["split"]
    assert found == {
        "ingest": "cached", "features": "cached", "preprocess": "cached", **DATA_STEPS,
        "train": "cached", "evaluate": "completed", "gate": "completed", "bundle": "completed",
    }
    recorded = taxi_runs.client.metrics(result.run_id)["evaluate"]
    assert any(k.startswith("test[company=") for k in recorded)
    assert not any(k.startswith("test[payment_type=") for k in recorded)


def test_changed_data_reruns_everything_with_a_new_data_version(taxi_runs: TaxiRuns) -> None:
    first, result = taxi_runs.runs["first"], taxi_runs.runs["new_data"]
    assert result.ok, result.error
    assert statuses(result) == {name: "completed" for name in STEPS}
    assert "fingerprint" in result.steps["ingest"].reason
    client = taxi_runs.client
    assert client.metrics(result.run_id)["ingest"]["rows"] == TAXI_ROWS - 200
    new_version = client.load_bundle(result.run_id).bundle.data_version
    assert new_version == client.step_run(result.run_id, "ingest").outputs["output"]
    assert new_version != client.load_bundle(first.run_id).bundle.data_version


def test_gate_failure_fails_the_run_at_the_gate(taxi_runs: TaxiRuns) -> None:
    result = taxi_runs.runs["gate_fails"]
    assert result.status == "failed"
    assert result.error_step == "gate"
    assert "eval roc_auc" in result.error
    assert "is below the minimum 0.999" in result.error
    value = taxi_runs.client.metrics(result.run_id)["evaluate"]["eval.roc_auc"]
    assert f"{value:.4g}" in result.error
    assert statuses(result) == {
        "ingest": "cached", "split": "cached", "features": "cached", "preprocess": "cached",
        **DATA_STEPS,
        "train": "cached", "evaluate": "cached", "gate": "failed", "bundle": "skipped",
    }
    assert result.steps["bundle"].outputs == {}
    run = taxi_runs.client.get_run(result.run_id)
    assert run.status == "failed" and run.error_step == "gate"


def test_gate_with_max_bound(taxi_runs: TaxiRuns) -> None:
    yaml = str(taxi_runs.folder / "pipeline.yaml")
    with isolated():
        result = taxi_runs.client.run(yaml, overrides=[FAST, "gate={log_loss: {max: 0.01}}"])
    assert result.status == "failed" and result.error_step == "gate"
    assert "eval log_loss" in result.error and "is above the maximum 0.01" in result.error


def test_gate_failure_produces_no_bundle(taxi_runs: TaxiRuns) -> None:
    result = taxi_runs.runs["gate_fails"]
    with pytest.raises(ArtifactNotFound):
        taxi_runs.client.find_bundle(result.run_id)


# -- synthetic data: custom steps, features, task ---------------------------------------------

MYFEATURES = '''
import pandas as pd


def add_ratio(frame: pd.DataFrame, numerator: str, denominator: str, name: str = "ratio") -> pd.DataFrame:
    out = frame.copy()
    out[name] = out[numerator] / out[denominator].where(out[denominator] != 0)
    return out


def add_flag(frame: pd.DataFrame, column: str, threshold: float = 0.0) -> pd.DataFrame:
    return frame.assign(flag=frame[column] > threshold)
'''


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("synthetic")
    regression_frame().to_csv(folder / "reg.csv", index=False)
    classification_frame().to_csv(folder / "cls.csv", index=False)
    (folder / "myfeatures.py").write_text(textwrap.dedent(MYFEATURES))
    with isolated(folder), new_project(folder) as client:
        yield folder, client


def run_yaml(folder: Path, client: Client, name: str, text: str, overrides: list[str] | None = None) -> Any:
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    with isolated(folder):
        result = client.run(str(path), overrides=overrides or [])
    assert result.ok, f"{result.error_step}: {result.error}"
    return result


REG = """\
name: {name}
data: reg.csv
label: y
drop: [row_id]
split: {{by: random, seed: 1}}
train: {{model: sklearn.linear_model.Ridge, params: {{alpha: 0.1}}}}
"""


def test_synthetic_regression_end_to_end(synthetic: Any) -> None:
    folder, client = synthetic
    result = run_yaml(folder, client, "reg", REG.format(name="reg"))
    assert set(result.steps) == {s for s in STEPS if s != "gate"}
    info = client.load_output(result.run_id, "features")
    assert info["task"] == "regression" and info["task_inferred"] is True
    assert {k: v["type"] for k, v in info["columns"].items()} == {
        "x1": "numeric", "x2": "numeric", "color": "categorical",
    }
    recorded = client.metrics(result.run_id)["evaluate"]
    assert {f"{s}.{m}" for s in ("eval", "test") for m in REGRESSION_METRICS} == set(recorded)
    assert recorded["test.r2"] > 0.99 and recorded["test.mae"] < 0.2
    predictor = client.load_bundle(result.run_id)
    assert predictor.bundle.classes is None
    test = client.load_output(result.run_id, "split", "test")
    evaluation = client.load_output(result.run_id, "evaluate", "predictions")
    assert list(evaluation.columns) == ["prediction"]
    predicted = predictor.predict_frame(test).reset_index(drop=True)
    pd.testing.assert_frame_equal(predicted, evaluation, check_exact=True)
    assert recorded["test.mae"] == pytest.approx(skm.mean_absolute_error(test["y"], evaluation["prediction"]))
    with pytest.raises(Exception, match="gives no class probabilities"):
        predictor.predict_proba(test)


CUSTOM_STEPS = """\
steps:
  - name: add_ratio
    run: myfeatures:add_ratio
    after: ingest
    params: {numerator: x1, denominator: x2, name: x_ratio}
  - {name: add_flag, run: "myfeatures:add_flag", after: add_ratio, params: {column: x1, threshold: 0.5}}
"""


@pytest.fixture(scope="module")
def custom_run(synthetic: Any) -> Any:
    """A run with two custom steps (myfeatures.py next to the YAML)."""
    folder, client = synthetic
    return client, run_yaml(folder, client, "custom", REG.format(name="reg-custom") + CUSTOM_STEPS)


def test_custom_steps_run_before_split_and_in_the_bundle(custom_run: Any) -> None:
    client, result = custom_run
    assert list(result.steps)[:4] == ["ingest", "add_ratio", "add_flag", "split"]
    records = {s.step: s for s in client.step_runs(result.run_id)}
    assert records["add_ratio"].inputs["frame"] == records["ingest"].outputs["output"]
    assert records["add_flag"].inputs["frame"] == records["add_ratio"].outputs["output"]
    assert records["split"].inputs["data"] == records["add_flag"].outputs["output"]
    assert records["add_ratio"].params == {"numerator": "x1", "denominator": "x2", "name": "x_ratio"}
    train = client.load_output(result.run_id, "split", "train")
    np.testing.assert_allclose(train["x_ratio"], train["x1"] / train["x2"])
    columns = client.load_output(result.run_id, "features")["columns"]
    assert columns["x_ratio"]["type"] == "numeric" and columns["flag"]["type"] == "boolean"

    predictor = client.load_bundle(result.run_id)
    assert [t["name"] for t in predictor.bundle.transforms] == ["add_ratio", "add_flag"]
    evaluation = client.load_output(result.run_id, "evaluate", "predictions")
    test = client.load_output(result.run_id, "split", "test")
    raw = test.drop(columns=["x_ratio", "flag"])  # rows as they are in reg.csv
    predicted = predictor.predict_frame(raw).reset_index(drop=True)
    pd.testing.assert_frame_equal(predicted, evaluation, check_exact=True)
    # A stale x_ratio in the input is recomputed by the bundle, not trusted.
    stale = raw.assign(x_ratio=1e6, flag=False)
    np.testing.assert_array_equal(predictor.predict(stale), evaluation["prediction"].to_numpy())


def test_custom_step_on_rows_missing_its_input_column_is_an_input_error(custom_run: Any) -> None:
    client, result = custom_run
    predictor = client.load_bundle(result.run_id)
    rows = regression_frame(5).drop(columns=["x2"])
    with pytest.raises(InputError) as info:
        predictor.predict(rows)
    assert "'x2'" in info.value.message


def test_features_list_selects_columns(synthetic: Any) -> None:
    folder, client = synthetic
    text = REG.format(name="reg-list").replace("drop: [row_id]\n", "features: [x1, color]\n")
    result = run_yaml(folder, client, "list", text)
    bundle = client.load_bundle(result.run_id).bundle
    assert dict(bundle.features) == {"x1": "numeric", "color": "categorical"}
    rows = regression_frame(20, seed=9)[["x1", "color"]]  # only the selected columns
    assert len(client.load_bundle(result.run_id).predict(rows)) == 20


def test_features_mapping_declares_types_and_infers_the_rest(synthetic: Any) -> None:
    folder, client = synthetic
    text = REG.format(name="reg-map") + "features: {color: categorical, x2: text}\npreprocess:\n  text: [hash]\n"
    result = run_yaml(folder, client, "mapping", text)
    columns = client.load_output(result.run_id, "features")["columns"]
    assert columns == {
        "x1": {"type": "numeric", "inferred": True},
        "x2": {"type": "text", "inferred": False},
        "color": {"type": "categorical", "inferred": False},
    }
    assert dict(client.load_bundle(result.run_id).bundle.features) == {
        "x1": "numeric", "x2": "text", "color": "categorical",
    }


def test_task_override(synthetic: Any) -> None:
    folder, client = synthetic
    text = """\
    name: cls-as-regression
    data: cls.csv
    label: label
    split: {by: stratified}
    train: {model: sklearn.linear_model.Ridge, task: regression}
    evaluate: {metrics: [mae, r2]}
    """
    result = run_yaml(folder, client, "task", text)
    info = client.load_output(result.run_id, "features")
    assert info["task"] == "regression" and info["task_inferred"] is False
    bundle = client.load_bundle(result.run_id).bundle
    assert bundle.task == "regression" and bundle.classes is None
    assert set(client.metrics(result.run_id)["evaluate"]) == {"eval.mae", "eval.r2", "test.mae", "test.r2"}
    # Without the override the same 0/1 label is a classification.
    inferred = run_yaml(
        folder, client, "task2", text.replace(", task: regression", "").replace("Ridge", "LogisticRegression")
        .replace("[mae, r2]", "[accuracy]").replace("cls-as-regression", "cls"),
    )
    assert client.load_output(inferred.run_id, "features")["task"] == "classification"
    assert client.load_bundle(inferred.run_id).bundle.classes == [0, 1]
    # split: {by: stratified} keeps the label's share in every split.
    shares = [
        client.load_output(inferred.run_id, "split", part)["label"].mean()
        for part in ("train", "eval", "test")
    ]
    assert shares == pytest.approx([shares[0]] * 3, abs=0.01)
