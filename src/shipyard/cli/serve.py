"""``shipyard.cli.serve`` provides ``shipyard serve``, ``shipyard monitor`` and ``shipyard export-onnx``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def serve(
    ref: Annotated[
        str,
        typer.Argument(
            metavar="RUN_OR_BUNDLE_OR_MODEL",
            help="A run id (its bundle), a bundle id, 'latest', or a registered model: NAME@production, "
            "NAME@staging, NAME@3, NAME@ALIAS, NAME@latest, or NAME alone (its production version).",
        ),
    ],
    host: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional on 3.11
        typer.Option("--host", help="Address to bind (default 127.0.0.1: this machine only)."),
    ] = None,
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes.")] = 1,
    token_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--token-file", help="File holding a bearer token that requests must carry."),
    ] = None,
    max_records: Annotated[
        int, typer.Option("--max-records", min=1, help="Records per request above which it is refused (413).")
    ] = 1000,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not log predictions.")] = False,
    log_interval: Annotated[
        float, typer.Option("--log-interval", min=0.1, help="Seconds between writes of the prediction log.")
    ] = 5.0,
    trust: Annotated[
        bool, typer.Option("--trust", help="Load types outside the trusted list (only bundles you trust).")
    ] = False,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Print a line per request (/metrics counts them either way).")
    ] = False,
    onnx: Annotated[
        bool,
        typer.Option(
            "--onnx",
            help="Run the model with ONNX Runtime (needs the onnx extra); falls back to scikit-learn "
            "when the model cannot be converted or its answers differ.",
        ),
    ] = False,
) -> None:
    """Serve a model bundle over HTTP: POST /predict, /health, /ready, /metadata, /metrics, /drift, /docs.

    Predictions go through the bundle's own preprocessing (compiled to a fast
    path, checked against the reference path) and are logged to the artifact
    store for `shipyard monitor`. Ctrl-C stops it gracefully: requests in
    flight finish and the log is flushed.
    """
    from shipyard.cli.render import err_console
    from shipyard.cli.state import state
    from shipyard.serving.server import ServeConfig, read_token
    from shipyard.serving.server import serve as run_service

    token = read_token(token_file) if token_file is not None else None
    bind = host or "127.0.0.1"
    if host is not None and token is None and host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(f"[yellow]Serving on {host} without a token: anyone who can reach it can use it.[/yellow]")
    config = ServeConfig(
        ref=ref,
        project=str(state.project) if state.project else None,
        token=token,
        max_records=max_records,
        log=not no_log,
        log_interval=log_interval,
        trust=trust,
        onnx=onnx,
    )
    run_service(config, host=bind, port=port, workers=workers, access_log=access_log)


def _since(text: str | None) -> float | None:
    import re
    import time

    from shipyard.errors import ShipyardError

    if text is None:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if not match:
        raise ShipyardError(f"--since {text!r} is not a duration; use e.g. 30m, 1h, 2d.")
    seconds = float(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]
    return time.time() - seconds


def monitor(
    ref: Annotated[
        str,
        typer.Argument(metavar="RUN_OR_BUNDLE", help="The served bundle (run id, bundle id, latest, or NAME@REF)."),
    ],
    since: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--since", help="Only traffic newer than this: 30m, 1h, 2d (default: all)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text, json or html.")] = "text",
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--output", "-o", help="Write the report here."),
    ] = None,
    fail_on_drift: Annotated[
        bool, typer.Option("--fail-on-drift", help="Exit with code 2 when the traffic drifts.")
    ] = False,
) -> None:
    """Compare logged production traffic with the bundle's training statistics (drift tests per feature)."""
    from shipyard.cli.data import _emit
    from shipyard.cli.render import console, drift_table
    from shipyard.cli.state import client as make_client
    from shipyard.data.drift import compare
    from shipyard.data.reports import drift_html
    from shipyard.data.statistics import Statistics, compute_statistics
    from shipyard.errors import ShipyardError
    from shipyard.serving.log import read_log

    start = _since(since)
    with make_client() as client:
        record = client.find_bundle(ref)
        predictor = client.load_bundle(record.id)
        bundle = predictor.bundle
        if bundle.statistics is None:
            raise ShipyardError(f"Bundle {record.id[:12]} carries no training statistics to compare with.")
        traffic: Statistics | None = None
        rows = 0
        for chunk in read_log(client.artifact_store, record.id, since=start):
            columns = [c for c in bundle.features if c in chunk.columns]
            part = compute_statistics(chunk[columns], types=dict(bundle.features))
            traffic = part if traffic is None else traffic.merge(part)
            rows += len(chunk)
    if traffic is None:
        console.print(f"No logged traffic for bundle {record.id[:12]}{' since ' + since if since else ''}.")
        return
    reference = Statistics.from_json(bundle.statistics)
    report = compare(reference, traffic)
    data = {"bundle_id": record.id, "rows": rows, **report.to_json()}
    _emit(
        fmt, output, data=data,
        html=lambda: drift_html(report, reference, traffic, title=f"Traffic drift of {record.id[:12]}", labels=("training", "traffic")),
        text=drift_table(report.to_json()),
    )
    if fail_on_drift and report.dataset_drift:
        raise ShipyardError(f"The traffic drifts: {len(report.drifted)} of {len(report.columns)} features.")


