"""Two users, two working copies, one shared stack (PostgreSQL + S3), through the CLI.

Alice and Bob each have a clone of the taxi project and register the same
``team`` stack. They see each other's runs, Bob's run reuses the steps Alice's
run computed, Bob diffs his run against hers, Alice registers and promotes a
model, and Bob serves it by name over HTTP.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import run_cli
from tests.ml.support import FAST, copy_taxi
from tests.serving.support import Server, records, servable

pytestmark = pytest.mark.slow


def as_user(user: str, env: dict[str, str]):
    def shipyard(*args: str, cwd: Path, timeout: float = 240) -> str:
        done = run_cli(*args, cwd=cwd, env={**env, "SHIPYARD_USER": user}, timeout=timeout)
        assert done.returncode == 0, f"shipyard {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    return shipyard


def test_two_users_share_runs_cache_diffs_and_a_served_model(
    s3_url, s3_server, postgres_url, tmp_path, monkeypatch
):
    credentials = {k: v for k, v in s3_server.env.items() if not k.startswith("SHIPYARD_")}
    for name, value in credentials.items():
        monkeypatch.setenv(name, value)  # the HTTP server below inherits them
    alice, bob = as_user("alice", credentials), as_user("bob", credentials)
    homes = {"alice": tmp_path / "alice", "bob": tmp_path / "bob"}
    for user, home in homes.items():
        copy_taxi(home)
        shipyard = as_user(user, credentials)
        shipyard("init", cwd=home)
        shipyard(
            "stack", "register", "team", "--artifacts", s3_url, "--metadata", postgres_url,
            "--option", f"artifacts.endpoint_url={s3_server.endpoint}", cwd=home,
        )
        shipyard("stack", "use", "team", cwd=home)

    # Alice trains; Bob runs the same pipeline in his copy: everything after
    # ingest (which reads his own copy of the file: the same bytes) is hers, cached.
    first = json.loads(alice("run", "pipeline.yaml", "--set", FAST, "--json", cwd=homes["alice"]))
    assert first["status"] == "completed"
    second = json.loads(bob("run", "pipeline.yaml", "--set", FAST, "--json", cwd=homes["bob"]))
    assert second["status"] == "completed"
    statuses = {name: step["status"] for name, step in second["steps"].items()}
    assert statuses["ingest"] == "completed"
    assert {s for name, s in statuses.items() if name != "ingest"} == {"cached"}
    assert second["steps"]["train"]["outputs"] == first["steps"]["train"]["outputs"]

    # Bob changes a param: train and what follows run again.
    third = json.loads(bob("run", "pipeline.yaml", "--set", "train.params.max_iter=20", "--json", cwd=homes["bob"]))
    assert third["steps"]["split"]["status"] == "cached"
    assert third["steps"]["train"]["status"] == "completed"

    # Each sees both users' runs.
    for user, home in homes.items():
        listed = json.loads(as_user(user, credentials)("runs", "list", "--json", cwd=home))
        runs = listed["runs"] if isinstance(listed, dict) else listed
        assert {r["id"] for r in runs} >= {first["run_id"], second["run_id"], third["run_id"]}
        assert {r["user"] for r in runs} == {"alice", "bob"}
    only_alice = json.loads(bob("runs", "list", "--user", "alice", "--json", cwd=homes["bob"]))
    only_alice = only_alice["runs"] if isinstance(only_alice, dict) else only_alice
    assert [r["id"] for r in only_alice] == [first["run_id"]]

    # Bob diffs his changed run against Alice's.
    diff = json.loads(bob("runs", "diff", first["run_id"], third["run_id"], "--json", cwd=homes["bob"]))
    assert diff["a"]["user"] == "alice" and diff["b"]["user"] == "bob"
    changed = {row["key"]: row for row in diff["config"]}
    assert changed["train.params.max_iter"]["a"] == 30
    assert changed["train.params.max_iter"]["b"] == 20
    assert diff["data"]["same"] is True
    assert any(not row["equal"] for row in diff["metrics"])

    # Alice registers her run's model and promotes it; Bob serves it by name.
    alice("models", "register", "tips", first["run_id"], cwd=homes["alice"])
    alice("models", "promote", "tips", "1", "--stage", "production", "--reason", "first model", cwd=homes["alice"])
    shown = bob("models", "show", "tips", cwd=homes["bob"])
    assert "production" in shown and "alice" in shown
    server = Server(homes["bob"], "tips@production", "--no-log", name="bob-serves")
    server.start(timeout=120)
    try:
        with server.client() as http:
            meta = http.get("/metadata").json()
            assert meta["registry"]["model"] == "tips" and meta["registry"]["version"] == 1
            assert meta["run_id"] == first["run_id"]
            rows = pd.read_csv(homes["bob"] / "data" / "chicago_taxi_trips.csv", nrows=20)
            from shipyard.client import Client

            with Client(homes["bob"], stack="team") as client:
                predictor = client.models.load("tips@production")
            rows = servable(rows, predictor).head(3)
            answer = http.post("/predict", json=records(rows, predictor.bundle.features))
            assert answer.status_code == 200, answer.text
            assert [p["prediction"] for p in answer.json()["predictions"]] == (
                predictor.predict_frame(rows)["prediction"].tolist()
            )
    finally:
        server.kill()
