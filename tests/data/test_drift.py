"""Drift tests on statistics: known answers at 10k and 1M rows, agreement with SciPy, config.

Each pair of tables is drawn from a seeded generator: columns drawn from the
same distribution must not drift at the default thresholds; a mean shift of
half a standard deviation, a 1.5x standard deviation, a new category taking
20% of the rows and a 74/26 -> 56/44 frequency change must. The tests run on
the sketches; SciPy's implementations on the raw values are the reference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from shipyard.data.drift import (
    DriftConfig,
    DriftReport,
    chi_square,
    compare,
    compare_column,
    jensen_shannon,
    ks_test,
    wasserstein,
)
from shipyard.data.statistics import Statistics, compute_statistics
from tests.data.support import TAXI_CSV

CATS = np.array(["a", "b", "c", "d", "e"], dtype=object)
DRIFTED = {"shift", "scale", "new_category", "frequency"}
UNCHANGED = {"same", "same_category", "same_flag"}


@dataclass
class Pair:
    n: int
    ref: pd.DataFrame
    cur: pd.DataFrame
    ref_stats: Statistics
    cur_stats: Statistics
    report: DriftReport


def _tables(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    p_ref = [0.4, 0.3, 0.2, 0.1, 0.0]
    p_new = [0.32, 0.24, 0.16, 0.08, 0.2]  # "e" is new: 20% of the rows
    ref = pd.DataFrame(
        {
            "same": rng.normal(50, 10, n),
            "shift": rng.normal(50, 10, n),
            "scale": rng.normal(50, 10, n),
            "same_category": CATS[rng.choice(5, n, p=p_ref)],
            "new_category": CATS[rng.choice(5, n, p=p_ref)],
            "frequency": CATS[(rng.random(n) >= 0.74).astype(int)],
            "same_flag": rng.random(n) < 0.3,
        }
    )
    cur = pd.DataFrame(
        {
            "same": rng.normal(50, 10, n),
            "shift": rng.normal(55, 10, n),  # +0.5 std
            "scale": rng.normal(50, 15, n),  # std x1.5
            "same_category": CATS[rng.choice(5, n, p=p_ref)],
            "new_category": CATS[rng.choice(5, n, p=p_new)],
            "frequency": CATS[(rng.random(n) >= 0.56).astype(int)],
            "same_flag": rng.random(n) < 0.3,
        }
    )
    return ref, cur


@pytest.fixture(scope="module", params=[10_000, 1_000_000], ids=["10k", "1M"])
def pair(request: pytest.FixtureRequest) -> Pair:
    n = request.param
    ref, cur = _tables(n, seed=n)
    ref_stats, cur_stats = compute_statistics(ref), compute_statistics(cur)
    return Pair(n, ref, cur, ref_stats, cur_stats, compare(ref_stats, cur_stats))


# -- known answers ---------------------------------------------------------------------------


def test_injected_changes_drift_and_identical_distributions_do_not(pair: Pair) -> None:
    report = pair.report
    assert {c.column for c in report.columns} == DRIFTED | UNCHANGED
    assert set(report.drifted) == DRIFTED
    by_name = {c.column: c for c in report.columns}
    for name in ("same", "shift", "scale"):
        assert by_name[name].method == "wasserstein" and by_name[name].threshold == 0.1
    for name in ("same_category", "new_category", "frequency", "same_flag"):
        assert by_name[name].method == "jensen_shannon" and by_name[name].threshold == 0.1
    assert by_name["same_flag"].type == "boolean"
    # The sizes of the changes, from the distributions themselves.
    assert by_name["shift"].score == pytest.approx(0.5, abs=0.03)
    assert by_name["scale"].score == pytest.approx(0.5 * np.sqrt(2 / np.pi), abs=0.03)
    assert by_name["same"].score < 0.05
    assert by_name["same_category"].score < 0.05
    assert report.reference_rows == report.current_rows == pair.n


def test_dataset_verdict_follows_the_share_of_drifted_columns(pair: Pair) -> None:
    report = pair.report
    assert report.share == pytest.approx(4 / 7)
    assert report.dataset_drift is True
    data = report.to_json()
    json.dumps(data, allow_nan=False)
    assert data["dataset_drift"] is True and data["compared"] == 7
    assert data["drifted_share"] == pytest.approx(4 / 7) and data["share_threshold"] == 0.5
    scores = [c["score"] for c in data["columns"]]
    assert scores == sorted(scores, reverse=True)

    stricter = compare(pair.ref_stats, pair.cur_stats, DriftConfig(share=0.6))
    assert stricter.dataset_drift is False and stricter.threshold_share == 0.6
    unchanged = compare(pair.ref_stats, pair.ref_stats)
    assert unchanged.drifted == [] and unchanged.share == 0.0 and not unchanged.dataset_drift


def test_numeric_tests_agree_with_scipy_on_the_raw_values(pair: Pair) -> None:
    for name in ("same", "shift", "scale"):
        ref, cur = pair.ref[name].to_numpy(), pair.cur[name].to_numpy()
        a, b = pair.ref_stats[name], pair.cur_stats[name]
        expected = sps.ks_2samp(ref, cur, method="asymp")
        d, p = ks_test(a, b)
        assert d == pytest.approx(expected.statistic, abs=0.01), name
        if expected.pvalue < 1e-12:
            assert p < 1e-8, name
        else:
            assert p == pytest.approx(expected.pvalue, abs=0.05), name
        distance, normalised = wasserstein(a, b)
        raw = sps.wasserstein_distance(ref, cur)
        assert distance == pytest.approx(raw, rel=0.02, abs=1e-3), name
        assert normalised == pytest.approx(raw / ref.std(ddof=1), rel=0.02, abs=1e-3), name
        # The report carries the same numbers.
        column = next(c for c in pair.report.columns if c.column == name)
        assert column.tests["ks"]["score"] == d and column.tests["ks"]["p_value"] == p
        assert column.tests["wasserstein"]["score"] == normalised
        assert column.tests["ks"]["flagged"] == (p < 0.05)


def _counts(frame: pd.DataFrame, other: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    r, c = frame[name].astype(str).value_counts(), other[name].astype(str).value_counts()
    keys = sorted(set(r.index) | set(c.index))
    return np.array([r.get(k, 0) for k in keys], float), np.array([c.get(k, 0) for k in keys], float)


def test_categorical_tests_agree_with_scipy_on_exact_counts(pair: Pair) -> None:
    for name in ("same_category", "new_category", "frequency"):
        a, b = pair.ref_stats[name], pair.cur_stats[name]
        assert a.top is not None and a.top.counts == {k: int(v) for k, v in pair.ref[name].value_counts().items()}
        r, c = _counts(pair.ref, pair.cur, name)
        assert jensen_shannon(a, b) == pytest.approx(jensenshannon(r / r.sum(), c / c.sum(), base=2), abs=0.01)
        keep = (r + c) > 0
        expected = sps.chi2_contingency(np.vstack([r[keep], c[keep]]), correction=False)
        statistic, p = chi_square(a, b)
        assert statistic == pytest.approx(expected.statistic, rel=1e-9)
        assert p == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)
    column = next(c for c in pair.report.columns if c.column == "new_category")
    assert column.tests["chi2"]["flagged"] and column.tests["psi"]["flagged"]


def test_frequency_change_has_the_expected_distance(pair: Pair) -> None:
    # 74/26 against 56/44: JS distance 0.161 for the populations.
    expected = jensenshannon([0.74, 0.26], [0.56, 0.44], base=2)
    column = next(c for c in pair.report.columns if c.column == "frequency")
    assert column.score == pytest.approx(expected, abs=0.01)
    assert column.drifted


def test_boolean_columns_compare_their_true_share(pair: Pair) -> None:
    flipped = pair.cur.assign(same_flag=~pair.cur["same_flag"])  # 30% true -> 70% true
    stats = compute_statistics(flipped[["same_flag"]])
    result = compare_column(pair.ref_stats["same_flag"], stats["same_flag"])
    r = np.array([(~pair.ref["same_flag"]).sum(), pair.ref["same_flag"].sum()], float)
    c = np.array([(~flipped["same_flag"]).sum(), flipped["same_flag"].sum()], float)
    assert result.drifted and result.method == "jensen_shannon"
    assert result.score == pytest.approx(jensenshannon(r / r.sum(), c / c.sum(), base=2), abs=1e-9)


# -- configuration -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small() -> tuple[Statistics, Statistics]:
    ref, cur = _tables(10_000, seed=7)
    return compute_statistics(ref), compute_statistics(cur)


def test_per_column_method_and_threshold(small: tuple[Statistics, Statistics]) -> None:
    ref, cur = small
    config = DriftConfig(
        columns={
            "same": {"method": "ks", "threshold": 1.0},  # any p-value < 1 flags
            "shift": {"threshold": 0.9},  # the default method, a looser threshold
            "scale": {"method": "psi", "threshold": 5.0},
            "frequency": {"method": "chi2", "threshold": 1e-300},
            "new_category": {"method": "skip"},
        }
    )
    report = compare(ref, cur, config)
    by_name = {c.column: c for c in report.columns}
    assert "new_category" not in by_name
    assert (by_name["same"].method, by_name["same"].threshold, by_name["same"].drifted) == ("ks", 1.0, True)
    assert by_name["same"].p_value == by_name["same"].tests["ks"]["p_value"]
    assert (by_name["shift"].method, by_name["shift"].threshold, by_name["shift"].drifted) == ("wasserstein", 0.9, False)
    assert (by_name["scale"].method, by_name["scale"].drifted) == ("psi", False)
    assert by_name["scale"].score == by_name["scale"].tests["psi"]["score"]
    # chi-square p ~1e-149: flagged at the default 0.05, not below the override's 1e-300.
    assert by_name["frequency"].method == "chi2" and 1e-300 < by_name["frequency"].p_value < 1e-100
    assert not by_name["frequency"].drifted and by_name["frequency"].threshold == 1e-300
    assert set(report.drifted) == {"same"}


def test_methods_and_thresholds_by_type_from_yaml_like_values(small: tuple[Statistics, Statistics]) -> None:
    ref, cur = small
    config = DriftConfig.from_dict(
        {"methods": {"numeric": "ks", "categorical": "psi"}, "thresholds": {"ks": 1e-3, "psi": 0.5}, "share": 0.9}
    )
    report = compare(ref, cur, config)
    by_name = {c.column: c for c in report.columns}
    assert by_name["shift"].method == "ks" and by_name["shift"].threshold == 1e-3 and by_name["shift"].drifted
    assert by_name["new_category"].method == "psi" and by_name["new_category"].drifted  # PSI ~1.56
    assert by_name["frequency"].method == "psi" and not by_name["frequency"].drifted  # PSI ~0.14
    assert by_name["same_flag"].method == "jensen_shannon"  # booleans keep theirs
    assert report.threshold_share == 0.9 and not report.dataset_drift


def test_a_method_that_does_not_fit_the_type_is_refused(small: tuple[Statistics, Statistics]) -> None:
    ref, cur = small
    with pytest.raises(ValueError, match=r"jensen_shannon.*does not apply to numeric column 'same'"):
        compare(ref, cur, DriftConfig(columns={"same": {"method": "jensen_shannon"}}))


def test_a_column_whose_type_changed_drifts_with_a_note() -> None:
    ref = compute_statistics(pd.DataFrame({"zip": [60601, 60602, 60601, 60603] * 50, "n": np.arange(200.0)}))
    cur_frame = pd.DataFrame({"zip": ["60601", "606O2", "unknown", "60603"] * 50, "n": np.arange(200.0)})
    # As `data drift` does: the current side is read with the reference's types.
    cur = compute_statistics(cur_frame, types={n: c.type for n, c in ref.columns.items()})
    assert cur["zip"].type == "categorical"
    report = compare(ref, cur)
    column = next(c for c in report.columns if c.column == "zip")
    assert column.drifted and column.score is None
    assert column.note == "the type changed from numeric to categorical"
    assert report.drifted == ["zip"]
    assert {"column": "zip", "drifted": True, "note": column.note}.items() <= next(
        c for c in report.to_json()["columns"] if c["column"] == "zip"
    ).items()


def test_missing_added_empty_and_excluded_columns() -> None:
    rng = np.random.default_rng(3)
    ref = compute_statistics(
        pd.DataFrame({"a": rng.normal(size=300), "gone": np.ones(300), "empty": np.full(300, np.nan),
                      "when": pd.date_range("2020-01-01", periods=300, freq="h"),
                      "note": [f"text {i}" for i in range(300)]}),
        types={"note": "text"},
    )
    cur = compute_statistics(
        pd.DataFrame({"a": rng.normal(size=300), "new": np.ones(300), "empty": rng.normal(size=300),
                      "when": pd.date_range("2024-01-01", periods=300, freq="h"),
                      "note": [f"other {i}" for i in range(300)]}),
        types={"note": "text"},
    )
    report = compare(ref, cur)
    assert report.missing == ["gone"] and report.added == ["new"]
    names = [c.column for c in report.columns]
    assert names == ["a", "empty"]  # datetime and text are left out by default
    empty = report.columns[1]
    assert not empty.drifted and empty.score is None and empty.note == "no values to compare"
    with_text = compare(ref, cur, DriftConfig(types=("numeric", "text")))
    note = next(c for c in with_text.columns if c.column == "note")
    assert note.drifted and note.score == pytest.approx(1.0)  # no value in common


def test_datetime_columns_compared_when_asked() -> None:
    ref = compute_statistics(pd.DataFrame({"when": pd.date_range("2020-01-01", periods=1000, freq="h")}))
    cur = compute_statistics(pd.DataFrame({"when": pd.date_range("2024-01-01", periods=1000, freq="h")}))
    report = compare(ref, cur, DriftConfig(types=("numeric", "categorical", "boolean", "datetime")))
    assert [c.column for c in report.columns] == ["when"]
    assert report.columns[0].drifted


# -- sketch alignment -------------------------------------------------------------------------------


def test_one_outlier_does_not_make_identical_values_drift() -> None:
    rng = np.random.default_rng(1)
    values = np.round(rng.normal(10, 3, 20_000) * 4) / 4  # prices in quarters
    ref = compute_statistics(pd.DataFrame({"v": values}))["v"]
    cur = compute_statistics(pd.DataFrame({"v": np.append(values, 1000.0)}))["v"]
    expected = sps.ks_2samp(values, np.append(values, 1000.0), method="asymp")
    d, p = ks_test(ref, cur)
    assert d == pytest.approx(expected.statistic, abs=0.01)  # scipy: 5e-5; got 0.035
    assert p > 0.05  # got 6.5e-11: flagged
    raw = sps.wasserstein_distance(values, np.append(values, 1000.0)) / values.std(ddof=1)
    assert wasserstein(ref, cur)[1] == pytest.approx(raw, rel=0.02)  # scipy: 0.0166; got 0.037


# -- real data: the Chicago taxi trips ---------------------------------------------------------------


@pytest.fixture(scope="module")
def taxi() -> tuple[pd.DataFrame, pd.DataFrame, DriftReport]:
    frame = pd.read_csv(TAXI_CSV, low_memory=False)
    year = pd.to_datetime(frame["trip_start_timestamp"], unit="s").dt.year
    early, late = frame[year <= 2014], frame[year >= 2015]
    assert len(early) > 9000 and len(late) > 5000
    return early, late, compare(compute_statistics(early), compute_statistics(late))


def test_taxi_payment_mix_drifts_between_2013_14_and_2015_16(taxi: tuple[pd.DataFrame, pd.DataFrame, DriftReport]) -> None:
    early, late, report = taxi
    by_name = {c.column: c for c in report.columns}
    payment = by_name["payment_type"]
    assert payment.drifted and payment.method == "jensen_shannon"  # cash 70% -> 59%
    r, c = _counts(early, late, "payment_type")
    assert payment.score == pytest.approx(jensenshannon(r / r.sum(), c / c.sum(), base=2), abs=0.01)
    assert payment.tests["chi2"]["flagged"]
    assert "payment_type" in report.drifted and "company" in report.drifted
    # Time always moves: the timestamp column itself drifts most.
    assert report.to_json()["columns"][0]["column"] == "trip_start_timestamp"


def test_taxi_fare_drifts(taxi: tuple[pd.DataFrame, pd.DataFrame, DriftReport]) -> None:
    early, late, report = taxi
    fare = next(c for c in report.columns if c.column == "fare")
    a, b = early["fare"].dropna().to_numpy(), late["fare"].dropna().to_numpy()
    # Fares rose and spread (mean 11.45 -> 12.32, std 9.8 -> 14.1): the KS test flags it.
    assert sps.ks_2samp(a, b, method="asymp").pvalue < 0.05
    assert fare.tests["ks"]["flagged"] and fare.tests["ks"]["p_value"] < 0.05
    # The decisive Wasserstein distance over the robust spread (IQR / 1.349) agrees
    # with scipy's distance over numpy's IQR, and flags the shift by default
    # (over the std, which the tail of long trips inflates, it would be 0.089).
    q25, q75 = np.percentile(a, [25, 75])
    raw = sps.wasserstein_distance(a, b) / ((q75 - q25) / 1.349)
    assert fare.tests["wasserstein"]["score"] == pytest.approx(raw, rel=0.05)
    assert fare.drifted and fare.method == "wasserstein"
    # Asked to decide by KS, as docs/data.md shows for fare, the column drifts.
    ks = compare_column(compute_statistics(early[["fare"]])["fare"], compute_statistics(late[["fare"]])["fare"],
                        DriftConfig(columns={"fare": {"method": "ks"}}))
    assert ks.drifted and ks.method == "ks"


def test_taxi_fare_ks_statistic_agrees_with_scipy(taxi: tuple[pd.DataFrame, pd.DataFrame, DriftReport]) -> None:
    early, late, report = taxi
    fare = next(c for c in report.columns if c.column == "fare")
    a, b = early["fare"].dropna().to_numpy(), late["fare"].dropna().to_numpy()
    assert fare.tests["ks"]["score"] == pytest.approx(sps.ks_2samp(a, b).statistic, abs=0.01)
