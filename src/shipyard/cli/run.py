"""``shipyard.cli.run`` provides ``shipyard run``."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from shipyard.errors import ParamsError


def _parse_params(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` items; each value is parsed by the type of the param it sets."""
    from shipyard.engine.graph import CliText

    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ParamsError(f"--param {item!r} is not KEY=VALUE (e.g. --param n=100).")
        params[key.strip()] = CliText(raw)
    return params


def _orchestrator_choice(
    orchestrator: str | None, address: str | None, workers: int | None, stack_default: str
) -> tuple[str | None, dict[str, Any]]:
    """The orchestrator asked for on the command line and its options.

    ``--address`` and ``--workers`` are Dask's: given alone, they choose the
    ``dask`` orchestrator (unless the stack already uses another one).
    """
    dask_options = {"address": address, "n_workers": workers}
    given = {k: v for k, v in dask_options.items() if v is not None}
    if not given:
        return orchestrator, {}
    chosen = orchestrator or ("dask" if stack_default == "local" else stack_default)
    if chosen == "local":
        flags = " and ".join(f for f, v in (("--address", address), ("--workers", workers)) if v is not None)
        raise ParamsError(
            f"{flags} {'are' if ' and ' in flags else 'is'} for the dask orchestrator; the local "
            "one runs every step in this process.",
            hint="Use --orchestrator dask, or leave the option out.",
        )
    return chosen, given


def run(
    target: Annotated[
        str,
        typer.Argument(
            help="The pipeline: [bold]pipeline.yaml[/bold], [bold]path/to/file.py:name[/bold] or "
            "[bold]module:name[/bold] (the name may be left out when the file defines one "
            "pipeline)."
        ),
    ],
    param: Annotated[
        list[str],
        typer.Option("--param", "-p", help="A pipeline param as KEY=VALUE (repeatable)."),
    ] = [],  # noqa: B006 - typer reads the default
    overrides: Annotated[
        list[str],
        typer.Option(
            "--set", "-s",
            help="Change a YAML pipeline's key, e.g. --set train.params.max_iter=300 (repeatable; "
            "recorded with the run).",
        ),
    ] = [],  # noqa: B006 - typer reads the default
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Execute every step, ignoring cached results.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    orchestrator: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional on 3.11
        typer.Option(
            "--orchestrator",
            help="Where the steps execute: [bold]local[/bold] (this process, one after another) "
            "or [bold]dask[/bold] (a Dask cluster: each step a task, independent steps in "
            "parallel; needs the dask extra). Default: SHIPYARD_ORCHESTRATOR, else local.",
            show_default=False,
        ),
    ] = None,
    address: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional on 3.11
        typer.Option(
            "--address",
            help="The Dask scheduler for --orchestrator dask (implied by this option): "
            "[bold]tcp://HOST:PORT[/bold] as printed by `dask scheduler`, or [bold]local[/bold] "
            "to start worker processes on this machine for the run. Default: "
            "SHIPYARD_DASK_ADDRESS, else local. A remote cluster needs an artifact store its "
            "workers reach: object storage or a shared folder.",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        Optional[int],  # noqa: UP045 - typer needs Optional on 3.11
        typer.Option(
            "--workers",
            min=1,
            help="Worker processes of a local Dask cluster (--address local); default: the "
            "CPU count, at most 4.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run a pipeline, showing each step as it runs, cached or fails.

    Steps whose code, params and inputs did not change since an earlier run are
    served from the cache. After a failure, fix the cause and run again: the
    steps that completed are reused. A YAML pipeline ends with its features,
    metrics and model bundle id.

    With [bold]--orchestrator dask[/bold] each step runs as a task on a Dask cluster
    (independent steps at the same time); this process still plans, answers
    cache hits and records the run.
    """
    from shipyard.cli.render import (
        Progress,
        console,
        print_json,
        run_summary,
        training_summary,
    )
    from shipyard.cli.state import client as make_client
    from shipyard.client import is_yaml_target
    from shipyard.engine.runner import NO_HOOKS
    from shipyard.errors import RunInterrupted, StepFailed

    params = _parse_params(param)
    with make_client(create=True) as client:
        chosen, options = _orchestrator_choice(
            orchestrator, address, workers, client.stack.orchestrator
        )
        progress = NO_HOOKS if json_out else Progress()
        try:
            result = client.run(
                target,
                params=params,
                overrides=overrides,
                cache=not no_cache,
                hooks=progress,
                orchestrator=chosen,
                orchestrator_options=options,
            )
        except KeyboardInterrupt:
            raise RunInterrupted(
                "Stopped by Ctrl-C; the run is recorded as crashed.",
                hint=f"Run `shipyard run {target}` again to resume: completed steps come "
                "from the cache.",
            ) from None
        finally:
            if isinstance(progress, Progress):
                progress.stop()
    if json_out:
        print_json(
            {
                "run_id": result.run_id,
                "pipeline": result.pipeline,
                "status": result.status,
                "duration": result.duration,
                "error": result.error,
                "error_step": result.error_step,
                "steps": {
                    name: {
                        "status": s.status,
                        "reason": s.reason,
                        "duration": s.duration,
                        "outputs": {k: v.id for k, v in s.outputs.items()},
                        "error": s.error,
                    }
                    for name, s in result.steps.items()
                },
            }
        )
    else:
        run_summary(result)
        if is_yaml_target(target):
            with make_client() as client:
                training_summary(client, result)
    if not result.ok:
        flags = " ".join([*(f"-p {p}" for p in param), *(f"--set {o}" for o in overrides)])
        raise StepFailed(
            f"step {result.error_step!r}: {result.error}",
            run_id=result.run_id,
            step=result.error_step or "?",
            traceback=result.traceback or "",
            hint=f"Fix it and run again: shipyard run {target}{' ' + flags if flags else ''} "
            f"(completed steps come from the cache). Traceback: shipyard runs show "
            f"{result.run_id}",
        )
    if not json_out:
        console.print()
