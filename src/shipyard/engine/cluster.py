"""``shipyard.engine.cluster`` provides connecting to a Dask cluster (the ``dask`` extra).

One place decides what an address means, so the orchestrator, the
data-parallel statistics and batch scoring, and hyperparameter search all
accept the same values:

* ``tcp://HOST:PORT`` (or ``HOST:PORT``): an existing scheduler;
* ``local``: a ``LocalCluster`` of worker *processes* on this machine, started
  for the duration of the ``with`` block and closed after it.

It also decides whether the workers can reach an artifact store that is a
folder: :func:`check_store_for_cluster` refuses, before anything connects, a
folder on this machine's own disks with a scheduler elsewhere, and
:func:`workers_missing_folder` asks the connected workers whether they see a
folder the client just created.

``distributed`` is imported inside the functions: without the extra, nothing
here costs an import, and using it raises a :class:`ShipyardError` naming the
extra to install.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from distributed import Client

    from shipyard.stores.artifacts import ArtifactStore

LOCAL = "local"
ENV_ADDRESS = "SHIPYARD_DASK_ADDRESS"
INSTALL_HINT = "Install the extra: pip install 'shipyard[dask]'"
CONNECT_TIMEOUT = 20.0

#: File systems that other machines can mount too (Linux ``/proc`` names and
#: macOS ``mount`` names). FUSE mounts (sshfs, s3fs, gcsfuse...) count as well,
#: except the few below that only ever show local data.
_SHARED_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "afs", "ncpfs", "lustre", "gpfs", "beegfs",
    "ceph", "cephfs", "glusterfs", "ocfs2", "gfs2", "9p", "webdav", "davfs", "panfs", "pvfs2",
    "wekafs", "quobyte", "orangefs",
})
_LOCAL_FUSE = frozenset({"fuse.fuse-overlayfs", "fuse.lxcfs", "fuse.portal", "fuse.gvfsd-fuse"})


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
def _quiet_logs(quiet: bool) -> Iterator[None]:
    """Keep distributed's log lines below errors off the terminal while the block runs."""
    if not quiet:
        yield
        return
    import logging

    logger = logging.getLogger("distributed")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


