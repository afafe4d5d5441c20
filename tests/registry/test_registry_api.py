"""The model registry through the Python API (``Client().models``) on a real SQLite project.

Register runs and bundle folders, promote through the stages (one production
version at most, in the database too), aliases, rollbacks that step back
through the history, loading a version's Predictor, and the errors a user
meets, each one message with a suggestion.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shipyard.client import Client
from shipyard.errors import ArtifactNotFound, ModelNotFound, RegistryError
from shipyard.registry import parse_model_ref
from shipyard.registry.registry import production_stack
from shipyard.stores.metadata.registry import ModelEventRecord
from tests.ml.support import isolated, new_project, taxi_rows
from tests.registry.conftest import TwoRuns


def test_register_promote_alias_rollback_and_history(two_runs: TwoRuns) -> None:
    weak_run, strong_run = two_runs.runs
    with isolated(two_runs.folder), Client(two_runs.folder) as client:
        models = client.models
        first = models.register("api", weak_run[:8])
        assert (first.model, first.version, first.stage) == ("api", 1, "none")
        assert first.bundle_id == two_runs.bundles[0]
        assert first.run_id == weak_run
        assert first.data_version is not None and len(first.data_version) == 64
        assert first.metrics["eval.roc_auc"] == pytest.approx(client.metrics(weak_run)["evaluate"]["eval.roc_auc"])
        assert first.user == "tester"
        # The same bundle again (by its id this time) is the same version.
        assert models.register("api", two_runs.bundles[0]).version == 1

        second = models.register("api", strong_run, stage="staging", alias="candidate", reason="looks good")
        assert (second.version, second.stage, second.aliases) == (2, "staging", ("candidate",))
        assert "api" in [m.name for m in models.list()]
        summary = models.get("api")
        assert (summary.versions, summary.latest, summary.production, summary.staging) == (2, 2, None, (2,))
        assert summary.aliases == {"candidate": 2}
        assert [v.version for v in models.versions("api")] == [2, 1]

        change = models.promote("api", 1, "production", reason="first release")
        assert (change.version.stage, change.previous, change.replaced) == ("production", "none", None)
        change = models.promote("api", "v2", "production", reason="better auc")
        assert change.version.stage == "production" and change.previous == "staging"
        assert change.replaced is not None and (change.replaced.version, change.replaced.stage) == (1, "archived")
        assert models.promote("api", 2, "production").changed is False
        assert models.resolve("api@production").version == 2
        assert models.resolve("api").version == 2  # a bare name is its production version
        assert models.resolve("api@latest").version == 2
        assert models.resolve("api@v1").version == 1

        models.set_alias("api", "champion", 2)
        assert models.set_alias("api", "champion", 1).aliases == ("champion",)
        assert models.resolve("api@champion").version == 1
        assert models.remove_alias("api", "champion") == 1
        assert "champion" not in models.get("api").aliases

        back = models.rollback("api", reason="v2 misbehaves")
        assert (back.version.version, back.version.stage, back.previous) == (1, "production", "archived")
        assert back.replaced is not None and (back.replaced.version, back.replaced.stage) == (2, "archived")
        with pytest.raises(RegistryError, match="no earlier production version"):
            models.rollback("api")

        history = models.history("api")
        stages = [(e.version, e.kind, e.from_value, e.to_value, e.reason) for e in history if e.kind in ("stage", "rollback")]
        assert stages == [
            (2, "stage", "none", "staging", "looks good"),
            (1, "stage", "none", "production", "first release"),
            (1, "stage", "production", "archived", "replaced by v2"),
            (2, "stage", "staging", "production", "better auc"),
            (2, "stage", "production", "archived", "replaced by v1"),
            (1, "rollback", "archived", "production", "v2 misbehaves"),
        ]
        assert [e.kind for e in history][:2] == ["register", "register"]
        assert history[0].to_value == two_runs.bundles[0]
        aliases = [(e.version, e.from_value, e.to_value) for e in history if e.kind == "alias"]
        assert aliases == [
            (2, None, "candidate"), (2, None, "champion"), (2, "champion", None), (1, None, "champion"),
            (1, "champion", None),
        ]
        assert {e.user for e in history} == {"tester"}

        # A version loads as a Predictor that predicts raw rows.
        rows = taxi_rows(20)
        predicted = models.load("api@production").predict(rows)
        assert len(predicted) == 20
        assert list(predicted) == list(client.load_bundle(weak_run).predict(rows))
        # find_bundle (predict, monitor, export-onnx) takes NAME@REF too.
        assert client.find_bundle("api@2").id == two_runs.bundles[1]


def test_rollback_steps_back_through_the_production_history(two_runs: TwoRuns) -> None:
    with isolated(two_runs.folder), Client(two_runs.folder) as client:
        models = client.models
        models.register("steps", two_runs.runs[0])
        models.register("steps", two_runs.runs[1])
        for version in (1, 2, 1, 2):
            models.promote("steps", version, "production")
        assert models.rollback("steps").version.version == 1
        assert models.rollback("steps").version.version == 2
        assert models.rollback("steps").version.version == 1
        with pytest.raises(RegistryError, match="v1 is the first version in production"):
            models.rollback("steps")
        # Taken out of production by hand: a rollback brings back the last one there.
        models.promote("steps", 2, "production")
        models.promote("steps", 2, "archived")
        assert models.get("steps").production is None
        assert models.rollback("steps").version.version == 2
        assert models.get("steps").production == 2


def test_production_stack_reads_promotions_and_rollbacks() -> None:
    def event(version: int, kind: str, to: str) -> ModelEventRecord:
        return ModelEventRecord(id=0, model="m", version=version, kind=kind, created_at=0.0, to_value=to)

    events = [event(1, "stage", "production"), event(2, "stage", "production"), event(1, "stage", "archived"),
              event(3, "stage", "production"), event(2, "rollback", "production"), event(4, "stage", "staging")]
    assert production_stack(events) == [1, 2]


def test_unknown_names_are_clear_errors_with_suggestions(two_runs: TwoRuns) -> None:
    with isolated(two_runs.folder), Client(two_runs.folder) as client:
        models = client.models
        models.register("errors-model", two_runs.runs[0], alias="champion")
        with pytest.raises(ModelNotFound, match=r"No model named 'errors-modle'.*did you mean 'errors-model'\?"):
            models.get("errors-modle")
        with pytest.raises(ModelNotFound, match=r"has no version 9; versions: 1"):
            models.resolve("errors-model@9")
        with pytest.raises(ModelNotFound, match=r"no alias 'champ'; did you mean 'champion'\?"):
            models.resolve("errors-model@champ")
        with pytest.raises(ModelNotFound, match=r"No version of 'errors-model' is in production; versions: v1 none"):
            models.resolve("errors-model")
        with pytest.raises(RegistryError, match=r"'prod' is not a stage; did you mean 'production'\?"):
            models.promote("errors-model", 1, "prod")
        with pytest.raises(RegistryError, match="not a valid alias"):
            models.set_alias("errors-model", "Champion", 1)
        with pytest.raises(RegistryError, match="cannot be an alias"):
            models.set_alias("errors-model", "production", 1)
        with pytest.raises(RegistryError, match="not a valid model name"):
            models.register("no spaces", two_runs.runs[0])
        with pytest.raises(RegistryError, match="not a model reference"):
            parse_model_ref("m@not valid")
        with pytest.raises(ArtifactNotFound, match="No model bundle or run matches"):
            models.register("errors-model", "feedface")
        with pytest.raises(ModelNotFound, match="no alias 'gone'"):
            models.remove_alias("errors-model", "gone")
        # Nothing above changed the model.
        assert [(v.version, v.stage) for v in models.versions("errors-model")] == [(1, "none")]


def test_a_bundle_folder_is_stored_and_registered(two_runs: TwoRuns, tmp_path: Path) -> None:
    folder = tmp_path / "exported"
    with isolated(two_runs.folder), Client(two_runs.folder) as client:
        client.export_artifact(two_runs.bundles[1], folder)
        # Exported from this store: the same content is the same artifact, the same version.
        models = client.models
        here = models.register("from-folder", two_runs.runs[1])
        assert models.register("from-folder", folder).version == here.version
    other = tmp_path / "other"
    with isolated(other), new_project(other) as client:
        version = client.models.register("imported", folder, stage="production")
        assert version.bundle_id == two_runs.bundles[1]
        assert version.run_id is None  # its run lives in another store
        assert client.artifact_store.exists(version.bundle_id)
        assert client.get_artifact(version.bundle_id).materializer == "model-bundle"
        assert len(client.models.load("imported").predict(taxi_rows(5))) == 5
        with pytest.raises(ArtifactNotFound, match="not a model bundle"):
            client.models.register("imported", tmp_path)


def test_the_database_refuses_a_second_production_version(two_runs: TwoRuns) -> None:
    with isolated(two_runs.folder), Client(two_runs.folder) as client:
        client.models.register("unique", two_runs.runs[0], stage="production")
        client.models.register("unique", two_runs.runs[1])
    with sqlite3.connect(two_runs.folder / ".shipyard" / "metadata.db") as conn, pytest.raises(
        sqlite3.IntegrityError, match="UNIQUE"
    ):
        conn.execute("UPDATE model_versions SET stage = 'production' WHERE model = 'unique' AND version = 2")
