"""``shipyard.registry.registry`` provides :class:`ModelRegistry`: named models, versions, stages.

A *model* is a name (``taxi-tips``); each *version* is a model bundle (from a
run, or a bundle folder), numbered 1, 2, ... in the order they were
registered; registering the same bundle again returns its version. A version
is in one *stage*: ``none`` (just registered), ``staging``, ``production`` or
``archived``. At most one version per model is in production: promoting one
moves the previous production version to ``archived`` (the database's unique
index holds that even under concurrent promotions). *Aliases* (``champion``,
``candidate``, ...) point at one version each, alongside stages. Every change
is kept in the model's history with who made it, when and why.

``rollback`` puts back in production the version that was in production
before the current one (the current one goes to ``archived``). Rollbacks step
further back each time (v3 -> v2 -> v1); a promotion starts a new step.
"""

from __future__ import annotations

import difflib
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.config.spec import MODEL_STAGES, alias_problem, model_name_problem
from shipyard.errors import ArtifactNotFound, ModelNotFound, RegistryError, RunNotFound
from shipyard.registry.refs import ModelRef, parse_model_ref
from shipyard.stores.metadata.records import ArtifactRecord
from shipyard.stores.metadata.registry import (
    ModelEventRecord,
    ModelRecord,
    ModelVersionRecord,
    Registration,
    RegistryTables,
    StageChange,
)

if TYPE_CHECKING:
    from shipyard.bundle.bundle import Predictor
    from shipyard.stores.artifacts import ArtifactStore
    from shipyard.stores.metadata.store import MetadataStore

#: Where the production version goes when another one is promoted (or rolled back to).
REPLACED_STAGE = "archived"

BundleFinder = Callable[[str], ArtifactRecord]


