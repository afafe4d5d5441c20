"""Fixtures of the dashboard tests: one real project per test session, served on 127.0.0.1."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from tests.ui.support import UIProject, build_project, served


@pytest.fixture(scope="session")
def ui_project(tmp_path_factory: pytest.TempPathFactory) -> UIProject:
    """The project with taxi runs (ran and cached), a failed run, an HTML-named run, a dataset and a model.

    Built once per session: parallel workers share it (the first builds it
    under a file lock; the others read it, the dashboard only reads anyway).
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # pytest-xdist: the session's folder, above the workers' own
        root = root.parent
    ready = root / "ui-project.json"
    with (root / "ui-project.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready.exists():
            built = build_project(root / "ui-project")
            ready.write_text(json.dumps({**asdict(built), "folder": str(built.folder)}))
    data = json.loads(ready.read_text())
    return UIProject(**{**data, "folder": Path(data["folder"])})


@pytest.fixture(scope="session")
def base_url(ui_project: UIProject) -> Iterator[str]:
    """The dashboard of that project, served by uvicorn in a thread."""
    with served(ui_project.folder) as url:
        yield url


@pytest.fixture
def http(base_url: str) -> Iterator[object]:
    """An HTTP client on the dashboard."""
    import httpx

    with httpx.Client(base_url=base_url, timeout=30) as client:
        yield client
