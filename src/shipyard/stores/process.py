"""``shipyard.stores.process`` provides checks on whether a recorded process lives.

A run records the pid of the process that executes it and a token made of the
pid and the process start time, so a pid reused by another program after a
crash is not mistaken for the original process.
"""

from __future__ import annotations

import os
from pathlib import Path


def process_alive(pid: int) -> bool:
    """Tell whether a process with this pid exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_time(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 is the start time; the command name (field 2) may hold spaces.
    fields = raw.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def process_token(pid: int | None = None) -> str:
    """A token naming this process uniquely on this host: ``pid:start-time``."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{_start_time(pid) or '?'}"


def token_alive(token: str | None, pid: int | None) -> bool:
    """True when the process that wrote ``token`` is still running."""
    if pid is None:
        return False
    if not process_alive(pid):
        return False
    if not token:
        return True
    current = process_token(pid)
    same_clock = token.split(":", 1)[-1] != "?" and current.split(":", 1)[-1] != "?"
    return current == token if same_clock else True


__all__ = ["process_alive", "process_token", "token_alive"]
