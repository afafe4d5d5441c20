"""``shipyard.stores.metadata.store`` provides the SQLAlchemy metadata store.

Any URL SQLAlchemy accepts works; the default is a SQLite file. SQLite is set
up for several processes at once: WAL journal, a busy timeout, and write
transactions that take the write lock when they begin (``BEGIN IMMEDIATE``),
so two writers never deadlock upgrading a read lock. Each of the engine's
writes (start a run, record a step, finish a run) is one transaction.

PostgreSQL (the shared store of a team) gets the same guarantees: each write
transaction first takes a transaction-scoped advisory lock, so writers queue
like SQLite's, and rows several processes may add at once are inserted with
``ON CONFLICT DO NOTHING``. A ``${VAR}`` in the URL is replaced by the
environment variable's value when the store is opened (secrets are never
stored). An empty database gets the schema when first opened; a shared store
at an older revision is not upgraded behind its users' backs: it is refused
until ``shipyard stack migrate`` (:meth:`MetadataStore.migrate`) upgrades it.
"""

from __future__ import annotations

import importlib
import socket
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, delete, event, func, insert, select, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from shipyard.errors import (
    ArtifactNotFound,
    DatasetNotFound,
    RunNotFound,
    StoreError,
    StoreMigrationRequired,
    StoreVersionError,
)
from shipyard.stores.metadata import schema as t
from shipyard.stores.metadata.records import (
    ArtifactRecord,
    ChildRun,
    DatasetVersionRecord,
    RunRecord,
    StepRunRecord,
)
from shipyard.stores.process import token_alive
from shipyard.stores.secrets import expand

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine, Row

    from shipyard.stores.metadata.registry import Registration

# PostgreSQL advisory lock keys: one writer at a time; one migration at a time.
_WRITE_LOCK = 2271990
_MIGRATION_LOCK = 2271989

#: Schema revisions this version of Shipyard knows, oldest first.
REVISIONS = ("0001", "0002", "0003", "0004")
HEAD = REVISIONS[-1]

_RUN_FIELDS = [c.name for c in t.runs.columns]
_STEP_FIELDS = [c.name for c in t.step_runs.columns]
_ARTIFACT_FIELDS = [c.name for c in t.artifacts.columns]


def masked_url(url: str) -> str:
    """The URL with any password (and secret parameter) replaced by ``***``; ``${VAR}`` kept."""
    from shipyard.stores.secrets import masked

    return masked(url)


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"Cannot create the folder {str(folder)!r} of the metadata store {url!r}: "
                f"{exc.strerror or exc}."
            ) from exc
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's BEGIN below, not the driver, open transactions.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _expanded(parsed: URL, url: str) -> URL:
    """The URL with each ``${VAR}`` in its parts replaced by the variable's value.

    Each part is replaced on its own, so a password may hold ``@``, ``/`` or ``:``.
    """
    what = f"The metadata store URL {masked_url(url)!r}"
    parts: dict[str, Any] = {
        name: expand(value, what=what)
        for name in ("username", "password", "host", "database")
        if isinstance(value := getattr(parsed, name), str) and "${" in value
    }
    if any("${" in str(v) for v in parsed.query.values()):
        parts["query"] = {
            key: expand(v, what=what) if isinstance(v, str) else tuple(expand(i, what=what) for i in v)
            for key, v in parsed.query.items()
        }
    return parsed.set(**parts) if parts else parsed


def _make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(
            f"Metadata store URL {url!r} is not a database URL.",
            hint="Expected e.g. sqlite:///path/metadata.db or postgresql://user@host/db.",
        ) from exc
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(expand(url, what=f"The metadata store URL {url!r}"))
        connect_args: dict[str, Any] = {}
        if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = 15  # an unreachable host fails, not hangs
        return create_engine(_expanded(parsed, url), pool_pre_ping=True, connect_args=connect_args)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise StoreError(
            f"Metadata store {masked_url(url)!r} needs a database driver that is not "
            f"installed ({exc}).",
            hint="For PostgreSQL: pip install 'shipyard[postgres]'.",
        ) from exc


