"""``shipyard.client`` provides :class:`Client`, the Python API over a stack.

Run pipelines, list and inspect runs and step runs, load artifacts and walk
their lineage, without the CLI.

Example:
    >>> from shipyard import Client
    >>> client = Client()                      # doctest: +SKIP
    >>> run = client.runs(limit=1)[0]          # doctest: +SKIP
    >>> client.load_artifact(client.step_runs(run.id)[0].outputs["output"])  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ArtifactNotFound, ShipyardError
from shipyard.stack import Stack, resolve_stack

if TYPE_CHECKING:
    from shipyard.bundle.bundle import Predictor
    from shipyard.data.datasets import DatasetStores
    from shipyard.data.statistics import Statistics
    from shipyard.engine.graph import Pipeline, PipelineDefinition
    from shipyard.engine.runner import RunHooks, RunResult
    from shipyard.registry.registry import ModelRegistry
    from shipyard.stores.artifacts import ArtifactStore
    from shipyard.stores.metadata import (
        ArtifactRecord,
        ChildRun,
        MetadataStore,
        RunRecord,
        StepRunRecord,
    )
    from shipyard.stores.metadata.annotations import RunNote


@dataclass(frozen=True)
class Lineage:
    """Where an artifact came from and where it went.

    Attributes:
        artifact: the artifact.
        produced_by: ``(step run, output name)`` for each step run that output it
            (the first executed it; later ones may be cache hits).
        consumed_by: ``(step run, input name)`` for each step run that read it.
    """

    artifact: ArtifactRecord
    produced_by: list[tuple[StepRunRecord, str]]
    consumed_by: list[tuple[StepRunRecord, str]]


class Client:
    """Access to one stack's runs and artifacts.

    Args:
        project: the project folder; default: found from the current folder.
        stack: a stack of the project by name (``"team"``; default:
            ``SHIPYARD_STACK``, else the working copy's active stack, else
            ``default``), or an explicit :class:`~shipyard.stack.Stack`.
        create: create ``.shipyard/`` in the current folder if there is none.

    Raises:
        ProjectNotFound: when there is no project and ``create`` is False.
        StoreError: when a store cannot be opened.
    """

    def __init__(
        self,
        project: str | Path | None = None,
        *,
        stack: Stack | str | None = None,
        create: bool = False,
    ) -> None:
        if isinstance(stack, Stack):
            self.stack = stack
        else:
            self.stack = resolve_stack(project, create=create, stack=stack)
        self._artifacts: ArtifactStore | None = None
        self._metadata: MetadataStore | None = None

    @property
    def artifact_store(self) -> ArtifactStore:
        """The stack's artifact store (opened on first use)."""
        if self._artifacts is None:
            from shipyard.stores.artifacts import ArtifactStore

            self._artifacts = ArtifactStore(self.stack.artifacts, options=self.stack.artifact_options)
        return self._artifacts

    @property
    def metadata_store(self) -> MetadataStore:
        """The stack's metadata store (opened on first use)."""
        if self._metadata is None:
            from shipyard.stores.metadata import MetadataStore

            self._metadata = MetadataStore(self.stack.metadata)
            # Any command that opens the store marks runs of dead processes as crashed.
            self._metadata.reap_crashed()
        return self._metadata

    def close(self) -> None:
        """Release database connections."""
        if self._metadata is not None:
            self._metadata.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running ---------------------------------------------------------

    def run(
        self,
        pipeline: Pipeline | PipelineDefinition | str,
        *,
        params: Mapping[str, Any] | None = None,
        overrides: Sequence[str] = (),
        cache: bool = True,
        hooks: RunHooks | None = None,
        orchestrator: str | None = None,
        config: Mapping[str, Any] | None = None,
        orchestrator_options: Mapping[str, Any] | None = None,
        reproduces: str | None = None,
    ) -> RunResult:
        """Run a pipeline and return how it ended; a failed step does not raise.

        Args:
            pipeline: a ``Pipeline``, a ``@pipeline`` definition, ``"file.py:name"``
                or ``"pipeline.yaml"``.
            params: pipeline params (for a definition or Python target).
            overrides: ``key.path=value`` changes to a YAML pipeline (recorded).
            cache: False to execute every step.
            hooks: lifecycle callbacks, e.g. a progress display.
            orchestrator: orchestrator name (``local``, ``dask``); default the stack's.
            config: extra config recorded on the run.
            orchestrator_options: options of the orchestrator, added to the
                stack's when it is the stack's orchestrator; for ``dask``:
                ``address`` (``tcp://HOST:PORT`` or ``local``) and ``n_workers``
                (size of a local cluster). ``None`` values are left out.
            reproduces: id of the run this run reproduces (recorded on it;
                see :meth:`reproduce`).

        Returns:
            The run result; call ``.raise_for_status()`` to raise on failure.
        """
        from shipyard.engine.graph import Pipeline, PipelineDefinition
        from shipyard.engine.loader import load_pipeline
        from shipyard.engine.runner import NO_HOOKS
        from shipyard.orchestrators import get_orchestrator

        target = pipeline if isinstance(pipeline, str) else None
        yaml_config: dict[str, Any] = {}
        if isinstance(pipeline, str) and is_yaml_target(pipeline):
            from shipyard.ml.compile import load_yaml_pipeline

            if params:
                raise ShipyardError(
                    "A YAML pipeline takes overrides (--set key.path=value), not params."
                )
            built, yaml_config = load_yaml_pipeline(
                pipeline,
                overrides,
                datasets=lambda ref: self.datasets.resolve(ref),
                models=lambda name, ref: self.models.find_optional(name, ref),
            )
        elif isinstance(pipeline, str):
            if overrides:
                raise ShipyardError(
                    f"--set overrides are for YAML pipelines; {pipeline} is Python: pass "
                    "params (-p key=value)."
                )
            built = load_pipeline(pipeline, dict(params or {}))
        elif isinstance(pipeline, PipelineDefinition):
            built = pipeline.build(**dict(params or {}))
        elif isinstance(pipeline, Pipeline):
            built = pipeline
        else:
            raise ShipyardError(f"Cannot run {pipeline!r}: expected a pipeline.")
        snapshot = {"target": target, "source": built.source, "params": built.params}
        snapshot |= yaml_config
        name = orchestrator or self.stack.orchestrator
        options = dict(self.stack.orchestrator_options) if name == self.stack.orchestrator else {}
        if options:
            from shipyard.stores.secrets import expand

            options = {  # a stack option may refer to an environment variable: ${VAR}
                key: expand(value, what=f"The {name} orchestrator's option {key!r}")
                if isinstance(value, str)
                else value
                for key, value in options.items()
            }
        options.update({k: v for k, v in dict(orchestrator_options or {}).items() if v is not None})
        if name == "dask" and not options.get("address"):
            from shipyard.stack import env_dask_address

            if env_dask_address():
                options["address"] = env_dask_address()
        try:
            runner = get_orchestrator(name, **options)
        except TypeError as exc:
            if not options:
                raise
            raise ShipyardError(
                f"The {name!r} orchestrator does not take the option(s) {sorted(options)}: {exc}."
            ) from exc
        return runner.run(
            built,
            artifact_store=self.artifact_store,
            metadata_store=self.metadata_store,
            cache=cache,
            config={**snapshot, **dict(config or {})},
            hooks=hooks or NO_HOOKS,
            project_dir=self.stack.project_dir,
            **({"reproduces": reproduces} if reproduces else {}),
        )

    @property
    def datasets(self) -> DatasetStores:
        """Named, versioned datasets in this stack's stores."""
        from shipyard.data.datasets import DatasetStores

        return DatasetStores(self.artifact_store, self.metadata_store)

    @property
    def models(self) -> ModelRegistry:
        """The model registry: named models, their versions, stages and aliases (see docs/registry.md)."""
        from shipyard.registry.registry import ModelRegistry

        return ModelRegistry(self.metadata_store, self.artifact_store, find_bundle=self.find_bundle)

    def data_statistics(
        self,
        source: str,
        *,
        types: Mapping[str, str] | None = None,
        address: str | None = None,
        dask_client: Any = None,
    ) -> tuple[str, Statistics]:
        """Statistics of a source, and a label for it.

        Args:
            source: a file, glob, folder or URL; a dataset (``NAME`` or
                ``NAME@VERSION``); or a run's split (``RUN:train``,
                ``latest:test``), whose statistics the run recorded.
            types: column types to compute with (e.g. a schema's).
            address: a Dask scheduler (``tcp://HOST:PORT`` or ``local``): several
                files, or a partitioned dataset's parts, are then read one task
                per part on its workers and the statistics merged.
            dask_client: an open ``distributed.Client`` to use instead of ``address``.
        """
        from shipyard.data.parallel import partition_files, partitioned_statistics
        from shipyard.data.refs import NAME, is_dataset_ref
        from shipyard.data.sources import is_url
        from shipyard.data.statistics import Statistics, compute_statistics

        run_ref, colon, split = source.rpartition(":")
        if colon and split in ("train", "eval", "test") and not is_url(source):
            run = self.get_run(run_ref)
            stats = self.load_output(run.id, "statistics")[split]
            result = Statistics.from_json(stats)
            if types:
                frame = self.load_output(run.id, "split", split)
                result = compute_statistics(frame, types=types)
            return f"{run.id[:8]}:{split}", result
        if "@" in source and not is_dataset_ref(source) and not Path(source).exists() and not is_url(source):
            from shipyard.errors import DatasetNotFound

            raise DatasetNotFound(
                f"{source!r} is not a dataset reference; expected NAME, NAME@VERSION or NAME@latest."
            )
        is_dataset = is_dataset_ref(source) or (
            NAME.match(source) is not None
            and not Path(source).exists()
            and any(d.name == source for d in self.metadata_store.list_datasets())
        )
        if is_dataset:
            version = self.datasets.resolve(source)
            return version.ref, self.datasets.statistics(
                version, types=dict(types or {}), address=address, dask_client=dask_client
            )
        files = partition_files(source, Path.cwd())
        if (address or dask_client is not None) and len(files) > 1:
            return source, partitioned_statistics(files, types=types, address=address, dask_client=dask_client)
        return source, compute_statistics(files, types=types)

    # -- runs ------------------------------------------------------------

    def runs(
        self,
        *,
        pipeline: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
        user: str | None = None,
        tags: Sequence[str] = (),
        since: str | float | dt.datetime | None = None,
        until: str | float | dt.datetime | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first, filtered by pipeline, status, user, tags (all must
        match) and start time: ``since``/``until`` take epoch seconds, a datetime,
        a date (``2026-11-20``; ``until`` includes that day) or a time ago
        (``3d``, ``12h``)."""
        from shipyard.compare import parse_time

        return self.metadata_store.list_runs(
            pipeline=pipeline,
            status=status,
            limit=limit,
            offset=offset,
            user=user,
            tags=[tags] if isinstance(tags, str) else tags,
            since=None if since is None else parse_time(since),
            until=None if until is None else parse_time(until, end=True),
        )

    def get_run(self, ref: str) -> RunRecord:
        """A run by id, unique prefix, ``latest`` or ``latest~N`` (the N-th before the latest)."""
        return self.metadata_store.get_run(ref)

    def tag_run(self, run: str | RunRecord, *tags: str) -> list[str]:
        """Put tags on a run; returns all its tags."""
        from shipyard.engine.provenance import current_user
        from shipyard.stores.metadata.annotations import add_tags

        return add_tags(self.metadata_store, self._run_id(run), tags, user=current_user())

    def untag_run(self, run: str | RunRecord, *tags: str) -> list[str]:
        """Take tags off a run (each must be on it); returns the tags left."""
        from shipyard.stores.metadata.annotations import remove_tags

        return remove_tags(self.metadata_store, self._run_id(run), tags)

    def run_tags(self, run: str | RunRecord) -> list[str]:
        """The tags of a run, sorted."""
        from shipyard.stores.metadata.annotations import run_tags

        run_id = self._run_id(run)
        return run_tags(self.metadata_store, [run_id]).get(run_id, [])

    def note_run(self, run: str | RunRecord, text: str) -> RunNote:
        """Append a note to a run, with the current user and time."""
        from shipyard.engine.provenance import current_user
        from shipyard.stores.metadata.annotations import add_note

        return add_note(self.metadata_store, self._run_id(run), text, user=current_user())

    def run_notes(self, run: str | RunRecord) -> list[RunNote]:
        """The notes of a run, oldest first."""
        from shipyard.stores.metadata.annotations import run_notes

        return run_notes(self.metadata_store, self._run_id(run))

    def diff_runs(self, a: str | RunRecord, b: str | RunRecord) -> dict[str, Any]:
        """What differs between two runs: config, params, data, code, packages,
        metrics (deltas ``b - a``) and cached steps (see :func:`shipyard.compare.diff_runs`)."""
        from shipyard.compare import diff_runs

        return diff_runs(self, a, b)

    def compare_runs(
        self,
        runs: Sequence[str | RunRecord] = (),
        *,
        sort: str | None = None,
        pipeline: str | None = None,
        last: int | None = None,
    ) -> dict[str, Any]:
        """Params and metrics of several runs side by side, best first by ``sort``
        (see :func:`shipyard.compare.compare_runs`)."""
        from shipyard.compare import compare_runs

        return compare_runs(self, runs, pipeline=pipeline, last=last, sort=sort)

    def reproduce(
        self,
        run: str | RunRecord,
        *,
        force: bool = False,
        cache: bool = False,
        hooks: RunHooks | None = None,
    ) -> RunResult:
        """Re-run a run with its recorded config and data version (see :mod:`shipyard.reproduce`).

        Args:
            run: the run to reproduce.
            force: run even when the code's git commit differs from the recorded one
                (otherwise refused with :class:`~shipyard.reproduce.ReproduceError`).
            cache: let the cache serve steps; by default every step executes.
            hooks: lifecycle callbacks, e.g. a progress display.
        """
        from shipyard.reproduce import reproduce

        return reproduce(self, run, force=force, cache=cache, hooks=hooks)

    def _run_id(self, run: str | RunRecord) -> str:
        return run.id if not isinstance(run, str) else self.get_run(run).id

    def step_runs(self, run: str | RunRecord) -> list[StepRunRecord]:
        """The step runs of a run, in the order they finished."""
        return self.metadata_store.step_runs(self._run_id(run))

    def step_run(self, run: str | RunRecord, step: str) -> StepRunRecord:
        """The step run of ``step`` in ``run``.

        Raises:
            ShipyardError: when the run has no such step.
        """
        steps = self.step_runs(run)
        for record in steps:
            if record.step == step:
                return record
        raise ShipyardError(
            f"Run has no step {step!r}; its steps: {[s.step for s in steps]}."
        )

    def metrics(self, run: str | RunRecord) -> dict[str, dict[str, float]]:
        """Metrics of a run by step."""
        return self.metadata_store.run_metrics(self._run_id(run))

    def params(self, run: str | RunRecord) -> dict[str, dict[str, Any]]:
        """Params of a run by step (``""``: the pipeline's own params)."""
        return self.metadata_store.run_params(self._run_id(run))

    def trials(self, run: str | RunRecord) -> list[ChildRun]:
        """The trials of a run's hyperparameter search, best first.

        Each is a child run with its params and metrics; ``run.config`` holds
        its ``trial`` number, the ``metric`` and its ``value``, and whether it
        was ``chosen``. Failed trials come last. When the run's search came
        from the cache, these are the trials of the run that executed it
        (their ``run.parent_id`` names that run). Empty for a run without one.
        """
        record = run if not isinstance(run, str) else self.get_run(run)
        store = self.metadata_store
        found = store.child_runs(record.id)
        if not found:
            searching = {
                s["name"] for s in record.graph.get("steps", []) if "trials" in s.get("tags", [])
            }
            for step_run in store.step_runs(record.id):
                if step_run.step in searching and step_run.status == "cached" and step_run.cached_from:
                    origin = store.get_step_run(step_run.cached_from)
                    found = store.child_runs(origin.run_id)
                    break
        return sorted(found, key=_trial_order)

    # -- artifacts -------------------------------------------------------

    def get_artifact(self, ref: str | ArtifactRecord) -> ArtifactRecord:
        """An artifact record by id or unique prefix."""
        if not isinstance(ref, str):
            return ref
        return self.metadata_store.get_artifact(ref)

    def artifacts(self, *, run: str | None = None, limit: int = 50) -> list[ArtifactRecord]:
        """Artifacts, newest first; with ``run``, those the run's steps output."""
        run_id = self.get_run(run).id if run else None
        return self.metadata_store.list_artifacts(run_id=run_id, limit=limit)

    def load_artifact(self, ref: str | ArtifactRecord, *, allow_pickle: bool = False) -> Any:
        """Load an artifact's value.

        Args:
            ref: artifact id, unique prefix or record.
            allow_pickle: allow loading a pickle (runs code from the file).
        """
        from shipyard.engine.artifacts import load_value

        return load_value(self.get_artifact(ref), self.artifact_store, allow_pickle=allow_pickle)

    def load_output(self, run: str, step: str, output: str = "output") -> Any:
        """Load the value a step produced in a run."""
        record = self.step_run(run, step)
        if output not in record.outputs:
            raise ArtifactNotFound(
                f"Step {step!r} has no output {output!r}; outputs: {list(record.outputs)}."
            )
        return self.load_artifact(record.outputs[output])

    def describe_artifact(self, ref: str | ArtifactRecord) -> dict[str, Any]:
        """A short summary of an artifact's content (rows, columns, preview...)."""
        from shipyard.engine.artifacts import describe_value

        return describe_value(self.get_artifact(ref), self.artifact_store)

    def lineage(self, ref: str | ArtifactRecord) -> Lineage:
        """Which step runs produced an artifact and which consumed it."""
        record = self.get_artifact(ref)
        store = self.metadata_store
        return Lineage(
            record,
            store.artifact_edges(record.id, kind="outputs"),
            store.artifact_edges(record.id, kind="inputs"),
        )

    def find_bundle(self, ref: str) -> ArtifactRecord:
        """The model bundle artifact named by a bundle id, a run id, ``latest`` or ``MODEL@REF``.

        For a run: its ``bundle`` step's output when it has that step (a run
        whose gate failed has none), else its last model bundle. ``latest`` is
        the newest run that made a bundle. ``MODEL@REF`` is a registered
        version (``taxi-tips@production``, ``@staging``, ``@3``, ``@champion``).

        Raises:
            ArtifactNotFound: when ``ref`` names neither a bundle nor a run with one.
        """
        from shipyard.errors import RunNotFound

        if "@" in ref:
            return self.models.bundle(ref)

        if ref == "latest":
            for run in self.runs(limit=100):
                found = self._run_bundle(run)
                if found is not None:
                    return found
            raise ArtifactNotFound(
                "No run in this store made a model bundle yet.",
                hint="Run a YAML pipeline first: shipyard run pipeline.yaml",
            )
        try:
            record = self.metadata_store.get_artifact(ref)
        except ArtifactNotFound:
            record = None
        if record is not None:
            if record.materializer != "model-bundle":
                raise ArtifactNotFound(
                    f"Artifact {record.id[:12]} is a {record.data_type}, not a model bundle."
                )
            return record
        try:
            run = self.get_run(ref)
        except RunNotFound:
            raise ArtifactNotFound(
                f"No model bundle or run matches {ref!r}.",
                hint="Give a bundle id, a run id (its bundle is used), 'latest' or a registered "
                "model NAME@production; `shipyard runs list` shows the runs, `shipyard models list` "
                "the models.",
            ) from None
        found = self._run_bundle(run)
        if found is None:
            raise ArtifactNotFound(
                f"Run {run.id} has no model bundle (status {run.status}); a run makes one "
                "when its bundle step completes."
            )
        return found

    def _run_bundle(self, run: RunRecord) -> ArtifactRecord | None:
        steps = self.step_runs(run)
        if any(s["name"] == "bundle" for s in run.graph.get("steps", [])):
            candidates = [aid for s in steps if s.step == "bundle" for aid in s.outputs.values()]
        else:
            candidates = [aid for s in reversed(steps) for aid in s.outputs.values()]
        records = self.metadata_store.get_artifacts(candidates)
        for aid in candidates:
            if aid in records and records[aid].materializer == "model-bundle":
                return records[aid]
        return None

    def load_bundle(self, ref: str | Path, *, trust: bool = False) -> Predictor:
        """A :class:`~shipyard.bundle.bundle.Predictor` for a bundle.

        Args:
            ref: a bundle id, a run id, ``latest``, or a bundle folder on disk
                (e.g. from ``shipyard artifacts export``).
            trust: allow types outside the trusted list (only for bundles you trust).
        """
        from shipyard.bundle.bundle import Predictor

        folder_predictor = _predictor_from_folder(Path(ref), trust=trust)
        if folder_predictor is not None:
            return folder_predictor
        record = self.find_bundle(str(ref))
        return Predictor(self.load_artifact(record, allow_pickle=trust))

    def export_artifact(self, ref: str | ArtifactRecord, path: str | Path) -> Path:
        """Copy an artifact's files out of the store.

        A single-file artifact is copied to ``path`` (into it, if it is a
        folder); a multi-file one becomes the folder ``path``.

        Returns:
            Where the files were written.
        """
        from shipyard.stores.artifacts import MANIFEST

        record = self.get_artifact(ref)
        source = self.artifact_store.local_path(record.id)
        entries = [p for p in source.iterdir() if p.name != MANIFEST]
        # A folder the materializer wrapped (a stored folder or file): export its content.
        while len(entries) == 1 and entries[0].is_dir():
            source, entries = entries[0], list(entries[0].iterdir())
        target = Path(path)
        if len(entries) == 1:
            if target.is_dir():
                target = target / entries[0].name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(entries[0], target)
            return target
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise ShipyardError(
                f"{target} exists; this artifact has {len(entries)} files, so give a new folder."
            )
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(MANIFEST), dirs_exist_ok=True)
        return target


def _trial_order(child: ChildRun) -> tuple[int, float, int]:
    """Sort key of trials: completed ones by value (best first), then failed ones."""
    config = child.run.config
    value = config.get("value")
    number = int(config.get("trial") or 0)
    if child.run.status != "completed" or not isinstance(value, (int, float)):
        return (1, 0.0, number)
    sign = -1.0 if config.get("direction", "max") == "max" else 1.0
    return (0, sign * float(value), number)


def load_bundle(ref: str | Path, *, trust: bool = False, project: str | Path | None = None) -> Predictor:
    """A Predictor for a bundle id, a run id, ``latest`` or a bundle folder.

    Example:
        >>> predictor = shipyard.load_bundle("latest")        # doctest: +SKIP
        >>> predictor.predict(new_rows)                       # doctest: +SKIP
    """
    folder_predictor = _predictor_from_folder(Path(ref), trust=trust)
    if folder_predictor is not None:
        return folder_predictor
    with Client(project) as client:
        return client.load_bundle(ref, trust=trust)


def _predictor_from_folder(folder: Path, *, trust: bool) -> Predictor | None:
    """A Predictor for a bundle folder on disk, or None when ``folder`` is not one."""
    if not (folder.is_dir() and (folder / "bundle.json").exists()):
        return None
    from shipyard.bundle.bundle import Predictor
    from shipyard.bundle.io import load_bundle_folder

    return Predictor(load_bundle_folder(folder, trust=trust))


def is_yaml_target(target: str) -> bool:
    """True for a path to a YAML pipeline file."""
    return target.lower().endswith((".yaml", ".yml"))


def run(
    pipeline: Pipeline | PipelineDefinition | str,
    *,
    params: Mapping[str, Any] | None = None,
    cache: bool = True,
    project: str | Path | None = None,
) -> RunResult:
    """Run a pipeline on the current project's stack (created if missing).

    Shorthand for ``Client(project, create=True).run(...)``.
    """
    with Client(project, create=True) as client:
        return client.run(pipeline, params=params, cache=cache)


__all__ = ["Client", "Lineage", "is_yaml_target", "load_bundle", "run"]
