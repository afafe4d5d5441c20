"""The content-addressed artifact store on local folders and on an fsspec memory filesystem."""

import hashlib
import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from shipyard.errors import ArtifactNotFound, StoreError
from shipyard.stores.artifacts import MANIFEST, ArtifactStore, build_manifest


def _write(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _store_files(store: ArtifactStore, files: dict[str, bytes]):
    with store.staging() as folder:
        _write(folder, files)
        return store.commit(folder)


def _expected_id(files: dict[str, bytes], kind: str = "") -> str:
    """The documented id: sha256 of "format\\0<kind>\\n", then "<path>\\0<sha256>\\n"
    lines sorted by path."""
    digest = hashlib.sha256(f"format\0{kind}\n".encode())
    for rel in sorted(files):
        digest.update(f"{rel}\0{hashlib.sha256(files[rel]).hexdigest()}\n".encode())
    return digest.hexdigest()


def _artifact_folders(root: Path) -> list[Path]:
    return [p for p in root.glob("??/*") if p.is_dir()]


FILES = {"data.bin": b"hello", "sub/extra.txt": b"more bytes"}


# -- content addressing ------------------------------------------------------


def test_id_is_the_documented_manifest_hash(artifact_store):
    stored = _store_files(artifact_store, FILES)
    assert stored.id == _expected_id(FILES)
    assert stored.size == len(b"hello") + len(b"more bytes")
    assert stored.files == 2
    assert stored.uri == f"file://{artifact_store.root}/{stored.id[:2]}/{stored.id}"


def test_the_same_bytes_under_another_materializer_get_another_id(artifact_store, tmp_path):
    ids = set()
    for kind in ("pandas-parquet/1", "arrow-parquet/1"):
        with artifact_store.staging() as folder:
            _write(folder, FILES)
            stored = artifact_store.commit(folder, kind)
        assert stored.id == _expected_id(FILES, kind)
        ids.add(stored.id)
    assert len(ids) == 2


def test_build_manifest_lists_files_and_ignores_an_existing_manifest(tmp_path):
    _write(tmp_path, FILES)
    (tmp_path / MANIFEST).write_text("{}")
    artifact_id, manifest = build_manifest(tmp_path)
    assert artifact_id == _expected_id(FILES)
    assert manifest == {
        "format": 1,
        "kind": "",
        "files": [
            {
                "path": "data.bin",
                "size": 5,
                "sha256": hashlib.sha256(b"hello").hexdigest(),
            },
            {
                "path": "sub/extra.txt",
                "size": 10,
                "sha256": hashlib.sha256(b"more bytes").hexdigest(),
            },
        ],
    }


def test_id_depends_on_names_and_bytes(artifact_store):
    base = _store_files(artifact_store, {"a.txt": b"1"}).id
    assert _store_files(artifact_store, {"a.txt": b"2"}).id != base
    assert _store_files(artifact_store, {"b.txt": b"1"}).id != base


def test_same_bytes_get_the_same_id_and_are_stored_once(artifact_store):
    first = _store_files(artifact_store, FILES)
    second = _store_files(artifact_store, dict(FILES))
    assert second == first
    root = Path(artifact_store.root)
    assert _artifact_folders(root) == [root / first.id[:2] / first.id]
    assert (
        list((root / ".tmp").iterdir()) == []
    )  # the duplicate's staging folder is gone


def test_committed_folder_holds_files_and_manifest(artifact_store):
    stored = _store_files(artifact_store, FILES)
    folder = artifact_store.local_path(stored.id)
    assert folder == Path(artifact_store.root, stored.id[:2], stored.id)
    assert (folder / "data.bin").read_bytes() == b"hello"
    assert (folder / "sub" / "extra.txt").read_bytes() == b"more bytes"
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest == artifact_store.manifest(stored.id)
    assert [entry["path"] for entry in manifest["files"]] == [
        "data.bin",
        "sub/extra.txt",
    ]
    # Re-hashing the stored folder gives its id back (the manifest is not hashed).
    assert build_manifest(folder)[0] == stored.id


def test_put_bytes(artifact_store):
    stored = artifact_store.put_bytes(b"payload", "blob.dat")
    assert stored.id == _expected_id({"blob.dat": b"payload"})
    assert (
        artifact_store.local_path(stored.id) / "blob.dat"
    ).read_bytes() == b"payload"


# -- exists and local_path ---------------------------------------------------


def test_exists_and_local_path_of_unknown_id(artifact_store):
    unknown = "ab" + "0" * 62
    assert not artifact_store.exists(unknown)
    with pytest.raises(
        ArtifactNotFound, match=r"Artifact ab0000000000 is not in the artifact store"
    ):
        artifact_store.local_path(unknown)


def test_folder_without_manifest_is_not_an_artifact(artifact_store):
    """A crash between writing files and the manifest leaves nothing readable."""
    artifact_id = _expected_id(FILES)
    partial = Path(artifact_store.root, artifact_id[:2], artifact_id)
    partial.mkdir(parents=True)
    _write(partial, FILES)
    assert not artifact_store.exists(artifact_id)
    with pytest.raises(ArtifactNotFound):
        artifact_store.local_path(artifact_id)


# -- atomic visibility and staging -------------------------------------------


def test_staging_folder_is_not_visible_until_commit(artifact_store):
    root = Path(artifact_store.root)
    with artifact_store.staging() as folder:
        assert folder.parent == root / ".tmp"
        assert folder.name.startswith(f"{os.getpid()}-")
        _write(folder, FILES)
        artifact_id, _ = build_manifest(folder)
        assert not artifact_store.exists(artifact_id)
        assert _artifact_folders(root) == []
        stored = artifact_store.commit(folder)
        assert not folder.exists()  # moved, not copied
    assert stored.id == artifact_id
    assert artifact_store.exists(artifact_id)
    assert (root / artifact_id[:2] / artifact_id / MANIFEST).is_file()


def test_staging_folder_is_removed_when_not_committed(artifact_store):
    with pytest.raises(RuntimeError), artifact_store.staging() as folder:
        _write(folder, FILES)
        raise RuntimeError("materializer failed")
    assert not folder.exists()
    assert list(Path(artifact_store.root, ".tmp").iterdir()) == []


def test_clean_staging_removes_old_folders_of_dead_processes(
    artifact_store, dead_pid, old_mtime
):
    staging = Path(artifact_store.root, ".tmp")
    host = socket.gethostname().replace("-", "_")
    dead_old = staging / f"{dead_pid}-{host}-x"
    dead_new = staging / f"{dead_pid}-{host}-fresh"
    alive_old = staging / f"{os.getpid()}-{host}-mine"
    not_a_pid = staging / "notes-x"
    other_host = staging / f"{dead_pid}-another_machine-x"
    for folder in (dead_old, dead_new, alive_old, not_a_pid, other_host):
        folder.mkdir()
        (folder / "half-written.parquet").write_bytes(b"\0" * 10)
    for folder in (dead_old, alive_old, not_a_pid, other_host):
        old_mtime(folder)

    assert artifact_store.clean_staging() == 1
    assert not dead_old.exists()
    assert dead_new.exists()  # may still be starting: too recent
    assert alive_old.exists()  # its process is alive
    assert not_a_pid.exists()
    assert other_host.exists()  # only its own host can tell whether its writer lives
    assert artifact_store.clean_staging(older_than=0) == 1
    assert not dead_new.exists()


# -- concurrency -------------------------------------------------------------


def test_concurrent_commits_of_identical_content_all_succeed(artifact_store):
    workers = 8
    barrier = threading.Barrier(workers)
    results: list[str] = []
    errors: list[BaseException] = []

    def commit() -> None:
        try:
            with artifact_store.staging() as folder:
                _write(folder, FILES)
                barrier.wait(timeout=10)
                results.append(artifact_store.commit(folder).id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=commit) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert results == [_expected_id(FILES)] * workers
    root = Path(artifact_store.root)
    assert len(_artifact_folders(root)) == 1
    assert list((root / ".tmp").iterdir()) == []
    folder = artifact_store.local_path(results[0])
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [MANIFEST, "data.bin", "sub"]
    )


