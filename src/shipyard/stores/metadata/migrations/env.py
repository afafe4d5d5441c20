"""Alembic environment for the Shipyard metadata store.

Shipyard runs migrations itself (``MetadataStore.upgrade``) and passes the open
connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from shipyard.stores.metadata.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
