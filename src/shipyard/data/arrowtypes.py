"""``shipyard.data.arrowtypes`` settles the column types of data files and reads them with those types.

Several files read as one table (a glob, a folder, a partitioned dataset)
must agree on each column's type, or their parts would be stored, hashed and
summarised differently. The types are settled before any part is read:

* :func:`source_schema` gives one file's types over *all* its rows: a
  Parquet file's footer; a CSV file read to its end (pyarrow infers the types
  from the first block, so a later value that does not fit, such as ``1.5``
  in a column of integers or a value in a column empty so far, widens that
  column's type and the file is read again); a JSON-lines file read whole;
* :func:`unify_schemas` (the files must share their columns) and
  :func:`settle_schemas` (columns matched by name) combine the files' types:
  integers and floats become floats, a column without any value takes the
  type of the files that have values, and other conflicts become text;
* :func:`file_batches` reads a file's record batches with a settled schema.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from shipyard.data.sources import DataError, Source, file_format, open_source

if TYPE_CHECKING:
    import pyarrow as pa

#: Bytes of CSV parsed at a time (pyarrow's block; the first one also sets the
#: types pyarrow infers, which :func:`source_schema` widens when later blocks need it).
CSV_BLOCK_BYTES = 64 << 20
_INDEX_COLUMN = re.compile(r"^__index_level_\d+__$")
_CONVERSION_ERROR = re.compile(
    r"In CSV column #(?P<column>\d+): (?:Row #\d+: )?CSV conversion error to [^:]*: invalid value '(?P<value>.*)'\Z",
    re.S,
)


def plain_type(kind: pa.DataType) -> pa.DataType:
    """Dictionary-encoded columns count as their values' type."""
    import pyarrow as pa

    return kind.value_type if pa.types.is_dictionary(kind) else kind


def csv_options(column_types: dict[str, pa.DataType] | None = None) -> tuple[Any, Any]:
    """pyarrow's CSV read and convert options: blocks of :data:`CSV_BLOCK_BYTES`; empty cells are nulls."""
    import pyarrow.csv as pcsv

    read = pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES)
    convert = pcsv.ConvertOptions(strings_can_be_null=True, column_types=column_types or {})
    return read, convert


def widen(current: pa.DataType, other: pa.DataType) -> pa.DataType:
    """A type holding the values of both: null takes the other; int and float give float; else text."""
    import pyarrow as pa

    if pa.types.is_null(current):
        return other
    if pa.types.is_null(other) or current == other:
        return current
    try:
        return pa.unify_schemas(
            [pa.schema([pa.field("c", current)]), pa.schema([pa.field("c", other)])], promote_options="permissive"
        ).field(0).type
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.string()  # e.g. numbers in one file and text in another


def _value_type(value: str) -> pa.DataType:
    """The type pyarrow's CSV reader gives a column holding only ``value``."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["v"])
    writer.writerow([value])
    try:
        kind = pcsv.read_csv(
            io.BytesIO(text.getvalue().encode("utf-8")),
            convert_options=pcsv.ConvertOptions(strings_can_be_null=True),
        ).schema.field(0).type
    except pa.ArrowException:
        return pa.string()
    return pa.string() if pa.types.is_null(kind) else kind


def _csv_schema(source: Source) -> pa.Schema:
    """A CSV file's types over all its rows, widened where a later block needs it."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    fixed: dict[str, pa.DataType] = {}
    while True:
        read, convert = csv_options(fixed)
        with open_source(source) as fh:
            reader = pcsv.open_csv(fh, read_options=read, convert_options=convert)
            schema = reader.schema
            try:
                for _ in reader:
                    pass
                return schema
            except pa.ArrowInvalid as exc:
                found = _CONVERSION_ERROR.match(str(exc))
                if found is None or int(found["column"]) >= len(schema):
                    raise
                field = schema.field(int(found["column"]))
                if field.type == pa.string():
                    raise  # text takes any value: something else is wrong
                wider = widen(field.type, _value_type(found["value"]))
                fixed[field.name] = wider if wider != field.type else pa.string()


