"""``shipyard.ml.parallel_predict`` provides batch prediction over many files, part by part.

``shipyard predict RUN --input 'data/*.parquet'`` (a glob, a folder or a
partitioned dataset version) scores each input part as one task, through the
same :class:`~shipyard.bundle.bundle.Predictor` and chunked reading as a single
file (:func:`shipyard.ml.predict.predict_rows`):

* with a Dask cluster (``address``), each worker loads the bundle once from its
  folder (the artifact store's copy, or a bundle folder), reads its parts where
  they are, writes their predictions itself and sends back only a summary and
  the part's feature statistics;
* without one, the parts are scored one after another in this process.

The output is either

* **one file** (``preds.parquet``, ``.csv`` or ``.jsonl``): the parts'
  predictions in input order, as if the input were one file; or
* **a folder of parts** (a path without an extension): ``part-00000.parquet``...,
  one per input part, in the same order with the same rows. An existing
  folder is replaced only when it holds nothing but such parts (an earlier
  output); a folder holding anything else, the current folder (``.``) or a
  folder that holds it is refused.

Parts are first written into a hidden folder next to the output and the
output appears only when every part is done (the folder renamed into place,
or the parts joined into a temporary file that is renamed), so a failed or
interrupted run leaves nothing half-written at the output's path. The input's
statistics are merged in part order and checked once against the bundle's
schema and training statistics, as for one file.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.data.parallel import cluster, run_tasks, where
from shipyard.data.sources import DataError, Source, file_format, is_url
from shipyard.ml.predict import BatchSummary, input_checks, predict_rows

if TYPE_CHECKING:
    from distributed import Client as DaskClient

    from shipyard.bundle.bundle import Predictor

#: File name of the i-th part in a folder output.
PART_NAME = "part-{index:05d}.parquet"
_PART_FILE = re.compile(r"^part-\d{5,}\.parquet$")
_local = threading.local()


def output_is_folder(output: Path) -> bool:
    """True when ``output`` names a folder of parts: no file extension, or an existing folder."""
    return output.is_dir() or not output.suffix


def _predictor_on_worker(bundle_folder: str, trust: bool, project_dir: str | None) -> Predictor:
    """The bundle's predictor, loaded once per worker thread (a worker scores many parts)."""
    from shipyard.bundle.bundle import Predictor
    from shipyard.bundle.io import load_bundle_folder

    key = (bundle_folder, trust)
    cached = getattr(_local, "predictor", None)
    if cached is None or cached[0] != key:
        if project_dir and project_dir not in sys.path:
            # The bundle's custom steps are the project's own code, imported from there.
            sys.path.insert(0, project_dir)
        cached = (key, Predictor(load_bundle_folder(Path(bundle_folder), trust=trust)))
        _local.predictor = cached
    return cached[1]


def _score(
    predictor: Predictor,
    index: int,
    source: str,
    target: Path | None,
    keep: Sequence[str],
    chunk_rows: int,
    head_rows: int,
) -> dict[str, Any]:
    summary, seen = predict_rows(predictor, source, target, keep=keep, chunk_rows=chunk_rows, head_rows=head_rows)
    return {
        "rows": summary.rows,
        "extra_columns": summary.extra_columns,
        "unseen": summary.unseen,
        "head": summary.head if index == 0 else None,
        "statistics": seen.to_json() if seen is not None else None,
    }


def score_part(
    job: tuple[int, str, str | None],
    bundle_folder: str,
    trust: bool,
    keep: Sequence[str],
    chunk_rows: int,
    head_rows: int,
    project_dir: str | None,
) -> dict[str, Any]:
    """Score one input part on a worker; write its predictions to the job's target (a task)."""
    index, source, target = job
    predictor = _predictor_on_worker(bundle_folder, trust, project_dir)
    return _score(predictor, index, source, Path(target) if target else None, keep, chunk_rows, head_rows)


