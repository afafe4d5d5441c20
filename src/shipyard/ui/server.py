"""``shipyard.ui.server`` provides running the dashboard with uvicorn."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from shipyard.errors import ShipyardError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def open_client(project: str | Path | None = None):  # type: ignore[no-untyped-def]
    """A read-only client on the project's stack (its store opened now, so errors show early)."""
    from shipyard.ui.store import ReadOnlyClient

    client = ReadOnlyClient(project)
    client.metadata_store  # noqa: B018 - open it now: a wrong URL is an error before serving
    return client


def check_port(host: str, port: int) -> None:
    """Refuse a port another program holds, with a clear message.

    Raises:
        ShipyardError: when the address is in use or cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ShipyardError(f"Port {port} on {host} is in use; pick another with --port.") from exc
            raise ShipyardError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.") from exc


def serve(project: str | Path | None, *, host: str, port: int, token: str | None = None) -> None:
    """Serve the dashboard until interrupted."""
    import uvicorn

    from shipyard.ui.app import build_app

    client = open_client(project)
    check_port(host, port)
    app = build_app(client, token=token)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        client.close()


__all__ = ["LOOPBACK", "check_port", "open_client", "serve"]
