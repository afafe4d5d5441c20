"""Collaboration: the code's remote, a dirty tree's diff, reproductions, tags and notes on
runs, and the model registry.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PRODUCTION = sa.text("stage = 'production'")


def upgrade() -> None:
    op.add_column("runs", sa.Column("git_remote", sa.String(500)))
    op.add_column("runs", sa.Column("git_diff_id", sa.String(64)))
    # As in 0003: SQLite takes a foreign key only inside an added column's definition.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE runs ADD COLUMN reproduces VARCHAR(32) REFERENCES runs (id)")
    else:
        op.add_column("runs", sa.Column("reproduces", sa.String(32)))
        op.create_foreign_key("fk_runs_reproduces", "runs", "runs", ["reproduces"], ["id"])

    op.create_table(
        "run_tags",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("tag", sa.String(200), primary_key=True),
        sa.Column("user", sa.String(200)),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_run_tags_tag", "run_tags", ["tag"])
    op.create_table(
        "run_notes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("user", sa.String(200)),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_run_notes_run", "run_notes", ["run_id"])

    op.create_table(
        "models",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("description", sa.Text),
        sa.Column("user", sa.String(200)),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("model", sa.String(200), sa.ForeignKey("models.name"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("bundle_id", sa.String(64), sa.ForeignKey("artifacts.id"), nullable=False),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id")),
        sa.Column("data_version", sa.String(64)),
        sa.Column("metrics", sa.JSON),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("user", sa.String(200)),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_model_versions_bundle", "model_versions", ["model", "bundle_id"], unique=True)
    op.create_index(
        "ux_model_versions_production",
        "model_versions",
        ["model"],
        unique=True,
        sqlite_where=PRODUCTION,
        postgresql_where=PRODUCTION,
    )
    op.create_table(
        "model_aliases",
        sa.Column("model", sa.String(200), sa.ForeignKey("models.name"), primary_key=True),
        sa.Column("alias", sa.String(100), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("user", sa.String(200)),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "model_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(200), sa.ForeignKey("models.name"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("from_value", sa.String(100)),
        sa.Column("to_value", sa.String(100)),
        sa.Column("reason", sa.Text),
        sa.Column("user", sa.String(200)),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_model_events_model", "model_events", ["model", "created_at"])

    # Sorting runs by a metric (the dashboard) and reading a step run's metrics stay fast with many runs.
    op.create_index("ix_metrics_key", "metrics", ["key", "run_id", "value"])
    op.create_index("ix_metrics_step_run", "metrics", ["step_run_id"])


def downgrade() -> None:
    op.drop_index("ix_metrics_step_run", "metrics")
    op.drop_index("ix_metrics_key", "metrics")
    for table in ("model_events", "model_aliases", "model_versions", "models", "run_notes", "run_tags"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "sqlite":
        for column in ("reproduces", "git_diff_id", "git_remote"):
            op.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    else:
        op.drop_constraint("fk_runs_reproduces", "runs", type_="foreignkey")
        for column in ("reproduces", "git_diff_id", "git_remote"):
            op.drop_column("runs", column)
