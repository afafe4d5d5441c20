"""``shipyard.cli.runs`` provides ``shipyard runs list|show``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

if TYPE_CHECKING:
    from rich.table import Table

    from shipyard.stores.metadata import ChildRun, RunRecord

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
    all_runs: Annotated[
        bool, typer.Option("--all", help="Also list child runs (the trials of hyperparameter searches).")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List runs, newest first (the trials of searches only with --all)."""
    from shipyard.cli.render import console, print_json, runs_table
    from shipyard.cli.state import client as make_client
    from shipyard.errors import ShipyardError
    from shipyard.stores.metadata.records import RUN_STATUSES

    if status is not None and status not in RUN_STATUSES:
        raise ShipyardError(f"--status {status!r} is not a run status; use one of {', '.join(RUN_STATUSES)}.")

    with make_client() as client:
        if all_runs:
            runs = client.metadata_store.list_runs(
                pipeline=pipeline, status=status, limit=limit, children=True
            )
        else:
            runs = client.runs(pipeline=pipeline, status=status, limit=limit)
        if json_out:
            print_json([run.to_dict() for run in runs])
            return
        total = client.metadata_store.count_runs(pipeline=pipeline, status=status, children=all_runs)
    if not runs:
        console.print("No runs yet. Run a pipeline with: shipyard run file.py:pipeline")
        return
    console.print(runs_table([_labelled(run) for run in runs], total=total))


def _labelled(run: RunRecord) -> RunRecord:
    """A child run whose pipeline column says whose trial it is."""
    if run.parent_id is None:
        return run
    from dataclasses import replace

    number = run.config.get("trial")
    label = f"trial {number}" if number is not None else (run.kind or "child")
    return replace(run, pipeline=f"{run.pipeline} ({label} of {run.parent_id[:8]})")


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
        trials = client.trials(run) if run.parent_id is None else []
    if json_out:
        out: dict[str, Any] = {
            **run.to_dict(),
            "params": params,
            "metrics": metrics,
            "steps": [s.to_dict() for s in steps],
        }
        if trials:
            out["trials"] = [t.to_dict() for t in trials]
        print_json(out)
        return
    if run.parent_id is not None:
        _show_child(run, params, metrics)
        return
    show_run(run, steps, params, metrics)
    if trials:
        from shipyard.cli.render import console

        console.print()
        console.print(trials_table(run, trials))


_PLACES = {"inline": "the run's process", "processes": "a local process pool", "dask": "a Dask cluster"}


def _show_child(
    run: RunRecord, params: dict[str, dict[str, Any]], metrics: dict[str, dict[str, float]]
) -> None:
    """A child run (a trial): whose it is, its values, its metrics, its error."""
    from rich.markup import escape

    from shipyard.cli.render import console, metrics_tables, seconds, status_text, when

    config = run.config
    number = config.get("trial")
    what = f"trial {number}" if number is not None else (run.kind or "child run")
    if config.get("chosen"):
        what += ", the chosen one"
    lines = [
        f"[bold]Run {run.id}[/bold]  {status_text(run.status)}",
        f"part of       run {run.parent_id} ({escape(what)}); all its trials: "
        f"shipyard runs show {run.parent_id}",
        f"pipeline      {escape(run.pipeline)}",
        f"started       {when(run.started_at)}   duration {seconds(run.duration)}",
        f"ran in        {escape(_PLACES.get(run.orchestrator or '', run.orchestrator or '-'))}",
    ]
    if isinstance(config.get("value"), (int, float)):
        lines.append(f"{escape(str(config.get('metric', 'value'))):<13} {config['value']:.4g}")
    console.print("\n".join(lines))
    if params:
        console.print("\n[bold]Params[/bold]")
        for values in params.values():
            for key, value in values.items():
                console.print(f"  {escape(key)} = {escape(json.dumps(value, default=str))}")
    for table in metrics_tables(metrics):
        console.print(table)
    if run.error:
        console.print(f"\n[red bold]Error:[/red bold] {escape(run.error)}")


def trials_table(run: RunRecord, trials: list[ChildRun]) -> Table:
    """The trials of a run's search, best first; the chosen one marked with ★."""
    from rich.markup import escape
    from rich.table import Table

    from shipyard.cli.render import seconds, status_text

    first = trials[0].run.config
    metric = str(first.get("metric") or "value")
    better = "higher" if first.get("direction", "max") == "max" else "lower"
    failed = sum(1 for t in trials if t.run.status != "completed")
    title = f"Trials: {len(trials)} by {metric}, {better} is better"
    title += f", {failed} failed" if failed else ""
    origin = trials[0].run.parent_id
    if origin != run.id:
        title += f" (run {origin} ran them; this run reused its search from the cache)"
    names = list(dict.fromkeys(k for t in trials for values in t.params.values() for k in values))
    table = Table(title=escape(title), header_style="bold", title_justify="left")
    for column in ("", "trial", "status", metric):
        table.add_column(escape(column), no_wrap=True, justify="right" if column == metric else "left")
    for column in names:
        table.add_column(escape(column), overflow="fold")
    table.add_column("took", no_wrap=True, justify="right")
    table.add_column("error", overflow="fold")
    for child in trials:
        config = child.run.config
        values = {k: v for step_values in child.params.values() for k, v in step_values.items()}
        value = config.get("value")
        table.add_row(
            "★" if config.get("chosen") else "",
            str(config.get("trial", "?")),
            status_text(child.run.status),
            f"{value:.4g}" if isinstance(value, (int, float)) else "-",
            *(escape(_short(values[n])) if n in values else "-" for n in names),
            seconds(child.run.duration),
            escape((child.run.error or "").splitlines()[0] if child.run.error else ""),
        )
    return table


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value, default=str)