# -- URLs --------------------------------------------------------------------


def test_file_url_and_plain_path_address_the_same_store(tmp_path):
    by_url = ArtifactStore(f"file://{tmp_path}/store")
    by_path = ArtifactStore(str(tmp_path / "store"))
    assert by_url.is_local and by_path.is_local
    assert by_url.root == by_path.root == str(tmp_path / "store")
    stored = _store_files(by_url, FILES)
    assert by_path.exists(stored.id)
    assert by_path.local_path(stored.id) == by_url.local_path(stored.id)
    assert (tmp_path / "store" / ".tmp").is_dir()


def test_unknown_protocol_is_a_store_error():
    with pytest.raises(
        StoreError, match=r"Artifact store URL 'nosuchproto://x' is not valid"
    ):
        ArtifactStore("nosuchproto://x")


def test_local_root_that_cannot_be_created_is_a_store_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match=r"Cannot create the artifact store folder"):
        ArtifactStore(str(blocker / "store"))


@pytest.fixture
def memory_store(tmp_path) -> Iterator[ArtifactStore]:
    root = f"shipyard-test-{uuid.uuid4().hex}"
    store = ArtifactStore(f"memory://{root}", cache_dir=tmp_path / "cache")
    try:
        yield store
    finally:
        fs = fsspec.filesystem("memory")
        if fs.exists(f"/{root}"):
            fs.rm(f"/{root}", recursive=True)


