"""``shipyard.cli.project`` provides ``shipyard init``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer


def init(
    folder: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional on 3.11
        typer.Argument(help="Project folder (default: the current folder)."),
    ] = None,
    data: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--from", help="A data file (CSV/Parquet) to write a pipeline YAML for."),
    ] = None,
    label: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--label", help="The column to predict (with --from)."),
    ] = None,
    name: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--name", help="The pipeline's name (with --from; default: the file's name)."),
    ] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the pipeline YAML (with --from).")
    ] = Path("pipeline.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing pipeline YAML.")] = False,
) -> None:
    """Create [bold].shipyard/[/bold] (local metadata database and artifact folder).

    With [bold]--from data.csv --label COL[/bold], also write a pipeline YAML inferred
    from the data (types, split, model), commented and ready to run.
    """
    from shipyard.cli.render import console
    from shipyard.client import Client
    from shipyard.errors import ShipyardError, StoreError
    from shipyard.stack import default_stack, init_project

    if (data is None) != (label is None):
        raise ShipyardError("--from and --label go together: shipyard init --from data.csv --label COL")
    root = (folder or Path.cwd()).resolve()
    if root.exists() and not root.is_dir():
        raise StoreError(f"{root} is a file; give a folder for the project.")
    text = None
    target = output if output.is_absolute() else Path.cwd() / output
    if data is not None and label is not None:
        from shipyard.ml.scaffold import scaffold_pipeline

        if target.exists() and not force:
            raise ShipyardError(f"{output} exists; pass --force to overwrite it or --output another file.")
        if not target.parent.is_dir():
            raise ShipyardError(f"The folder of {output} does not exist.")
        text = scaffold_pipeline(data, label, name=name, relative_to=target.parent)
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
    if text is None:
        console.print("Next: shipyard run pipeline.yaml  (or shipyard init --from data.csv --label COL)")
        return
    target.write_text(text.replace("<this file>", str(output)), encoding="utf-8")
    console.print(f"Wrote {output}:")
    sys.stdout.write(text.replace("<this file>", str(output)) + "\n")
    console.print(f"Next: shipyard run {output}")
