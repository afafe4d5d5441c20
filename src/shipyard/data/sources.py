"""``shipyard.data.sources`` provides reading tabular sources and fingerprinting them.

Sources are CSV, Parquet or JSON-lines files, given as a path or a glob. The
fingerprint (sha256 of the files' bytes) keys the ingest step's cache: data
that did not change is not read again.
"""

from __future__ import annotations

import csv
import glob as globlib
import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    import pandas as pd

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}


class DataError(ShipyardError):
    """Data that cannot be read, or lacks what the pipeline needs."""

    headline = "Data problem"


def resolve_files(pattern: str, base: Path) -> list[Path]:
    """Files matching a path or glob, relative to ``base``, sorted.

    Raises:
        DataError: when nothing matches.
    """
    full = pattern if Path(pattern).is_absolute() else str(base / pattern)
    files = sorted(Path(p) for p in globlib.glob(full, recursive=True) if Path(p).is_file())
    if not files:
        raise DataError(f"No file matches {pattern!r} (looked in {base}).")
    return files


def file_format(path: Path) -> str:
    """``csv``, ``parquet`` or ``jsonl`` from the file name.

    Raises:
        DataError: for another extension.
    """
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"{path.name}: unknown data format {path.suffix!r}; use .csv, .parquet or .jsonl."
        )
    return fmt


def fingerprint(files: Sequence[Path]) -> str:
    """sha256 over the files' names (within their folder) and bytes."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as fh:
            digest.update(hashlib.file_digest(fh, "sha256").digest())
    return digest.hexdigest()


def header(path: Path) -> list[str]:
    """Column names of a file, read without loading the data."""
    fmt = file_format(path)
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as fh:
            return next(csv.reader(fh), [])
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    import json

    with path.open(encoding="utf-8") as fh:
        first = fh.readline()
    return list(json.loads(first)) if first.strip() else []


def read_table(files: Sequence[Path]) -> pd.DataFrame:
    """Read and concatenate the files into one DataFrame.

    Raises:
        DataError: when a file cannot be parsed or the files' columns differ.
    """
    import pandas as pd

    frames = []
    for path in files:
        fmt = file_format(path)
        try:
            if fmt == "csv":
                frames.append(pd.read_csv(path, low_memory=False))
            elif fmt == "parquet":
                frames.append(pd.read_parquet(path))
            else:
                frames.append(pd.read_json(path, lines=True))
        except (ValueError, OSError, pd.errors.ParserError) as exc:
            raise DataError(f"Cannot read {path}: {exc}") from exc
    if len(frames) > 1:
        first = list(frames[0].columns)
        for path, frame in zip(files[1:], frames[1:], strict=True):
            if list(frame.columns) != first:
                raise DataError(
                    f"{path.name} has columns {list(frame.columns)}, but {files[0].name} has "
                    f"{first}; the files of one source must share their columns."
                )
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def to_datetime(series: pd.Series) -> pd.Series:
    """Dates from datetimes, date strings, or Unix seconds (unparseable: NaT)."""
    import pandas as pd
    from pandas.api import types as pt

    if pt.is_datetime64_any_dtype(series):
        return series
    if pt.is_numeric_dtype(series):
        return pd.to_datetime(series, unit="s", errors="coerce")
    return pd.to_datetime(series, errors="coerce", format="mixed")


def iter_chunks(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    """Read a file in chunks of about ``rows`` rows (for files larger than memory)."""
    import pandas as pd

    fmt = file_format(path)
    if fmt == "csv":
        yield from pd.read_csv(path, chunksize=rows, low_memory=False)
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
            yield batch.to_pandas()
    else:
        yield from pd.read_json(path, lines=True, chunksize=rows)


__all__ = [
    "DataError",
    "file_format",
    "fingerprint",
    "header",
    "iter_chunks",
    "read_table",
    "resolve_files",
    "to_datetime",
]