def export_onnx(
    ref: Annotated[
        str,
        typer.Argument(
            metavar="RUN_OR_BUNDLE",
            help="A run id (its bundle), a bundle id, 'latest', or a bundle folder.",
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The ONNX file to write (e.g. model.onnx).")],
    trust: Annotated[
        bool, typer.Option("--trust", help="Load types outside the trusted list (only bundles you trust).")
    ] = False,
) -> None:
    """Write a bundle's model as an ONNX file: the model only, taking the preprocessed matrix.

    Shipyard's preprocessing transformers have no ONNX converters, so the file
    holds the model alone: its input `input` is the float32 matrix the bundle's
    preprocessing makes (Predictor.transform), and a classifier's outputs are
    `label` and `probabilities`. Before writing, the converted model is checked
    against the scikit-learn model on synthetic records. Needs the onnx extra.
    """

    from rich.markup import escape

    from shipyard.bundle.onnx import (
        OnnxModel,
        compare,
        convert_model,
        feature_names,
        input_width,
        is_classifier,
        reference_matrix,
    )
    from shipyard.cli.render import console, err_console
    from shipyard.cli.state import state
    from shipyard.client import load_bundle
    from shipyard.errors import ShipyardError

    if output.is_dir():
        raise ShipyardError(f"{output} is a folder; give the file to write, e.g. {output / 'model.onnx'}.")
    predictor = load_bundle(ref, trust=trust, project=state.project)
    bundle = predictor.bundle
    content = convert_model(bundle)
    onnx_model = OnnxModel(content, classifier=is_classifier(bundle.model))
    try:
        parity = compare(bundle.model, onnx_model, reference_matrix(bundle))
        unchecked = None
    except Exception as exc:  # synthetic records the preprocessing cannot take: still export
        parity, unchecked = None, f"{type(exc).__name__}: {exc}"
    from shipyard.stores.files import write_atomic

    try:
        write_atomic(output, content)
    except OSError as exc:
        raise ShipyardError(f"Cannot write {output}: {exc.strerror or exc}.") from exc
    width = input_width(bundle)
    model_name = type(bundle.model).__name__
    lines = [
        f"Wrote {output} ({len(content) / 1024:.0f} KiB): {model_name}" + (f" of run {bundle.run_id}" if bundle.run_id else ""),
        f"Input 'input': float32 matrix of {width} columns (the bundle's preprocessed features)",
        f"Outputs: {', '.join(repr(n) for n in onnx_model.output_names)}",
    ]
    if bundle.classes is not None:
        lines.append(f"Classes (labels are positions in this list): {bundle.classes}")
    names = feature_names(bundle.preprocessor)
    if names is not None:
        lines += ["Columns:", *(f"  {i:>4}  {name}" for i, name in enumerate(names))]
    if parity is not None and parity.problem is None:
        lines.append(f"Checked against scikit-learn on {parity.rows} synthetic records: largest difference {parity.max_diff:.2g}")
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if unchecked is not None:
        err_console.print(f"[yellow]Not checked against scikit-learn: {escape(unchecked)}[/yellow]")
    elif parity is not None and parity.problem is not None:
        err_console.print(
            f"[yellow]Written, but on synthetic records its answers differ from scikit-learn's: "
            f"{escape(parity.problem)} (shipyard serve --onnx would not use it).[/yellow]"
        )
