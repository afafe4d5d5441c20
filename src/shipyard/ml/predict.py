"""``shipyard.ml.predict`` provides batch prediction over files of any size.

Rows are read in chunks, passed through the bundle's ``Predictor`` (the same
code path as evaluation and serving) and appended to the output, which is
written to a temporary file and renamed into place when complete. The
chunks' statistics are merged as they go: at the end the input is validated
against the bundle's schema and compared with its training statistics.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.data.sources import DataError, file_format, is_url, iter_chunks

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.bundle.bundle import Predictor
    from shipyard.data.statistics import Statistics


@dataclass
class BatchSummary:
    """What a batch prediction did, and what the input looked like.

    ``validation`` checks the input against the bundle's schema and ``drift``
    compares it with the training statistics (both JSON, None for bundles that
    carry neither).
    """

    rows: int = 0
    output: Path | None = None
    extra_columns: list[str] = field(default_factory=list)
    unseen: dict[str, int] = field(default_factory=dict)
    head: Any = None
    validation: dict[str, Any] | None = None
    drift: dict[str, Any] | None = None


def predict_file(
    predictor: Predictor,
    source: Path | str,
    output: Path | None,
    *,
    keep: Sequence[str] = (),
    chunk_rows: int = 100_000,
    head_rows: int = 10,
) -> BatchSummary:
    """Predict every row of ``source``; write them to ``output`` (CSV or Parquet).

    Args:
        predictor: the bundle's predictor.
        source: a CSV, Parquet or JSON-lines file (a path or an fsspec URL).
        output: where predictions go; None keeps only the first rows (``head``).
        keep: input columns copied next to the predictions (e.g. an id).
        chunk_rows: rows per chunk.
        head_rows: rows of predictions kept in the summary.

    Raises:
        DataError: for an unreadable input or a ``keep`` column it lacks.
        InputError: for rows that do not fit the model's input schema.
    """
    summary, seen = predict_rows(predictor, source, output, keep=keep, chunk_rows=chunk_rows, head_rows=head_rows)
    if seen is not None:
        summary.validation, summary.drift = input_checks(seen, predictor)
    return summary


def predict_rows(
    predictor: Predictor,
    source: Path | str,
    output: Path | None,
    *,
    keep: Sequence[str] = (),
    chunk_rows: int = 100_000,
    head_rows: int = 10,
) -> tuple[BatchSummary, Statistics | None]:
    """:func:`predict_file` without the input's checks: the summary and the input's statistics.

    The statistics (of the bundle's features, None when the bundle carries
    neither schema nor training statistics) merge with those of other files,
    so the checks can run once over many files (:func:`input_checks`).
    """
    import pandas as pd

    remote = is_url(source)
    if not remote:
        source = Path(source)
        if not source.exists():
            raise DataError(f"Input file {source} does not exist.")
        if not source.is_file():
            raise DataError(f"{source} is not a file.")
    name = str(source).rstrip("/").rsplit("/", 1)[-1] if remote else Path(source).name
    fmt = file_format(output) if output is not None else None
    if output is not None:
        if not remote and output.resolve() == Path(source).resolve():
            raise DataError(f"The output {output} is the input file; choose another file.")
        if not output.parent.is_dir():
            raise DataError(f"The folder of {output} does not exist.")
    text_columns = [
        name for name, kind in predictor.bundle.features.items()
        if kind in ("categorical", "text", "boolean")
    ]
    summary = BatchSummary(output=output)
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp") if output is not None else None
    writer: Any = None
    offset = 0
    seen: Statistics | None = None
    try:
        for chunk in iter_chunks(source, chunk_rows, text_columns=text_columns):
            if chunk.empty:
                continue
            missing = [c for c in keep if c not in chunk.columns]
            if missing:
                raise DataError(f"--keep column(s) {missing} are not in {name}.")
            chunk.index = pd.RangeIndex(offset, offset + len(chunk))
            frame = predictor.predict_frame(chunk)
            seen = _observe(seen, chunk, predictor)
            frame = pd.concat([chunk[list(keep)], frame], axis=1) if keep else frame
            _merge_report(summary, predictor)
            summary.rows += len(frame)
            offset += len(chunk)
            if summary.head is None:
                summary.head = frame.head(head_rows)
            if tmp is not None:
                writer = _write(frame, tmp, fmt, writer)
        if writer is not None and fmt == "parquet":
            writer.close()
            writer = None
        if tmp is not None and output is not None:
            if not tmp.exists():
                _empty(tmp, fmt)
            os.replace(tmp, output)
    finally:
        if writer is not None and fmt == "parquet":
            writer.close()
        if tmp is not None and tmp.exists():
            tmp.unlink()
    return summary, seen


def _observe(seen: Statistics | None, chunk: pd.DataFrame, predictor: Predictor) -> Statistics | None:
    """Add a chunk's feature statistics to what was seen so far."""
    from shipyard.data.statistics import compute_statistics

    bundle = predictor.bundle
    if bundle.data_schema is None and bundle.statistics is None:
        return None
    columns = [c for c in bundle.features if c in chunk.columns]
    part = compute_statistics(chunk[columns], types=dict(bundle.features))
    return part if seen is None else seen.merge(part)


def input_checks(seen: Statistics, predictor: Predictor) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The input's anomalies against the bundle's schema and its drift from training (JSON)."""
    from shipyard.data.drift import compare
    from shipyard.data.schema import schema_from_json
    from shipyard.data.statistics import Statistics
    from shipyard.data.validation import validate_statistics

    bundle = predictor.bundle
    validation = drift = None
    if bundle.data_schema is not None:
        validation = validate_statistics(seen, schema_from_json(bundle.data_schema), split="input").to_json()
    if bundle.statistics is not None:
        drift = compare(Statistics.from_json(bundle.statistics), seen).to_json()
    return validation, drift


def _merge_report(summary: BatchSummary, predictor: Predictor) -> None:
    report = predictor.report
    for column in report.extra_columns:
        if column not in summary.extra_columns:
            summary.extra_columns.append(column)
    for column, count in report.unseen.items():
        summary.unseen[column] = summary.unseen.get(column, 0) + count


def _write(frame: pd.DataFrame, path: Path, fmt: str | None, writer: Any) -> Any:
    if fmt == "csv":
        frame.to_csv(path, mode="a", header=writer is None, index=False)
        return True
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table.cast(writer.schema))
        return writer
    frame.to_json(path, orient="records", lines=True, mode="a")
    return True


def _empty(path: Path, fmt: str | None) -> None:
    """An output for an input without rows: readable, with the prediction column."""
    import pandas as pd

    empty = pd.DataFrame({"prediction": pd.Series([], dtype=object)})
    if fmt == "parquet":
        empty.to_parquet(path, index=False)
    elif fmt == "csv":
        path.write_text("prediction\n")
    else:
        path.write_text("")


__all__ = ["BatchSummary", "input_checks", "predict_file", "predict_rows"]
