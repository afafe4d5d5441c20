"""Helpers shared by the tests (import as ``from tests.helpers import ...``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def write_module(folder: Path, name: str, source: str) -> Path:
    """Write a Python module into ``folder`` and return its path."""
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the ``shipyard`` command in a subprocess, as a user would."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    full_env.update({"SHIPYARD_USER": "tester", "COLUMNS": "200", "NO_COLOR": "1"})
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "shipyard", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
