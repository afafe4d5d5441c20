"""``shipyard data ...`` and ``shipyard report`` in subprocesses, as a user types them.

One project per module: small CSVs written here (a reference, one drawn from
the same distribution, one drifted), the real Chicago taxi trips, and a YAML
run whose splits the commands read as ``latest:train``.
"""

from __future__ import annotations

import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from shipyard.data.schema import load_schema
from tests.data.support import (
    TAXI_CSV,
    TRACEBACK,
    isolated,
    new_client,
    pipeline_yaml,
    toy_frame,
)
from tests.helpers import run_cli

COLUMNS = ["x1", "x2", "color", "label"]


@dataclass
class Folder:
    path: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, cwd=self.path)



def assert_user_error(result: subprocess.CompletedProcess[str], headline: str, text: str) -> None:
    """Exit code 2, one clear message on stderr, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert TRACEBACK not in result.stderr and TRACEBACK not in result.stdout
    assert "Internal error" not in result.stderr
    message = " ".join(result.stderr.split())  # the console wraps long lines
    assert message.startswith(f"{headline}: "), message
    assert text in message, message


def assert_offline_html(path: Path, *names: str) -> str:
    doc = path.read_text(encoding="utf-8")
    assert doc.startswith("<!DOCTYPE html>") and doc.rstrip().endswith("</html>")
    assert "http://" not in doc and "https://" not in doc
    assert "<link" not in doc and not re.search(r"\bsrc\s*=", doc)
    for name in names:
        assert f">{name}<" in doc, name
    return doc


def _write_files(path: Path) -> None:
    rng = np.random.default_rng(4)
    ref = toy_frame(600, seed=1)
    ref.to_csv(path / "ref.csv", index=False)
    toy_frame(600, seed=2).to_csv(path / "same.csv", index=False)
    drifted = toy_frame(600, seed=3)
    drifted["x1"] += 1.0
    drifted["color"] = rng.choice(["red", "green", "blue", "purple"], 600, p=[0.1, 0.1, 0.2, 0.6])
    drifted.to_csv(path / "drifted.csv", index=False)
    # Warnings only: reference rows with a few values past the range, one unseen category.
    warned = ref.head(200).copy()
    warned.loc[:2, "x2"] = 9.5
    warned.loc[3, "color"] = "purple"
    warned.to_csv(path / "warned.csv", index=False)
    # Errors: text in a number column, a missing column.
    broken = ref.head(100).drop(columns=["color"])
    broken["x1"] = broken["x1"].astype(str)
    broken.loc[:4, "x1"] = "cheap"
    broken.to_csv(path / "broken.csv", index=False)
    ref.assign(x2=np.where(ref["x2"] < 2.5, "low", "high")).to_csv(path / "retyped.csv", index=False)
    # The taxi trips split by time: 2013-2014 and 2015-2016.
    taxi = pd.read_csv(TAXI_CSV, low_memory=False)
    year = pd.to_datetime(taxi["trip_start_timestamp"], unit="s").dt.year
    taxi[year <= 2014].to_csv(path / "taxi_early.csv", index=False)
    taxi[year >= 2015].to_csv(path / "taxi_late.csv", index=False)
    (path / "pipeline.yaml").write_text(pipeline_yaml("ref.csv", name="cli-toy"))
    (path / "bad_schema.yaml").write_text("columns:\n  x1:\n    type: numbr\n")


#: Commands that only read what the setup made; they run concurrently.
TAXI = str(TAXI_CSV)
COMMANDS: dict[str, tuple[str, ...]] = {
    "list_json": ("data", "list", "--json"),
    "list": ("data", "list"),
    "show_json": ("data", "show", "toy@1", "--json"),
    "show": ("data", "show", "toy"),
    "diff_json": ("data", "diff", "toy@1", "toy@2", "--json"),
    "export_parquet": ("data", "export", "toy@1", "exports/toy.parquet"),
    "export_csv": ("data", "export", "toy@1", "exports/toy.csv"),
    "export_jsonl": ("data", "export", "toy@1", "exports/toy.jsonl"),
    "stats_json": ("data", "stats", "ref.csv", "--format", "json"),
    "stats_dataset": ("data", "stats", "toy@1", "-f", "json"),
    "stats_text": ("data", "stats", "ref.csv"),
    "stats_html": ("data", "stats", "ref.csv", "--format", "html", "-o", "stats.html"),
    "taxi_stats": ("data", "stats", TAXI, "-f", "json"),
    "taxi_stats_html": ("data", "stats", TAXI, "-f", "html", "-o", "taxi.html"),
    "taxi_schema": ("data", "schema", TAXI, "--label", "big_tipper"),
    "validate_clean": ("data", "validate", "ref.csv", "--schema", "toy_schema.yaml", "-f", "json"),
    "validate_warned": ("data", "validate", "warned.csv", "--schema", "toy_schema.yaml", "--format", "json"),
    "validate_warned_text": ("data", "validate", "warned.csv", "--schema", "toy_schema.yaml"),
    "validate_broken": ("data", "validate", "broken.csv", "--schema", "toy_schema.yaml", "-f", "json"),
    "validate_broken_html": (
        "data", "validate", "broken.csv", "--schema", "toy_schema.yaml", "-f", "html", "-o", "validation.html",
    ),
    "drift_same": ("data", "drift", "ref.csv", "same.csv", "-f", "json"),
    "drift_same_fail": ("data", "drift", "ref.csv", "same.csv", "--fail-on-drift"),
    "drift_json": ("data", "drift", "ref.csv", "drifted.csv", "-f", "json"),  # exit 0: no --fail-on-drift
    "drift_fail": ("data", "drift", "ref.csv", "drifted.csv", "--fail-on-drift"),
    "drift_html": ("data", "drift", "ref.csv", "drifted.csv", "--format", "html", "--output", "drift.html"),
    "drift_retyped": ("data", "drift", "ref.csv", "retyped.csv", "-f", "json"),
    "drift_itself": ("data", "drift", "ref.csv", "ref.csv", "-f", "json"),
    "taxi_drift": ("data", "drift", "taxi_early.csv", "taxi_late.csv", "-f", "json"),
    "drift_datasets": ("data", "drift", "toy@1", "toy@2", "-f", "json"),
    "drift_splits": ("data", "drift", "latest:train", "latest:test", "-f", "json"),
    "stats_split": ("data", "stats", "latest:train", "-f", "json"),
    "report": ("report", "latest"),
    "report_json": ("report", "latest", "--format", "json"),
    # User mistakes.
    "show_unknown": ("data", "show", "nope"),
    "show_bad_version": ("data", "show", "toy@9"),
    "stats_missing": ("data", "stats", "missing.csv"),
    "add_missing": ("data", "add", "x", "missing-*.csv"),
    "export_bad_format": ("data", "export", "toy@1", "out.xlsx"),
    "html_without_output": ("data", "stats", "ref.csv", "-f", "html"),
    "bad_format": ("data", "stats", "ref.csv", "-f", "xml"),
    "bad_schema": ("data", "validate", "ref.csv", "--schema", "bad_schema.yaml"),
    "missing_schema": ("data", "validate", "ref.csv", "--schema", "no_schema.yaml"),
    "report_unknown": ("report", "0000dead"),
}


@dataclass
class Commands:
    """The project and what each command printed."""

    folder: Folder
    added: dict[str, subprocess.CompletedProcess[str]]
    run_id: str
    schema: subprocess.CompletedProcess[str]
    results: dict[str, subprocess.CompletedProcess[str]]
    more: dict[str, subprocess.CompletedProcess[str]]

    @property
    def path(self) -> Path:
        return self.folder.path

    def __getitem__(self, key: str) -> subprocess.CompletedProcess[str]:
        return self.results[key]

    def ok(self, key: str) -> subprocess.CompletedProcess[str]:
        result = self.results[key]
        assert result.returncode == 0, (COMMANDS[key], result.stdout, result.stderr)
        assert TRACEBACK not in result.stderr
        return result

    def json(self, key: str) -> object:
        return json.loads(self.ok(key).stdout)


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> Commands:
    path = tmp_path_factory.mktemp("cli")
    _write_files(path)
    with isolated():
        new_client(path).close()
    folder = Folder(path)

    def add_versions() -> dict[str, subprocess.CompletedProcess[str]]:
        return {
            "first": folder.cli("data", "add", "toy", "ref.csv", "-m", "reference rows"),
            "again": folder.cli("data", "add", "toy", "ref.csv"),
            "second": folder.cli("data", "add", "toy", "drifted.csv", "--json"),
        }

    with ThreadPoolExecutor(max_workers=3) as pool:
        adding = pool.submit(add_versions)
        running = pool.submit(folder.cli, "run", "pipeline.yaml")
        schema = pool.submit(folder.cli, "data", "schema", "ref.csv", "--label", "label").result()
        added, run = adding.result(), running.result()
    assert run.returncode == 0, run.stderr
    match = re.search(r"Run ([0-9a-f]{16})", run.stdout + run.stderr)
    assert match, run.stdout
    assert schema.returncode == 0, schema.stderr
    (path / "toy_schema.yaml").write_text(schema.stdout)
    run_id = match.group(1)
    more = {  # commands naming the run by id and by prefix
        "report_by_id": ("report", run_id[:10], "-o", "reports/run.html"),
        "drift_by_id": ("data", "drift", f"{run_id}:train", f"{run_id[:8]}:eval", "-f", "json"),
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(folder.cli, *args) for key, args in COMMANDS.items()}
        extra = {key: pool.submit(folder.cli, *args) for key, args in more.items()}
        results = {key: f.result() for key, f in futures.items()}
        more_results = {key: f.result() for key, f in extra.items()}
    return Commands(folder, added, run_id, schema, results, more_results)


# -- datasets -----------------------------------------------------------------------------------


def test_data_add(commands: Commands) -> None:
    first, again, second = commands.added["first"], commands.added["again"], commands.added["second"]
    for result in (first, again, second):
        assert result.returncode == 0, result.stderr
    assert re.search(r"Added toy@1: 600 rows, 4 columns \(data [0-9a-f]{12}\)", first.stdout)
    assert "Unchanged: this content is already toy@1" in again.stdout
    data = json.loads(second.stdout)
    assert (data["name"], data["version"], data["rows"], data["created"]) == ("toy", 2, 600, True)
    assert data["columns"] == COLUMNS and data["user"] == "tester"


def test_data_list_and_show(commands: Commands) -> None:
    listed = commands.json("list_json")
    assert [(v["name"], v["version"], v["rows"]) for v in listed] == [("toy", 2, 600)]
    text = commands.ok("list").stdout
    assert "toy" in text and "dataset" in text and "latest" in text

    shown = commands.json("show_json")
    assert (shown["version"], shown["message"], shown["versions"]) == (1, "reference rows", [2, 1])
    # The run read ref.csv by path: the same content, so the same data version.
    assert shown["runs"] == [commands.run_id]
    assert shown["statistics"]["rows"] == 600
    assert set(shown["statistics"]["columns"]) == set(COLUMNS)
    ref = pd.read_csv(commands.path / "ref.csv")
    assert shown["statistics"]["columns"]["x1"]["mean"] == pytest.approx(ref["x1"].mean())
    text = commands.ok("show").stdout
    assert "Dataset toy@2" in text and "600 rows, 4 columns" in text
    for column in COLUMNS:
        assert column in text


def test_data_diff(commands: Commands) -> None:
    result = commands.json("diff_json")
    assert (result["a"], result["b"]) == ("toy@1", "toy@2")
    assert result["rows"] == [600, 600]
    assert (result["rows_added"], result["rows_removed"]) == (600, 600)
    assert result["columns_added"] == [] and result["columns_removed"] == []
    assert {"x1", "color"} <= set(result["drifted"])


@pytest.mark.parametrize("suffix", ["parquet", "csv", "jsonl"])
def test_data_export(commands: Commands, suffix: str) -> None:
    result = commands.ok(f"export_{suffix}")
    assert "Wrote 600 rows" in result.stdout
    target = commands.path / "exports" / f"toy.{suffix}"
    read = {"parquet": pd.read_parquet, "csv": pd.read_csv, "jsonl": lambda p: pd.read_json(p, lines=True)}[suffix]
    pd.testing.assert_frame_equal(read(target), pd.read_csv(commands.path / "ref.csv"), check_dtype=False)
    assert not list(target.parent.glob(".*.tmp"))


# -- statistics and schema ------------------------------------------------------------------------------


def test_data_stats_formats(commands: Commands) -> None:
    data = commands.json("stats_json")
    ref = pd.read_csv(commands.path / "ref.csv")
    assert data["rows"] == 600 and list(data["columns"]) == COLUMNS
    assert data["columns"]["x1"]["mean"] == pytest.approx(ref["x1"].mean())
    assert data["columns"]["color"]["top"] == [[k, int(v)] for k, v in ref["color"].value_counts().items()]
    assert commands.json("stats_dataset")["columns"] == data["columns"]

    text = commands.ok("stats_text").stdout
    assert "600 rows" in text and all(c in text for c in COLUMNS)

    assert "Wrote" in commands.ok("stats_html").stdout
    assert_offline_html(commands.path / "stats.html", *COLUMNS)


def test_data_stats_of_the_taxi_trips(commands: Commands) -> None:
    data = commands.json("taxi_stats")
    taxi = pd.read_csv(TAXI_CSV, low_memory=False)
    assert data["rows"] == len(taxi) == 15_002 and len(data["columns"]) == 19
    payment = data["columns"]["payment_type"]
    assert payment["top"][:3] == [[k, int(v)] for k, v in taxi["payment_type"].value_counts().head(3).items()]
    fare = data["columns"]["fare"]
    assert (fare["min"], fare["max"]) == (taxi["fare"].min(), taxi["fare"].max())
    assert fare["mean"] == pytest.approx(taxi["fare"].mean())
    assert fare["nulls"] == int(taxi["fare"].isna().sum())
    latitude = data["columns"]["pickup_latitude"]
    assert latitude["p50"] == pytest.approx(taxi["pickup_latitude"].median(), abs=0.001)
    commands.ok("taxi_stats_html")
    assert_offline_html(commands.path / "taxi.html", "payment_type", "trip_start_timestamp", "company")


def test_data_schema(commands: Commands) -> None:
    assert commands.schema.stdout.startswith("# Schema:")
    body = yaml.safe_load(commands.schema.stdout)
    assert body["label"] == "label" and list(body["columns"]) == COLUMNS
    assert body["columns"]["color"]["categories"] == ["blue", "green", "red"]
    assert load_schema(commands.path / "toy_schema.yaml").columns["x1"].type == "numeric"

    (commands.path / "taxi_schema.yaml").write_text(commands.ok("taxi_schema").stdout)
    schema = load_schema(commands.path / "taxi_schema.yaml")
    assert schema.label == "big_tipper" and len(schema.columns) == 19
    assert "Cash" in (schema.columns["payment_type"].categories or [])


# -- validation ------------------------------------------------------------------------------------------


def test_data_validate_passes_clean_data(commands: Commands) -> None:
    assert commands.json("validate_clean") == {"ok": True, "errors": 0, "warnings": 0, "anomalies": []}


def test_data_validate_exits_0_on_warnings_only(commands: Commands) -> None:
    data = commands.json("validate_warned")
    assert data["ok"] is True and data["errors"] == 0 and data["warnings"] == 2
    kinds = {(a["column"], a["kind"], a["severity"]) for a in data["anomalies"]}
    assert kinds == {("x2", "out_of_range", "warning"), ("color", "unseen_categories", "warning")}
    text = commands.ok("validate_warned_text").stdout
    assert "out_of_range" in text and "unseen_categories" in text


def test_data_validate_exits_2_on_errors(commands: Commands) -> None:
    result = commands["validate_broken"]
    assert_user_error(result, "Data validation failed", "2 error(s) in broken.csv:")
    data = json.loads(result.stdout)
    kinds = {(a["column"], a["kind"], a["severity"]) for a in data["anomalies"]}
    assert kinds == {("color", "missing_column", "error"), ("x1", "type_mismatch", "error")}
    assert "column 'color' is missing" in result.stderr

    assert commands["validate_broken_html"].returncode == 2
    doc = assert_offline_html(commands.path / "validation.html")
    assert "type_mismatch" in doc and "missing_column" in doc


# -- drift -----------------------------------------------------------------------------------------------


def test_data_drift_between_files(commands: Commands) -> None:
    same = commands.json("drift_same")
    assert same["dataset_drift"] is False and same["compared"] == 4
    assert commands.ok("drift_same_fail").returncode == 0

    drifted = commands.json("drift_json")
    assert drifted["dataset_drift"] is True and {"x1", "color"} <= set(drifted["drifted"])

    failing = commands["drift_fail"]
    assert_user_error(failing, "Error", "The data drifts:")
    assert re.search(r"The data drifts: \d of 4 columns \(\d+%\)", " ".join(failing.stderr.split()))

    commands.ok("drift_html")
    doc = assert_offline_html(commands.path / "drift.html", *COLUMNS)
    assert "Dataset drift detected" in doc


def test_data_drift_of_a_changed_type(commands: Commands) -> None:
    x2 = next(c for c in commands.json("drift_retyped")["columns"] if c["column"] == "x2")
    assert x2["drifted"] and x2["note"] == "the type changed from numeric to categorical"


def test_data_drift_of_a_source_against_itself(commands: Commands) -> None:
    data = commands.json("drift_itself")
    assert data["dataset_drift"] is False and data["drifted"] == []


def test_data_drift_of_the_taxi_trips(commands: Commands) -> None:
    data = commands.json("taxi_drift")
    assert data["reference_rows"] > 9000 and data["current_rows"] > 5000
    assert {"payment_type", "company", "trip_start_timestamp"} <= set(data["drifted"])
    fare = next(c for c in data["columns"] if c["column"] == "fare")
    assert fare["tests"]["ks"]["flagged"]


def test_data_drift_between_datasets(commands: Commands) -> None:
    data = commands.json("drift_datasets")
    assert data["dataset_drift"] is True and {"x1", "color"} <= set(data["drifted"])


# -- a run's splits and its report ----------------------------------------------------------------------------


def test_drift_and_stats_of_a_runs_splits(commands: Commands) -> None:
    data = commands.json("drift_splits")
    assert data["compared"] == 4 and data["reference_rows"] == 420 and data["current_rows"] == 90
    by_id = commands.more["drift_by_id"]
    assert by_id.returncode == 0, by_id.stderr
    assert json.loads(by_id.stdout)["current_rows"] == 90
    stats = commands.json("stats_split")
    assert stats["rows"] == 420 and list(stats["columns"]) == COLUMNS


def test_report_of_a_run(commands: Commands) -> None:
    result = commands.ok("report")
    target = commands.path / f"shipyard-report-{commands.run_id[:8]}.html"
    assert target.name in " ".join(result.stdout.split())
    doc = assert_offline_html(target, *COLUMNS)
    assert ">train<" in doc and ">test<" in doc
    assert commands.more["report_by_id"].returncode == 0, commands.more["report_by_id"].stderr
    assert_offline_html(commands.path / "reports" / "run.html", *COLUMNS)
    data = commands.json("report_json")
    assert data["run_id"] == commands.run_id
    assert set(data["statistics"]) == {"train", "eval", "test"}
    assert data["validation"]["ok"] is True and set(data["skew"]) == {"eval", "test"}


# -- user mistakes ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "headline", "text"),
    [
        ("show_unknown", "Dataset not found", "No dataset named 'nope'; datasets: toy."),
        ("show_bad_version", "Dataset not found", "Dataset 'toy' has no version 9; versions: 2, 1."),
        ("stats_missing", "Data problem", "No file matches 'missing.csv'"),
        ("add_missing", "Data problem", "No file matches 'missing-*.csv'"),
        ("export_bad_format", "Data problem", "unknown data format '.xlsx'"),
        ("html_without_output", "Error", "--format html needs --output FILE.html."),
        ("bad_format", "Error", "--format 'xml' is not one of text, json, html."),
        ("bad_schema", "Invalid configuration", "bad_schema.yaml:3: columns.x1.type: 'numbr' is not one of"),
        ("missing_schema", "Invalid configuration", "no_schema.yaml: file not found"),
        ("report_unknown", "Run not found", "0000dead"),
    ],
)
def test_user_mistakes_exit_2_with_one_clear_message(commands: Commands, key: str, headline: str, text: str) -> None:
    assert_user_error(commands[key], headline, text)
