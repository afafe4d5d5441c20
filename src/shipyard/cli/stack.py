"""``shipyard.cli.stack`` provides ``shipyard stack list|register|use|show|remove|migrate``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

if TYPE_CHECKING:
    from shipyard.stack import Stack

app = typer.Typer(
    help="Named stacks: where artifacts and records live and what runs the steps.",
    no_args_is_help=True,
)


def _project_dir() -> Path:
    """The project folder of the command (``--project`` or found from here)."""
    from shipyard.cli.state import state
    from shipyard.errors import ProjectNotFound
    from shipyard.stack import PROJECT_FOLDER, find_project

    root = state.project.resolve() if state.project is not None else find_project()
    if root is None:
        raise ProjectNotFound(
            f"No {PROJECT_FOLDER}/ folder in {Path.cwd()} or any folder above it; stacks "
            f"belong to a project.",
            hint="Run `shipyard init` in your project folder first.",
        )
    if not (root / PROJECT_FOLDER).is_dir():
        raise ProjectNotFound(
            f"{root} has no {PROJECT_FOLDER}/ folder.",
            hint=f"Run `shipyard init {root}` to make it a project, or fix the path.",
        )
    return root


def shown_url(url: str) -> str:
    """A store URL for display: written-out secrets masked, ``${VAR}`` references kept."""
    from shipyard.stores.secrets import masked

    return masked(url)


def _describe(stack: Stack, *, in_use: bool, why: str | None) -> dict[str, Any]:
    options = {f"artifacts.{k}": v for k, v in stack.artifact_options.items()}
    options.update(stack.orchestrator_options)
    return {
        "name": stack.name,
        "artifacts": shown_url(stack.artifacts),
        "metadata": shown_url(stack.metadata),
        "orchestrator": stack.orchestrator,
        "options": options,
        "in_use": in_use,
        "chosen_by": why,
    }


def _relative(url: str, root: Path) -> str:
    """A path inside the project shown relative to it (``.shipyard/artifacts``)."""
    for prefix in ("sqlite:///", ""):
        if url.startswith(prefix) and url[len(prefix):].startswith(str(root) + "/"):
            return prefix + url[len(prefix) + len(str(root)) + 1:]
    return url


@app.command("list")
def list_stacks(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the project's stacks; [bold]*[/bold] marks the one commands use here."""
    from rich.table import Table

    from shipyard.cli.render import console, print_json
    from shipyard.cli.state import state
    from shipyard.stack import default_stack
    from shipyard.stackfile import load_stacks, selected_stack

    root = _project_dir()
    in_use, why = selected_stack(root, state.stack)
    rows = [_describe(default_stack(root), in_use=in_use == "default", why=None)]
    for name, entry in sorted(load_stacks(root).items()):
        stack = _from_entry(entry, root)
        rows.append(_describe(stack, in_use=in_use == name, why=None))
    for row in rows:
        row["chosen_by"] = why if row["in_use"] else None
    if json_out:
        print_json(rows)
        return
    table = Table(box=None, pad_edge=False)
    for column in ("", "NAME", "ORCHESTRATOR", "ARTIFACTS", "METADATA"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            "*" if row["in_use"] else "",
            row["name"],
            row["orchestrator"],
            _relative(row["artifacts"], root),
            _relative(row["metadata"], root),
        )
    console.print(table)
    if in_use not in {row["name"] for row in rows}:
        console.print(f"[yellow]The stack {in_use!r} chosen by {why} is not registered.[/yellow]")


def _from_entry(entry: Any, root: Path) -> Stack:
    from shipyard.stack import Stack

    return Stack(
        name=entry.name,
        artifacts=entry.artifacts,
        metadata=entry.metadata,
        orchestrator=entry.orchestrator,
        project_dir=root,
        orchestrator_options=entry.orchestrator_options,
        artifact_options=entry.artifact_options,
    )