def predict_parts(
    predictor: Predictor,
    parts: Sequence[Source],
    output: Path | None,
    *,
    bundle_folder: Path | None = None,
    trust: bool = False,
    keep: Sequence[str] = (),
    chunk_rows: int = 100_000,
    head_rows: int = 10,
    address: str | None = None,
    dask_client: DaskClient | None = None,
    progress: Callable[[str], None] | None = None,
) -> BatchSummary:
    """Predict every row of several input parts; write one file or a folder of parts.

    Args:
        predictor: the bundle's predictor (scores here; checks the input).
        parts: the input files (paths or URLs), in order.
        output: a ``.parquet``/``.csv``/``.jsonl`` file, a folder (a path
            without an extension), or None to keep only the first rows.
        bundle_folder: the bundle's folder, which workers load it from (needed
            with a cluster).
        trust: let the workers load types outside the trusted list.
        keep: input columns copied next to the predictions.
        chunk_rows: rows read and predicted at a time.
        head_rows: rows of predictions kept in the summary.
        address: a Dask scheduler (``tcp://HOST:PORT`` or ``local``); None scores here.
        dask_client: an open Dask client to use instead of ``address``.
        progress: called with a short message at each stage.

    Raises:
        DataError: for an unreadable input, a bad output path, or a ``keep``
            column a part lacks.
        InputError: for rows that do not fit the model's input schema.
    """
    say = progress or (lambda _: None)
    sources = [str(p) for p in parts]
    if not sources:
        raise DataError("No input file to predict.")
    folder_output = output is not None and output_is_folder(output)
    if output is not None:
        _check_output(output, sources, folder_output)
    part_fmt = "parquet" if folder_output else (file_format(output) if output is not None else None)
    staging = None
    if output is not None:
        staging = output.parent / f".{output.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.parts"
        staging.mkdir()
    jobs = [
        (i, source, str(staging / _part_name(i, part_fmt)) if staging is not None else None)
        for i, source in enumerate(sources)
    ]
    summary = BatchSummary(output=output)
    seen = None
    try:
        with cluster(address, dask_client) as client:
            say(f"predicting {len(sources)} parts {where(client)}")
            if client is None:
                results = (
                    _score(predictor, i, source, Path(target) if target else None, keep, chunk_rows, head_rows)
                    for i, source, target in jobs
                )
            else:
                if bundle_folder is None:
                    raise DataError("Scoring on a cluster needs the bundle's folder, for the workers to load it.")
                results = run_tasks(
                    score_part, jobs, str(bundle_folder), trust, list(keep), chunk_rows, head_rows,
                    os.getcwd(), dask_client=client, name="shipyard-predict",
                )
            rows_per_part = []
            for result in results:
                seen = _merge(summary, result, seen)
                rows_per_part.append(result["rows"])
        if seen is not None:
            summary.validation, summary.drift = input_checks(seen, predictor)
        if output is not None and staging is not None:
            if folder_output:
                _publish_folder(staging, output)
            else:
                say(f"joining {len(jobs)} parts into {output.name}")
                _join(staging, [Path(j[2]) for j in jobs if j[2]], rows_per_part, output, part_fmt)
    finally:
        if staging is not None and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return summary


def _part_name(index: int, fmt: str | None) -> str:
    if fmt == "parquet" or fmt is None:
        return PART_NAME.format(index=index)
    return f"part-{index:05d}.{fmt}"


def check_output_path(output: Path) -> None:
    """Refuse an output path that names the current folder or one holding it (``.``, ``..``).

    Raises:
        DataError: for such a path.
    """
    here = Path.cwd().resolve()
    target = output.resolve()
    if output.name in ("", ".", "..") or target == here or target in here.parents:
        raise DataError(
            f"The output {output} is the current folder or one that holds it; predictions go "
            "to a new file or folder.",
            hint="Give a file name ending in .parquet, .csv or .jsonl, or a new folder name.",
        )


def is_previous_output(folder: Path) -> bool:
    """True for a folder holding only the parts of an earlier folder output (or nothing)."""
    return all(_PART_FILE.match(p.name) and p.is_file() and not p.is_symlink() for p in folder.iterdir())


