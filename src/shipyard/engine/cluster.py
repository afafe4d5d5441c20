"""``shipyard.engine.cluster`` provides connecting to a Dask cluster (the ``dask`` extra).

One place decides what an address means, so the orchestrator, the
data-parallel statistics and batch scoring, and hyperparameter search all
accept the same values:

* ``tcp://HOST:PORT`` (or ``HOST:PORT``): an existing scheduler;
* ``local``: a ``LocalCluster`` of worker *processes* on this machine, started
  for the duration of the ``with`` block and closed after it.

``distributed`` is imported inside the functions: without the extra, nothing
here costs an import, and using it raises a :class:`ShipyardError` naming the
extra to install.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from distributed import Client

LOCAL = "local"
ENV_ADDRESS = "SHIPYARD_DASK_ADDRESS"
INSTALL_HINT = "Install the extra: pip install 'shipyard[dask]'"
CONNECT_TIMEOUT = 20.0


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ShipyardError("Running on Dask needs the distributed package.", hint=INSTALL_HINT) from exc
    return distributed


def normalize_address(address: str) -> str:
    """``local`` or a ``tcp://HOST:PORT`` address.

    Raises:
        ShipyardError: when the text is neither.
    """
    text = address.strip()
    if text == LOCAL:
        return LOCAL
    if "://" not in text:
        text = f"tcp://{text}"
    scheme, _, rest = text.partition("://")
    host, _, port = rest.rpartition(":")
    if scheme not in ("tcp", "tls", "ws", "wss", "inproc") or not host or not port.isdigit():
        raise ShipyardError(
            f"{address!r} is not a Dask scheduler address.",
            hint="Give tcp://HOST:PORT (as printed by `dask scheduler`) or 'local'.",
        )
    return text


def is_local_address(address: str) -> bool:
    """True when the scheduler runs on this machine (``local``, loopback or this host's name)."""
    normalized = normalize_address(address)
    if normalized == LOCAL:
        return True
    host = normalized.partition("://")[2].rpartition(":")[0].strip("[]")
    import socket

    return host in ("127.0.0.1", "localhost", "::1", "0.0.0.0", socket.gethostname())


@contextmanager
def connect(address: str, *, n_workers: int | None = None, threads_per_worker: int = 1,
            memory_limit: str | None = None) -> Iterator[Client]:
    """A Dask client for ``address``, closed (with its local cluster) on exit.

    Args:
        address: ``tcp://HOST:PORT`` of a running scheduler, or ``local``.
        n_workers: worker processes of a local cluster (default: the CPU count, at most 4).
        threads_per_worker: threads per local worker (default 1: steps are CPU bound).
        memory_limit: per-worker memory limit of a local cluster (Dask's syntax, e.g. ``"2GiB"``).

    Raises:
        ShipyardError: when the extra is missing or the scheduler cannot be reached.
    """
    distributed = _distributed()
    normalized = normalize_address(address)
    if normalized == LOCAL:
        workers = n_workers or max(1, min(4, os.cpu_count() or 1))
        cluster = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit=memory_limit or "auto",
        )
        try:
            client = distributed.Client(cluster, timeout=CONNECT_TIMEOUT)
            try:
                yield client
            finally:
                client.close()
        finally:
            cluster.close()
        return
    try:
        client = distributed.Client(normalized, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise ShipyardError(
            f"Cannot reach the Dask scheduler at {normalized}: {exc}.",
            hint="Start it with `dask scheduler` and workers with `dask worker ADDRESS`, or use --address local.",
        ) from exc
    try:
        yield client
    finally:
        client.close()


__all__ = ["ENV_ADDRESS", "LOCAL", "connect", "is_local_address", "normalize_address"]
