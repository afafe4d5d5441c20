"""Datasets: named, versioned data artifacts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("name", sa.String(200), sa.ForeignKey("datasets.name"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("artifact_id", sa.String(64), sa.ForeignKey("artifacts.id"), nullable=False),
        sa.Column("statistics_id", sa.String(64), sa.ForeignKey("artifacts.id")),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("columns", sa.JSON),
        sa.Column("message", sa.Text),
        sa.Column("source", sa.Text),
        sa.Column("user", sa.String(200)),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index(
        "ix_dataset_versions_artifact", "dataset_versions", ["name", "artifact_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ix_dataset_versions_artifact", table_name="dataset_versions")
    op.drop_table("dataset_versions")
    op.drop_table("datasets")
