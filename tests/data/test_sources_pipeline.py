"""Data sources in a YAML pipeline, and the data steps every run records.

A real SQLite database made here is the source of ``data: {sql: ..., url:
"sqlite:///${SHOP_DB}"}`` (the variable set with monkeypatch); an fsspec
``memory://`` file is another. Each run records statistics of every split, a
schema, validation and train-vs-eval/test skew; the bundle carries the training
statistics and a feature-only schema, which ``shipyard predict`` checks its
input against.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pytest

from shipyard.client import Client
from shipyard.config.yamlio import ConfigError
from shipyard.data.drift import compare
from shipyard.data.statistics import Statistics
from shipyard.engine.runner import RunResult
from tests.data.support import FAST_MODEL, TRACEBACK, isolated, new_client
from tests.helpers import run_cli

SQL = "SELECT ts, x1, x2, color, label FROM orders ORDER BY ts"
SQL_YAML = f"""\
name: shop
data:
  sql: "{SQL}"
  url: "sqlite:///${{SHOP_DB}}"
label: label
drop: [ts]
split: {{by: time, column: ts}}
train: {{model: {FAST_MODEL}}}
"""
FEATURES = ["x1", "x2", "color"]


def _orders(n: int = 800, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x1[int(n * 0.85):] += 2.0  # the latest rows (the test split) moved
    x2 = rng.uniform(0, 5, n).round(3)
    color = rng.choice(["red", "green", "blue"], n)
    label = ((x1 + (color == "red") - 0.3 * x2 + rng.normal(scale=0.5, size=n)) > 0).astype(int)
    return pd.DataFrame(
        {"ts": 1_700_000_000 + np.arange(n) * 60, "x1": x1.round(4), "x2": x2, "color": color, "label": label}
    )


@dataclass
class Shop:
    folder: Path
    db: Path
    client: Client
    run: RunResult

    def output(self, step: str, run: RunResult | None = None) -> object:
        return self.client.load_output((run or self.run).run_id, step)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    folder = tmp_path_factory.mktemp("shop")
    db = folder / "shop.db"
    with sqlite3.connect(db) as conn:
        _orders().to_sql("orders", conn, index=False)
    (folder / "pipeline.yaml").write_text(SQL_YAML)
    with isolated() as mp:
        mp.setenv("SHOP_DB", str(db))
        client = new_client(folder)
        try:
            run = client.run(str(folder / "pipeline.yaml"))
            assert run.ok, run.error
            yield Shop(folder, db, client, run)
        finally:
            client.close()


@pytest.fixture
def shop_env(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> Shop:
    monkeypatch.setenv("SHOP_DB", str(shop.db))
    return shop


# -- SQL sources ------------------------------------------------------------------------------


def test_a_sql_source_runs_and_records_the_url_as_written(shop: Shop) -> None:
    run = shop.run
    assert run.steps["ingest"].status == "completed"
    assert shop.client.metrics(run.run_id)["ingest"] == {"rows": 800.0, "columns": 5.0}
    params = shop.client.params(run.run_id)["ingest"]
    assert params == {"query": SQL, "url": "sqlite:///${SHOP_DB}"}
    record = shop.client.get_run(run.run_id)
    assert record.config["spec"]["data"] == {"sql": SQL, "url": "sqlite:///${SHOP_DB}"}
    # The expanded path is recorded nowhere.
    assert str(shop.db) not in json.dumps(record.config)
    assert str(shop.db) not in json.dumps(record.graph)
    assert str(shop.db) not in json.dumps(shop.client.params(run.run_id))
    frame = shop.client.load_output(run.run_id, "ingest")
    assert len(frame) == 800 and list(frame.columns) == ["ts", "x1", "x2", "color", "label"]


def test_a_sql_source_is_never_cached(shop_env: Shop) -> None:
    shop = shop_env
    again = shop.client.run(str(shop.folder / "pipeline.yaml"))
    assert again.ok, again.error
    assert again.steps["ingest"].status == "completed"  # the query ran again...
    assert again.steps["split"].status == "cached"  # ...and returned the same table
    assert again.artifact("ingest").id == shop.run.artifact("ingest").id
    # The database changes: the next run sees it.
    with sqlite3.connect(shop.db) as conn:
        conn.execute("INSERT INTO orders VALUES (1800000000, 0.1, 1.0, 'red', 1)")
    try:
        changed = shop.client.run(str(shop.folder / "pipeline.yaml"))
        assert changed.ok, changed.error
        assert changed.steps["ingest"].status == "completed"
        assert changed.steps["split"].status == "completed"
        assert shop.client.metrics(changed.run_id)["ingest"]["rows"] == 801.0
    finally:
        with sqlite3.connect(shop.db) as conn:
            conn.execute("DELETE FROM orders WHERE ts = 1800000000")


def test_a_url_with_a_literal_password_is_refused_at_load(shop: Shop) -> None:
    yaml = shop.folder / "secret.yaml"
    yaml.write_text(SQL_YAML.replace("sqlite:///${SHOP_DB}", "postgresql://u:secret@h/db").replace("name: shop", "name: secret"))
    with pytest.raises(ConfigError) as info:
        shop.client.run(str(yaml))
    assert info.value.message == (
        f"{yaml}:4: The database URL holds a password; it would be stored with the run's config."
    )
    assert "${DB_PASSWORD}" in (info.value.hint or "")
    assert shop.client.runs(pipeline="secret") == []  # nothing was run or recorded


def test_a_url_naming_an_unset_variable_fails_the_ingest_step(shop: Shop) -> None:
    yaml = shop.folder / "unset.yaml"
    yaml.write_text(
        SQL_YAML.replace("${SHOP_DB}", "${SHIPYARD_TEST_UNSET_DB}").replace("name: shop", "name: unset")
    )
    run = shop.client.run(str(yaml))
    assert not run.ok and run.error_step == "ingest"
    assert "SHIPYARD_TEST_UNSET_DB" in (run.error or "") and "not set" in (run.error or "")


# -- the data steps -----------------------------------------------------------------------------------


def test_statistics_of_every_split(shop: Shop) -> None:
    stats = shop.output("statistics")
    assert set(stats) == {"train", "eval", "test"}
    rows = shop.client.metrics(shop.run.run_id)["split"]
    for split in ("train", "eval", "test"):
        table = Statistics.from_json(stats[split])
        assert table.rows == rows[f"{split}_rows"]
        assert set(table.columns) == {"ts", "x1", "x2", "color", "label"}
        frame = shop.client.load_output(shop.run.run_id, "split", split)
        assert table["x1"].mean == pytest.approx(frame["x1"].mean())
        assert table["color"].top is not None
        assert table["color"].top.counts == frame["color"].value_counts().to_dict()


def test_an_inferred_schema_and_its_validation(shop: Shop) -> None:
    schema = shop.output("schema")
    assert schema["label"] == "label"
    assert {n: c["type"] for n, c in schema["columns"].items()} == {
        "ts": "numeric", "x1": "numeric", "x2": "numeric", "color": "categorical", "label": "numeric",
    }
    train = shop.client.load_output(shop.run.run_id, "split", "train")
    assert schema["columns"]["x1"]["min"] == train["x1"].min()
    assert schema["columns"]["color"]["categories"] == ["blue", "green", "red"]
    validation = shop.output("validate")
    assert validation["ok"] is True and validation["errors"] == 0
    # Later rows are out of the train split's range: warnings, by split.
    assert {a["split"] for a in validation["anomalies"]} <= {"eval", "test"}
    assert all(a["severity"] == "warning" for a in validation["anomalies"])
    assert any(a["column"] == "ts" and a["kind"] == "out_of_range" for a in validation["anomalies"])
    metrics = shop.client.metrics(shop.run.run_id)["validate"]
    assert metrics == {"validation_errors": 0.0, "validation_warnings": float(len(validation["anomalies"]))}


def test_skew_between_train_and_eval_test(shop: Shop) -> None:
    skew = shop.output("skew")
    assert set(skew) == {"eval", "test"}
    test = skew["test"]
    assert "x1" in test["drifted"]  # moved by +2 std in the latest rows
    assert "color" not in test["drifted"]
    metrics = shop.client.metrics(shop.run.run_id)["skew"]
    assert metrics["skew.test.drifted_share"] == pytest.approx(test["drifted_share"])
    assert metrics["skew.test.drifted_columns"] == len(test["drifted"])
    assert metrics["skew.eval.drifted_share"] == pytest.approx(skew["eval"]["drifted_share"])
    # The same verdict as comparing the recorded statistics directly.
    stats = shop.output("statistics")
    direct = compare(Statistics.from_json(stats["train"]), Statistics.from_json(stats["test"]))
    assert direct.drifted == test["drifted"]


def test_the_bundle_carries_training_statistics_and_a_feature_schema(shop: Shop) -> None:
    bundle = shop.client.load_bundle(shop.run.artifact("bundle").id).bundle
    assert sorted(bundle.features) == sorted(FEATURES)
    assert bundle.statistics is not None and bundle.data_schema is not None
    assert sorted(bundle.statistics["columns"]) == sorted(FEATURES)  # no label, no dropped column
    train = shop.output("statistics")["train"]
    assert bundle.statistics["rows"] == train["rows"]
    assert bundle.statistics["columns"]["x1"] == train["columns"]["x1"]
    assert sorted(bundle.data_schema["columns"]) == sorted(FEATURES)
    assert bundle.data_schema["label"] is None
    assert bundle.data_version == shop.run.artifact("ingest").id


def test_predict_reports_anomalies_and_drift_of_its_input(shop_env: Shop) -> None:
    shop = shop_env
    rng = np.random.default_rng(8)
    new = pd.DataFrame(
        {"x1": rng.normal(3, 1, 60).round(3), "x2": rng.uniform(0, 9, 60).round(3),
         "color": rng.choice(["red", "purple"], 60)}
    )
    new.to_csv(shop.folder / "new.csv", index=False)
    result = run_cli("predict", shop.run.run_id, "--input", "new.csv", "--json", cwd=shop.folder)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["rows"] == 60
    kinds = {(a["column"], a["kind"]) for a in summary["validation"]["anomalies"]}
    assert ("x2", "out_of_range") in kinds and ("color", "unseen_categories") in kinds
    assert all(a["split"] == "input" for a in summary["validation"]["anomalies"])
    drift = summary["drift"]
    assert drift["current_rows"] == 60 and drift["compared"] == 3
    assert {"x1", "color"} <= set(drift["drifted"]) and drift["dataset_drift"] is True
    # The text output says so too.
    text = run_cli("predict", shop.run.run_id, "--input", "new.csv", cwd=shop.folder)
    assert text.returncode == 0, text.stderr
    assert "unseen_categories" in text.stderr and "Drift from training: " in text.stderr
    assert TRACEBACK not in text.stderr


# -- schema.yaml and validate: {on_error} ------------------------------------------------------------------


SCHEMA = """\
columns:
  x1: {type: numeric, min: -1.0, max: 1.0}
  x2: {type: numeric}
  color: {type: categorical, categories: [red, green, blue]}
  label: {type: numeric}
  ts: {type: numeric}
