"""``shipyard.cli.reproduce`` provides ``shipyard reproduce``."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer


def reproduce(
    run_ref: Annotated[
        str,
        typer.Argument(
            metavar="RUN", help="The run to reproduce: id, unique prefix, 'latest' or 'latest~N'."
        ),
    ],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Run even when the code's git commit differs from the recorded one (with a warning).",
        ),
    ] = False,
    cache: Annotated[
        bool,
        typer.Option(
            "--cache/--no-cache",
            help="--cache lets unchanged steps come from the cache (fast, but those steps are not "
            "checked again). Default: --no-cache, every step executes.",
        ),
    ] = False,
    orchestrator: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional on 3.11
        typer.Option("--orchestrator", help="Where the steps execute (local or dask); default the stack's."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Re-run a run exactly: its recorded config (the YAML spec with its --set overrides, or the
    Python target and params) on its recorded data version, then compare the metrics.

    Refused when the code's git commit differs from the run's (--force runs anyway). The new
    run records which run it reproduces; see both with [bold]shipyard runs diff[/bold].
    """
    from rich.markup import escape

    from shipyard.cli.render import (
        Progress,
        console,
        err_console,
        print_json,
        run_summary,
    )
    from shipyard.cli.state import client as make_client
    from shipyard.engine.runner import NO_HOOKS
    from shipyard.errors import RunInterrupted, StepFailed
    from shipyard.reproduce import plan

    with make_client() as client:
        planned = plan(client, run_ref, force=force)
        original = planned.original
        if not json_out:
            for text in planned.warnings:
                err_console.print(f"[yellow bold]Warning:[/yellow bold] {escape(text)}")
            what = f"Reproducing run {original.id} ({escape(original.pipeline)})"
            if planned.data_artifact:
                what += f" on its data version {planned.data_artifact[:16]}"
            console.print(what + ("" if cache else ", executing every step") + ":")
        progress = NO_HOOKS if json_out else Progress()
        try:
            result = planned.run(client, cache=cache, hooks=progress, orchestrator=orchestrator)
        except KeyboardInterrupt:
            raise RunInterrupted("Stopped by Ctrl-C; the run is recorded as crashed.") from None
        finally:
            if isinstance(progress, Progress):
                progress.stop()
        found = client.diff_runs(original, result.run_id) if result.ok else None
    metrics = found["metrics"] if found else []
    differing = [row for row in metrics if not row["equal"]]
    if json_out:
        out: dict[str, Any] = {
            "run_id": result.run_id,
            "reproduces": original.id,
            "status": result.status,
            "error": result.error,
            "error_step": result.error_step,
            "warnings": planned.warnings,
            "data_artifact": planned.data_artifact,
            "cache": cache,
            "same_metrics": bool(found and found["same_metrics"]),
            "metrics_compared": len(metrics),
            "metrics_differing": differing,
        }
        print_json(out)
    else:
        run_summary(result)
        if found is not None:
            if not metrics:
                console.print("No metrics were recorded to compare.")
            elif not differing:
                console.print(
                    f"[green]Reproduced:[/green] all {len(metrics)} metrics equal those of run {original.id}."
                )
            else:
                console.print(
                    f"[yellow]{len(differing)} of {len(metrics)} metrics differ from run {original.id}[/yellow] "
                    f"(see: shipyard runs diff {original.id[:8]} {result.run_id[:8]})"
                )
    if not result.ok:
        raise StepFailed(
            f"step {result.error_step!r}: {result.error}",
            run_id=result.run_id,
            step=result.error_step or "?",
            traceback=result.traceback or "",
            hint=f"Traceback: shipyard runs show {result.run_id}",
        )
