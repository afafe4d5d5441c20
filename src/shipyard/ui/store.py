"""``shipyard.ui.store`` provides read-only access to a stack for the dashboard.

:class:`ReadOnlyMetadataStore` is the metadata store with every write refused
(and, on SQLite and PostgreSQL, connections the database itself keeps
read-only), plus the paginated queries the dashboard's lists need: runs
filtered by pipeline, user and status and sorted by a metric in SQL, and an
artifact's producers and consumers a page at a time.
:class:`ReadOnlyClient` is a :class:`~shipyard.client.Client` on that store.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, event, func, literal_column, select

from shipyard.client import Client
from shipyard.errors import ShipyardError, StoreError
from shipyard.stores.metadata import MetadataStore
from shipyard.stores.metadata import schema as t

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

#: Run columns a list shows (the JSON columns stay in the database).
_LIST_COLUMNS = (
    "id", "pipeline", "status", "started_at", "ended_at", "user", "host", "orchestrator",
    "git_commit", "git_branch", "git_dirty", "error_step", "parent_id", "kind",
)
RUN_SORTS = ("started", "duration", "pipeline", "status", "user", "metric")


@dataclass(frozen=True)
class RunsPage:
    """One page of a filtered, sorted run list.

    Attributes:
        rows: the runs of the page (the list columns, plus ``metric``: the
            sort metric's value, when a metric was asked for).
        total: how many runs match the filters.
    """

    rows: list[dict[str, Any]]
    total: int


class ReadOnlyMetadataStore(MetadataStore):
    """A metadata store that refuses to write.

    Opening it brings an older schema up to date (as every command does);
    after that every write raises :class:`~shipyard.errors.StoreError`, and
    SQLite connections are ``query_only`` (PostgreSQL sessions read-only), so
    not even a bug could change the store.
    """

    def __init__(self, url: str) -> None:
        self._read_only = False
        super().__init__(url)
        self._read_only = True
        dialect = self._engine.dialect.name

        @event.listens_for(self._engine, "connect")
        def _read_only_connection(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            if dialect == "sqlite":
                cursor.execute("PRAGMA query_only = ON")
            elif dialect == "postgresql":
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                dbapi_conn.commit()
            cursor.close()

        self._engine.dispose()  # connections opened before now were writable

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        if self._read_only:
            raise StoreError("The dashboard only reads the metadata store; it never writes to it.")
        with super()._write() as conn:
            yield conn

    # -- runs ------------------------------------------------------------

    def runs_page(
        self,
        *,
        pipeline: str | None = None,
        user: str | None = None,
        status: str | None = None,
        metric: str | None = None,
        sort: str = "started",
        descending: bool = True,
        limit: int = 50,
        offset: int = 0,
    ) -> RunsPage:
        """Runs that belong to no other run, filtered, sorted and paginated in SQL.

        Args:
            metric: a metric key (e.g. ``eval.roc_auc``) whose value each row
                carries (the largest, when several steps logged it); needed
                for ``sort="metric"``. Runs without it sort last.
            sort: one of ``started``, ``duration``, ``pipeline``, ``status``,
                ``user``, ``metric``.

        Raises:
            ShipyardError: for an unknown sort, or ``metric`` sort without a metric.
        """
        if sort not in RUN_SORTS:
            raise ShipyardError(f"Sort {sort!r} is not one of {', '.join(RUN_SORTS)}.")
        if sort == "metric" and not metric:
            raise ShipyardError("Sorting by metric needs a metric name (metric=KEY).")
        runs = t.runs.c
        filters = [runs.parent_id.is_(None)]
        if pipeline:
            filters.append(runs.pipeline == pipeline)
        if user:
            filters.append(runs.user == user)
        if status:
            filters.append(runs.status == status)
        value = None
        if metric:
            value = (
                select(func.max(t.metrics.c.value))
                .where(t.metrics.c.run_id == runs.id, t.metrics.c.key == metric)
                .scalar_subquery()
            )
        keys = {
            "started": runs.started_at,
            "duration": runs.ended_at - runs.started_at,
            "pipeline": runs.pipeline,
            "status": runs.status,
            "user": runs.user,
            "metric": value,
        }
        key = keys[sort]
        # Missing values (a running run's duration, a run without the metric) go last either way.
        order = [case((key.is_(None), 1), else_=0), key.desc() if descending else key.asc()]
        if sort != "started":
            order.append(runs.started_at.desc())
        order.append(runs.id)
        # Sort and cut the ids first, then read the page's rows: the sort never carries the wide columns.
        ids_query = select(runs.id).where(*filters).order_by(*order).limit(limit).offset(offset)
        with self._read() as conn:
            total = int(conn.execute(select(func.count()).select_from(t.runs).where(*filters)).scalar_one())
            ids = list(conn.execute(ids_query).scalars())
            rows = self._list_rows(conn, ids, metric)
        return RunsPage(rows=[rows[i] for i in ids if i in rows], total=total)

    def _list_rows(self, conn: Connection, ids: Sequence[str], metric: str | None) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        columns = [getattr(t.runs.c, name) for name in _LIST_COLUMNS]
        out = {
            row.id: {name: getattr(row, name) for name in _LIST_COLUMNS}
            for row in conn.execute(select(*columns).where(t.runs.c.id.in_(ids)))
        }
        for row in out.values():
            row["duration"] = None if row["ended_at"] is None else row["ended_at"] - row["started_at"]
            if metric:
                row["metric"] = None
        if metric:
            values = conn.execute(
                select(t.metrics.c.run_id, func.max(t.metrics.c.value))
                .where(t.metrics.c.run_id.in_(ids), t.metrics.c.key == metric)
                .group_by(t.metrics.c.run_id)
            )
            for run_id, value in values:
                out[run_id]["metric"] = value
        return out

    def run_users(self) -> list[str]:
        """Every user who recorded a run, sorted."""
        with self._read() as conn:
            query = select(t.runs.c.user).where(t.runs.c.user.is_not(None)).distinct().order_by(t.runs.c.user)
            return list(conn.execute(query).scalars())

    def metric_keys(self, *, recent: int = 200) -> list[str]:
        """Metric keys of the newest ``recent`` runs, sorted (per-slice metrics left out)."""
        newest = (
            select(t.runs.c.id)
            .where(t.runs.c.parent_id.is_(None))
            .order_by(t.runs.c.started_at.desc())
            .limit(recent)
            .scalar_subquery()
        )
        query = select(t.metrics.c.key).where(t.metrics.c.run_id.in_(newest)).distinct()
        with self._read() as conn:
            return sorted(k for k in conn.execute(query).scalars() if "[" not in k)

    def metric_values(self, run_ids: Sequence[str], keys: Sequence[str]) -> dict[str, dict[str, float | None]]:
        """``{run id: {metric key: value}}`` for these runs and keys."""
        if not run_ids or not keys:
            return {}
        out: dict[str, dict[str, float | None]] = {i: {} for i in run_ids}
        query = (
            select(t.metrics.c.run_id, t.metrics.c.key, func.max(t.metrics.c.value))
            .where(t.metrics.c.run_id.in_(list(run_ids)), t.metrics.c.key.in_(list(keys)))
            .group_by(t.metrics.c.run_id, t.metrics.c.key)
        )
        with self._read() as conn:
            for run_id, key, value in conn.execute(query):
                out[run_id][key] = value
        return out

    def run_summaries(self, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The list columns of these runs, by id (missing ids left out)."""
        with self._read() as conn:
            return self._list_rows(conn, list(dict.fromkeys(run_ids)), None)

    def runs_with_step(self, step: str, *, limit: int = 50, offset: int = 0) -> tuple[list[str], int]:
        """Ids of the runs where ``step`` completed or came from the cache, newest first, and how many.

        Returns:
            ``(ids of the page, total)``.
        """
        steps = t.step_runs.c
        where = (steps.step == step, steps.status.in_(("completed", "cached")))
        query = (
            select(steps.run_id).where(*where).order_by(steps.started_at.desc(), steps.run_id)
            .limit(limit).offset(offset)
        )
        with self._read() as conn:
            total = int(conn.execute(select(func.count()).select_from(t.step_runs).where(*where)).scalar_one())
            return list(conn.execute(query).scalars()), total

    # -- lineage -----------------------------------------------------------

    def artifact_edges_page(
        self, artifact_id: str, *, kind: str, limit: int = 50, offset: int = 0, newest: bool = False
    ) -> tuple[list[dict[str, Any]], int]:
        """Step runs that output (``kind="outputs"``) or read (``"inputs"``) an artifact, a page at a time.

        They come in the order they were recorded (``newest`` first, or
        oldest first). An artifact read by every run has as many edges as
        there are runs, so the page is cut before the step runs are read: on
        SQLite by the edges' own order of insertion (the index holds it),
        elsewhere by the step runs' start.

        Returns:
            ``(rows, total)``: each row has the step run's ``id``, ``run_id``,
            ``step``, ``status``, ``started_at``, ``reason``, the edge ``name``
            and the run's ``pipeline``.
        """
        table = t.step_outputs if kind == "outputs" else t.step_inputs
        steps = t.step_runs.c
        where = table.c.artifact_id == artifact_id
        with self._read() as conn:
            total = int(conn.execute(select(func.count()).select_from(table).where(where)).scalar_one())
            if self._sqlite:
                recorded = literal_column(f"{table.name}.rowid")
                page = conn.execute(
                    select(table.c.step_run_id, table.c.name).where(where)
                    .order_by(recorded.desc() if newest else recorded.asc()).limit(limit).offset(offset)
                ).all()
                wanted = [(row.step_run_id, row.name) for row in page]
            else:
                started = steps.started_at.desc() if newest else steps.started_at.asc()
                page = conn.execute(
                    select(table.c.step_run_id, table.c.name)
                    .join(t.step_runs, steps.id == table.c.step_run_id)
                    .where(where).order_by(started, steps.id).limit(limit).offset(offset)
                ).all()
                wanted = [(row.step_run_id, row.name) for row in page]
            details: dict[str, dict[str, Any]] = {}
            if wanted:
                query = (
                    select(steps.id, steps.run_id, steps.step, steps.status, steps.started_at, steps.reason,
                           t.runs.c.pipeline)
                    .join(t.runs, t.runs.c.id == steps.run_id)
                    .where(steps.id.in_([step_run_id for step_run_id, _ in wanted]))
                )
                details = {row.id: dict(row._mapping) for row in conn.execute(query)}
        rows = [details[i] | {"name": name} for i, name in wanted if i in details]
        return rows, total

    def step_run_edges(self, step_run_id: str) -> tuple[dict[str, str], dict[str, str]]:
        """A step run's ``(inputs, outputs)``: artifact ids by name."""
        edges: tuple[dict[str, str], dict[str, str]] = ({}, {})
        with self._read() as conn:
            for side, table in zip(edges, (t.step_inputs, t.step_outputs), strict=True):
                query = select(table.c.name, table.c.artifact_id).where(table.c.step_run_id == step_run_id)
                side.update({row.name: row.artifact_id for row in conn.execute(query)})
        return edges

    def step_run_summary(self, step_run_id: str) -> dict[str, Any] | None:
        """A step run's ``id``, ``run_id``, ``step``, ``status``, ``started_at``, ``reason`` and run ``pipeline``."""
        steps = t.step_runs.c
        query = (
            select(steps.id, steps.run_id, steps.step, steps.status, steps.started_at, steps.reason,
                   t.runs.c.pipeline)
            .join(t.runs, t.runs.c.id == steps.run_id)
            .where(steps.id == step_run_id)
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else dict(row._mapping)

    def artifact_of_dataset(self, artifact_id: str) -> list[dict[str, Any]]:
        """Dataset versions whose data (or statistics) is this artifact."""
        versions = t.dataset_versions.c
        query = select(versions.name, versions.version).where(
            (versions.artifact_id == artifact_id) | (versions.statistics_id == artifact_id)
        )
        with self._read() as conn:
            return [{"name": row.name, "version": row.version} for row in conn.execute(query)]


class ReadOnlyClient(Client):
    """A :class:`~shipyard.client.Client` whose metadata store is read-only.

    Unlike the plain client it does not mark the runs of dead processes as
    crashed when it opens the store (that is a write).
    """

    @property
    def metadata_store(self) -> ReadOnlyMetadataStore:  # type: ignore[override]
        """The stack's metadata store, read-only (opened on first use)."""
        if self._metadata is None:
            self._metadata = ReadOnlyMetadataStore(self.stack.metadata)
        return self._metadata  # type: ignore[return-value]


__all__ = ["RUN_SORTS", "ReadOnlyClient", "ReadOnlyMetadataStore", "RunsPage"]
