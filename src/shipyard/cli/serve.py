"""``shipyard.cli.serve`` provides ``shipyard serve`` and ``shipyard monitor``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def serve(
    ref: Annotated[
        str,
        typer.Argument(
            metavar="RUN_OR_BUNDLE",
            help="A run id (its bundle), a bundle id, 'latest', or MODEL@STAGE from the registry.",
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
    ref: Annotated[str, typer.Argument(metavar="RUN_OR_BUNDLE", help="The served bundle (run id, bundle id, latest).")],
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