class MetadataStore:
    """Runs, step runs, artifacts, lineage, params and metrics in a SQL database.

    Args:
        url: a SQLAlchemy URL, e.g. ``sqlite:///.shipyard/metadata.db``; a
            ``${VAR}`` in it is replaced by the environment variable's value.
        auto_upgrade: apply pending migrations to a store at an older schema
            revision when opening it. Default: only for SQLite (a project's own
            store); a shared store is refused until :meth:`migrate` upgrades it.
            An empty database always gets the schema.

    Raises:
        StoreError: when the database cannot be reached or its driver is missing.
        StoreVersionError: when the database was written by a newer Shipyard.
        StoreMigrationRequired: when a shared store needs :meth:`migrate` first.
    """

    def __init__(self, url: str, *, auto_upgrade: bool | None = None) -> None:
        self.url = url
        self._engine = _make_engine(url)
        self._sqlite = self._engine.dialect.name == "sqlite"
        self._auto_upgrade = self._sqlite if auto_upgrade is None else auto_upgrade
        self._upgraded_from: tuple[str | None] | None = None
        try:
            self._ensure_schema()
        except SQLAlchemyError as exc:
            reason = getattr(exc, "orig", None) or exc
            raise StoreError(
                f"Cannot open the metadata store {masked_url(url)!r}: {reason}."
            ) from exc

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    # -- transactions and schema -----------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        options = {"sqlite_begin": "IMMEDIATE"} if self._sqlite else {}
        with self._engine.connect().execution_options(**options) as conn, conn.begin():
            if self._engine.dialect.name == "postgresql":
                # One writer at a time, as on SQLite: read-then-write transactions
                # (next version numbers, insert-if-missing) stay correct.
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_WRITE_LOCK})")
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as conn, conn.begin():
            yield conn

    def _revision(self, conn: Connection) -> str | None:
        try:
            with conn.begin_nested():
                return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except SQLAlchemyError:
            return None

    def schema_revision(self) -> str | None:
        """The schema revision the database is at, or None when it is empty."""
        with self._read() as conn:
            return self._revision(conn)

    def _ensure_schema(self) -> None:
        with self._read() as conn:
            revision = self._revision(conn)
        if revision == HEAD:
            return
        self._check_known(revision)
        self._upgrade(existing=self._auto_upgrade)

    def _check_known(self, revision: str | None) -> None:
        if revision is not None and revision not in REVISIONS:
            raise StoreVersionError(
                f"The metadata store {masked_url(self.url)!r} is at schema revision "
                f"{revision!r}, written by a newer Shipyard; this version knows up to "
                f"{HEAD!r}.",
                hint="Upgrade Shipyard (pip install -U shipyard) to use this store.",
            )

    def _migration_required(self, revision: str) -> StoreMigrationRequired:
        return StoreMigrationRequired(
            f"The metadata store {masked_url(self.url)!r} is at schema revision {revision!r}; "
            f"this version of Shipyard needs {HEAD!r}. A shared store is not upgraded "
            "automatically, so that one newer client does not change it under its other users.",
            hint="Upgrade it once with `shipyard stack migrate` (everyone using it then needs "
            "this version of Shipyard or newer).",
        )

    def upgrade(self) -> tuple[str | None, str]:
        """Apply the Alembic migrations up to the newest revision, under a lock.

        Returns:
            ``(revision before, revision after)``; before is None for an empty database.
        """
        return self._upgrade(existing=True)

    def _upgrade(self, *, existing: bool) -> tuple[str | None, str]:
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
        with self._write() as conn:
            if self._engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            revision = self._revision(conn)
            self._check_known(revision)
            if revision is not None and revision != HEAD and not existing:
                raise self._migration_required(revision)
            if revision != HEAD:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                self._upgraded_from = (revision,)
        return revision, HEAD

    @classmethod
    def migrate(cls, url: str) -> tuple[str | None, str]:
        """Upgrade the store at ``url`` to this version's schema (``shipyard stack migrate``).

        Returns:
            ``(revision before, revision now)``; both are the head when there was
            nothing to do, and before is None for an empty database.

        Raises:
            StoreVersionError: when the store was written by a newer Shipyard.
        """
        store = cls(url, auto_upgrade=True)
        try:
            before = store._upgraded_from[0] if store._upgraded_from is not None else HEAD
            return before, HEAD
        finally:
            store.close()

    # -- runs ------------------------------------------------------------

    def start_run(
        self,
        run: RunRecord,
        params: Mapping[str, Mapping[str, Any]],
        *,
        artifacts: Iterable[ArtifactRecord] = (),
    ) -> None:
        """Record a new run, its pipeline and its params in one transaction.

        Args:
            run: the run, with status ``running``.
            params: values by step name (``""`` for pipeline-level params).
            artifacts: artifacts the run record names (its ``git_diff_id``).
        """
        row = run.to_dict()
        rows = [
            {"run_id": run.id, "step": step, "key": key, "value": value}
            for step, values in params.items()
            for key, value in values.items()
        ]
        with self._write() as conn:
            self._insert_missing(conn, t.pipelines, [{"name": run.pipeline, "created_at": run.started_at}])
            self._insert_artifacts(conn, artifacts)
            conn.execute(insert(t.runs).values(**row))
            if rows:
                conn.execute(insert(t.params), rows)

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        ended_at: float | None = None,
        error: str | None = None,
        error_step: str | None = None,
    ) -> None:
        """Set a run's final status and end time."""
        with self._write() as conn:
            conn.execute(
                update(t.runs)
                .where(t.runs.c.id == run_id)
                .values(
                    status=status,
                    ended_at=ended_at or time.time(),
                    error=error,
                    error_step=error_step,
                )
            )

    def reap_crashed(self, *, host: str | None = None) -> list[str]:
        """Mark runs of dead processes on this host as ``crashed``.

        Returns:
            The ids of the runs that were marked.
        """
        host = host or socket.gethostname()
        with self._read() as conn:
            rows = conn.execute(
                select(t.runs.c.id, t.runs.c.pid, t.runs.c.process_token).where(
                    t.runs.c.status == "running", t.runs.c.host == host
                )
            ).all()
        dead = {row.id: row.pid for row in rows if not token_alive(row.process_token, row.pid)}
        if not dead:
            return []
        with self._write() as conn:
            for run_id, pid in dead.items():
                conn.execute(
                    update(t.runs)
                    .where(t.runs.c.id == run_id, t.runs.c.status == "running")
                    .values(
                        status="crashed",
                        ended_at=time.time(),
                        error=f"process {pid} ended without finishing the run "
                        "(killed, crashed or interrupted)",
                    )
                )
        return sorted(dead)

    def get_run(self, ref: str) -> RunRecord:
        """A run by id, unique id prefix, ``latest`` (the newest run that is not a child)
        or ``latest~N`` (the N-th before it).

        Raises:
            RunNotFound: when no run (or more than one) matches.
        """
        back = _latest_offset(ref)
        with self._read() as conn:
            if back is not None:
                query = (
                    select(t.runs)
                    .where(t.runs.c.parent_id.is_(None))
                    .order_by(t.runs.c.started_at.desc())
                    .limit(1)
                    .offset(back)
                )
            else:
                query = select(t.runs).where(t.runs.c.id.startswith(ref, autoescape=True)).limit(6)
            rows = conn.execute(query).all()
        if not rows:
            raise RunNotFound(
                f"No run matches {ref!r} in this store.",
                hint="`shipyard runs list` shows the runs.",
            )
        exact = [row for row in rows if row.id == ref]
        if len(rows) > 1 and not exact:
            ids = ", ".join(row.id for row in rows[:5])
            raise RunNotFound(f"Run id {ref!r} is ambiguous; it matches {ids}. Give more characters.")
        return _run(exact[0] if exact else rows[0])

    def list_runs(
        self,
        *,
        pipeline: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
        children: bool = False,
        user: str | None = None,
        tags: Iterable[str] = (),
        since: float | None = None,
        until: float | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first, optionally filtered.

        Args:
            children: also list child runs (the trials of searches); by
                default only the runs that belong to no other run.
            user: only runs of this user.
            tags: only runs that have every one of these tags.
            since: only runs started at or after this time (epoch seconds).
            until: only runs started before this time (epoch seconds).
        """
        query = select(t.runs).order_by(t.runs.c.started_at.desc()).limit(limit).offset(offset)
        query = _run_filters(query, pipeline, status, children, user, tags, since, until)
        with self._read() as conn:
            return [_run(row) for row in conn.execute(query)]

    def count_runs(
        self,
        *,
        pipeline: str | None = None,
        status: str | None = None,
        children: bool = False,
        user: str | None = None,
        tags: Iterable[str] = (),
        since: float | None = None,
        until: float | None = None,
    ) -> int:
        """How many runs match the filters (child runs only with ``children``)."""
        query = _run_filters(
            select(func.count()).select_from(t.runs),
            pipeline, status, children, user, tags, since, until,
        )
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def list_pipelines(self) -> list[str]:
        """Names of every pipeline that has run."""
        with self._read() as conn:
            return list(conn.execute(select(t.pipelines.c.name).order_by(t.pipelines.c.name)).scalars())

    def child_runs(self, run_id: str) -> list[ChildRun]:
        """The runs recorded under ``run_id`` (oldest first), with their params and metrics."""
        with self._read() as conn:
            rows = conn.execute(
                select(t.runs)
                .where(t.runs.c.parent_id == run_id)
                .order_by(t.runs.c.started_at, t.runs.c.id)
            ).all()
            ids = [row.id for row in rows]
            params: dict[str, dict[str, dict[str, Any]]] = {i: {} for i in ids}
            metrics: dict[str, dict[str, dict[str, float]]] = {i: {} for i in ids}
            if ids:
                for row in conn.execute(select(t.params).where(t.params.c.run_id.in_(ids))):
                    params[row.run_id].setdefault(row.step, {})[row.key] = row.value
                for row in conn.execute(select(t.metrics).where(t.metrics.c.run_id.in_(ids))):
                    metrics[row.run_id].setdefault(row.step, {})[row.key] = row.value
        return [ChildRun(_run(row), params[row.id], metrics[row.id]) for row in rows]

    def run_params(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Params of a run by step name (``""`` holds pipeline-level params)."""
        out: dict[str, dict[str, Any]] = {}
        with self._read() as conn:
            for row in conn.execute(select(t.params).where(t.params.c.run_id == run_id)):
                out.setdefault(row.step, {})[row.key] = row.value
        return out

    def run_metrics(self, run_id: str) -> dict[str, dict[str, float]]:
        """Metrics of a run by step name."""
        out: dict[str, dict[str, float]] = {}
        with self._read() as conn:
            for row in conn.execute(select(t.metrics).where(t.metrics.c.run_id == run_id)):
                out.setdefault(row.step, {})[row.key] = row.value
        return out

    # -- step runs -------------------------------------------------------

    def record_step(
        self,
        step_run: StepRunRecord,
        artifacts: Iterable[ArtifactRecord] = (),
        *,
        children: Iterable[ChildRun] = (),
        registrations: Iterable[Registration] = (),
    ) -> None:
        """Record a finished step run with its artifacts, lineage and metrics.

        Everything is written in one transaction, so a crash leaves either all
        of the step's records or none of them.

        Args:
            step_run: the step run.
            artifacts: the artifacts it output (existing ones are kept).
            children: runs the step made under its run (the trials of a
                search), each with its params and metrics; their
                ``parent_id`` must name an existing run.
            registrations: bundles the step registers in the model registry
                (see :mod:`shipyard.stores.metadata.registry`).
        """
        row = {name: getattr(step_run, name) for name in _STEP_FIELDS}
        with self._write() as conn:
            self._insert_children(conn, children)
            self._insert_artifacts(conn, artifacts)
            conn.execute(insert(t.step_runs).values(**row))
            edges = [
                (t.step_inputs, step_run.inputs),
                (t.step_outputs, step_run.outputs),
            ]
            for table, mapping in edges:
                if mapping:
                    conn.execute(
                        insert(table),
                        [
                            {"step_run_id": step_run.id, "name": name, "artifact_id": aid}
                            for name, aid in mapping.items()
                        ],
                    )
            if step_run.metrics:
                conn.execute(
                    insert(t.metrics),
                    [
                        {
                            "run_id": step_run.run_id,
                            "step": step_run.step,
                            "key": key,
                            "value": value,
                            "step_run_id": step_run.id,
                        }
                        for key, value in step_run.metrics.items()
                    ],
                )
            if registrations:
                from shipyard.stores.metadata.registry import record_registrations

                record_registrations(self, conn, registrations)

    def _insert_children(self, conn: Connection, children: Iterable[ChildRun]) -> None:
        runs, params, metrics = [], [], []
        for child in children:
            runs.append(child.run.to_dict())
            params += [
                {"run_id": child.run.id, "step": step, "key": key, "value": value}
                for step, values in child.params.items()
                for key, value in values.items()
            ]
            metrics += [
                {"run_id": child.run.id, "step": step, "key": key, "value": value, "step_run_id": None}
                for step, values in child.metrics.items()
                for key, value in values.items()
            ]
        for table, rows in ((t.runs, runs), (t.params, params), (t.metrics, metrics)):
            if rows:
                conn.execute(insert(table), rows)

    def _insert_artifacts(self, conn: Connection, artifacts: Iterable[ArtifactRecord]) -> None:
        self._insert_missing(conn, t.artifacts, [a.to_dict() for a in {a.id: a for a in artifacts}.values()])

    def _insert_missing(self, conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
        """Insert rows whose primary key is not there yet; keep existing ones.

        ``INSERT ... ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL, so two
        processes adding the same artifact at once cannot collide.
        """
        if not rows:
            return
        dialect = self._engine.dialect.name
        if dialect in ("sqlite", "postgresql"):
            module = importlib.import_module(f"sqlalchemy.dialects.{dialect}")
            conn.execute(module.insert(table).on_conflict_do_nothing(), rows)
            return
        key = next(iter(table.primary_key.columns))
        known = set(conn.execute(select(key).where(key.in_([r[key.name] for r in rows]))).scalars())
        fresh = [r for r in rows if r[key.name] not in known]
        if fresh:
            conn.execute(insert(table), fresh)

    def step_runs(self, run_id: str) -> list[StepRunRecord]:
        """Step runs of a run in the order they finished, with lineage and metrics."""
        with self._read() as conn:
            rows = conn.execute(
                select(t.step_runs)
                .where(t.step_runs.c.run_id == run_id)
                .order_by(t.step_runs.c.ended_at, t.step_runs.c.started_at)
            ).all()
            return self._with_edges(conn, rows)

    def get_step_run(self, step_run_id: str) -> StepRunRecord:
        """A step run by id.

        Raises:
            RunNotFound: when there is no such step run.
        """
        with self._read() as conn:
            rows = conn.execute(select(t.step_runs).where(t.step_runs.c.id == step_run_id)).all()
            if not rows:
                raise RunNotFound(f"No step run {step_run_id!r} in this store.")
            return self._with_edges(conn, rows)[0]

    def _with_edges(self, conn: Connection, rows: list[Row[Any]]) -> list[StepRunRecord]:
        ids = [row.id for row in rows]
        if not ids:
            return []
        edges: dict[str, dict[str, dict[str, Any]]] = {
            i: {"inputs": {}, "outputs": {}, "metrics": {}} for i in ids
        }
        for table, kind in ((t.step_inputs, "inputs"), (t.step_outputs, "outputs")):
            for edge in conn.execute(select(table).where(table.c.step_run_id.in_(ids))):
                edges[edge.step_run_id][kind][edge.name] = edge.artifact_id
        for metric in conn.execute(select(t.metrics).where(t.metrics.c.step_run_id.in_(ids))):
            edges[metric.step_run_id]["metrics"][metric.key] = metric.value
        return [_step_run(row, **edges[row.id]) for row in rows]

    def find_cached(
        self, cache_key: str
    ) -> tuple[StepRunRecord, dict[str, ArtifactRecord]] | None:
        """The newest completed step run with this cache key and its output artifacts.

        Returns:
            ``(step run, {output name: artifact})``, or None. One read transaction.
        """
        with self._read() as conn:
            row = conn.execute(
                select(t.step_runs)
                .where(t.step_runs.c.cache_key == cache_key, t.step_runs.c.status == "completed")
                .order_by(t.step_runs.c.ended_at.desc())
                .limit(1)
            ).first()
            if row is None:
                return None
            outputs: dict[str, str] = {}
            artifacts: dict[str, ArtifactRecord] = {}
            query = (
                select(t.step_outputs.c.name, t.artifacts)
                .join(t.artifacts, t.artifacts.c.id == t.step_outputs.c.artifact_id)
                .where(t.step_outputs.c.step_run_id == row.id)
            )
            for edge in conn.execute(query):
                outputs[edge.name] = edge.id
                artifacts[edge.name] = _artifact(edge)
            metrics = {
                m.key: m.value
                for m in conn.execute(select(t.metrics).where(t.metrics.c.step_run_id == row.id))
            }
        return _step_run(row, outputs=outputs, metrics=metrics), artifacts

    def previous_step_run(
        self, pipeline: str, step: str, *, exclude_run: str | None = None
    ) -> StepRunRecord | None:
        """The newest earlier execution of ``step`` in ``pipeline`` (any status)."""
        query = (
            select(t.step_runs)
            .join(t.runs, t.runs.c.id == t.step_runs.c.run_id)
            .where(
                t.runs.c.pipeline == pipeline,
                t.step_runs.c.step == step,
                t.step_runs.c.status != "skipped",
            )
            .order_by(t.step_runs.c.ended_at.desc())
            .limit(1)
        )
        if exclude_run:
            query = query.where(t.step_runs.c.run_id != exclude_run)
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _step_run(row)

    # -- artifacts -------------------------------------------------------

    def get_artifact(self, ref: str) -> ArtifactRecord:
        """An artifact by id or unique id prefix.

        Raises:
            ArtifactNotFound: when no artifact (or more than one) matches.
        """
        with self._read() as conn:
            rows = conn.execute(
                select(t.artifacts).where(t.artifacts.c.id.startswith(ref, autoescape=True)).limit(6)
            ).all()
        if not rows:
            raise ArtifactNotFound(
                f"No artifact matches {ref!r} in this store.",
                hint="`shipyard artifacts list` shows the artifacts.",
            )
        if len(rows) > 1:
            ids = ", ".join(row.id[:16] for row in rows[:5])
            raise ArtifactNotFound(f"Artifact id {ref!r} is ambiguous; it matches {ids}.")
        return _artifact(rows[0])

    def get_artifacts(self, ids: Iterable[str]) -> dict[str, ArtifactRecord]:
        """Artifacts by exact id (missing ids are left out)."""
        wanted = list(set(ids))
        if not wanted:
            return {}
        with self._read() as conn:
            rows = conn.execute(select(t.artifacts).where(t.artifacts.c.id.in_(wanted))).all()
        return {row.id: _artifact(row) for row in rows}

    def list_artifacts(self, *, run_id: str | None = None, limit: int = 50) -> list[ArtifactRecord]:
        """Artifacts, newest first; with ``run_id``, those its steps output."""
        query = select(t.artifacts).order_by(t.artifacts.c.created_at.desc()).limit(limit)
        if run_id:
            produced = (
                select(t.step_outputs.c.artifact_id)
                .join(t.step_runs, t.step_runs.c.id == t.step_outputs.c.step_run_id)
                .where(t.step_runs.c.run_id == run_id)
            )
            query = query.where(t.artifacts.c.id.in_(produced))
        with self._read() as conn:
            return [_artifact(row) for row in conn.execute(query)]

    def artifact_edges(self, artifact_id: str, *, kind: str) -> list[tuple[StepRunRecord, str]]:
        """Step runs that output (``kind="outputs"``) or read (``"inputs"``) an artifact.

        Returns:
            ``(step run, output or input name)`` pairs, oldest first.
        """
        table = t.step_outputs if kind == "outputs" else t.step_inputs
        with self._read() as conn:
            rows = conn.execute(
                select(t.step_runs, table.c.name.label("edge_name"))
                .join(table, table.c.step_run_id == t.step_runs.c.id)
                .where(table.c.artifact_id == artifact_id)
                .order_by(t.step_runs.c.started_at)
            ).all()
        return [(_step_run(row), row.edge_name) for row in rows]

    # -- datasets ----------------------------------------------------------

    def add_dataset_version(
        self,
        name: str,
        *,
        artifact: ArtifactRecord,
        statistics: ArtifactRecord | None,
        rows: int,
        columns: list[str],
        message: str | None = None,
        source: str | None = None,
        user: str | None = None,
    ) -> tuple[DatasetVersionRecord, bool]:
        """Record a new version of a dataset, unless this content is one already.

        Returns:
            ``(version, created)``: the existing version of identical content
            and False, or the new version and True. One transaction.
        """
        now = time.time()
        with self._write() as conn:
            existing = conn.execute(
                select(t.dataset_versions).where(
                    t.dataset_versions.c.name == name, t.dataset_versions.c.artifact_id == artifact.id
                )
            ).first()
            if existing is not None:
                return _dataset_version(existing), False
            self._insert_missing(conn, t.datasets, [{"name": name, "created_at": now}])
            self._insert_artifacts(conn, [a for a in (artifact, statistics) if a is not None])
            latest = conn.execute(
                select(func.max(t.dataset_versions.c.version)).where(t.dataset_versions.c.name == name)
            ).scalar()
            record = DatasetVersionRecord(
                name=name,
                version=int(latest or 0) + 1,
                artifact_id=artifact.id,
                statistics_id=statistics.id if statistics is not None else None,
                rows=rows,
                columns=list(columns),
                message=message,
                source=source,
                user=user,
                created_at=now,
            )
            conn.execute(insert(t.dataset_versions).values(**record.to_dict()))
        return record, True

    def get_dataset_version(self, name: str, version: int | None = None) -> DatasetVersionRecord:
        """A dataset's version (the latest when ``version`` is None).

        Raises:
            DatasetNotFound: naming the known datasets or versions.
        """
        query = select(t.dataset_versions).where(t.dataset_versions.c.name == name)
        query = query.where(t.dataset_versions.c.version == version) if version is not None else (
            query.order_by(t.dataset_versions.c.version.desc()).limit(1)
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is not None:
            return _dataset_version(row)
        versions = [v.version for v in self.dataset_versions(name)]
        if versions:
            raise DatasetNotFound(
                f"Dataset {name!r} has no version {version}; versions: {', '.join(map(str, versions))}."
            )
        known = [d.name for d in self.list_datasets()]
        raise DatasetNotFound(
            f"No dataset named {name!r}; datasets: {', '.join(known) or 'none yet'}.",
            hint="Add one with: shipyard data add NAME PATH",
        )

    def dataset_versions(self, name: str) -> list[DatasetVersionRecord]:
        """Every version of a dataset, newest first."""
        with self._read() as conn:
            rows = conn.execute(
                select(t.dataset_versions)
                .where(t.dataset_versions.c.name == name)
                .order_by(t.dataset_versions.c.version.desc())
            ).all()
        return [_dataset_version(row) for row in rows]

    def list_datasets(self) -> list[DatasetVersionRecord]:
        """The latest version of every dataset, by name."""
        latest = (
            select(t.dataset_versions.c.name, func.max(t.dataset_versions.c.version).label("v"))
            .group_by(t.dataset_versions.c.name)
            .subquery()
        )
        query = (
            select(t.dataset_versions)
            .join(
                latest,
                (latest.c.name == t.dataset_versions.c.name) & (latest.c.v == t.dataset_versions.c.version),
            )
            .order_by(t.dataset_versions.c.name)
        )
        with self._read() as conn:
            return [_dataset_version(row) for row in conn.execute(query)]

    # -- maintenance -----------------------------------------------------

    def delete_run(self, run_id: str) -> None:
        """Delete a run and its step runs, lineage, params, metrics and child runs."""
        with self._write() as conn:
            children = list(
                conn.execute(select(t.runs.c.id).where(t.runs.c.parent_id == run_id)).scalars()
            )
            owned = [*children, run_id]
            step_ids = select(t.step_runs.c.id).where(t.step_runs.c.run_id.in_(owned))
            for table in (t.step_inputs, t.step_outputs):
                conn.execute(delete(table).where(table.c.step_run_id.in_(step_ids)))
            for table in (t.metrics, t.params, t.run_tags, t.run_notes):
                conn.execute(delete(table).where(table.c.run_id.in_(owned)))
            # Reproductions of a deleted run keep existing; they lose the link.
            conn.execute(update(t.runs).where(t.runs.c.reproduces.in_(owned)).values(reproduces=None))
            # So do registered model versions of its bundles.
            conn.execute(
                update(t.model_versions).where(t.model_versions.c.run_id.in_(owned)).values(run_id=None)
            )
            conn.execute(delete(t.step_runs).where(t.step_runs.c.run_id.in_(owned)))
            if children:
                conn.execute(delete(t.runs).where(t.runs.c.id.in_(children)))
            conn.execute(delete(t.runs).where(t.runs.c.id == run_id))


def _run_filters(
    query: Any,
    pipeline: str | None,
    status: str | None,
    children: bool = False,
    user: str | None = None,
    tags: Iterable[str] = (),
    since: float | None = None,
    until: float | None = None,
) -> Any:
    if not children:
        query = query.where(t.runs.c.parent_id.is_(None))
    if pipeline:
        query = query.where(t.runs.c.pipeline == pipeline)
    if status:
        query = query.where(t.runs.c.status == status)
    if user:
        query = query.where(t.runs.c.user == user)
    for tag in dict.fromkeys(tags):
        query = query.where(
            select(t.run_tags.c.run_id)
            .where(t.run_tags.c.run_id == t.runs.c.id, t.run_tags.c.tag == tag)
            .exists()
        )
    if since is not None:
        query = query.where(t.runs.c.started_at >= since)
    if until is not None:
        query = query.where(t.runs.c.started_at < until)
    return query


def _latest_offset(ref: str) -> int | None:
    """``latest`` -> 0, ``latest~2`` -> 2; None for any other reference."""
    if ref == "latest":
        return 0
    head, tilde, back = ref.partition("~")
    if head == "latest" and tilde and back.isdigit():
        return int(back)
    return None


def _run(row: Row[Any]) -> RunRecord:
    data = {name: getattr(row, name) for name in _RUN_FIELDS}
    for key in ("config", "graph", "environment"):
        data[key] = data[key] or {}
    return RunRecord(**data)


def _step_run(row: Row[Any], **edges: Any) -> StepRunRecord:
    data = {name: getattr(row, name) for name in _STEP_FIELDS}
    data["cache_parts"] = data["cache_parts"] or {}
    data["params"] = data["params"] or {}
    return StepRunRecord(**data, **edges)


def _dataset_version(row: Row[Any]) -> DatasetVersionRecord:
    data = {c.name: getattr(row, c.name) for c in t.dataset_versions.columns}
    data["columns"] = data["columns"] or []
    return DatasetVersionRecord(**data)


def _artifact(row: Row[Any]) -> ArtifactRecord:
    return ArtifactRecord(**{name: getattr(row, name) for name in _ARTIFACT_FIELDS})


__all__ = ["HEAD", "REVISIONS", "MetadataStore", "masked_url"]
