"""The SQL metadata store on real SQLite files: schema, runs, step runs, lineage, reaping."""

import os
import socket
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from shipyard.errors import ArtifactNotFound, RunNotFound, StoreError, StoreVersionError
from shipyard.stores.metadata import (
    HEAD,
    REVISIONS,
    ArtifactRecord,
    MetadataStore,
    RunRecord,
    StepRunRecord,
    masked_url,
)
from shipyard.stores.metadata.schema import metadata as schema_metadata
from shipyard.stores.process import process_token

HOST = socket.gethostname()
T0 = 1_700_000_000.0


def make_run(
    run_id: str, *, pipeline: str = "training", started_at: float = T0, **fields
) -> RunRecord:
    fields.setdefault("status", "running")
    fields.setdefault("host", HOST)
    return RunRecord(id=run_id, pipeline=pipeline, started_at=started_at, **fields)


def make_artifact(artifact_id: str, **fields) -> ArtifactRecord:
    values = {
        "data_type": "pandas.DataFrame",
        "materializer": "pandas-parquet",
        "materializer_version": 1,
        "uri": f"file:///store/{artifact_id[:2]}/{artifact_id}",
        "size": 100,
        "files": 1,
        "created_at": T0,
    }
    values.update(fields)
    return ArtifactRecord(id=artifact_id, **values)


def make_step(
    step_run_id: str, run_id: str, step: str, *, started_at: float = T0, **fields
) -> StepRunRecord:
    fields.setdefault("status", "completed")
    fields.setdefault("ended_at", started_at + 1)
    return StepRunRecord(
        id=step_run_id, run_id=run_id, step=step, started_at=started_at, **fields
    )


A1 = "a1" + "0" * 62
A2 = "a2" + "0" * 62
B1 = "b1" + "0" * 62


# -- schema ------------------------------------------------------------------


def test_new_store_is_migrated_to_head(meta, tmp_path):
    assert REVISIONS[-1] == HEAD
    assert meta.schema_revision() == HEAD
    with sqlite3.connect(tmp_path / "meta" / "m.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (HEAD,)
        ]


def test_migrated_tables_match_the_schema_module(meta):
    inspector = sa.inspect(meta._engine)
    tables = set(inspector.get_table_names()) - {"alembic_version"}
    assert tables == set(schema_metadata.tables)
    for table in schema_metadata.sorted_tables:
        columns = {c["name"]: c for c in inspector.get_columns(table.name)}
        assert list(columns) == [c.name for c in table.columns], table.name
        for column in table.columns:
            found = columns[column.name]
            assert found["nullable"] == column.nullable, (table.name, column.name)
            assert str(found["type"]) == column.type.compile(meta._engine.dialect), (
                table.name,
                column.name,
            )
        pk = inspector.get_pk_constraint(table.name)["constrained_columns"]
        assert pk == [c.name for c in table.primary_key.columns], table.name
        indexes = {
            i["name"]: i["column_names"] for i in inspector.get_indexes(table.name)
        }
        assert indexes == {
            i.name: [c.name for c in i.columns] for i in table.indexes
        }, table.name
        fks = sorted(
            (
                tuple(fk["constrained_columns"]),
                fk["referred_table"],
                tuple(fk["referred_columns"]),
            )
            for fk in inspector.get_foreign_keys(table.name)
        )
        expected = sorted(
            (
                tuple(c.name for c in fk.columns),
                fk.referred_table.name,
                tuple(e.column.name for e in fk.elements),
            )
            for fk in table.foreign_key_constraints
        )
        assert fks == expected, table.name


def test_alembic_autogenerate_finds_no_difference(meta):
    with meta._engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), schema_metadata)
    assert diff == []


