"""Initial tables: pipelines, runs, step runs, artifacts, lineage, params, metrics.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("pipeline", sa.String(200), sa.ForeignKey("pipelines.name"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
        sa.Column("user", sa.String(200)),
        sa.Column("host", sa.String(255)),
        sa.Column("pid", sa.Integer),
        sa.Column("process_token", sa.String(64)),
        sa.Column("orchestrator", sa.String(32)),
        sa.Column("git_commit", sa.String(64)),
        sa.Column("git_branch", sa.String(255)),
        sa.Column("git_dirty", sa.Boolean),
        sa.Column("config", sa.JSON),
        sa.Column("graph", sa.JSON),
        sa.Column("environment", sa.JSON),
        sa.Column("error", sa.Text),
        sa.Column("error_step", sa.String(200)),
    )
    op.create_index("ix_runs_pipeline_started", "runs", ["pipeline", "started_at"])
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_index("ix_runs_started", "runs", ["started_at"])
    op.create_table(
        "step_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("step", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("ended_at", sa.Float),
        sa.Column("cache_key", sa.String(64)),
        sa.Column("cache_parts", sa.JSON),
        sa.Column("params", sa.JSON),
        sa.Column("cached_from", sa.String(32)),
        sa.Column("reason", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("traceback", sa.Text),
    )
    op.create_index("ix_step_runs_run", "step_runs", ["run_id"])
    op.create_index("ix_step_runs_cache_key", "step_runs", ["cache_key", "status"])
    op.create_index("ix_step_runs_step", "step_runs", ["step", "started_at"])
    op.create_table(
        "artifacts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("data_type", sa.String(255), nullable=False),
        sa.Column("materializer", sa.String(100), nullable=False),
        sa.Column("materializer_version", sa.Integer, nullable=False),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("files", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("producer", sa.String(32)),
    )
    for table in ("step_inputs", "step_outputs"):
        op.create_table(
            table,
            sa.Column(
                "step_run_id", sa.String(32), sa.ForeignKey("step_runs.id"), primary_key=True
            ),
            sa.Column("name", sa.String(200), primary_key=True),
            sa.Column(
                "artifact_id", sa.String(64), sa.ForeignKey("artifacts.id"), nullable=False
            ),
        )
        op.create_index(f"ix_{table}_artifact", table, ["artifact_id"])
    op.create_table(
        "params",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("step", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("value", sa.JSON),
    )
    op.create_table(
        "metrics",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("step", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("value", sa.Float),
        sa.Column("step_run_id", sa.String(32)),
    )


def downgrade() -> None:
    for table in (
        "metrics",
        "params",
        "step_outputs",
        "step_inputs",
        "artifacts",
        "step_runs",
        "runs",
        "pipelines",
    ):
        op.drop_table(table)
