"""Column types settled over all the parts (and all the rows) before anything is computed.

CSV and JSON-lines files get their types from pyarrow's reading of each
file, so parts of one table may disagree (integers here, text there; a
column empty in one part) and a large CSV may hold, after its first block, a
value that does not fit the types inferred from that block. Statistics, row
diffs and partitioned ingest must settle the types first, whatever the order
of the parts.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from shipyard.client import Client
from shipyard.data import arrowtypes
from shipyard.data.arrowtypes import source_schema
from shipyard.data.parallel import partitioned_statistics
from shipyard.data.statistics import (
    StatisticsMismatch,
    column_statistics,
    compute_statistics,
)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- statistics of parts whose own types differ -------------------------------------------


def test_statistics_of_parts_of_numbers_and_text_do_not_depend_on_their_order(tmp_path: Path) -> None:
    numbers = write(tmp_path / "a.csv", "x,y\n1,a\n2,b\n3,c\n")
    texts = write(tmp_path / "b.csv", "x,y\n1,d\n2,e\nx,f\n")
    expected = {"1": 2, "2": 2, "3": 1, "x": 1}
    for order in ([numbers, texts], [texts, numbers]):
        for stats in (compute_statistics(order), partitioned_statistics(order)):
            column = stats["x"]
            assert (column.type, column.count, column.nulls) == ("categorical", 6, 0)
            assert column.top is not None and dict(column.top.counts) == expected
            assert "mean" not in column.summary()


def test_a_part_where_a_column_is_empty_counts_as_its_nulls(tmp_path: Path) -> None:
    empty = write(tmp_path / "a.csv", "x,y\n,a\n,b\n,c\n")
    full = write(tmp_path / "b.csv", "x,y\n1,d\n2,e\n6,f\n")
    for order in ([empty, full], [full, empty]):
        for stats in (compute_statistics(order), partitioned_statistics(order)):
            column = stats["x"]
            assert (column.type, column.count, column.nulls) == ("numeric", 3, 3)
            assert (column.mean, column.minimum, column.maximum) == (3.0, 1.0, 6.0)


def test_merge_refuses_values_of_different_types_and_takes_nulls_from_an_empty_side() -> None:
    numbers = column_statistics("x", pa.array([1, 2, 3]))
    texts = column_statistics("x", pa.array(["1", "2", "x"]))
    with pytest.raises(StatisticsMismatch, match=r"Column 'x' holds numeric values \(int64\) in one part and categorical"):
        numbers.merge(texts)
    with pytest.raises(StatisticsMismatch):
        texts.merge(numbers)
    nulls = column_statistics("x", pa.nulls(4))
    assert nulls.type == "categorical"
    for merged in (numbers.merge(nulls), nulls.merge(numbers)):
        assert (merged.type, merged.dtype, merged.count, merged.nulls, merged.mean) == ("numeric", "int64", 3, 4, 2.0)
    floats = column_statistics("x", pa.array([0.5]))
    assert numbers.merge(floats).dtype == floats.merge(numbers).dtype == "double"


# -- a CSV file larger than one block ----------------------------------------------------------


BLOCK = 16 << 10


def big_csv(path: Path) -> pd.DataFrame:
    """Just over two blocks; after the first: a float among integers, a value in an empty column, text among numbers."""
    n = 1600
    frame = pd.DataFrame({
        "n": [str(i) for i in range(n)],
        "late": [""] * n,
        "code": [str(i % 97) for i in range(n)],
        "name": [f"row-{i}" for i in range(n)],
    })
    frame.loc[n - 3, "n"] = "1.5"
    frame.loc[n - 2, "late"] = "7"
    frame.loc[n - 1, "code"] = "x9"
    frame.to_csv(path, index=False)
    assert BLOCK < path.stat().st_size < 3 * BLOCK
    return frame


def test_types_of_a_csv_larger_than_a_block_fit_every_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arrowtypes, "CSV_BLOCK_BYTES", BLOCK)
    big_csv(tmp_path / "big.csv")
    schema = source_schema(tmp_path / "big.csv")
    assert {f.name: str(f.type) for f in schema} == {"n": "double", "late": "int64", "code": "string", "name": "string"}
    stats = compute_statistics(tmp_path / "big.csv")  # one file: read again with the settled types
    assert (stats["n"].type, stats["n"].maximum, stats["n"].count) == ("numeric", 1599.0, 1600)
    assert (stats["late"].type, stats["late"].count, stats["late"].nulls) == ("numeric", 1, 1599)
    assert (stats["code"].type, stats["code"].count) == ("categorical", 1600)


def test_partitioned_add_of_a_csv_larger_than_a_block(
    project: Path, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(arrowtypes, "CSV_BLOCK_BYTES", BLOCK)
    (project / "in").mkdir()
    frame = big_csv(project / "in" / "a-big.csv")
    write(project / "in" / "b-small.csv", "n,late,code,name\n5,,3,small\n")

    version, created = client.datasets.add("big", "in/*.csv", base=project)

    assert created and version.rows == 1601
    table = client.datasets.table(version)
    assert table is not None and dict(table.columns) == {"n": "double", "late": "int64", "code": "string", "name": "string"}
    stored = client.datasets.frame(version)
    assert stored["n"].tolist()[-4:] == [1.5, 1598.0, 1599.0, 5.0]
    assert stored["late"].dropna().tolist() == [7]
    assert stored["code"].tolist()[-2:] == ["x9", "3"]
    assert stored["name"].tolist()[:1600] == frame["name"].tolist()


# -- row diff after a column widened -------------------------------------------------------------


def test_diff_counts_rows_kept_when_a_new_part_widens_a_column(project: Path, client: Client) -> None:
    (project / "in").mkdir()
    write(project / "in" / "a.csv", "x,y\n1,p\n2,q\n3,r\n")
    write(project / "in" / "b.csv", "x,y\n4,s\n5,t\n6,u\n")
    v1, _ = client.datasets.add("widen", "in/*.csv", base=project)
    write(project / "in" / "c.csv", "x,y\n7.5,v\n")
    v2, _ = client.datasets.add("widen", "in/*.csv", base=project)
    assert dict(client.datasets.table(v1).columns)["x"] == "int64"
    assert dict(client.datasets.table(v2).columns)["x"] == "double"

    changes = client.datasets.diff(v1, v2)

    assert (changes["rows_kept"], changes["rows_removed"], changes["rows_added"]) == (6, 0, 1)
    assert changes["type_changed"] == {}  # both numeric
    back = client.datasets.diff(v2, v1)
    assert (back["rows_kept"], back["rows_removed"], back["rows_added"]) == (6, 1, 0)


def test_diff_of_single_file_versions_whose_column_widened(project: Path, client: Client) -> None:
    write(project / "v1.csv", "x,y\n1,p\n2,q\n")
    write(project / "v2.csv", "x,y\n1,p\n2,q\n2.5,r\n")
    v1, _ = client.datasets.add("single", "v1.csv", base=project)
    v2, _ = client.datasets.add("single", "v2.csv", base=project)

    changes = client.datasets.diff(v1, v2)

    assert (changes["rows_kept"], changes["rows_removed"], changes["rows_added"]) == (2, 0, 1)
