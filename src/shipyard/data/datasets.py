"""``shipyard.data.datasets`` provides named, versioned datasets.

``shipyard data add taxi data/trips.csv`` snapshots the file as a Parquet
artifact (content-addressed: adding identical content again returns the
existing version) with its statistics, as the next version of ``taxi``.
Pipelines name a version as ``taxi@3`` or ``taxi@latest``; the run records the
exact version, and the dataset's lineage shows which runs used it.

A glob or folder of several files becomes a *partitioned* version, without
ever holding the whole table in memory:

* each file is rewritten as one Parquet part, stored as its own artifact
  (``arrow-parquet/1``, content-addressed, so a part that did not change is
  stored once however many versions hold it). The files are read batch by
  batch and cast to one schema for all parts (an int column in one file and a
  float column in another become floats; a column that conflicts otherwise
  becomes text);
* the version's data artifact is a small manifest (``parquet-parts/1``,
  :class:`PartitionedTable`): the parts' ids and row counts, in file order,
  and the columns. Its id is the data version: the same files again give the
  same id, hence the existing version;
* each part's statistics are computed while it is written and merged in
  part order.

The parts are written, and their statistics computed, by one task per file:
on a Dask cluster's workers when an ``address`` is given (each worker reads
its file where it is and writes its part into the artifact store, so both
must be reachable from the workers), otherwise one after another here.

Loading a partitioned version as a value (a pipeline's ``data: taxi@3``,
``Client().load_artifact``) gives the whole table as one DataFrame; the
commands that only need statistics, an export or a row diff go part by part.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.data.arrowtypes import file_batches, source_schema, unify_schemas
from shipyard.data.refs import NAME, is_dataset_ref, parse_ref
from shipyard.data.sources import (
    DataError,
    Source,
    file_format,
    is_url,
    open_source,
    read_table,
)
from shipyard.engine.artifacts import load_value, save_value, stored_record
from shipyard.errors import ShipyardError, StoreError
from shipyard.materializers.parts import (
    PART_FILE,
    PARTS_MATERIALIZER,
    Part,
    PartitionedTable,
    PartitionedTableMaterializer,
)
from shipyard.materializers.parts import read_parts as _read_part_files
from shipyard.materializers.tabular import ArrowTableMaterializer
from shipyard.stores.metadata.records import ArtifactRecord, DatasetVersionRecord

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from distributed import Client as DaskClient

    from shipyard.data.statistics import Statistics
    from shipyard.stores.artifacts import ArtifactStore
    from shipyard.stores.metadata import MetadataStore

#: Rows read and written at a time (``shipyard.data.statistics.BATCH_ROWS``;
#: not imported from there so that loading this module stays cheap).
_BATCH_ROWS = 250_000


# -- reading and writing parts (the tasks run these, here or on workers) -----------------------


def _conform(batch: Any, schema: pa.Schema, source: str) -> pa.Table:
    """A batch as a table of exactly ``schema`` (columns in order, types cast)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays = []
    for field in schema:
        array = batch.column(field.name)
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        if array.type != field.type:
            try:
                array = pc.cast(array, field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise DataError(f"Cannot read {source}: column {field.name!r}: {exc}") from exc
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=schema)


def _source_batches(source: str, schema: pa.Schema, batch_rows: int) -> Iterable[Any]:
    """A file's record batches; CSV is parsed straight into the schema's types."""
    import pyarrow as pa

    try:
        yield from file_batches(source, batch_rows, schema)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"Cannot read {source}: {exc}") from exc


def _open_store(url: str) -> ArtifactStore:
    """The artifact store at ``url``, refusing a local folder this machine does not have."""
    import socket

    from shipyard.stores.artifacts import ArtifactStore

    if not is_url(url):
        root = url[len("file://"):] if url.startswith("file://") else url
        if not Path(root).is_dir():
            raise StoreError(
                f"The artifact store {url} is not reachable from {socket.gethostname()}.",
                hint="Workers on other machines need an artifact store they all reach (a shared "
                "folder or object storage); or use --address local.",
            )
    return ArtifactStore(url)


