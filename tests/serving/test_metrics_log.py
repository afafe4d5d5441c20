"""What the service records: Prometheus metrics, the prediction log, drift of its traffic.

Four ``shipyard serve`` processes of the taxi classifier run for the module:
one with a half-second log interval (metrics, chunks appearing while serving,
``/drift``), two that are stopped gracefully (SIGINT, SIGTERM) and one that is
killed with SIGKILL. They share the bundle's log folder, so each test finds
its own rows by request id; every file in the folder must stay readable.
"""

from __future__ import annotations

import io
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

import shipyard
from shipyard.bundle.bundle import Predictor
from shipyard.serving.app import ServiceInfo, build_app
from shipyard.serving.log import LOG_PREFIX, log_folder, read_log
from shipyard.stores.artifacts import ArtifactStore
from tests.serving.support import (
    Server,
    ThreadServer,
    TrainedProject,
    metric_value,
    records,
    servable,
    start_all,
    taxi_training_rows,
)

INTERVAL = 0.5


class Servers:
    def __init__(self, project: TrainedProject) -> None:
        self.project = project
        self.trained = project.bundles["taxi"]
        folder, ref = project.folder, self.trained.bundle_id
        self.live = Server(folder, ref, "--log-interval", str(INTERVAL), name="live")
        self.sigint = Server(folder, ref, name="sigint")
        self.sigterm = Server(folder, ref, name="sigterm")
        self.killed = Server(folder, ref, "--log-interval", str(INTERVAL), name="killed")
        self.all = (self.live, self.sigint, self.sigterm, self.killed)

    @property
    def store(self) -> ArtifactStore:
        return ArtifactStore(str(self.project.folder / ".shipyard" / "artifacts"))

    @property
    def log_path(self) -> Path:
        return self.project.folder / ".shipyard" / "artifacts" / log_folder(self.trained.bundle_id)

    def logged(self) -> pd.DataFrame:
        frames = list(read_log(self.store, self.trained.bundle_id))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["request_id"])


@pytest.fixture(scope="module")
def servers(project: TrainedProject) -> Any:
    group = Servers(project)
    start_all(*group.all)
    try:
        yield group
    finally:
        for server in group.all:
            server.kill()


@pytest.fixture(scope="module")
def predictor(servers: Servers) -> Predictor:
    return shipyard.load_bundle(servers.trained.bundle_id, project=servers.project.folder)


@pytest.fixture(scope="module")
def rows(predictor: Predictor) -> list[dict[str, Any]]:
    frame = servable(taxi_training_rows(), predictor).sample(200, random_state=8)
    return records(frame, predictor.bundle.features)


def wait_for(condition: Any, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


# -- metrics ------------------------------------------------------------------------------------


def test_metrics_move_with_the_traffic(servers: Servers, rows: list[dict[str, Any]]) -> None:
    with servers.live.client() as client:
        before = client.get("/metrics").text
        answers = [client.post("/predict", json=r).json() for r in rows[:2]]
        unseen = client.post("/predict", json={**rows[2], "company": "Brand New Cab Co", "payment_type": "Bitcoin"})
        answers.append(unseen.json())
        answers += client.post("/predict", json=rows[3:7]).json()["predictions"]
        invalid = [
            client.post("/predict", json={**rows[0], "fare": "cheap"}),
            client.post("/predict", json={k: v for k, v in rows[0].items() if k != "fare"}),
            client.post("/predict", content=b"{not json", headers={"Content-Type": "application/json"}),
        ]
        too_many = client.post("/predict", json=[rows[0]] * 1001)
        assert client.get("/health").status_code == 200
        after = client.get("/metrics")
    assert [r.status_code for r in invalid] == [422, 422, 422]
    assert too_many.status_code == 413
    assert after.status_code == 200
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text

    def delta(name: str, **labels: str) -> float:
        return metric_value(text, name, **labels) - metric_value(before, name, **labels)

    assert delta("shipyard_requests_total", endpoint="/predict", status="200") == 4
    assert delta("shipyard_requests_total", endpoint="/predict", status="422") == 3
    assert delta("shipyard_requests_total", endpoint="/predict", status="413") == 1
    assert delta("shipyard_requests_total", endpoint="/health", status="200") == 1
    assert delta("shipyard_requests_total", endpoint="/metrics", status="200") == 1  # the first scrape
    # Every request between the two scrapes (and the first scrape) is in the latency histogram.
    assert delta("shipyard_request_duration_seconds_count") == 4 + 3 + 1 + 1 + 1
    assert delta("shipyard_request_duration_seconds_sum") > 0
    assert metric_value(text, "shipyard_request_duration_seconds_bucket", le="+Inf") == metric_value(
        text, "shipyard_request_duration_seconds_count"
    )
    buckets = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("shipyard_request_duration_seconds_bucket")]
    assert buckets == sorted(buckets)
    predicted = [str(a["prediction"]) for a in answers]
    for label in ("0", "1"):
        assert delta("shipyard_predictions_total", prediction=label) == predicted.count(label)
    assert delta("shipyard_records_total") == 7
    assert delta("shipyard_unseen_categories_total", column="company") == 1
    assert delta("shipyard_unseen_categories_total", column="payment_type") == 1
    assert delta("shipyard_validation_failures_total") == 3
    for family in ("shipyard_requests_total", "shipyard_request_duration_seconds", "shipyard_predictions_total",
                   "shipyard_unseen_categories_total", "shipyard_validation_failures_total"):
        assert f"# TYPE {family} " in text


