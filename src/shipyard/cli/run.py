"""``shipyard.cli.run`` provides ``shipyard run``."""

from __future__ import annotations

from typing import Annotated, Any

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
) -> None:
    """Run a pipeline, showing each step as it runs, cached or fails.

    Steps whose code, params and inputs did not change since an earlier run are
    served from the cache. After a failure, fix the cause and run again: the
    steps that completed are reused. A YAML pipeline ends with its features,
    metrics and model bundle id.
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
        progress = NO_HOOKS if json_out else Progress()
        try:
            result = client.run(
                target, params=params, overrides=overrides, cache=not no_cache, hooks=progress
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