@contextmanager
def connect(address: str, *, n_workers: int | None = None, threads_per_worker: int = 1,
            memory_limit: str | None = None, quiet: bool = False) -> Iterator[Client]:
    """A Dask client for ``address``, closed (with its local cluster) on exit.

    Args:
        address: ``tcp://HOST:PORT`` of a running scheduler, or ``local``.
        n_workers: worker processes of a local cluster (default: the CPU count, at most 4).
        threads_per_worker: threads per local worker (default 1: steps are CPU bound).
        memory_limit: per-worker memory limit of a local cluster (Dask's syntax, e.g. ``"2GiB"``).
        quiet: keep Dask's informational and warning log lines (a worker
            restarting, a slow event loop) off the terminal, so a live progress
            display stays readable; errors still show. Failures reach the
            caller through the futures anyway.

    Raises:
        ShipyardError: when the extra is missing or the scheduler cannot be reached.
    """
    import logging

    distributed = _distributed()
    normalized = normalize_address(address)
    if normalized == LOCAL:
        workers = n_workers or max(1, min(4, os.cpu_count() or 1))
        with _quiet_logs(quiet):
            cluster = distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=threads_per_worker,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                memory_limit=memory_limit or "auto",
                silence_logs=logging.ERROR if quiet else logging.WARNING,
                # No dashboard; its HTTP server (health checks) on any free port.
                scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
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
    with _quiet_logs(quiet):
        try:
            client = distributed.Client(normalized, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise ShipyardError(
                f"Cannot reach the Dask scheduler at {normalized}: {exc}.",
                hint="Start it with `dask scheduler` and workers with `dask worker ADDRESS`, "
                "or use --address local.",
            ) from exc
        try:
            yield client
        finally:
            client.close()


# -- can the workers reach the artifact store? ------------------------------------------


def _proc_mounts() -> list[tuple[str, str]]:
    """(mount point, file system type) of every mount, from Linux's mount table."""
    import re

    mounts: list[tuple[str, str]] = []
    with open("/proc/self/mounts", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            fields = line.split()
            if len(fields) >= 3:
                # Spaces and tabs in mount points are written as octal escapes.
                point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[1])
                mounts.append((point, fields[2]))
    return mounts


def _bsd_mounts() -> list[tuple[str, str]]:
    """(mount point, file system type) from ``mount`` (macOS: ``dev on /point (type, ...)``)."""
    import shutil
    import subprocess

    mount = shutil.which("mount") or "/sbin/mount"
    text = subprocess.run([mount], capture_output=True, text=True, timeout=5, check=False).stdout
    mounts: list[tuple[str, str]] = []
    for line in text.splitlines():
        head, sep, options = line.rpartition(" (")
        _, on, point = head.partition(" on ")
        if sep and on:
            mounts.append((point, options.split(",")[0].strip(" )")))
    return mounts


def filesystem_type(path: str | Path) -> str | None:
    """The type of the file system holding ``path`` (``ext4``, ``nfs4``...), or None if unknown."""
    import subprocess

    real = os.path.realpath(path)
    try:
        mounts = _proc_mounts() if os.path.exists("/proc/self/mounts") else _bsd_mounts()
    except (OSError, subprocess.SubprocessError):
        return None
    best: tuple[int, str] | None = None
    for point, kind in mounts:
        inside = real == point or real.startswith(point.rstrip(os.sep) + os.sep)
        if inside and (best is None or len(point) > best[0]):
            best = (len(point), kind)
    return best[1] if best else None


def is_shared_folder(path: str | Path) -> bool:
    """True when ``path`` is on a file system other machines can mount (NFS, SMB, Lustre, FUSE...)."""
    kind = (filesystem_type(path) or "").lower()
    if kind.startswith("fuse.") or kind == "fuse":
        return kind not in _LOCAL_FUSE
    return kind in _SHARED_FILESYSTEMS


def check_store_for_cluster(store: ArtifactStore, address: str) -> None:
    """Refuse an artifact store the cluster's workers could not read and write.

    Runs before connecting. A store in this process's memory never works on
    a cluster (even a local one runs worker processes); a folder works with a
    local cluster, or on a file system other machines mount (NFS, SMB, a
    FUSE mount) when the scheduler is elsewhere. Object storage always passes.

    Raises:
        ShipyardError: naming the store, the address and what to use instead.
    """
    protocols = store.fs.protocol if isinstance(store.fs.protocol, tuple) else (store.fs.protocol,)
    if "memory" in protocols:
        raise ShipyardError(
            f"The artifact store {store.url!r} lives in this process's memory; Dask workers "
            "are other processes and cannot see it.",
            hint="Use a folder (with --address local) or object storage (s3://, gs://...) "
            "set with SHIPYARD_ARTIFACTS.",
        )
    if not store.is_local or is_local_address(address) or is_shared_folder(store.root):
        return
    raise ShipyardError(
        f"The artifact store {store.root} is a folder on this machine, but the Dask scheduler "
        f"at {normalize_address(address)} is on another one: its workers could not read the "
        "steps' inputs or write their outputs there.",
        hint="Set SHIPYARD_ARTIFACTS to object storage (s3://bucket/prefix, gs://...) or to a "
        "shared folder (NFS, SMB) that every worker mounts at the same path; or run on this "
        "machine with --address local.",
    )


def _host_tag() -> str:
    import socket

    # The artifact store's staging names use the host name with '-' replaced.
    return socket.gethostname().replace("-", "_")


@contextmanager
def folder_marker(root: str | Path) -> Iterator[str]:
    """A new, uniquely named folder in the store's staging area for the ``with`` block.

    Workers that see it see the same folder as the client. It is named like
    a staging folder (pid and host first), so a client killed before removing
    it leaves something the next run on this host cleans up.
    """
    import uuid

    marker = Path(root, ".tmp", f"{os.getpid()}-{_host_tag()}-probe{uuid.uuid4().hex}")
    marker.mkdir(parents=True)
    try:
        yield str(marker)
    finally:
        with suppress(OSError):
            marker.rmdir()


def workers_missing_folder(client: Client, folder: str) -> list[str]:
    """Addresses of the connected workers that do not see ``folder`` (a folder the client made).

    Raises:
        ShipyardError: when the workers cannot be asked.
    """
    try:
        seen = client.run(os.path.isdir, folder)
    except Exception as exc:  # a worker failing to answer is as bad as not seeing it
        raise ShipyardError(f"Could not ask the Dask workers about {folder}: {exc}.") from exc
    return sorted(worker for worker, ok in seen.items() if not ok)


@contextmanager
def shared_store_marker(client: Client, store: ArtifactStore, address: str | None) -> Iterator[str | None]:
    """Check that every connected worker sees a folder artifact store; yield the marker folder.

    For a folder store on a cluster this process did not start (``address``
    other than ``local``), a marker folder is made in the store for the
    ``with`` block and every worker must see it. Object storage, and a local
    cluster of this machine, need no check (None is yielded).

    Raises:
        ShipyardError: naming the workers that do not see the folder.
    """
    if not store.is_local or (address is not None and normalize_address(address) == LOCAL):
        yield None
        return
    with folder_marker(store.root) as marker:
        blind = workers_missing_folder(client, marker)
        if blind:
            raise ShipyardError(
                f"The artifact store {store.root} is not shared with the Dask worker"
                f"{'s' if len(blind) > 1 else ''} {', '.join(blind)}: a folder created in it "
                "here is not there.",
                hint="Mount the folder at the same path on every worker, or set "
                "SHIPYARD_ARTIFACTS to object storage (s3://bucket/prefix, gs://...).",
            )
        yield marker


__all__ = [
    "ENV_ADDRESS",
    "LOCAL",
    "check_store_for_cluster",
    "connect",
    "filesystem_type",
    "folder_marker",
    "is_local_address",
    "is_shared_folder",
    "normalize_address",
    "shared_store_marker",
    "workers_missing_folder",
]
