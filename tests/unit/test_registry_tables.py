"""The registry's tables (``shipyard.stores.metadata.registry``) on a real metadata store.

Registration is idempotent per bundle and numbers versions in order; stage
changes keep at most one production version, also when many threads promote
at once (the history then replays to the stages the versions are in); a
registration inside ``record_step`` is part of the step's transaction. The
PostgreSQL tests import these and run them on a real server.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from shipyard.errors import ModelNotFound
from shipyard.stores.metadata import (
    ArtifactRecord,
    MetadataStore,
    RunRecord,
    StepRunRecord,
)
from shipyard.stores.metadata import schema as t
from shipyard.stores.metadata.registry import Registration, RegistryTables


def bundle(n: int) -> ArtifactRecord:
    return ArtifactRecord(
        id=f"{n:064x}", data_type="shipyard.bundle.bundle.ModelBundle", materializer="model-bundle",
        materializer_version=1, uri=f"file:///b/{n}", size=1, files=1, created_at=time.time(),
    )


def registered(meta: MetadataStore, model: str, count: int) -> RegistryTables:
    tables = RegistryTables(meta)
    for n in range(1, count + 1):
        version, created = tables.register(
            Registration(model=model, bundle_id=bundle(n).id, metrics={"eval.auc": 0.5 + n / 100}, user="u"),
            artifacts=[bundle(n)],
        )
        assert (version.version, created) == (n, True)
    return tables


def test_register_is_idempotent_per_bundle_and_applies_stage_and_alias(meta: MetadataStore) -> None:
    tables = registered(meta, "m", 2)
    again, created = tables.register(
        Registration(model="m", bundle_id=bundle(1).id, stage="production", alias="champion", user="u")
    )
    assert (again.version, created, again.stage, again.aliases) == (1, False, "production", ("champion",))
    assert again.metrics == {"eval.auc": pytest.approx(0.51)}
    change = tables.set_stage("m", 2, "production", user="v", reason="better")
    assert change.replaced is not None and (change.replaced.version, change.replaced.stage) == (1, "archived")
    summary = tables.models("m")[0]
    assert (summary.versions, summary.latest, summary.production, summary.aliases) == (2, 2, 2, {"champion": 1})
    assert [v.version for v in tables.versions("m", alias="champion")] == [1]
    assert [e.kind for e in tables.events("m")] == ["register", "register", "stage", "alias", "stage", "stage"]
    with pytest.raises(ModelNotFound):
        tables.set_stage("m", 7, "staging", user="u")
    with pytest.raises(ModelNotFound):
        tables.set_alias("nope", "a", 1, user="u")


def test_the_production_index_refuses_a_second_production_version(meta: MetadataStore) -> None:
    registered(meta, "unique", 2).set_stage("unique", 1, "production", user="u")
    with pytest.raises(IntegrityError), meta._write() as conn:
        conn.execute(
            update(t.model_versions)
            .where(t.model_versions.c.model == "unique", t.model_versions.c.version == 2)
            .values(stage="production")
        )


def test_many_threads_promoting_at_once_leave_one_production_version(meta: MetadataStore) -> None:
    tables = registered(meta, "race", 3)
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def promote(version: int) -> None:
        try:
            start.wait(timeout=30)
            for _ in range(8):
                tables.set_stage("race", version, "production", user=f"t{version}")
                tables.set_stage("race", version, "staging", user=f"t{version}")
            tables.set_stage("race", version, "production", user=f"t{version}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=promote, args=(v,)) for v in (1, 2, 3, 1, 2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    versions = tables.versions("race")
    assert [v.stage for v in versions].count("production") == 1
    stages = {v.version: "none" for v in versions}
    for event in tables.events("race", kinds=("stage", "rollback")):
        assert stages[event.version] == event.from_value
        stages[event.version] = str(event.to_value)
        assert list(stages.values()).count("production") <= 1
    assert stages == {v.version: v.stage for v in versions}


def test_a_step_registration_is_part_of_the_step_record(meta: MetadataStore) -> None:
    meta.start_run(RunRecord(id="r1", pipeline="p", status="running", started_at=time.time()), {})
    step = StepRunRecord(id="s1", run_id="r1", step="register", status="completed", outputs={"output": bundle(1).id})
    request = Registration(model="steps", bundle_id=bundle(1).id, run_id="r1", stage="staging", user="u")
    meta.record_step(step, [bundle(1)], registrations=[request])
    version = RegistryTables(meta).versions("steps")[0]
    assert (version.version, version.stage, version.run_id) == (1, "staging", "r1")
    # A registration that cannot be recorded takes the step run down with it.
    broken = Registration(model="steps", bundle_id="f" * 64, run_id="r1", user="u")  # no such artifact
    with pytest.raises(IntegrityError):
        meta.record_step(
            StepRunRecord(id="s2", run_id="r1", step="register", status="completed"), registrations=[broken]
        )
    assert [s.id for s in meta.step_runs("r1")] == ["s1"]
    assert [v.version for v in RegistryTables(meta).versions("steps")] == [1]


def test_deleting_a_run_keeps_its_registered_versions(meta: MetadataStore) -> None:
    meta.start_run(RunRecord(id="gone", pipeline="p", status="completed", started_at=time.time()), {})
    tables = RegistryTables(meta)
    tables.register(Registration(model="kept", bundle_id=bundle(1).id, run_id="gone", user="u"), artifacts=[bundle(1)])
    meta.delete_run("gone")
    version = tables.versions("kept")[0]
    assert (version.version, version.run_id, version.bundle_id) == (1, None, bundle(1).id)
