"""``shipyard monitor`` on logged traffic, and ``shipyard predict``'s drift report.

One ``shipyard serve`` process of the taxi classifier logs two phases of
traffic: first the rows of the training split itself (no drift; all of them,
so that sampling noise cannot look like drift), then a sample of them with
fares multiplied, trips longer, the payment mix changed and more (drift). ``monitor`` must pass the first, flag the second (found with
``--since``), and fail with exit code 2 under ``--fail-on-drift``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shipyard
from shipyard.bundle.bundle import Predictor
from shipyard.client import Client
from shipyard.serving.log import read_log
from tests.serving.support import (
    Server,
    TrainedProject,
    cli,
    cli_env,
    records,
    servable,
)

ROWS = 500
#: Seconds between the end of the clean traffic and the start of the drifted one, at least:
#: more than a ``shipyard monitor`` process needs to start (its --since counts from its start).
GAP = 4.0


def training_split(project: TrainedProject, predictor: Predictor) -> pd.DataFrame:
    """The rows of the training split, as the split step stored them."""
    with Client(project.folder) as client:
        train = client.load_output(project.bundles["taxi"].run_id, "split", "train")
    return servable(train, predictor)


def training_sample(project: TrainedProject, predictor: Predictor, n: int = ROWS, seed: int = 0) -> pd.DataFrame:
    """Rows of the training split, drawn at random."""
    return training_split(project, predictor).sample(n, random_state=seed)


def drifted(rows: pd.DataFrame) -> pd.DataFrame:
    """The same trips, shifted: dearer, longer, later, elsewhere, paid in cash."""
    rng = np.random.default_rng(1)
    out = rows.copy()
    out["fare"] = out["fare"] * 3 + 10
    out["trip_miles"] = out["trip_miles"] * 4 + 3
    out["trip_seconds"] = out["trip_seconds"] * 3 + 900
    out["trip_start_hour"] = (out["trip_start_hour"] + 12) % 24
    out["trip_start_month"] = 12
    out["trip_start_day"] = 1
    out["trip_start_timestamp"] = out["trip_start_timestamp"] + 4 * 365 * 86400
    out["payment_type"] = rng.choice(["Cash", "No Charge"], len(out), p=[0.6, 0.4])
    out["company"] = "Brand New Cab Co"
    for column in ("pickup_community_area", "dropoff_community_area"):
        out[column] = 76.0
    for column in ("pickup_latitude", "dropoff_latitude"):
        out[column] = out[column] + 0.25
    for column in ("pickup_longitude", "dropoff_longitude"):
        out[column] = out[column] - 0.3
    return out


@dataclass
class Traffic:
    folder: Path
    bundle_id: str
    clean: pd.DataFrame
    shifted: pd.DataFrame
    clean_end: float
    clean_report: dict[str, Any]
    clean_exit: subprocess.CompletedProcess[str]


def send(server: Server, frame: pd.DataFrame, predictor: Predictor) -> list[str]:
    body = records(frame, predictor.bundle.features)
    ids = []
    with server.client() as client:
        for start in range(0, len(body), 100):
            response = client.post("/predict", json=body[start : start + 100])
            assert response.status_code == 200, response.text
            ids.append(response.json()["request_id"])
    return ids


def wait_logged(project: TrainedProject, bundle_id: str, ids: list[str], timeout: float = 20) -> None:
    from shipyard.stores.artifacts import ArtifactStore

    store = ArtifactStore(str(project.folder / ".shipyard" / "artifacts"))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logged = {rid for chunk in read_log(store, bundle_id) for rid in chunk["request_id"]}
        if set(ids) <= logged:
            return
        time.sleep(0.2)
    raise AssertionError(f"the log did not get requests {sorted(set(ids) - logged)[:3]}... in {timeout}s")


def monitor(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return cli("monitor", *args, cwd=folder)


def monitor_json(folder: Path, *args: str) -> dict[str, Any]:
    done = monitor(folder, *args, "-f", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def traffic(project: TrainedProject) -> Any:
    trained = project.bundles["taxi"]
    predictor = shipyard.load_bundle(trained.bundle_id, project=project.folder)
    clean = training_split(project, predictor)
    shifted = drifted(training_sample(project, predictor, seed=1))
    with Server(project.folder, trained.bundle_id, "--log-interval", "0.5", name="monitored") as server:
        # Before any traffic, monitor says so.
        nothing = monitor(project.folder, trained.bundle_id)
        assert nothing.returncode == 0 and "No logged traffic" in nothing.stdout, nothing.stdout + nothing.stderr
        wait_logged(project, trained.bundle_id, send(server, clean, predictor))
        clean_end = time.time()
        clean_report = monitor_json(project.folder, trained.bundle_id)
        clean_exit = monitor(project.folder, trained.run_id, "--fail-on-drift")
        time.sleep(max(0.0, clean_end + GAP - time.time()))
        wait_logged(project, trained.bundle_id, send(server, shifted, predictor))
    yield Traffic(project.folder, trained.bundle_id, clean, shifted, clean_end, clean_report, clean_exit)


def test_traffic_drawn_from_the_training_data_does_not_drift(traffic: Traffic) -> None:
    report = traffic.clean_report
    assert report["bundle_id"] == traffic.bundle_id
    assert report["rows"] == len(traffic.clean) > 2000
    assert report["dataset_drift"] is False
    assert report["compared"] >= 15
    by_column = {c["column"]: c for c in report["columns"]}
    numeric = [c for c, info in by_column.items() if info["type"] == "numeric" and info["score"] is not None]
    assert len(numeric) >= 12
    for column in numeric:
        assert by_column[column]["drifted"] is False and by_column[column]["score"] < 0.01, by_column[column]
    # 'company' (a category with gaps) is flagged by a bug of the log; see the next test.
    assert set(report["drifted"]) <= {"company"}
    assert traffic.clean_exit.returncode == 0, traffic.clean_exit.stderr


def test_traffic_drawn_from_the_training_data_flags_no_column(traffic: Traffic) -> None:
    assert traffic.clean_report["drifted"] == []


def test_injected_drift_is_flagged(traffic: Traffic) -> None:
    since = time.time() - traffic.clean_end - 0.05
    report = monitor_json(traffic.folder, traffic.bundle_id, "--since", f"{since:.2f}s")
    assert report["rows"] == ROWS  # only the drifted phase
    assert report["dataset_drift"] is True
    assert {"fare", "payment_type", "trip_miles", "company"} <= set(report["drifted"])
    by_column = {c["column"]: c for c in report["columns"]}
    assert by_column["fare"]["method"] == "wasserstein" and by_column["fare"]["score"] >= 0.1
    assert by_column["payment_type"]["method"] == "jensen_shannon" or by_column["payment_type"]["drifted"]


def test_since_filters_the_traffic(traffic: Traffic) -> None:
    everything = monitor_json(traffic.folder, traffic.bundle_id, "--since", "1h")
    assert everything["rows"] == len(traffic.clean) + ROWS
    bad = monitor(traffic.folder, traffic.bundle_id, "--since", "yesterday")
    assert bad.returncode == 2
    assert "is not a duration" in bad.stderr


def test_fail_on_drift_exits_2(traffic: Traffic) -> None:
    since = time.time() - traffic.clean_end - 0.05
    done = monitor(traffic.folder, traffic.bundle_id, "--since", f"{since:.2f}s", "--fail-on-drift")
    assert done.returncode == 2, done.stdout + done.stderr
    flat = " ".join(done.stderr.split())
    assert "The traffic drifts:" in flat
    assert "Traceback" not in done.stdout + done.stderr
    assert "fare" in done.stdout  # the table is printed before the verdict


def test_html_report(traffic: Traffic) -> None:
    target = traffic.folder / "drift.html"
    done = monitor(traffic.folder, traffic.bundle_id, "-f", "html", "-o", str(target))
    assert done.returncode == 0, done.stderr
    page = target.read_text()
    assert page.lstrip().lower().startswith("<!doctype html") and "fare" in page


def test_predict_reports_the_drift_of_its_input(project: TrainedProject) -> None:
    trained = project.bundles["taxi"]
    predictor = shipyard.load_bundle(trained.bundle_id, project=project.folder)
    clean = training_split(project, predictor)
    shifted = drifted(training_sample(project, predictor, seed=4))
    clean.to_csv(project.folder / "clean.csv", index=False)
    shifted.to_csv(project.folder / "shifted.csv", index=False)
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "shipyard", "predict", trained.run_id, "--input", f"{name}.csv", "--json"],
            cwd=project.folder, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for name in ("clean", "shifted")
    }
    out = {}
    for name, proc in procs.items():
        try:
            stdout, stderr = proc.communicate(timeout=120)
        finally:
            proc.kill()
        assert proc.returncode == 0, stderr
        out[name] = json.loads(stdout)
    assert out["clean"]["rows"] == len(clean)
    assert out["shifted"]["rows"] == ROWS
    for name in out:
        assert set(out[name]) >= {"validation", "drift", "unseen_categories"}
        assert isinstance(out[name]["validation"]["anomalies"], list)
    assert out["clean"]["drift"]["dataset_drift"] is False
    assert out["clean"]["drift"]["drifted"] == []
    assert out["shifted"]["drift"]["dataset_drift"] is True
    assert {"fare", "payment_type"} <= set(out["shifted"]["drift"]["drifted"])
    assert out["shifted"]["unseen_categories"] == {"company": ROWS}
    anomalies = {(a["column"], a["kind"]) for a in out["shifted"]["validation"]["anomalies"]}
    assert ("fare", "out_of_range") in anomalies
