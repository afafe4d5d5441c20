"""``shipyard.cli.models`` provides ``shipyard models register|list|show|promote|rollback|alias``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

if TYPE_CHECKING:
    from rich.table import Table

    from shipyard.client import Client
    from shipyard.engine.runner import RunResult
    from shipyard.stores.metadata.registry import (
        ModelEventRecord,
        ModelRecord,
        ModelVersionRecord,
        StageChange,
    )

app = typer.Typer(
    help="The model registry: named models, their versions, stages (staging, production, archived) and aliases.",
    no_args_is_help=True,
)

_STAGE_STYLE = {"production": "green", "staging": "cyan", "archived": "dim", "none": "white"}
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ReasonOption = Annotated[
    Optional[str],  # noqa: UP045 - typer needs Optional on 3.11
    typer.Option("--reason", "-m", help="Why (kept in the model's history)."),
]


@app.command("register")
def register(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The model's name (created on first use), e.g. taxi-tips.")],
    source: Annotated[
        str,
        typer.Argument(
            metavar="RUN_OR_BUNDLE",
            help="A run (id, prefix or 'latest': its bundle), a bundle artifact id, or a bundle folder "
            "(stored in the artifact store if it is not there).",
        ),
    ],
    stage: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--stage", help="Also put the version in this stage: staging, production or archived."),
    ] = None,
    alias: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--alias", help="Also point this alias at the version (e.g. candidate)."),
    ] = None,
    reason: ReasonOption = None,
    trust: Annotated[
        bool, typer.Option("--trust", help="Accept a bundle folder holding types outside the trusted list.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Register a run's bundle (or a bundle) as the next version of a model.

    Registering a bundle that is a version already returns that version.
    """
    from shipyard.cli.render import console, print_json
    from shipyard.cli.state import client as make_client
    from shipyard.registry.registry import check_alias, check_name, check_stage

    check_name(name)
    if stage is not None:
        check_stage(stage)
    if alias is not None:
        check_alias(alias)
    with make_client() as client:
        registry = client.models
        bundle = registry.bundle_for(source, trust=trust)
        version, created = registry.register_bundle(name, bundle, stage=stage, alias=alias, reason=reason)
    if json_out:
        print_json({**version.to_dict(), "created": created})
        return
    head = "Registered" if created else f"Bundle {bundle.id[:12]} is already"
    details = [f"bundle {version.bundle_id[:12]}"] if created else []
    details += [f"run {version.run_id}"] if version.run_id else []
    details += [f"stage {_stage(version.stage)}"]
    details += [f"aliases {_esc(', '.join(version.aliases))}"] if version.aliases else []
    console.print(f"{head} [bold]{_esc(name)} v{version.version}[/bold]: {'; '.join(details)}")
    if created and stage is None:
        console.print(
            f"Promote it with: shipyard models promote {name} {version.version} --stage staging", markup=False
        )


@app.command("list")
def list_models(json_out: JsonOption = False) -> None:
    """List the registered models: versions, the production version, staging, aliases."""
    from shipyard.cli.render import console, print_json
    from shipyard.cli.state import client as make_client

    with make_client() as client:
        models = client.models.list()
    if json_out:
        print_json([m.to_dict() for m in models])
        return
    if not models:
        console.print("No models registered yet. Register a run's bundle with: shipyard models register NAME RUN")
        return
    console.print(models_table(models))


@app.command("show")
def show(
    ref: Annotated[
        str,
        typer.Argument(metavar="NAME[@REF]", help="A model, or one version: NAME@3, NAME@production, NAME@champion."),
    ],
    json_out: JsonOption = False,
) -> None:
    """Show a model: its versions (run, data version, metrics, stage, aliases) and its history."""
    from shipyard.cli.render import print_json
    from shipyard.cli.state import client as make_client
    from shipyard.registry.refs import parse_model_ref

    with make_client() as client:
        registry = client.models
        if "@" in ref:
            version = registry.resolve(ref)
            events = [e for e in registry.history(version.model) if e.version == version.version]
            if json_out:
                print_json({**version.to_dict(), "history": [e.to_dict() for e in events]})
                return
            show_version(version, events)
            return
        name = parse_model_ref(ref).name
        model = registry.get(name)
        versions = registry.versions(name)
        events = registry.history(name)
    if json_out:
        print_json(
            {**model.to_dict(), "versions": [v.to_dict() for v in versions], "history": [e.to_dict() for e in events]}
        )
        return
    show_model(model, versions, events)


@app.command("promote")
def promote(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The model.")],
    version: Annotated[str, typer.Argument(metavar="VERSION", help="The version: a number (3 or v3) or an alias.")],
    stage: Annotated[str, typer.Option("--stage", help="staging, production or archived.")],
    reason: ReasonOption = None,
    json_out: JsonOption = False,
) -> None:
    """Put a version in a stage; into production, the previous production version goes to archived."""
    from shipyard.cli.render import console, print_json
    from shipyard.cli.state import client as make_client

    with make_client() as client:
        change = client.models.promote(name, version, stage, reason=reason)
    if json_out:
        print_json(change.to_dict())
        return
    console.print(_change_text(change))