def test_memory_store_goes_through_the_remote_path(memory_store, tmp_path):
    assert not memory_store.is_local
    assert memory_store.clean_staging() == 0
    stored = _store_files(memory_store, FILES)
    assert stored.id == _expected_id(FILES)
    assert stored.uri == f"memory://{memory_store.root}/{stored.id[:2]}/{stored.id}"
    assert memory_store.exists(stored.id)
    assert memory_store.manifest(stored.id)["files"][0]["path"] == "data.bin"

    local = memory_store.local_path(stored.id)
    assert local == tmp_path / "cache" / stored.id
    assert (local / "data.bin").read_bytes() == b"hello"
    assert (local / "sub" / "extra.txt").read_bytes() == b"more bytes"
    assert (local / MANIFEST).is_file()
    assert memory_store.local_path(stored.id) == local  # served from the download cache
    assert not any(p.name.startswith(".") for p in (tmp_path / "cache").iterdir())


class RecordingMemoryFileSystem(MemoryFileSystem):
    """The real in-memory filesystem, keeping the order in which files were written."""

    protocol = "shipyardrecmem"
    writes: list[str] = []

    @classmethod
    def _strip_protocol(cls, path):
        if path.startswith("shipyardrecmem://"):
            path = "memory://" + path.removeprefix("shipyardrecmem://")
        return super()._strip_protocol(path)

    def put_file(self, lpath, rpath, *args, **kwargs):
        self.writes.append(rpath)
        return super().put_file(lpath, rpath, *args, **kwargs)

    def pipe_file(self, path, value, *args, **kwargs):
        self.writes.append(path)
        return super().pipe_file(path, value, *args, **kwargs)


def test_remote_store_writes_the_manifest_last(tmp_path):
    fsspec.register_implementation(
        "shipyardrecmem", RecordingMemoryFileSystem, clobber=True
    )
    root = f"shipyard-test-{uuid.uuid4().hex}"
    RecordingMemoryFileSystem.writes = []
    store = ArtifactStore(f"shipyardrecmem://{root}", cache_dir=tmp_path / "cache")
    try:
        assert not store.is_local
        assert store.root == f"/{root}"
        stored = _store_files(store, FILES)
        written = [
            path.rsplit(stored.id + "/", 1)[-1]
            for path in RecordingMemoryFileSystem.writes
        ]
        assert written == ["data.bin", "sub/extra.txt", MANIFEST]
        assert store.exists(stored.id)
    finally:
        store.fs.rm(store.root, recursive=True)


def test_memory_store_files_without_manifest_do_not_exist(memory_store):
    artifact_id = _expected_id(FILES)
    folder = f"{memory_store.root}/{artifact_id[:2]}/{artifact_id}"
    memory_store.fs.pipe_file(f"{folder}/data.bin", b"hello")
    assert not memory_store.exists(artifact_id)
    with pytest.raises(ArtifactNotFound):
        memory_store.local_path(artifact_id)
    # Committing the content completes it.
    assert _store_files(memory_store, FILES).id == artifact_id
    assert memory_store.exists(artifact_id)


def test_memory_store_dedupes(memory_store):
    first = _store_files(memory_store, FILES)
    second = _store_files(memory_store, FILES)
    assert first == second
    assert len(memory_store.fs.ls(f"{memory_store.root}/{first.id[:2]}")) == 1