def test_reopening_a_store_keeps_its_data(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    first = MetadataStore(url)
    first.start_run(make_run("r1"), {})
    first.close()
    second = MetadataStore(url)
    try:
        assert second.schema_revision() == HEAD
        assert second.get_run("r1").pipeline == "training"
    finally:
        second.close()


def test_store_at_an_unknown_newer_revision_is_refused(tmp_path):
    path = tmp_path / "m.db"
    MetadataStore(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0999'")
    with pytest.raises(
        StoreVersionError,
        match=rf"is at schema revision '0999', written by a newer Shipyard; this version knows up to '{HEAD}'",
    ) as exc:
        MetadataStore(f"sqlite:///{path}")
    assert "Upgrade Shipyard" in (exc.value.hint or "")
    assert isinstance(exc.value, StoreError)


def test_sqlite_store_uses_wal_and_foreign_keys(meta, tmp_path):
    with sqlite3.connect(tmp_path / "meta" / "m.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent
    with meta._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_sqlite_parent_folders_are_created(tmp_path):
    store = MetadataStore(f"sqlite:///{tmp_path / 'deep' / 'er' / 'm.db'}")
    store.close()
    assert (tmp_path / "deep" / "er" / "m.db").is_file()


# -- unreachable stores ------------------------------------------------------


@pytest.mark.parametrize("inside", ["m.db", "sub/m.db"])
def test_sqlite_path_inside_a_file_is_a_store_error(tmp_path, inside):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(StoreError, match=r"metadata store"):
        MetadataStore(f"sqlite:///{blocker}/{inside}")


def test_sqlite_database_that_cannot_be_opened_is_a_store_error(tmp_path):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(
        StoreError,
        match=r"Cannot open the metadata store 'sqlite:///.*a-folder': unable to open",
    ):
        MetadataStore(f"sqlite:///{folder}")


def test_postgres_without_driver_is_a_store_error_with_masked_password():
    with pytest.raises(
        StoreError, match=r"needs a database driver that is not installed"
    ) as exc:
        MetadataStore("postgresql+pg8000://user:secret@localhost:1/db")  # a driver not installed
    assert "secret" not in str(exc.value)
    assert "user:***@localhost" in str(exc.value)
    assert "pip install 'shipyard[postgres]'" in (exc.value.hint or "")


def test_text_that_is_not_a_url_is_a_store_error():
    with pytest.raises(
        StoreError, match=r"Metadata store URL 'not a url' is not a database URL"
    ):
        MetadataStore("not a url")


def test_masked_url():
    assert masked_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert masked_url("sqlite:///x.db") == "sqlite:///x.db"


# -- runs --------------------------------------------------------------------


def test_run_roundtrip(meta):
    run = make_run(
        "run00001",
        pid=os.getpid(),
        process_token="1:2",
        user="tester",
        orchestrator="local",
        git_commit="abc",
        git_branch="main",
        git_dirty=False,
        config={"cache": True},
        graph={"name": "training", "steps": []},
        environment={"python": "3.11"},
    )
    meta.start_run(run, {"": {"rows": 10}, "load": {"rows": 10, "path": "x.csv"}})
    assert meta.get_run("run00001") == run
    assert meta.list_pipelines() == ["training"]
    assert meta.run_params("run00001") == {
        "": {"rows": 10},
        "load": {"rows": 10, "path": "x.csv"},
    }

    meta.finish_run(
        "run00001", status="failed", ended_at=T0 + 5, error="boom", error_step="load"
    )
    done = meta.get_run("run00001")
    assert done.status == "failed"
    assert done.ended_at == T0 + 5 and done.duration == 5
    assert (done.error, done.error_step) == ("boom", "load")
    assert done.config == {"cache": True}


def test_finish_run_defaults_end_time_to_now(meta):
    meta.start_run(make_run("r1"), {})
    meta.finish_run("r1", status="completed")
    assert meta.get_run("r1").ended_at > T0


def test_get_run_by_prefix_latest_and_errors(meta):
    meta.start_run(make_run("abc111", started_at=T0), {})
    meta.start_run(make_run("abc222", started_at=T0 + 10), {})
    meta.start_run(make_run("abc2", started_at=T0 + 5), {})
    meta.start_run(make_run("ffff00", started_at=T0 + 1), {})
    assert meta.get_run("ff").id == "ffff00"
    assert meta.get_run("abc1").id == "abc111"
    assert meta.get_run("latest").id == "abc222"
    assert (
        meta.get_run("abc2").id == "abc2"
    )  # an exact id wins over longer ids it prefixes
    with pytest.raises(
        RunNotFound,
        match=r"Run id 'abc' is ambiguous; it matches .*abc111.*Give more characters",
    ):
        meta.get_run("abc")
    with pytest.raises(RunNotFound, match=r"No run matches 'zzz' in this store") as exc:
        meta.get_run("zzz")
    assert "shipyard runs list" in (exc.value.hint or "")


def test_get_run_prefix_is_not_a_pattern(meta):
    meta.start_run(make_run("abc111"), {})
    with pytest.raises(RunNotFound):
        meta.get_run("a%")
    with pytest.raises(RunNotFound):
        meta.get_run("_bc")


def test_latest_of_an_empty_store(meta):
    with pytest.raises(RunNotFound, match="No run matches 'latest'"):
        meta.get_run("latest")


def test_list_runs_filters_orders_and_pages(meta):
    meta.start_run(make_run("r1", pipeline="training", started_at=T0 + 1), {})
    meta.start_run(make_run("r2", pipeline="scoring", started_at=T0 + 2), {})
    meta.start_run(make_run("r3", pipeline="training", started_at=T0 + 3), {})
    meta.start_run(make_run("r4", pipeline="training", started_at=T0 + 4), {})
    meta.finish_run("r1", status="completed")
    meta.finish_run("r3", status="failed")

    assert [r.id for r in meta.list_runs()] == ["r4", "r3", "r2", "r1"]
    assert [r.id for r in meta.list_runs(pipeline="training")] == ["r4", "r3", "r1"]
    assert [r.id for r in meta.list_runs(status="running")] == ["r4", "r2"]
    assert [r.id for r in meta.list_runs(pipeline="training", status="failed")] == [
        "r3"
    ]
    assert [r.id for r in meta.list_runs(limit=2)] == ["r4", "r3"]
    assert [r.id for r in meta.list_runs(limit=2, offset=2)] == ["r2", "r1"]
    assert [r.id for r in meta.list_runs(pipeline="training", limit=1, offset=1)] == [
        "r3"
    ]
    assert meta.count_runs() == 4
    assert meta.count_runs(pipeline="training") == 3
    assert meta.count_runs(pipeline="training", status="running") == 1
    assert meta.list_pipelines() == ["scoring", "training"]


def test_delete_run_removes_everything_of_the_run(meta):
    meta.start_run(make_run("r1"), {"load": {"rows": 1}})
    meta.record_step(
        make_step("s1", "r1", "load", outputs={"output": A1}, metrics={"rows": 1.0}),
        [make_artifact(A1)],
    )
    meta.start_run(make_run("r2", started_at=T0 + 1), {})
    meta.delete_run("r1")
    with pytest.raises(RunNotFound):
        meta.get_run("r1")
    assert meta.step_runs("r1") == []
    assert meta.run_params("r1") == {}
    assert meta.run_metrics("r1") == {}
    assert meta.get_run("r2").id == "r2"
    assert meta.get_artifact(A1).id == A1  # artifacts are content, kept


# -- step runs ---------------------------------------------------------------


def test_record_step_roundtrip_with_lineage_and_metrics(meta):
    meta.start_run(make_run("r1"), {})
    load = make_step(
        "s-load",
        "r1",
        "load",
        cache_key="k1",
        cache_parts={"code": {"m.load": "h"}, "params": {"rows": 3}},
        params={"rows": 3},
        reason="first run",
        outputs={"output": A1},
        metrics={"rows": 3.0},
    )
    meta.record_step(load, [make_artifact(A1, producer="s-load")])
    train = make_step(
        "s-train",
        "r1",
        "train",
        started_at=T0 + 2,
        inputs={"data": A1},
        outputs={"model": B1, "report": A2},
        metrics={"accuracy": 0.9, "loss": 0.25},
    )
    meta.record_step(
        train, [make_artifact(B1), make_artifact(A2, data_type="builtins.dict")]
    )

    assert meta.step_runs("r1") == [load, train]
    assert meta.get_step_run("s-train") == train
    assert meta.run_metrics("r1") == {
        "load": {"rows": 3.0},
        "train": {"accuracy": 0.9, "loss": 0.25},
    }
    assert meta.get_artifact(A1) == make_artifact(A1, producer="s-load")
    assert meta.get_artifacts([A1, B1, "missing"]).keys() == {A1, B1}
    assert {a.id for a in meta.list_artifacts(run_id="r1")} == {A1, A2, B1}


def test_unknown_step_run(meta):
    with pytest.raises(RunNotFound, match=r"No step run 'nope' in this store"):
        meta.get_step_run("nope")


def test_same_artifact_from_two_step_runs_is_stored_once(meta):
    meta.start_run(make_run("r1"), {})
    meta.start_run(make_run("r2", started_at=T0 + 10), {})
    meta.record_step(
        make_step("s1", "r1", "load", outputs={"output": A1}), [make_artifact(A1)]
    )
    meta.record_step(
        make_step("s2", "r2", "load", started_at=T0 + 10, outputs={"output": A1}),
        [make_artifact(A1, created_at=T0 + 10)],
    )
    with meta._engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM artifacts").scalar() == 1
    assert meta.get_artifact(A1).created_at == T0  # the first record is kept
    assert len(meta.list_artifacts()) == 1


def test_artifact_edges_give_producers_and_consumers_oldest_first(meta):
    for i, run_id in enumerate(["r1", "r2"]):
        start = T0 + 100 * i
        meta.start_run(make_run(run_id, started_at=start), {})
        meta.record_step(
            make_step(
                f"{run_id}-load",
                run_id,
                "load",
                started_at=start,
                status="completed" if i == 0 else "cached",
                cached_from=None if i == 0 else "r1-load",
                outputs={"output": A1},
            ),
            [make_artifact(A1)],
        )
        meta.record_step(
            make_step(
                f"{run_id}-train",
                run_id,
                "train",
                started_at=start + 1,
                inputs={"data": A1},
                outputs={"output": B1},
            ),
            [make_artifact(B1)],
        )

    produced = meta.artifact_edges(A1, kind="outputs")
    assert [(sr.id, name) for sr, name in produced] == [
        ("r1-load", "output"),
        ("r2-load", "output"),
    ]
    assert produced[1][0].cached_from == "r1-load"
    consumed = meta.artifact_edges(A1, kind="inputs")
    assert [(sr.id, name) for sr, name in consumed] == [
        ("r1-train", "data"),
        ("r2-train", "data"),
    ]
    assert meta.artifact_edges(B1, kind="inputs") == []
    assert [sr.step for sr, _ in meta.artifact_edges(B1, kind="outputs")] == [
        "train",
        "train",
    ]


def test_get_artifact_prefix_ambiguous_and_unknown(meta):
    meta.start_run(make_run("r1"), {})
    meta.record_step(
        make_step("s1", "r1", "x", outputs={"a": A1, "b": A2}),
        [make_artifact(A1), make_artifact(A2)],
    )
    assert meta.get_artifact("a1").id == A1
    with pytest.raises(ArtifactNotFound, match=r"Artifact id 'a' is ambiguous"):
        meta.get_artifact("a")
    with pytest.raises(
        ArtifactNotFound, match=r"No artifact matches 'ff' in this store"
    ):
        meta.get_artifact("ff")


def test_find_cached_returns_the_newest_completed_step_run(meta):
    meta.start_run(make_run("r1"), {})
    meta.record_step(
        make_step("old", "r1", "load", cache_key="K", outputs={"output": A1}),
        [make_artifact(A1)],
    )
    meta.record_step(
        make_step(
            "new",
            "r1",
            "load2",
            started_at=T0 + 5,
            cache_key="K",
            outputs={"output": A2},
        ),
        [make_artifact(A2)],
    )
    meta.record_step(
        make_step(
            "bad", "r1", "load3", started_at=T0 + 9, cache_key="K", status="failed"
        )
    )
    found = meta.find_cached("K")
    assert found is not None
    hit, artifacts = found
    assert hit.id == "new" and hit.outputs == {"output": A2}
    assert artifacts["output"].id == A2
    assert meta.find_cached("other") is None


def test_previous_step_run_skips_this_run_and_skipped_steps(meta):
    meta.start_run(make_run("r1", started_at=T0), {})
    meta.start_run(make_run("r2", started_at=T0 + 10), {})
    meta.start_run(make_run("r3", started_at=T0 + 20), {})
    meta.start_run(make_run("other", pipeline="scoring", started_at=T0 + 30), {})
    meta.record_step(make_step("s1", "r1", "fit", started_at=T0, status="failed"))
    meta.record_step(make_step("s2", "r2", "fit", started_at=T0 + 10, status="skipped"))
    meta.record_step(make_step("s3", "r3", "fit", started_at=T0 + 20))
    meta.record_step(make_step("s4", "other", "fit", started_at=T0 + 30))
    assert meta.previous_step_run("training", "fit").id == "s3"
    assert meta.previous_step_run("training", "fit", exclude_run="r3").id == "s1"
    assert meta.previous_step_run("training", "nope") is None


def test_record_step_is_one_transaction(meta):
    meta.start_run(make_run("r1"), {})
    bad = make_step(
        "s1", "r1", "train", inputs={"data": "f" * 64}, outputs={"output": A1}
    )
    with pytest.raises(sa.exc.IntegrityError):  # the input artifact is unknown
        meta.record_step(bad, [make_artifact(A1)])
    assert meta.step_runs("r1") == []
    assert meta.get_artifacts([A1]) == {}


# -- crashed runs ------------------------------------------------------------


def test_reap_crashed_marks_dead_runs_and_leaves_live_ones(meta, dead_pid):
    meta.start_run(
        make_run("dead", pid=dead_pid, process_token=f"{dead_pid}:12345"), {}
    )
    meta.start_run(make_run("live", pid=os.getpid(), process_token=process_token()), {})
    meta.start_run(make_run("no-token", pid=os.getpid(), process_token=None), {})
    meta.start_run(
        make_run("reused", pid=os.getpid(), process_token=f"{os.getpid()}:1"), {}
    )
    meta.start_run(make_run("elsewhere", pid=dead_pid, host="another-host"), {})
    meta.start_run(make_run("finished", pid=dead_pid), {})
    meta.finish_run("finished", status="completed", ended_at=T0 + 1)

    assert meta.reap_crashed() == ["dead", "reused"]
    dead = meta.get_run("dead")
    assert dead.status == "crashed"
    assert dead.error == (
        f"process {dead_pid} ended without finishing the run (killed, crashed or interrupted)"
    )
    assert dead.ended_at is not None
    assert (
        meta.get_run("reused").status == "crashed"
    )  # same pid, other process start time
    assert meta.get_run("live").status == "running"
    assert meta.get_run("no-token").status == "running"
    assert meta.get_run("elsewhere").status == "running"
    assert meta.get_run("finished").status == "completed"
    assert meta.reap_crashed() == []


def test_reap_crashed_for_another_host(meta, dead_pid):
    meta.start_run(make_run("elsewhere", pid=dead_pid, host="another-host"), {})
    assert meta.reap_crashed(host="another-host") == ["elsewhere"]
    assert meta.get_run("elsewhere").status == "crashed"


def test_two_store_objects_share_one_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    a, b = MetadataStore(url), MetadataStore(url)
    try:
        a.start_run(make_run("r1"), {})
        b.finish_run("r1", status="completed", ended_at=T0 + 1)
        assert a.get_run("r1").status == "completed"
    finally:
        a.close()
        b.close()
    assert Path(tmp_path / "shared.db").is_file()


def test_a_store_at_an_older_revision_is_upgraded_and_keeps_its_records(tmp_path):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    import shipyard.stores.metadata.store as store_module

    path = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{path}")
    config = Config()
    config.set_main_option(
        "script_location", str(Path(store_module.__file__).with_name("migrations"))
    )
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.exec_driver_sql(
            "INSERT INTO pipelines (name, created_at) VALUES ('p', 1.0)"
        )
        conn.exec_driver_sql(
            "INSERT INTO runs (id, pipeline, status, started_at) VALUES ('r1', 'p', 'completed', 1.0)"
        )
    engine.dispose()
    store = MetadataStore(f"sqlite:///{path}")
    try:
        assert store.schema_revision() == HEAD
        assert store.get_run("r1").status == "completed"
        assert store.list_datasets() == []
    finally:
        store.close()


def test_urls_in_messages_hide_written_out_secrets_but_not_references():
    from shipyard.stores.metadata import masked_url

    assert masked_url("postgresql://ann:hunter2@db/x") == "postgresql://ann:***@db/x"
    assert masked_url("postgresql://ann:${PGPASSWORD}@db/x") == "postgresql://ann:${PGPASSWORD}@db/x"
    assert "zz" not in masked_url("postgresql://ann@db/x?sslpassword=zz")