@app.command("rollback")
def rollback(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The model.")],
    reason: ReasonOption = None,
    json_out: JsonOption = False,
) -> None:
    """Put back in production the version that was there before the current one (from the history).

    The current production version goes to archived. Each rollback steps one
    further back.
    """
    from shipyard.cli.render import console, print_json
    from shipyard.cli.state import client as make_client

    with make_client() as client:
        change = client.models.rollback(name, reason=reason)
    if json_out:
        print_json(change.to_dict())
        return
    v, replaced = change.version, change.replaced
    console.print(
        f"Rolled back {_esc(name)} to v{v.version} ({change.previous} -> {_stage(v.stage)})"
        + (f"; v{replaced.version}: production -> {_stage(replaced.stage)}" if replaced is not None else "")
    )


@app.command("alias")
def alias(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The model.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. champion, candidate.")],
    version: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(metavar="VERSION", help="The version it points at (a number, or another alias); not with --remove."),
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Take the alias off.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Point an alias at a version (moving it from the version it pointed at), or remove it."""
    from shipyard.cli.render import console, print_json
    from shipyard.cli.state import client as make_client
    from shipyard.errors import ShipyardError

    if remove == (version is not None):
        raise ShipyardError(
            "Give a VERSION to point the alias at, or --remove to take it off (not both)."
            if remove
            else f"Give the VERSION {alias_name!r} should point at (e.g. 3), or --remove."
        )
    with make_client() as client:
        registry = client.models
        if remove:
            held = registry.remove_alias(name, alias_name)
            if json_out:
                print_json({"model": name, "alias": alias_name, "version": None, "previous": held})
                return
            console.print(f"Removed alias {_esc(alias_name)} of {_esc(name)} (it pointed at v{held}).")
            return
        assert version is not None
        before = registry.get(name).aliases.get(alias_name)
        record = registry.set_alias(name, alias_name, version)
    if json_out:
        print_json({"model": name, "alias": alias_name, "version": record.version, "previous": before})
        return
    moved = f" (was v{before})" if before is not None and before != record.version else ""
    console.print(f"{_esc(name)}@{_esc(alias_name)} -> v{record.version}{moved}")


# -- rendering ---------------------------------------------------------------------


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _stage(stage: str) -> str:
    style = _STAGE_STYLE.get(stage, "white")
    return f"[{style}]{stage}[/{style}]"


def _change_text(change: StageChange) -> str:
    v = change.version
    if not change.changed:
        return f"{_esc(v.model)} v{v.version} is in {_stage(v.stage)} already."
    text = f"{_esc(v.model)} v{v.version}: {change.previous} -> {_stage(v.stage)}"
    if change.replaced is not None:
        text += f" (v{change.replaced.version}: production -> {_stage(change.replaced.stage)})"
    return text


def models_table(models: list[ModelRecord]) -> Table:
    """One row per model."""
    from rich.table import Table

    from shipyard.cli.render import when

    table = Table(header_style="bold")
    for column in ("model", "versions", "latest", "production", "staging", "aliases", "updated"):
        table.add_column(column, no_wrap=column != "aliases")
    for m in models:
        table.add_row(
            _esc(m.name),
            str(m.versions),
            f"v{m.latest}" if m.latest else "-",
            f"[green]v{m.production}[/green]" if m.production else "-",
            ", ".join(f"v{n}" for n in m.staging) or "-",
            _esc(", ".join(f"{a}=v{v}" for a, v in m.aliases.items())) or "-",
            when(m.updated_at),
        )
    return table


def _metric_columns(versions: list[ModelVersionRecord], limit: int = 3) -> list[str]:
    from shipyard.config.spec import METRICS

    present = {k for v in versions for k in v.metrics}
    first = ("roc_auc", "accuracy", "f1", "rmse", "mae", "r2")
    order = [*first, *(m for m in METRICS if m not in first)]
    return [f"eval.{m}" for m in order if f"eval.{m}" in present][:limit]


def _event_text(event: ModelEventRecord, versions: dict[int, ModelVersionRecord]) -> str:
    if event.kind == "register":
        version = versions.get(event.version)
        run = f"run {version.run_id}, " if version is not None and version.run_id else ""
        return f"registered ({run}bundle {(event.to_value or '')[:12]})"
    if event.kind in ("stage", "rollback"):
        text = f"{event.from_value} -> {event.to_value}"
        return text + (" (rollback)" if event.kind == "rollback" else "")
    if event.kind == "alias":
        return f"alias {event.to_value} set" if event.to_value else f"alias {event.from_value} removed"
    return event.kind


def history_table(events: list[ModelEventRecord], versions: list[ModelVersionRecord]) -> Table:
    """The model's history, oldest first."""
    from rich.table import Table

    from shipyard.cli.render import when

    by_number = {v.version: v for v in versions}
    table = Table(title="History", header_style="bold", title_justify="left")
    for column in ("when", "version", "change", "by", "reason"):
        table.add_column(column, no_wrap=column in ("when", "version"), overflow="fold")
    for event in events:
        table.add_row(
            when(event.created_at), f"v{event.version}", _esc(_event_text(event, by_number)),
            _esc(event.user or "-"), _esc(event.reason or ""),
        )
    return table


def show_model(model: ModelRecord, versions: list[ModelVersionRecord], events: list[ModelEventRecord]) -> None:
    """A model: summary, versions, history."""
    from rich.table import Table

    from shipyard.cli.render import console, when

    aliases = ", ".join(f"{a} -> v{v}" for a, v in model.aliases.items()) or "none"
    console.print(
        "\n".join([
            f"[bold]Model {_esc(model.name)}[/bold]  {model.versions} version(s), created "
            f"{when(model.created_at)} by {_esc(model.user or '-')}",
            f"production    {'v' + str(model.production) if model.production else 'none'}",
            f"staging       {', '.join(f'v{n}' for n in model.staging) or 'none'}",
            f"aliases       {_esc(aliases)}",
        ])
    )
    metrics = _metric_columns(versions)
    table = Table(title="Versions", header_style="bold", title_justify="left")
    for column in ("version", "stage", "aliases", "run", "data", *metrics, "registered", "by"):
        table.add_column(column, no_wrap=True, justify="right" if column in metrics else "left")
    for v in versions:
        table.add_row(
            f"v{v.version}",
            _stage(v.stage),
            _esc(", ".join(v.aliases)) or "-",
            (v.run_id or "-")[:8],
            (v.data_version or "-")[:12],
            *(f"{v.metrics[m]:.4g}" if m in v.metrics else "-" for m in metrics),
            when(v.created_at),
            _esc(v.user or "-"),
        )
    console.print(table)
    if events:
        console.print(history_table(events, versions))
    console.print(
        f"Serve the production version: shipyard serve {model.name}@production", markup=False, highlight=False
    )


def show_version(version: ModelVersionRecord, events: list[ModelEventRecord]) -> None:
    """One version: ids, stage, aliases, metrics, its history."""
    from shipyard.cli.render import console, metrics_tables, when

    console.print(
        "\n".join([
            f"[bold]{_esc(version.model)} v{version.version}[/bold]  {_stage(version.stage)}",
            f"bundle        {version.bundle_id}",
            f"run           {version.run_id or '-'}",
            f"data version  {version.data_version or '-'}",
            f"aliases       {_esc(', '.join(version.aliases)) or 'none'}",
            f"registered    {when(version.created_at)} by {_esc(version.user or '-')}",
        ])
    )
    if version.metrics:
        for table in metrics_tables({"bundle": version.metrics}):
            console.print(table)
    if events:
        console.print(history_table(events, [version]))


def registry_summary(client: Client, result: RunResult) -> None:
    """After a YAML run: what ``gate.must_beat`` compared and what ``register`` registered."""
    from shipyard.cli.render import console

    gate = result.steps.get("gate")
    if gate is not None and gate.status in ("completed", "failed"):
        record = client.metadata_store.get_step_run(gate.step_run_id)
        must = record.params.get("must_beat")
        if must:
            console.print(_must_beat_text(must, record.metrics), highlight=False)
    registered = result.steps.get("register")
    bundled = result.steps.get("bundle")
    if registered is None or bundled is None or registered.status not in ("completed", "cached"):
        return
    bundle_id = bundled.outputs["output"].id
    name = client.metadata_store.get_step_run(registered.step_run_id).params.get("name")
    for version in client.models.tables.versions_of_bundle(bundle_id):
        if version.model != name:
            continue
        fresh = registered.status == "completed" and version.created_at >= result.started_at
        what = "Registered" if fresh else "Registered earlier as"
        aliases = f", aliases {', '.join(version.aliases)}" if version.aliases else ""
        console.print(
            f"[bold]{what}[/bold] {_esc(version.model)} v{version.version} (stage "
            f"{_stage(version.stage)}{_esc(aliases)})   serve with: shipyard serve "
            f"{_esc(version.model)}@{version.version}"
        )


def _must_beat_text(must: dict[str, Any], metrics: dict[str, float]) -> str:
    target = f"{must.get('model')}@{must.get('stage')}"
    metric = must.get("metric") or "the default metric"
    if not metrics.get("must_beat.compared"):
        if "must_beat.passed" in metrics:
            return f"Must beat {target}: no such version yet, so nothing to beat (the gate passes)."
        return f"Must beat {target}: not compared."
    verdict = "[green]passed[/green]" if metrics.get("must_beat.passed") else "[red]failed[/red]"
    return (
        f"Must beat {_esc(target)} (v{must.get('version')}): eval {metric} "
        f"{metrics.get('must_beat.candidate', float('nan')):.4g} vs "
        f"{metrics.get('must_beat.champion', float('nan')):.4g} "
        f"(improvement {metrics.get('must_beat.improvement', float('nan')):+.4g}, margin "
        f"{float(must.get('margin') or 0):g}): {verdict}"
    )
