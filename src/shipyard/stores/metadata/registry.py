"""``shipyard.stores.metadata.registry`` provides the model registry's tables: SQL only.

Named models, their numbered versions (each a model bundle artifact), their
stages and aliases, and the history of every change (``model_events``). The
rules (what a reference means, where a replaced production version goes,
which version a rollback restores) are :mod:`shipyard.registry`'s; this module
reads and writes rows, each change in one transaction of the metadata store.

Every write first takes the model's lock: on SQLite the store's write
transactions hold the database's write lock from their start (``BEGIN
IMMEDIATE``); on PostgreSQL the model's row is locked (``SELECT ... FOR
UPDATE``), so two promotions of one model run one after the other. The
partial unique index ``ux_model_versions_production`` keeps at most one
production version per model whatever happens.

Event kinds: ``register`` (``to_value``: the bundle id), ``stage``
(``from_value`` -> ``to_value``), ``rollback`` (a stage change to production
made by a rollback) and ``alias`` (``to_value``: the alias set on the version,
or ``from_value``: the alias taken off it).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.errors import ModelNotFound, RegistryError
from shipyard.stores.metadata import schema as t
from shipyard.stores.metadata.records import ArtifactRecord

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row

    from shipyard.stores.metadata.store import MetadataStore

#: The stage of a version that was never put in one.
NO_STAGE = "none"
#: Kinds of the history's events.
EVENT_KINDS = ("register", "stage", "rollback", "alias")
#: ``expect_production`` of :meth:`RegistryTables.set_stage` when any is fine.
ANY = object()


@dataclass(frozen=True)
class ModelVersionRecord:
    """One version of a registered model: a model bundle from a run.

    Attributes:
        model: the model's name.
        version: its number (1, 2, ...), in the order versions were registered.
        bundle_id: the model bundle artifact.
        stage: ``none``, ``staging``, ``production`` or ``archived``.
        run_id: the run that made the bundle (None when it came from elsewhere).
        data_version: the data the bundle was trained on (its artifact id).
        metrics: the bundle's evaluation metrics.
        aliases: the aliases pointing at this version.
    """

    model: str
    version: int
    bundle_id: str
    stage: str
    created_at: float
    run_id: str | None = None
    data_version: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    user: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.model}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the record."""
        out = asdict(self)
        out["aliases"] = list(self.aliases)
        return out


