"""``shipyard.stack`` provides the project folder and the stack of stores a command uses.

A project is a folder holding ``.shipyard/`` (like ``.git``): the embedded
default stack keeps its SQLite file and artifact folder there; named stacks
(shared stores of a team) are in ``.shipyard/stacks.yaml`` (see
:mod:`shipyard.stackfile`). Settings, by precedence: the environment's store
URLs (``SHIPYARD_ARTIFACTS``, ``SHIPYARD_METADATA``; ``SHIPYARD_ORCHESTRATOR``
and, for the ``dask`` orchestrator, ``SHIPYARD_DASK_ADDRESS``) > the stack
named by ``--stack``/``SHIPYARD_STACK`` > the working copy's active stack >
the project's ``default``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.engine.cluster import ENV_ADDRESS
from shipyard.errors import ProjectNotFound, StackError, StoreError

PROJECT_FOLDER = ".shipyard"
ENV_PROJECT = "SHIPYARD_PROJECT"
ENV_ARTIFACTS = "SHIPYARD_ARTIFACTS"
ENV_METADATA = "SHIPYARD_METADATA"
ENV_ORCHESTRATOR = "SHIPYARD_ORCHESTRATOR"
#: ``.shipyard/.gitignore``: the stores stay local; the stack file is shared.
GITIGNORE = (
    "# Shipyard's local stores: not for version control (stacks.yaml is shared)\n"
    "*\n!.gitignore\n!stacks.yaml\n"
)


@dataclass(frozen=True)
class Stack:
    """A named set of stores and an orchestrator.

    Attributes:
        name: the stack's name (``default`` for the embedded one).
        artifacts: artifact store URL (fsspec) or local path.
        metadata: metadata store URL (SQLAlchemy).
        orchestrator: orchestrator name.
        project_dir: the project folder (where ``.shipyard/`` lives), if any.
        orchestrator_options: options the orchestrator is created with
            (``{"address": "tcp://..."}`` for ``dask``).
        artifact_options: fsspec storage options of the artifact store
            (``{"endpoint_url": "http://..."}`` for an S3-compatible server).
    """

    name: str
    artifacts: str
    metadata: str
    orchestrator: str = "local"
    project_dir: Path | None = None
    orchestrator_options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    artifact_options: Mapping[str, Any] = field(default_factory=dict, hash=False)


def find_project(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` holding ``.shipyard/``.

    ``SHIPYARD_PROJECT`` names the project folder explicitly.
    """
    env = os.environ.get(ENV_PROJECT)
    if env:
        return Path(env).expanduser().resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FOLDER).is_dir():
            return folder
    return None


def init_project(folder: Path | None = None) -> Path:
    """Create ``.shipyard/`` in ``folder`` (default: the current folder).

    Returns:
        The ``.shipyard`` folder. Existing content is left as it is.
    """
    root = (folder or Path.cwd()).resolve()
    home = root / PROJECT_FOLDER
    try:
        (home / "artifacts").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"Cannot create {home}: {exc.strerror or exc}.") from exc
    ignore = home / ".gitignore"
    if not ignore.exists():
        ignore.write_text(GITIGNORE)
    return home


def default_stack(project_dir: Path) -> Stack:
    """The embedded stack of a project: SQLite file and artifact folder in ``.shipyard/``."""
    home = project_dir / PROJECT_FOLDER
    return Stack(
        name="default",
        artifacts=str(home / "artifacts"),
        metadata=f"sqlite:///{home / 'metadata.db'}",
        project_dir=project_dir,
    )


