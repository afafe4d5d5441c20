"""``shipyard.stackfile`` provides the project's named stacks: ``.shipyard/stacks.yaml``.

A stack names an artifact store URL, a metadata store URL and an
orchestrator with its options. The project's stacks live in
``.shipyard/stacks.yaml``, a file meant to be shared through version control
(``.shipyard/.gitignore`` lets it through); the stack a working copy uses is
stored apart, in ``.shipyard/active-stack``, which stays local. The embedded
stack (SQLite file and artifact folder in ``.shipyard/``) is always there,
named ``default``.

Which stack a command uses: ``--stack NAME`` or ``SHIPYARD_STACK``, else the
active stack, else ``default``. Secrets never go into the file: a URL or an
option refers to an environment variable with ``${VAR}``, expanded when the
store is opened; registering a URL with a password written out is refused.

Option keys: ``artifacts.KEY`` options are the artifact store's fsspec storage
options (``artifacts.endpoint_url`` for an S3-compatible server); the others
are the orchestrator's (``address``, ``n_workers`` for ``dask``).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.errors import StackError
from shipyard.stores.secrets import literal_secret_options, literal_secrets, masked

STACKS_FILE = "stacks.yaml"
ACTIVE_FILE = "active-stack"
DEFAULT = "default"
ENV_STACK = "SHIPYARD_STACK"
ARTIFACT_OPTION = "artifacts."
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_KEYS = {"artifacts", "metadata", "orchestrator", "options"}
_HEADER = (
    "# Shipyard stacks of this project: `shipyard stack list`, `shipyard stack register`.\n"
    "# Shared through version control; never write a secret here: refer to an\n"
    "# environment variable with ${VAR} (expanded when a store is opened).\n"
)


@dataclass(frozen=True)
class StackEntry:
    """A named stack as written in ``stacks.yaml`` (``${VAR}`` references unexpanded).

    Attributes:
        name: the stack's name.
        artifacts: artifact store URL (fsspec) or folder.
        metadata: metadata store URL (SQLAlchemy).
        orchestrator: orchestrator name (``local``, ``dask``, ...).
        options: ``artifacts.KEY`` fsspec options and the orchestrator's options.
    """

    name: str
    artifacts: str
    metadata: str
    orchestrator: str = "local"
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def artifact_options(self) -> dict[str, Any]:
        """The artifact store's fsspec storage options (``artifacts.`` prefix removed)."""
        return {
            key[len(ARTIFACT_OPTION):]: value
            for key, value in self.options.items()
            if key.startswith(ARTIFACT_OPTION)
        }

    @property
    def orchestrator_options(self) -> dict[str, Any]:
        """The orchestrator's options."""
        return {k: v for k, v in self.options.items() if not k.startswith(ARTIFACT_OPTION)}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "artifacts": self.artifacts,
            "metadata": self.metadata,
            "orchestrator": self.orchestrator,
        }
        if self.options:
            out["options"] = dict(self.options)
        return out


def stacks_path(project_dir: Path) -> Path:
    """``.shipyard/stacks.yaml`` of a project."""
    return project_dir / ".shipyard" / STACKS_FILE


def active_path(project_dir: Path) -> Path:
    """``.shipyard/active-stack`` of a project (this working copy's choice)."""
    return project_dir / ".shipyard" / ACTIVE_FILE


# -- reading ------------------------------------------------------------------------


