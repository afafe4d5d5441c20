"""The compiled fast path: same answers as the reference DataFrame path, or not used at all.

``Predictor.predict_records`` (the service's path) runs the bundle's fitted
preprocessing compiled to NumPy; ``Predictor.predict_frame`` runs the fitted
scikit-learn ColumnTransformer. On many random records drawn from each
bundle's schema (gaps, unseen categories, values outside the training range)
and on real rows, both must give the same labels and probabilities (within
1e-9), or the same regression values. A bundle whose preprocessing cannot be
compiled, or whose compiled form differs, falls back to the reference path
and still predicts correctly, also behind the real HTTP service.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin

import shipyard
from shipyard.bundle.bundle import Predictor
from shipyard.bundle.fastpath import compile_fast_path, synthetic_records
from shipyard.bundle.transformers import FALSE_WORDS, TRUE_WORDS
from shipyard.serving.app import ServiceInfo, build_app, record_model
from tests.serving.support import (
    ThreadServer,
    TrainedProject,
    bikes_frame,
    many_frame,
    records,
    servable,
    taxi_training_rows,
)

BUNDLES = ("taxi", "bikes", "many", "strict")
RANDOM_ROWS = 600


@pytest.fixture(scope="module")
def predictors(trained_project: TrainedProject) -> dict[str, Predictor]:
    return {
        name: shipyard.load_bundle(trained.bundle_id, project=trained_project.folder)
        for name, trained in trained_project.bundles.items()
    }


def real_rows(name: str) -> pd.DataFrame:
    if name in ("taxi", "strict"):
        return taxi_training_rows()
    if name == "bikes":
        return bikes_frame()
    return many_frame()


def random_records(predictor: Predictor, n: int = RANDOM_ROWS, seed: int = 11) -> list[dict[str, Any]]:
    """``synthetic_records`` of the bundle's schema; booleans that are not true/false words become gaps.

    (A boolean like ``never-seen-value`` is an input error on both paths; the
    service answers 422 before it reaches either.)
    """
    features = predictor.bundle.features
    out = synthetic_records(predictor.bundle.schema, features, n, seed=seed)
    words = TRUE_WORDS | FALSE_WORDS
    for record in out:
        for name, kind in features.items():
            value = record[name]
            if kind == "boolean" and value is not None and str(value).strip().lower() not in words:
                record[name] = None
    return out


def assert_same(fast: list[dict[str, Any]], reference: pd.DataFrame, predictor: Predictor) -> None:
    """Fast-path results equal the reference frame: labels, probabilities (1e-9) or values (1e-9)."""
    assert len(fast) == len(reference)
    classes = predictor.bundle.classes
    if classes is None:
        np.testing.assert_allclose(
            [r["prediction"] for r in fast], reference["prediction"].to_numpy(float), rtol=1e-9, atol=1e-9
        )
        assert all(r["probabilities"] is None for r in fast)
        return
    assert [r["prediction"] for r in fast] == reference["prediction"].tolist()
    for c in classes:
        np.testing.assert_allclose(
            [r["probabilities"][str(c)] for r in fast], reference[f"proba_{c}"].to_numpy(float), rtol=0, atol=1e-9
        )


def test_the_every_method_bundle_has_every_method(predictors: dict[str, Predictor]) -> None:
    from sklearn.pipeline import Pipeline

    steps: dict[str, list[Any]] = {}
    for _, transformer, columns in predictors["many"].bundle.preprocessor.transformers_:
        if isinstance(transformer, Pipeline):
            for _, step in transformer.steps:
                steps.setdefault(type(step).__name__, []).append((step, list(columns)))
    assert {
        "SignedLog1p", "StandardScaler", "Clip", "KBinsDiscretizer", "Bucketize", "MinMaxScaler", "RobustScaler",
        "OrdinalEncoder", "HashEncoder", "OneHotEncoder", "DatetimeParts", "TextColumn", "TfidfVectorizer",
        "BooleanToNumber", "SimpleImputer", "AsCategory", "ToFloat",
    } <= set(steps), sorted(steps)
    onehots = {tuple(cols): step for step, cols in steps["OneHotEncoder"]}
    assert onehots[("color",)].max_categories == 4
    assert len(onehots[("color",)].categories_[0]) == 7  # the rarer colours share the "other" column
    [(parts, _)] = steps["DatetimeParts"]
    assert len(parts.parts) == 9


@pytest.mark.parametrize("name", BUNDLES)
def test_the_fast_path_is_enabled(predictors: dict[str, Predictor], name: str) -> None:
    predictor = predictors[name]
    assert predictor.fast_path is True
    assert compile_fast_path(predictor.bundle) is not None


@pytest.mark.parametrize("name", BUNDLES)
def test_random_records_agree_with_the_reference_path(predictors: dict[str, Predictor], name: str) -> None:
    predictor = predictors[name]
    rows = random_records(predictor)
    # Both kinds of awkward values are in the sample.
    assert any(v is None for r in rows for v in r.values())
    if any(k == "categorical" for k in predictor.bundle.features.values()):
        assert any(v == "never-seen-value" for r in rows for v in r.values())
    fast = predictor.predict_records(rows)
    reference = predictor.predict_frame(pd.DataFrame(rows, columns=list(predictor.bundle.features)))
    assert_same(fast, reference, predictor)


@pytest.mark.parametrize("name", BUNDLES)
def test_real_rows_agree_with_the_reference_path(predictors: dict[str, Predictor], name: str) -> None:
    """Raw records, and the records as the service validates them (dates parsed, flags as bools)."""
    predictor = predictors[name]
    frame = servable(real_rows(name), predictor).head(500)
    reference = predictor.predict_frame(frame)
    raw = records(frame, predictor.bundle.features)
    assert_same(predictor.predict_records(raw), reference, predictor)
    model = record_model(predictor)
    validated = [
        {c: getattr(model.model_validate(r), c) for c in predictor.bundle.features} for r in raw
    ]
    assert_same(predictor.predict_records(validated), reference, predictor)


def test_unseen_categories_are_counted_on_the_fast_path(predictors: dict[str, Predictor]) -> None:
    predictor = predictors["taxi"]
    rows = records(servable(taxi_training_rows(), predictor).head(4), predictor.bundle.features)
    rows[0]["company"] = "Brand New Cab Co"
    rows[1]["payment_type"] = "Bitcoin"
    rows[2]["company"] = "Another New Cab Co"
    predictor.predict_records(rows)
    assert predictor.report.unseen == {"company": 2, "payment_type": 1}
    assert predictor.report.rows == 4


# -- bundles the fast path cannot (or must not) handle ---------------------------------------


class BatchCentered(TransformerMixin, BaseEstimator):
    """A custom step whose output depends on the whole batch: the compiled one-row form differs."""

    def fit(self, X: Any, y: Any = None) -> BatchCentered:
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        values = np.asarray(X, dtype=float)
        return values - values.mean(axis=0)


def _refit(predictor: Predictor, preprocessor: Any, rows: pd.DataFrame) -> Predictor:
    """The taxi bundle with another fitted preprocessor (and a model fitted on its output)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    features = list(predictor.bundle.features)
    preprocessor.fit(rows[features])
    model = HistGradientBoostingClassifier(max_iter=10, random_state=0)
    model.fit(preprocessor.transform(rows[features]), rows["big_tipper"].to_numpy())
    return Predictor(dataclasses.replace(predictor.bundle, preprocessor=preprocessor, model=model))


