"""Pieces of run history: time filters, key-level diffs, metric names, remote URLs, deletion."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from shipyard.compare import key_diff, metric_direction, parse_time, resolve_metric
from shipyard.engine.provenance import strip_credentials
from shipyard.errors import ShipyardError
from shipyard.stores.metadata import MetadataStore, RunRecord
from shipyard.stores.metadata.annotations import add_note, add_tags, run_notes, run_tags


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        ("https://ann:ghp_token@github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("https://ghp_token@github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("http://user:pw@host:8080/x", "http://host:8080/x"),
        ("ssh://git:pw@host/x.git", "ssh://git@host/x.git"),
        ("ssh://git@host/x.git", "ssh://git@host/x.git"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("/srv/git/repo.git", "/srv/git/repo.git"),
        ("https://github.com/org/repo.git", "https://github.com/org/repo.git"),
    ],
)
def test_remote_urls_lose_their_credentials(url: str, clean: str) -> None:
    assert strip_credentials(url) == clean


def test_parse_time_takes_dates_datetimes_and_times_ago() -> None:
    now = 1_800_000_000.0
    assert parse_time("3d", now=now) == now - 3 * 86400
    assert parse_time("12h", now=now) == now - 12 * 3600
    assert parse_time("30m", now=now) == now - 1800
    assert parse_time("2w", now=now) == now - 14 * 86400
    day = dt.datetime(2026, 11, 20)
    assert parse_time("2026-11-20") == day.timestamp()
    assert parse_time("2026-11-20", end=True) == (day + dt.timedelta(days=1)).timestamp()
    assert parse_time("2026-11-20 14:30") == day.replace(hour=14, minute=30).timestamp()
    assert parse_time("2026-11-20T14:30:05.5") == day.replace(hour=14, minute=30, second=5, microsecond=500000).timestamp()
    assert parse_time(12.5) == 12.5
    with pytest.raises(ShipyardError, match="not a time"):
        parse_time("yesterday")


def test_key_diff_gives_dotted_paths_and_both_values() -> None:
    a = {"train": {"params": {"max_iter": 30, "lr": 0.1}}, "drop": ["tips"], "gate": {"roc_auc": {"min": 0.7}}}
    b = {"train": {"params": {"max_iter": 50}}, "drop": ["tips", "fare"], "split": {"by": "time"},
         "gate": {"roc_auc": {"min": 0.7}}}
    assert key_diff(a, b) == [
        {"key": "drop", "change": "changed", "a": ["tips"], "b": ["tips", "fare"]},
        {"key": "split.by", "change": "added", "a": None, "b": "time"},
        {"key": "train.params.lr", "change": "removed", "a": 0.1, "b": None},
        {"key": "train.params.max_iter", "change": "changed", "a": 30, "b": 50},
    ]
    assert key_diff(a, a) == []
    assert key_diff({"n": 1}, {"n": 1.0}) == []  # the same number
    assert key_diff({"n": True}, {"n": 1}) != []  # a flag is not a number


def test_metric_names_and_directions() -> None:
    keys = ["eval.roc_auc", "test.roc_auc", "test[payment_type=Cash].roc_auc", "eval.log_loss", "rows"]
    assert resolve_metric("roc_auc", keys) == "eval.roc_auc"  # the eval split picks models
    assert resolve_metric("test.roc_auc", keys) == "test.roc_auc"
    assert resolve_metric("log_loss", keys) == "eval.log_loss"
    assert resolve_metric("rows", keys) == "rows"
    with pytest.raises(ShipyardError, match="No metric 'f1'"):
        resolve_metric("f1", keys)
    with pytest.raises(ShipyardError, match="ambiguous"):
        resolve_metric("auc", ["a/auc", "b/auc"])
    assert metric_direction("eval.roc_auc") == "max"
    assert metric_direction("test.accuracy") == "max"
    assert metric_direction("eval.log_loss") == "min"
    assert metric_direction("train/rmse") == "min"


def test_deleting_a_run_keeps_its_reproduction_and_drops_tags_and_notes(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'metadata.db'}")
    try:
        store.start_run(RunRecord("orig", "p", "completed", 1.0), {})
        store.start_run(RunRecord("again", "p", "completed", 2.0, reproduces="orig"), {})
        add_tags(store, "orig", ["a", "b"], user="ann")
        add_tags(store, "orig", ["b"], user="ann")  # already there: kept as it is
        add_note(store, "orig", "first", user="ann")
        assert run_tags(store, ["orig", "again"]) == {"orig": ["a", "b"]}
        assert [n.text for n in run_notes(store, "orig")] == ["first"]
        store.delete_run("orig")
        assert store.get_run("again").reproduces is None
        assert run_tags(store, ["orig"]) == {} and run_notes(store, "orig") == []
    finally:
        store.close()
