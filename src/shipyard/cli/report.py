"""``shipyard.cli.report`` provides ``shipyard report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def report(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help="Run id, unique prefix, or 'latest'.")],
    output: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional on 3.11
        typer.Option("--output", "-o", help="Where to write it (default: shipyard-report-RUN.html)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="html or json.")] = "html",
) -> None:
    """Write a run's data report: statistics of each split, validation anomalies, train-vs-eval/test drift.

    The HTML file is self-contained (no network needed to open it).
    """
    from shipyard.cli.render import console, print_json
    from shipyard.cli.state import client as make_client
    from shipyard.data.reports import run_report_html, write_report
    from shipyard.data.statistics import Statistics
    from shipyard.errors import ShipyardError

    with make_client() as client:
        run = client.get_run(run_ref)
        done = {s.step: s for s in client.step_runs(run) if s.status in ("completed", "cached")}
        if "statistics" not in done:
            raise ShipyardError(
                f"Run {run.id} has no data statistics (a YAML pipeline run records them in its "
                "statistics step)."
            )
        stats_json = client.load_artifact(done["statistics"].outputs["output"])
        validation = client.load_artifact(done["validate"].outputs["output"]) if "validate" in done else None
        skew = client.load_artifact(done["skew"].outputs["output"]) if "skew" in done else None
    if fmt == "json":
        print_json({"run_id": run.id, "statistics": stats_json, "validation": validation, "skew": skew})
        return
    if fmt != "html":
        raise ShipyardError(f"--format {fmt!r} is not one of html, json.")
    tables = {name: Statistics.from_json(data) for name, data in stats_json.items()}
    drift = [
        (f"Skew: train → {split}", skew[split], tables["train"], tables[split])
        for split in ("eval", "test") if skew and split in skew
    ]
    html = run_report_html(
        title=f"Run {run.id} of {run.pipeline}", statistics=tables, validation=validation, drift=drift
    )
    target = output or Path(f"shipyard-report-{run.id[:8]}.html")
    written = write_report(html, target)
    console.print(f"Wrote {written}")
