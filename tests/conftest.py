"""Shared fixtures: an isolated project folder with real stores."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.client import Client

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's Shipyard settings."""
    for name in list(os.environ):
        if name.startswith("SHIPYARD_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SHIPYARD_USER", "tester")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder (with .shipyard/) that is the current directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    Client(tmp_path, create=True).close()
    return tmp_path


@pytest.fixture
def client(project: Path) -> Iterator[Client]:
    """A client on the project's embedded stack (SQLite file + artifact folder)."""
    with Client(project) as c:
        yield c


# Native thread pools (OpenMP in scikit-learn, LightGBM, XGBoost) spin on every
# core; with the suite's own processes on a small machine that oversubscribes
# the CPU badly. One thread per process keeps tests fast and predictable.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
