"""``shipyard.stores.metadata.records`` provides the plain records the store returns.

Records are frozen dataclasses: the engine builds them, the store persists
them, the client and CLI read them. They carry no behaviour beyond helpers
for display.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

RUN_STATUSES = ("running", "completed", "failed", "crashed")
STEP_STATUSES = ("completed", "cached", "failed", "skipped")


@dataclass(frozen=True)
class RunRecord:
    """One execution of a pipeline."""

    id: str
    pipeline: str
    status: str
    started_at: float
    ended_at: float | None = None
    user: str | None = None
    host: str | None = None
    pid: int | None = None
    process_token: str | None = None
    orchestrator: str | None = None
    git_commit: str | None = None
    git_branch: str | None = None
    git_dirty: bool | None = None
    config: dict[str, Any] = field(default_factory=dict)
    graph: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_step: str | None = None
    parent_id: str | None = None
    kind: str | None = None
    git_remote: str | None = None
    git_diff_id: str | None = None
    reproduces: str | None = None

    @property
    def is_child(self) -> bool:
        """True for a run that belongs to another one (a trial of a search)."""
        return self.parent_id is not None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, or None while running."""
        return None if self.ended_at is None else self.ended_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the record."""
        return asdict(self)


@dataclass(frozen=True)
class ChildRun:
    """A run recorded under another run, with its params and metrics.

    The trials of a hyperparameter search are child runs of the pipeline run
    (``run.parent_id``, ``run.kind == "trial"``); they have no step runs.

    Attributes:
        run: the child's run record.
        params: values by step name, as for any run.
        metrics: values by step name, as for any run.
    """

    run: RunRecord
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the run's fields with its params and metrics."""
        return {**self.run.to_dict(), "params": self.params, "metrics": self.metrics}


@dataclass(frozen=True)
class ArtifactRecord:
    """An immutable, content-addressed output of a step run."""

    id: str
    data_type: str
    materializer: str
    materializer_version: int
    uri: str
    size: int
    files: int
    created_at: float
    producer: str | None = None

    @property
    def format(self) -> str:
        """The materializer tag, e.g. ``parquet/1``."""
        return f"{self.materializer}/{self.materializer_version}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the record."""
        return asdict(self)


@dataclass(frozen=True)
class StepRunRecord:
    """One execution (or cache hit) of a step inside a run."""

    id: str
    run_id: str
    step: str
    status: str
    started_at: float | None = None
    ended_at: float | None = None
    cache_key: str | None = None
    cache_parts: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    cached_from: str | None = None
    reason: str | None = None
    error: str | None = None
    traceback: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        """Seconds the step took, or None."""
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the record."""
        return asdict(self)


@dataclass(frozen=True)
class DatasetVersionRecord:
    """One version of a named dataset: a data artifact and its statistics."""

    name: str
    version: int
    artifact_id: str
    rows: int
    created_at: float
    statistics_id: str | None = None
    columns: list[str] = field(default_factory=list)
    message: str | None = None
    source: str | None = None
    user: str | None = None

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the record."""
        return asdict(self)


__all__ = [
    "RUN_STATUSES",
    "STEP_STATUSES",
    "ArtifactRecord",
    "ChildRun",
    "DatasetVersionRecord",
    "RunRecord",
    "StepRunRecord",
]
