"""The YAML ``register`` key and ``gate.must_beat``, with real runs of the taxi example.

``register`` adds a ``register`` step after ``bundle``: the run records the
registration with that step (once: a cached step registers nothing again),
and a run whose gate fails registers nothing. ``must_beat`` makes the gate
score the registered version's bundle on the run's eval split: the first run
passes (nothing to beat), a worse model fails the gate and is not registered,
a better one is registered and promoted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.client import Client
from shipyard.config.yamlio import ConfigError
from shipyard.ml.compile import load_yaml_pipeline
from tests.ml.support import (
    FAST,
    assert_user_error,
    cli,
    copy_taxi,
    isolated,
    new_project,
)

WEAK = "train.params.max_iter=3"
DUMMY = ("train.model=sklearn.dummy.DummyClassifier", "train.params={}")


def _project(folder: Path, tail: str) -> Path:
    yaml = copy_taxi(folder)
    text = yaml.read_text().replace("gate: {roc_auc: {min: 0.75}}\n", "")
    yaml.write_text(text + tail)
    return yaml


def test_register_key_registers_once_and_not_when_the_gate_fails(tmp_path: Path) -> None:
    yaml = _project(tmp_path, "gate: {roc_auc: {min: 0.75}}\nregister: {name: taxi-tips, alias: candidate}\n")
    first = cli("run", "pipeline.yaml", "--set", FAST, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Registered taxi-tips v1 (stage none, aliases candidate)" in " ".join(first.stdout.split())
    with isolated(tmp_path), Client(tmp_path) as client:
        models = client.models
        run_id = client.runs(limit=1)[0].id
        version = models.resolve("taxi-tips@candidate")
        assert (version.version, version.stage, version.run_id) == (1, "none", run_id)
        assert version.bundle_id == client.find_bundle(run_id).id
        assert version.metrics["eval.roc_auc"] == client.metrics(run_id)["evaluate"]["eval.roc_auc"]
        assert not any("[" in key for key in version.metrics)  # per-slice metrics stay with the run
        events = len(models.history("taxi-tips"))

        again = client.run(str(yaml), overrides=[FAST])
        assert again.steps["register"].status == "cached"
        assert [v.version for v in models.versions("taxi-tips")] == [1]
        assert len(models.history("taxi-tips")) == events

        refused = client.run(str(yaml), overrides=[FAST, "gate.roc_auc.min=0.9999"])
        assert refused.status == "failed" and refused.error_step == "gate"
        assert refused.steps["register"].status == "skipped"
        assert [v.version for v in models.versions("taxi-tips")] == [1]

        other = client.run(str(yaml), overrides=[WEAK])
        assert other.ok and other.steps["register"].status == "completed"
        newest = models.resolve("taxi-tips@latest")
        assert (newest.version, newest.aliases, newest.run_id) == (2, ("candidate",), other.run_id)
        assert models.resolve("taxi-tips@1").aliases == ()


def test_must_beat_compares_with_the_production_version_on_the_same_eval_data(tmp_path: Path) -> None:
    yaml = _project(tmp_path, "register: {name: tips, stage: production}\ngate: {must_beat: {metric: roc_auc}}\n")
    with isolated(tmp_path), new_project(tmp_path) as client:
        models = client.models
        # No production version yet: the gate passes and says so.
        first = client.run(str(yaml), overrides=[WEAK])
        assert first.ok, first.error
        gate = client.metrics(first.run_id)["gate"]
        assert gate["must_beat.compared"] == 0 and gate["must_beat.passed"] == 1
        assert client.get_run(first.run_id).config["must_beat"] == {
            "model": "tips", "stage": "production", "version": None, "bundle": None,
        }
        assert models.resolve("tips@production").version == 1

        # A worse model fails the gate: no bundle, nothing registered; the comparison is recorded.
        worse = client.run(str(yaml), overrides=list(DUMMY))
        assert worse.status == "failed" and worse.error_step == "gate"
        assert "does not beat tips@production (v1)" in str(worse.error)
        gate = client.metrics(worse.run_id)["gate"]
        assert gate["must_beat.candidate"] == pytest.approx(0.5)
        assert gate["must_beat.champion"] == pytest.approx(models.resolve("tips@1").metrics["eval.roc_auc"])
        assert gate["must_beat.passed"] == 0 and gate["must_beat.improvement"] < 0
        assert client.get_run(worse.run_id).config["must_beat"]["version"] == 1
        assert [v.version for v in models.versions("tips")] == [1]

        # A better one passes: registered and promoted, the previous one archived.
        better = client.run(str(yaml), overrides=[FAST])
        assert better.ok, better.error
        gate = client.metrics(better.run_id)["gate"]
        assert gate["must_beat.passed"] == 1 and gate["must_beat.improvement"] > 0
        assert gate["must_beat.candidate"] == pytest.approx(client.metrics(better.run_id)["evaluate"]["eval.roc_auc"])
        assert [(v.version, v.stage) for v in models.versions("tips")] == [(2, "production"), (1, "archived")]
        gate_run = client.step_run(better.run_id, "gate")
        assert gate_run.params["must_beat"]["version"] == 1
        assert gate_run.inputs["champion"] == models.resolve("tips@1").bundle_id

        # A margin it cannot make fails, and says by how much it had to win.
        strict = client.run(str(yaml), overrides=[FAST, "gate.must_beat.margin=0.5"])
        assert strict.status == "failed" and "by the margin 0.5" in str(strict.error)

        # The same run again: the gate runs (production changed) and ties with itself; nothing new.
        same = client.run(str(yaml), overrides=[FAST])
        assert same.ok and same.steps["gate"].status == "completed"
        assert same.steps["register"].status == "cached"
        assert [v.version for v in models.versions("tips")] == [2, 1]

    worse_cli = cli("run", "pipeline.yaml", *(f"--set={o}" for o in DUMMY), cwd=tmp_path)
    assert_user_error(worse_cli, "does not beat tips@production (v2)")
    summary = " ".join(worse_cli.stdout.split())
    assert "Must beat tips@production (v2): eval roc_auc 0.5 vs" in summary and "failed" in summary


def test_must_beat_needs_a_model_name(tmp_path: Path) -> None:
    yaml = _project(tmp_path, "gate: {must_beat: production}\n")
    with isolated(tmp_path), pytest.raises(ConfigError, match=r"pipeline.yaml:9: gate.must_beat needs a model"):
        load_yaml_pipeline(yaml, models=lambda name, ref: None)
    yaml.write_text(yaml.read_text() + "register: other\n")
    with isolated(tmp_path), pytest.raises(ConfigError, match="no store was given"):
        load_yaml_pipeline(yaml)
    pipeline, config = load_yaml_pipeline(yaml, models=lambda name, ref: None)
    gate = pipeline.node("gate")
    assert gate.params["must_beat"]["model"] == "other" and "champion" not in gate.inputs
    assert config["must_beat"] == {"model": "other", "stage": "production", "version": None, "bundle": None}
    assert [n.name for n in pipeline][-2:] == ["bundle", "register"]


def test_a_promotion_during_the_run_stops_must_beat_from_replacing_it(tmp_path: Path) -> None:
    """must_beat compared with v1; v2 went to production meanwhile: the run must not archive v2."""
    from shipyard.engine.runner import RunHooks

    yaml = _project(tmp_path, "register: {name: tips, stage: production}\ngate: {must_beat: {metric: roc_auc}}\n")
    plain = copy_taxi(tmp_path / "plain")
    with isolated(tmp_path), new_project(tmp_path) as client:
        models = client.models
        assert client.run(str(yaml), overrides=[WEAK]).ok  # v1, production
        other = client.run(str(plain), overrides=["train.params.max_iter=7"])
        assert other.ok, other.error
        models.register("tips", other.run_id)  # v2, no stage

        class PromoteMeanwhile(RunHooks):
            def on_step_start(self, *, step: str, **future: object) -> None:
                if step == "register":
                    models.promote("tips", 2, "production", reason="a colleague's promotion")

        result = client.run(str(yaml), overrides=[FAST], hooks=PromoteMeanwhile())
        assert result.status == "failed" and result.error_step == "register"
        assert "production is now v2" in str(result.error)
        assert [(v.version, v.stage) for v in models.versions("tips")] == [(2, "production"), (1, "archived")]


def test_history_is_in_commit_order_whatever_the_clocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    with isolated(tmp_path), new_project(tmp_path) as client:
        models = client.models
        runs = [client.run(str(copy_taxi(tmp_path / f"p{i}")), overrides=[f"train.params.max_iter={5 + i}"])
                for i in range(3)]
        for run in runs:
            models.register("tips", run.run_id)
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + 600)  # a machine whose clock is fast
        models.promote("tips", 1, "production")
        monkeypatch.setattr(time, "time", real)
        models.promote("tips", 2, "production")
        models.promote("tips", 3, "production")
        models.rollback("tips")
        assert models.resolve("tips@production").version == 2


def test_an_alias_that_reads_as_a_version_is_refused(tmp_path: Path) -> None:
    from shipyard.config.spec import alias_problem

    assert "means version 3" in (alias_problem("v3") or "")
    assert alias_problem("v3a") is None
