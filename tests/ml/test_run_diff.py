"""``runs diff``, ``runs compare`` and ``reproduce`` on the taxi example.

One project: run A (30 boosting iterations), run B (40: the data steps come
from the cache, training runs again), a reproduction of A after the data file
changed (it must read A's recorded data version and give A's metrics), and a
run C on the changed file (its data diff shows the rows that went).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from shipyard.client import Client
from shipyard.reproduce import ReproduceWarning
from tests.ml.support import (
    FAST,
    TAXI_CSV,
    assert_user_error,
    classification_frame,
    cli,
    copy_taxi,
    isolated,
    new_project,
)


def cli_json(*args: str, cwd: Path) -> dict:
    result = cli(*args, "--json", cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_diff_compare_and_reproduce_taxi_runs(tmp_path: Path) -> None:
    # One project for the whole story: taxi runs take seconds each.
    yaml = copy_taxi(tmp_path)
    with isolated():
        client = new_project(tmp_path)
        try:
            a = client.run(str(yaml), overrides=[FAST]).raise_for_status().run_id
            b = client.run(str(yaml), overrides=["train.params.max_iter=40"]).raise_for_status().run_id
            check_diff(tmp_path, a, b)
            check_compare(client, a, b)
            check_reproduce_after_the_data_changed(tmp_path, client, a)
            check_reproduce_refuses_when_the_data_version_is_gone(tmp_path, client, a)
        finally:
            client.close()


def check_diff(folder: Path, a: str, b: str) -> None:
    """Two runs differing by a train param: the key, the metric deltas, the cached steps."""
    diff = cli_json("runs", "diff", a, b, cwd=folder)
    assert diff["config"] == [{"key": "train.params.max_iter", "change": "changed", "a": 30, "b": 40}]
    assert diff["params"] == [{"key": "train.params.max_iter", "change": "changed", "a": 30, "b": 40}]
    assert diff["data"]["same"] is True and diff["data"]["summary"] is None
    assert diff["data"]["a"][0]["rows"] == 3000
    assert diff["packages"] == {"python": None, "changed": []}

    steps = {s["step"]: (s["a"]["status"], s["b"]["status"], s["same_outputs"]) for s in diff["steps"]}
    assert steps["ingest"] == ("completed", "cached", True)
    assert steps["split"] == ("completed", "cached", True)
    assert steps["train"] == ("completed", "completed", False)

    metrics = {(m["step"], m["metric"]): m for m in diff["metrics"]}
    roc = metrics[("evaluate", "eval.roc_auc")]
    assert roc["delta"] == pytest.approx(roc["b"] - roc["a"])
    assert not diff["same_metrics"] and any(not m["equal"] for m in diff["metrics"])

    text = cli("runs", "diff", a[:8], b[:8], cwd=folder)
    assert text.returncode == 0, text.stderr
    flat = " ".join(text.stdout.split())
    assert "~ train.params.max_iter: 30 → 40" in flat
    assert "same data version" in flat and "eval.roc_auc" in flat
    assert "↺ cached" in flat


def check_compare(client: Client, a: str, b: str) -> None:
    """roc_auc sorts best (highest) first, a loss lowest first."""
    result = client.compare_runs([a, b], sort="roc_auc")
    assert result["sort"] == {"metric": "eval.roc_auc", "direction": "max"}
    values = [r["metrics"]["eval.roc_auc"] for r in result["runs"]]
    assert values == sorted(values, reverse=True)
    assert "train.params.max_iter" in result["params"]
    loss = client.compare_runs([a, b], sort="test.log_loss")
    values = [r["metrics"]["test.log_loss"] for r in loss["runs"]]
    assert values == sorted(values) and loss["sort"]["direction"] == "min"


def check_reproduce_after_the_data_changed(folder: Path, client: Client, a: str) -> None:
    """The file lost rows: the reproduction reads A's recorded data and gets A's metrics."""
    csv = folder / "data" / TAXI_CSV.name
    lines = csv.read_text(encoding="utf-8").splitlines(keepends=True)
    csv.write_text("".join(lines[:2001]), encoding="utf-8")  # header + 2000 of the 3000 rows

    out = cli_json("reproduce", a, cwd=folder)
    assert out["status"] == "completed" and out["reproduces"] == a
    assert out["same_metrics"] is True and out["metrics_compared"] > 10
    original_data = client.step_run(a, "ingest").outputs["output"]
    assert out["data_artifact"] == original_data
    assert client.step_run(out["run_id"], "ingest").outputs["output"] == original_data

    diff = client.diff_runs(a, out["run_id"])
    assert diff["config"] == [] and diff["params"] == [] and diff["data"]["same"]
    assert diff["same_metrics"] is True
    assert {s["b"]["status"] for s in diff["steps"]} == {"completed"}  # every step executed

    # A plain run reads the changed file: its data diff says what changed.
    # (Fewer rows leave more empty values than the schema allows: warn, do not fail.)
    warn = "validate.on_error=warn"
    changed = client.run(str(folder / "pipeline.yaml"), overrides=[FAST, warn]).raise_for_status()
    data = client.diff_runs(a, changed.run_id)["data"]
    assert not data["same"]
    summary = data["summary"]
    assert summary["rows"] == [3000, 2000]
    assert summary["columns_added"] == [] and summary["columns_removed"] == []
    assert summary["basis"] == "statistics of each run's train split"
    assert isinstance(summary["drifted"], list) and summary["drift"]
    text = cli("runs", "diff", a, changed.run_id, cwd=folder)
    assert "rows     3000 → 2000" in text.stdout


def check_reproduce_refuses_when_the_data_version_is_gone(folder: Path, client: Client, a: str) -> None:
    data = client.step_run(a, "ingest").outputs["output"]
    shutil.rmtree(client.artifact_store.local_path(data))
    assert_user_error(cli("reproduce", a, cwd=folder), "no longer in the artifact store", data[:12])


DATASET_YAML = """\
name: shades
data: shades@latest
label: label
split: {by: random, seed: 1}
train: {model: sklearn.linear_model.LogisticRegression}
"""


def test_dataset_versions_diff_and_reproduce_on_the_recorded_version(tmp_path: Path) -> None:
    classification_frame(300, seed=0).to_csv(tmp_path / "v1.csv", index=False)
    classification_frame(400, seed=1).drop(columns=["x2"]).to_csv(tmp_path / "v2.csv", index=False)
    (tmp_path / "pipeline.yaml").write_text(DATASET_YAML)
    with isolated(tmp_path):
        client = new_project(tmp_path)
        try:
            v1, _ = client.datasets.add("shades", tmp_path / "v1.csv")
            a = client.run(str(tmp_path / "pipeline.yaml")).raise_for_status().run_id
            client.datasets.add("shades", tmp_path / "v2.csv")  # latest moves on
            b = client.run(str(tmp_path / "pipeline.yaml")).raise_for_status().run_id

            data = client.diff_runs(a, b)["data"]
            assert [d["dataset"] for d in data["a"] + data["b"]] == ["shades@1", "shades@2"]
            summary = data["summary"]
            assert summary["basis"] == "statistics of datasets shades@1 and shades@2"
            assert summary["rows"] == [300, 400] and summary["columns_removed"] == ["x2"]

            with pytest.warns(ReproduceWarning, match="no git commit"):  # not a git repository
                again = client.reproduce(a)
            assert again.ok
            assert client.step_run(again.run_id, "ingest").outputs["output"] == v1.artifact_id
            diff = client.diff_runs(a, again.run_id)
            assert diff["same_metrics"] and diff["data"]["same"] and diff["params"] == []
        finally:
            client.close()
