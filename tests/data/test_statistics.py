"""Column statistics: exact values against NumPy, sketch bounds, mergeability, streaming, JSON.

Every expectation is computed from the raw values with NumPy/pandas: counts,
nulls, mean/std/min/max exactly; quantiles against the order statistics
(within 1% relative error, or 0.1% of the range for narrow-spread columns);
distinct counts exactly up to 1,000 and within 3% beyond; top values with
their exact counts. Statistics of parts, merged in any order (and after a JSON
round trip), equal those of the whole.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.data.statistics import (
    ColumnStatistics,
    Statistics,
    column_statistics,
    compute_statistics,
)
from tests.data.support import (
    assert_same_exact_parts,
    assert_statistics_match,
    order_stat_error,
    order_stat_gap,
)

QS = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def _stats(values: object, kind: str | None = None, name: str = "x") -> ColumnStatistics:
    return compute_statistics(pd.DataFrame({name: values}), types={name: kind} if kind else None)[name]


def _roundtrip(stats: Statistics) -> Statistics:
    return Statistics.from_json(json.loads(json.dumps(stats.to_json())))


# -- counts, nulls, moments -------------------------------------------------------------------


def test_floats_with_nan_match_numpy_exactly() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(20, 7, 5000)
    values[rng.choice(5000, 321, replace=False)] = np.nan
    values[:3] = 0.0
    col = _stats(values)
    present = values[~np.isnan(values)]

    assert col.type == "numeric"
    assert col.rows == 5000
    assert col.count == present.size == 5000 - 321
    assert col.nulls == 321
    assert col.null_fraction == pytest.approx(321 / 5000)
    assert col.minimum == present.min() and col.maximum == present.max()
    assert col.mean == pytest.approx(present.mean(), rel=1e-12)
    assert col.std == pytest.approx(present.std(ddof=1), rel=1e-10)
    assert col.zeros == 3
    summary = col.summary()
    assert summary["count"] == present.size and summary["nulls"] == 321
    assert summary["min"] == present.min() and summary["max"] == present.max()
    assert summary["mean"] == pytest.approx(np.nanmean(values), rel=1e-12)
    assert summary["std"] == pytest.approx(np.nanstd(values, ddof=1), rel=1e-10)


def test_integers_match_numpy_exactly() -> None:
    rng = np.random.default_rng(2)
    values = rng.integers(-50, 900, 7000)  # 950 values: counted exactly
    col = _stats(values)

    assert (col.type, col.dtype) == ("numeric", "int64")
    assert (col.count, col.nulls) == (7000, 0)
    assert (col.minimum, col.maximum) == (values.min(), values.max())
    assert col.mean == pytest.approx(values.mean(), rel=1e-12)
    assert col.std == pytest.approx(values.std(ddof=1), rel=1e-10)
    assert col.zeros == int((values == 0).sum())
    assert col.distinct.estimate() == np.unique(values).size and col.distinct.is_exact


def test_all_null_column() -> None:
    col = _stats(np.full(50, np.nan))
    assert (col.count, col.nulls, col.null_fraction) == (0, 50, 1.0)
    assert col.minimum is None and col.maximum is None
    assert col.std is None
    assert col.quantiles() == {}
    summary = col.summary()
    assert summary["mean"] is None and summary["std"] is None and summary["distinct"] == 0

    # Without any value at all (object column of None): still counted, not an error.
    empty = _stats(pd.Series([None] * 7, dtype=object))
    assert (empty.count, empty.nulls) == (0, 7)


def test_infinities_are_counted_but_kept_out_of_the_moments() -> None:
    values = np.array([1.0, np.inf, 3.0, -np.inf, np.nan, 5.0, np.inf])
    col = _stats(values)
    finite = np.array([1.0, 3.0, 5.0])

    assert col.count == 6  # values present (infinite ones included)
    assert col.nulls == 1
    assert col.infinite == 3
    assert col.finite_count == 3
    assert (col.minimum, col.maximum) == (1.0, 5.0)
    assert col.mean == pytest.approx(finite.mean())
    assert col.std == pytest.approx(finite.std(ddof=1))
    assert all(math.isfinite(v) for v in col.quantiles().values())
    json.dumps(col.to_json(), allow_nan=False)  # nothing infinite reaches the JSON


# -- quantiles ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["normal(50, 10)", "lognormal(0, 2)", "uniform(100, 200)", "normal(-40, 5)"],
)
def test_quantiles_within_one_percent_relative_error(name: str) -> None:
    rng = np.random.default_rng(3)
    values = {
        "normal(50, 10)": lambda: rng.normal(50, 10, 50_000),
        "lognormal(0, 2)": lambda: rng.lognormal(0, 2, 50_000),
        "uniform(100, 200)": lambda: rng.uniform(100, 200, 50_000),
        "normal(-40, 5)": lambda: rng.normal(-40, 5, 50_000),
    }[name]()
    col = _stats(values)
    quantiles = col.quantiles(QS)

    assert list(quantiles) == ["p1", "p5", "p25", "p50", "p75", "p95", "p99"]
    for q, estimate in zip(QS, quantiles.values(), strict=True):
        assert order_stat_error(values, q, estimate) <= 0.01, (q, estimate)
        assert col.minimum <= estimate <= col.maximum
    assert list(quantiles.values()) == sorted(quantiles.values())


def test_quantiles_stay_within_the_seen_range_and_integers_stay_whole() -> None:
    rng = np.random.default_rng(4)
    values = rng.integers(1, 7, 3001)  # dice: few values, extremes with much mass
    col = _stats(values)
    quantiles = col.quantiles((0.0, 0.01, 0.5, 0.99, 1.0))

    for q, estimate in zip((0.0, 0.01, 0.5, 0.99, 1.0), quantiles.values(), strict=True):
        assert estimate == round(estimate), estimate
        assert 1 <= estimate <= 6
        assert estimate == np.quantile(values, q, method="lower") or order_stat_error(values, q, estimate) <= 0.01
    assert quantiles["p0"] == 1 and quantiles["p100"] == 6

    # A single huge value and a tiny one: the extremes are never exceeded.
    spread = np.array([0.001, 0.5, 0.5, 0.5, 1e9])
    col = _stats(spread)
    for estimate in col.quantiles((0.0, 0.5, 1.0)).values():
        assert 0.001 <= estimate <= 1e9
    assert col.quantiles((0.0,))["p0"] == pytest.approx(0.001, rel=0.01)
    assert col.quantiles((1.0,))["p100"] == pytest.approx(1e9, rel=0.01)


@pytest.mark.parametrize("name", ["exponential(1)", "normal(0, 1)"])
def test_quantiles_keep_relative_error_where_the_grid_is_coarse(name: str) -> None:
    rng = np.random.default_rng(0)
    values = rng.exponential(1, 100_000) if name == "exponential(1)" else rng.normal(0, 1, 100_000)
    col = _stats(values)
    # The relative sketch alone meets the bound (it has every value)...
    for q in QS:
        assert order_stat_error(values, q, col.sketch.quantiles([q])[0]) <= 0.01
    # ...so the quantiles the statistics report must too.
    for q, estimate in zip(QS, col.quantiles(QS).values(), strict=True):
        assert order_stat_error(values, q, estimate) <= 0.01, (q, estimate)


@pytest.mark.parametrize("kind", ["latitude", "timestamp"])
def test_narrow_spread_columns_keep_their_resolution(kind: str) -> None:
    rng = np.random.default_rng(5)
    if kind == "latitude":
        values = 41.8 + rng.uniform(-0.1, 0.1, 40_000) + rng.normal(0, 0.01, 40_000)
    else:  # Unix seconds over 2013-2016, as the taxi data's trip_start_timestamp
        values = rng.integers(1_356_998_400, 1_483_228_800, 40_000).astype(float)
    col = _stats(values)
    span = values.max() - values.min()
    for q, estimate in zip(QS, col.quantiles(QS).values(), strict=True):
        # 1% of 41.8 would be 20 times the whole spread: the grid resolves it.
        assert order_stat_gap(values, q, estimate) <= 0.001 * span, (q, estimate)
    histogram = col.histogram(bins=10)
    assert sum(histogram["counts"]) == values.size
    # The spread is resolved into bars, not lumped into one.
    assert all(c > 0 for c in histogram["counts"]) and max(histogram["counts"]) < 0.2 * values.size


# -- distinct values ----------------------------------------------------------------------------


def test_distinct_is_exact_up_to_a_thousand() -> None:
    for n in (1, 17, 999, 1000):
        values = np.repeat(np.arange(n, dtype=float) * 1.5, 3)
        col = _stats(values)
        assert col.distinct.is_exact and col.distinct.estimate() == n
        strings = _stats(np.array([f"v{i}" for i in range(n)] * 2, dtype=object))
        assert strings.distinct.is_exact and strings.distinct.estimate() == n


@pytest.mark.parametrize("n", [1001, 10_000, 100_000])
def test_distinct_is_estimated_within_three_percent_beyond(n: int) -> None:
    rng = np.random.default_rng(n)
    floats = rng.permutation(np.arange(n)) * 0.37 + 11.0
    for col in (
        _stats(np.concatenate([floats, floats[: n // 3]])),  # repeats do not count twice
        _stats(np.array([f"id-{i:07d}" for i in range(n)], dtype=object)),
        _stats(rng.permutation(np.arange(n)) + 10**9),
    ):
        assert not col.distinct.is_exact
        assert col.summary()["distinct_exact"] is False
        assert abs(col.distinct.estimate() - n) <= 0.03 * n, (col.dtype, col.distinct.estimate(), n)


# -- categories, text, booleans, dates --------------------------------------------------------------


def test_top_values_are_exact_with_their_counts() -> None:
    rng = np.random.default_rng(6)
    values = pd.Series(rng.choice(["cash", "card", "mobile", "voucher", "none"], 4000, p=[0.5, 0.3, 0.1, 0.07, 0.03]))
    values[rng.choice(4000, 100, replace=False)] = None
    col = _stats(values)
    expected = values.value_counts()

    assert col.type == "categorical"
    assert (col.count, col.nulls) == (3900, 100)
    assert col.top is not None and col.top.complete
    assert col.top.counts == {k: int(v) for k, v in expected.items()}
    assert col.top.most_common(3) == [(k, int(v)) for k, v in expected.head(3).items()]
    assert col.summary(top=2)["top"] == [[k, int(v)] for k, v in expected.head(2).items()]
    assert col.distinct.estimate() == 5


def test_top_values_beyond_ten_thousand_keep_the_most_frequent() -> None:
    frequent = [f"hot{i}" for i in range(5) for _ in range(50 + i)]
    rare = [f"id{i}" for i in range(12_000)]
    col = _stats(np.array(frequent + rare, dtype=object))
    assert col.top is not None and not col.top.complete
    assert col.top.most_common(5) == [(f"hot{i}", 50 + i) for i in reversed(range(5))]
    assert len(col.top.counts) == 1000
    assert col.top.dropped == len(frequent) + len(rare) - sum(col.top.counts.values())


def test_string_lengths() -> None:
    values = pd.Series(["a", "héllo", "", None, "twelve chars", "ünïcödé"])
    col = _stats(values, "text")
    present = values.dropna()
    lengths = present.str.len()

    assert col.type == "text"
    assert (col.count, col.nulls) == (5, 1)
    assert (col.length_min, col.length_max) == (0, 12)
    assert col.summary()["length"] == {"min": 0, "mean": pytest.approx(lengths.mean()), "max": 12}
    assert col.length_total == int(lengths.sum())


def test_boolean_true_ratio_from_bools_and_from_yes_no_strings() -> None:
    flags = pd.Series([True, False, True, True, None, False, True], dtype=object)
    col = _stats(flags)
    assert col.type == "boolean"
    assert (col.count, col.nulls, col.trues) == (6, 1, 4)
    assert col.summary()["true_ratio"] == pytest.approx(4 / 6)

    plain = _stats(np.array([True] * 30 + [False] * 70))
    assert plain.summary()["true_ratio"] == pytest.approx(0.3)

    answers = pd.Series(["yes", "no", "Yes", " YES ", "no", None, "no", "y", "n"])
    col = _stats(answers, "boolean")
    assert col.type == "boolean"
    assert (col.count, col.nulls, col.trues) == (8, 1, 4)  # yes, Yes, " YES ", y
    assert col.summary()["true_ratio"] == pytest.approx(4 / 8)
    assert col.top is not None and col.top.counts == {"true": 4, "false": 4}


def test_datetime_min_max_and_histogram_by_day() -> None:
    rng = np.random.default_rng(7)
    start = pd.Timestamp("2024-03-01 06:30:00")
    stamps = pd.Series(start + pd.to_timedelta(rng.integers(0, 10 * 86_400, 2000), unit="s"))
    stamps[:5] = pd.NaT
    col = _stats(stamps)
    present = stamps.dropna()

    assert col.type == "datetime"
    assert (col.count, col.nulls) == (1995, 5)
    summary = col.summary()
    assert summary["min"] == present.min().strftime("%Y-%m-%d %H:%M:%S")
    assert summary["max"] == present.max().strftime("%Y-%m-%d %H:%M:%S")
    per_day = present.dt.floor("D").value_counts()
    expected = {int(day.timestamp() // 86_400): int(n) for day, n in per_day.items()}
    assert col.days == expected
    assert len(col.days) == 11  # 06:30 + up to 10 days spans 11 calendar days
    histogram = col.histogram(bins=11)
    assert sum(histogram["counts"]) == 1995
    assert histogram["edges"][0] == min(expected) * 86_400.0


def test_datetime_from_timezones_strings_and_unix_seconds() -> None:
    aware = pd.Series(pd.to_datetime(["2024-01-01 23:30", "2024-01-02 08:00"]).tz_localize("America/Chicago"))
    col = _stats(aware)
    assert col.summary()["min"] == "2024-01-02 05:30:00"  # in UTC
    assert col.summary()["max"] == "2024-01-02 14:00:00"

    seconds = _stats(np.array([1_400_269_500, 1_362_683_700]), "datetime")
    assert seconds.summary()["min"] == "2013-03-07 19:15:00"
    assert seconds.summary()["max"] == "2014-05-16 19:45:00"

    texts = _stats(pd.Series(["2024-05-01", "2024-05-03 12:00:00", "not a date"]), "datetime")
    assert (texts.count, texts.nulls) == (2, 1)
    assert texts.summary()["max"] == "2024-05-03 12:00:00"


def test_text_in_a_declared_numeric_column_is_counted_as_categories() -> None:
    col = column_statistics("price", pa.array(["1.5", "2", "cheap", None]), "numeric")
    assert col.type == "categorical"
    assert (col.count, col.nulls) == (3, 1)
    assert col.top is not None and col.top.counts == {"1.5": 1, "2": 1, "cheap": 1}


# -- merging, streaming, JSON ----------------------------------------------------------------------


def _mixed_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    fare = rng.lognormal(2.3, 0.6, n).round(2)
    fare[rng.choice(n, n // 20, replace=False)] = np.nan
    return pd.DataFrame(
        {
            "fare": fare,
            "miles": rng.normal(50, 12, n),
            "passengers": rng.integers(1, 7, n),
            "latitude": 41.8 + rng.normal(0, 0.04, n),
            "timestamp": rng.integers(1_356_998_400, 1_483_228_800, n),
            "payment": rng.choice(["Cash", "Credit Card", "No Charge", "Unknown"], n, p=[0.6, 0.35, 0.04, 0.01]),
            "company": np.array([f"company {i}" for i in rng.integers(0, 1500, n)], dtype=object),
            "member": rng.random(n) < 0.3,
            "pickup": pd.Timestamp("2016-01-01") + pd.to_timedelta(rng.integers(0, 40 * 86_400, n), unit="s"),
            "note": rng.choice(["short", "a longer note", "ü"], n),
            "empty": np.full(n, np.nan),
        }
    )


TYPES = {"note": "text"}


@pytest.fixture(scope="module")
def mixed() -> pd.DataFrame:
    return _mixed_frame(6000, 11)


@pytest.fixture(scope="module")
def whole(mixed: pd.DataFrame) -> Statistics:
    return compute_statistics(mixed, types=TYPES)


def _parts(frame: pd.DataFrame, cuts: list[int]) -> list[Statistics]:
    edges = [0, *cuts, len(frame)]
    return [compute_statistics(frame.iloc[a:b], types=TYPES) for a, b in itertools.pairwise(edges)]


def test_merged_parts_equal_the_whole(mixed: pd.DataFrame, whole: Statistics) -> None:
    parts = _parts(mixed, [1, 1500, 1600, 4000])  # uneven, one single-row part
    merged = Statistics()
    for part in parts:
        merged = merged.merge(part)
    assert_statistics_match(merged, whole, mixed)
    assert merged.summary()["columns"]["payment"]["top"] == whole.summary()["columns"]["payment"]["top"]
    assert merged["company"].distinct.estimate() == whole["company"].distinct.estimate()
    assert merged["member"].summary()["true_ratio"] == whole["member"].summary()["true_ratio"]


def test_merge_order_does_not_matter(mixed: pd.DataFrame, whole: Statistics) -> None:
    parts = _parts(mixed, [700, 2900, 3000, 5100])
    results = []
    for order in ([0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 0, 4, 1, 3]):
        merged = Statistics()
        for index in order:
            merged = merged.merge(parts[index])
        results.append(merged)
    # Pairwise tree: (0+1) + ((2+3) + 4)
    results.append(parts[0].merge(parts[1]).merge(parts[2].merge(parts[3]).merge(parts[4])))
    for merged in results:
        assert_statistics_match(merged, whole, mixed)
        assert set(merged.columns) == set(whole.columns)
        for name, column in merged.columns.items():
            # Grids merge to the same bins whatever the order.
            if column.grid is not None:
                assert column.grid.counts == results[0][name].grid.counts, name
                assert column.grid.exponent == results[0][name].grid.exponent, name


def test_merge_after_a_json_round_trip(mixed: pd.DataFrame, whole: Statistics) -> None:
    parts = [_roundtrip(p) for p in _parts(mixed, [2000, 4000])]
    merged = _roundtrip(parts[2].merge(parts[0]).merge(parts[1]))
    assert_statistics_match(merged, whole, mixed)


def test_json_round_trip_is_lossless(whole: Statistics) -> None:
    text = json.dumps(whole.to_json(), allow_nan=False)
    again = Statistics.from_json(json.loads(text))
    assert again.to_json() == whole.to_json()
    assert again.summary() == whole.summary()
    for name in whole.columns:
        assert_same_exact_parts(again[name], whole[name])
        assert again[name].quantiles() == whole[name].quantiles()
        assert again[name].std == whole[name].std


def test_streaming_a_parquet_file_in_small_batches_equals_in_memory(tmp_path: Path, mixed: pd.DataFrame, whole: Statistics) -> None:
    path = tmp_path / "trips.parquet"
    pq.write_table(pa.Table.from_pandas(mixed, preserve_index=False), path, row_group_size=1000)
    assert pq.ParquetFile(path).num_row_groups == 6

    streamed = compute_statistics(path, types=TYPES, batch_rows=700)
    assert_statistics_match(streamed, whole, mixed)
    # Column selection streams too.
    some = compute_statistics(str(path), columns=["fare", "payment"], batch_rows=333)
    assert list(some.columns) == ["fare", "payment"]
    assert_same_exact_parts(some["fare"], whole["fare"])


def test_narrow_spread_survives_merging(mixed: pd.DataFrame, whole: Statistics) -> None:
    merged = Statistics()
    for part in _parts(mixed, [100, 2500, 4500]):
        merged = merged.merge(part)
    for name in ("latitude", "timestamp"):
        values = mixed[name].to_numpy(dtype=float)
        span = values.max() - values.min()
        for q, estimate in zip(QS, merged[name].quantiles(QS).values(), strict=True):
            assert order_stat_gap(values, q, estimate) <= 0.001 * span, (name, q)


def test_statistics_of_files_csv_jsonl(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2, None, 4], "b": ["x", "y", "x", "x"]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    for name in ("t.csv", "t.jsonl"):
        stats = compute_statistics(tmp_path / name)
        assert stats.rows == 4
        assert (stats["a"].count, stats["a"].nulls, stats["a"].maximum) == (3, 1, 4.0)
        assert stats["b"].top is not None and stats["b"].top.counts == {"x": 3, "y": 1}
    # Several files are one table.
    both = compute_statistics([tmp_path / "t.csv", tmp_path / "t.csv"])
    assert both.rows == 8 and both["b"].top.counts == {"x": 6, "y": 2}


def test_empty_csv_cells_of_text_columns_are_nulls_like_everywhere_else(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("city,n\nParis,1\n,2\nLyon,\nParis,4\n")
    from_pandas = compute_statistics(pd.read_csv(path))  # what ingest and datasets see
    assert (from_pandas["city"].count, from_pandas["city"].nulls) == (3, 1)
    streamed = compute_statistics(path)  # what `shipyard data stats/validate FILE.csv` see
    assert (streamed["n"].count, streamed["n"].nulls) == (3, 1)
    assert (streamed["city"].count, streamed["city"].nulls) == (3, 1)
    assert streamed["city"].top is not None and "" not in streamed["city"].top.counts
