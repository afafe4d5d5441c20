"""``shipyard.data.sources`` provides reading tabular sources and fingerprinting them.

Sources are CSV, Parquet or JSON-lines files — a path, a glob, or any fsspec
URL such as ``s3://bucket/trips/*.parquet`` — and SQL queries against any
SQLAlchemy URL. The fingerprint of files (sha256 of their bytes; for object
storage, of their size and ETag or modification time) keys the ingest step's
cache: data that did not change is not read again.
"""

from __future__ import annotations

import contextlib
import csv
import glob as globlib
import hashlib
import io
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    import pandas as pd

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}
Source = Path | str


class DataError(ShipyardError):
    """Data that cannot be read, or lacks what the pipeline needs."""

    headline = "Data problem"


def is_url(text: str | Path) -> bool:
    """True for an fsspec URL (``s3://...``, ``memory://...``), not a local path."""
    return "://" in str(text) and not str(text).startswith("file://")


def _fs(url: str) -> tuple[Any, str]:
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as exc:
        raise DataError(
            f"Reading {url!r} needs a package that is not installed: {exc}.",
            hint="Install fsspec's package for it (s3fs for s3://, gcsfs for gs://).",
        ) from exc


def resolve_files(pattern: str, base: Path) -> list[Source]:
    """Files matching a path, glob or URL (relative paths: to ``base``), sorted.

    Raises:
        DataError: when nothing matches.
    """
    if pattern.startswith("file://"):
        pattern = pattern[len("file://"):]
    if is_url(pattern):
        fs, path = _fs(pattern)
        matches = sorted(m for m in fs.glob(path) if fs.isfile(m)) if fs.exists(path) or any(
            ch in path for ch in "*?["
        ) else []
        if not matches:
            raise DataError(f"No file matches {pattern!r}.")
        return [fs.unstrip_protocol(m) for m in matches]
    full = pattern if Path(pattern).is_absolute() else str(base / pattern)
    files = sorted(Path(p) for p in globlib.glob(full, recursive=True) if Path(p).is_file())
    if not files:
        raise DataError(f"No file matches {pattern!r} (looked in {base}).")
    return list(files)


def file_format(path: Source) -> str:
    """``csv``, ``parquet`` or ``jsonl`` from the file name.

    Raises:
        DataError: for another extension.
    """
    suffix = os.path.splitext(str(path))[1].lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        found = f"unknown data format {suffix!r}" if suffix else "no file extension"
        raise DataError(f"{path}: {found}; data files are .csv, .parquet or .jsonl.")
    return fmt


@contextlib.contextmanager
def open_source(source: Source, mode: str = "rb") -> Iterator[IO[Any]]:
    """Open a local file or an fsspec URL."""
    if is_url(source):
        import fsspec

        with fsspec.open(str(source), mode) as fh:
            yield fh
    else:
        with open(source, mode) as fh:
            yield fh


def fingerprint(files: Sequence[Source]) -> str:
    """sha256 over the files' names and bytes (remote files: name, size and ETag/mtime)."""
    digest = hashlib.sha256()
    for source in files:
        digest.update(os.path.basename(str(source)).encode() + b"\0")
        if is_url(source):
            fs, path = _fs(str(source))
            info = fs.info(path)
            marks = {k: str(info[k]) for k in ("size", "ETag", "etag", "mtime", "LastModified", "created") if k in info}
            if set(marks) <= {"size"}:
                digest.update(fs.cat_file(path))
            else:
                digest.update(repr(sorted(marks.items())).encode())
        else:
            with open(source, "rb") as fh:
                digest.update(hashlib.file_digest(fh, "sha256").digest())
    return digest.hexdigest()


def header(path: Source) -> list[str]:
    """Column names of a file, read without loading the data."""
    fmt = file_format(path)
    with open_source(path) as fh:
        if fmt == "csv":
            return next(csv.reader(io.TextIOWrapper(fh, encoding="utf-8", newline="")), [])
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(fh).names)
        import json

        first = fh.readline()
    return list(json.loads(first)) if first.strip() else []


def _read_one(source: Source) -> pd.DataFrame:
    import pandas as pd

    fmt = file_format(source)
    with open_source(source) as fh:
        if fmt == "csv":
            return pd.read_csv(fh, low_memory=False)
        if fmt == "parquet":
            return pd.read_parquet(fh)
        return pd.read_json(fh, lines=True)


def read_table(files: Sequence[Source]) -> pd.DataFrame:
    """Read and concatenate the files into one DataFrame.

    Raises:
        DataError: when a file cannot be parsed or the files' columns differ.
    """
    import pandas as pd

    frames = []
    for path in files:
        try:
            frames.append(_read_one(path))
        except (ValueError, OSError, pd.errors.ParserError) as exc:
            raise DataError(f"Cannot read {path}: {exc}") from exc
    if len(frames) > 1:
        first = list(frames[0].columns)
        for path, frame in zip(files[1:], frames[1:], strict=True):
            if list(frame.columns) != first:
                raise DataError(
                    f"{os.path.basename(str(path))} has columns {list(frame.columns)}, but "
                    f"{os.path.basename(str(files[0]))} has {first}; the files of one source "
                    "must share their columns."
                )
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


