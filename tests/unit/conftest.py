"""Fixtures for the unit tests: real stores in tmp folders, module loading, registry isolation."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from shipyard.stores.artifacts import ArtifactStore
from shipyard.stores.metadata import MetadataStore
from shipyard.stores.process import process_alive
from tests.helpers import write_module

LoadModule = Callable[..., ModuleType]


@pytest.fixture
def uid() -> str:
    """A suffix that makes module names unique to one test."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def load_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LoadModule:
    """Write a module into ``tmp_path/<version>/`` and import it under ``name``.

    Loading the same name again from another version folder replaces the module
    in ``sys.modules`` (so a later ``import name`` in another module gets the new
    one), which lets a test compare two versions of the same module. Every
    module is removed from ``sys.modules`` after the test.
    """

    def load(name: str, source: str, *, version: str = "v1") -> ModuleType:
        folder = tmp_path / version
        folder.mkdir(exist_ok=True)
        path = write_module(folder, name, source)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, module)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetadataStore]:
    """A real SQLite metadata store in a tmp folder."""
    store = MetadataStore(f"sqlite:///{tmp_path / 'meta' / 'm.db'}")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def artifact_store(tmp_path: Path) -> ArtifactStore:
    """A real local artifact store in a tmp folder."""
    return ArtifactStore(str(tmp_path / "artifacts"))


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has exited (and was reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    if process_alive(proc.pid):  # pragma: no cover - pid reused at once
        pytest.skip("the pid of the finished process was reused")
    return proc.pid


@pytest.fixture
def isolated_registry() -> Iterator[None]:
    """Restore the materializer registry after a test registers its own."""
    from shipyard.materializers import registry

    registry.registered()  # load the built-ins first
    by_name = dict(registry._BY_NAME)
    by_type = {key: list(bucket) for key, bucket in registry._BY_TYPE.items()}
    try:
        yield
    finally:
        registry._BY_NAME.clear()
        registry._BY_NAME.update(by_name)
        registry._BY_TYPE.clear()
        registry._BY_TYPE.update(by_type)


@pytest.fixture
def old_mtime() -> Callable[[Path], None]:
    """Set a path's mtime an hour into the past."""

    def set_old(path: Path) -> None:
        past = path.stat().st_mtime - 3600
        os.utime(path, (past, past))

    return set_old
