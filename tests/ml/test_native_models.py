"""XGBoost and LightGBM models are stored in their native formats and predict identically."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard.client import Client

TAXI = Path(__file__).resolve().parents[2] / "examples" / "taxi" / "data" / "chicago_taxi_trips.csv"

YAML = """
name: native
data: trips.csv
label: {label}
drop: {drop}
train: {{model: {model}, params: {{n_estimators: 15}}}}
"""

CASES = [
    ("xgboost.XGBClassifier", "big_tipper", ["tips"], "model.xgb.json"),
    ("xgboost.XGBRegressor", "fare", ["tips", "big_tipper"], "model.xgb.json"),
    ("lightgbm.LGBMClassifier", "big_tipper", ["tips"], "model.lgb.txt"),
    ("lightgbm.LGBMRegressor", "fare", ["tips", "big_tipper"], "model.lgb.txt"),
]


@pytest.fixture(scope="module")
def trips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trips")
    pd.read_csv(TAXI, nrows=2000).to_csv(folder / "trips.csv", index=False)
    return folder / "trips.csv"


@pytest.mark.parametrize(("model", "label", "drop", "model_file"), CASES, ids=[c[0] for c in CASES])
def test_native_model_bundle_round_trips(
    project: Path, trips: Path, model: str, label: str, drop: list[str], model_file: str
) -> None:
    shutil.copy(trips, project / "trips.csv")
    (project / "pipeline.yaml").write_text(
        YAML.format(label=label, drop=drop, model=model)
    )
    with Client(project) as client:
        result = client.run("pipeline.yaml")
        assert result.ok, result.error
        record = client.find_bundle(result.run_id)
        files = {p.name for p in client.artifact_store.local_path(record.id).iterdir()}
        assert model_file in files and "model.skops" not in files
        predictor = client.load_bundle(result.run_id)
        rows = pd.read_csv(trips).drop(columns=[label, *drop])
        first = predictor.predict_frame(rows)
        # The evaluate step predicted the test split through the same bundle format.
        evaluated = client.load_output(result.run_id, "evaluate", "predictions")
        test_rows = client.load_output(result.run_id, "split", "test")
        again = predictor.predict_frame(test_rows)
    assert len(first) == len(rows)
    np.testing.assert_array_equal(
        again["prediction"].to_numpy(), evaluated["prediction"].to_numpy()
    )
    if label == "big_tipper":
        assert set(first["prediction"]) <= {0, 1}
        assert {"proba_0", "proba_1"} <= set(first.columns)
