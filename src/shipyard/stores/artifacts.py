"""``shipyard.stores.artifacts`` provides the content-addressed artifact store.

An artifact is a folder of files written by a materializer. Its id is the
sha256 of a manifest that lists every file with its own sha256, so the same
bytes always get the same id and are stored once. The folder becomes visible
only when it is complete:

* on a local filesystem the materializer writes into a staging folder inside
  the store (``.tmp/``) and the finished folder is renamed into place, which is
  atomic;
* on object storage the files are uploaded first and the manifest last; an
  artifact without its manifest does not exist for readers.

Object storage settings: ``options`` are fsspec storage options (e.g.
``endpoint_url`` for an S3-compatible server); for ``s3://`` URLs without one,
``SHIPYARD_S3_ENDPOINT_URL`` names the endpoint. Credentials come from the
environment or fsspec's configuration; a ``${VAR}`` in the URL or an option
value is replaced by the environment variable's value when the store opens.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.errors import ArtifactNotFound, StoreError
from shipyard.stores.process import process_alive
from shipyard.stores.secrets import expand

MANIFEST = ".manifest.json"
_STAGING = ".tmp"
_HOST = socket.gethostname().replace("-", "_")
_LOCAL_PROTOCOLS = {"file", "local"}
_S3_PROTOCOLS = {"s3", "s3a"}
_BUCKET_PROTOCOLS = {*_S3_PROTOCOLS, "gs", "gcs", "az", "abfs", "abfss"}
#: Endpoint of an S3-compatible server (MinIO, Ceph, ...) for ``s3://`` artifact stores.
ENV_S3_ENDPOINT = "SHIPYARD_S3_ENDPOINT_URL"


@dataclass(frozen=True)
class StoredArtifact:
    """Where a committed artifact lives.

    Args:
        id: sha256 of the artifact's manifest (its content hash).
        uri: full URI of the artifact folder.
        size: total bytes of its files.
        files: number of files.
    """

    id: str
    uri: str
    size: int
    files: int


def _file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def build_manifest(folder: Path, kind: str = "") -> tuple[str, dict[str, Any]]:
    """Hash every file under ``folder`` and return ``(artifact_id, manifest)``.

    The id is the sha256 of the line ``"format\\0<kind>\\n"`` (the materializer
    tag, e.g. ``parquet/1``) followed by lines ``"<relative path>\\0<sha256 of
    file>\\n"`` sorted by path: the same bytes written by the same materializer
    always get the same id, and the same bytes read back by another
    materializer never share it.
    """
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel == MANIFEST:
            continue
        entries.append({"path": rel, "size": path.stat().st_size, "sha256": _file_sha256(path)})
    digest = hashlib.sha256(f"format\0{kind}\n".encode())
    for entry in entries:
        digest.update(f"{entry['path']}\0{entry['sha256']}\n".encode())
    return digest.hexdigest(), {"format": 1, "kind": kind, "files": entries}


class ArtifactStore:
    """A content-addressed store of artifact folders on any fsspec filesystem.

    Args:
        url: an fsspec URL or a local path, e.g. ``file:///data/artifacts`` or
            ``s3://bucket/prefix``.
        cache_dir: where artifacts from a remote store are downloaded to be read.
        options: fsspec storage options of the filesystem (``endpoint_url``,
            ``profile``, ...); values may refer to environment variables (``${VAR}``).

    Raises:
        StoreError: when the URL's filesystem is unknown or its package is missing,
            or its bucket cannot be reached.
    """

    def __init__(
        self, url: str, *, cache_dir: Path | None = None, options: Mapping[str, Any] | None = None
    ) -> None:
        import fsspec

        self.url = url
        self.options = dict(options or {})
        target = expand(url, what=f"The artifact store URL {url!r}")
        try:
            storage = _storage_options(target, self.options)
            self.fs, root = fsspec.core.url_to_fs(target, **storage)
        except TypeError as exc:
            raise StoreError(
                f"The artifact store {url!r} does not take the options {sorted(self.options)}: {exc}."
            ) from exc
        except ImportError as exc:
            raise StoreError(
                f"Artifact store {url!r} needs a package that is not installed: {exc}.",
                hint="Install fsspec's package for this filesystem (s3fs for s3://, gcsfs "
                "for gs://, adlfs for az://); pip install 'shipyard[s3]' installs s3fs.",
            ) from exc
        except ValueError as exc:
            raise StoreError(f"Artifact store URL {url!r} is not valid: {exc}.") from exc
        protocol = self.fs.protocol
        protocols = {protocol} if isinstance(protocol, str) else set(protocol)
        self.is_local = bool(protocols & _LOCAL_PROTOCOLS)
        self.root = root.rstrip("/") or "/"
        self._cache_dir = cache_dir
        if self.is_local:
            try:
                Path(self.root, _STAGING).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"Cannot create the artifact store folder {self.root!r}: {exc.strerror}."
                ) from exc
        elif protocols & _BUCKET_PROTOCOLS:
            self._check_bucket(protocols)

    def _check_bucket(self, protocols: set[str]) -> None:
        """Fail now, with a clear message, when the bucket cannot be reached."""
        bucket = self.root.strip("/").split("/", 1)[0]
        if not bucket:
            raise StoreError(f"The artifact store URL {self.url!r} names no bucket.")
        hint = "Create the bucket, or check the credentials in the environment"
        if protocols & _S3_PROTOCOLS:
            hint += f" and the endpoint ({ENV_S3_ENDPOINT} or the stack's artifacts.endpoint_url option)"
        try:
            self.fs.info(bucket)
        except FileNotFoundError as exc:
            raise StoreError(
                f"The bucket {bucket!r} of the artifact store {self.url!r} does not exist "
                "(or these credentials cannot see it).",
                hint=hint + ".",
            ) from exc
        except Exception as exc:  # the filesystem's own errors (network, credentials)
            raise StoreError(
                f"Cannot reach the bucket {bucket!r} of the artifact store {self.url!r}: "
                f"{type(exc).__name__}: {exc}.",
                hint=hint + ".",
            ) from exc

    # -- locations -------------------------------------------------------

    def _key_path(self, artifact_id: str) -> str:
        return f"{self.root}/{artifact_id[:2]}/{artifact_id}"

    def uri(self, artifact_id: str) -> str:
        """The URI of an artifact's folder (it need not exist)."""
        path = self._key_path(artifact_id)
        return f"file://{path}" if self.is_local else self.fs.unstrip_protocol(path)

    def exists(self, artifact_id: str) -> bool:
        """True when the artifact is fully written (its manifest is present)."""
        manifest = f"{self._key_path(artifact_id)}/{MANIFEST}"
        if self.is_local:
            return os.path.exists(manifest)
        # Another process may have written it since this one listed the folder.
        self.fs.invalidate_cache(self._key_path(artifact_id))
        return bool(self.fs.exists(manifest))

    # -- writing ---------------------------------------------------------

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """Yield an empty local folder for a materializer to write into.

        Commit it with :meth:`commit` inside the ``with`` block; whatever is
        left when the block ends is removed.
        """
        if self.is_local:
            folder = Path(self.root, _STAGING, f"{os.getpid()}-{_HOST}-{uuid.uuid4().hex}")
            folder.mkdir(parents=True)
        else:
            folder = Path(tempfile.mkdtemp(prefix="shipyard-stage-"))
        try:
            yield folder
        finally:
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)

    def commit(self, folder: Path, kind: str = "") -> StoredArtifact:
        """Move a finished staging folder into the store under its content hash.

        Args:
            folder: the staging folder, complete.
            kind: the format written (the materializer tag), part of the id.

        Storing content that is already there is a no-op (de-duplication).
        """
        artifact_id, manifest = build_manifest(folder, kind)
        size = sum(entry["size"] for entry in manifest["files"])
        stored = StoredArtifact(artifact_id, self.uri(artifact_id), size, len(manifest["files"]))
        if self.exists(artifact_id):
            shutil.rmtree(folder, ignore_errors=True)
            return stored
        manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
        if self.is_local:
            self._commit_local(folder, artifact_id, manifest_bytes)
        else:
            self._commit_remote(folder, artifact_id, manifest_bytes)
        return stored

    def _commit_local(self, folder: Path, artifact_id: str, manifest: bytes) -> None:
        (folder / MANIFEST).write_bytes(manifest)
        final = Path(self._key_path(artifact_id))
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(folder, final)
        except OSError:
            # Another writer committed the same content first: theirs is identical.
            if not self.exists(artifact_id):
                raise
            shutil.rmtree(folder, ignore_errors=True)

    def _commit_remote(self, folder: Path, artifact_id: str, manifest: bytes) -> None:
        target = self._key_path(artifact_id)
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            self.fs.put_file(str(path), f"{target}/{path.relative_to(folder).as_posix()}")
        self.fs.pipe_file(f"{target}/{MANIFEST}", manifest)
        shutil.rmtree(folder, ignore_errors=True)

    def put_bytes(self, blob: bytes, filename: str = "data.bin") -> StoredArtifact:
        """Store one file's bytes as an artifact and return where it went."""
        with self.staging() as folder:
            (folder / filename).write_bytes(blob)
            return self.commit(folder)

    # -- reading ---------------------------------------------------------

    def local_path(self, artifact_id: str) -> Path:
        """A local folder holding the artifact's files, downloading it if remote.

        Raises:
            ArtifactNotFound: when the store has no complete artifact with this id.
        """
        if not self.exists(artifact_id):
            raise ArtifactNotFound(
                f"Artifact {artifact_id[:12]} is not in the artifact store {self.url!r}; "
                "it may have been deleted or written to another store."
            )
        if self.is_local:
            return Path(self._key_path(artifact_id))
        cache = self._cache_dir or Path(tempfile.gettempdir(), "shipyard-artifact-cache")
        final = cache / artifact_id
        if (final / MANIFEST).exists():
            return final
        partial = cache / f".{artifact_id}.{os.getpid()}.{uuid.uuid4().hex}"
        partial.mkdir(parents=True)
        self.fs.get(self._key_path(artifact_id) + "/", str(partial), recursive=True)
        try:
            os.rename(partial, final)
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)
        return final

    def manifest(self, artifact_id: str) -> dict[str, Any]:
        """The manifest of a stored artifact (file names, sizes, hashes)."""
        raw = self.fs.cat_file(f"{self._key_path(artifact_id)}/{MANIFEST}")
        return json.loads(raw)

    # -- plain files (logs) ----------------------------------------------

    def write_file(self, relative: str, data: bytes) -> str:
        """Write a file under the store's root, atomically: readers see all of it or nothing.

        Returns:
            The file's URI.
        """
        target = f"{self.root}/{relative}"
        if self.is_local:
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(self.root, _STAGING, f"{os.getpid()}-{_HOST}-{uuid.uuid4().hex}.part")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            return f"file://{path}"
        self.fs.pipe_file(target, data)  # one object: visible whole or not at all
        return self.fs.unstrip_protocol(target)

    def list_files(self, prefix: str) -> list[str]:
        """Files under ``prefix`` (relative to the root), sorted."""
        base = f"{self.root}/{prefix}"
        if self.is_local:
            folder = Path(base)
            if not folder.exists():
                return []
            return sorted(p.relative_to(self.root).as_posix() for p in folder.rglob("*") if p.is_file())
        self.fs.invalidate_cache(base)
        if not self.fs.exists(base):
            return []
        return sorted(
            p[len(self.root) + 1 :] if p.startswith(self.root) else p
            for p in self.fs.find(base)
        )

    def read_file(self, relative: str) -> bytes:
        """A file's bytes."""
        return self.fs.cat_file(f"{self.root}/{relative}")

    # -- housekeeping ----------------------------------------------------

    def clean_staging(self, *, older_than: float = 60.0) -> int:
        """Remove staging folders left behind by processes that died.

        Returns:
            The number of folders removed.
        """
        if not self.is_local:
            return 0
        removed = 0
        staging = Path(self.root, _STAGING)
        now = time.time()
        for folder in staging.iterdir() if staging.exists() else ():
            pid_text, _, rest = folder.name.partition("-")
            host = rest.rsplit("-", 1)[0]
            # Only this host can tell whether the writer is alive.
            if not pid_text.isdigit() or host != _HOST or process_alive(int(pid_text)):
                continue
            with contextlib.suppress(OSError):
                if now - folder.stat().st_mtime >= older_than:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed += 1
        return removed


def _storage_options(url: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """fsspec storage options: ``options`` with ``${VAR}`` expanded, plus the S3 endpoint."""
    import fsspec

    out = {
        key: expand(value, what=f"The artifact store option {key!r}") if isinstance(value, str) else value
        for key, value in options.items()
    }
    protocol = fsspec.core.split_protocol(url)[0]
    endpoint = os.environ.get(ENV_S3_ENDPOINT, "").strip()
    if protocol in _S3_PROTOCOLS and endpoint and "endpoint_url" not in out:
        out["endpoint_url"] = endpoint
    return out


__all__ = ["ENV_S3_ENDPOINT", "MANIFEST", "ArtifactStore", "StoredArtifact", "build_manifest"]
