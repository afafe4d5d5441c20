"""ONNX Runtime for the model: same answers as scikit-learn within the tolerance, or not used at all.

``Predictor(bundle, runtime="onnx")`` converts the bundle's model to ONNX
(skl2onnx) and runs it with ONNX Runtime behind the compiled preprocessing.
On real rows its probabilities must be within ``TOLERANCE`` of the
scikit-learn model's (ONNX computes in float32) and its labels the same except
for ties, and its regression values within ``TOLERANCE * (1 + |y|)``. A model
without an ONNX converter, or one whose ONNX answers differ, stays on
scikit-learn and says why. ``shipyard serve --onnx`` reports the runtime in
``/metadata``; ``shipyard export-onnx`` writes a file ONNX Runtime loads.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import xgboost

import shipyard
from shipyard.bundle.bundle import Predictor
from shipyard.bundle.fastpath import compile_fast_path
from shipyard.bundle.onnx import TOLERANCE, compile_onnx, convert_model
from shipyard.errors import ShipyardError
from shipyard.serving.app import ServiceInfo, build_app
from tests.serving.support import (
    Server,
    ThreadServer,
    TrainedProject,
    bikes_frame,
    cli,
    many_frame,
    records,
    servable,
    taxi_training_rows,
)

REAL_ROWS = 600


@pytest.fixture(scope="module")
def predictors(trained_project: TrainedProject) -> dict[str, Predictor]:
    """The scikit-learn predictors of the trained bundles (as ``shipyard.load_bundle`` gives them)."""
    return {
        name: shipyard.load_bundle(trained_project.bundles[name].bundle_id, project=trained_project.folder)
        for name in ("taxi", "bikes", "many")
    }


@pytest.fixture(scope="module")
def onnx_predictors(predictors: dict[str, Predictor]) -> dict[str, Predictor]:
    return {name: Predictor(p.bundle, runtime="onnx") for name, p in predictors.items()}


def real_rows(name: str, predictor: Predictor) -> pd.DataFrame:
    frame = {"taxi": taxi_training_rows, "bikes": bikes_frame, "many": many_frame}[name]()
    return servable(frame, predictor).head(REAL_ROWS)


def assert_within_tolerance(expected: list[dict[str, Any]], got: list[dict[str, Any]], classes: list[Any] | None) -> float:
    """ONNX answers match scikit-learn's: probabilities (labels but for ties) or values; the largest difference."""
    assert len(expected) == len(got)
    largest = 0.0
    for i, (a, b) in enumerate(zip(expected, got, strict=True)):
        if classes is None:
            assert b["probabilities"] is None
            diff = abs(a["prediction"] - b["prediction"])
            assert diff <= TOLERANCE * (1 + abs(a["prediction"])), (i, a, b)
            largest = max(largest, diff)
            continue
        p = np.array([a["probabilities"][str(c)] for c in classes])
        q = np.array([b["probabilities"][str(c)] for c in classes])
        diff = float(np.abs(p - q).max())
        assert diff <= TOLERANCE, (i, a, b)
        largest = max(largest, diff)
        if a["prediction"] != b["prediction"]:
            top = np.sort(p)[-2:]
            assert top[1] - top[0] <= TOLERANCE, (i, a, b)
    return largest


# -- the same answers -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["taxi", "bikes", "many"])
def test_onnx_matches_scikit_learn_on_real_rows(
    name: str, predictors: dict[str, Predictor], onnx_predictors: dict[str, Predictor]
) -> None:
    reference, predictor = predictors[name], onnx_predictors[name]
    assert predictor.fast_path
    assert predictor.model_runtime == "onnx", predictor.onnx_problem
    assert predictor.onnx_problem is None
    rows = real_rows(name, reference)
    assert len(rows) >= 300
    body = records(rows, reference.bundle.features)
    expected, got = reference.predict_records(body), predictor.predict_records(body)
    largest = assert_within_tolerance(expected, got, reference.bundle.classes)
    assert largest > 0  # really computed elsewhere (float32)
    # One record at a time too (the service's usual request).
    for record, answer in zip(body[:25], expected[:25], strict=True):
        assert_within_tolerance([answer], predictor.predict_records([record]), reference.bundle.classes)


def test_the_default_runtime_is_scikit_learn(predictors: dict[str, Predictor]) -> None:
    predictor = predictors["taxi"]
    assert predictor.runtime == "sklearn"
    assert predictor.model_runtime == "sklearn"
    assert predictor.onnx_problem is None
    with pytest.raises(ShipyardError, match="Unknown model runtime 'tensorrt'"):
        Predictor(predictor.bundle, runtime="tensorrt")