def store_part(source: str, store_url: str, schema: pa.Schema, batch_rows: int = _BATCH_ROWS) -> dict[str, Any]:
    """Write one file as a Parquet part artifact and return it with its statistics (a task).

    The file is read and written batch by batch; each batch's statistics
    are merged as it goes, so the worker never holds more than a batch.
    """
    import pyarrow.parquet as pq

    from shipyard.data.statistics import (
        Statistics,
        column_statistics,
        compute_statistics,
    )

    store = _open_store(store_url)
    stats = Statistics()
    with store.staging() as folder:
        with pq.ParquetWriter(folder / PART_FILE, schema) as writer:
            for batch in _source_batches(source, schema, batch_rows):
                table = _conform(batch, schema, source)
                if table.num_rows == 0:
                    continue
                writer.write_table(table, row_group_size=batch_rows)
                stats = stats.merge(compute_statistics(table, batch_rows=batch_rows))
        if stats.rows == 0:  # still one column entry each
            empty = schema.empty_table()
            stats = Statistics(0, {f.name: column_statistics(f.name, empty.column(f.name)) for f in schema})
        stored = store.commit(folder, ArrowTableMaterializer.tag())
    return {
        "id": stored.id, "uri": stored.uri, "size": stored.size, "files": stored.files,
        "rows": stats.rows, "statistics": stats.to_json(),
    }


def read_parts(files: Sequence[Source], table: PartitionedTable | None = None) -> pd.DataFrame:
    """The parts' rows as one DataFrame, in order."""
    return _read_part_files(files, table.names if table is not None else ())


def _copy(source: Source, target: Path) -> None:
    with open_source(source) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 16 << 20)


