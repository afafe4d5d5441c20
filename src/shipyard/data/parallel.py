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

from shipyard.data.sources import FORMATS, DataError, Source, is_url, resolve_files
from shipyard.data.statistics import (
    BATCH_ROWS,
    Statistics,
    compute_statistics,
    merge_statistics,
)

if TYPE_CHECKING:
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
) -> dict[str, Any]:
    """The statistics of one part as JSON, read where it lives in batches (a task)."""
    return compute_statistics(source, types=types, columns=columns, batch_rows=batch_rows).to_json()


def parquet_types(parts: Sequence[Source]) -> dict[str, str] | None:
    """Column types from the Parquet footers of the parts (None when a part is not Parquet).

    A column that holds no value in one file (an arrow ``null`` column) takes
    its type from the files that have values, so every part's statistics of a
    column are of one type and merge.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from shipyard.data.sources import file_format, open_source

    if not parts or any(file_format(p) != "parquet" for p in parts):
        return None
    found: dict[str, pa.DataType] = {}
    for part in parts:
        with open_source(part) as fh:
            schema = pq.read_schema(fh)
        for field in schema:
            if field.name not in found or pa.types.is_null(found[field.name]):
                found[field.name] = field.type
    from shipyard.data.statistics import arrow_type

    return {name: arrow_type(kind) for name, kind in found.items() if not pa.types.is_null(kind)}


def partitioned_statistics(
    parts: Sequence[Source],
    *,
    types: Mapping[str, str] | None = None,
    columns: Sequence[str] | None = None,
    address: str | None = None,
    dask_client: DaskClient | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Statistics:
    """Statistics of a partitioned source: one task per part, merged in part order.

    Args:
        parts: the parts' paths or URLs (readable from the workers).
        types: feature types by column; default: from the Parquet footers, else
            each part's arrow types.
        columns: only these columns (default: all).
        address: a Dask scheduler (``tcp://HOST:PORT`` or ``local``); None runs here.
        dask_client: an open Dask client to use instead of ``address``.
        batch_rows: rows per batch each task reads at a time.
    """
    if types is None:
        types = parquet_types(parts)
    with cluster(address, dask_client) as client:
        results = run_tasks(
            part_statistics, [str(p) for p in parts], dict(types or {}),
            list(columns) if columns is not None else None, batch_rows,
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

    The current side is read with the reference's column types. When those
    come from the reference's Parquet footers, the parts of both sides run as
    one batch of tasks; otherwise the reference's parts run first.
    """
    from shipyard.data.drift import compare

    ref_types = parquet_types(reference)
    with cluster(address, dask_client) as client:
        if ref_types is None:
            ref = partitioned_statistics(reference, dask_client=client)
            types = {name: column.type for name, column in ref.columns.items()}
            cur = partitioned_statistics(current, types=types, dask_client=client)
        else:
            jobs = [(str(p), ref_types) for p in reference] + [(str(p), ref_types) for p in current]
            results = list(run_tasks(_typed_part_statistics, jobs, dask_client=client, name="shipyard-drift"))
            ref = merge_statistics(Statistics.from_json(r) for r in results[: len(reference)])
            cur = merge_statistics(Statistics.from_json(r) for r in results[len(reference):])
    return ref, cur, compare(ref, cur, config)


def _typed_part_statistics(job: tuple[str, Mapping[str, str] | None]) -> dict[str, Any]:
    source, types = job
    return part_statistics(source, types)


__all__ = [
    "cluster",
    "parquet_types",
    "part_statistics",
    "partition_files",
    "partitioned_drift",
    "partitioned_statistics",
    "partitioned_validation",
    "run_tasks",
    "where",
]
