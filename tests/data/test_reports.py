"""HTML reports of statistics, drift and validation: complete, offline, escaped."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard.data import reports
from shipyard.data.drift import compare
from shipyard.data.statistics import Statistics, compute_statistics

EVIL_COLUMN = "<script>alert(1)</script>"
EVIL_VALUE = 'a"&<>b'
TYPES = {"note": "text"}


def _frame(n: int, shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "fare": rng.normal(30 + 40 * shift, 10, n),
            "passengers": rng.integers(1, 6, n),
            "city": rng.choice(["paris", "lyon", "nice"], n, p=[0.6 - 0.4 * shift, 0.3, 0.1 + 0.4 * shift]),
            EVIL_COLUMN: rng.choice([EVIL_VALUE, "plain"], n, p=[0.7 - 0.5 * shift, 0.3 + 0.5 * shift]),
            "member": rng.random(n) < 0.3 + 0.5 * shift,
            "pickup": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 20, n), unit="D"),
            "note": [f"free text number {i}" for i in range(n)],
        }
    )


@pytest.fixture(scope="module")
def train() -> Statistics:
    return compute_statistics(_frame(600, 0.0, 1), types=TYPES)


@pytest.fixture(scope="module")
def test_stats() -> Statistics:
    return compute_statistics(_frame(300, 1.0, 2), types=TYPES)


@pytest.fixture(scope="module")
def eval_stats() -> Statistics:
    return compute_statistics(_frame(200, 0.0, 3), types=TYPES)


VALIDATION = {
    "ok": False,
    "errors": 1,
    "warnings": 2,
    "anomalies": [
        {
            "column": "fare",
            "kind": "out_of_range",
            "severity": "error",
            "message": "column 'fare': 12 values (0.4%) above the maximum 500.0 seen in training (max 812.5)",
            "split": "test",
        },
        {"column": None, "kind": "extra_column", "severity": "warning", "message": "an extra column <b>bold</b>"},
        {
            "column": "city",
            "kind": "unseen_categories",
            "severity": "warning",
            "message": f"column 'city': unseen value {EVIL_VALUE}",
            "split": "eval",
        },
    ],
}


def _assert_document(doc: str) -> None:
    assert doc.startswith("<!DOCTYPE html>")
    assert doc.rstrip().endswith("</html>")
    assert '<meta charset="utf-8">' in doc
    assert "<style>" in doc
    # Offline: nothing refers to the network or to another file.
    assert "http://" not in doc
    assert "https://" not in doc
    assert "<link" not in doc
    assert not re.search(r"\bsrc\s*=", doc)
    assert "@import" not in doc and "url(" not in doc
    # The only script is the table sorter.
    assert doc.count("<script") == 1
    assert 'querySelectorAll("table.sortable th")' in doc


def _assert_escaped(doc: str) -> None:
    assert EVIL_COLUMN not in doc
    assert "alert(1)" not in doc.replace(html.escape(EVIL_COLUMN), "")
    assert html.escape(EVIL_COLUMN) in doc
    assert EVIL_VALUE not in doc
    assert html.escape(EVIL_VALUE) in doc


# -- statistics ----------------------------------------------------------------------------


def test_statistics_of_several_tables(train: Statistics, eval_stats: Statistics, test_stats: Statistics) -> None:
    doc = reports.statistics_html({"train": train, "eval": eval_stats, "test": test_stats}, title="Taxi splits")

    _assert_document(doc)
    _assert_escaped(doc)
    assert "<title>Taxi splits</title>" in doc
    assert "<svg" in doc and 'class="sortable"' in doc
    for name in ("train", "eval", "test"):
        assert f">{name}<" in doc
    for column in ("fare", "passengers", "city", "member", "pickup", "note"):
        assert f">{column}<" in doc
    for row in ("mean", "std", "p50", "max", "length mean", "true"):
        assert f"<th>{row}</th>" in doc
    assert "600" in doc and "300" in doc and "200" in doc  # rows per table
    assert "2024-01-01" in doc  # datetime min
    assert ">paris<" in doc and ">lyon<" in doc


def test_histograms_overlay_every_table_on_the_same_bins() -> None:
    small = compute_statistics(pd.DataFrame({"x": np.arange(100, dtype=float)}))
    large = compute_statistics(pd.DataFrame({"x": np.arange(1000, dtype=float) + 50}))
    doc = reports.statistics_html({"small": small, "large": large}, title="Overlay")

    svg = re.search(r"<svg.*?</svg>", doc, re.S).group(0)
    assert svg.count("<path") == 2  # one outline per table
    assert svg.count('class="hit"') == reports.HISTOGRAM_BINS  # shared bins
    # Shares, not counts: each table's bins add up to 100%.
    first_bin = re.search(r"<title>([^<]*)</title>", svg).group(1)
    assert "small" in first_bin and "large" in first_bin and "%" in first_bin


def test_statistics_of_one_table(train: Statistics) -> None:
    doc = reports.statistics_html({"dataset": train}, title="Dataset")

    _assert_document(doc)
    _assert_escaped(doc)
    assert ">dataset<" in doc
    assert "<svg" in doc


def test_statistics_without_values() -> None:
    stats = compute_statistics(pd.DataFrame({"empty": pd.Series([None, None], dtype="float64")}))
    doc = reports.statistics_html({"dataset": stats}, title="Empty")

    _assert_document(doc)
    assert "No values to plot." in doc


# -- drift ------------------------------------------------------------------------------------


def test_drift_report(train: Statistics, test_stats: Statistics) -> None:
    report = compare(train, test_stats)
    data = report.to_json()
    assert data["dataset_drift"]  # the fixture shifts most columns
    doc = reports.drift_html(report, train, test_stats, title="Train vs test", labels=("train", "test"))

    _assert_document(doc)
    _assert_escaped(doc)
    assert "Dataset drift detected" in doc
    assert 'class="banner bad"' in doc
    assert "<svg" in doc
    for column in data["drifted"]:
        assert html.escape(column) in doc
    assert f"{len(data['drifted'])} of {data['compared']} columns drifted" in doc
    assert "drifted</span>" in doc
    assert ">train<" in doc and ">test<" in doc
    # The table lists the columns by score, highest first, and sorts by click.
    table = re.search(r'<table class="sortable">.*?</table>', doc, re.S).group(0)
    order = re.findall(r'<td data-sort="([^"]*)"><a href', table)
    assert order == [html.escape(c["column"]) for c in data["columns"]]
    for header in ("Column", "Type", "Method", "Threshold", "p-value", "Verdict"):
        assert f">{header}</th>" in table
    assert '<th class="n" aria-sort="descending">Score</th>' in table
    assert "wasserstein" in doc and "jensen_shannon" in doc


def test_drift_report_from_json_without_drift(train: Statistics) -> None:
    data = compare(train, train).to_json()
    doc = reports.drift_html(data, train, train, title="Same data")

    _assert_document(doc)
    assert "No dataset drift" in doc
    assert 'class="banner ok"' in doc
    assert "no drift</span>" in doc
    assert ">reference<" in doc and ">current<" in doc


# -- validation ----------------------------------------------------------------------------


def test_validation_report() -> None:
    doc = reports.validation_html(VALIDATION, title="Validation")

    _assert_document(doc)
    assert "Validation failed" in doc
    assert 'class="banner bad"' in doc
    assert "<b>1</b>error" in doc and "<b>2</b>warnings" in doc
    for anomaly in VALIDATION["anomalies"]:
        assert html.escape(anomaly["message"]) in doc
        assert anomaly["kind"] in doc
    assert "<b>bold</b>" not in doc
    assert EVIL_VALUE not in doc
    assert 'class="sortable"' in doc
    for header in ("Split", "Column", "Kind", "Message"):
        assert f">{header}</th>" in doc
    assert '<th aria-sort="ascending">Severity</th>' in doc
    # Errors first, then warnings; a table-wide anomaly has no column.
    table = re.search(r'<table class="sortable">.*?</table>', doc, re.S).group(0)
    assert table.index("out_of_range") < table.index("extra_column")
    assert re.findall(r"<tr>.*?</tr>", table, re.S)[2].count("&#8212;") == 2  # no split, no column


def test_validation_report_that_passes() -> None:
    doc = reports.validation_html({"ok": True, "errors": 0, "warnings": 0, "anomalies": []}, title="Clean")

    _assert_document(doc)
    assert "Validation passed" in doc
    assert 'class="banner ok"' in doc
    assert "No anomalies." in doc


# -- run report ----------------------------------------------------------------------------


def test_run_report_with_every_part(train: Statistics, test_stats: Statistics) -> None:
    drift = compare(train, test_stats).to_json()
    doc = reports.run_report_html(
        title="Run 42",
        statistics={"train": train, "test": test_stats},
        validation=VALIDATION,
        drift=[("Train vs test", drift, train, test_stats), ("Train vs train", compare(train, train).to_json(), train, train)],
    )

    _assert_document(doc)
    _assert_escaped(doc)
    for anchor in ("validation", "drift1", "drift2", "statistics"):
        assert f'<section id="{anchor}">' in doc
        assert f'href="#{anchor}"' in doc
    assert "Train vs test" in doc and "Train vs train" in doc
    assert "Validation failed" in doc
    assert "Dataset drift detected" in doc and "No dataset drift" in doc
    assert html.escape(VALIDATION["anomalies"][0]["message"]) in doc
    # Anchors stay unique across sections.
    ids = re.findall(r' id="([^"]+)"', doc)
    assert len(ids) == len(set(ids))


def test_run_report_with_some_parts(train: Statistics) -> None:
    only_stats = reports.run_report_html(title="Stats only", statistics={"dataset": train})
    assert '<section id="statistics">' in only_stats
    assert "id=\"validation\"" not in only_stats and "drift1" not in only_stats

    nothing = reports.run_report_html(title="Empty run")
    _assert_document(nothing)
    assert "Nothing to report." in nothing


# -- writing ------------------------------------------------------------------------------


def test_write_report_is_atomic(tmp_path: Path, train: Statistics) -> None:
    doc = reports.statistics_html({"dataset": train}, title="Über \u2013 stats")
    target = tmp_path / "reports" / "stats.html"
    target.parent.mkdir()
    target.write_text("old", encoding="utf-8")

    assert reports.write_report(doc, target) == target
    assert target.read_text(encoding="utf-8") == doc
    assert [p.name for p in target.parent.iterdir()] == ["stats.html"]


def test_write_report_creates_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "report.html"
    reports.write_report("<!DOCTYPE html><html></html>", target)
    assert target.exists()
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]


def test_failed_write_leaves_the_old_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.html"
    target.write_text("old", encoding="utf-8")

    def broken(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        reports.write_report("new", target)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_statistics_of_odd_tables() -> None:
    """Constant, infinite, empty and all-null columns, a column of another type or in one table only."""
    first = compute_statistics(
        pd.DataFrame(
            {
                "constant": [5.0] * 4,
                "day": pd.to_datetime(["2024-01-01"] * 4),
                "infinite": [np.inf, 1.0, 2.0, np.nan],
                "only_first": [1, 2, 3, 4],
                "mixed": [1, 2, 3, 4],
                "flag": [True] * 4,
            }
        )
    )
    second = compute_statistics(
        pd.DataFrame(
            {
                "constant": [5.0] * 2,
                "day": pd.to_datetime(["2024-01-01", "2025-06-01"]),
                "infinite": [1.0, 2.0],
                "mixed": ["x", "y"],
                "flag": pd.Series([None, None], dtype="boolean"),
            }
        )
    )
    empty = compute_statistics(pd.DataFrame({"nothing": pd.Series([], dtype="float64")}))
    doc = reports.statistics_html({"first": first, "second": second, "empty": empty}, title="Odd")

    _assert_document(doc)
    for column in ("constant", "day", "infinite", "only_first", "mixed", "flag", "nothing"):
        assert f">{column}<" in doc
    assert "<th>infinite</th>" in doc
    assert '>second<br><span class="type">categorical</span></th>' in doc
    assert "2025-06-01" in doc


def test_validation_report_of_a_result_object() -> None:
    from shipyard.data.validation import Anomaly, ValidationResult

    result = ValidationResult(
        (
            Anomaly("fare", "null_fraction", "warning", "column 'fare': 9% nulls", "train"),
            Anomaly(EVIL_COLUMN, "missing_column", "error", f"column {EVIL_COLUMN!r} is missing"),
        )
    )
    doc = reports.validation_html(result, title="Result")

    _assert_document(doc)
    assert "Validation failed" in doc
    assert "<b>1</b>error" in doc and "<b>1</b>warning" in doc
    assert EVIL_COLUMN not in doc
    assert html.escape(f"column {EVIL_COLUMN!r} is missing") in doc