# -- the stores ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetStores:
    """The two stores datasets live in."""

    artifacts: ArtifactStore
    metadata: MetadataStore

    def resolve(self, ref: str) -> DatasetVersionRecord:
        """The exact version a reference names."""
        name, version = parse_ref(ref)
        return self.metadata.get_dataset_version(name, version)

    def add(
        self,
        name: str,
        source: str | Path,
        *,
        message: str | None = None,
        user: str | None = None,
        base: Path | None = None,
        progress: Callable[[str], None] | None = None,
        address: str | None = None,
        dask_client: DaskClient | None = None,
    ) -> tuple[DatasetVersionRecord, bool]:
        """Snapshot a file, glob or folder as the next version of a dataset.

        One file becomes one Parquet artifact; several files (a glob or a
        folder) become a partitioned version, one Parquet part per file (see
        the module's docs).

        Args:
            name: the dataset.
            source: a file, a glob, a folder (every data file in it), or a URL of those.
            message: what this version is.
            user: who added it.
            base: the folder relative paths start from (default: the current one).
            progress: called with a short message at each stage.
            address: a Dask scheduler (``tcp://HOST:PORT`` or ``local``) to write
                the parts and compute their statistics on; None: in this process.
            dask_client: an open Dask client to use instead of ``address``.

        Returns:
            ``(version, created)``; ``created`` is False when the content is
            already a version of this dataset (that version is returned).

        Raises:
            ShipyardError: for an invalid name.
            DataError: when no file matches or a file cannot be read.
        """
        if not NAME.match(name):
            raise ShipyardError(
                f"Dataset name {name!r} is not valid: use letters, digits, '_', '-' and '.'."
            )
        from shipyard.data.parallel import partition_files
        from shipyard.data.statistics import compute_statistics

        files = partition_files(str(source), base or Path.cwd())
        say = progress or (lambda _: None)
        if len(files) > 1:
            return self._add_parts(
                name, files, source=str(source), message=message, user=user, say=say,
                address=address, dask_client=dask_client,
            )
        say(f"reading {len(files)} file(s)")
        frame = read_table(files)
        say(f"storing {len(frame):,} rows as Parquet")
        artifact = save_value(frame, self.artifacts)
        say("computing statistics")
        stats = compute_statistics(frame)
        stats_artifact = save_value(stats.to_json(), self.artifacts)
        return self.metadata.add_dataset_version(
            name,
            artifact=artifact,
            statistics=stats_artifact,
            rows=len(frame),
            columns=[str(c) for c in frame.columns],
            message=message,
            source=str(source),
            user=user,
        )

    def _add_parts(
        self,
        name: str,
        files: Sequence[Source],
        *,
        source: str,
        message: str | None,
        user: str | None,
        say: Callable[[str], None],
        address: str | None,
        dask_client: DaskClient | None,
    ) -> tuple[DatasetVersionRecord, bool]:
        from shipyard.data.parallel import cluster, run_tasks, where
        from shipyard.data.statistics import Statistics

        paths = [str(f) for f in files]
        parts: list[Part] = []
        stats = Statistics()
        if address or dask_client is not None:
            from shipyard.engine.cluster import check_store_for_cluster

            # Before connecting: a store in memory, or a folder of this machine
            # with a scheduler elsewhere, cannot work.
            check_store_for_cluster(self.artifacts, address or dask_client.scheduler.address)  # type: ignore[union-attr]
        # A folder store by its absolute path: a relative one would resolve
        # from each worker's own working folder.
        store_url = self.artifacts.root if self.artifacts.is_local else self.artifacts.url
        with cluster(address, dask_client) as client, self._workers_see_store(client, address):
            say(f"reading the columns of {len(paths)} files {where(client)}")
            schema = unify_schemas(
                paths, list(run_tasks(source_schema, paths, dask_client=client, name="shipyard-schema"))
            )
            say(f"writing {len(paths)} Parquet parts and their statistics {where(client)}")
            results = run_tasks(
                store_part, paths, store_url, schema, _BATCH_ROWS,
                dask_client=client, name="shipyard-ingest",
            )
            for path, result in zip(paths, results, strict=True):
                if not self.artifacts.exists(result["id"]):
                    raise StoreError(
                        f"The part of {os.path.basename(path)} was written by a Dask worker, but "
                        f"it is not in the artifact store {self.artifacts.url}: the workers do not "
                        "share this store.",
                        hint="Use an artifact store every worker reaches at the same path or URL "
                        "(object storage, a shared folder), or --address local.",
                    )
                parts.append(Part(result["id"], result["rows"], result["size"], None if self.artifacts.is_local else result["uri"]))
                stats = stats.merge(Statistics.from_json(result["statistics"]))
        table = PartitionedTable(tuple((f.name, str(f.type)) for f in schema), tuple(parts))
        say(f"storing the manifest of {len(parts)} parts ({table.rows:,} rows)")
        artifact = self._save_manifest(table)
        stats_artifact = save_value(stats.to_json(), self.artifacts)
        return self.metadata.add_dataset_version(
            name,
            artifact=artifact,
            statistics=stats_artifact,
            rows=table.rows,
            columns=table.names,
            message=message,
            source=source,
            user=user,
        )

    @contextlib.contextmanager
    def _workers_see_store(self, client: DaskClient | None, address: str | None) -> Iterator[None]:
        """On a cluster, with a folder store: every worker must see a folder made in it here."""
        if client is None:
            yield
            return
        from shipyard.engine.cluster import shared_store_marker

        with shared_store_marker(client, self.artifacts, address):
            yield

    def _save_manifest(self, table: PartitionedTable) -> ArtifactRecord:
        materializer = PartitionedTableMaterializer
        with self.artifacts.staging() as folder:
            materializer().save(table, folder)
            stored = self.artifacts.commit(folder, materializer.tag())
        return stored_record(stored, materializer, "pandas.DataFrame")  # what loading it gives

    # -- reading a version ------------------------------------------------------------------

    def _data_record(self, version: DatasetVersionRecord) -> ArtifactRecord:
        record = self.metadata.get_artifacts([version.artifact_id]).get(version.artifact_id)
        if record is None:
            raise DataError(f"The data of {version.ref} is missing from the metadata store.")
        return record

    def is_partitioned(self, version: DatasetVersionRecord) -> bool:
        """True for a version stored as Parquet parts."""
        return self._data_record(version).materializer == PARTS_MATERIALIZER

    def table(self, version: DatasetVersionRecord) -> PartitionedTable | None:
        """A partitioned version's manifest (None for a version stored as one file)."""
        if not self.is_partitioned(version):
            return None
        return PartitionedTableMaterializer.read(self.artifacts.local_path(version.artifact_id))

    def _location(self, artifact_id: str) -> str:
        """Where an artifact's Parquet file is: a local path, or a URL on object storage."""
        if self.artifacts.is_local:
            return str(self.artifacts.local_path(artifact_id) / PART_FILE)
        return f"{self.artifacts.uri(artifact_id)}/{PART_FILE}"

    def files(self, version: DatasetVersionRecord) -> list[str]:
        """The Parquet file(s) of a version, in order: one per part, or its single file.

        The files are in the artifact store; workers read them from there.
        """
        table = self.table(version)
        if table is None:
            return [self._location(version.artifact_id)]
        return [self._location(part.id) for part in table.parts]

    def frame(self, version: DatasetVersionRecord) -> pd.DataFrame:
        """A version's rows (a partitioned version's parts, concatenated in order)."""
        record = self._data_record(version)
        if record.materializer == PARTS_MATERIALIZER:
            return read_parts(self.files(version), self.table(version))
        return load_value(record, self.artifacts)

    def statistics(
        self,
        version: DatasetVersionRecord,
        *,
        types: dict[str, str] | None = None,
        address: str | None = None,
        dask_client: DaskClient | None = None,
    ) -> Statistics:
        """A version's statistics: those computed when it was added, or computed again with ``types``.

        With ``types`` (e.g. a schema's), a partitioned version is read part
        by part, on the cluster at ``address`` when one is given.
        """
        from shipyard.data.parallel import partitioned_statistics
        from shipyard.data.statistics import Statistics, compute_statistics

        if not types and version.statistics_id:
            record = self.metadata.get_artifacts([version.statistics_id]).get(version.statistics_id)
            if record is not None:
                return Statistics.from_json(load_value(record, self.artifacts))
        if self.is_partitioned(version):
            return partitioned_statistics(self.files(version), types=types, address=address, dask_client=dask_client)
        return compute_statistics(self.frame(version), types=types)

    def runs_using(self, version: DatasetVersionRecord) -> list[str]:
        """Ids of the runs whose steps read or passed on this version's data."""
        edges = self.metadata.artifact_edges(version.artifact_id, kind="inputs")
        edges += self.metadata.artifact_edges(version.artifact_id, kind="outputs")
        return sorted({step_run.run_id for step_run, _ in edges})

    # -- export and diff ---------------------------------------------------------------------

    def export(self, version: DatasetVersionRecord, path: str | Path) -> tuple[int, Path, int]:
        """Write a version to a file or a folder of Parquet parts; nothing half-written is visible.

        A path ending in ``.parquet``, ``.csv`` or ``.jsonl`` is one file (a
        partitioned version is streamed into it part by part, in order); a
        path without an extension, or an existing folder, becomes a folder of
        ``part-00000.parquet``... one per part. The file or folder appears
        only when complete.

        Returns:
            ``(rows, where written, files written)``.

        Raises:
            ShipyardError: when the folder exists and is not empty.
        """
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir() or not target.suffix:
            return self._export_folder(version, target)
        fmt = file_format(target)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            if not self.is_partitioned(version):
                frame = self.frame(version)
                if fmt == "parquet":
                    frame.to_parquet(tmp, index=False)
                elif fmt == "csv":
                    frame.to_csv(tmp, index=False)
                else:
                    frame.to_json(tmp, orient="records", lines=True)
                rows = len(frame)
            else:
                rows = self._stream_parts(self.files(version), tmp, fmt)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
        return rows, target, 1

    def _stream_parts(self, files: Sequence[str], tmp: Path, fmt: str) -> int:
        import pyarrow.parquet as pq

        from shipyard.data.statistics import batches

        rows = 0
        writer: Any = None
        try:
            for path in files:
                if fmt == "parquet":
                    with open_source(path) as fh:
                        part = pq.ParquetFile(fh, pre_buffer=False)
                        if writer is None:
                            writer = pq.ParquetWriter(tmp, part.schema_arrow)
                        for batch in part.iter_batches(batch_size=_BATCH_ROWS):
                            writer.write_batch(batch)
                            rows += batch.num_rows
                    continue
                for batch in batches(path):
                    frame = batch.to_pandas()
                    if fmt == "csv":
                        frame.to_csv(tmp, mode="a", header=rows == 0, index=False)
                    else:
                        frame.to_json(tmp, orient="records", lines=True, mode="a", date_format="iso")
                    rows += len(frame)
        finally:
            if writer is not None:
                writer.close()
        if not tmp.exists():
            tmp.write_text("")
        return rows

    def _export_folder(self, version: DatasetVersionRecord, target: Path) -> tuple[int, Path, int]:
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise ShipyardError(
                f"{target} exists; a folder export writes a new (or empty) folder.",
                hint="Give a new folder, or a file name ending in .parquet, .csv or .jsonl.",
            )
        files = self.files(version)
        staging = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        staging.mkdir()
        try:
            for i, path in enumerate(files):
                _copy(path, staging / f"part-{i:05d}.parquet")
            if target.exists():
                target.rmdir()  # empty, checked above
            os.rename(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return version.rows, target, len(files)

    def _pieces(self, version: DatasetVersionRecord) -> list[tuple[str, int, str]]:
        """``(id, rows, file)`` of each part; a single-file version is one piece."""
        table = self.table(version)
        if table is None:
            return [(version.artifact_id, version.rows, self._location(version.artifact_id))]
        return [(p.id, p.rows, self._location(p.id)) for p in table.parts]

    def diff(self, a: DatasetVersionRecord, b: DatasetVersionRecord) -> dict[str, Any]:
        """What changed between two versions (see :func:`diff`), rows compared part by part.

        Two versions stored as one file each are compared in memory, as
        before. Otherwise parts both versions hold (same id) count as kept
        without being read, and the rows of the other parts are hashed batch
        by batch.
        """
        stats_a, stats_b = self.statistics(a), self.statistics(b)
        if not self.is_partitioned(a) and not self.is_partitioned(b):
            return diff(stats_a, stats_b, self.frame(a), self.frame(b))
        shared = [c for c in stats_a.columns if c in stats_b.columns]
        pieces_a, pieces_b = self._pieces(a), self._pieces(b)
        schema = _shared_schema([p[2] for p in pieces_a], [p[2] for p in pieces_b], shared)
        return diff(stats_a, stats_b, rows_changed=_row_changes_by_part(pieces_a, pieces_b, shared, schema))


def diff(
    a: Statistics,
    b: Statistics,
    frame_a: pd.DataFrame | None = None,
    frame_b: pd.DataFrame | None = None,
    *,
    rows_changed: dict[str, int] | None = None,
) -> dict[str, Any]:
    """What changed between two versions: rows, columns, statistics.

    Rows added and removed are counted by comparing whole rows (over the
    columns both share) when the frames are given, or taken from
    ``rows_changed`` (see :meth:`DatasetStores.diff`).
    """
    from shipyard.data.drift import compare

    columns_a, columns_b = set(a.columns), set(b.columns)
    shared = [c for c in a.columns if c in columns_b]
    changed_types = {
        c: [a[c].type, b[c].type] for c in shared if a[c].type != b[c].type
    }
    out: dict[str, Any] = {
        "rows": [a.rows, b.rows],
        "columns_added": sorted(columns_b - columns_a),
        "columns_removed": sorted(columns_a - columns_b),
        "type_changed": changed_types,
    }
    if frame_a is not None and frame_b is not None:
        out |= _row_changes(frame_a, frame_b, shared)
    elif rows_changed is not None:
        out |= rows_changed
    shifts = {}
    for column in shared:
        if column in changed_types:
            continue
        sa, sb = a[column].summary(), b[column].summary()
        entry: dict[str, Any] = {"null_fraction": [sa["null_fraction"], sb["null_fraction"]]}
        for key in ("mean", "std", "min", "max", "distinct", "true_ratio"):
            if key in sa and sa[key] != sb.get(key):
                entry[key] = [sa[key], sb.get(key)]
        shifts[column] = entry
    drift = compare(a, b)
    for column in drift.columns:
        shifts.setdefault(column.column, {})["drift"] = {
            "method": column.method, "score": column.score, "drifted": column.drifted,
        }
    out["statistics"] = shifts
    out["drifted"] = drift.drifted
    return out


def _shared_schema(files_a: Sequence[str], files_b: Sequence[str], shared: list[str]) -> pa.Schema:
    """One type for each shared column, fitting both versions' values (from the Parquet footers).

    Rows are hashed with these types on both sides, so a row whose column
    widened from integers to floats between versions still counts as kept.
    """
    import pyarrow as pa

    from shipyard.data.arrowtypes import settle_schemas, source_schema, widen

    side_a = settle_schemas([source_schema(f) for f in files_a])
    side_b = settle_schemas([source_schema(f) for f in files_b])
    return pa.schema([pa.field(c, widen(side_a.field(c).type, side_b.field(c).type)) for c in shared])


def _frames_alike(a: pd.DataFrame, b: pd.DataFrame, shared: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The shared columns of both frames, with one type per column that fits both."""
    import pyarrow as pa

    from shipyard.data.arrowtypes import cast_batch, widen

    try:
        table_a = pa.Table.from_pandas(a[shared], preserve_index=False)
        table_b = pa.Table.from_pandas(b[shared], preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed Python objects: compared as they are
        return a[shared], b[shared]
    if table_a.schema.equals(table_b.schema):
        return a[shared], b[shared]
    schema = pa.schema([pa.field(c, widen(table_a.schema.field(c).type, table_b.schema.field(c).type)) for c in shared])
    return (
        cast_batch(table_a, schema, "the first version").to_pandas(),
        cast_batch(table_b, schema, "the second version").to_pandas(),
    )


def _row_changes(a: pd.DataFrame, b: pd.DataFrame, shared: list[str]) -> dict[str, int]:
    import pandas as pd

    if not shared:
        return {"rows_added": len(b), "rows_removed": len(a), "rows_kept": 0}
    a, b = _frames_alike(a, b, shared)
    hashes_a = pd.util.hash_pandas_object(a, index=False).value_counts()
    hashes_b = pd.util.hash_pandas_object(b, index=False).value_counts()
    both = hashes_a.index.intersection(hashes_b.index)
    kept = int(pd.concat([hashes_a[both], hashes_b[both]], axis=1).min(axis=1).sum())
    return {"rows_added": len(b) - kept, "rows_removed": len(a) - kept, "rows_kept": kept}


def _row_hashes(files: Sequence[str], shared: list[str], schema: pa.Schema | None = None) -> pd.Series:
    """How many times each row (hashed over ``shared``, read with ``schema``'s types) occurs in the files."""
    import pandas as pd

    from shipyard.data.statistics import batches

    counts: list[pd.Series] = []
    for path in files:
        for batch in batches(path, schema=schema):
            frame = batch.select(shared).to_pandas()
            counts.append(pd.util.hash_pandas_object(frame, index=False).value_counts())
            if len(counts) >= 16:
                counts = [pd.concat(counts).groupby(level=0).sum()]
    if not counts:
        return pd.Series(dtype="int64")
    return pd.concat(counts).groupby(level=0).sum()


def _row_changes_by_part(
    a: Sequence[tuple[str, int, str]],
    b: Sequence[tuple[str, int, str]],
    shared: list[str],
    schema: pa.Schema | None = None,
) -> dict[str, int]:
    """Rows added, removed and kept; parts held by both sides are kept unread.

    The other parts' rows are hashed with ``schema``'s types (one per shared
    column, for both sides).
    """
    rows_a, rows_b = sum(p[1] for p in a), sum(p[1] for p in b)
    if not shared:
        return {"rows_added": rows_b, "rows_removed": rows_a, "rows_kept": 0}
    import numpy as np

    common = Counter(p[0] for p in a) & Counter(p[0] for p in b)
    kept = sum(rows * common[part_id] for part_id, rows in {p[0]: p[1] for p in a}.items())

    def unshared(pieces: Sequence[tuple[str, int, str]]) -> list[str]:
        left, paths = Counter(common), []
        for part_id, _, path in pieces:
            if left[part_id] > 0:
                left[part_id] -= 1
            else:
                paths.append(path)
        return paths

    rest_a, rest_b = unshared(a), unshared(b)
    if rest_a and rest_b:
        hashes_a, hashes_b = _row_hashes(rest_a, shared, schema), _row_hashes(rest_b, shared, schema)
        both = hashes_a.index.intersection(hashes_b.index)
        kept += int(np.minimum(hashes_a[both].to_numpy(), hashes_b[both].to_numpy()).sum())
    return {"rows_added": rows_b - kept, "rows_removed": rows_a - kept, "rows_kept": kept}


__all__ = [
    "NAME",
    "PARTS_MATERIALIZER",
    "DatasetStores",
    "Part",
    "PartitionedTable",
    "PartitionedTableMaterializer",
    "diff",
    "is_dataset_ref",
    "parse_ref",
    "read_parts",
    "source_schema",
    "store_part",
    "unify_schemas",
]
