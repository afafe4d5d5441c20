"""Helpers of the shared-store tests."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine


def old_store(url: str, revision: str) -> None:
    """A metadata store as an older Shipyard left it: migrations up to ``revision``, one run ``r1``.

    Alembic runs directly here (not through ``MetadataStore``), like that version did.
    """
    from alembic import command
    from alembic.config import Config

    import shipyard.stores.metadata.store as store_module

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    config = Config()
    config.set_main_option("script_location", str(Path(store_module.__file__).with_name("migrations")))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.exec_driver_sql("INSERT INTO pipelines (name, created_at) VALUES ('p', 1.0)")
        conn.exec_driver_sql(
            "INSERT INTO runs (id, pipeline, status, started_at) VALUES ('r1', 'p', 'completed', 1.0)"
        )
    engine.dispose()
