"""``shipyard.cli.runs`` provides ``shipyard runs list|show|tag|note|diff|compare``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

if TYPE_CHECKING:
    from rich.table import Table

    from shipyard.stores.metadata import ChildRun, RunRecord

app = typer.Typer(help="List, inspect, tag, annotate, diff and compare runs.", no_args_is_help=True)

_RUN_HELP = "Run id, unique prefix, 'latest' or 'latest~N' (the N-th before the latest)."


@app.command("list")
def list_runs(
    pipeline: Annotated[
        Optional[str], typer.Option("--pipeline", help="Only runs of this pipeline.")  # noqa: UP045
    ] = None,
    status: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--status", help="Only runs with this status (running, completed, failed, crashed)."),
    ] = None,
    user: Annotated[
        Optional[str], typer.Option("--user", help="Only runs of this user.")  # noqa: UP045
    ] = None,
    tag: Annotated[
        list[str],
        typer.Option("--tag", "-t", help="Only runs with this tag (repeatable: runs with all of them)."),
    ] = [],  # noqa: B006 - typer reads the default
    since: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--since",
            help="Only runs started since: a date (2026-11-20), a date and time "
            "(2026-11-20 14:30) or a time ago (30m, 12h, 3d, 2w).",
        ),
    ] = None,
    until: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--until",
            help="Only runs started before: a time ago, a date and time, or a date "
            "(that day included).",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many runs, newest first.")] = 20,
    all_runs: Annotated[
        bool, typer.Option("--all", help="Also list child runs (the trials of hyperparameter searches).")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List runs, newest first (the trials of searches only with --all), filtered by
    pipeline, status, user, tags and start time."""
    from shipyard.cli.render import console, print_json, runs_table
    from shipyard.cli.state import client as make_client
    from shipyard.compare import parse_time
    from shipyard.errors import ShipyardError
    from shipyard.stores.metadata.annotations import run_tags
    from shipyard.stores.metadata.records import RUN_STATUSES

    if status is not None and status not in RUN_STATUSES:
        raise ShipyardError(f"--status {status!r} is not a run status; use one of {', '.join(RUN_STATUSES)}.")
    filters: dict[str, Any] = {
        "pipeline": pipeline,
        "status": status,
        "user": user,
        "tags": list(tag),
        "since": _time_option("--since", since, parse_time),
        "until": _time_option("--until", until, lambda text: parse_time(text, end=True)),
        "children": all_runs,
    }
    with make_client() as client:
        store = client.metadata_store
        runs = store.list_runs(limit=limit, **filters)
        tags = run_tags(store, [run.id for run in runs])
        if json_out:
            print_json([{**run.to_dict(), "tags": tags.get(run.id, [])} for run in runs])
            return
        total = store.count_runs(**filters)
    if not runs:
        filtered = any(filters[k] for k in ("pipeline", "status", "user", "tags", "since", "until"))
        if filtered:
            console.print("No runs match these filters.")
        else:
            console.print("No runs yet. Run a pipeline with: shipyard run file.py:pipeline")
        return
    console.print(runs_table([_labelled(run) for run in runs], total=total, tags=tags))


def _time_option(flag: str, text: str | None, parse: Any) -> float | None:
    from shipyard.errors import ParamsError, ShipyardError

    if text is None:
        return None
    try:
        return float(parse(text))
    except ShipyardError as exc:
        raise ParamsError(f"{flag}: {exc.message}") from None


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
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help=_RUN_HELP)],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a run: who ran which code (commit, remote, uncommitted changes), its data version,
    steps (and why each ran or came from the cache), params, metrics, tags, notes and errors."""
    from shipyard.cli.render import print_json, show_run
    from shipyard.cli.state import client as make_client

    with make_client() as client:
        run = client.get_run(run_ref)
        steps = client.step_runs(run)
        params = client.params(run)
        metrics = client.metrics(run)
        trials = client.trials(run) if run.parent_id is None else []
        tags = client.run_tags(run)
        notes = client.run_notes(run)
    if json_out:
        out: dict[str, Any] = {
            **run.to_dict(),
            "tags": tags,
            "notes": [n.to_dict() for n in notes],
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
    show_run(run, steps, params, metrics, tags=tags, notes=notes)
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


# -- tags and notes --------------------------------------------------------------------------


@app.command("tag")
def tag(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help=_RUN_HELP)],
    tags: Annotated[list[str], typer.Argument(metavar="TAG...", help="Tags (no spaces or commas).")],
    remove: Annotated[
        bool, typer.Option("--remove", help="Take these tags off the run instead.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Put tags on a run (or take them off with --remove); list runs by tag with runs list --tag."""
    from rich.markup import escape

    from shipyard.cli.render import console, print_json
    from shipyard.cli.state import client as make_client

    with make_client() as client:
        run = client.get_run(run_ref)
        now = client.untag_run(run, *tags) if remove else client.tag_run(run, *tags)
    if json_out:
        print_json({"run_id": run.id, "tags": now})
        return
    console.print(f"Run {run.id} tags: {escape(', '.join(now)) or '(none)'}")


