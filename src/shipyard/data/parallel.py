"""``shipyard.data.parallel`` provides statistics, validation and drift part by part.

A *partitioned source* is a list of parts: the files of a glob or a folder, or
the Parquet parts of a partitioned dataset version. Each part is one task:

* with a Dask cluster (``address``: ``tcp://HOST:PORT`` or ``local``, see
  :mod:`shipyard.engine.cluster`), the tasks run on its workers. A task gets
  the part's *location* (a path or URL), never its rows; it reads the part
  where it lives, in record batches (:func:`~shipyard.data.statistics.batches`),
  and sends back only the part's statistics as JSON. A worker therefore holds
  one batch at a time, whatever the size of the part or of the whole table;
* without a cluster, the same tasks run one after another in this process.

The parts' statistics are merged in part order
(:func:`~shipyard.data.statistics.merge_statistics`), so the result does not
depend on which worker finished first. Merging is exact for counts, sums,
means, min/max and top values (up to 10,000 distinct values); quantiles and
distinct counts above 1,000 stay within their sketches' error bounds (see
``docs/data.md``). Validation and drift need nothing but statistics: they run
on the merged statistics, here.

``distributed`` is imported only when a cluster is used.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.data.arrowtypes import settle_schemas
from shipyard.data.sources import FORMATS, DataError, Source, is_url, resolve_files
from shipyard.data.statistics import (
    BATCH_ROWS,
    Statistics,
    compute_statistics,
    merge_statistics,
    schema_types,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from distributed import Client as DaskClient

    from shipyard.data.drift import DriftConfig, DriftReport
    from shipyard.data.schema import Schema
    from shipyard.data.validation import ValidationResult

_GLOB_CHARS = "*?["


# -- where the parts are ---------------------------------------------------------------


def _is_data_file(name: str) -> bool:
    """A data file of a folder: a known extension, not hidden or a marker (``_SUCCESS``)."""
    return not name.startswith((".", "_")) and os.path.splitext(name)[1].lower() in FORMATS


def partition_files(source: str | Path, base: Path) -> list[Source]:
    """The files of a source, sorted: a file, a glob, a folder or a URL of either.

    A folder stands for every data file (``.parquet``, ``.csv``, ``.jsonl``...)
    under it, at any depth, leaving out hidden files and markers such as
    ``_SUCCESS``.

    Raises:
        DataError: when nothing matches or a folder holds no data file.
    """
    text = str(source)
    if text.startswith("file://"):
        text = text[len("file://"):]
    if is_url(text):
        import fsspec

        fs, path = fsspec.core.url_to_fs(text)
        if not any(ch in path for ch in _GLOB_CHARS) and fs.isdir(path):
            found = sorted(p for p in fs.find(path) if _is_data_file(p.rsplit("/", 1)[-1]))
            if not found:
                raise DataError(f"The folder {text} holds no .parquet, .csv or .jsonl file.")
            return [fs.unstrip_protocol(p) for p in found]
        return resolve_files(text, base)
    folder = Path(text) if Path(text).is_absolute() else base / text
    if not any(ch in text for ch in _GLOB_CHARS) and folder.is_dir():
        files = sorted(
            p for p in folder.rglob("*")
            if p.is_file() and _is_data_file(p.name)
            and not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts[:-1])
        )
        if not files:
            raise DataError(f"The folder {text} holds no .parquet, .csv or .jsonl file.")
        return list(files)
    return resolve_files(text, base)


# -- running tasks, on a cluster or here ----------------------------------------------------


@contextmanager
def cluster(address: str | None = None, dask_client: DaskClient | None = None) -> Iterator[DaskClient | None]:
    """A Dask client for ``address`` (closed on exit), ``dask_client`` as given, or None.

    None means "run here": :func:`run_tasks` then calls the task in this process.
    """
    if dask_client is not None:
        yield dask_client
        return
    if not address:
        yield None
        return
    from shipyard.engine.cluster import connect

    with connect(address) as client:
        yield client


def run_tasks(
    func: Callable[..., Any],
    items: Sequence[Any],
    *args: Any,
    dask_client: DaskClient | None = None,
    name: str = "shipyard-part",
) -> Iterator[Any]:
    """``func(item, *args)`` for every item, yielded in item order.

    On a cluster every item is one task, submitted at once (the first items
    first), and each result is yielded as soon as it and every result before
    it are back; ``func`` must be importable by the workers (a module-level
    function) and its results small. The first error cancels the tasks left.
    Without a cluster the calls run here, one at a time.
    """
    if dask_client is None:
        for item in items:
            yield func(item, *args)
        return
    from distributed import as_completed

    token = uuid.uuid4().hex[:12]
    futures = [
        dask_client.submit(func, item, *args, key=f"{name}-{i:05d}-{token}", pure=False, priority=len(items) - i)
        for i, item in enumerate(items)
    ]
    position = {future.key: i for i, future in enumerate(futures)}
    ready: dict[int, Any] = {}
    following = 0
    try:
        for future in as_completed(futures):
            ready[position[future.key]] = future.result()
            future.release()
            while following in ready:
                yield ready.pop(following)
                following += 1
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            dask_client.cancel(pending)


def where(dask_client: DaskClient | None) -> str:
    """A few words on where tasks run, for progress messages."""
    if dask_client is None:
        return "in this process"
    workers = len(dask_client.scheduler_info().get("workers", {}))
    return f"on {workers} Dask worker{'s' if workers != 1 else ''}"


# -- statistics, validation, drift ------------------------------------------------------------


def part_statistics(
    source: Source,
    types: Mapping[str, str] | None = None,
    columns: Sequence[str] | None = None,
    batch_rows: int = BATCH_ROWS,
    schema: pa.Schema | None = None,
) -> dict[str, Any]:
    """The statistics of one part as JSON, read where it lives in batches, with ``schema``'s types (a task)."""
    return compute_statistics(source, types=types, columns=columns, batch_rows=batch_rows, schema=schema).to_json()


