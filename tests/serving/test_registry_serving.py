"""Serving and predicting through the model registry: ``shipyard serve NAME@REF``, ``predict --model``.

The module's project registers the taxi bundle as ``tips`` v1 (production) and
the strict-schema taxi bundle as v2 (staging, alias ``candidate``); real
``shipyard serve`` processes on loopback ports answer for ``tips`` (its
production version) and ``tips@candidate``, and say in ``/metadata`` which
version and stage they serve.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from shipyard.client import Client
from shipyard.serving.server import ServeConfig, pinned
from tests.ml.support import assert_user_error, isolated
from tests.serving.support import (
    Server,
    TrainedProject,
    cli,
    records,
    servable,
    start_all,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registered(project: TrainedProject) -> TrainedProject:
    with isolated(project.folder), Client(project.folder) as client:
        client.models.register("tips", project.bundles["taxi"].run_id, stage="production")
        client.models.register("tips", project.bundles["strict"].bundle_id, stage="staging", alias="candidate")
    return project


def test_serve_a_registered_model_by_name_stage_and_alias(registered: TrainedProject) -> None:
    folder = registered.folder
    production = Server(folder, "tips", name="tips-production")
    candidate = Server(folder, "tips@candidate", "--no-log", name="tips-candidate")
    start_all(production, candidate)
    try:
        with production.client() as http:
            meta = http.get("/metadata").json()
            assert (meta["name"], meta["version"]) == ("tips", "1")
            assert meta["registry"] == {
                "model": "tips", "version": 1, "stage": "production", "aliases": [], "ref": "tips",
            }
            assert meta["bundle_id"] == registered.bundles["taxi"].bundle_id
            assert meta["run_id"] == registered.bundles["taxi"].run_id
            with Client(folder) as client:
                predictor = client.models.load("tips@production")
            rows = servable(pd.read_csv(folder / "data" / "chicago_taxi_trips.csv", nrows=40), predictor).head(5)
            answer = http.post("/predict", json=records(rows, predictor.bundle.features)).json()
            assert answer["model"] == {"name": "tips", "version": "1"}
            expected = predictor.predict_frame(rows)["prediction"].tolist()
            assert [p["prediction"] for p in answer["predictions"]] == expected
        with candidate.client() as http:
            meta: dict[str, Any] = http.get("/metadata").json()
            assert meta["registry"] == {
                "model": "tips", "version": 2, "stage": "staging", "aliases": ["candidate"], "ref": "tips@candidate",
            }
            assert meta["bundle_id"] == registered.bundles["strict"].bundle_id
    finally:
        production.kill()
        candidate.kill()


def test_workers_serve_the_version_resolved_once(registered: TrainedProject) -> None:
    config = pinned(ServeConfig(ref="tips@staging", project=str(registered.folder)))
    assert (config.ref, config.requested) == ("tips@2", "tips@staging")
    run = registered.bundles["bikes"].run_id
    assert pinned(ServeConfig(ref=run, project=str(registered.folder))).ref == run


def test_serving_a_missing_version_is_a_clear_error(registered: TrainedProject) -> None:
    assert_user_error(cli("serve", "tips@archived", cwd=registered.folder), "No version of 'tips' is in archived")


def test_predict_with_a_registered_model(registered: TrainedProject) -> None:
    folder = registered.folder
    rows = "data/chicago_taxi_trips.csv"
    by_model = cli("predict", "--model", "tips@v1", "--input", rows, "--output", "by-model.csv", cwd=folder)
    assert by_model.returncode == 0, by_model.stdout + by_model.stderr
    by_run = cli("predict", registered.bundles["taxi"].run_id, "--input", rows, "--output", "by-run.csv", cwd=folder)
    assert by_run.returncode == 0, by_run.stderr
    assert pd.read_csv(folder / "by-model.csv").equals(pd.read_csv(folder / "by-run.csv"))
    both = cli("predict", "latest", "--model", "tips", "--input", rows, cwd=folder)
    assert_user_error(both, "Give the bundle to predict with: RUN_OR_BUNDLE, or --model NAME@VERSION (not both)")
    assert_user_error(
        cli("predict", "--model", "tips@champion", "--input", rows, cwd=folder), "no alias 'champion'"
    )
