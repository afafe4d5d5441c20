"""``shipyard.cli.app`` provides the ``shipyard`` command and its global options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from shipyard import __version__
from shipyard.cli import artifacts, data, predict, project, report, run, runs, serve
from shipyard.cli import models as models_cli
from shipyard.cli import reproduce as reproduce_cli
from shipyard.cli import stack as stack_cli
from shipyard.cli import ui as ui_cli
from shipyard.cli.state import state

app = typer.Typer(
    name="shipyard",
    help=(
        "Shipyard: versioned, cached, validated ML pipelines.\n\n"
        "Start with [bold]shipyard init[/bold], run a pipeline with "
        "[bold]shipyard run file.py:pipeline[/bold], then look at what happened with "
        "[bold]shipyard runs list[/bold] and [bold]shipyard runs show latest[/bold]."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"shipyard {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show tracebacks of errors.")
    ] = False,
    project_dir: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional on 3.11
        typer.Option(
            "--project",
            help="Project folder holding .shipyard/ (default: the current folder or a parent).",
            envvar="SHIPYARD_PROJECT",
        ),
    ] = None,
    stack_name: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional on 3.11
        typer.Option(
            "--stack",
            help="The stack (stores + orchestrator) to use, by name; default: SHIPYARD_STACK, "
            "else the active one (shipyard stack use), else 'default'.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True),
    ] = False,
) -> None:
    """Global options."""
    state.verbose = verbose
    state.project = project_dir
    state.stack = stack_name
    if stack_name:
        import os

        # Every Client of this command (and its server workers) uses it.
        os.environ["SHIPYARD_STACK"] = stack_name


app.command("init")(project.init)
app.command("run")(run.run)
app.command("reproduce")(reproduce_cli.reproduce)
app.command("predict")(predict.predict)
app.command("report")(report.report)
app.command("serve")(serve.serve)
app.command("monitor")(serve.monitor)
app.command("export-onnx")(serve.export_onnx)
app.command("ui")(ui_cli.ui)
app.add_typer(runs.app, name="runs")
app.add_typer(stack_cli.app, name="stack")
app.add_typer(artifacts.app, name="artifacts")
app.add_typer(data.app, name="data")
app.add_typer(models_cli.app, name="models")
