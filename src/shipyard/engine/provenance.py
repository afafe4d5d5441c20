"""``shipyard.engine.provenance`` provides who ran what code where.

Git state comes from one ``git status`` call; package versions come from
``importlib.metadata`` (never from spawning pip).
"""

from __future__ import annotations

import getpass
import os
import platform
import socket
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

MAIN_PACKAGES = (
    "shipyard",
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "xgboost",
    "lightgbm",
    "pydantic",
    "SQLAlchemy",
    "fsspec",
    "dask",
)


@dataclass(frozen=True)
class GitInfo:
    """The git state of a folder."""

    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None


def git_info(folder: Path | None = None) -> GitInfo:
    """Commit, branch and dirty flag of the work tree holding ``folder``.

    Returns an empty :class:`GitInfo` outside a repository or without git.
    """
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
            cwd=folder or Path.cwd(),
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return GitInfo()
    if out.returncode != 0:
        return GitInfo()
    commit = branch = None
    dirty = False
    for line in out.stdout.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.split()[2]
            commit = None if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line.split()[2]
            branch = None if head == "(detached)" else head
        elif line and not line.startswith("#"):
            dirty = True
    return GitInfo(commit, branch, dirty)


@lru_cache(maxsize=1)
def current_user() -> str:
    """``SHIPYARD_USER``, else git's ``user.name``, else the login name."""
    env = os.environ.get("SHIPYARD_USER")
    if env:
        return env
    try:
        out = subprocess.run(
            ["git", "config", "user.name"], capture_output=True, text=True, timeout=5, check=False
        )
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@lru_cache(maxsize=1)
def environment() -> dict[str, object]:
    """Python version, platform and versions of the main installed packages."""
    packages: dict[str, str] = {}
    for name in MAIN_PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(terse=True),
        "packages": packages,
    }


def hostname() -> str:
    """This machine's host name."""
    return socket.gethostname()


__all__ = ["GitInfo", "current_user", "environment", "git_info", "hostname"]