@dataclass(frozen=True)
class ModelRecord:
    """A registered model with a summary of its versions.

    Attributes:
        latest: the newest version's number.
        production: the production version's number, if any.
        staging: the numbers of the versions in staging, newest first.
        aliases: alias -> version number.
        updated_at: time of the model's last change (registration, stage, alias).
    """

    name: str
    created_at: float
    description: str | None = None
    user: str | None = None
    versions: int = 0
    latest: int | None = None
    production: int | None = None
    staging: tuple[int, ...] = ()
    aliases: dict[str, int] = field(default_factory=dict)
    updated_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the record."""
        out = asdict(self)
        out["staging"] = list(self.staging)
        return out


@dataclass(frozen=True)
class ModelEventRecord:
    """One change in a model's history: who did what to which version, when and why."""

    id: int
    model: str
    version: int
    kind: str
    created_at: float
    from_value: str | None = None
    to_value: str | None = None
    reason: str | None = None
    user: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the record."""
        return asdict(self)


@dataclass(frozen=True)
class Registration:
    """A request to register a bundle as a version of a model.

    ``stage`` and ``alias``, when given, are applied to the version (new or
    existing) in the same transaction; a production stage moves the current
    production version to ``replaced_stage``.
    """

    model: str
    bundle_id: str
    run_id: str | None = None
    data_version: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    stage: str | None = None
    alias: str | None = None
    reason: str | None = None
    user: str | None = None
    replaced_stage: str = "archived"
    #: For a production stage: the production version the decision was based on
    #: (a ``gate.must_beat`` comparison; None: there was none); ANY: not checked.
    expect_production: Any = ANY


@dataclass(frozen=True)
class StageChange:
    """What a stage change did.

    Attributes:
        version: the version, with its new stage.
        previous: its stage before.
        replaced: the version that left production for it, with its new stage.
        changed: False when the version was in that stage already.
    """

    version: ModelVersionRecord
    previous: str
    replaced: ModelVersionRecord | None = None
    changed: bool = True

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "version": self.version.to_dict(),
            "previous": self.previous,
            "replaced": self.replaced.to_dict() if self.replaced is not None else None,
            "changed": self.changed,
        }


class RegistryTables:
    """The registry's reads and writes on a :class:`MetadataStore`.

    Args:
        store: the metadata store (its engine and transactions are used).
    """

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    # -- writes ----------------------------------------------------------

    def register(
        self, registration: Registration, *, artifacts: Iterable[ArtifactRecord] = ()
    ) -> tuple[ModelVersionRecord, bool]:
        """Register a bundle (and record ``artifacts`` first) in one transaction.

        Returns:
            ``(version, created)``: the existing version of this bundle and
            False, or the new version and True.
        """
        with self.store._write() as conn:
            self.store._insert_artifacts(conn, artifacts)
            return register_in(self.store, conn, registration, now=time.time())

    def set_stage(
        self,
        model: str,
        version: int,
        stage: str,
        *,
        user: str | None,
        reason: str | None = None,
        kind: str = "stage",
        replaced_stage: str = "archived",
        expect_production: int | object | None = ANY,
    ) -> StageChange:
        """Put a version in a stage; into production, the current one goes to ``replaced_stage``.

        Args:
            kind: the event's kind (``stage``; ``rollback`` for a rollback).
            expect_production: the production version the caller's decision
                was based on (None: none); by default it is not checked.

        Raises:
            ModelNotFound: when the version does not exist.
            RegistryError: when production changed since ``expect_production``.
        """
        with self.store._write() as conn:
            _lock(conn, model)
            if expect_production is not ANY:
                _check_production(conn, model, expect_production)
            row = _version_row(conn, model, version)
            return set_stage_in(
                conn, row, stage, user=user, reason=reason, now=time.time(), kind=kind,
                replaced_stage=replaced_stage,
            )

    def set_alias(self, model: str, alias: str, version: int, *, user: str | None) -> int | None:
        """Point ``alias`` at a version.

        Returns:
            The version it pointed at before (None: it is new).

        Raises:
            ModelNotFound: when the version does not exist.
        """
        with self.store._write() as conn:
            _lock(conn, model)
            _version_row(conn, model, version)
            return set_alias_in(conn, model, alias, version, user=user, now=time.time())

    def remove_alias(self, model: str, alias: str, *, user: str | None) -> int | None:
        """Take an alias off; returns the version it pointed at (None: there was no such alias)."""
        now = time.time()
        with self.store._write() as conn:
            _lock(conn, model)
            held = _alias_version(conn, model, alias)
            if held is None:
                return None
            conn.execute(
                delete(t.model_aliases).where(
                    t.model_aliases.c.model == model, t.model_aliases.c.alias == alias
                )
            )
            _event(conn, model, held, "alias", now, user=user, from_value=alias)
            return held

    # -- reads -----------------------------------------------------------

    def names(self) -> list[str]:
        """Every model's name, sorted."""
        with self.store._read() as conn:
            return list(conn.execute(select(t.models.c.name).order_by(t.models.c.name)).scalars())

    def models(self, name: str | None = None) -> list[ModelRecord]:
        """Every model (or the one named) with a summary of its versions, by name."""
        query = select(t.models).order_by(t.models.c.name)
        if name is not None:
            query = query.where(t.models.c.name == name)
        with self.store._read() as conn:
            rows = conn.execute(query).all()
            names = [row.name for row in rows]
            if not names:
                return []
            versions: dict[str, list[Any]] = {n: [] for n in names}
            for v in conn.execute(
                select(t.model_versions.c.model, t.model_versions.c.version, t.model_versions.c.stage)
                .where(t.model_versions.c.model.in_(names))
                .order_by(t.model_versions.c.version.desc())
            ):
                versions[v.model].append(v)
            aliases: dict[str, dict[str, int]] = {n: {} for n in names}
            for a in conn.execute(
                select(t.model_aliases).where(t.model_aliases.c.model.in_(names)).order_by(t.model_aliases.c.alias)
            ):
                aliases[a.model][a.alias] = a.version
            updated = dict(
                conn.execute(
                    select(t.model_events.c.model, func.max(t.model_events.c.created_at))
                    .where(t.model_events.c.model.in_(names))
                    .group_by(t.model_events.c.model)
                ).all()
            )
        out = []
        for row in rows:
            mine = versions[row.name]
            out.append(
                ModelRecord(
                    name=row.name,
                    created_at=row.created_at,
                    description=row.description,
                    user=row.user,
                    versions=len(mine),
                    latest=mine[0].version if mine else None,
                    production=next((v.version for v in mine if v.stage == "production"), None),
                    staging=tuple(v.version for v in mine if v.stage == "staging"),
                    aliases=aliases[row.name],
                    updated_at=updated.get(row.name, row.created_at),
                )
            )
        return out

    def versions(
        self,
        model: str,
        *,
        version: int | None = None,
        stage: str | None = None,
        alias: str | None = None,
        bundle_id: str | None = None,
    ) -> list[ModelVersionRecord]:
        """A model's versions, newest first, optionally only those matching."""
        query = (
            select(t.model_versions)
            .where(t.model_versions.c.model == model)
            .order_by(t.model_versions.c.version.desc())
        )
        if version is not None:
            query = query.where(t.model_versions.c.version == version)
        if stage is not None:
            query = query.where(t.model_versions.c.stage == stage)
        if bundle_id is not None:
            query = query.where(t.model_versions.c.bundle_id == bundle_id)
        if alias is not None:
            query = query.where(
                t.model_versions.c.version
                == select(t.model_aliases.c.version)
                .where(t.model_aliases.c.model == model, t.model_aliases.c.alias == alias)
                .scalar_subquery()
            )
        with self.store._read() as conn:
            return _with_aliases(conn, conn.execute(query).all())

    def versions_of_bundle(self, bundle_id: str) -> list[ModelVersionRecord]:
        """Every version (of any model) that is this bundle."""
        with self.store._read() as conn:
            rows = conn.execute(
                select(t.model_versions)
                .where(t.model_versions.c.bundle_id == bundle_id)
                .order_by(t.model_versions.c.model, t.model_versions.c.version)
            ).all()
            return _with_aliases(conn, rows)

    def events(self, model: str, *, kinds: Iterable[str] | None = None) -> list[ModelEventRecord]:
        """A model's history, oldest first.

        In commit order (the event ids: writes are serialised), not by time:
        the times come from each writer's own clock, which may differ.
        """
        query = (
            select(t.model_events)
            .where(t.model_events.c.model == model)
            .order_by(t.model_events.c.id)
        )
        if kinds is not None:
            query = query.where(t.model_events.c.kind.in_(list(kinds)))
        with self.store._read() as conn:
            return [
                ModelEventRecord(**{c.name: getattr(row, c.name) for c in t.model_events.columns})
                for row in conn.execute(query)
            ]


