"""``shipyard.cli.ui`` provides ``shipyard ui``: the read-only web dashboard."""

from __future__ import annotations

from typing import Annotated, Optional

import typer


def ui(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (default 127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")] = 8080,
    token: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional on 3.11
        typer.Option(
            "--token",
            envvar="SHIPYARD_UI_TOKEN",
            help="A secret every request must carry: 'Authorization: Bearer TOKEN', or open "
            "http://HOST:PORT/?token=TOKEN once (a cookie keeps it).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve a read-only dashboard of this project's runs, pipeline graphs, artifacts, datasets and data reports.

    Open the printed address in a browser. Nothing in the dashboard changes the
    stores; it works offline. Ctrl-C stops it.
    """
    from shipyard.cli.render import console, err_console
    from shipyard.cli.state import state
    from shipyard.ui.server import LOOPBACK, check_port, open_client, serve

    token = token or None
    if host not in LOOPBACK:
        err_console.print(
            f"[yellow]Warning: listening on {host}: anyone who can reach this machine can read the runs, "
            "artifacts and data"
            + (" (with the token)." if token else "; add --token to require a secret.")
            + "[/yellow]"
        )
    open_client(state.project).close()  # a missing project or store is a clear error before serving
    check_port(host, port)
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    address = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"
    console.print(f"Shipyard dashboard on [bold]{address}[/bold] (read-only; Ctrl-C stops it)")
    if token:
        console.print(f"With the token: {address}?token=…  (or the header Authorization: Bearer …)")
    serve(state.project, host=host, port=port, token=token)
