"""The ML commands end to end in subprocesses: init --from, run, predict, runs show.

``scaffolded`` is one project built by the commands a new user types:
``shipyard init --from data.csv --label label``, ``shipyard run pipeline.yaml``,
the same with ``--set``, and a run whose ``--set`` gate fails. Prediction and
``runs show`` read the session's trained taxi project.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard.client import Client
from shipyard.ml.compile import load_yaml_pipeline
from shipyard.ml.scaffold import scaffold_pipeline
from tests.ml.conftest import TrainedTaxi
from tests.ml.support import (
    TRACEBACK,
    assert_user_error,
    classification_frame,
    cli,
    isolated,
    taxi_rows,
)

RUN_LINE = re.compile(r"Run ([0-9a-f]{16}) of pipeline (\S+)")
BUNDLE_LINE = re.compile(r"Model bundle ([0-9a-f]{16})")


@dataclass
class Scaffolded:
    folder: Path
    init: subprocess.CompletedProcess[str]
    yaml_text: str
    run: subprocess.CompletedProcess[str]
    run_set: subprocess.CompletedProcess[str]
    gate: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> Scaffolded:
    folder = tmp_path_factory.mktemp("scaffold")
    classification_frame(300).to_csv(folder / "data.csv", index=False)
    init = cli("init", "--from", "data.csv", "--label", "label", cwd=folder)
    text = (folder / "pipeline.yaml").read_text() if (folder / "pipeline.yaml").exists() else ""
    run = cli("run", "pipeline.yaml", cwd=folder)
    run_set = cli("run", "pipeline.yaml", "--set", "train.params.max_iter=50", cwd=folder)
    gate = cli(
        "run", "pipeline.yaml", "--set", "train.params.max_iter=50", "--set", "gate.roc_auc.min=0.9999",
        cwd=folder,
    )
    return Scaffolded(folder, init, text, run, run_set, gate)


def run_id_of(result: subprocess.CompletedProcess[str]) -> str:
    match = RUN_LINE.search(result.stdout)
    assert match, result.stdout
    return match.group(1)


# -- shipyard init --from ------------------------------------------------------------------


def test_init_from_data_writes_a_pipeline_yaml(scaffolded: Scaffolded) -> None:
    assert scaffolded.init.returncode == 0, scaffolded.init.stderr
    assert (scaffolded.folder / ".shipyard").is_dir()
    text = scaffolded.yaml_text
    assert "name: data\n" in text
    assert "data: data.csv\n" in text
    assert "label: label\n" in text
    assert "features:\n  x1: numeric\n  x2: numeric\n  shade: categorical\n" in text
    assert "split: {by: stratified" in text  # classification without a time column
    assert "train: {model: sklearn.ensemble.HistGradientBoostingClassifier" in text
    assert "Wrote pipeline.yaml" in scaffolded.init.stdout
    assert "Next: shipyard run pipeline.yaml" in scaffolded.init.stdout


def test_scaffolded_pipeline_runs(scaffolded: Scaffolded) -> None:
    result = scaffolded.run
    assert result.returncode == 0, result.stdout + result.stderr
    assert TRACEBACK not in result.stdout + result.stderr
    run_id = run_id_of(result)
    with isolated(), Client(scaffolded.folder) as client:
        run = client.get_run(run_id)
        assert run.status == "completed"
        info = client.load_output(run_id, "features")
        assert info["task"] == "classification"
        # Types written by init are declared types now.
        assert all(not spec["inferred"] for spec in info["columns"].values())
        assert client.load_bundle(run_id).bundle.model.max_iter == 200


def test_run_with_set_prints_metrics_and_bundle_id(scaffolded: Scaffolded) -> None:
    result = scaffolded.run_set
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    run_id = run_id_of(result)
    # The steps before train come from the first run's cache.
    assert re.search(r"cached\s+preprocess", out), out
    assert re.search(r"completed\s+train", out), out
    assert "Task classification" in out
    assert re.search(r"metric\s+.\s+eval\s+.\s+test", out), out
    for name in ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"):
        assert re.search(rf"\b{name}\b", out), name
    match = BUNDLE_LINE.search(out)
    assert match, out
    with isolated(), Client(scaffolded.folder) as client:
        assert client.find_bundle(run_id).id.startswith(match.group(1))
        assert client.get_run(run_id).config["overrides"] == ["train.params.max_iter=50"]
        assert client.load_bundle(run_id).bundle.model.max_iter == 50
        recorded = client.metrics(run_id)["evaluate"]
    shown = f"{recorded['test.accuracy']:.4g}"
    assert shown in out
    assert f"shipyard predict {run_id} --input rows.csv" in " ".join(out.split())


def test_run_failing_its_gate_exits_2_naming_metric_and_threshold(scaffolded: Scaffolded) -> None:
    flat = assert_user_error(
        scaffolded.gate,
        "Step failed: step 'gate': the model is not accepted: eval roc_auc",
        "is below the minimum 0.9999",
    )
    assert "--set gate.roc_auc.min=0.9999" in flat  # the hint repeats the command
    assert re.search(r"skipped\s+bundle", scaffolded.gate.stdout)
    assert not BUNDLE_LINE.search(scaffolded.gate.stdout)


def test_init_refuses_to_overwrite_without_force(scaffolded: Scaffolded) -> None:
    path = scaffolded.folder / "pipeline.yaml"
    before = path.read_text()
    result = cli("init", "--from", "data.csv", "--label", "x1", cwd=scaffolded.folder)
    assert_user_error(result, "pipeline.yaml exists; pass --force")
    assert path.read_text() == before


def test_init_force_overwrites(scaffolded: Scaffolded, tmp_path: Path) -> None:
    classification_frame(50).to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "pipeline.yaml").write_text("old: content\n")
    result = cli("init", "--from", "data.csv", "--label", "x1", "--name", "renamed", "--force", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "pipeline.yaml").read_text()
    assert "name: renamed\n" in text and "label: x1\n" in text
    assert "old: content" not in text
    assert "split: {by: random" in text  # x1 is a float: regression, random split


def test_init_with_unknown_label_exits_2(tmp_path: Path) -> None:
    classification_frame(20).to_csv(tmp_path / "data.csv", index=False)
    result = cli("init", "--from", "data.csv", "--label", "lable", cwd=tmp_path)
    assert_user_error(result, "data.csv has no column 'lable'; columns: x1, x2, shade, label")
    assert not (tmp_path / "pipeline.yaml").exists()


def test_scaffold_picks_a_time_split_for_a_date_column(tmp_path: Path) -> None:
    frame = classification_frame(40).assign(
        signup_date=pd.date_range("2024-01-01", periods=40, freq="D").strftime("%Y-%m-%d")
    )
    frame.to_csv(tmp_path / "data.csv", index=False)
    text = scaffold_pipeline(tmp_path / "data.csv", "label", relative_to=tmp_path)
    assert "split: {by: time, column: signup_date" in text
    (tmp_path / "pipeline.yaml").write_text(text)
    pipeline, _ = load_yaml_pipeline(tmp_path / "pipeline.yaml")
    assert pipeline.node("split").params["by"] == "time"


def test_scaffold_quotes_column_names_yaml_would_misread(tmp_path: Path) -> None:
    frame = classification_frame(40).rename(columns={"shade": "on", "x2": "null"})
    frame.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "pipeline.yaml").write_text(scaffold_pipeline(tmp_path / "data.csv", "label", relative_to=tmp_path))
    _, config = load_yaml_pipeline(tmp_path / "pipeline.yaml")
    assert set(config["spec"]["features"]) == {"x1", "null", "on"}


# -- shipyard predict ---------------------------------------------------------------------------


@pytest.fixture
def trips(tmp_path: Path) -> Path:
    rows = taxi_rows(25).drop(columns=["big_tipper", "tips"])
    rows.insert(0, "trip_id", range(1000, 1025))
    path = tmp_path / "rows.csv"
    rows.to_csv(path, index=False)
    return path


def test_predict_writes_parquet_with_kept_columns(trained_taxi: TrainedTaxi, trips: Path) -> None:
    output = trips.parent / "preds.parquet"
    result = cli(
        "predict", trained_taxi.run_id, "--input", str(trips), "--output", str(output),
        "--keep", "trip_id", "--keep", "payment_type",
        cwd=trained_taxi.folder,
    )
    assert result.returncode == 0, result.stderr
    assert f"Wrote 25 prediction(s) to {output}" in " ".join(result.stdout.split())
    assert "Ignored column(s) the model does not use: trip_id" in result.stderr
    written = pd.read_parquet(output)
    assert list(written.columns) == ["trip_id", "payment_type", "prediction", "proba_0", "proba_1"]
    assert len(written) == 25
    rows = pd.read_csv(trips)
    assert written["trip_id"].tolist() == rows["trip_id"].tolist()
    assert written["payment_type"].tolist() == rows["payment_type"].tolist()
    expected = trained_taxi.client.load_bundle(trained_taxi.run_id).predict_frame(rows)
    np.testing.assert_array_equal(written["prediction"].to_numpy(), expected["prediction"].to_numpy())
    np.testing.assert_allclose(written[["proba_0", "proba_1"]].to_numpy(), expected[["proba_0", "proba_1"]].to_numpy())


def test_predict_in_small_chunks_gives_the_same_file(trained_taxi: TrainedTaxi, trips: Path) -> None:
    whole, chunked = trips.parent / "whole.csv", trips.parent / "chunked.csv"
    for output, extra in ((whole, []), (chunked, ["--chunk-size", "7"])):
        result = cli(
            "predict", trained_taxi.bundle_id[:16], "--input", str(trips), "--output", str(output),
            "--keep", "trip_id", *extra, cwd=trained_taxi.folder,
        )
        assert result.returncode == 0, result.stderr
    pd.testing.assert_frame_equal(pd.read_csv(whole), pd.read_csv(chunked))
    assert len(pd.read_csv(chunked)) == 25


def test_predict_without_output_prints_rows(trained_taxi: TrainedTaxi, trips: Path) -> None:
    result = cli("predict", trained_taxi.run_id, "--input", str(trips), cwd=trained_taxi.folder)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "prediction" in line)
    assert "proba_0" in header and "proba_1" in header
    body = [line for line in lines if re.match(r"^│\s*[01]\s*│", line)]
    assert len(body) == 10  # the first rows
    expected = trained_taxi.client.load_bundle(trained_taxi.run_id).predict_frame(pd.read_csv(trips))
    assert [int(line.split("│")[1]) for line in body] == expected["prediction"].head(10).tolist()


def test_predict_json_summary_reports_unseen_and_extra(trained_taxi: TrainedTaxi, tmp_path: Path) -> None:
    rows = taxi_rows(12)
    rows.loc[:3, "payment_type"] = "Bitcoin"
    rows.to_csv(tmp_path / "rows.csv", index=False)
    result = cli(
        "predict", trained_taxi.run_id, "--input", str(tmp_path / "rows.csv"), "--json",
        cwd=trained_taxi.folder,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["rows"] == 12 and summary["output"] is None
    assert summary["unseen_categories"] == {"payment_type": 4}
    assert summary["extra_columns"] == ["tips", "big_tipper"]


def test_predict_with_a_bad_input_exits_2(trained_taxi: TrainedTaxi, tmp_path: Path) -> None:
    rows = taxi_rows(5).drop(columns=["company"])
    rows.to_csv(tmp_path / "rows.csv", index=False)
    result = cli(
        "predict", trained_taxi.run_id, "--input", str(tmp_path / "rows.csv"), "--output", str(tmp_path / "o.parquet"),
        cwd=trained_taxi.folder,
    )
    assert_user_error(result, "Invalid input rows: Missing column(s) 'company'")
    assert not (tmp_path / "o.parquet").exists()
    assert not list(tmp_path.glob(".o.parquet*"))  # no temporary file left behind


def test_predict_keep_of_a_missing_column_exits_2(trained_taxi: TrainedTaxi, trips: Path) -> None:
    result = cli(
        "predict", trained_taxi.run_id, "--input", str(trips), "--keep", "ride_id", cwd=trained_taxi.folder,
    )
    assert_user_error(result, "--keep column(s) ['ride_id'] are not in rows.csv")


# -- shipyard runs show -------------------------------------------------------------------------


def test_runs_show_includes_overall_and_slice_metrics(trained_taxi: TrainedTaxi) -> None:
    result = cli("runs", "show", trained_taxi.run_id, cwd=trained_taxi.folder)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    recorded = trained_taxi.client.metrics(trained_taxi.run_id)["evaluate"]
    overall = next(line for line in out.splitlines() if re.match(r"^│ roc_auc\s", line))
    assert f"{recorded['eval.roc_auc']:.4g}" in overall and f"{recorded['test.roc_auc']:.4g}" in overall
    assert "Metrics on test by payment_type" in out
    cash = next(line for line in out.splitlines() if re.match(r"^│ Cash\s", line))
    assert str(int(recorded["test[payment_type=Cash].rows"])) in cash
    assert f"{recorded['test[payment_type=Cash].accuracy']:.4g}" in cash
    assert re.search(r"│ Credit Card\s", out)
    for step in ("ingest", "split", "features", "preprocess", "train", "evaluate", "gate", "bundle"):
        assert re.search(rf"│ {step}\s+│ ✓ completed", out), step
    assert "train.params = {\"max_iter\": 30, \"random_state\": 0}" in out


def test_runs_show_json_has_every_metric(trained_taxi: TrainedTaxi) -> None:
    result = cli("runs", "show", trained_taxi.run_id, "--json", cwd=trained_taxi.folder)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["metrics"]["evaluate"] == trained_taxi.client.metrics(trained_taxi.run_id)["evaluate"]
    assert "test[payment_type=Cash].accuracy" in shown["metrics"]["evaluate"]
    assert shown["config"]["overrides"] == ["train.params.max_iter=30"]