# -- the writes, inside a caller's transaction -------------------------------------


def register_in(
    store: MetadataStore, conn: Connection, registration: Registration, *, now: float
) -> tuple[ModelVersionRecord, bool]:
    """Register a bundle inside an open write transaction (see :meth:`RegistryTables.register`).

    The engine calls this from :meth:`MetadataStore.record_step`, so a step's
    registration is recorded with the step run or not at all.
    """
    reg = registration
    store._insert_missing(conn, t.models, [{"name": reg.model, "user": reg.user, "created_at": now}])
    _lock(conn, reg.model)
    row = conn.execute(
        select(t.model_versions).where(
            t.model_versions.c.model == reg.model, t.model_versions.c.bundle_id == reg.bundle_id
        )
    ).first()
    created = row is None
    if row is None:
        latest = conn.execute(
            select(func.max(t.model_versions.c.version)).where(t.model_versions.c.model == reg.model)
        ).scalar()
        values = {
            "model": reg.model,
            "version": int(latest or 0) + 1,
            "bundle_id": reg.bundle_id,
            "run_id": reg.run_id,
            "data_version": reg.data_version,
            "metrics": {str(k): float(v) for k, v in dict(reg.metrics).items()},
            "stage": NO_STAGE,
            "user": reg.user,
            "created_at": now,
        }
        conn.execute(insert(t.model_versions).values(**values))
        _event(conn, reg.model, values["version"], "register", now, user=reg.user, to_value=reg.bundle_id,
               reason=reg.reason)
        row = _version_row(conn, reg.model, values["version"])
    if reg.stage is not None:
        if reg.stage == "production" and reg.expect_production is not ANY:
            _check_production(conn, reg.model, reg.expect_production)
        set_stage_in(conn, row, reg.stage, user=reg.user, reason=reg.reason, now=now,
                     replaced_stage=reg.replaced_stage)
    if reg.alias is not None:
        set_alias_in(conn, reg.model, reg.alias, row.version, user=reg.user, now=now)
    return _with_aliases(conn, [_version_row(conn, reg.model, row.version)])[0], created


