"""Statistics, validation and drift part by part, on a real Dask cluster of processes.

One local cluster (two worker processes) serves the module. The data is 8
Parquet parts of 20,000 rows written here, each part drawn a little
differently so that merging matters. Every result computed on the cluster is
compared with the same work in this process (identical: the parts merge in
part order), and with the statistics of the whole table computed in one batch
(exact where exact; quantiles and distinct counts within their sketches'
bounds, checked against NumPy on the raw values too).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard.client import Client
from shipyard.data.drift import compare
from shipyard.data.parallel import (
    partition_files,
    partitioned_drift,
    partitioned_statistics,
    partitioned_validation,
    run_tasks,
)
from shipyard.data.schema import schema_from_json
from shipyard.data.sources import DataError
from shipyard.data.statistics import Statistics, compute_statistics
from shipyard.data.validation import schema_types, validate_statistics
from shipyard.engine.cluster import connect
from tests.data.support import assert_statistics_match, isolated

PARTS = 8
ROWS = 20_000
ONE_BATCH = 10**8


def make_part(index: int, rows: int = ROWS, *, shift: float = 0.0) -> pd.DataFrame:
    """One part: numbers over orders of magnitude and in a narrow band, categories, ids, flags, times."""
    rng = np.random.default_rng(100 + index)
    amount = rng.lognormal(3.0 + 0.05 * index, 1.0, rows)
    amount[rng.random(rows) < 0.03] = np.nan
    merchants = np.array([f"m{i:04d}" for i in range(5000)])
    shares = 1.0 / np.arange(1, 5001) ** 1.1
    return pd.DataFrame({
        "amount": amount,
        "score": rng.normal(0.1 * index + shift, 1.0, rows),
        "lat": 41.8 + rng.normal(0.0, 0.05, rows),
        "visits": rng.poisson(3.0, rows),
        "user_id": rng.integers(0, 400_000, rows),
        "plan": rng.choice(["basic", "plus", "premium"], rows, p=[0.6, 0.3, 0.1]),
        "merchant": rng.choice(merchants, rows, p=shares / shares.sum()),
        "session": [f"s{v}" for v in rng.integers(0, 60_000, rows)],
        "active": rng.random(rows) < 0.4,
        "seen": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 200 * 86_400, rows), unit="s"),
    })


def write_parts(folder: Path, count: int = PARTS, *, rows: int = ROWS, shift: float = 0.0, first: int = 0) -> list[Path]:
    """``count`` Parquet parts in ``folder``; their paths in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(first, first + count):
        path = folder / f"part-{i:03d}.parquet"
        make_part(i, rows, shift=shift).to_parquet(path, index=False)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def dask_client() -> Iterator[object]:
    with connect("local", n_workers=2) as client:
        yield client


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("parallel")
    paths = write_parts(folder / "reference")
    current = write_parts(folder / "current", 4, shift=0.6)
    frame = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    return {"folder": folder, "paths": paths, "current": current, "frame": frame}


@pytest.fixture(scope="module")
def on_cluster(data: dict, dask_client: object) -> Statistics:
    return partitioned_statistics(data["paths"], dask_client=dask_client)


# -- statistics ------------------------------------------------------------------------------------


def test_statistics_on_the_cluster_equal_those_computed_here(data: dict, on_cluster: Statistics) -> None:
    here = partitioned_statistics(data["paths"])
    assert on_cluster.to_json() == here.to_json()
    # ... and those of the files read one after another, as `data stats` does without a cluster.
    assert on_cluster.to_json() == compute_statistics(data["paths"]).to_json()


def test_merged_statistics_match_the_whole_table(data: dict, on_cluster: Statistics) -> None:
    frame = data["frame"]
    whole = compute_statistics(frame, batch_rows=ONE_BATCH)
    assert on_cluster.rows == whole.rows == PARTS * ROWS
    high_cardinality = "session"  # 60,000 values: top values are pruned, so only their bounds hold
    exact = Statistics(whole.rows, {n: c for n, c in whole.columns.items() if n != high_cardinality})
    merged = Statistics(on_cluster.rows, {n: c for n, c in on_cluster.columns.items() if n != high_cardinality})
    # Counts, nulls, min/max, zeros, lengths, top values, sketch buckets: equal;
    # means within rounding; quantiles within the sketch bounds, also against NumPy.
    assert_statistics_match(merged, exact, raw=frame)
    for name in ("amount", "score", "visits", "user_id"):
        values = frame[name].dropna().to_numpy(dtype=float)
        assert on_cluster[name].mean == pytest.approx(values.mean(), rel=1e-9)
        assert on_cluster[name].std == pytest.approx(values.std(ddof=1), rel=1e-9)
    for name in ("user_id", "session", "merchant"):
        exact_distinct = frame[name].nunique()
        assert abs(on_cluster[name].distinct.estimate() - exact_distinct) <= 0.03 * exact_distinct, name
    session = on_cluster[high_cardinality]
    assert (session.count, session.nulls) == (PARTS * ROWS, 0)
    truth = frame[high_cardinality].value_counts()
    for value, count in session.top.most_common(5):
        assert abs(count - truth[value]) <= session.top.max_error


def test_types_and_columns_are_passed_to_the_workers(data: dict, dask_client: object) -> None:
    stats = partitioned_statistics(
        data["paths"], types={"visits": "categorical"}, columns=["visits", "plan"], dask_client=dask_client
    )
    assert list(stats.columns) == ["visits", "plan"]
    assert stats["visits"].type == "categorical"
    assert stats["visits"].top.counts == {str(k): int(v) for k, v in data["frame"]["visits"].value_counts().items()}


