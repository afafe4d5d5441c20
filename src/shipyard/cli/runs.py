"""``shipyard.cli.runs`` provides ``shipyard runs list|show``."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

app = typer.Typer(help="List and inspect runs.", no_args_is_help=True)


@app.command("list")
def list_runs(
    pipeline: Annotated[
        Optional[str], typer.Option("--pipeline", help="Only runs of this pipeline.")  # noqa: UP045
    ] = None,
    status: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--status", help="Only runs with this status (running, completed, failed, crashed)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many runs, newest first.")] = 20,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List runs, newest first."""
    from shipyard.cli.render import console, print_json, runs_table
    from shipyard.cli.state import client as make_client
    from shipyard.errors import ShipyardError
    from shipyard.stores.metadata.records import RUN_STATUSES

    if status is not None and status not in RUN_STATUSES:
        raise ShipyardError(f"--status {status!r} is not a run status; use one of {', '.join(RUN_STATUSES)}.")

    with make_client() as client:
        runs = client.runs(pipeline=pipeline, status=status, limit=limit)
        if json_out:
            print_json([run.to_dict() for run in runs])
            return
        total = client.metadata_store.count_runs(pipeline=pipeline, status=status)
    if not runs:
        console.print("No runs yet. Run a pipeline with: shipyard run file.py:pipeline")
        return
    console.print(runs_table(runs, total=total))


@app.command("show")
def show(
    run_ref: Annotated[
        str, typer.Argument(metavar="RUN", help="Run id, unique prefix, or 'latest'.")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a run: its steps (and why each ran or came from the cache), params, metrics, errors."""
    from shipyard.cli.render import print_json, show_run
    from shipyard.cli.state import client as make_client

    with make_client() as client:
        run = client.get_run(run_ref)
        steps = client.step_runs(run)
        params = client.params(run)
        metrics = client.metrics(run)
    if json_out:
        print_json(
            {
                **run.to_dict(),
                "params": params,
                "metrics": metrics,
                "steps": [s.to_dict() for s in steps],
            }
        )
        return
    show_run(run, steps, params, metrics)