def load_stacks(project_dir: Path) -> dict[str, StackEntry]:
    """The project's named stacks (without ``default``), by name.

    Raises:
        StackError: when ``stacks.yaml`` is not valid, naming the file and key.
    """
    path = stacks_path(project_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise StackError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    import yaml

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise StackError(f"{path} is not valid YAML: {exc}.") from exc
    if not isinstance(data, dict) or not isinstance(data.get("stacks", {}), dict):
        raise StackError(f"{path}: expected a mapping `stacks: {{NAME: {{artifacts: ..., metadata: ...}}}}`.")
    out: dict[str, StackEntry] = {}
    for name, body in (data.get("stacks") or {}).items():
        where = f"{path}: stacks.{name}"
        if not isinstance(name, str) or not _NAME.fullmatch(name) or name == DEFAULT:
            raise StackError(f"{where}: {name!r} is not a valid stack name.")
        if not isinstance(body, dict):
            raise StackError(f"{where}: expected a mapping with artifacts and metadata, found {body!r}.")
        unknown = sorted(set(body) - _KEYS)
        if unknown:
            raise StackError(f"{where}: unknown key(s) {unknown}; expected {sorted(_KEYS)}.")
        for key in ("artifacts", "metadata"):
            if not isinstance(body.get(key), str) or not body[key].strip():
                raise StackError(f"{where}.{key}: expected a URL, found {body.get(key)!r}.")
        orchestrator = body.get("orchestrator", "local")
        if not isinstance(orchestrator, str) or not orchestrator:
            raise StackError(f"{where}.orchestrator: expected a name, found {orchestrator!r}.")
        options = body.get("options") or {}
        if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
            raise StackError(f"{where}.options: expected a mapping of option names to values.")
        out[name] = StackEntry(name, body["artifacts"], body["metadata"], orchestrator, dict(options))
    return out


def get_stack(project_dir: Path, name: str) -> StackEntry:
    """A named stack of the project.

    Raises:
        StackError: when there is no such stack, listing the known ones.
    """
    stacks = load_stacks(project_dir)
    if name in stacks:
        return stacks[name]
    known = ", ".join([DEFAULT, *sorted(stacks)])
    raise StackError(
        f"No stack named {name!r} in {stacks_path(project_dir)}; stacks: {known}.",
        hint="Register one with: shipyard stack register NAME --artifacts URL --metadata URL",
    )


def active_stack(project_dir: Path) -> str:
    """The stack this working copy uses when none is named (``default`` if unset)."""
    try:
        name = active_path(project_dir).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return DEFAULT
    except OSError as exc:
        raise StackError(f"Cannot read {active_path(project_dir)}: {exc.strerror or exc}.") from exc
    return name or DEFAULT


def selected_stack(project_dir: Path | None, explicit: str | None = None) -> tuple[str, str]:
    """``(name, why)``: the stack a command uses and where that choice came from.

    ``why`` is ``--stack``, ``SHIPYARD_STACK``, ``.shipyard/active-stack`` or ``default``.
    """
    if explicit:
        return explicit, "--stack"
    env = os.environ.get(ENV_STACK, "").strip()
    if env:
        return env, ENV_STACK
    if project_dir is not None:
        name = active_stack(project_dir)
        if name != DEFAULT:
            return name, f"{Path('.shipyard') / ACTIVE_FILE}"
    return DEFAULT, "default"


# -- writing ------------------------------------------------------------------------


def validate_entry(entry: StackEntry, *, known_orchestrators: list[str] | None = None) -> None:
    """Check a stack before it is registered.

    Raises:
        StackError: for a bad name or orchestrator, a URL that is not one, or a
            secret written out instead of a ``${VAR}`` reference.
    """
    if not _NAME.fullmatch(entry.name):
        raise StackError(
            f"{entry.name!r} is not a valid stack name: use letters, digits, '-', '_' and '.' "
            "(at most 64 characters, starting with a letter or digit)."
        )
    if entry.name == DEFAULT:
        raise StackError("The stack 'default' is the project's embedded one; pick another name.")
    if known_orchestrators is not None and entry.orchestrator not in known_orchestrators:
        raise StackError(
            f"--orchestrator {entry.orchestrator!r} is not an orchestrator; use one of "
            f"{', '.join(sorted(known_orchestrators))}."
        )
    _check_metadata_url(entry.metadata)
    _check_artifacts_url(entry.artifacts)
    for what, url in (("--metadata", entry.metadata), ("--artifacts", entry.artifacts)):
        secrets = literal_secrets(url)
        if secrets:
            raise StackError(
                f"{what} {_masked(url)} contains {' and '.join(secrets)} written out; a stack "
                "file is shared, so secrets never go into it.",
                hint="Refer to an environment variable instead, e.g. "
                "postgresql://user:${PGPASSWORD}@host/db (quote it in the shell: '...'); "
                "it is read when the store is opened.",
            )
    secret_options = literal_secret_options((k, v) for k, v in entry.options.items())
    if secret_options:
        raise StackError(
            f"--option {', '.join(secret_options)} holds a secret written out; a stack file is "
            "shared, so secrets never go into it.",
            hint="Give it as a reference to an environment variable, e.g. "
            f"--option '{secret_options[0]}=${{MY_SECRET}}'.",
        )


def _masked(url: str) -> str:
    return repr(masked(url))


def _check_metadata_url(url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url)
    except ArgumentError as exc:
        raise StackError(
            f"--metadata {url!r} is not a database URL.",
            hint="Expected e.g. postgresql://user@host/db or sqlite:////abs/path/metadata.db.",
        ) from exc


def _check_artifacts_url(url: str) -> None:
    import fsspec

    protocol, _ = fsspec.core.split_protocol(url)
    if protocol is not None and protocol not in fsspec.available_protocols():
        raise StackError(
            f"--artifacts {url!r}: {protocol}:// is not a filesystem fsspec knows.",
            hint="Expected a folder, file://..., s3://bucket/prefix, gs://..., ...",
        )


def parse_options(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` texts as options; a value is read as YAML unless it refers to ``${VAR}``.

    Raises:
        StackError: for an item without ``=`` or a repeated key.
    """
    import yaml

    options: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise StackError(f"--option {item!r}: expected KEY=VALUE, e.g. address=tcp://scheduler:8786.")
        if key in options:
            raise StackError(f"--option {key} is given twice.")
        value: Any = text
        if "${" not in text:
            with contextlib.suppress(yaml.YAMLError):
                loaded = yaml.safe_load(text)
                if isinstance(loaded, (bool, int, float)):
                    value = loaded
        options[key] = value
    return options


@contextlib.contextmanager
def _locked(project_dir: Path) -> Iterator[None]:
    """Serialize read-modify-write of the stack files between processes."""
    lock = project_dir / ".shipyard" / ".stacks.lock"
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: last writer wins
        yield
        return
    with lock.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write_atomic(path: Path, text: str) -> None:
    """Write a file so that readers see the old or the new content, never a part."""
    from shipyard.stores.files import write_atomic

    write_atomic(path, text.encode("utf-8"))


def _save(project_dir: Path, stacks: Mapping[str, StackEntry]) -> None:
    import yaml

    body = {"stacks": {name: stacks[name].to_dict() for name in sorted(stacks)}}
    text = _HEADER + yaml.safe_dump(body, sort_keys=False, default_flow_style=False)
    _write_atomic(stacks_path(project_dir), text)
    _share_stacks_file(project_dir)


# The .gitignore that older versions wrote: everything in .shipyard/ stays local.
_OLD_IGNORE = "# Shipyard's local stores: not for version control\n*\n"


def _share_stacks_file(project_dir: Path) -> None:
    """Let ``stacks.yaml`` through an older ``.shipyard/.gitignore`` that ignores everything."""
    from shipyard.stack import GITIGNORE

    ignore = project_dir / ".shipyard" / ".gitignore"
    with contextlib.suppress(OSError):
        if ignore.read_text() == _OLD_IGNORE:
            _write_atomic(ignore, GITIGNORE)


def register_stack(project_dir: Path, entry: StackEntry, *, replace: bool = False) -> bool:
    """Add (or with ``replace``, change) a named stack in ``stacks.yaml``.

    Returns:
        True when it replaced a stack of that name.

    Raises:
        StackError: when the stack is not valid, or exists and ``replace`` is False.
    """
    with _locked(project_dir):
        stacks = load_stacks(project_dir)
        existed = entry.name in stacks
        if existed and not replace:
            raise StackError(
                f"A stack named {entry.name!r} exists already in {stacks_path(project_dir)}.",
                hint="Pass --force to replace it, or remove it first: shipyard stack remove "
                f"{entry.name}",
            )
        stacks[entry.name] = entry
        _save(project_dir, stacks)
    return existed


def remove_stack(project_dir: Path, name: str) -> bool:
    """Remove a named stack; when this working copy was using it, go back to ``default``.

    Returns:
        True when it was this working copy's active stack.

    Raises:
        StackError: for ``default`` or an unknown name.
    """
    if name == DEFAULT:
        raise StackError("The stack 'default' is the project's embedded one; it cannot be removed.")
    with _locked(project_dir):
        stacks = load_stacks(project_dir)
        if name not in stacks:
            get_stack(project_dir, name)  # raises, listing the known stacks
        del stacks[name]
        _save(project_dir, stacks)
        was_active = active_stack(project_dir) == name
        if was_active:
            with contextlib.suppress(FileNotFoundError):
                active_path(project_dir).unlink()
    return was_active


def use_stack(project_dir: Path, name: str) -> StackEntry | None:
    """Make ``name`` this working copy's active stack (``default``: the embedded one).

    Returns:
        The stack, or None for ``default``.

    Raises:
        StackError: for an unknown name.
    """
    with _locked(project_dir):
        if name == DEFAULT:
            with contextlib.suppress(FileNotFoundError):
                active_path(project_dir).unlink()
            return None
        entry = get_stack(project_dir, name)
        _write_atomic(active_path(project_dir), name + "\n")
    return entry


__all__ = [
    "ACTIVE_FILE",
    "DEFAULT",
    "ENV_STACK",
    "STACKS_FILE",
    "StackEntry",
    "StackError",
    "active_stack",
    "get_stack",
    "load_stacks",
    "parse_options",
    "register_stack",
    "remove_stack",
    "selected_stack",
    "use_stack",
    "validate_entry",
]