def set_stage_in(
    conn: Connection,
    row: Row[Any],
    stage: str,
    *,
    user: str | None,
    reason: str | None,
    now: float,
    kind: str = "stage",
    replaced_stage: str = "archived",
) -> StageChange:
    """Change a version's stage inside an open write transaction (the model locked)."""
    model, version, previous = row.model, row.version, row.stage
    if previous == stage:
        return StageChange(_with_aliases(conn, [row])[0], previous, None, changed=False)
    replaced = None
    if stage == "production":
        current = _production(conn, model)
        if current is not None and current.version != version:
            conn.execute(
                update(t.model_versions)
                .where(t.model_versions.c.model == model, t.model_versions.c.version == current.version)
                .values(stage=replaced_stage)
            )
            _event(conn, model, current.version, "stage", now, user=user, from_value="production",
                   to_value=replaced_stage, reason=f"replaced by v{version}")
            replaced = _version_row(conn, model, current.version)
    try:
        with conn.begin_nested():
            conn.execute(
                update(t.model_versions)
                .where(t.model_versions.c.model == model, t.model_versions.c.version == version)
                .values(stage=stage)
            )
    except IntegrityError as exc:  # only without the model's lock: the index keeps one production
        raise RegistryError(
            f"Another version of {model!r} went to production at the same time; look again and retry."
        ) from exc
    _event(conn, model, version, kind, now, user=user, from_value=previous, to_value=stage, reason=reason)
    rows = [_version_row(conn, model, version)]
    if replaced is not None:
        rows.append(replaced)
    records = _with_aliases(conn, rows)
    return StageChange(records[0], previous, records[1] if replaced is not None else None)


def set_alias_in(
    conn: Connection, model: str, alias: str, version: int, *, user: str | None, now: float
) -> int | None:
    """Point an alias at a version inside an open write transaction; returns its former version."""
    held = _alias_version(conn, model, alias)
    if held == version:
        return held
    if held is not None:
        conn.execute(
            update(t.model_aliases)
            .where(t.model_aliases.c.model == model, t.model_aliases.c.alias == alias)
            .values(version=version, user=user, updated_at=now)
        )
        _event(conn, model, held, "alias", now, user=user, from_value=alias)
    else:
        conn.execute(
            insert(t.model_aliases).values(model=model, alias=alias, version=version, user=user, updated_at=now)
        )
    _event(conn, model, version, "alias", now, user=user, to_value=alias)
    return held