def _schema_task(source: str) -> pa.Schema:
    from shipyard.data.arrowtypes import source_schema

    return source_schema(source, dates_as_text=False)


def parts_schema(parts: Sequence[Source], dask_client: DaskClient | None = None) -> pa.Schema:
    """The column types of all the parts, settled before any part's statistics (one task per part).

    Every part is then read with the same type for a column, so the parts'
    statistics are of one type and merge: integers in one part and floats in
    another are floats; a column without a value in one part takes the type
    of the others; other conflicts are text (see :mod:`shipyard.data.arrowtypes`).
    """
    from shipyard.data.arrowtypes import settle_schemas

    schemas = run_tasks(_schema_task, [str(p) for p in parts], dask_client=dask_client, name="shipyard-schema")
    return settle_schemas(list(schemas))


def partitioned_statistics(
    parts: Sequence[Source],
    *,
    types: Mapping[str, str] | None = None,
    columns: Sequence[str] | None = None,
    address: str | None = None,
    dask_client: DaskClient | None = None,
    batch_rows: int = BATCH_ROWS,
    schema: pa.Schema | None = None,
) -> Statistics:
    """Statistics of a partitioned source: one task per part, merged in part order.

    Args:
        parts: the parts' paths or URLs (readable from the workers).
        types: feature types by column; default: those of the arrow types.
        columns: only these columns (default: all).
        address: a Dask scheduler (``tcp://HOST:PORT`` or ``local``); None runs here.
        dask_client: an open Dask client to use instead of ``address``.
        batch_rows: rows per batch each task reads at a time.
        schema: the arrow types to read the parts with; default: settled over
            all the parts first (:func:`parts_schema`).
    """
    with cluster(address, dask_client) as client:
        if schema is None:
            schema = parts_schema(parts, client)
        results = run_tasks(
            part_statistics, [str(p) for p in parts], dict(types or {}),
            list(columns) if columns is not None else None, batch_rows, schema,
            dask_client=client, name="shipyard-statistics",
        )
        return merge_statistics(Statistics.from_json(r) for r in results)


def partitioned_validation(
    parts: Sequence[Source],
    schema: Schema,
    *,
    split: str | None = None,
    address: str | None = None,
    dask_client: DaskClient | None = None,
) -> tuple[Statistics, ValidationResult]:
    """A partitioned source's statistics (with the schema's types) and its anomalies.

    Every check of a schema runs on statistics (counts of nulls, values out of
    range, unseen categories), so the parts' merged statistics are all it needs.
    """
    from shipyard.data.validation import schema_types, validate_statistics

    stats = partitioned_statistics(parts, types=schema_types(schema), address=address, dask_client=dask_client)
    return stats, validate_statistics(stats, schema, split=split)


def partitioned_drift(
    reference: Sequence[Source],
    current: Sequence[Source],
    *,
    config: DriftConfig | None = None,
    address: str | None = None,
    dask_client: DaskClient | None = None,
) -> tuple[Statistics, Statistics, DriftReport]:
    """Statistics of two partitioned sources and the drift between them.

    The column types of each side are settled over its parts first (one task
    per part); the current side's statistics are then computed with the
    reference's feature types, and the parts of both sides run as one batch
    of tasks.
    """
    from shipyard.data.drift import compare

    with cluster(address, dask_client) as client:
        schemas = list(
            run_tasks(_schema_task, [str(p) for p in [*reference, *current]], dask_client=client, name="shipyard-schema")
        )
        ref_schema = settle_schemas(schemas[: len(reference)])
        cur_schema = settle_schemas(schemas[len(reference):])
        types = schema_types(ref_schema)
        jobs = [(str(p), types, ref_schema) for p in reference] + [(str(p), types, cur_schema) for p in current]
        results = list(run_tasks(_typed_part_statistics, jobs, dask_client=client, name="shipyard-drift"))
        ref = merge_statistics(Statistics.from_json(r) for r in results[: len(reference)])
        cur = merge_statistics(Statistics.from_json(r) for r in results[len(reference):])
    return ref, cur, compare(ref, cur, config)


def _typed_part_statistics(job: tuple[str, Mapping[str, str], pa.Schema]) -> dict[str, Any]:
    source, types, schema = job
    return part_statistics(source, types, schema=schema)


__all__ = [
    "cluster",
    "part_statistics",
    "partition_files",
    "partitioned_drift",
    "partitioned_statistics",
    "partitioned_validation",
    "parts_schema",
    "run_tasks",
    "where",
]
