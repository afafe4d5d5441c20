"""Model bundles: the Predictor on raw rows, storage round trips, safe loading.

Most tests read the session's trained taxi bundle. The safe-loading tests
build a bundle whose model is a custom estimator class from a user module,
in a project of their own.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shipyard
from shipyard.bundle.bundle import InputError, Predictor
from shipyard.client import Client
from shipyard.errors import UnsafeArtifactError
from tests.ml.conftest import TrainedTaxi
from tests.ml.support import (
    TRACEBACK,
    assert_user_error,
    classification_frame,
    cli,
    isolated,
    new_project,
    taxi_rows,
)


@pytest.fixture(scope="module")
def predictor(trained_taxi: TrainedTaxi) -> Predictor:
    return trained_taxi.client.load_bundle(trained_taxi.run_id)


@pytest.fixture
def rows() -> pd.DataFrame:
    """Raw trips as they are in the CSV file (with the label and the dropped column)."""
    return taxi_rows(60)


# -- the input schema -------------------------------------------------------------------


def test_missing_column_is_named(predictor: Predictor, rows: pd.DataFrame) -> None:
    with pytest.raises(InputError) as info:
        predictor.predict(rows.drop(columns=["fare", "company"]))
    message = info.value.message
    assert message.startswith("Missing column(s) 'fare', 'company'; the model needs [")
    assert "'payment_type'" in message  # lists what it needs


def test_text_in_a_numeric_column_is_named(predictor: Predictor, rows: pd.DataFrame) -> None:
    bad = rows.astype({"fare": object})
    bad.loc[7, "fare"] = "cheap"
    with pytest.raises(InputError) as info:
        predictor.predict(bad)
    assert info.value.message == "column 'fare': expected numbers, found 'cheap' (row 7)"


def test_every_wrong_column_is_named(predictor: Predictor, rows: pd.DataFrame) -> None:
    bad = rows.astype({"fare": object, "trip_seconds": object})
    bad.loc[3, "fare"] = "n/a"
    bad.loc[5, "trip_seconds"] = "long"
    with pytest.raises(InputError) as info:
        predictor.predict_frame(bad)
    assert "column 'fare'" in info.value.message and "column 'trip_seconds'" in info.value.message


def test_numbers_as_text_and_missing_values_are_accepted(predictor: Predictor, rows: pd.DataFrame) -> None:
    expected = predictor.predict(rows)
    as_text = rows.astype({"fare": str, "trip_miles": str})
    np.testing.assert_array_equal(predictor.predict(as_text), expected)
    gaps = rows.copy()
    gaps.loc[:5, ["fare", "company", "payment_type"]] = np.nan
    assert len(predictor.predict(gaps)) == len(rows)


def test_unseen_categories_go_to_the_other_bucket_and_are_counted(
    predictor: Predictor, rows: pd.DataFrame
) -> None:
    preprocessor = predictor.bundle.preprocessor
    encoders = [
        (t.named_steps["onehot"], cols)
        for name, t, cols in preprocessor.transformers_
        if name.startswith("categorical")
    ]
    [(encoder, columns)] = encoders
    position = columns.index("company")
    infrequent = encoder.infrequent_categories_[position]
    assert infrequent is not None and len(infrequent) > 0  # the taxi data has many small companies
    rare = str(infrequent[0])

    unseen = rows.head(6).copy()
    unseen["company"] = ["Brand New Cab Co"] * 3 + [rare] * 3
    unseen.loc[unseen.index[:2], "payment_type"] = "Bitcoin"
    matrix = predictor.transform(unseen)
    assert predictor.report.unseen == {"company": 3, "payment_type": 2}
    assert predictor.report.rows == 6
    # An unseen company is encoded exactly like an infrequent one: the "other" column.
    same_trip = unseen.iloc[[3]].assign(company="Brand New Cab Co")
    np.testing.assert_array_equal(predictor.transform(same_trip)[0], matrix[3])
    names = [str(n) for n in preprocessor.get_feature_names_out()]
    other = names.index(next(n for n in names if n.endswith("company_infrequent_sklearn")))
    assert matrix[:, other].tolist() == [1.0] * 6
    # The report describes the last batch only.
    predictor.predict(rows)
    assert predictor.report.unseen == {}


def test_extra_columns_are_ignored_and_reported(predictor: Predictor, rows: pd.DataFrame) -> None:
    expected = predictor.predict_frame(rows)
    extra = rows.assign(trip_id=range(len(rows)), note="hello")
    pd.testing.assert_frame_equal(predictor.predict_frame(extra), expected)
    assert predictor.report.extra_columns == ["tips", "big_tipper", "trip_id", "note"]
    shuffled = extra[list(reversed(extra.columns))]  # column order does not matter
    pd.testing.assert_frame_equal(predictor.predict_frame(shuffled), expected)


def test_predict_proba_has_one_column_per_class(predictor: Predictor, rows: pd.DataFrame) -> None:
    proba = predictor.predict_proba(rows)
    classes = predictor.bundle.classes
    assert classes == [0, 1]
    assert list(proba.columns) == [str(c) for c in classes]
    assert proba.index.equals(rows.index)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    labels = np.asarray(classes)[proba.to_numpy().argmax(axis=1)]
    np.testing.assert_array_equal(labels, predictor.predict(rows))
    frame = predictor.predict_frame(rows)
    assert list(frame.columns) == ["prediction", "proba_0", "proba_1"]
    np.testing.assert_allclose(frame[["proba_0", "proba_1"]].to_numpy(), proba.to_numpy())


def test_predictions_keep_the_row_index(predictor: Predictor, rows: pd.DataFrame) -> None:
    indexed = rows.set_index(pd.Index([f"trip-{i}" for i in range(len(rows))]))
    frame = predictor.predict_frame(indexed)
    assert frame.index.equals(indexed.index)
    np.testing.assert_array_equal(frame["prediction"].to_numpy(), predictor.predict(rows))


# -- storage round trips ---------------------------------------------------------------------


def test_bundle_round_trip_through_the_artifact_store(trained_taxi: TrainedTaxi, rows: pd.DataFrame) -> None:
    client = trained_taxi.client
    by_run = client.load_bundle(trained_taxi.run_id)
    by_id = client.load_bundle(trained_taxi.bundle_id)
    by_prefix = client.load_bundle(trained_taxi.bundle_id[:16])
    by_latest = shipyard.load_bundle("latest", project=trained_taxi.folder)
    expected = by_run.predict_frame(rows)
    for other in (by_id, by_prefix, by_latest):
        pd.testing.assert_frame_equal(other.predict_frame(rows), expected, check_exact=True)
        assert other.bundle.metadata() == by_run.bundle.metadata()


def test_bundle_round_trip_through_an_exported_folder(
    trained_taxi: TrainedTaxi, rows: pd.DataFrame, tmp_path: Path
) -> None:
    target = tmp_path / "exported"
    result = cli("artifacts", "export", trained_taxi.bundle_id[:16], str(target), cwd=trained_taxi.folder)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in target.iterdir()) == [
        "bundle.json", "model.skops", "preprocessor.skops", "schema.json", "statistics.json"
    ]
    meta = json.loads((target / "bundle.json").read_text())
    assert meta["run_id"] == trained_taxi.run_id
    assert meta["data_version"] == trained_taxi.client.step_run(trained_taxi.run_id, "ingest").outputs["output"]
    assert meta["label"] == {"name": "big_tipper", "task": "classification", "classes": [0, 1]}

    loaded = shipyard.load_bundle(target)
    also = shipyard.load_bundle(str(target))
    expected = trained_taxi.client.load_bundle(trained_taxi.bundle_id).predict_frame(rows)
    pd.testing.assert_frame_equal(loaded.predict_frame(rows), expected, check_exact=True)
    pd.testing.assert_frame_equal(also.predict_frame(rows), expected, check_exact=True)
    evaluated = trained_taxi.output("evaluate", "predictions")
    pd.testing.assert_frame_equal(
        loaded.predict_frame(trained_taxi.test_rows()).reset_index(drop=True), evaluated, check_exact=True
    )


def test_exported_bundle_predicts_through_the_cli(trained_taxi: TrainedTaxi, tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    trained_taxi.client.export_artifact(trained_taxi.bundle_id, target)
    rows = taxi_rows(30)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    out_file = tmp_path / "out.csv"
    result = cli(
        "predict", str(target), "--input", str(tmp_path / "rows.csv"), "--output", str(out_file),
        cwd=trained_taxi.folder,
    )
    assert result.returncode == 0, result.stderr
    out = pd.read_csv(out_file)
    expected = shipyard.load_bundle(target).predict_frame(rows)
    np.testing.assert_array_equal(out["prediction"].to_numpy(), expected["prediction"].to_numpy())
    np.testing.assert_allclose(out["proba_1"], expected["proba_1"])


def test_exported_bundle_predicts_outside_any_project(trained_taxi: TrainedTaxi, tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    trained_taxi.client.export_artifact(trained_taxi.bundle_id, target)
    taxi_rows(10).to_csv(tmp_path / "rows.csv", index=False)
    result = cli("predict", str(target), "--input", "rows.csv", "--output", "out.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(pd.read_csv(tmp_path / "out.csv")) == 10


# -- safe loading ---------------------------------------------------------------------------

TINYMODELS = '''
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class Majority(ClassifierMixin, BaseEstimator):
    """Predicts the most frequent class (a custom estimator class)."""

    _parameter_constraints: dict = {}

    def __init__(self, bias: float = 0.0):
        self.bias = bias

    def fit(self, X, y):
        y = np.asarray(y, dtype=int)
        self.classes_ = np.unique(y)
        self.majority_ = int(np.bincount(y).argmax())
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


class Plain(BaseEstimator):
    """A minimal estimator, as most users would write one."""

    def __init__(self, k: int = 1):
        self.k = k

    def fit(self, X, y):
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)
'''

UNSAFE_PIPELINE = '''
from __future__ import annotations

import pandas as pd

from shipyard import pipeline, step
from shipyard.bundle.bundle import ModelBundle
from shipyard.bundle.schema import infer_input_schema
from shipyard.config.spec import PreprocessSpec
from shipyard.ml.preprocess import build_preprocessor
from tinymodels import Majority


@step
def make_bundle() -> ModelBundle:
    frame = pd.DataFrame(
        {"x": [1.0, 2.0, 3.0, 4.0, 5.0], "shade": ["a", "b", "a", "b", "a"], "label": [0, 1, 1, 1, 0]}
    )
    types = {"x": "numeric", "shade": "categorical"}
    pre = build_preprocessor(types, PreprocessSpec()).fit(frame[list(types)])
    model = Majority().fit(pre.transform(frame[list(types)]), frame["label"])
    return ModelBundle(
        preprocessor=pre,
        model=model,
        features=types,
        schema=infer_input_schema(frame, types),
        label={"name": "label", "task": "classification", "classes": [0, 1]},
        model_class="tinymodels.Majority",
    )


@pipeline
def unsafe():
    make_bundle()
'''


class Unsafe:
    def __init__(self, folder: Path, client: Client, run_id: str, bundle_id: str) -> None:
        self.folder, self.client, self.run_id, self.bundle_id = folder, client, run_id, bundle_id


@pytest.fixture(scope="module")
def unsafe(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("unsafe")
    (folder / "tinymodels.py").write_text(textwrap.dedent(TINYMODELS))
    (folder / "unsafe_pipeline.py").write_text(textwrap.dedent(UNSAFE_PIPELINE))
    pd.DataFrame({"x": [0.5, 7.0, 2.0], "shade": ["a", "b", "zzz"]}).to_csv(folder / "rows.csv", index=False)
    with isolated(folder), new_project(folder) as client:
        result = client.run(f"{folder / 'unsafe_pipeline.py'}:unsafe")
        assert result.ok, result.error
        bundle_id = result.steps["make_bundle"].outputs["output"].id
        yield Unsafe(folder, client, result.run_id, bundle_id)


def test_custom_model_class_is_refused_without_trust(unsafe: Unsafe) -> None:
    assert unsafe.client.find_bundle(unsafe.run_id).id == unsafe.bundle_id
    for ref in (unsafe.run_id, unsafe.bundle_id):
        with pytest.raises(UnsafeArtifactError) as info:
            unsafe.client.load_bundle(ref)
        assert "tinymodels.Majority" in info.value.message
        assert "trust=True" in (info.value.hint or "")


def test_custom_model_class_loads_with_trust(unsafe: Unsafe) -> None:
    with isolated(unsafe.folder):
        predictor = unsafe.client.load_bundle(unsafe.run_id, trust=True)
    assert type(predictor.bundle.model).__name__ == "Majority"
    rows = pd.read_csv(unsafe.folder / "rows.csv")
    assert predictor.predict(rows).tolist() == [1, 1, 1]
    assert predictor.report.unseen == {"shade": 1}


def test_exported_custom_model_is_refused_without_trust(unsafe: Unsafe, tmp_path: Path) -> None:
    target = unsafe.client.export_artifact(unsafe.bundle_id, tmp_path / "b")
    with pytest.raises(UnsafeArtifactError, match=r"tinymodels\.Majority"):
        shipyard.load_bundle(target)
    with isolated(unsafe.folder):
        predictor = shipyard.load_bundle(target, trust=True)
    assert predictor.predict(pd.DataFrame({"x": [1.0], "shade": ["a"]})).tolist() == [1]


def test_cli_predict_refuses_a_custom_model_without_trust(unsafe: Unsafe) -> None:
    result = cli("predict", unsafe.run_id, "--input", "rows.csv", cwd=unsafe.folder)
    assert_user_error(result, "tinymodels.Majority", "--trust")
    assert "prediction" not in result.stdout


def test_cli_predict_with_trust_loads_a_custom_model(unsafe: Unsafe) -> None:
    result = cli("predict", unsafe.run_id, "--input", "rows.csv", "--trust", "--output", "out.csv", cwd=unsafe.folder)
    assert result.returncode == 0, result.stderr
    assert TRACEBACK not in result.stderr
    assert pd.read_csv(unsafe.folder / "out.csv")["prediction"].tolist() == [1, 1, 1]


def test_trusted_scikit_learn_bundle_needs_no_trust(trained_taxi: TrainedTaxi) -> None:
    predictor = trained_taxi.client.load_bundle(trained_taxi.bundle_id)  # no UnsafeArtifactError
    assert type(predictor.bundle.model).__name__ == "HistGradientBoostingClassifier"


def test_make_model_accepts_a_plain_custom_estimator(unsafe: Unsafe) -> None:
    from shipyard.ml.train import make_model

    # BaseEstimator has _validate_params, but a user class declares no
    # _parameter_constraints: make_model must not call it then (it used to fail
    # with AttributeError).
    with isolated(unsafe.folder):
        model = make_model("tinymodels.Plain", {"k": 3})
    assert model.k == 3 and type(model).__name__ == "Plain"


def test_yaml_pipeline_with_a_custom_model_completes_and_its_bundle_needs_trust(unsafe: Unsafe) -> None:
    classification_frame(120).to_csv(unsafe.folder / "cls.csv", index=False)
    yaml = unsafe.folder / "custom-model.yaml"
    yaml.write_text("name: custom-model\ndata: cls.csv\nlabel: label\ntrain: {model: tinymodels.Majority}\n")
    with isolated(unsafe.folder):
        result = unsafe.client.run(str(yaml))
    assert result.ok, f"{result.error_step}: {result.error}"
    with pytest.raises(UnsafeArtifactError):
        unsafe.client.load_bundle(result.run_id)
    with isolated(unsafe.folder):
        assert unsafe.client.load_bundle(result.run_id, trust=True).bundle.model_class == "tinymodels.Majority"
