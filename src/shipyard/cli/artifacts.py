"""``shipyard.cli.artifacts`` provides ``shipyard artifacts list|show|export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(help="List, inspect and export artifacts.", no_args_is_help=True)


@app.command("list")
def list_artifacts(
    run: Annotated[
        Optional[str], typer.Option("--run", help="Only artifacts output by this run.")  # noqa: UP045
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many, newest first.")] = 20,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List artifacts, newest first."""
    from shipyard.cli.render import artifacts_table, console, print_json
    from shipyard.cli.state import client as make_client

    with make_client() as client:
        records = client.artifacts(run=run, limit=limit)
    if json_out:
        print_json([r.to_dict() for r in records])
    elif not records:
        console.print("No artifacts yet.")
    else:
        console.print(artifacts_table(records))


@app.command("show")
def show(
    artifact_id: Annotated[
        str, typer.Argument(metavar="ID", help="Artifact id or unique prefix.")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show an artifact: type, format, size, which step runs produced and consumed it, a preview."""
    from shipyard.cli.render import print_json, show_artifact
    from shipyard.cli.state import client as make_client

    with make_client() as client:
        lineage = client.lineage(artifact_id)
        preview = client.describe_artifact(lineage.artifact)
    if json_out:
        print_json(
            {
                **lineage.artifact.to_dict(),
                "produced_by": [
                    {"run_id": s.run_id, "step": s.step, "output": n, "status": s.status}
                    for s, n in lineage.produced_by
                ],
                "consumed_by": [
                    {"run_id": s.run_id, "step": s.step, "input": n, "status": s.status}
                    for s, n in lineage.consumed_by
                ],
                "preview": preview,
            }
        )
        return
    show_artifact(lineage.artifact, lineage.produced_by, lineage.consumed_by, preview)


@app.command("export")
def export(
    artifact_id: Annotated[str, typer.Argument(metavar="ID", help="Artifact id or unique prefix.")],
    path: Annotated[Path, typer.Argument(help="Where to write the file (or folder).")],
) -> None:
    """Copy an artifact's file(s) out of the store, e.g. a DataFrame as a .parquet file."""
    from shipyard.cli.render import console
    from shipyard.cli.state import client as make_client

    with make_client() as client:
        written = client.export_artifact(artifact_id, path)
    console.print(f"Wrote {written}")
