"""Helpers shared by the integration tests: subprocesses, bounded waits, store checks.

Everything here reads the real stores (the SQLite file through ``sqlite3`` and
the artifact folder through the filesystem), independently of Shipyard's own
code, so a check does not trust what it checks.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from shipyard import errors
from tests.helpers import run_cli

TRACEBACK = "Traceback (most recent call last)"
MANIFEST = ".manifest.json"


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment ``run_cli`` gives the ``shipyard`` command."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update({"SHIPYARD_USER": "tester", "COLUMNS": "200", "NO_COLOR": "1"})
    env.update(extra or {})
    return env


def popen_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start ``python -m shipyard ARGS`` without waiting for it.

    SIGINT is reset to its default in the child: a test runner started in the
    background inherits SIGINT ignored, and Python then never raises
    KeyboardInterrupt, which the Ctrl-C tests need.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "shipyard", *args],
        cwd=cwd,
        env=cli_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.01,
    what: str = "",
) -> None:
    """Poll ``predicate`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")


def cli_json(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Any:
    """Run a ``--json`` command that must succeed and parse its output."""
    result = run_cli(*args, "--json", cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _headlines() -> set[str]:
    found: set[str] = set()
    pending: list[type[errors.ShipyardError]] = [errors.ShipyardError]
    while pending:
        cls = pending.pop()
        found.add(cls.headline)
        pending.extend(cls.__subclasses__())
    return found


HEADLINES = _headlines()


def assert_user_error(
    result: subprocess.CompletedProcess[str], *needles: str, code: int = 2
) -> str:
    """A user mistake: exit code 2, one message naming the problem, no traceback.

    Returns:
        stderr with line wrapping undone (for further checks).
    """
    out, err = result.stdout, result.stderr
    assert result.returncode == code, (
        f"exit {result.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    )
    assert TRACEBACK not in err, err
    assert TRACEBACK not in out, out
    message_lines = [
        line
        for line in err.splitlines()
        if any(line.startswith(f"{h}:") for h in HEADLINES)
    ]
    assert len(message_lines) == 1, f"expected one error message, got:\n{err}"
    flat = " ".join(err.split())
    for needle in needles:
        assert " ".join(needle.split()) in flat, f"{needle!r} not in:\n{err}"
    return flat


# -- reading the stores directly ------------------------------------------------


def db_path(project: Path) -> Path:
    """The project's SQLite metadata file."""
    return project / ".shipyard" / "metadata.db"


def query(project: Path, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    """Rows of a read-only query on the project's metadata file."""
    conn = sqlite3.connect(f"file:{db_path(project)}?mode=ro", uri=True, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def sqlite_integrity(project: Path) -> str:
    """``PRAGMA integrity_check`` of the metadata file (``ok`` when sound)."""
    return str(query(project, "PRAGMA integrity_check")[0][0])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def artifact_folders(project: Path) -> list[Path]:
    """Every visible artifact folder: ``artifacts/<xx>/<id>/`` (staging excluded)."""
    root = project / ".shipyard" / "artifacts"
    return sorted(
        folder
        for shard in root.iterdir()
        if shard.is_dir() and not shard.name.startswith(".")
        for folder in shard.iterdir()
    )


def staging_leftovers(project: Path) -> list[Path]:
    """Staging folders left in ``artifacts/.tmp`` (invisible to readers)."""
    staging = project / ".shipyard" / "artifacts" / ".tmp"
    return sorted(staging.iterdir()) if staging.is_dir() else []


def store_problems(project: Path) -> list[str]:
    """Everything wrong with the stores: partial artifacts, dangling records.

    * every visible artifact folder has its manifest, exactly the files it
      lists, each with the listed size and sha256, and its name is the hash
      of the manifest entries;
    * every artifact row points at such a folder;
    * every step output/input edge points at an artifact row.
    """
    problems: list[str] = []
    complete: set[str] = set()
    for folder in artifact_folders(project):
        manifest_path = folder / MANIFEST
        if folder.name[:2] != folder.parent.name:
            problems.append(f"{folder} is in the wrong shard")
        if not manifest_path.is_file():
            problems.append(f"{folder} has no manifest")
            continue
        manifest = json.loads(manifest_path.read_text())
        listed = {entry["path"]: entry for entry in manifest["files"]}
        present = {
            p.relative_to(folder).as_posix()
            for p in folder.rglob("*")
            if p.is_file() and p.name != MANIFEST
        }
        if present != set(listed):
            problems.append(
                f"{folder}: files {sorted(present ^ set(listed))} differ from manifest"
            )
            continue
        digest = hashlib.sha256(f"format\0{manifest.get('kind', '')}\n".encode())
        ok = True
        for rel in sorted(listed):
            entry = listed[rel]
            path = folder / rel
            sha = _sha256(path)
            if sha != entry["sha256"] or path.stat().st_size != entry["size"]:
                problems.append(f"{path} does not match its manifest entry")
                ok = False
            digest.update(f"{rel}\0{entry['sha256']}\n".encode())
        if digest.hexdigest() != folder.name:
            problems.append(f"{folder}: name is not the hash of its manifest")
            ok = False
        if ok:
            complete.add(folder.name)
    for row in query(project, "SELECT id, uri, files, size FROM artifacts"):
        if row["id"] not in complete:
            problems.append(f"artifact row {row['id'][:12]} has no complete folder")
            continue
        folder = Path(urlparse(row["uri"]).path)
        if folder.name != row["id"] or not (folder / MANIFEST).is_file():
            problems.append(f"artifact row {row['id'][:12]} has uri {row['uri']}")
    for table in ("step_outputs", "step_inputs"):
        dangling = query(
            project,
            f"SELECT e.artifact_id FROM {table} e "
            "LEFT JOIN artifacts a ON a.id = e.artifact_id WHERE a.id IS NULL",
        )
        problems += [f"{table} edge to unknown artifact {r[0][:12]}" for r in dangling]
    return problems