def resolve_stack(
    project: str | Path | None = None, *, create: bool = False, stack: str | None = None
) -> Stack:
    """The stack a command should use.

    Args:
        project: the project folder; default: found from the current folder.
        create: create ``.shipyard/`` in the current folder when no project exists.
        stack: a stack name (``--stack``); default: ``SHIPYARD_STACK``, else the
            working copy's active stack, else ``default``.

    Raises:
        ProjectNotFound: when there is no project and ``create`` is False, unless
            both stores are given by environment variables.
        StackError: when the chosen stack is not in the project's stack file.
    """
    root = Path(project).resolve() if project is not None else find_project()
    artifacts_env = os.environ.get(ENV_ARTIFACTS)
    metadata_env = os.environ.get(ENV_METADATA)
    stores_from_env = bool(artifacts_env and metadata_env)
    if root is not None and not create and not stores_from_env and not (root / PROJECT_FOLDER).is_dir():
        raise ProjectNotFound(
            f"{root} has no {PROJECT_FOLDER}/ folder.",
            hint=f"Run `shipyard init {root}` to make it a project, or fix the path.",
        )
    if root is None and not (artifacts_env and metadata_env):
        if not create:
            raise ProjectNotFound(
                f"No {PROJECT_FOLDER}/ folder in {Path.cwd()} or any folder above it.",
                hint="Run `shipyard init` in your project folder (or `shipyard run`, "
                "which creates it).",
            )
        init_project(Path.cwd())
        root = Path.cwd().resolve()
    if root is not None and project is not None and create:
        init_project(root)
    base = _chosen_stack(root, stack)
    orchestrator, options = _orchestrator_from_env(base)
    return Stack(
        name="env" if (artifacts_env or metadata_env) else base.name,
        artifacts=artifacts_env or base.artifacts,
        metadata=metadata_env or base.metadata,
        orchestrator=orchestrator,
        project_dir=root,
        orchestrator_options=options,
        artifact_options={} if artifacts_env else dict(base.artifact_options),
    )


def _chosen_stack(root: Path | None, explicit: str | None) -> Stack:
    """The stack named by ``--stack``, ``SHIPYARD_STACK`` or the active-stack file, else ``default``."""
    from shipyard.stackfile import DEFAULT, get_stack, selected_stack

    name, why = selected_stack(root, explicit)
    if name == DEFAULT:
        return default_stack(root) if root is not None else Stack("env", "", "")
    if root is None:
        raise ProjectNotFound(
            f"The stack {name!r} (from {why}) is defined in a project's "
            f"{PROJECT_FOLDER}/stacks.yaml, and no project was found.",
            hint="Run the command inside the project, or pass --project DIR.",
        )
    try:
        entry = get_stack(root, name)
    except StackError as exc:
        if why in ("--stack", "SHIPYARD_STACK"):
            raise
        raise StackError(
            f"{exc.message} It is this working copy's active stack ({why}).",
            hint="Choose another with: shipyard stack use NAME (or shipyard stack use default)",
        ) from None
    artifacts = entry.artifacts
    if "://" not in artifacts and "::" not in artifacts and not Path(artifacts).expanduser().is_absolute():
        artifacts = str(root / artifacts)  # a folder relative to the project
    return Stack(
        name=entry.name,
        artifacts=artifacts,
        metadata=entry.metadata,
        orchestrator=entry.orchestrator,
        project_dir=root,
        orchestrator_options=entry.orchestrator_options,
        artifact_options=entry.artifact_options,
    )


def _orchestrator_from_env(base: Stack) -> tuple[str, dict[str, Any]]:
    """The orchestrator and its options: ``SHIPYARD_ORCHESTRATOR`` (+ its address) or the base's."""
    name = os.environ.get(ENV_ORCHESTRATOR, "").strip() or base.orchestrator
    options = dict(base.orchestrator_options) if name == base.orchestrator else {}
    address = env_dask_address()
    if name == "dask" and address:
        options["address"] = address
    return name, options


def env_dask_address() -> str | None:
    """The Dask scheduler address in ``SHIPYARD_DASK_ADDRESS``, if set."""
    return os.environ.get(ENV_ADDRESS, "").strip() or None


__all__ = [
    "ENV_ARTIFACTS",
    "ENV_METADATA",
    "ENV_ORCHESTRATOR",
    "ENV_PROJECT",
    "GITIGNORE",
    "PROJECT_FOLDER",
    "Stack",
    "default_stack",
    "find_project",
    "init_project",
    "resolve_stack",
]
