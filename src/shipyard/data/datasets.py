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

import json
import os
import re
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.data.refs import NAME, is_dataset_ref, parse_ref
from shipyard.data.sources import (
    DataError,
    Source,
    file_format,
    is_url,
    open_source,
    read_table,
)
from shipyard.engine.artifacts import load_value, save_value
from shipyard.errors import MaterializerError, ShipyardError, StoreError
from shipyard.materializers.base import Materializer
from shipyard.materializers.registry import register_materializer
from shipyard.materializers.tabular import ArrowTableMaterializer
from shipyard.stores.artifacts import MANIFEST
from shipyard.stores.metadata.records import ArtifactRecord, DatasetVersionRecord

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from distributed import Client as DaskClient

    from shipyard.data.statistics import Statistics
    from shipyard.stores.artifacts import ArtifactStore
    from shipyard.stores.metadata import MetadataStore

#: The materializer of a partitioned version's manifest.
PARTS_MATERIALIZER = "parquet-parts"
#: The file of a Parquet artifact (a single-file version or a part).
PART_FILE = "data.parquet"
_MANIFEST_FILE = "parts.json"
_INDEX_COLUMN = re.compile(r"^__index_level_\d+__$")
#: Rows read and written at a time (``shipyard.data.statistics.BATCH_ROWS``;
#: not imported from there so that loading this module, which registers the
#: manifest's materializer, stays cheap).
_BATCH_ROWS = 250_000


# -- the manifest of a partitioned version -----------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One Parquet part of a partitioned version.

    Attributes:
        id: the part's artifact id.
        rows: its row count.
        size: its bytes.
        uri: where it is, for artifact stores on object storage (on a local
            store a part sits next to the manifest).
    """

    id: str
    rows: int
    size: int = 0
    uri: str | None = None


@dataclass(frozen=True)
class PartitionedTable:
    """A table stored as Parquet part artifacts, in order: what a partitioned version's manifest holds."""

    columns: tuple[tuple[str, str], ...]
    parts: tuple[Part, ...]

    @property
    def rows(self) -> int:
        """Rows of all parts."""
        return sum(part.rows for part in self.parts)

    @property
    def names(self) -> list[str]:
        """Column names, in order."""
        return [name for name, _ in self.columns]

    def to_json(self) -> dict[str, Any]:
        """JSON form (the manifest file)."""
        parts = []
        for part in self.parts:
            entry: dict[str, Any] = {"id": part.id, "rows": part.rows, "size": part.size}
            if part.uri:
                entry["uri"] = part.uri
            parts.append(entry)
        return {"format": 1, "rows": self.rows, "columns": [list(c) for c in self.columns], "parts": parts}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartitionedTable:
        """Read the JSON form."""
        return cls(
            tuple((str(n), str(t)) for n, t in data["columns"]),
            tuple(Part(p["id"], int(p["rows"]), int(p.get("size", 0)), p.get("uri")) for p in data["parts"]),
        )


def _part_in_store(folder: Path, part: Part) -> str:
    """Where a part's Parquet file is, seen from its manifest's folder."""
    candidates = (
        folder.parent.parent / part.id[:2] / part.id,  # a local store: <root>/<id[:2]>/<id>
        folder.parent / part.id,  # the download cache of a remote store: <cache>/<id>
    )
    for candidate in candidates:
        if (candidate / MANIFEST).exists():
            return str(candidate / PART_FILE)
    if part.uri:
        return f"{part.uri}/{PART_FILE}"
    raise MaterializerError(
        f"Part {part.id[:12]} of the partitioned table in {folder} is missing from the artifact store."
    )


class PartitionedTableMaterializer(Materializer):
    """The manifest of a partitioned dataset version: ``parts.json``.

    Loading gives the whole table as one pandas DataFrame (the parts
    concatenated in order), which is what a pipeline step reading the version
    receives. Commands that need less (statistics, an export, a row diff) read
    the parts one at a time through :class:`DatasetStores`.
    """

    NAME = PARTS_MATERIALIZER
    VERSION = 1
    TYPES = ("shipyard.data.datasets.PartitionedTable",)
    FORMAT = "Parquet parts (a manifest of part artifacts)"

    def save(self, value: Any, folder: Path) -> None:
        text = json.dumps(value.to_json(), sort_keys=True, separators=(",", ":"))
        (folder / _MANIFEST_FILE).write_text(text, encoding="utf-8")

    def load(self, folder: Path) -> Any:
        table = self.read(folder)
        return read_parts([_part_in_store(folder, part) for part in table.parts], table)

    @staticmethod
    def read(folder: Path) -> PartitionedTable:
        """The manifest itself."""
        return PartitionedTable.from_json(json.loads((folder / _MANIFEST_FILE).read_text(encoding="utf-8")))

    def describe(self, folder: Path) -> dict[str, Any]:
        table = self.read(folder)
        return {
            "rows": table.rows,
            "columns": dict(table.columns),
            "parts": len(table.parts),
            "bytes": sum(p.size for p in table.parts),
        }


register_materializer(PartitionedTableMaterializer)


# -- reading and writing parts (the tasks run these, here or on workers) -----------------------


def _plain_type(kind: pa.DataType) -> pa.DataType:
    """Dictionary-encoded columns count as their values' type."""
    import pyarrow as pa

    return kind.value_type if pa.types.is_dictionary(kind) else kind


def _csv_options(column_types: dict[str, pa.DataType] | None = None) -> tuple[Any, Any]:
    import pyarrow.csv as pcsv

    read = pcsv.ReadOptions(block_size=64 << 20)
    convert = pcsv.ConvertOptions(strings_can_be_null=True, column_types=column_types or {})
    return read, convert