def _check_output(output: Path, sources: Sequence[str], folder_output: bool) -> None:
    check_output_path(output)
    if folder_output and output.exists():
        if not output.is_dir():
            raise DataError(f"{output} is a file; a folder output needs a folder path.")
        if not is_previous_output(output):
            raise DataError(
                f"The output folder {output} holds files other than the parts of earlier "
                "predictions (part-00000.parquet...); it is left as it is.",
                hint="Give a new (or empty) folder, or a file name ending in .parquet, .csv or .jsonl.",
            )
    if not output.parent.is_dir():
        raise DataError(f"The folder of {output} does not exist.")
    if not folder_output:
        file_format(output)
    here = {Path(s).resolve() for s in sources if not is_url(s)}
    if output.resolve() in here:
        raise DataError(f"The output {output} is one of the input files; choose another file.")
    if folder_output and any(output.resolve() in p.parents for p in here):
        raise DataError(f"The output folder {output} holds input files; choose another folder.")


def _merge(summary: BatchSummary, result: dict[str, Any], seen: Any) -> Any:
    """Add one part's result to the summary; return the input statistics so far."""
    from shipyard.data.statistics import Statistics

    summary.rows += result["rows"]
    for column in result["extra_columns"]:
        if column not in summary.extra_columns:
            summary.extra_columns.append(column)
    for column, count in result["unseen"].items():
        summary.unseen[column] = summary.unseen.get(column, 0) + count
    if summary.head is None and result["head"] is not None:
        summary.head = result["head"]
    if result["statistics"] is None:
        return seen
    part = Statistics.from_json(result["statistics"])
    return part if seen is None else seen.merge(part)


def _publish_folder(staging: Path, output: Path) -> None:
    """Rename the finished parts folder into place.

    An existing output folder is replaced only when it holds nothing but the
    parts of earlier predictions (checked again once it is moved aside, so a
    file added meanwhile is never deleted); anything else is refused.
    """
    if output.exists() and not output.is_dir():
        raise DataError(f"{output} is a file; a folder output needs a folder path.")
    old = None
    if output.exists():
        old = output.with_name(f".{output.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.old")
        os.rename(output, old)
        if not is_previous_output(old):
            os.rename(old, output)
            raise DataError(
                f"The output folder {output} holds files other than the parts of earlier "
                "predictions; it is left as it is.",
                hint="Give a new (or empty) folder, or a file name ending in .parquet, .csv or .jsonl.",
            )
    try:
        os.rename(staging, output)
    except OSError:
        if old is not None:
            os.rename(old, output)
        raise
    if old is not None:
        for part in old.iterdir():
            if _PART_FILE.match(part.name):
                part.unlink()
        with contextlib.suppress(OSError):  # not empty: a file added meanwhile stays
            old.rmdir()


def _join(staging: Path, files: Sequence[Path], rows: Sequence[int], output: Path, fmt: str | None) -> None:
    """The parts' predictions, in order, as one file; renamed into place when complete."""
    tmp = staging / f".joined.{fmt}"
    with_rows = [f for f, n in zip(files, rows, strict=True) if n > 0]
    if not with_rows:
        shutil.copyfile(files[0], tmp)  # an empty input: the empty output of the first part
    elif fmt == "parquet":
        _join_parquet(with_rows, tmp)
    else:
        with open(tmp, "wb") as out:
            for i, path in enumerate(with_rows):
                with open(path, "rb") as part:
                    if fmt == "csv" and i > 0:
                        part.readline()  # each part repeats the header
                    shutil.copyfileobj(part, out, 16 << 20)
    os.replace(tmp, output)


def _join_parquet(files: Sequence[Path], target: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schemas = [pq.read_schema(f) for f in files]
    try:
        schema = pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        schema = schemas[0]
    schema = schema.remove_metadata()
    with pq.ParquetWriter(target, schema) as writer:
        for path in files:
            part = pq.ParquetFile(path)
            for batch in part.iter_batches():
                table = pa.Table.from_batches([batch]).select(schema.names).cast(schema)
                writer.write_table(table)


__all__ = ["PART_NAME", "check_output_path", "is_previous_output", "output_is_folder", "predict_parts", "score_part"]