_PASSWORD = re.compile(r"^[\w+.-]+://[^:/@]+:(?P<password>[^@]+)@")


def check_sql_url(url: str) -> None:
    """Refuse a database URL with a literal password (it would be recorded with the run).

    Raises:
        DataError: naming how to pass the password instead.
    """
    match = _PASSWORD.match(url)
    secret = match["password"] if match else None
    query = re.search(r"[?&](password|passwd|pwd)=([^&]+)", url, flags=re.IGNORECASE)
    secret = secret or (query.group(2) if query else None)
    if secret and not re.fullmatch(r"\$\{?\w+\}?", secret):
        raise DataError(
            "The database URL holds a password; it would be stored with the run's config.",
            hint="Put it in an environment variable and write e.g. "
            "postgresql://user:${DB_PASSWORD}@host/db (or the whole URL: ${SHOP_DB_URL}).",
        )


def read_sql(query: str, url: str) -> pd.DataFrame:
    """Run a SQL query against a SQLAlchemy URL (``${VAR}`` read from the environment).

    Raises:
        DataError: when a variable is unset, or the database cannot be reached or queried.
    """
    import pandas as pd
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    missing = [name for name in re.findall(r"\$\{?(\w+)\}?", url) if name not in os.environ]
    if missing:
        raise DataError(f"The database URL needs environment variable(s) {', '.join(missing)}, which are not set.")
    resolved = os.path.expandvars(url)
    try:
        engine = create_engine(resolved)
        with engine.connect() as conn:
            frame = pd.read_sql_query(text(query), conn)
        engine.dispose()
    except (SQLAlchemyError, ImportError) as exc:
        reason = getattr(exc, "orig", None) or exc
        raise DataError(f"The SQL source failed ({url}): {reason}") from exc
    return frame


#: Text read as true and false in boolean columns (after trimming and lowercasing).
TRUE_WORDS = frozenset({"true", "yes", "y", "t", "1", "1.0"})
FALSE_WORDS = frozenset({"false", "no", "n", "f", "0", "0.0"})


def parse_dates(values: pd.Series) -> pd.Series:
    """Date strings as datetimes (unparseable: NaT).

    Mixed UTC offsets (an export spanning a daylight-saving change) are read as
    UTC; otherwise the values keep their own clock.
    """
    import pandas as pd

    try:
        return pd.to_datetime(values, errors="coerce", format="mixed")
    except (ValueError, TypeError):
        return pd.to_datetime(values, errors="coerce", format="mixed", utc=True)


def to_datetime(series: pd.Series) -> pd.Series:
    """Dates from datetimes, date strings, or Unix seconds (unparseable: NaT)."""
    import pandas as pd
    from pandas.api import types as pt

    if pt.is_datetime64_any_dtype(series):
        return series
    if pt.is_numeric_dtype(series):
        return pd.to_datetime(series, unit="s", errors="coerce")
    return parse_dates(series)


def iter_chunks(
    path: Source, rows: int, *, text_columns: Sequence[str] = ()
) -> Iterator[pd.DataFrame]:
    """Read a file in chunks of about ``rows`` rows (for files larger than memory).

    Args:
        path: a CSV, Parquet or JSON-lines file or URL.
        rows: rows per chunk.
        text_columns: columns read as text as they are written (``"01"`` stays
            ``"01"``), e.g. the categorical columns a model expects.

    Raises:
        DataError: when the file is empty, malformed or cannot be read.
    """
    import pandas as pd

    fmt = file_format(path)
    if not is_url(path) and Path(path).is_dir():
        raise DataError(f"{path} is a folder; give a file.")
    try:
        with open_source(path) as fh:
            if fmt == "csv":
                dtype = dict.fromkeys(text_columns, str)
                yield from pd.read_csv(fh, chunksize=rows, low_memory=False, dtype=dtype or None)
            elif fmt == "parquet":
                import pyarrow.parquet as pq

                for batch in pq.ParquetFile(fh, pre_buffer=False).iter_batches(batch_size=rows):
                    yield batch.to_pandas()
            else:
                # Keep values as written: no guessing of dates or numbers from text.
                yield from pd.read_json(
                    fh, lines=True, chunksize=rows, dtype=False, convert_dates=False
                )
    except FileNotFoundError:
        raise DataError(f"{path} does not exist.") from None
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"Cannot read {path}: {exc}") from exc


__all__ = [
    "FALSE_WORDS",
    "TRUE_WORDS",
    "DataError",
    "check_sql_url",
    "file_format",
    "fingerprint",
    "header",
    "is_url",
    "iter_chunks",
    "open_source",
    "parse_dates",
    "read_sql",
    "read_table",
    "resolve_files",
    "to_datetime",
]
