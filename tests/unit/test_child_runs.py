"""Child runs in the metadata store: schema revision 0003, recording, listing, deleting.

The trials of a hyperparameter search are runs whose ``parent_id`` names the
pipeline run; they are recorded with the step run that made them, in one
transaction, and stay out of the ordinary listings.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from shipyard.engine.runner import TRIAL_KIND, child_runs
from shipyard.stores.metadata import HEAD, ChildRun, MetadataStore, RunRecord
from tests.unit.test_metadata_store import T0, make_run, make_step


def trial(run_id: str, parent: str, number: int, value: float, **fields) -> ChildRun:
    run = make_run(
        run_id, pipeline=fields.pop("pipeline", "training"), started_at=T0 + 10 + number, status=fields.pop("status", "completed"),
        parent_id=parent, kind="trial",
        config={"trial": number, "value": value, "metric": "eval.roc_auc", "direction": "max"},
        **fields,
    )
    return ChildRun(run, {"tune": {"C": number / 10}}, {"tune": {"eval.roc_auc": value}})


def record_search(meta: MetadataStore) -> None:
    meta.start_run(make_run("parent"), {})
    meta.record_step(
        make_step("s1", "parent", "tune"),
        children=[trial("t0", "parent", 0, 0.7), trial("t1", "parent", 1, 0.9)],
    )


def test_head_is_the_newest_revision():
    from shipyard.stores.metadata.store import REVISIONS

    assert REVISIONS[-1] == HEAD


def test_children_are_recorded_with_their_params_and_metrics(meta):
    record_search(meta)
    found = meta.child_runs("parent")
    assert [c.run.id for c in found] == ["t0", "t1"]
    assert found[1].params == {"tune": {"C": 0.1}}
    assert found[1].metrics == {"tune": {"eval.roc_auc": 0.9}}
    assert found[1].run.parent_id == "parent" and found[1].run.kind == "trial"
    assert found[1].run.is_child and not meta.get_run("parent").is_child
    assert found[0].to_dict()["params"] == {"tune": {"C": 0.0}}
    # The parent's own metrics are its steps', not its trials'.
    assert meta.run_metrics("parent") == {}
    assert meta.step_runs("parent")[0].metrics == {}


def test_children_stay_out_of_listings_and_latest(meta):
    record_search(meta)
    assert [r.id for r in meta.list_runs()] == ["parent"]
    assert meta.count_runs() == 1
    assert {r.id for r in meta.list_runs(children=True)} == {"parent", "t0", "t1"}
    assert meta.count_runs(children=True) == 3
    assert meta.get_run("latest").id == "parent"  # although the trials started later
    assert meta.get_run("t1").parent_id == "parent"  # still found by id


def test_a_child_needs_an_existing_parent(meta):
    with pytest.raises(IntegrityError):
        meta.start_run(make_run("orphan", parent_id="nobody", kind="trial"), {})


def test_deleting_a_run_deletes_its_children(meta):
    record_search(meta)
    meta.delete_run("parent")
    assert meta.list_runs(children=True) == []
    assert meta.child_runs("parent") == []


def test_the_step_and_its_children_are_one_transaction(meta):
    meta.start_run(make_run("parent"), {})
    bad = trial("t0", "missing-parent", 0, 0.5)
    with pytest.raises(IntegrityError):
        meta.record_step(make_step("s1", "parent", "tune"), children=[bad])
    assert meta.step_runs("parent") == []


def test_a_store_at_0002_upgrades_and_keeps_its_runs(tmp_path: Path):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    import shipyard.stores.metadata.store as store_module

    path = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{path}")
    config = Config()
    config.set_main_option("script_location", str(Path(store_module.__file__).with_name("migrations")))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
        conn.exec_driver_sql("INSERT INTO pipelines (name, created_at) VALUES ('p', 1.0)")
        conn.exec_driver_sql(
            "INSERT INTO runs (id, pipeline, status, started_at) VALUES ('r1', 'p', 'completed', 1.0)"
        )
    engine.dispose()
    store = MetadataStore(f"sqlite:///{path}")
    try:
        assert store.schema_revision() == HEAD
        old = store.get_run("r1")
        assert old.parent_id is None and old.kind is None
        assert [r.id for r in store.list_runs()] == ["r1"]
        store.record_step(make_step("s1", "r1", "tune"), children=[trial("t0", "r1", 0, 0.5, pipeline="p")])
        assert [c.run.id for c in store.child_runs("r1")] == ["t0"]
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
        assert columns[-5:-3] == ["parent_id", "kind"]
        assert ("runs", "parent_id", "id") in [
            (row[2], row[3], row[4]) for row in conn.execute("PRAGMA foreign_key_list(runs)")
        ]


def test_trial_records_become_child_runs():
    parent = RunRecord("p1", "shop", "running", T0, user="ann", host="box", orchestrator="local")
    trials = [
        {"trial": 0, "status": "completed", "params": {"C": 1.0},
         "metrics": {"eval.roc_auc": 0.8, "eval.log_loss": math.nan}, "value": 0.8,
         "started_at": T0 + 1, "ended_at": T0 + 2, "executor": "processes", "chosen": True,
         "error": None},
        {"trial": 1, "status": "failed", "params": {"C": -1.0}, "metrics": {},
         "error": "ValueError: C must be positive"},
    ]
    made = child_runs(trials, parent=parent, step="tune", default_time=T0 + 5)
    first, second = made
    assert first.run.parent_id == "p1" and first.run.kind == TRIAL_KIND
    assert (first.run.user, first.run.host, first.run.pipeline) == ("ann", "box", "shop")
    assert first.run.status == "completed" and first.run.orchestrator == "processes"
    assert first.run.config == {"step": "tune", "trial": 0, "value": 0.8, "chosen": True}
    assert first.params == {"tune": {"C": 1.0}}
    assert first.metrics == {"tune": {"eval.roc_auc": 0.8}}  # NaN left out
    assert (first.run.started_at, first.run.ended_at) == (T0 + 1, T0 + 2)
    assert second.run.status == "failed" and second.run.error_step == "tune"
    assert second.run.error == "ValueError: C must be positive"
    assert second.run.started_at == T0 + 5 and second.metrics == {}
    assert first.run.id != second.run.id


def test_downgrading_to_0002_drops_the_children_and_keeps_the_runs(tmp_path: Path):
    from alembic import command
    from alembic.config import Config

    import shipyard.stores.metadata.store as store_module

    url = f"sqlite:///{tmp_path / 'm.db'}"
    meta = MetadataStore(url)
    record_search(meta)
    config = Config()
    config.set_main_option("script_location", str(Path(store_module.__file__).with_name("migrations")))
    with meta._write() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
    meta.close()
    with sqlite3.connect(tmp_path / "m.db") as conn:
        assert "parent_id" not in [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
        assert conn.execute("SELECT id FROM runs").fetchall() == [("parent",)]
        assert conn.execute("SELECT count(*) FROM step_runs").fetchone() == (1,)
    again = MetadataStore(url)  # upgrades back to the head
    try:
        assert again.schema_revision() == HEAD
        assert [r.id for r in again.list_runs(children=True)] == ["parent"]
    finally:
        again.close()