def test_a_server_error_is_counted(predictor: Predictor, rows: list[dict[str, Any]]) -> None:
    """In process (uvicorn in a thread): a model that fails answers 500, and /metrics must count it."""

    class Failing(Predictor):
        def predict_records_with_report(self, records: Any) -> Any:
            raise RuntimeError("the model fell over")

    app = build_app(Failing(predictor.bundle), ServiceInfo(name="broken", version="v1", bundle_id="b" * 64))
    with ThreadServer(app) as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert client.post("/predict", json=rows[0]).status_code == 500
        with httpx.Client(base_url=server.url, timeout=10) as client:
            text = client.get("/metrics").text
    assert metric_value(text, "shipyard_requests_total", endpoint="/predict", status="500") == 1
    assert metric_value(text, "shipyard_request_duration_seconds_count") == 2


# -- the prediction log --------------------------------------------------------------------------


def test_chunks_appear_while_serving(servers: Servers, rows: list[dict[str, Any]]) -> None:
    with servers.live.client() as client:
        ids = [client.post("/predict", json=r).json()["request_id"] for r in rows[10:20]]
    assert wait_for(lambda: set(ids) <= set(servers.logged()["request_id"]), timeout=15), (
        f"no chunk with the rows after 15 s:\n{servers.live.output()[-2000:]}"
    )
    assert servers.live.proc is not None and servers.live.proc.poll() is None  # still serving
    names = servers.store.list_files(log_folder(servers.trained.bundle_id))
    assert names and all(n.startswith(f"{LOG_PREFIX}/{servers.trained.bundle_id[:16]}/") for n in names)
    assert all(n.endswith(".parquet") for n in names)


def test_a_missing_category_is_logged_as_missing(servers: Servers, rows: list[dict[str, Any]], predictor: Predictor) -> None:
    assert predictor.bundle.schema["columns"]["company"]["null_fraction"] > 0  # company may be empty
    # One request, so one chunk: a company, then none.
    body = [{**rows[30], "company": "Taxi Affiliation Services"}, {**rows[31], "company": None}]
    with servers.live.client() as client:
        answer = client.post("/predict", json=body)
    assert answer.status_code == 200, answer.text
    request_id = answer.json()["request_id"]
    assert wait_for(lambda: request_id in set(servers.logged()["request_id"]), timeout=15)
    logged = servers.logged()
    mine = logged[logged["request_id"] == request_id]
    assert mine["company"].iloc[0] == "Taxi Affiliation Services"
    missing = mine["company"].iloc[1]
    assert missing is None or pd.isna(missing), repr(missing)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_graceful_stop_writes_every_prediction(
    servers: Servers, rows: list[dict[str, Any]], predictor: Predictor, sig: int
) -> None:
    server = servers.sigint if sig == signal.SIGINT else servers.sigterm
    sent: dict[str, list[dict[str, Any]]] = {}
    answers: dict[str, list[Any]] = {}
    started = time.time()
    with server.client() as client:
        for i in range(0, 40, 4):
            one = client.post("/predict", json=rows[i]).json()
            sent[one["request_id"]] = [rows[i]]
            answers[one["request_id"]] = [one["prediction"]]
            many = client.post("/predict", json=rows[i + 1 : i + 4]).json()
            sent[many["request_id"]] = rows[i + 1 : i + 4]
            answers[many["request_id"]] = [p["prediction"] for p in many["predictions"]]
    ended = time.time()
    # uvicorn re-raises the signal once it has shut down: 0 or "ended by the signal" are both clean.
    assert server.stop(sig) in (0, -sig, 128 + sig), server.output()[-3000:]
    assert "Application shutdown complete" in server.output()
    logged = servers.logged()
    mine = logged[logged["request_id"].isin(list(sent))]
    assert len(mine) == sum(len(v) for v in sent.values()) == 40
    expected_columns = [*predictor.bundle.features, "prediction", "model_version", "timestamp", "request_id"]
    assert list(mine.columns) == expected_columns
    assert set(mine["model_version"]) == {servers.trained.bundle_id[:12]}
    assert mine["timestamp"].between(started - 1, ended + 1).all()
    for request_id, group in mine.groupby("request_id"):
        assert group["prediction"].tolist() == [str(p) for p in answers[request_id]]
        assert group["fare"].tolist() == pytest.approx([r["fare"] for r in sent[request_id]])
        assert group["payment_type"].tolist() == [r["payment_type"] for r in sent[request_id]]