def record_registrations(store: MetadataStore, conn: Connection, registrations: Iterable[Registration]) -> None:
    """Register each request inside the caller's transaction (a step run's record)."""
    now = time.time()
    for registration in registrations:
        register_in(store, conn, registration, now=now)


# -- helpers -----------------------------------------------------------------------


def _lock(conn: Connection, model: str) -> None:
    """Lock the model's row until the transaction ends (PostgreSQL; SQLite holds the write lock)."""
    found = conn.execute(select(t.models.c.name).where(t.models.c.name == model).with_for_update()).first()
    if found is None:
        raise ModelNotFound(f"No model named {model!r} in the registry.")


def _version_row(conn: Connection, model: str, version: int) -> Row[Any]:
    row = conn.execute(
        select(t.model_versions).where(
            t.model_versions.c.model == model, t.model_versions.c.version == version
        )
    ).first()
    if row is None:
        raise ModelNotFound(f"Model {model!r} has no version {version}.")
    return row


def _check_production(conn: Connection, model: str, expected: int | None) -> None:
    """Raise RegistryError unless ``expected`` (None: no version) is still in production."""
    current = _production(conn, model)
    found = current.version if current is not None else None
    if found != expected:
        raise RegistryError(
            f"The production version of {model!r} changed meanwhile (it was "
            f"{'v' + str(expected) if expected else 'none'}, now {'v' + str(found) if found else 'none'}); "
            "look again and retry."
        )


def _production(conn: Connection, model: str) -> Row[Any] | None:
    return conn.execute(
        select(t.model_versions).where(
            t.model_versions.c.model == model, t.model_versions.c.stage == "production"
        )
    ).first()


def _alias_version(conn: Connection, model: str, alias: str) -> int | None:
    return conn.execute(
        select(t.model_aliases.c.version).where(
            t.model_aliases.c.model == model, t.model_aliases.c.alias == alias
        )
    ).scalar()


def _event(
    conn: Connection,
    model: str,
    version: int,
    kind: str,
    now: float,
    *,
    user: str | None,
    from_value: str | None = None,
    to_value: str | None = None,
    reason: str | None = None,
) -> None:
    conn.execute(
        insert(t.model_events).values(
            model=model, version=version, kind=kind, from_value=from_value, to_value=to_value,
            reason=reason, user=user, created_at=now,
        )
    )


def _with_aliases(conn: Connection, rows: list[Row[Any]]) -> list[ModelVersionRecord]:
    if not rows:
        return []
    names: dict[tuple[str, int], list[str]] = {(r.model, r.version): [] for r in rows}
    models = sorted({r.model for r in rows})
    for a in conn.execute(
        select(t.model_aliases).where(t.model_aliases.c.model.in_(models)).order_by(t.model_aliases.c.alias)
    ):
        if (a.model, a.version) in names:
            names[(a.model, a.version)].append(a.alias)
    return [
        ModelVersionRecord(
            model=r.model,
            version=r.version,
            bundle_id=r.bundle_id,
            stage=r.stage,
            created_at=r.created_at,
            run_id=r.run_id,
            data_version=r.data_version,
            metrics=dict(r.metrics or {}),
            user=r.user,
            aliases=tuple(names[(r.model, r.version)]),
        )
        for r in rows
    ]


__all__ = [
    "EVENT_KINDS",
    "NO_STAGE",
    "ModelEventRecord",
    "ModelRecord",
    "ModelVersionRecord",
    "Registration",
    "RegistryTables",
    "StageChange",
    "record_registrations",
    "register_in",
    "set_alias_in",
    "set_stage_in",
]
