"""Child runs: a run may belong to another one (the trials of a hyperparameter search).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, no copy of the table: existing runs keep their rows and
    # get NULL, which means "an ordinary run". SQLite cannot add a constraint to
    # a table, but it accepts a REFERENCES clause on an added column whose
    # default is NULL, so the foreign key is part of the column there.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE runs ADD COLUMN parent_id VARCHAR(32) REFERENCES runs (id)")
    else:
        op.add_column("runs", sa.Column("parent_id", sa.String(32)))
        op.create_foreign_key("fk_runs_parent_id", "runs", "runs", ["parent_id"], ["id"])
    op.add_column("runs", sa.Column("kind", sa.String(16)))
    op.create_index("ix_runs_parent", "runs", ["parent_id"])


def downgrade() -> None:
    # Without parent_id a child run would pass for an ordinary run: drop them.
    children = "SELECT id FROM runs WHERE parent_id IS NOT NULL"
    for table in ("metrics", "params"):
        op.execute(f"DELETE FROM {table} WHERE run_id IN ({children})")
    op.execute("DELETE FROM runs WHERE parent_id IS NOT NULL")
    op.drop_index("ix_runs_parent", table_name="runs")
    if op.get_bind().dialect.name == "sqlite":
        # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not a copy of the table:
        # with foreign keys on, dropping the old runs table would fail.
        op.execute("ALTER TABLE runs DROP COLUMN kind")
        op.execute("ALTER TABLE runs DROP COLUMN parent_id")
    else:
        op.drop_constraint("fk_runs_parent_id", "runs", type_="foreignkey")
        op.drop_column("runs", "kind")
        op.drop_column("runs", "parent_id")