def source_schema(source: str) -> pa.Schema:
    """The columns and types a file's rows will be stored with (a task).

    Parquet: its footer. CSV: pyarrow's reading of the first block, with
    dates and times kept as text (as ``data add`` of a single CSV file keeps
    them). JSON lines: pyarrow's reading of the first block. Index columns a
    pandas writer may have added are left out.
    """
    import pyarrow as pa

    fmt = file_format(source)
    try:
        with open_source(source) as fh:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                schema = pq.read_schema(fh)
            elif fmt == "csv":
                import pyarrow.csv as pcsv

                read, convert = _csv_options()
                schema = pcsv.open_csv(fh, read_options=read, convert_options=convert).schema
            else:
                import pyarrow.json as pjson

                schema = pjson.open_json(fh).schema
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"Cannot read {source}: {exc}") from exc
    fields = []
    for field in schema:
        if _INDEX_COLUMN.match(field.name):
            continue
        kind = _plain_type(field.type)
        if fmt == "csv" and (pa.types.is_temporal(kind)):
            kind = pa.string()
        fields.append(pa.field(field.name, kind))
    return pa.schema(fields)


def unify_schemas(files: Sequence[Source], schemas: Sequence[pa.Schema]) -> pa.Schema:
    """One schema for every part: the files' columns must match; types widen to fit all.

    Raises:
        DataError: when the files' columns differ.
    """
    import pyarrow as pa

    first = schemas[0].names
    for path, schema in zip(files[1:], schemas[1:], strict=True):
        if schema.names != first:
            raise DataError(
                f"{os.path.basename(str(path))} has columns {schema.names}, but "
                f"{os.path.basename(str(files[0]))} has {first}; the files of one source "
                "must share their columns."
            )
    fields = []
    for i, name in enumerate(first):
        kinds = list(dict.fromkeys(schema.field(i).type for schema in schemas))
        try:
            kind = pa.unify_schemas(
                [pa.schema([pa.field(name, k)]) for k in kinds], promote_options="permissive"
            ).field(0).type
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            kind = pa.string()  # e.g. numbers in one file and text in another
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


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

    from shipyard.data.statistics import batches

    try:
        if file_format(source) == "csv":
            import pyarrow.csv as pcsv

            read, convert = _csv_options({f.name: f.type for f in schema})
            with open_source(source) as fh:
                yield from pcsv.open_csv(fh, read_options=read, convert_options=convert)
        else:
            yield from batches(source, batch_rows=batch_rows)
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
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for path in files:
        with open_source(path) as fh:
            tables.append(pq.read_table(fh))
    if not tables:
        import pandas as pd

        return pd.DataFrame(columns=table.names if table is not None else [])
    return pa.concat_tables(tables).to_pandas()


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
        with cluster(address, dask_client) as client:
            say(f"reading the columns of {len(paths)} files {where(client)}")
            schema = unify_schemas(
                paths, list(run_tasks(source_schema, paths, dask_client=client, name="shipyard-schema"))
            )
            say(f"writing {len(paths)} Parquet parts and their statistics {where(client)}")
            results = run_tasks(
                store_part, paths, self.artifacts.url, schema, _BATCH_ROWS,
                dask_client=client, name="shipyard-ingest",
            )
            for result in results:
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

    def _save_manifest(self, table: PartitionedTable) -> ArtifactRecord:
        materializer = PartitionedTableMaterializer
        with self.artifacts.staging() as folder:
            materializer().save(table, folder)
            stored = self.artifacts.commit(folder, materializer.tag())
        return ArtifactRecord(
            id=stored.id,
            data_type="pandas.DataFrame",  # what loading it gives
            materializer=materializer.NAME,
            materializer_version=materializer.VERSION,
            uri=stored.uri,
            size=stored.size,
            files=stored.files,
            created_at=time.time(),
        )

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
        return diff(stats_a, stats_b, rows_changed=_row_changes_by_part(self._pieces(a), self._pieces(b), shared))


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


def _row_changes(a: pd.DataFrame, b: pd.DataFrame, shared: list[str]) -> dict[str, int]:
    import pandas as pd

    if not shared:
        return {"rows_added": len(b), "rows_removed": len(a), "rows_kept": 0}
    hashes_a = pd.util.hash_pandas_object(a[shared], index=False).value_counts()
    hashes_b = pd.util.hash_pandas_object(b[shared], index=False).value_counts()
    both = hashes_a.index.intersection(hashes_b.index)
    kept = int(pd.concat([hashes_a[both], hashes_b[both]], axis=1).min(axis=1).sum())
    return {"rows_added": len(b) - kept, "rows_removed": len(a) - kept, "rows_kept": kept}


def _row_hashes(files: Sequence[str], shared: list[str]) -> pd.Series:
    """How many times each row (hashed over ``shared``) occurs in the files, read batch by batch."""
    import pandas as pd

    from shipyard.data.statistics import batches

    counts: list[pd.Series] = []
    for path in files:
        for batch in batches(path):
            frame = batch.select(shared).to_pandas()
            counts.append(pd.util.hash_pandas_object(frame, index=False).value_counts())
            if len(counts) >= 16:
                counts = [pd.concat(counts).groupby(level=0).sum()]
    if not counts:
        return pd.Series(dtype="int64")
    return pd.concat(counts).groupby(level=0).sum()


def _row_changes_by_part(
    a: Sequence[tuple[str, int, str]], b: Sequence[tuple[str, int, str]], shared: list[str]
) -> dict[str, int]:
    """Rows added, removed and kept; parts held by both sides are kept unread."""
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
        hashes_a, hashes_b = _row_hashes(rest_a, shared), _row_hashes(rest_b, shared)
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
