"""The dashboard's safety: an optional token, a store it cannot write, and the ``shipyard ui`` command."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.errors import StoreError
from tests.integration.support import popen_cli
from tests.ui.support import UIProject, free_port, served

pytestmark = pytest.mark.slow

TOKEN = "s3cret-tøken"  # non-ASCII on purpose


@pytest.fixture(scope="module")
def guarded(ui_project: UIProject):  # type: ignore[no-untyped-def]
    with served(ui_project.folder, token=TOKEN) as url:
        yield url


def test_without_the_token_nothing_is_shown(guarded: str) -> None:
    with httpx.Client(base_url=guarded) as http:
        api = http.get("/api/runs")
        assert api.status_code == 401 and api.headers["www-authenticate"] == "Bearer"
        page = http.get("/")
        assert page.status_code == 401 and 'name="token"' in page.text and "taxi-tips" not in page.text
        assert http.get("/static/ui.css").status_code == 401
        wrong = http.get("/api/runs", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert http.get("/", params={"token": "nope"}).status_code == 401
        assert http.get("/api/health").json() == {"status": "ok"}  # the liveness check is open


def test_a_bearer_header_opens_it(guarded: str) -> None:
    header = {"Authorization": "Bearer " + TOKEN}
    with httpx.Client(base_url=guarded, headers={k: v.encode() for k, v in header.items()}) as http:
        assert http.get("/api/runs").json()["total"] == 4


def test_the_token_in_the_address_becomes_a_cookie_and_leaves_the_address(guarded: str) -> None:
    with httpx.Client(base_url=guarded) as http:
        first = http.get("/", params={"token": TOKEN, "status": "failed"})
        assert first.status_code == 303 and first.headers["location"] == "/?status=failed"
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        after = http.get(first.headers["location"])  # the client keeps the cookie
        assert after.status_code == 200 and "fragile" in after.text
        assert http.get("/api/runs").status_code == 200


def test_the_store_is_opened_read_only(ui_project: UIProject) -> None:
    from shipyard.stores.metadata import RunRecord
    from shipyard.ui.store import ReadOnlyClient

    database = ui_project.folder / ".shipyard" / "metadata.db"
    before = database.stat().st_mtime_ns, _count(database)
    with ReadOnlyClient(ui_project.folder) as client:
        store = client.metadata_store
        with pytest.raises(StoreError, match="never writes"):
            store.start_run(RunRecord(id="x" * 16, pipeline="p", status="running", started_at=0.0), {})
        with pytest.raises(StoreError, match="never writes"):
            store.finish_run(ui_project.first, status="failed")
        # Even past the store's own methods, the database connection refuses writes.
        with store._engine.connect() as conn, pytest.raises(Exception, match=r"readonly|read-only|query_only"):
            conn.exec_driver_sql("DELETE FROM runs")
        assert store.get_run(ui_project.first).status == "completed"
    assert (database.stat().st_mtime_ns, _count(database)) == before


def _count(database: Path) -> int:
    with sqlite3.connect(database) as conn:
        return conn.execute("SELECT count(*) FROM runs").fetchone()[0]


# -- the command ----------------------------------------------------------------------------------


def _wait_ready(url: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"shipyard ui exited early:\n{process.stderr.read() if process.stderr else ''}")
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"shipyard ui did not answer within {timeout} s")


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate(timeout=10)


@pytest.fixture(scope="module")
def command(ui_project: UIProject) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """``shipyard ui --port P`` running in the project, as a user starts it."""
    port = free_port()
    process = popen_cli("ui", "--port", str(port), cwd=ui_project.folder)
    try:
        _wait_ready(f"http://127.0.0.1:{port}", process)
        yield port, process
    finally:
        _stop(process)


def test_shipyard_ui_serves_the_project_on_loopback(command, ui_project: UIProject) -> None:  # type: ignore[no-untyped-def]
    port, process = command
    page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
    assert page.status_code == 200 and ui_project.first[:12] in page.text
    out, err = _stop(process)
    assert f"http://127.0.0.1:{port}/" in out and "Warning" not in err
    assert process.returncode in (0, -signal.SIGINT, 130)


def test_shipyard_ui_warns_on_a_public_address_and_takes_a_token_from_the_environment(ui_project: UIProject) -> None:
    port = free_port()
    process = popen_cli("ui", "--host", "0.0.0.0", "--port", str(port), cwd=ui_project.folder,
                        env={"SHIPYARD_UI_TOKEN": "from-env"})
    try:
        _wait_ready(f"http://127.0.0.1:{port}", process)
        assert httpx.get(f"http://127.0.0.1:{port}/api/runs", timeout=10).status_code == 401
        ok = httpx.get(f"http://127.0.0.1:{port}/api/runs", headers={"Authorization": "Bearer from-env"}, timeout=10)
        assert ok.status_code == 200
    finally:
        _out, err = _stop(process)
    assert "Warning: listening on 0.0.0.0" in err and "with the token" in err


def test_shipyard_ui_errors_are_one_clear_message(ui_project: UIProject, tmp_path: Path) -> None:
    from tests.helpers import run_cli

    empty = run_cli("ui", "--port", str(free_port()), cwd=tmp_path)
    assert empty.returncode == 2 and "No .shipyard/ folder" in empty.stderr and "Traceback" not in empty.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run_cli("ui", "--port", str(port), cwd=ui_project.folder)
    assert busy.returncode == 2 and f"Port {port} on 127.0.0.1 is in use" in busy.stderr


def test_the_command_line_stays_light() -> None:
    code = "import sys, shipyard.cli.app; print(sorted(m for m in ('fastapi', 'uvicorn', 'shipyard.ui.app') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
