"""``shipyard.cli.project`` provides ``shipyard init``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def init(
    folder: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional on 3.11
        typer.Argument(help="Project folder (default: the current folder)."),
    ] = None,
) -> None:
    """Create [bold].shipyard/[/bold]: the local metadata database and artifact folder."""
    from shipyard.cli.render import console
    from shipyard.client import Client
    from shipyard.stack import default_stack, init_project

    root = (folder or Path.cwd()).resolve()
    existed = (root / ".shipyard").is_dir()
    home = init_project(root)
    stack = default_stack(root)
    with Client(stack=stack) as client:
        client.metadata_store.schema_revision()
        client.artifact_store  # noqa: B018 - opening it creates the folder
    verb = "Using existing" if existed else "Created"
    console.print(f"{verb} {home}")
    console.print(f"  metadata   {stack.metadata}")
    console.print(f"  artifacts  {stack.artifacts}")
    console.print("Next: shipyard run path/to/pipelines.py:my_pipeline")
