"""``shipyard.cli.predict`` provides ``shipyard predict``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def predict(
    ref: Annotated[
        str,
        typer.Argument(
            metavar="RUN_OR_BUNDLE",
            help="A run id (its bundle is used), a bundle id, 'latest', or a bundle folder.",
        ),
    ],
    input_file: Annotated[
        Path, typer.Option("--input", "-i", help="Rows to predict: CSV, Parquet or JSON lines.")
    ],
    output: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional on 3.11
        typer.Option(
            "--output", "-o",
            help="Where to write predictions (.parquet, .csv or .jsonl); without it, the "
            "first rows are printed.",
        ),
    ] = None,
    keep: Annotated[
        list[str],
        typer.Option("--keep", "-k", help="Input column to copy next to the predictions (repeatable)."),
    ] = [],  # noqa: B006 - typer reads the default
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="Rows read and predicted at a time.")
    ] = 100_000,
    trust: Annotated[
        bool, typer.Option("--trust", help="Load types outside the trusted list (only bundles you trust).")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Predict raw rows with a model bundle, through the same preprocessing it was trained with.

    The file is read in chunks, so it may be larger than memory. Unseen
    categories are counted and extra columns ignored and reported. The input is
    validated against the bundle's schema and compared with its training
    statistics; with --output, those checks are written next to it
    (OUTPUT.report.json).
    """
    import json

    from shipyard.cli.render import (
        anomalies_table,
        console,
        err_console,
        print_json,
        table_of,
    )
    from shipyard.cli.state import state
    from shipyard.client import load_bundle
    from shipyard.data.reports import write_report
    from shipyard.ml.predict import predict_file

    predictor = load_bundle(ref, trust=trust, project=state.project)
    summary = predict_file(predictor, input_file, output, keep=keep, chunk_rows=chunk_size)
    if json_out:
        print_json(
            {
                "rows": summary.rows,
                "output": str(output) if output else None,
                "extra_columns": summary.extra_columns,
                "unseen_categories": summary.unseen,
                "validation": summary.validation,
                "drift": summary.drift,
            }
        )
        return
    if output is None and summary.head is not None:
        console.print(table_of(summary.head))
    if output is not None:
        console.print(f"Wrote {summary.rows} prediction(s) to {output}")
        if summary.validation is not None or summary.drift is not None:
            # The input's checks are kept next to the predictions they describe.
            report = output.with_name(output.name + ".report.json")
            write_report(json.dumps({"validation": summary.validation, "drift": summary.drift}, indent=2, default=str), report)
            console.print(f"Input checks (schema, drift from training) in {report}")
    if summary.extra_columns:
        err_console.print(f"Ignored column(s) the model does not use: {', '.join(summary.extra_columns)}")
    for column, count in summary.unseen.items():
        err_console.print(
            f"Column {column!r}: {count} value(s) not seen in training (treated as 'other')"
        )
    if summary.validation is not None and summary.validation["anomalies"]:
        err_console.print(anomalies_table(summary.validation))
    if summary.drift is not None and summary.drift["drifted"]:
        err_console.print(
            f"Drift from training: {', '.join(summary.drift['drifted'])} "
            f"({summary.drift['drifted_share']:.0%} of {summary.drift['compared']} features)"
        )