def test_results_come_back_in_part_order_whichever_finishes_first(dask_client: object) -> None:
    def slow_first(i: int) -> int:
        time.sleep(0.5 if i == 0 else 0.0)
        return i

    assert list(run_tasks(slow_first, list(range(6)), dask_client=dask_client)) == list(range(6))


def test_a_part_that_cannot_be_read_fails_with_its_name(data: dict, dask_client: object) -> None:
    missing = data["folder"] / "reference" / "gone.parquet"
    with pytest.raises((DataError, FileNotFoundError)) as info:
        partitioned_statistics([*data["paths"][:2], missing], dask_client=dask_client)
    assert "gone.parquet" in str(info.value)


# -- validation and drift ---------------------------------------------------------------------------


def _schema() -> object:
    return schema_from_json({
        "columns": {
            "amount": {"type": "numeric", "max_null_fraction": 0.01, "min": 0.0, "max": 500.0},
            "score": {"type": "numeric", "min": -3.0, "max": 3.0},
            "plan": {"type": "categorical", "categories": ["basic", "plus"], "max_unseen_fraction": 0.05},
            "lat": {"type": "numeric"},
            "visits": {"type": "numeric"},
            "user_id": {"type": "numeric"},
            "merchant": {"type": "categorical"},
            "active": {"type": "boolean"},
            "seen": {"type": "datetime"},
        },
    })


def test_validation_on_the_cluster_finds_the_same_anomalies(data: dict, dask_client: object) -> None:
    schema = _schema()
    stats, result = partitioned_validation(data["paths"], schema, split="batch", dask_client=dask_client)
    expected = validate_statistics(
        compute_statistics(data["paths"], types=schema_types(schema)), schema, split="batch"
    )
    assert result.to_json() == expected.to_json()
    kinds = {(a.column, a.kind) for a in result.anomalies}
    # Nulls of amount (3% > 1%), values beyond the ranges, an unseen plan, an extra column.
    assert {("amount", "null_fraction"), ("amount", "out_of_range"), ("score", "out_of_range"),
            ("plan", "unseen_categories"), ("session", "extra_column")} <= kinds
    # The counts behind the sentences come from the merged sketches: the rows
    # beyond the bound, less those in the bucket straddling it (1% wide).
    frame = data["frame"]
    above = int((frame["amount"] > 500).sum())
    message = next(a.message for a in result.anomalies if a.column == "amount" and "above" in a.message)
    counted = int(message.split(": ")[1].split(" ")[0])
    assert int((frame["amount"] > 505).sum()) <= counted <= above
    assert stats["plan"].top.counts["premium"] == int((frame["plan"] == "premium").sum())


def test_drift_on_the_cluster_equals_drift_here(data: dict, dask_client: object) -> None:
    ref, cur, report = partitioned_drift(data["paths"], data["current"], dask_client=dask_client)
    ref_here = compute_statistics(data["paths"])
    cur_here = compute_statistics(data["current"], types={n: c.type for n, c in ref_here.columns.items()})
    expected = compare(ref_here, cur_here)
    assert report.to_json() == expected.to_json()
    assert "score" in report.drifted  # shifted by 0.6 std
    assert "plan" not in report.drifted and "active" not in report.drifted
    assert cur.rows == 4 * ROWS and ref.rows == PARTS * ROWS


def test_drift_of_csv_parts_reads_the_current_side_with_the_reference_types(tmp_path: Path, dask_client: object) -> None:
    ref = [tmp_path / "ref-0.csv", tmp_path / "ref-1.csv"]
    cur = [tmp_path / "cur-0.csv"]
    for i, path in enumerate([*ref, *cur]):
        pd.DataFrame({"code": [1, 2, 3] * 20, "x": np.arange(60) + i}).to_csv(path, index=False)
    pd.DataFrame({"code": ["1", "2", "x"] * 20, "x": np.arange(60)}).to_csv(cur[0], index=False)
    ref_stats, cur_stats, _ = partitioned_drift(ref, cur, dask_client=dask_client)
    assert ref_stats["code"].type == "numeric"
    # Text in a numeric column is counted as categories, as in a single-process run.
    assert cur_stats["code"].type == "categorical"


# -- sources ----------------------------------------------------------------------------------------


def test_partition_files_of_a_folder_glob_and_file(tmp_path: Path) -> None:
    nested = tmp_path / "data" / "year=2024"
    nested.mkdir(parents=True)
    for name in ("b.parquet", "a.csv", ".hidden.parquet", "_SUCCESS", "notes.txt"):
        (nested / name).write_text("x")
    (tmp_path / "data" / "_tmp").mkdir()
    (tmp_path / "data" / "_tmp" / "c.parquet").write_text("x")
    found = partition_files("data", tmp_path)
    assert [Path(p).name for p in found] == ["a.csv", "b.parquet"]
    # A glob is taken as written: it matches what the shell would (not dot files).
    assert [Path(p).name for p in partition_files("data/*/*.parquet", tmp_path)] == ["c.parquet", "b.parquet"]
    assert partition_files(str(nested / "a.csv"), tmp_path) == [nested / "a.csv"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"holds no \.parquet, \.csv or \.jsonl file"):
        partition_files("empty", tmp_path)
    with pytest.raises(DataError, match="No file matches"):
        partition_files("nothing-*.parquet", tmp_path)


def test_client_statistics_of_a_glob_with_an_address(data: dict, on_cluster: Statistics) -> None:
    folder = data["folder"]
    with isolated(), Client(folder, create=True) as client:
        label, stats = client.data_statistics(str(folder / "reference" / "*.parquet"), address="local")
        _, of_folder = client.data_statistics(str(folder / "reference"))
    assert label.endswith("*.parquet")
    assert stats.to_json() == on_cluster.to_json() == of_folder.to_json()
