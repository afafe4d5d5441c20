"""Helpers of the dashboard tests: a real project with varied runs, and the dashboard served on 127.0.0.1.

The project is built once per test process with the real engine: two runs of
the taxi YAML pipeline (a 3,000-row cut; the second changes only the model,
so its data steps come from the cache), a Python pipeline whose middle step
fails (its first step writes a table with a column named
``<script>alert(1)</script>``), a run whose pipeline and user names are HTML
(recorded through the metadata store API), and a dataset with two versions.
The dashboard is served by uvicorn in a thread; every wait is bounded.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from shipyard.engine.provenance import current_user
from tests.ml.support import FAST, copy_taxi, isolated, taxi_rows

SCRIPT_COLUMN = "<script>alert(1)</script>"
HTML_PIPELINE = '<img src=x onerror="alert(1)">'
HTML_USER = "<b>mallory</b>"
TAXI_STEPS = 12
MODEL = "taxi-tips"

FRAGILE = '''
import pandas as pd
from shipyard import pipeline, step


@step
def load() -> pd.DataFrame:
    return pd.DataFrame({
        "<script>alert(1)</script>": ["<b>bold</b>", "<img src=x onerror=alert(2)>"],
        "n": [1, 2],
    })


@step
def boom(frame: pd.DataFrame) -> int:
    raise ValueError("boom <i>failed</i>")


@step
def after(x: int) -> int:
    return x


@pipeline
def fragile():
    after(boom(load()))
'''


@dataclass(frozen=True)
class UIProject:
    """The project the dashboard tests read, and what is in it."""

    folder: Path
    first: str  # taxi run: every step ran
    second: str  # taxi run: data steps cached, the model retrained
    failed: str  # fragile run: load ran, boom failed, after not run
    html: str  # a run whose pipeline and user are HTML
    table: str  # the artifact with the <script> column


def build_project(folder: Path) -> UIProject:
    """Make the project with the real engine (about 10 s)."""
    from shipyard.client import Client
    from shipyard.stores.metadata import RunRecord

    folder.mkdir(parents=True, exist_ok=True)
    with isolated(folder, chdir=True) as env:
        copy_taxi(folder)
        (folder / "fragile_steps.py").write_text(FRAGILE)
        rows = taxi_rows(1200)
        rows.iloc[:800].to_csv(folder / "trips_v1.csv", index=False)
        rows.iloc[400:].to_csv(folder / "trips_v2.csv", index=False)
        with Client(folder, create=True) as client:
            as_user(env, "alice")
            first = client.run(str(folder / "pipeline.yaml"), overrides=[FAST])
            first.raise_for_status()
            second = client.run(str(folder / "pipeline.yaml"), overrides=["train.params.max_iter=25"])
            second.raise_for_status()
            as_user(env, "bob")
            failed = client.run(f"{folder / 'fragile_steps.py'}:fragile")
            assert failed.status == "failed", failed.status
            table = failed.artifact("load").id
            register_models(client, first.run_id, second.run_id, rows)
            client.datasets.add("trips", folder / "trips_v1.csv", message="first cut", user="alice")
            client.datasets.add("trips", folder / "trips_v2.csv", message="later trips", user="alice")
            html = uuid.uuid4().hex[:16]
            store = client.metadata_store
            now = time.time()
            store.start_run(
                RunRecord(id=html, pipeline=HTML_PIPELINE, status="running", started_at=now, user=HTML_USER), {}
            )
            store.finish_run(html, status="completed", ended_at=now + 0.5)
    current_user.cache_clear()  # the next test's runs are the tester's again
    return UIProject(folder, first.run_id, second.run_id, failed.run_id, html, table)


def register_models(client: object, first: str, second: str, rows: pd.DataFrame) -> None:
    """``taxi-tips``: v1 (first run) in production, then v2 (second run) promoted over it;
    200 predictions of v2 in its prediction log."""
    from shipyard.bundle.io import read_metadata
    from shipyard.serving.log import PredictionLog

    models = client.models  # type: ignore[attr-defined]
    models.register(MODEL, first, stage="production", reason="first model")
    v2 = models.register(MODEL, second, stage="staging", alias="candidate")
    models.promote(MODEL, v2.version, "production", reason="better on eval")
    store = client.artifact_store  # type: ignore[attr-defined]
    features = read_metadata(store.local_path(v2.bundle_id))["features"]
    log = PredictionLog(store, v2.bundle_id, features, interval=3600)
    records = rows[list(features)].iloc[:200].astype(object).where(rows[list(features)].iloc[:200].notna(), None)
    log.append(records.to_dict("records"), [0] * len(records), version=v2.bundle_id[:12], request_id="test")
    log.close()


def as_user(env: pytest.MonkeyPatch, name: str) -> None:
    """Record the next runs as ``name`` (the engine reads the user once per process)."""
    env.setenv("SHIPYARD_USER", name)
    current_user.cache_clear()


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(folder: Path, *, token: str | None = None, timeout: float = 30) -> Iterator[str]:
    """The dashboard of ``folder`` served by uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    import uvicorn

    from shipyard.ui.app import build_app
    from shipyard.ui.store import ReadOnlyClient

    client = ReadOnlyClient(folder)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build_app(client, token=token), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise AssertionError(f"the dashboard did not start within {timeout} s")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        client.close()