@app.command("note")
def note(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help=_RUN_HELP)],
    text: Annotated[str, typer.Argument(help="The note (quote it).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Append a note to a run, with your user name and the time; runs show lists them."""
    from shipyard.cli.render import console, print_json
    from shipyard.cli.state import client as make_client

    with make_client() as client:
        run = client.get_run(run_ref)
        added = client.note_run(run, text)
        count = len(client.run_notes(run))
    if json_out:
        print_json(added.to_dict())
        return
    console.print(f"Noted on run {run.id} ({count} note{'s' if count != 1 else ''}).")


# -- diff and compare ------------------------------------------------------------------------


@app.command("diff")
def diff(
    run_a: Annotated[str, typer.Argument(metavar="RUN_A", help=_RUN_HELP)],
    run_b: Annotated[str, typer.Argument(metavar="RUN_B", help=_RUN_HELP)],
    all_metrics: Annotated[
        bool, typer.Option("--all", help="List every metric, not only those that differ.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show what differs between two runs, like a diff of commits: config keys, params, data
    versions, code, package versions, metrics (B - A) and which steps ran or came from the cache."""
    from shipyard.cli.render import console, print_json
    from shipyard.cli.state import client as make_client

    with make_client() as client:
        result = client.diff_runs(run_a, run_b)
    if json_out:
        print_json(result)
        return
    for block in diff_blocks(result, all_metrics=all_metrics):
        console.print(block)


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _changes(entries: list[dict[str, Any]]) -> list[str]:
    from rich.markup import escape

    out = []
    for entry in entries:
        key = escape(entry["key"])
        if entry["change"] == "added":
            out.append(f"  [green]+ {key}: {escape(_value(entry['b']))}[/green]")
        elif entry["change"] == "removed":
            out.append(f"  [red]- {key}: {escape(_value(entry['a']))}[/red]")
        else:
            out.append(f"  [yellow]~ {key}:[/yellow] {escape(_value(entry['a']))} → {escape(_value(entry['b']))}")
    return out


def diff_blocks(result: dict[str, Any], *, all_metrics: bool = False) -> list[Any]:
    """``shipyard runs diff`` for people: one printable block per section."""
    from rich.markup import escape
    from rich.table import Table

    from shipyard.cli.render import seconds, status_text, when

    a, b = result["a"], result["b"]
    blocks: list[Any] = []

    def who(side: dict[str, Any], label: str) -> str:
        extra = f", reproduces {side['reproduces'][:8]}" if side.get("reproduces") else ""
        tags = f", tags {', '.join(side['tags'])}" if side.get("tags") else ""
        return (
            f"{label}  run {side['id']}  {escape(side['pipeline'])}  {when(side['started_at'])}  "
            f"{status_text(side['status'])}  by {escape(side.get('user') or '-')}{escape(extra + tags)}"
        )

    blocks.append("\n".join([who(a, "A"), who(b, "B")]))

    lines = ["[bold]Config[/bold]" + ("" if result["kind"][0] == result["kind"][1] else
                                      f"  (A is {result['kind'][0]}, B is {result['kind'][1]})")]
    lines += _changes(result["config"]) or ["  same"]
    if result["settings"]:
        lines += ["[bold]How it was run[/bold]", *_changes(result["settings"])]
    blocks.append("\n".join(lines))

    lines = ["[bold]Params[/bold]"]
    lines += _changes(result["params"]) or ["  same"]
    blocks.append("\n".join(lines))

    blocks.append(_data_block(result["data"]))
    blocks.append(_code_block(result["code"]))

    packages = result["packages"]
    lines = ["[bold]Packages[/bold]"]
    if packages["python"]:
        lines.append(f"  ~ python: {packages['python']['a']} → {packages['python']['b']}")
    for entry in packages["changed"]:
        lines.append(f"  ~ {escape(entry['name'])}: {entry['a'] or '-'} → {entry['b'] or '-'}")
    if len(lines) == 1:
        lines.append("  same versions")
    blocks.append("\n".join(lines))

    rows = result["metrics"]
    shown = rows if all_metrics else [r for r in rows if not r["equal"]]
    equal = sum(1 for r in rows if r["equal"])
    if not rows:
        blocks.append("[bold]Metrics[/bold]\n  none recorded")
    elif not shown:
        blocks.append(f"[bold]Metrics[/bold]\n  all {len(rows)} equal")
    else:
        title = "Metrics" + (f" ({equal} equal, not shown; --all lists them)" if equal and not all_metrics else "")
        table = Table(title=title, title_justify="left", header_style="bold")
        for column in ("step", "metric", "A", "B", "B - A"):
            table.add_column(column, justify="right" if column in ("A", "B", "B - A") else "left")
        for row in shown:
            delta = row["delta"]
            table.add_row(
                escape(row["step"]),
                escape(row["metric"]),
                _value(row["a"]),
                _value(row["b"]),
                "-" if delta is None else f"{delta:+.4g}",
            )
        blocks.append(table)

    table = Table(title="Steps", title_justify="left", header_style="bold")
    for column in ("step", "A", "B", "outputs"):
        table.add_column(column)

    def state(side: dict[str, Any] | None) -> str:
        if side is None:
            return "-"
        text = status_text(side["status"])
        if side["status"] != "cached":
            text += f" {seconds(side.get('duration'))}"
        return text

    for entry in result["steps"]:
        same = "same" if entry["same_outputs"] else ("differ" if entry["a"] and entry["b"] else "-")
        table.add_row(escape(entry["step"]), state(entry["a"]), state(entry["b"]), same)
    blocks.append(table)
    return blocks


def _data_block(data: dict[str, Any]) -> str:
    from rich.markup import escape

    lines = ["[bold]Data[/bold]"]

    def label(entry: dict[str, Any]) -> str:
        name = entry["step"] if entry["output"] == "output" else f"{entry['step']}.{entry['output']}"
        where = entry.get("dataset") or entry.get("path") or entry.get("query") or ""
        size = (
            f", {entry['rows']:,} rows × {entry['columns']} columns"
            if isinstance(entry.get("rows"), int) and isinstance(entry.get("columns"), int)
            else ""
        )
        return f"{entry['artifact'][:16]} ({escape(name)}{', ' + escape(str(where)) if where else ''}{size})"

    if data["same"]:
        if data["a"]:
            lines += [f"  same data version {label(e)}" for e in data["a"]]
        else:
            lines.append("  no data step in either run")
        return "\n".join(lines)
    lines += [f"  A: {label(e)}" for e in data["a"]] or ["  A: no data version"]
    lines += [f"  B: {label(e)}" for e in data["b"]] or ["  B: no data version"]
    summary = data.get("summary")
    if summary:
        rows, cols = summary.get("rows") or [None, None], summary.get("columns") or [None, None]
        if rows != [None, None]:
            lines.append(f"  rows     {_value(rows[0])} → {_value(rows[1])}")
        if cols != [None, None]:
            lines.append(f"  columns  {_value(cols[0])} → {_value(cols[1])}")
        if summary.get("basis"):
            added, removed = summary["columns_added"], summary["columns_removed"]
            if added or removed:
                lines.append(
                    f"  columns added {escape(', '.join(added)) or '-'}   removed {escape(', '.join(removed)) or '-'}"
                )
            for column, (before, after) in summary.get("type_changed", {}).items():
                lines.append(f"  type changed {escape(column)}: {before} → {after}")
            drifted = summary.get("drifted") or []
            total = len(summary.get("drift") or {})
            if drifted:
                lines.append(
                    f"  [red]drift[/red] in {len(drifted)} of {total} columns: {escape(', '.join(drifted))} "
                    f"({escape(summary['basis'])})"
                )
            else:
                lines.append(f"  no drift in {total} columns ({escape(summary['basis'])})")
    return "\n".join(lines)


def _code_block(code: dict[str, Any]) -> str:
    from rich.markup import escape

    def describe(side: dict[str, Any]) -> str:
        commit = side["commit"][:12] if side["commit"] else "no commit recorded"
        if side["dirty"]:
            commit += " with uncommitted changes"
            if side.get("diff_artifact"):
                commit += f" (artifact {side['diff_artifact'][:12]})"
        if side.get("branch"):
            commit += f" on {side['branch']}"
        return escape(commit)

    lines = ["[bold]Code[/bold]"]
    if code["same_commit"] and code["a"]["dirty"] == code["b"]["dirty"] and not code["a"]["dirty"]:
        lines.append(f"  same commit {describe(code['a'])}")
    else:
        lines.append(f"  A: {describe(code['a'])}")
        lines.append(f"  B: {describe(code['b'])}")
    remotes = {code["a"].get("remote"), code["b"].get("remote")} - {None}
    if len(remotes) == 1:
        lines.append(f"  remote {escape(remotes.pop())}")
    elif remotes:
        lines.append(f"  remote {escape(code['a'].get('remote') or '-')} → {escape(code['b'].get('remote') or '-')}")
    return "\n".join(lines)


@app.command("compare")
def compare(
    run_refs: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Argument(metavar="[RUN]...", help="Runs to compare (ids, prefixes, latest, latest~N)."),
    ] = None,
    pipeline: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--pipeline", help="Add the newest runs of this pipeline (--last of them)."),
    ] = None,
    last: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--last", min=1, help="How many of the newest runs to add (default 10 when no RUN is given)."),
    ] = None,
    sort: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--sort",
            help="Order by this metric, best first: descending where higher is better "
            "(roc_auc, accuracy, f1, r2, ...), ascending for losses and errors. A bare name "
            "such as roc_auc means the eval split's.",
        ),
    ] = None,
    metric: Annotated[
        list[str], typer.Option("--metric", "-m", help="Show this metric (repeatable); default: all but slices.")
    ] = [],  # noqa: B006 - typer reads the default
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Compare the params and metrics of several runs in one table (only the params that differ)."""
    from shipyard.cli.render import console, print_json
    from shipyard.cli.state import client as make_client

    with make_client() as client:
        result = client.compare_runs(run_refs or [], sort=sort, pipeline=pipeline, last=last)
    if json_out:
        print_json(result)
        return
    console.print(compare_table(result, metric))


#: Metric columns shown by default before the table says how to choose.
_DEFAULT_METRICS = 12


def compare_table(result: dict[str, Any], chosen: list[str]) -> Table:
    """``shipyard runs compare`` for people: one row per run."""
    from rich.markup import escape
    from rich.table import Table

    from shipyard.cli.render import status_text, when
    from shipyard.compare import resolve_metric

    keys = [c["key"] for c in result["metrics"]]
    sort = result["sort"]
    if chosen:
        metrics = [resolve_metric(name, keys) for name in chosen]
    else:
        metrics = [k for k in keys if "[" not in k]
    if sort and sort["metric"] in metrics:
        metrics.remove(sort["metric"])
    if sort:
        metrics.insert(0, sort["metric"])
    hidden = 0
    if not chosen and len(metrics) > _DEFAULT_METRICS:
        hidden, metrics = len(metrics) - _DEFAULT_METRICS, metrics[:_DEFAULT_METRICS]
    runs = result["runs"]
    title = f"{len(runs)} runs"
    if sort:
        better = "higher" if sort["direction"] == "max" else "lower"
        title += f", best first by {sort['metric']} ({better} is better)"
    caption = []
    if hidden:
        caption.append(f"{hidden} more metrics: choose with --metric NAME")
    if len(runs) > 1 and not result["params"]:
        caption.append("all params are the same")
    table = Table(
        title=escape(title), title_justify="left", header_style="bold",
        caption=escape("; ".join(caption)) if caption else None,
    )
    several = len({r["pipeline"] for r in runs}) > 1
    table.add_column("run", no_wrap=True)
    if several:
        table.add_column("pipeline", overflow="fold")
    table.add_column("started", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for key in result["params"]:
        table.add_column(escape(key), overflow="fold")
    for key in metrics:
        table.add_column(escape(key), justify="right", overflow="fold")
    for run in runs:
        table.add_row(
            run["id"][:8],
            *([escape(run["pipeline"])] if several else []),
            when(run["started_at"])[5:16],
            status_text(run["status"]),
            *(escape(_value(run["params"].get(k))) for k in result["params"]),
            *(_value(run["metrics"].get(k)) for k in metrics),
        )
    return table