label: label
severity: {out_of_range: error}
"""


def test_a_failing_validation_stops_the_run_before_training(shop_env: Shop) -> None:
    shop = shop_env
    (shop.folder / "schema.yaml").write_text(SCHEMA)
    yaml = shop.folder / "strict.yaml"
    yaml.write_text(SQL_YAML.replace("name: shop", "name: strict") + "schema: schema.yaml\nvalidate: {on_error: fail}\n")
    run = shop.client.run(str(yaml))
    assert not run.ok and run.error_step == "validate"
    error = run.error or ""
    assert "error(s) in the splits (set validate: {on_error: warn} to go on):" in error
    assert "- [train] column 'x1': " in error and "values below the minimum -1.0" in error
    assert "- [test] column 'x1': " in error and "values above the maximum 1.0" in error
    assert run.steps["train"].status == "skipped"
    assert run.steps["bundle"].status == "skipped"
    assert shop.output("schema", run)["columns"]["x1"]["max"] == 1.0  # the given schema was used


def test_on_error_warn_completes_and_records_the_errors(shop_env: Shop) -> None:
    shop = shop_env
    (shop.folder / "schema.yaml").write_text(SCHEMA)
    yaml = shop.folder / "lenient.yaml"
    yaml.write_text(
        SQL_YAML.replace("name: shop", "name: lenient")
        + "schema: schema.yaml\nvalidate: {on_error: warn}\n"
        + "drift: {columns: {x1: {method: skip}, ts: {method: skip}}, share: 0.3}\n"
    )
    run = shop.client.run(str(yaml))
    assert run.ok, run.error
    validation = shop.output("validate", run)
    assert validation["ok"] is False
    errors = [(a["split"], a["column"], a["kind"]) for a in validation["anomalies"] if a["severity"] == "error"]
    # Below -1 and above 1 in train and eval; only above in test (moved by +2).
    assert sorted(errors) == sorted(
        [(s, "x1", "out_of_range") for s in ("train", "train", "eval", "eval", "test")]
    )
    assert validation["errors"] == 5
    assert shop.client.metrics(run.run_id)["validate"]["validation_errors"] == validation["errors"]
    skew = shop.output("skew", run)
    assert {c["column"] for c in skew["test"]["columns"]} == {"x2", "color", "label"}
    assert skew["test"]["share_threshold"] == 0.3


def test_a_schema_file_with_a_mistake_fails_at_load(shop: Shop) -> None:
    (shop.folder / "bad_schema.yaml").write_text("columns:\n  x1: {type: numbr}\n")
    yaml = shop.folder / "bad.yaml"
    yaml.write_text(SQL_YAML.replace("name: shop", "name: bad") + "schema: bad_schema.yaml\n")
    with pytest.raises(ConfigError, match=r"bad_schema\.yaml:2: columns\.x1\.type: 'numbr' is not one of"):
        shop.client.run(str(yaml))
    yaml.write_text(SQL_YAML.replace("name: shop", "name: bad") + "schema: nowhere.yaml\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: schema file 'nowhere.yaml' not found"):
        shop.client.run(str(yaml))


# -- fsspec URLs -------------------------------------------------------------------------------------------


def test_a_memory_url_source(shop: Shop) -> None:
    url = "memory://shipyard-tests/orders/part-0.csv"
    frame = _orders(300, seed=11).drop(columns=["ts"])
    with fsspec.open(url, "w") as fh:
        frame.to_csv(fh, index=False)
    try:
        yaml = shop.folder / "memory.yaml"
        yaml.write_text(
            f"name: memory\ndata: memory://shipyard-tests/orders/*.csv\nlabel: label\ntrain: {{model: {FAST_MODEL}}}\n"
        )
        run = shop.client.run(str(yaml))
        assert run.ok, run.error
        params = shop.client.params(run.run_id)["ingest"]
        assert params["path"] == "memory://shipyard-tests/orders/*.csv"
        assert len(params["fingerprint"]) == 64
        loaded = shop.client.load_output(run.run_id, "ingest")
        pd.testing.assert_frame_equal(loaded, frame, check_dtype=False)
        assert set(shop.output("statistics", run)) == {"train", "eval", "test"}
        assert run.steps["bundle"].status == "completed"
    finally:
        fsspec.filesystem("memory").rm("shipyard-tests", recursive=True)