class ModelRegistry:
    """The model registry of one stack (``Client().models``).

    Args:
        metadata: the metadata store (holds the registry's tables).
        artifacts: the artifact store (holds the bundles).
        find_bundle: finds a bundle artifact by run id, bundle id or ``latest``
            (``Client.find_bundle``); needed to register a run.
    """

    def __init__(
        self,
        metadata: MetadataStore,
        artifacts: ArtifactStore,
        *,
        find_bundle: BundleFinder | None = None,
    ) -> None:
        self.metadata = metadata
        self.artifacts = artifacts
        self.tables = RegistryTables(metadata)
        self._find_bundle = find_bundle

    # -- registering -----------------------------------------------------

    def register(
        self,
        name: str,
        run_or_bundle: str | Path | ArtifactRecord,
        *,
        stage: str | None = None,
        alias: str | None = None,
        reason: str | None = None,
        trust: bool = False,
    ) -> ModelVersionRecord:
        """Register a bundle as a version of ``name`` (created on first use).

        Args:
            run_or_bundle: a run (id, prefix, ``latest``: its bundle), a bundle
                artifact id, a bundle folder (stored in the artifact store if
                it is not there) or an artifact record.
            stage: put the version in this stage too.
            alias: point this alias at the version too.
            reason: why, kept in the history.
            trust: accept a bundle folder holding types outside the trusted list.

        Returns:
            The version; the existing one when this bundle is registered already.
        """
        return self.register_bundle(
            name, self.bundle_for(run_or_bundle, trust=trust), stage=stage, alias=alias, reason=reason
        )[0]

    def register_bundle(
        self,
        name: str,
        bundle: ArtifactRecord,
        *,
        stage: str | None = None,
        alias: str | None = None,
        reason: str | None = None,
    ) -> tuple[ModelVersionRecord, bool]:
        """Register a bundle artifact; returns ``(version, created)``."""
        check_name(name)
        if stage is not None:
            check_stage(stage)
        if alias is not None:
            check_alias(alias)
        meta = _bundle_metadata(self.artifacts, bundle)
        run_id = meta.get("run_id")
        if run_id:
            try:
                found = self.metadata.get_run(str(run_id))
                run_id = found.id if found.id == run_id else None
            except RunNotFound:
                run_id = None  # a bundle made in another project
        metrics = {
            str(k): float(v)
            for k, v in dict(meta.get("metrics") or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        }
        registration = Registration(
            model=name,
            bundle_id=bundle.id,
            run_id=run_id or None,
            data_version=meta.get("data_version"),
            metrics=metrics,
            stage=stage,
            alias=alias,
            reason=reason,
            user=_user(),
            replaced_stage=REPLACED_STAGE,
        )
        return self.tables.register(registration, artifacts=[bundle])

    def bundle_for(self, source: str | Path | ArtifactRecord, *, trust: bool = False) -> ArtifactRecord:
        """The bundle artifact a run, a bundle id, a model reference or a bundle folder names.

        A folder is stored in the artifact store (unless its content is there already).

        Raises:
            ArtifactNotFound: when ``source`` names no bundle.
        """
        if isinstance(source, ArtifactRecord):
            if source.materializer != "model-bundle":
                raise ArtifactNotFound(f"Artifact {source.id[:12]} is a {source.data_type}, not a model bundle.")
            return source
        folder = Path(source)
        if folder.is_dir():
            if not (folder / "bundle.json").exists():
                raise ArtifactNotFound(f"{folder} is a folder but not a model bundle (it has no bundle.json).")
            return self._store_folder(folder, trust=trust)
        text = str(source)
        if "@" in text:
            return self.bundle(text)
        if self._find_bundle is None:
            raise ArtifactNotFound(f"Cannot look up {text!r} here: give a bundle artifact or folder.")
        return self._find_bundle(text)

    def _store_folder(self, folder: Path, *, trust: bool) -> ArtifactRecord:
        """Copy a bundle folder into the artifact store as a model-bundle artifact."""
        from shipyard.bundle.io import load_bundle_folder
        from shipyard.bundle.materializer import ModelBundleMaterializer
        from shipyard.engine.artifacts import stored_record
        from shipyard.stores.artifacts import MANIFEST

        load_bundle_folder(folder, trust=trust)  # refuse what would not load
        with self.artifacts.staging() as staging:
            shutil.copytree(folder, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns(MANIFEST))
            stored = self.artifacts.commit(staging, ModelBundleMaterializer.tag())
        known = self.metadata.get_artifacts([stored.id])
        if stored.id in known:
            return known[stored.id]
        return stored_record(stored, ModelBundleMaterializer, "shipyard.bundle.bundle.ModelBundle")

    # -- reading ---------------------------------------------------------

    def list(self) -> list[ModelRecord]:
        """Every model, by name, with its version count, production version, aliases."""
        return self.tables.models()

    def get(self, name: str) -> ModelRecord:
        """A model's summary.

        Raises:
            ModelNotFound: naming the known models (and the closest one).
        """
        found = self.tables.models(name)
        if not found:
            self._unknown_model(name)
        return found[0]

    def versions(self, name: str) -> list[ModelVersionRecord]:
        """A model's versions, newest first."""
        self.get(name)
        return self.tables.versions(name)

    def history(self, name: str) -> list[ModelEventRecord]:
        """A model's history, oldest first: registrations, stage changes, aliases."""
        self.get(name)
        return self.tables.events(name)

    def resolve(self, ref: str | ModelRef) -> ModelVersionRecord:
        """The version ``NAME@REF`` names (``NAME`` alone: production).

        Raises:
            ModelNotFound: when the model, version, alias or a version in that stage is missing.
        """
        parsed = ref if isinstance(ref, ModelRef) else parse_model_ref(ref)
        found = self.find(parsed)
        if found is not None:
            return found
        versions = self.tables.versions(parsed.name)
        if not versions:
            raise ModelNotFound(f"Model {parsed.name!r} has no versions yet.")
        if parsed.kind == "alias":
            aliases = self.get(parsed.name).aliases
            guess = difflib.get_close_matches(parsed.ref, list(aliases), n=1, cutoff=0.6)
            listing = ", ".join(f"{a} (v{v})" for a, v in aliases.items()) or "none yet"
            raise ModelNotFound(
                f"Model {parsed.name!r} has no alias {parsed.ref!r}"
                + (f"; did you mean {guess[0]!r}?" if guess else ".")
                + f" Aliases: {listing}.",
                hint=f"Set one: shipyard models alias {parsed.name} {parsed.ref} VERSION",
            )
        raise ModelNotFound(
            f"No version of {parsed.name!r} is in {parsed.ref}; versions: {_stages_of(versions)}.",
            hint=f"Promote one: shipyard models promote {parsed.name} VERSION --stage {parsed.ref}",
        )

    def find(self, ref: str | ModelRef) -> ModelVersionRecord | None:
        """The version ``ref`` names, or None when no version is in that stage or has that alias.

        Raises:
            ModelNotFound: for an unknown model or version number.
        """
        parsed = ref if isinstance(ref, ModelRef) else parse_model_ref(ref)
        self.get(parsed.name)
        if parsed.kind == "version":
            found = self.tables.versions(parsed.name, version=parsed.version)
            if not found:
                numbers = [v.version for v in self.tables.versions(parsed.name)]
                raise ModelNotFound(
                    f"Model {parsed.name!r} has no version {parsed.version}; versions: "
                    f"{', '.join(map(str, sorted(numbers))) or 'none yet'}."
                )
            return found[0]
        if parsed.kind == "stage":
            found = self.tables.versions(parsed.name, stage=parsed.ref)
        elif parsed.kind == "alias":
            found = self.tables.versions(parsed.name, alias=parsed.ref)
        else:
            found = self.tables.versions(parsed.name)
        return found[0] if found else None

    def find_optional(self, name: str, ref: str) -> ModelVersionRecord | None:
        """Like :meth:`find`, but None for a model that does not exist yet."""
        check_name(name)
        if not self.tables.models(name):
            return None
        return self.find(ModelRef(name, parse_model_ref(f"{name}@{ref}").ref))

    def bundle(self, ref: str | ModelRef) -> ArtifactRecord:
        """The bundle artifact of the version ``ref`` names."""
        version = self.resolve(ref)
        return self.metadata.get_artifact(version.bundle_id)

    def load(self, ref: str | ModelRef, *, trust: bool = False) -> Predictor:
        """A :class:`~shipyard.bundle.bundle.Predictor` for the version ``ref`` names."""
        from shipyard.bundle.bundle import Predictor
        from shipyard.engine.artifacts import load_value

        return Predictor(load_value(self.bundle(ref), self.artifacts, allow_pickle=trust))

    # -- stages and aliases ----------------------------------------------

    def promote(
        self, name: str, version: int | str, stage: str, *, reason: str | None = None
    ) -> StageChange:
        """Put a version in a stage (``staging``, ``production``, ``archived``).

        Into production, the current production version moves to ``archived``.
        Promoting to the stage it is in changes nothing (``changed`` is False).

        Raises:
            RegistryError: for an unknown stage.
            ModelNotFound: for an unknown model or version.
        """
        check_stage(stage)
        number = self._version_number(name, version)
        return self.tables.set_stage(
            name, number, stage, user=_user(), reason=reason, replaced_stage=REPLACED_STAGE
        )

    def rollback(self, name: str, *, reason: str | None = None) -> StageChange:
        """Put back in production the version that was there before the current one.

        The current production version moves to ``archived``. Each rollback
        steps one further back; with no version in production, the last one
        that was comes back.

        Raises:
            RegistryError: when there is no earlier production version.
        """
        current, target = self.rollback_target(name)
        return self.tables.set_stage(
            name, target, "production", user=_user(), reason=reason, kind="rollback",
            replaced_stage=REPLACED_STAGE, expect_production=current,
        )

    def rollback_target(self, name: str) -> tuple[int | None, int]:
        """``(current production version, the version a rollback would restore)``.

        Raises:
            RegistryError: when there is none to restore.
        """
        self.get(name)
        production = self.tables.versions(name, stage="production")
        current = production[0].version if production else None
        stack = production_stack(self.tables.events(name, kinds=("stage", "rollback")))
        while current is not None and stack and stack[-1] == current:
            stack.pop()
        if not stack:
            where = f"v{current} is the first version in production" if current else "no version was ever in production"
            raise RegistryError(f"Model {name!r} has no earlier production version to roll back to: {where}.")
        return current, stack[-1]

    def set_alias(self, name: str, alias: str, version: int | str) -> ModelVersionRecord:
        """Point ``alias`` at a version (moving it from the one it pointed at)."""
        check_alias(alias)
        number = self._version_number(name, version)
        self.tables.set_alias(name, alias, number, user=_user())
        return self.tables.versions(name, version=number)[0]

    def remove_alias(self, name: str, alias: str) -> int:
        """Take an alias off; returns the version it pointed at.

        Raises:
            ModelNotFound: when the model has no such alias.
        """
        model = self.get(name)
        held = self.tables.remove_alias(name, alias, user=_user())
        if held is None:
            guess = difflib.get_close_matches(alias, list(model.aliases), n=1, cutoff=0.6)
            raise ModelNotFound(
                f"Model {name!r} has no alias {alias!r}"
                + (f"; did you mean {guess[0]!r}?" if guess else ".")
                + f" Aliases: {', '.join(model.aliases) or 'none'}."
            )
        return held

    # -- helpers ---------------------------------------------------------

    def _version_number(self, name: str, version: int | str) -> int:
        text = str(version).strip()
        text = text[1:] if text[:1] == "v" else text
        if not text.isdigit():
            # An alias or stage in place of a number: resolve it.
            return self.resolve(f"{name}@{version}").version
        return self.resolve(ModelRef(name, str(int(text)))).version

    def _unknown_model(self, name: str) -> None:
        names = self.tables.names()
        guess = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        raise ModelNotFound(
            f"No model named {name!r} in the registry"
            + (f"; did you mean {guess[0]!r}?" if guess else ".")
            + f" Models: {', '.join(names) or 'none yet'}.",
            hint="Register one: shipyard models register NAME RUN",
        )


def production_stack(events: list[ModelEventRecord]) -> list[int]:
    """The versions that were in production, oldest first, as rollbacks see them.

    Each promotion to production pushes its version; a rollback pops the
    version it rolled back from. ``events`` are the model's ``stage`` and
    ``rollback`` events, oldest first.
    """
    stack: list[int] = []
    for event in events:
        if event.to_value != "production":
            continue
        if event.kind == "rollback":
            if stack and stack[-1] != event.version:
                stack.pop()
            if not stack or stack[-1] != event.version:
                stack.append(event.version)
        elif not stack or stack[-1] != event.version:
            stack.append(event.version)
    return stack


def check_name(name: str) -> None:
    """Raise :class:`RegistryError` unless ``name`` can name a model."""
    if (problem := model_name_problem(name)) is not None:
        raise RegistryError(f"{problem[0].upper()}{problem[1:]}.")


def check_stage(stage: str) -> None:
    """Raise :class:`RegistryError` unless ``stage`` is one a version can be put in."""
    if stage in MODEL_STAGES:
        return
    guess = difflib.get_close_matches(stage, MODEL_STAGES, n=1, cutoff=0.5)
    raise RegistryError(
        f"{stage!r} is not a stage"
        + (f"; did you mean {guess[0]!r}?" if guess else ";")
        + f" stages: {', '.join(MODEL_STAGES)}."
    )


def check_alias(alias: str) -> None:
    """Raise :class:`RegistryError` unless ``alias`` can be an alias."""
    if (problem := alias_problem(alias)) is not None:
        raise RegistryError(f"{problem[0].upper()}{problem[1:]}.")


def _stages_of(versions: list[ModelVersionRecord]) -> str:
    return ", ".join(f"v{v.version} {v.stage}" for v in versions)


def _bundle_metadata(artifacts: ArtifactStore, bundle: ArtifactRecord) -> dict[str, Any]:
    from shipyard.bundle.io import read_metadata

    return read_metadata(artifacts.local_path(bundle.id))


def _user() -> str:
    from shipyard.engine.provenance import current_user

    return current_user()


__all__ = [
    "REPLACED_STAGE",
    "ModelRegistry",
    "check_alias",
    "check_name",
    "check_stage",
    "production_stack",
]
