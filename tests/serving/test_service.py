"""The prediction service behind the real ``shipyard serve`` command.

Three servers run for the module, started as subprocesses on free loopback
ports: the taxi classifier (at most 50 records per request), the bike-rentals
regressor behind a bearer token, and the taxi classifier trained with a strict
schema (unseen categories and out-of-range numbers are errors; no log).
Answers are compared with the bundle's own batch predictions
(``predict_frame``) on the same rows.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import shipyard
from shipyard.bundle.bundle import Predictor
from tests.serving.support import (
    HOST,
    Server,
    TrainedProject,
    bikes_frame,
    records,
    servable,
    start_all,
    taxi_training_rows,
)

TOKEN = "s3cret-token-for-tests"
MAX_RECORDS = 50


class Servers:
    def __init__(self, project: TrainedProject) -> None:
        folder = project.folder
        (folder / "token.txt").write_text(TOKEN + "\n")
        b = project.bundles
        self.project = project
        self.taxi = Server(folder, b["taxi"].run_id, "--max-records", str(MAX_RECORDS), name="taxi")
        self.bikes = Server(folder, b["bikes"].bundle_id, "--token-file", "token.txt", name="bikes")
        self.strict = Server(folder, b["strict"].run_id, "--no-log", name="strict")
        self.all = (self.taxi, self.bikes, self.strict)

    def predictor(self, name: str) -> Predictor:
        return shipyard.load_bundle(self.project.bundles[name].bundle_id, project=self.project.folder)


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
def taxi(servers: Servers) -> Any:
    with servers.taxi.client() as client:
        yield client


@pytest.fixture(scope="module")
def strict(servers: Servers) -> Any:
    with servers.strict.client() as client:
        yield client


@pytest.fixture(scope="module")
def bikes(servers: Servers) -> Any:
    with servers.bikes.client(TOKEN) as client:
        yield client


@pytest.fixture(scope="module")
def taxi_predictor(servers: Servers) -> Predictor:
    return servers.predictor("taxi")


@pytest.fixture(scope="module")
def taxi_rows(taxi_predictor: Predictor) -> pd.DataFrame:
    """Raw trips (as read from the CSV, with the label columns) the service accepts."""
    return servable(taxi_training_rows(), taxi_predictor).sample(60, random_state=5)


@pytest.fixture(scope="module")
def good(taxi_rows: pd.DataFrame, taxi_predictor: Predictor) -> dict[str, Any]:
    """One valid taxi record."""
    return records(taxi_rows.head(1), taxi_predictor.bundle.features)[0]


def no_server_error(response: httpx.Response) -> httpx.Response:
    assert response.status_code < 500, f"{response.status_code}: {response.text}"
    return response


def problems(response: httpx.Response) -> dict[str | None, str]:
    """Field -> message of a 422 body."""
    assert response.status_code == 422, f"{response.status_code}: {response.text}"
    body = response.json()
    assert isinstance(body["detail"], list) and body["detail"], body
    return {p["field"]: p["message"] for p in body["detail"]}


def assert_matches_frame(answers: list[dict[str, Any]], expected: pd.DataFrame, predictor: Predictor) -> None:
    assert len(answers) == len(expected)
    classes = predictor.bundle.classes
    if classes is None:
        np.testing.assert_allclose(
            [a["prediction"] for a in answers], expected["prediction"].to_numpy(float), rtol=1e-9, atol=1e-9
        )
        return
    assert [a["prediction"] for a in answers] == expected["prediction"].tolist()
    for c in classes:
        np.testing.assert_allclose(
            [a["probabilities"][str(c)] for a in answers], expected[f"proba_{c}"].to_numpy(float), rtol=0, atol=1e-9
        )


# -- predictions ----------------------------------------------------------------------------


def test_single_records_get_the_bundles_batch_predictions(
    taxi: httpx.Client, taxi_rows: pd.DataFrame, taxi_predictor: Predictor, servers: Servers
) -> None:
    rows = taxi_rows.head(12)
    expected = taxi_predictor.predict_frame(rows)
    answers = []
    for record in records(rows, taxi_predictor.bundle.features):
        response = taxi.post("/predict", json=record)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"prediction", "probabilities", "model", "request_id"}
        assert body["model"] == {"name": "taxi-tips", "version": servers.project.bundles["taxi"].bundle_id[:12]}
        assert re.fullmatch(r"[0-9a-f]{16}", body["request_id"])
        assert set(body["probabilities"]) == {"0", "1"}
        assert sum(body["probabilities"].values()) == pytest.approx(1.0)
        answers.append(body)
    assert_matches_frame(answers, expected, taxi_predictor)
    assert {a["prediction"] for a in answers} <= {0, 1}
    assert len({a["request_id"] for a in answers}) == len(answers)


def test_a_list_gets_the_batch_predictions_in_order(
    taxi: httpx.Client, taxi_rows: pd.DataFrame, taxi_predictor: Predictor
) -> None:
    rows = taxi_rows.head(MAX_RECORDS)
    # Extra columns (the label, the dropped tips) are ignored, as in batch prediction.
    body = [{**r, "tips": 1.5, "big_tipper": 1} for r in records(rows, taxi_predictor.bundle.features)]
    response = taxi.post("/predict", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"predictions", "model", "request_id"}
    assert_matches_frame(answer["predictions"], taxi_predictor.predict_frame(rows), taxi_predictor)
    assert {p["prediction"] for p in answer["predictions"]} == {0, 1}  # both classes in the sample


def test_numbers_sent_as_text_and_categories_as_numbers_are_read_like_the_batch_path(
    taxi: httpx.Client, taxi_rows: pd.DataFrame, taxi_predictor: Predictor
) -> None:
    rows = taxi_rows.head(5).astype({"company": object})
    rows.iloc[0, rows.columns.get_loc("company")] = 123  # an unseen category, given as a number
    body = records(rows, taxi_predictor.bundle.features)
    assert body[0]["company"] == 123
    for record in body:
        record["fare"] = str(record["fare"])
    answer = no_server_error(taxi.post("/predict", json=body))
    assert answer.status_code == 200, answer.text
    assert_matches_frame(answer.json()["predictions"], taxi_predictor.predict_frame(rows), taxi_predictor)


def test_the_regressor_answers_its_batch_values(bikes: httpx.Client, servers: Servers) -> None:
    predictor = servers.predictor("bikes")
    rows = bikes_frame().sample(40, random_state=3)
    body = records(rows, predictor.bundle.features)
    assert isinstance(body[0]["dteday"], str) and len(body[0]["dteday"]) == 10  # "2011-05-04"
    expected = predictor.predict_frame(rows)
    response = bikes.post("/predict", json=body)
    assert response.status_code == 200, response.text
    answers = response.json()["predictions"]
    assert all(a["probabilities"] is None for a in answers)
    assert_matches_frame(answers, expected, predictor)
    single = bikes.post("/predict", json=body[7])
    assert single.status_code == 200, single.text
    assert single.json()["prediction"] == pytest.approx(float(expected["prediction"].iloc[7]), rel=1e-9, abs=1e-9)
    assert single.json()["model"]["name"] == "bike-rentals"


def test_dates_in_other_forms_give_the_same_answer(bikes: httpx.Client, servers: Servers) -> None:
    """A date, the same date with a time, and the same moment in Unix seconds."""
    predictor = servers.predictor("bikes")
    record = records(bikes_frame().iloc[[100]], predictor.bundle.features)[0]
    day = pd.Timestamp(record["dteday"])
    forms = [record["dteday"], day.isoformat(), f"{day:%Y-%m-%d %H:%M:%S}", day.timestamp()]
    answers = [bikes.post("/predict", json={**record, "dteday": form}) for form in forms]
    assert [a.status_code for a in answers] == [200] * len(forms), [a.text for a in answers]
    values = {a.json()["prediction"] for a in answers}
    assert len(values) == 1, values


# -- health, readiness, metadata, docs ------------------------------------------------------


def test_health_and_ready(servers: Servers) -> None:
    for server in servers.all:
        assert httpx.get(f"{server.url}/health", timeout=10).json() == {"status": "ok"}
        ready = httpx.get(f"{server.url}/ready", timeout=10)
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "fast_path": True, "model_runtime": "sklearn"}


def test_metadata_describes_the_model(taxi: httpx.Client, servers: Servers, taxi_predictor: Predictor) -> None:
    trained = servers.project.bundles["taxi"]
    meta = taxi.get("/metadata").json()
    bundle = taxi_predictor.bundle
    assert meta["name"] == "taxi-tips"
    assert meta["version"] == trained.bundle_id[:12]
    assert meta["bundle_id"] == trained.bundle_id
    assert meta["run_id"] == trained.run_id
    assert meta["data_version"] == bundle.data_version
    assert re.fullmatch(r"[0-9a-f]{64}", meta["data_version"])
    assert meta["task"] == "classification"
    assert meta["label"] == {"name": "big_tipper", "task": "classification", "classes": [0, 1]}
    assert meta["features"] == dict(bundle.features)
    assert meta["fast_path"] is True
    assert meta["metrics"] == pytest.approx(dict(bundle.metrics))
    assert {"eval.roc_auc", "test.accuracy"} <= set(meta["metrics"])
    schema = meta["input_schema"]
    assert set(schema["properties"]) == set(bundle.features)
    fare = schema["properties"]["fare"]
    assert fare["type"] == "number"
    assert "fare" in schema["required"]
    company_types = {t.get("type") for t in schema["properties"]["company"]["anyOf"]}
    assert {"string", "number"} <= company_types
    # Without a strict schema the known categories are shown as examples.
    assert "Cash" in schema["properties"]["payment_type"]["description"]


def test_metadata_lists_allowed_categories_and_ranges_of_a_strict_schema(strict: httpx.Client, servers: Servers) -> None:
    predictor = servers.predictor("strict")
    allowed = predictor.bundle.data_schema["columns"]["payment_type"]["categories"]
    schema = strict.get("/metadata").json()["input_schema"]
    payment = schema["properties"]["payment_type"]
    assert payment["enum"] == allowed
    assert "Cash" in allowed
    fare = schema["properties"]["fare"]
    column = predictor.bundle.data_schema["columns"]["fare"]
    assert (fare["minimum"], fare["maximum"]) == (column["min"], column["max"])


def test_docs_and_openapi_list_the_features(taxi: httpx.Client, taxi_predictor: Predictor) -> None:
    docs = taxi.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = taxi.get("/openapi.json")
    assert spec.status_code == 200
    api = spec.json()
    record = api["components"]["schemas"]["Record"]
    assert set(record["properties"]) == set(taxi_predictor.bundle.features)
    body = api["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    refs = json.dumps(body)
    assert "#/components/schemas/Record" in refs and '"array"' in refs
    assert {"/health", "/ready", "/metadata", "/metrics", "/drift", "/predict"} <= set(api["paths"])


# -- client mistakes: 422 and 413, never 500 --------------------------------------------------


def test_malformed_json_is_a_422(taxi: httpx.Client) -> None:
    response = taxi.post("/predict", content=b'{"fare": 12.5, "payment_type": ', headers={"Content-Type": "application/json"})
    found = problems(response)
    assert list(found) == [None]
    assert found[None].startswith("the body is not valid JSON")


def test_a_missing_field_is_named(taxi: httpx.Client, good: dict[str, Any]) -> None:
    record = {k: v for k, v in good.items() if k not in ("fare", "payment_type")}
    found = problems(taxi.post("/predict", json=record))
    assert found == {"fare": "this field is required", "payment_type": "this field is required"}


def test_text_for_a_number_is_named(taxi: httpx.Client, good: dict[str, Any]) -> None:
    response = taxi.post("/predict", json={**good, "fare": "cheap", "trip_miles": [1, 2]})
    found = problems(response)
    assert set(found) == {"fare", "trip_miles"}
    detail = {p["field"]: p for p in response.json()["detail"]}
    assert detail["fare"]["got"] == "cheap"
    assert "number" in detail["fare"]["message"]
    assert re.fullmatch(r"[0-9a-f]{16}", response.json()["request_id"])


def test_a_null_for_a_field_that_never_had_gaps_is_named(taxi: httpx.Client, good: dict[str, Any]) -> None:
    assert set(problems(taxi.post("/predict", json={**good, "trip_seconds": None}))) == {"trip_seconds"}


def test_bad_records_in_a_list_are_named_by_position(taxi: httpx.Client, good: dict[str, Any]) -> None:
    body = [good, {**good, "fare": "n/a"}, good, {k: v for k, v in good.items() if k != "trip_seconds"}]
    found = problems(taxi.post("/predict", json=body))
    assert found == {"1.fare": found["1.fare"], "3.trip_seconds": "this field is required"}, found


def test_an_unseen_category_is_fine_without_a_strict_schema(taxi: httpx.Client, good: dict[str, Any]) -> None:
    response = taxi.post("/predict", json={**good, "payment_type": "Bitcoin", "company": "Brand New Cab Co"})
    assert response.status_code == 200, response.text


def test_a_category_outside_a_strict_schema_is_named(strict: httpx.Client, good: dict[str, Any]) -> None:
    assert strict.post("/predict", json=good).status_code == 200
    response = strict.post("/predict", json={**good, "payment_type": "Bitcoin"})
    found = problems(response)
    assert list(found) == ["payment_type"]
    assert "'Bitcoin' is not one of" in found["payment_type"] and "Cash" in found["payment_type"]
    listed = strict.post("/predict", json=[good, {**good, "payment_type": "Bitcoin"}])
    assert list(problems(listed)) == ["1.payment_type"]


def test_a_number_outside_a_strict_range_is_named(strict: httpx.Client, good: dict[str, Any], servers: Servers) -> None:
    top = servers.predictor("strict").bundle.data_schema["columns"]["fare"]["max"]
    assert strict.post("/predict", json={**good, "fare": top}).status_code == 200
    response = strict.post("/predict", json={**good, "fare": top * 10 + 1})
    found = problems(response)
    assert list(found) == ["fare"]
    assert str(top) in found["fare"]


def test_an_empty_list_is_a_422(taxi: httpx.Client) -> None:
    found = problems(taxi.post("/predict", json=[]))
    assert found == {None: "the list of records is empty"}


@pytest.mark.parametrize("body", ['"hello"', "42", "null", "true", "[1, 2]", '["a"]', "[[]]"])
def test_a_body_that_is_not_records_is_a_422(taxi: httpx.Client, body: str) -> None:
    response = taxi.post("/predict", content=body.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


def test_more_records_than_allowed_is_a_413(taxi: httpx.Client, good: dict[str, Any]) -> None:
    response = taxi.post("/predict", json=[good] * (MAX_RECORDS + 1))
    assert response.status_code == 413, response.text
    assert f"at most {MAX_RECORDS}" in response.json()["detail"]
    assert taxi.post("/predict", json=[good] * MAX_RECORDS).status_code == 200


def test_a_body_over_the_size_limit_is_a_413(taxi: httpx.Client, good: dict[str, Any]) -> None:
    huge = json.dumps({**good, "note": "x" * (16 * 1024 * 1024)}).encode()
    response = taxi.post("/predict", content=huge, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "over 16777216 bytes" in response.json()["detail"]


def test_a_chunked_body_over_the_size_limit_is_a_413(servers: Servers, good: dict[str, Any]) -> None:
    head = json.dumps(good)[:-1].encode() + b', "note": "'
    chunks = [head, *([b"x" * (1024 * 1024)] * 17), b'"}']
    with httpx.Client(timeout=60) as client:  # a fresh connection: the server may close it
        response = client.post(
            f"{servers.taxi.url}/predict", content=iter(chunks), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413, response.status_code


@pytest.mark.parametrize("value", [1e20, -1e15, "inf"])
def test_a_date_given_as_absurd_unix_seconds_is_not_a_500(servers: Servers, value: Any) -> None:
    predictor = servers.predictor("bikes")
    record = records(bikes_frame().iloc[[0]], predictor.bundle.features)[0]
    with servers.bikes.client(TOKEN) as client:
        response = client.post("/predict", json={**record, "dteday": value})
    assert response.status_code in (200, 422), response.text


# -- the bearer token -------------------------------------------------------------------------


def test_a_token_is_needed_for_predictions_and_metadata(servers: Servers) -> None:
    predictor = servers.predictor("bikes")
    record = records(bikes_frame().iloc[[0]], predictor.bundle.features)[0]
    url = servers.bikes.url
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN},
                    {"Authorization": f"Basic {TOKEN}"}, {"Authorization": "Bearer"}):
        with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
            for response in (client.post("/predict", json=record), client.get("/metadata")):
                assert response.status_code == 401, (headers, response.text)
                assert response.headers["www-authenticate"] == "Bearer"
                assert response.json() == {"detail": "missing or wrong bearer token"}
            assert client.get("/health").status_code == 200
            assert client.get("/ready").status_code == 200
    with httpx.Client(base_url=url, headers={"Authorization": f"bearer  {TOKEN}"}, timeout=10) as client:
        assert client.post("/predict", json=record).status_code == 200
        assert client.get("/metadata").status_code == 200


def test_a_non_ascii_token_is_a_401(servers: Servers) -> None:
    with httpx.Client(base_url=servers.bikes.url, timeout=10) as client:
        response = client.get("/metadata", headers={"Authorization": b"Bearer caf\xe9"})
    assert response.status_code == 401, response.status_code


def test_the_service_binds_to_the_loopback_address_by_default(servers: Servers) -> None:
    assert f"Uvicorn running on http://{HOST}:{servers.taxi.port}" in servers.taxi.output()
    listening = _listening_addresses(servers.taxi.port)
    assert listening == {HOST}, listening


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) != port or fields[3] != "0A":  # 0A: LISTEN
                continue
            if len(address) == 8:
                found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
            else:
                found.add(address)
    return found


def test_drift_needs_the_log(strict: httpx.Client) -> None:
    response = strict.get("/drift")
    assert response.status_code == 404
    assert "prediction log" in response.json()["detail"]