# -- fallbacks ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def xgboost_bundle(predictors: dict[str, Predictor]) -> Any:
    """The taxi bundle with an XGBoost model (no converter in skl2onnx) trained on its preprocessed rows."""
    reference = predictors["taxi"]
    rows = servable(taxi_training_rows(), reference)
    classes = reference.bundle.classes
    assert classes is not None
    labels = np.asarray([classes.index(v) for v in rows["big_tipper"]])
    model = xgboost.XGBClassifier(n_estimators=15, max_depth=3, n_jobs=1).fit(reference.transform(rows), labels)
    return dataclasses.replace(reference.bundle, model=model, model_class="xgboost.XGBClassifier")


def test_a_model_without_a_converter_stays_on_scikit_learn_and_predicts(
    xgboost_bundle: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ShipyardError, match=r"Cannot convert XGBClassifier .*onnxmltools"):
        convert_model(xgboost_bundle)
    with caplog.at_level(logging.WARNING, logger="shipyard.bundle.onnx"):
        predictor = Predictor(xgboost_bundle, runtime="onnx")
        assert predictor.model_runtime == "sklearn"
    assert predictor.fast_path
    assert predictor.onnx_problem is not None and "XGBClassifier" in predictor.onnx_problem
    assert any("ONNX Runtime not used" in r.getMessage() for r in caplog.records)
    rows = real_rows("taxi", predictor).head(80)
    answers = predictor.predict_records(records(rows, xgboost_bundle.features))
    expected = predictor.predict_frame(rows)
    assert [a["prediction"] for a in answers] == expected["prediction"].tolist()
    np.testing.assert_allclose([a["probabilities"]["1"] for a in answers], expected["proba_1"], rtol=0, atol=1e-6)


def test_answers_outside_the_tolerance_are_not_used(predictors: dict[str, Predictor]) -> None:
    bundle = predictors["taxi"].bundle
    fast = compile_fast_path(bundle)
    model, reason = compile_onnx(bundle, fast, tolerance=0.0)  # float32 is never exactly float64
    assert model is None
    assert "differ" in reason and "tolerance 0" in reason
    model, reason = compile_onnx(bundle, fast)
    assert model is not None and "matches scikit-learn" in reason
    model, reason = compile_onnx(bundle, None)
    assert model is None and "fast path" in reason


# -- the service and the export -------------------------------------------------------------


def test_shipyard_serve_onnx_reports_the_runtime_and_answers_like_scikit_learn(
    project: TrainedProject, predictors: dict[str, Predictor]
) -> None:
    reference = predictors["taxi"]
    body = records(real_rows("taxi", reference).head(30), reference.bundle.features)
    with Server(project.folder, project.bundles["taxi"].run_id, "--onnx", "--no-log", name="onnx") as server, server.client() as http:
        meta = http.get("/metadata").json()
        assert meta["model_runtime"] == "onnx"
        assert http.get("/ready").json()["model_runtime"] == "onnx"
        assert meta["fast_path"] is True
        many = http.post("/predict", json=body)
        one = http.post("/predict", json=body[0])
    assert many.status_code == 200, many.text
    assert one.status_code == 200, one.text
    expected = reference.predict_records(body)
    assert_within_tolerance(expected, many.json()["predictions"], reference.bundle.classes)
    assert_within_tolerance(expected[:1], [one.json()], reference.bundle.classes)
    # Without --onnx the service says scikit-learn.
    info = ServiceInfo(name="taxi", version="v1", bundle_id="a" * 64)
    with ThreadServer(build_app(Predictor(reference.bundle), info)) as plain:
        assert httpx.get(f"{plain.url}/metadata", timeout=10).json()["model_runtime"] == "sklearn"


def test_export_onnx_writes_the_model_onnx_runtime_runs(
    project: TrainedProject, predictors: dict[str, Predictor], tmp_path: Path
) -> None:
    reference = predictors["taxi"]
    target = tmp_path / "out" / "model.onnx"
    done = cli("export-onnx", project.bundles["taxi"].run_id, "-o", str(target), cwd=project.folder)
    assert done.returncode == 0, done.stderr
    width = reference.bundle.model.n_features_in_
    assert f"float32 matrix of {width} columns" in done.stdout
    names = reference.bundle.preprocessor.get_feature_names_out()
    assert all(str(n) in done.stdout for n in names)
    assert "Checked against scikit-learn" in done.stdout
    assert [p.name for p in target.parent.iterdir()] == ["model.onnx"]  # no temporary file left
    session = ort.InferenceSession(target.read_bytes(), providers=["CPUExecutionProvider"])
    matrix = reference.transform(real_rows("taxi", reference))
    labels, proba = session.run(None, {session.get_inputs()[0].name: matrix.astype(np.float32)})
    expected = reference.bundle.model.predict_proba(matrix)
    assert np.abs(proba - expected).max() <= TOLERANCE
    ties = np.abs(expected[:, 1] - expected[:, 0]) <= TOLERANCE
    assert ((labels == reference.bundle.model.predict(matrix)) | ties).all()

    folder = cli("export-onnx", project.bundles["taxi"].run_id, "-o", str(tmp_path), cwd=project.folder)
    assert folder.returncode == 2
    assert "is a folder" in folder.stderr and "Traceback" not in folder.stderr
