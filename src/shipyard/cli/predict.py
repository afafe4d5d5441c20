"""``shipyard.cli.predict`` provides ``shipyard predict``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from shipyard.engine.cluster import ENV_ADDRESS


def predict(
    ref: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional on 3.11
        typer.Argument(
            metavar="RUN_OR_BUNDLE",
            help="A run id (its bundle is used), a bundle id, 'latest', or a bundle folder "
            "(or give --model).",
            show_default=False,
        ),
    ] = None,
    input_file: Annotated[
        str,
        typer.Option(
            "--input", "-i",
            help="Rows to predict: a CSV, Parquet or JSON-lines file; a glob or folder of them "
            "(scored part by part); or a dataset version NAME@VERSION.",
        ),
    ] = ...,  # type: ignore[assignment] - required (typer reads Ellipsis so)
    output: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional on 3.11
        typer.Option(
            "--output", "-o",
            help="Where to write predictions: a .parquet, .csv or .jsonl file (several input "
            "parts: joined in input order), or a folder (no extension: one Parquet file per "
            "input part); without it, the first rows are printed.",
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
    address: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional on 3.11
        typer.Option(
            "--address",
            envvar=ENV_ADDRESS,
            help="Score several input parts in parallel on a Dask cluster: tcp://HOST:PORT, or "
            "'local' for worker processes on this machine. Default: in this process.",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
    model: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional on 3.11
        typer.Option(
            "--model",
            help="A registered model version instead of RUN_OR_BUNDLE: NAME@3, NAME@production, "
            "NAME@staging, NAME@ALIAS, or NAME (its production version).",
        ),
    ] = None,
) -> None:
    """Predict raw rows with a model bundle, through the same preprocessing it was trained with.

    The input is read in chunks, so it may be larger than memory. Several
    input files (a glob, a folder, a partitioned dataset) are scored one part
    at a time, or in parallel on a Dask cluster with --address. Unseen
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

    ref = _bundle_ref(ref, model)
    predictor = load_bundle(ref, trust=trust, project=state.project)
    parts = _input_parts(input_file)
    folder_output = output is not None and (output.is_dir() or not output.suffix)
    if len(parts) == 1 and not folder_output:
        summary = predict_file(predictor, parts[0], output, keep=keep, chunk_rows=chunk_size)
    else:
        from shipyard.ml.parallel_predict import predict_parts

        summary = predict_parts(
            predictor, parts, output, bundle_folder=_bundle_folder(ref) if address else None,
            trust=trust, keep=keep, chunk_rows=chunk_size, address=address or None,
            progress=None if json_out else (lambda m: err_console.print(f"[dim]{m}…[/dim]")),
        )
    report = None
    if output is not None and (summary.validation is not None or summary.drift is not None):
        # The input's checks are kept next to the predictions they describe.
        report = output.with_name(output.name + ".report.json")
        write_report(json.dumps({"validation": summary.validation, "drift": summary.drift}, indent=2, default=str), report)
    if json_out:
        print_json(
            {
                "rows": summary.rows,
                "output": str(output) if output else None,
                "report": str(report) if report is not None else None,
                "parts": len(parts),
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
        where = f"{output}/ ({len(parts)} part{'s' if len(parts) != 1 else ''})" if folder_output else str(output)
        console.print(f"Wrote {summary.rows} prediction(s) to {where}")
        if report is not None:
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


def _bundle_ref(ref: str | None, model: str | None) -> str:
    """The bundle to use: RUN_OR_BUNDLE, or --model as ``NAME@REF`` (a bare NAME: its production version)."""
    from shipyard.errors import ShipyardError

    if (ref is None) == (model is None):
        raise ShipyardError(
            "Give the bundle to predict with: RUN_OR_BUNDLE, or --model NAME@VERSION (not both)."
        )
    if model is None:
        assert ref is not None
        return ref
    from shipyard.registry.refs import parse_model_ref

    return str(parse_model_ref(model))


def _input_parts(text: str) -> list[Path | str]:
    """The input's files: one file, the files of a glob or folder, or a dataset version's parts.

    A path that does not exist (and is no glob) is passed on as it is, for the
    usual "does not exist" error.
    """
    from shipyard.data.refs import is_dataset_ref
    from shipyard.data.sources import is_url

    path = Path(text)
    if path.is_file():
        return [path]
    if is_dataset_ref(text) and not path.exists():
        from shipyard.cli.state import client as make_client

        with make_client() as client:
            return list(client.datasets.files(client.datasets.resolve(text)))
    if path.is_dir() or is_url(text) or any(ch in text for ch in "*?["):
        from shipyard.data.parallel import partition_files

        return list(partition_files(text, Path.cwd()))
    return [path]


def _bundle_folder(ref: str) -> Path:
    """The folder the bundle is read from: a bundle folder as given, or its artifact's folder."""
    from shipyard.cli.state import client as make_client

    if Path(ref).is_dir() and (Path(ref) / "bundle.json").exists():
        return Path(ref).resolve()
    with make_client() as client:
        return client.artifact_store.local_path(client.find_bundle(ref).id)