def _custom_step_bundle(predictor: Predictor, rows: pd.DataFrame) -> Predictor:
    from sklearn.base import clone
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    from shipyard.bundle.transformers import ToFloat

    original = predictor.bundle.preprocessor
    transformers = [(name, clone(t), cols) for name, t, cols in original.transformers]
    transformers.append(("centered", Pipeline([
        ("as_float", ToFloat()), ("impute", SimpleImputer(strategy="median")), ("center", BatchCentered()),
    ]), ["fare", "trip_miles"]))
    return _refit(predictor, ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0), rows)


def _strict_encoder_bundle(predictor: Predictor, rows: pd.DataFrame) -> Predictor:
    """An encoder that rejects unknown categories: the fast path does not compile it."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from shipyard.bundle.transformers import AsCategory, ToFloat

    kinds = predictor.bundle.features
    numeric = [c for c, k in kinds.items() if k == "numeric"]
    categorical = [c for c, k in kinds.items() if k == "categorical"]
    return _refit(predictor, ColumnTransformer([
        ("numeric", Pipeline([
            ("as_float", ToFloat()), ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ]), numeric),
        ("categorical", Pipeline([
            ("as_category", AsCategory()), ("impute", SimpleImputer(strategy="most_frequent")),
            ("onehot", OneHotEncoder(handle_unknown="error", sparse_output=False)),
        ]), categorical),
    ], remainder="drop", sparse_threshold=0.0), rows)


@pytest.fixture(scope="module")
def fallbacks(predictors: dict[str, Predictor]) -> dict[str, Predictor]:
    rows = servable(taxi_training_rows(), predictors["taxi"])
    return {
        "custom step": _custom_step_bundle(predictors["taxi"], rows),
        "strict encoder": _strict_encoder_bundle(predictors["taxi"], rows),
    }


@pytest.mark.parametrize("kind", ["custom step", "strict encoder"])
def test_a_bundle_the_fast_path_cannot_reproduce_falls_back(
    fallbacks: dict[str, Predictor], kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    predictor = fallbacks[kind]
    with caplog.at_level(logging.INFO, logger="shipyard.bundle.fastpath"):
        assert compile_fast_path(predictor.bundle) is None
    why = {
        "custom step": "fast path disabled: it differs from the reference preprocessing",
        "strict encoder": "fast path not available: an encoder without known output blocks or that rejects unknowns",
    }[kind]
    assert why in caplog.messages
    assert predictor.fast_path is False
    frame = servable(taxi_training_rows(), predictor).sample(300, random_state=2)
    reference = predictor.predict_frame(frame)
    assert_same(predictor.predict_records(records(frame, predictor.bundle.features)), reference, predictor)
    # One record at a time is the same as in the batch (the custom step centres on its
    # batch, so only the whole-batch answer is comparable there).
    if kind == "strict encoder":
        one = frame.iloc[[5]]
        assert_same(predictor.predict_records(records(one, predictor.bundle.features)), predictor.predict_frame(one), predictor)


def test_the_service_uses_the_reference_path_when_the_fast_path_is_off(fallbacks: dict[str, Predictor]) -> None:
    """Served in-process (uvicorn in a thread): /ready says so, and /predict answers as predict_frame."""
    predictor = fallbacks["strict encoder"]
    info = ServiceInfo(name="fallback", version="v1", bundle_id="f" * 64)
    frame = servable(taxi_training_rows(), predictor).sample(40, random_state=4)
    body = records(frame, predictor.bundle.features)
    with ThreadServer(build_app(predictor, info)) as server:
        ready = httpx.get(f"{server.url}/ready", timeout=10).json()
        assert ready == {"status": "ready", "fast_path": False, "model_runtime": "sklearn"}
        answer = httpx.post(f"{server.url}/predict", json=body, timeout=30)
        single = httpx.post(f"{server.url}/predict", json=body[3], timeout=30)
    assert answer.status_code == 200, answer.text
    assert_same(answer.json()["predictions"], predictor.predict_frame(frame), predictor)
    assert single.status_code == 200, single.text
    assert_same([single.json()], predictor.predict_frame(frame.iloc[[3]]), predictor)
