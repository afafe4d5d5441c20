"""The metadata store on a real PostgreSQL server: the store tests again, plus schema upgrades.

The key behaviours of ``tests/unit/test_metadata_store.py`` and
``tests/unit/test_child_runs.py`` (schema equal to the migrations, runs, step
runs, lineage, de-duplicated artifacts, cache lookups, one transaction per
write, reaping, child runs) run here once more, each against a new database on
the session's PostgreSQL server: the ``meta`` fixture of conftest.py replaces the
SQLite one for the imported tests.
"""

from __future__ import annotations

import threading

import pytest

from shipyard.errors import StoreError, StoreMigrationRequired, StoreVersionError
from shipyard.stores.metadata import HEAD, MetadataStore
from tests.team.servers import free_port
from tests.team.support import old_store
from tests.unit.conftest import dead_pid  # noqa: F401 - a fixture the imported tests use
from tests.unit.test_child_runs import (  # noqa: F401 - collected again, on PostgreSQL
    test_a_child_needs_an_existing_parent,
    test_children_are_recorded_with_their_params_and_metrics,
    test_children_stay_out_of_listings_and_latest,
    test_deleting_a_run_deletes_its_children,
    test_the_step_and_its_children_are_one_transaction,
)
from tests.unit.test_metadata_store import (  # noqa: F401 - collected again, on PostgreSQL
    make_run,
    test_alembic_autogenerate_finds_no_difference,
    test_artifact_edges_give_producers_and_consumers_oldest_first,
    test_delete_run_removes_everything_of_the_run,
    test_find_cached_returns_the_newest_completed_step_run,
    test_finish_run_defaults_end_time_to_now,
    test_get_artifact_prefix_ambiguous_and_unknown,
    test_get_run_by_prefix_latest_and_errors,
    test_get_run_prefix_is_not_a_pattern,
    test_latest_of_an_empty_store,
    test_list_runs_filters_orders_and_pages,
    test_previous_step_run_skips_this_run_and_skipped_steps,
    test_reap_crashed_for_another_host,
    test_reap_crashed_marks_dead_runs_and_leaves_live_ones,
    test_record_step_is_one_transaction,
    test_record_step_roundtrip_with_lineage_and_metrics,
    test_run_roundtrip,
    test_same_artifact_from_two_step_runs_is_stored_once,
    test_unknown_step_run,
)


def test_a_new_database_gets_the_schema_and_runs_are_shared(postgres_url, postgres_server):
    first = MetadataStore(postgres_url)
    second = MetadataStore(postgres_url)
    try:
        first.start_run(make_run("r1"), {"": {"k": 1}})
        second.finish_run("r1", status="completed")
        assert first.get_run("r1").status == "completed"
        assert first.schema_revision() == HEAD
    finally:
        first.close()
        second.close()
    database = postgres_url.rsplit("/", 1)[1]
    assert postgres_server.query(database, "SELECT version_num FROM alembic_version") == [(HEAD,)]
    assert postgres_server.query(database, "SELECT id, status FROM runs") == [("r1", "completed")]


def test_an_older_shared_store_is_not_upgraded_on_open(postgres_url, postgres_server):
    old_store(postgres_url, "0002")
    with pytest.raises(StoreMigrationRequired, match=r"is at schema revision '0002'") as exc:
        MetadataStore(postgres_url)
    assert isinstance(exc.value, StoreVersionError)
    assert "shipyard stack migrate" in (exc.value.hint or "")
    database = postgres_url.rsplit("/", 1)[1]
    assert postgres_server.query(database, "SELECT version_num FROM alembic_version") == [("0002",)]

    assert MetadataStore.migrate(postgres_url) == ("0002", HEAD)
    assert MetadataStore.migrate(postgres_url) == (HEAD, HEAD)
    store = MetadataStore(postgres_url)
    try:
        assert store.schema_revision() == HEAD
        assert store.get_run("r1").status == "completed"  # records kept
    finally:
        store.close()


def test_a_store_from_a_newer_shipyard_is_refused(postgres_url, postgres_server):
    MetadataStore(postgres_url).close()
    database = postgres_url.rsplit("/", 1)[1]
    with postgres_server.connect(database) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0999'")
    for attempt in (lambda: MetadataStore(postgres_url), lambda: MetadataStore.migrate(postgres_url)):
        with pytest.raises(StoreVersionError, match=r"'0999', written by a newer Shipyard") as exc:
            attempt()
        assert "Upgrade Shipyard" in (exc.value.hint or "")


def test_opening_an_empty_database_from_many_threads_at_once_migrates_once(postgres_url):
    errors: list[BaseException] = []
    stores: list[MetadataStore] = []
    lock = threading.Lock()

    def open_store() -> None:
        try:
            store = MetadataStore(postgres_url)
            with lock:
                stores.append(store)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == []
        assert len(stores) == 6
        assert {s.schema_revision() for s in stores} == {HEAD}
    finally:
        for store in stores:
            store.close()


def test_a_password_comes_from_the_environment(postgres_server, postgres_url, monkeypatch):
    database = postgres_url.rsplit("/", 1)[1]
    user, password = postgres_server.password_login(database)
    url = f"postgresql://{user}:${{SHIPYARD_TEST_PW}}@127.0.0.1:{postgres_server.port}/{database}"
    monkeypatch.delenv("SHIPYARD_TEST_PW", raising=False)
    with pytest.raises(StoreError, match=r"\$\{SHIPYARD_TEST_PW\}.*not set"):
        MetadataStore(url)
    monkeypatch.setenv("SHIPYARD_TEST_PW", "wrong")
    with pytest.raises(StoreError, match=r"password authentication failed") as exc:
        MetadataStore(url)
    assert "wrong" not in str(exc.value)
    monkeypatch.setenv("SHIPYARD_TEST_PW", password)
    store = MetadataStore(url)
    try:
        store.start_run(make_run("r1"), {})
        assert store.get_run("r1").id == "r1"
        assert store.url == url  # kept with the reference, never the secret
    finally:
        store.close()


def test_an_unreachable_server_is_a_store_error():
    url = f"postgresql://nobody:hunter2@127.0.0.1:{free_port()}/db?connect_timeout=5"
    with pytest.raises(StoreError, match=r"Cannot open the metadata store 'postgresql://nobody:\*\*\*@") as exc:
        MetadataStore(url)
    assert "hunter2" not in str(exc.value)


def test_writers_from_many_connections_queue_like_on_sqlite(postgres_url):
    """Read-then-write transactions (the next version number) stay correct: one writer at a time."""
    from tests.unit.test_metadata_store import make_artifact

    stores = [MetadataStore(postgres_url) for _ in range(8)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def add(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            stores[i].add_dataset_version(
                "taxi", artifact=make_artifact(f"{i:02d}" + "0" * 62), statistics=None, rows=i, columns=["x"]
            )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == []
        versions = stores[0].dataset_versions("taxi")
        assert sorted(v.version for v in versions) == list(range(1, len(stores) + 1))
        assert sorted(v.rows for v in versions) == list(range(len(stores)))
    finally:
        for store in stores:
            store.close()