@app.command("register")
def register(
    name: Annotated[str, typer.Argument(help="The stack's name, e.g. team.")],
    artifacts: Annotated[
        str,
        typer.Option(
            "--artifacts",
            help="Artifact store: a folder or an fsspec URL (s3://bucket/prefix, gs://...).",
        ),
    ],
    metadata: Annotated[
        str,
        typer.Option(
            "--metadata",
            help="Metadata store: a SQLAlchemy URL (postgresql://user:${PGPASSWORD}@host/db).",
        ),
    ],
    orchestrator: Annotated[
        str, typer.Option("--orchestrator", help="What runs the steps: local or dask.")
    ] = "local",
    option: Annotated[
        Optional[list[str]],  # noqa: UP045 - typer needs Optional on 3.11
        typer.Option(
            "--option",
            help="KEY=VALUE, repeatable: an orchestrator option (address=tcp://host:8786) or, "
            "prefixed artifacts., an fsspec option (artifacts.endpoint_url=http://host:9000). "
            "A value may refer to an environment variable: '${VAR}'.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a stack of the same name.")] = False,
) -> None:
    """Register a named stack in [bold].shipyard/stacks.yaml[/bold] (shared with the project).

    Secrets never go into the file: write [bold]${VAR}[/bold] where a password or key
    goes (quoted in the shell), and set the variable where Shipyard runs.
    """
    from shipyard.cli.render import console
    from shipyard.orchestrators import _known as known_orchestrators
    from shipyard.stackfile import (
        StackEntry,
        parse_options,
        register_stack,
        validate_entry,
    )

    root = _project_dir()
    entry = StackEntry(name, artifacts.strip(), metadata.strip(), orchestrator, parse_options(option or []))
    validate_entry(entry, known_orchestrators=list(known_orchestrators()))
    replaced = register_stack(root, entry, replace=force)
    verb = "Replaced" if replaced else "Registered"
    console.print(f"{verb} the stack {name!r} in .shipyard/stacks.yaml:")
    _print_stack(_describe(_from_entry(entry, root), in_use=False, why=None))
    console.print(f"Use it with: shipyard stack use {name}   (or --stack {name} on any command)")


def _print_stack(row: dict[str, Any]) -> None:
    from rich.markup import escape

    from shipyard.cli.render import console

    console.print(f"  artifacts     {escape(row['artifacts'])}")
    console.print(f"  metadata      {escape(row['metadata'])}")
    console.print(f"  orchestrator  {escape(row['orchestrator'])}")
    for key, value in sorted(row["options"].items()):
        console.print(f"  option        {escape(key)}={escape(str(value))}")


@app.command("use")
def use(name: Annotated[str, typer.Argument(help="A stack name, or 'default'.")]) -> None:
    """Make a stack the one this working copy's commands use (kept in .shipyard/active-stack)."""
    from shipyard.cli.render import console
    from shipyard.stackfile import use_stack

    root = _project_dir()
    use_stack(root, name)
    console.print(f"Now using the stack {name!r} in {root}.")


@app.command("show")
def show(
    name: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(help="A stack name (default: the one commands use here)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a stack: its stores, orchestrator and options, and why it is the one in use."""
    import os

    from rich.markup import escape

    from shipyard.cli.render import console, print_json
    from shipyard.cli.state import state
    from shipyard.stack import ENV_ARTIFACTS, ENV_METADATA, resolve_stack
    from shipyard.stackfile import selected_stack

    root = _project_dir()
    in_use, why = selected_stack(root, state.stack)
    stack = resolve_stack(root, stack=name or in_use)
    used = (name or in_use) == in_use
    row = _describe(stack, in_use=used, why=why if used else None)
    row["name"] = name or in_use
    overrides = [var for var in (ENV_ARTIFACTS, ENV_METADATA) if os.environ.get(var)]
    row["overridden_by"] = overrides
    if json_out:
        print_json(row)
        return
    line = f"Stack {escape(row['name'])}"
    if row["in_use"]:
        line += f"  (in use here; chosen by {escape(why)})"
    console.print(line)
    _print_stack(row)
    if overrides:
        console.print(f"[yellow]Store URLs overridden by the environment: {', '.join(overrides)}[/yellow]")


@app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="The stack to remove.")]) -> None:
    """Remove a stack from .shipyard/stacks.yaml (its stores are left as they are)."""
    from shipyard.cli.render import console
    from shipyard.stackfile import remove_stack

    root = _project_dir()
    was_active = remove_stack(root, name)
    console.print(f"Removed the stack {name!r}; its stores were not touched.")
    if was_active:
        console.print("It was the active stack here; commands now use 'default'.")


@app.command("migrate")
def migrate(
    name: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(help="A stack name (default: the one commands use here)."),
    ] = None,
) -> None:
    """Upgrade a stack's metadata store to this version's schema.

    A shared (non-SQLite) store is never upgraded implicitly: after installing a
    newer Shipyard, one person runs this once; everyone then needs that version.
    """
    from rich.markup import escape

    from shipyard.cli.render import console
    from shipyard.cli.state import state
    from shipyard.stack import resolve_stack
    from shipyard.stores.metadata import MetadataStore

    stack = resolve_stack(state.project, stack=name or state.stack)
    url = shown_url(stack.metadata)
    before, after = MetadataStore.migrate(stack.metadata)
    if before == after:
        console.print(f"The metadata store {escape(url)} is at schema {after} already (current).")
    else:
        console.print(f"Migrated the metadata store {escape(url)}: schema {before or 'none'} -> {after}")
