"""``shipyard.cli.state`` provides the options every command shares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class State:
    """Global options from the command line."""

    verbose: bool = False
    project: Path | None = None
    stack: str | None = None


state = State()


def client(*, create: bool = False):  # type: ignore[no-untyped-def]
    """A :class:`shipyard.Client` for the selected project and stack."""
    from shipyard.client import Client

    return Client(state.project, create=create, stack=state.stack)
