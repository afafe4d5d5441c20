"""``shipyard.engine.provenance`` provides who ran what code where.

Git state comes from ``git status`` and ``git config`` (plus ``git diff`` when
the tree has uncommitted changes); package versions come from
``importlib.metadata`` (never from spawning pip). Credentials embedded in a
remote's URL are never recorded.
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
from urllib.parse import urlsplit, urlunsplit

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
    "distributed",
    "scipy",
    "polars",
    "optuna",
    "skops",
    "onnxruntime",
    "catboost",
    "statsmodels",
    "torch",
)
#: The most bytes of uncommitted changes kept with a run; the rest is cut off (with a note).
MAX_DIFF_BYTES = 5_000_000


@dataclass(frozen=True)
class GitInfo:
    """The git state of a folder."""

    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None
    remote: str | None = None


def _git(folder: Path | None, *args: str, timeout: float = 10) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(
            ["git", *args],
            cwd=folder or Path.cwd(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def git_info(folder: Path | None = None) -> GitInfo:
    """Commit, branch, dirty flag and remote of the work tree holding ``folder``.

    The tree is dirty when a tracked file differs from the commit (untracked
    files do not count). The remote is ``origin``'s URL (else the first
    remote's), without any user name or password embedded in it.

    Returns an empty :class:`GitInfo` outside a repository or without git.
    """
    out = _git(folder, "status", "--porcelain=v2", "--branch", "--untracked-files=no")
    if out is None or out.returncode != 0:
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
    return GitInfo(commit, branch, dirty, _remote(folder))


def _remote(folder: Path | None) -> str | None:
    out = _git(folder, "config", "--get-regexp", r"^remote\..*\.url$")
    if out is None or out.returncode != 0:
        return None
    urls: dict[str, str] = {}
    for line in out.stdout.splitlines():
        key, _, url = line.partition(" ")
        name = key[len("remote.") : -len(".url")]
        if url.strip():
            urls.setdefault(name, url.strip())
    url = urls.get("origin") or next(iter(urls.values()), None)
    return strip_credentials(url) if url else None


def strip_credentials(url: str) -> str:
    """A remote URL without embedded credentials.

    ``https://user:token@host/x.git`` and ``https://token@host/x.git`` become
    ``https://host/x.git``; for other schemes (``ssh://git:pw@host/x``) only
    the password goes. scp-like ``git@host:x.git`` has none and is kept.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    keep_user = user and parts.scheme.lower() not in ("http", "https", "ftp", "ftps")
    netloc = f"{user}@{hostport}" if keep_user else hostport
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def git_diff(folder: Path | None = None, *, limit: int = MAX_DIFF_BYTES) -> bytes | None:
    """The uncommitted changes of the work tree holding ``folder``, as patch text.

    ``git diff HEAD`` (tracked files, staged or not), preceded by comment
    lines: the commit, the untracked files (listed, not included) and, when
    the patch is longer than ``limit`` bytes, a note that it was cut there.
    ``git apply`` skips the comment lines.

    Returns:
        The text as bytes, or None outside a repository or without git.
    """
    root = folder or Path.cwd()
    head = _git(root, "rev-parse", "--verify", "--quiet", "HEAD")
    if head is None:
        return None
    commit = head.stdout.strip() if head.returncode == 0 else None
    if commit is None:  # no commit yet: everything tracked is a change
        empty = _git(root, "hash-object", "-t", "tree", "/dev/null")
        if empty is None or empty.returncode != 0:
            return None
        base = empty.stdout.strip()
    else:
        base = "HEAD"
    patch = _bounded(root, ["git", "diff", "--no-color", "--no-ext-diff", base, "--"], limit)
    if patch is None:
        return None
    text, cut = patch
    untracked = _git(root, "ls-files", "--others", "--exclude-standard", "--full-name", "--", ":/")
    names = untracked.stdout.splitlines() if untracked is not None and untracked.returncode == 0 else []
    notes = [f"# Uncommitted changes against {commit or 'an empty tree (no commit yet)'} (git diff HEAD)."]
    if cut:
        notes.append(f"# The patch is longer than {limit:,} bytes: it is cut off there, so it does not apply.")
    if names:
        notes.append(f"# {len(names)} untracked file(s), listed here but not included:")
        notes += [f"#   {name}" for name in names[:1000]]
        if len(names) > 1000:
            notes.append(f"#   ... and {len(names) - 1000} more")
    return ("\n".join(notes) + "\n").encode() + text


def _bounded(folder: Path, args: list[str], limit: int) -> tuple[bytes, bool] | None:
    """Up to ``limit`` bytes of a command's output, and whether there was more."""
    try:
        with subprocess.Popen(
            args, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        ) as proc:
            assert proc.stdout is not None
            data = proc.stdout.read(limit + 1)
            cut = len(data) > limit
            if cut:
                proc.kill()
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                return None
    except OSError:
        return None
    if not cut and code != 0:
        return None
    return data[:limit], cut


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


__all__ = [
    "MAX_DIFF_BYTES",
    "GitInfo",
    "current_user",
    "environment",
    "git_diff",
    "git_info",
    "hostname",
    "strip_credentials",
]
