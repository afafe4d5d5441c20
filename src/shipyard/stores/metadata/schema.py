"""``shipyard.stores.metadata.schema`` provides the tables of the metadata store.

The Alembic migrations in ``migrations/versions`` create exactly these tables;
a test compares the two. Times are UTC seconds since the epoch (float), JSON
columns hold configs, cache-key parts and parameter values.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

pipelines = Table(
    "pipelines",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("created_at", Float, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("pipeline", String(200), ForeignKey("pipelines.name"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("user", String(200)),
    Column("host", String(255)),
    Column("pid", Integer),
    Column("process_token", String(64)),
    Column("orchestrator", String(32)),
    Column("git_commit", String(64)),
    Column("git_branch", String(255)),
    Column("git_dirty", Boolean),
    Column("config", JSON),
    Column("graph", JSON),
    Column("environment", JSON),
    Column("error", Text),
    Column("error_step", String(200)),
    # Revision 0003: a child run (a trial of a hyperparameter search) names the
    # run it belongs to; ordinary runs have neither.
    Column("parent_id", String(32), ForeignKey("runs.id")),
    Column("kind", String(16)),
    # Revision 0004: where the code came from, the uncommitted changes (an
    # artifact holding the diff) and the run this one reproduces.
    Column("git_remote", String(500)),
    Column("git_diff_id", String(64)),
    Column("reproduces", String(32), ForeignKey("runs.id")),
    Index("ix_runs_pipeline_started", "pipeline", "started_at"),
    Index("ix_runs_status", "status"),
    Index("ix_runs_started", "started_at"),
    Index("ix_runs_parent", "parent_id"),
)

step_runs = Table(
    "step_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("step", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", Float),
    Column("ended_at", Float),
    Column("cache_key", String(64)),
    Column("cache_parts", JSON),
    Column("params", JSON),
    Column("cached_from", String(32)),
    Column("reason", Text),
    Column("error", Text),
    Column("traceback", Text),
    Index("ix_step_runs_run", "run_id"),
    Index("ix_step_runs_cache_key", "cache_key", "status"),
    Index("ix_step_runs_step", "step", "started_at"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("data_type", String(255), nullable=False),
    Column("materializer", String(100), nullable=False),
    Column("materializer_version", Integer, nullable=False),
    Column("uri", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("files", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("producer", String(32)),
)

step_inputs = Table(
    "step_inputs",
    metadata,
    Column("step_run_id", String(32), ForeignKey("step_runs.id"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("artifact_id", String(64), ForeignKey("artifacts.id"), nullable=False),
    Index("ix_step_inputs_artifact", "artifact_id"),
)

step_outputs = Table(
    "step_outputs",
    metadata,
    Column("step_run_id", String(32), ForeignKey("step_runs.id"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("artifact_id", String(64), ForeignKey("artifacts.id"), nullable=False),
    Index("ix_step_outputs_artifact", "artifact_id"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("step", String(200), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("value", JSON),
)

metrics = Table(
    "metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("step", String(200), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("value", Float),
    Column("step_run_id", String(32)),
    # Revision 0004: sorting runs by a metric, and a step run's metrics, without a full scan.
    Index("ix_metrics_key", "key", "run_id", "value"),
    Index("ix_metrics_step_run", "step_run_id"),
)

datasets = Table(
    "datasets",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("created_at", Float, nullable=False),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("name", String(200), ForeignKey("datasets.name"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("artifact_id", String(64), ForeignKey("artifacts.id"), nullable=False),
    Column("statistics_id", String(64), ForeignKey("artifacts.id")),
    Column("rows", Integer, nullable=False),
    Column("columns", JSON),
    Column("message", Text),
    Column("source", Text),
    Column("user", String(200)),
    Column("created_at", Float, nullable=False),
    Index("ix_dataset_versions_artifact", "name", "artifact_id", unique=True),
)

# -- revision 0004: tags and notes on runs, the model registry ------------------

run_tags = Table(
    "run_tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("tag", String(200), primary_key=True),
    Column("user", String(200)),
    Column("created_at", Float, nullable=False),
    Index("ix_run_tags_tag", "tag"),
)

run_notes = Table(
    "run_notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("text", Text, nullable=False),
    Column("user", String(200)),
    Column("created_at", Float, nullable=False),
    Index("ix_run_notes_run", "run_id"),
)

models = Table(
    "models",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("description", Text),
    Column("user", String(200)),
    Column("created_at", Float, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("model", String(200), ForeignKey("models.name"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("bundle_id", String(64), ForeignKey("artifacts.id"), nullable=False),
    Column("run_id", String(32), ForeignKey("runs.id")),
    Column("data_version", String(64)),
    Column("metrics", JSON),
    Column("stage", String(16), nullable=False),  # none | staging | production | archived
    Column("user", String(200)),
    Column("created_at", Float, nullable=False),
    Index("ix_model_versions_bundle", "model", "bundle_id", unique=True),
    # At most one production version per model, enforced by the database.
    Index(
        "ux_model_versions_production",
        "model",
        unique=True,
        sqlite_where=text("stage = 'production'"),
        postgresql_where=text("stage = 'production'"),
    ),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model", String(200), ForeignKey("models.name"), primary_key=True),
    Column("alias", String(100), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("user", String(200)),
    Column("updated_at", Float, nullable=False),
)

model_events = Table(
    "model_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(200), ForeignKey("models.name"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(16), nullable=False),  # register | stage | rollback | alias
    Column("from_value", String(100)),
    Column("to_value", String(100)),
    Column("reason", Text),
    Column("user", String(200)),
    Column("created_at", Float, nullable=False),
    Index("ix_model_events_model", "model", "created_at"),
)

__all__ = [
    "artifacts",
    "dataset_versions",
    "datasets",
    "metadata",
    "metrics",
    "model_aliases",
    "model_events",
    "model_versions",
    "models",
    "params",
    "pipelines",
    "run_notes",
    "run_tags",
    "runs",
    "step_inputs",
    "step_outputs",
    "step_runs",
]