def test_a_killed_server_loses_at_most_the_last_interval(servers: Servers, rows: list[dict[str, Any]]) -> None:
    server = servers.killed
    answered: list[tuple[str, float]] = []
    with server.client() as client:
        # Nothing is logged yet: /drift has no traffic to report on.
        empty = client.get("/drift")
        assert empty.status_code == 404 and empty.json() == {"detail": "no traffic logged yet"}
        deadline = time.monotonic() + 2.5
        i = 0
        while time.monotonic() < deadline and i < 2000:
            response = client.post("/predict", json=rows[i % len(rows)])
            assert response.status_code == 200
            answered.append((response.json()["request_id"], time.time()))
            i += 1
            time.sleep(0.01)
    assert server.proc is not None
    killed_at = time.time()
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(10)
    assert server.proc.returncode == -signal.SIGKILL
    # Every file in the log folder is a whole Parquet chunk.
    files = [p for p in servers.log_path.rglob("*") if p.is_file()]
    assert files and all(p.suffix == ".parquet" for p in files), files
    for path in files:
        pd.read_parquet(io.BytesIO(path.read_bytes()))
    logged = set(servers.logged()["request_id"])
    ids = [rid for rid, _ in answered]
    assert len(ids) >= 20
    must_have = [rid for rid, at in answered if at < killed_at - INTERVAL - 1.0]
    assert must_have, "the traffic was too short to tell"
    lost = [rid for rid in must_have if rid not in logged]
    assert not lost, f"{len(lost)} of {len(must_have)} predictions older than the last interval were lost"


def test_drift_reports_on_the_traffic_so_far(servers: Servers, rows: list[dict[str, Any]], predictor: Predictor) -> None:
    with servers.live.client() as client:
        client.post("/predict", json=rows[100:160])
        records_served = metric_value(client.get("/metrics").text, "shipyard_records_total")
        drift = client.get("/drift")
        html = client.get("/drift", params={"format": "html"})
        bad = client.get("/drift", params={"format": "pdf"})
    assert drift.status_code == 200, drift.text
    report = drift.json()
    assert report["current_rows"] == records_served >= 60
    assert report["reference_rows"] == predictor.bundle.statistics["rows"]
    assert report["compared"] == len(predictor.bundle.features)
    assert {c["column"] for c in report["columns"]} == set(predictor.bundle.features)
    assert isinstance(report["dataset_drift"], bool)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "Drift of taxi-tips traffic" in html.text
    assert bad.status_code == 422


def test_each_predicting_thread_limits_openmp_to_one_thread(predictor: Predictor, rows: list[dict[str, Any]]) -> None:
    """OpenMP's thread count belongs to each thread: the service sets it in every thread that predicts."""
    import threading

    from threadpoolctl import threadpool_info, threadpool_limits

    from shipyard.serving.app import _predict_one_thread

    seen: dict[str, Any] = {}

    def worker() -> None:
        threadpool_limits(2, user_api="openmp")  # what a fresh thread may start with
        seen["before"] = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"]
        seen["results"], _ = _predict_one_thread(predictor, rows[:3])
        seen["after"] = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"]

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(60)
    assert seen["before"] and set(seen["before"]) == {2}
    assert set(seen["after"]) == {1}
    assert seen["results"] == predictor.predict_records(rows[:3])