def source_schema(source: Source, *, dates_as_text: bool = True) -> pa.Schema:
    """The columns and types of all a file's rows (a task).

    Parquet: its footer. CSV: pyarrow's reading of the whole file (see the
    module's docs), with dates and times kept as text when ``dates_as_text``
    (as ``data add`` of a single CSV file keeps them). JSON lines: pyarrow's
    reading of the whole file. Index columns a pandas writer may have added
    are left out; dictionary-encoded columns count as their values' type.

    Raises:
        DataError: when the file cannot be read.
    """
    import pyarrow as pa

    fmt = file_format(source)
    try:
        if fmt == "csv":
            schema = _csv_schema(source)
        else:
            with open_source(source) as fh:
                if fmt == "parquet":
                    import pyarrow.parquet as pq

                    schema = pq.read_schema(fh)
                else:
                    import pyarrow.json as pjson

                    schema = pjson.read_json(fh).schema
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"Cannot read {source}: {exc}") from exc
    fields = []
    for field in schema:
        if _INDEX_COLUMN.match(field.name):
            continue
        kind = plain_type(field.type)
        if fmt == "csv" and dates_as_text and pa.types.is_temporal(kind):
            kind = pa.string()
        fields.append(pa.field(field.name, kind))
    return pa.schema(fields)


def unify_schemas(files: Sequence[Source], schemas: Sequence[pa.Schema]) -> pa.Schema:
    """One schema for every part: the files' columns must match; types widen to fit all.

    Raises:
        DataError: when the files' columns differ.
    """
    first = schemas[0].names
    for path, schema in zip(files[1:], schemas[1:], strict=True):
        if schema.names != first:
            raise DataError(
                f"{os.path.basename(str(path))} has columns {schema.names}, but "
                f"{os.path.basename(str(files[0]))} has {first}; the files of one source "
                "must share their columns."
            )
    return settle_schemas(schemas)


def settle_schemas(schemas: Sequence[pa.Schema]) -> pa.Schema:
    """One type per column name over all the schemas (columns in order of first appearance)."""
    import pyarrow as pa

    kinds: dict[str, pa.DataType] = {}
    for schema in schemas:
        for field in schema:
            kind = plain_type(field.type)
            kinds[field.name] = widen(kinds[field.name], kind) if field.name in kinds else kind
    return pa.schema([pa.field(name, kind) for name, kind in kinds.items()])


def cast_batch(batch: Any, schema: pa.Schema, source: Source) -> Any:
    """A batch with its columns that ``schema`` names cast to the schema's types (others as they are).

    Raises:
        DataError: when a column's values do not fit.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays, fields, changed = [], [], False
    for field in batch.schema:
        array = batch.column(field.name)
        target = schema.field(field.name).type if field.name in schema.names else None
        if target is not None and field.type != target and not (
            pa.types.is_dictionary(field.type) and field.type.value_type == target
        ):
            if pa.types.is_dictionary(array.type):
                array = array.dictionary_decode()
            try:
                array = pc.cast(array, target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise DataError(f"Cannot read {source}: column {field.name!r}: {exc}") from exc
            fields.append(pa.field(field.name, target))
            changed = True
        else:
            fields.append(field)
        arrays.append(array)
    if not changed:
        return batch
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def file_batches(path: Source, batch_rows: int, schema: pa.Schema | None = None) -> Iterator[Any]:
    """A file's record batches; with ``schema``, its columns have the schema's types.

    CSV is parsed straight into the schema's types; Parquet and JSON lines are
    cast batch by batch.
    """
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson
    import pyarrow.parquet as pq

    fmt = file_format(path)
    with open_source(path) as fh:
        if fmt == "csv":
            types = {f.name: f.type for f in schema} if schema is not None else None
            read, convert = csv_options(types)
            yield from pcsv.open_csv(fh, read_options=read, convert_options=convert)
            return
        if fmt == "parquet":
            # pre_buffer=False: with it, pyarrow keeps the whole file's pages in
            # memory as it goes, and a file larger than memory would not stream.
            found = pq.ParquetFile(fh, pre_buffer=False).iter_batches(batch_size=batch_rows)
        else:
            found = iter(pjson.read_json(fh).to_batches(max_chunksize=batch_rows))
        for batch in found:
            yield cast_batch(batch, schema, path) if schema is not None else batch


def settled_schema(files: Sequence[Source], *, dates_as_text: bool = False) -> pa.Schema:
    """The settled types of several files' columns, read here (see :func:`settle_schemas`)."""
    return settle_schemas([source_schema(f, dates_as_text=dates_as_text) for f in files])


__all__ = [
    "CSV_BLOCK_BYTES",
    "cast_batch",
    "csv_options",
    "file_batches",
    "plain_type",
    "settle_schemas",
    "settled_schema",
    "source_schema",
    "unify_schemas",
    "widen",
]
