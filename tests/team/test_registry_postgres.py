"""The model registry's tables on a real PostgreSQL server.

The store-level registry tests run again against a new database each: the
partial unique index, the per-model row lock under concurrent promotions, and
registrations recorded inside a step run's transaction.
"""

from __future__ import annotations

from tests.unit.test_registry_tables import (  # noqa: F401 - collected again, on PostgreSQL
    test_a_step_registration_is_part_of_the_step_record,
    test_deleting_a_run_keeps_its_registered_versions,
    test_many_threads_promoting_at_once_leave_one_production_version,
    test_register_is_idempotent_per_bundle_and_applies_stage_and_alias,
    test_the_production_index_refuses_a_second_production_version,
)

