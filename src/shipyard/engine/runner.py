"""``shipyard.engine.runner`` provides step execution, caching and recording.

Two halves, so that orchestrators only decide *where* a step executes:

* :func:`execute_step` runs one step on a :class:`StepTask` (load inputs, call
  the function, save outputs) and returns a :class:`StepOutcome`. It touches
  only the artifact store, so it can run in another process or on a worker.
* :class:`RunSession` owns the run: it records the run, computes cache keys,
  answers cache hits, records each finished step in one transaction, skips
  steps whose upstream failed, and finishes the run. Every orchestrator uses
  it, so caching and recording are the same code everywhere.

A step tagged ``trials`` (the hyperparameter search of a YAML pipeline) has an
output ``trials``: a list of mappings, one per trial, with ``params``,
``metrics``, ``status`` (``completed`` or ``failed``), ``started_at``,
``ended_at``, ``error`` and any other JSON values. When such a step completes,
the session reads that artifact and records each trial as a *child run* of
the run, in the same transaction as the step run. The step itself never
touches the metadata store, so it may execute on another machine: only the
session, in the process that owns the run, writes records.

Likewise a step tagged ``register`` (the YAML pipeline's ``register`` step)
outputs a registration request: a mapping (or a list of them) with ``model``,
``bundle`` (a model bundle artifact id) and optionally ``stage``, ``alias``,
``metrics``, ``data_version``, ``reason`` and ``run_id`` (default: the run that
produced the bundle). When the step completes, the session records each
request in the model registry in the same transaction as the step run; a
cache hit of the step registers nothing again.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from shipyard.engine.artifacts import load_value, save_value
from shipyard.engine.cache import CacheKey, compute_cache_key, explain_miss
from shipyard.engine.context import StepContext, activate, deactivate
from shipyard.engine.graph import ArtifactInput, OutputRef, Pipeline, StepNode
from shipyard.engine.provenance import (
    current_user,
    environment,
    git_diff,
    git_info,
    hostname,
)
from shipyard.engine.step import SINGLE_OUTPUT, check_output_type, split_outputs
from shipyard.engine.tracebacks import user_traceback
from shipyard.errors import (
    ArtifactNotFound,
    MaterializerError,
    ShipyardError,
    StepFailed,
)
from shipyard.materializers import get_materializer
from shipyard.stores.artifacts import ArtifactStore
from shipyard.stores.metadata import MetadataStore
from shipyard.stores.metadata.records import (
    ArtifactRecord,
    ChildRun,
    RunRecord,
    StepRunRecord,
)
from shipyard.stores.metadata.registry import Registration
from shipyard.stores.process import process_token

#: The tag of a step whose output ``trials`` lists child runs to record.
TRIALS_TAG = "trials"
#: ``kind`` of the child runs recorded from a ``trials`` step.
TRIAL_KIND = "trial"
#: The tag of a step whose output asks for bundles to be registered as model versions.
REGISTER_TAG = "register"


def new_id() -> str:
    """A new random id for a run or step run (16 hex characters)."""
    return uuid.uuid4().hex[:16]


class RunHooks:
    """Callbacks at each point of a run's life; the default does nothing.

    Subclass and override what you need. Arguments are keyword-only and new
    ones may be added, so keep ``**future`` in overrides.
    """

    def on_run_start(self, *, run_id: str, pipeline: Pipeline, **future: Any) -> None:
        """The run is recorded and about to execute its first step."""

    def on_step_start(self, *, run_id: str, step: str, reason: str, **future: Any) -> None:
        """A step is about to execute (it was not a cache hit)."""

    def on_step_end(
        self,
        *,
        run_id: str,
        step: str,
        status: str,
        reason: str,
        duration: float,
        error: str | None = None,
        **future: Any,
    ) -> None:
        """A step completed, failed, was served from the cache or was skipped."""

    def on_run_end(self, *, run_id: str, status: str, **future: Any) -> None:
        """The run finished (completed or failed)."""


NO_HOOKS = RunHooks()


@dataclass(frozen=True)
class StepTask:
    """Everything needed to execute one step, wherever that happens."""

    run_id: str
    pipeline: str
    step_run_id: str
    node: StepNode
    inputs: Mapping[str, ArtifactRecord]
    pickle_inputs: frozenset[str] = frozenset()


@dataclass(frozen=True)
class StepOutcome:
    """What executing a step produced: output artifacts and metrics, or an error."""

    started_at: float
    ended_at: float
    outputs: Mapping[str, ArtifactRecord] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None

    @property
    def ok(self) -> bool:
        """True when the step did not fail."""
        return self.error is None


@dataclass(frozen=True)
class StepResult:
    """How one step of a run ended."""

    name: str
    status: str
    reason: str
    duration: float
    step_run_id: str
    outputs: Mapping[str, ArtifactRecord] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class RunResult:
    """How a run ended, step by step."""

    run_id: str
    pipeline: str
    status: str
    steps: Mapping[str, StepResult]
    started_at: float
    ended_at: float
    error: str | None = None
    error_step: str | None = None
    traceback: str | None = None

    @property
    def ok(self) -> bool:
        """True when the run completed."""
        return self.status == "completed"

    @property
    def duration(self) -> float:
        """Wall time of the run in seconds."""
        return self.ended_at - self.started_at

    def artifact(self, step: str, output: str = "output") -> ArtifactRecord:
        """The artifact a step produced (or reused from the cache).

        Raises:
            ShipyardError: when the step has no such output in this run.
        """
        result = self.steps.get(step)
        if result is None or output not in result.outputs:
            have = {name: list(r.outputs) for name, r in self.steps.items() if r.outputs}
            raise ShipyardError(
                f"Run {self.run_id} has no output {output!r} of step {step!r}; outputs: {have}."
            )
        return result.outputs[output]

    def raise_for_status(self) -> RunResult:
        """Raise :class:`StepFailed` when the run failed; return self otherwise."""
        if not self.ok:
            raise StepFailed(
                self.error or "the run failed",
                run_id=self.run_id,
                step=self.error_step or "?",
                traceback=self.traceback or "",
            )
        return self


def _error_text(exc: BaseException, where: str | None) -> str:
    if isinstance(exc, ShipyardError):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return f"{text} (at {where})" if where else text


def execute_step(task: StepTask, store: ArtifactStore) -> StepOutcome:
    """Execute one step: load its inputs, call it, save its outputs.

    Never raises for an error of the step's own, ``sys.exit()`` included (that
    is returned in the outcome); ``KeyboardInterrupt`` propagates.
    """
    started = time.time()
    node = task.node
    ctx = StepContext(task.run_id, task.pipeline, node.name)
    token = activate(ctx)
    try:
        kwargs = {
            name: record
            if node.step.arguments[name].annotation is ArtifactRecord
            # Inputs come from steps of this pipeline: its own code wrote them, so
            # their types are trusted; pickles still need an explicit opt-in.
            else load_value(record, store, allow_pickle=name in task.pickle_inputs, trust=True)
            for name, record in task.inputs.items()
        }
        kwargs.update(node.params)
        result = node.step.func(**kwargs)
        outputs: dict[str, ArtifactRecord] = {}
        for name, value in split_outputs(node.step, result).items():
            check_output_type(node.step, name, value)
            if isinstance(value, ArtifactRecord):
                outputs[name] = value  # an existing artifact passed on as it is
                continue
            try:
                outputs[name] = save_value(
                    value, store, allow_pickle=node.step.allow_pickle, producer=task.step_run_id
                )
            except MaterializerError as exc:
                label = "its output" if name == "output" else f"output {name!r}"
                raise MaterializerError(
                    f"Step {node.name!r} returned {type(value).__qualname__} for {label}. "
                    f"{exc.message}",
                    hint=exc.hint,
                ) from exc
    except (Exception, SystemExit) as exc:  # sys.exit() in a step fails the step, not the run
        text, where = user_traceback(exc)
        # Metrics logged before the error are kept (a gate's comparison says why it refused).
        return StepOutcome(
            started, time.time(), metrics=dict(ctx.metrics), error=_error_text(exc, where), traceback=text
        )
    finally:
        deactivate(token)
    return StepOutcome(started, time.time(), outputs, dict(ctx.metrics))


class RunSession:
    """One run of a pipeline against a pair of stores.

    Args:
        pipeline: the pipeline to run.
        artifact_store: where outputs go.
        metadata_store: where records go.
        cache: False to execute every step (``--no-cache``).
        config: the run's config snapshot (what was asked to run, and how).
        orchestrator: the orchestrator's name, recorded on the run.
        hooks: lifecycle callbacks (progress display).
        project_dir: folder whose git state is recorded.
        reproduces: id of the run this one reproduces (recorded on the run).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        artifact_store: ArtifactStore,
        metadata_store: MetadataStore,
        *,
        cache: bool = True,
        config: Mapping[str, Any] | None = None,
        orchestrator: str = "local",
        hooks: RunHooks = NO_HOOKS,
        project_dir: Path | None = None,
        reproduces: str | None = None,
    ) -> None:
        if isinstance(hooks, type):
            raise TypeError(f"hooks must be an instance, got the class {hooks.__name__}")
        self.pipeline = pipeline
        self.artifact_store = artifact_store
        self.metadata_store = metadata_store
        self.cache = cache
        self.config = dict(config or {})
        self.orchestrator = orchestrator
        self.hooks = hooks
        self.project_dir = project_dir
        self.reproduces = reproduces
        self.run_id = new_id()
        self.record: RunRecord | None = None
        self.started_at = 0.0
        self.results: dict[str, StepResult] = {}
        self._first_failure: tuple[str, StepOutcome] | None = None
        self._pending: dict[str, tuple[CacheKey, str]] = {}

    # -- lifecycle -------------------------------------------------------

    def start(self) -> RunRecord:
        """Record the run as ``running`` (after marking dead runs as crashed).

        With uncommitted changes in the work tree, their patch is stored as an
        artifact (``git_diff_id``), recorded in the same transaction as the run.
        """
        self.metadata_store.reap_crashed()
        self.artifact_store.clean_staging()
        git = git_info(self.project_dir)
        diff = self._save_diff() if git.dirty else None
        self.started_at = time.time()
        run = RunRecord(
            id=self.run_id,
            pipeline=self.pipeline.name,
            status="running",
            started_at=self.started_at,
            user=current_user(),
            host=hostname(),
            pid=os.getpid(),
            process_token=process_token(),
            orchestrator=self.orchestrator,
            git_commit=git.commit,
            git_branch=git.branch,
            git_dirty=git.dirty,
            config={"cache": self.cache, **self.config},
            graph=self.pipeline.to_dict(),
            environment=environment(),
            git_remote=git.remote,
            git_diff_id=diff.id if diff is not None else None,
            reproduces=self.reproduces,
        )
        params = {"": self.pipeline.params} | {n.name: dict(n.params_json) for n in self.pipeline}
        self.metadata_store.start_run(
            run, {k: v for k, v in params.items() if v}, artifacts=[diff] if diff is not None else []
        )
        self.record = run
        self.hooks.on_run_start(run_id=self.run_id, pipeline=self.pipeline)
        return run

    def _save_diff(self) -> ArtifactRecord | None:
        """The work tree's uncommitted changes as a bytes artifact (None without git)."""
        patch = git_diff(self.project_dir)
        return save_value(patch, self.artifact_store) if patch is not None else None

    def finish(self) -> RunResult:
        """Record the run's final status and return the result."""
        ended = time.time()
        status = "failed" if self._first_failure else "completed"
        error = error_step = trace = None
        if self._first_failure:
            error_step, outcome = self._first_failure
            error, trace = outcome.error, outcome.traceback
        self.metadata_store.finish_run(
            self.run_id, status=status, ended_at=ended, error=error, error_step=error_step
        )
        self.hooks.on_run_end(run_id=self.run_id, status=status)
        return RunResult(
            run_id=self.run_id,
            pipeline=self.pipeline.name,
            status=status,
            steps=dict(self.results),
            started_at=self.started_at,
            ended_at=ended,
            error=error,
            error_step=error_step,
            traceback=trace,
        )

    def abort(self, exc: BaseException) -> None:
        """Record the run as ``crashed`` after an interruption or internal error."""
        if isinstance(exc, KeyboardInterrupt):
            reason = "interrupted (Ctrl-C)"
        else:
            reason = f"internal error: {type(exc).__name__}: {exc}"
        # The store itself may be what failed; then the reaper marks the run later.
        with contextlib.suppress(Exception):
            self.metadata_store.finish_run(self.run_id, status="crashed", error=reason)

    # -- scheduling helpers ----------------------------------------------

    def blocked_by(self, node: StepNode) -> str | None:
        """The first upstream step that failed or was skipped, if any."""
        for ref in node.inputs.values():
            if isinstance(ref, ArtifactInput):
                continue
            result = self.results.get(ref.node)
            if result is not None and result.status in ("failed", "skipped"):
                return ref.node
        return None

    # -- per step --------------------------------------------------------

    def plan(self, node: StepNode) -> StepTask | None:
        """Prepare a step: record a cache hit and return None, or return its task."""
        if (blocker := self.blocked_by(node)) is not None:
            self.skip(node, blocker)
            return None
        inputs = self._inputs(node)
        key = compute_cache_key(node, inputs)
        if not self.cache:
            reason = "cache disabled for this run"
        elif not node.step.cache:
            reason = "cache disabled for this step"
        else:
            started = time.time()
            found = self.metadata_store.find_cached(key.key)
            unusable = self._unusable(node, *found) if found is not None else None
            if found is not None and unusable is None:
                self._record_cached(node, inputs, key, found[0], found[1], started)
                return None
            previous = self.metadata_store.previous_step_run(
                self.pipeline.name, node.name, exclude_run=self.run_id
            )
            reason = unusable or explain_miss(key, previous)
        self._pending[node.name] = (key, reason)
        self.hooks.on_step_start(run_id=self.run_id, step=node.name, reason=reason)
        return StepTask(
            run_id=self.run_id,
            pipeline=self.pipeline.name,
            step_run_id=new_id(),
            node=node,
            inputs=inputs,
            pickle_inputs=self._pickle_inputs(node),
        )

    def _inputs(self, node: StepNode) -> dict[str, ArtifactRecord]:
        """The artifacts feeding a node: upstream outputs or existing artifacts."""
        existing = [r.artifact_id for r in node.inputs.values() if isinstance(r, ArtifactInput)]
        found = self.metadata_store.get_artifacts(existing) if existing else {}
        inputs: dict[str, ArtifactRecord] = {}
        for arg, ref in node.inputs.items():
            if isinstance(ref, ArtifactInput):
                if ref.artifact_id not in found:
                    raise ArtifactNotFound(
                        f"Step {node.name!r} reads artifact {ref.artifact_id[:12]}, which is not "
                        "in this store."
                    )
                inputs[arg] = found[ref.artifact_id]
            else:
                inputs[arg] = self.results[ref.node].outputs[ref.output]
        return inputs

    def _pickle_inputs(self, node: StepNode) -> frozenset[str]:
        # A pickle made by a step of this pipeline that opted in may be read
        # back by its consumers: the same trusted code wrote it.
        return frozenset(
            arg
            for arg, ref in node.inputs.items()
            if node.step.allow_pickle
            or (isinstance(ref, OutputRef) and self.pipeline.node(ref.node).step.allow_pickle)
        )

    def _unusable(
        self, node: StepNode, hit: StepRunRecord, outputs: Mapping[str, ArtifactRecord]
    ) -> str | None:
        """Why a cache hit's outputs cannot be reused, or None when they can."""
        if set(outputs) != set(node.outputs) or set(hit.outputs) != set(outputs):
            return "the cached run's outputs differ from the step's"
        for name, record in outputs.items():
            try:
                current = get_materializer(record.materializer)
            except ShipyardError:
                return f"materializer {record.materializer!r} of output {name!r} is not registered"
            if record.materializer_version != current.VERSION:
                return (
                    f"materializer changed (out:{name} {record.format} -> {current.tag()})"
                )
            if not self.artifact_store.exists(record.id):
                return "cached outputs are gone from the artifact store"
        return None

    def _record_cached(
        self,
        node: StepNode,
        inputs: Mapping[str, ArtifactRecord],
        key: CacheKey,
        hit: StepRunRecord,
        outputs: Mapping[str, ArtifactRecord],
        started: float,
    ) -> None:
        ended = time.time()
        reason = f"same key as run {hit.run_id}"
        record = StepRunRecord(
            id=new_id(),
            run_id=self.run_id,
            step=node.name,
            status="cached",
            started_at=started,
            ended_at=ended,
            cache_key=key.key,
            cache_parts=key.parts,
            params=dict(node.params_json),
            cached_from=hit.id,
            reason=reason,
            inputs={name: rec.id for name, rec in inputs.items()},
            outputs=dict(hit.outputs),
            metrics=dict(hit.metrics),
        )
        self.metadata_store.record_step(record)
        self.results[node.name] = StepResult(
            node.name, "cached", reason, ended - started, record.id, outputs
        )
        self.hooks.on_step_end(
            run_id=self.run_id,
            step=node.name,
            status="cached",
            reason=reason,
            duration=ended - started,
        )

    def complete(self, task: StepTask, outcome: StepOutcome) -> StepResult:
        """Record an executed step (completed or failed) in one transaction."""
        node = task.node
        key, reason = self._pending.pop(node.name)
        registrations: list[Registration] = []
        if outcome.ok and REGISTER_TAG in node.step.tags:
            try:
                registrations = self._registrations(node, outcome)
            except ShipyardError as exc:
                outcome = replace(outcome, outputs={}, error=exc.message, traceback=None)
        status = "completed" if outcome.ok else "failed"
        record = StepRunRecord(
            id=task.step_run_id,
            run_id=self.run_id,
            step=node.name,
            status=status,
            started_at=outcome.started_at,
            ended_at=outcome.ended_at,
            cache_key=key.key,
            cache_parts=key.parts,
            params=dict(node.params_json),
            reason=reason,
            error=outcome.error,
            traceback=outcome.traceback,
            inputs={name: rec.id for name, rec in task.inputs.items()},
            outputs={name: rec.id for name, rec in outcome.outputs.items()},
            metrics=dict(outcome.metrics),
        )
        children = self._child_runs(node, outcome) if outcome.ok else []
        self.metadata_store.record_step(
            record, outcome.outputs.values(), children=children, registrations=registrations
        )
        duration = outcome.ended_at - outcome.started_at
        result = StepResult(
            node.name, status, reason, duration, record.id, dict(outcome.outputs), outcome.error
        )
        self.results[node.name] = result
        if not outcome.ok and self._first_failure is None:
            self._first_failure = (node.name, outcome)
        self.hooks.on_step_end(
            run_id=self.run_id,
            step=node.name,
            status=status,
            reason=reason,
            duration=duration,
            error=outcome.error,
        )
        return result

    def _child_runs(self, node: StepNode, outcome: StepOutcome) -> list[ChildRun]:
        """The trials a ``trials`` step output, as child runs of this run."""
        artifact = outcome.outputs.get("trials")
        if TRIALS_TAG not in node.step.tags or artifact is None:
            return []
        try:
            # Just written by this pipeline's own step: trusted JSON.
            trials = load_value(artifact, self.artifact_store, trust=True)
        except (ShipyardError, OSError, ValueError):
            return []  # the step's outputs are still recorded; its trials stay in the artifact
        if not isinstance(trials, Sequence):
            return []
        return child_runs(
            [t for t in trials if isinstance(t, Mapping)],
            parent=self.record or RunRecord(self.run_id, self.pipeline.name, "running", self.started_at),
            step=node.name,
            default_time=outcome.started_at,
        )

    def _registrations(self, node: StepNode, outcome: StepOutcome) -> list[Registration]:
        """The registration requests a ``register`` step output.

        Raises:
            ShipyardError: when its output is not a valid request.
        """
        from shipyard.config.spec import MODEL_STAGES, alias_problem, model_name_problem

        artifact = outcome.outputs.get(SINGLE_OUTPUT)
        value = load_value(artifact, self.artifact_store, trust=True) if artifact is not None else None
        requests = [value] if isinstance(value, Mapping) else value
        if not isinstance(requests, list) or not all(isinstance(r, Mapping) for r in requests):
            raise ShipyardError(
                f"Step {node.name!r} is tagged {REGISTER_TAG!r}: its output must be a registration "
                f"request (a mapping with model and bundle) or a list of them; got {type(value).__name__}."
            )
        bundles = self.metadata_store.get_artifacts(str(r.get("bundle")) for r in requests)
        user = self.record.user if self.record is not None else current_user()
        out = []
        for request in requests:
            model, bundle = str(request.get("model") or ""), str(request.get("bundle") or "")
            stage, alias = request.get("stage"), request.get("alias")
            problems = [
                model_name_problem(model),
                None if bundle in bundles and bundles[bundle].materializer == "model-bundle"
                else f"bundle {bundle[:12] or '(none)'!r} is not a model bundle artifact of this store",
                None if stage is None or stage in MODEL_STAGES
                else f"stage {stage!r} is not one of {', '.join(MODEL_STAGES)}",
                alias_problem(str(alias)) if alias is not None else None,
            ]
            if any(problems):
                raise ShipyardError(
                    f"Step {node.name!r} asked to register {model!r}, but "
                    + "; ".join(p for p in problems if p) + "."
                )
            metrics = {
                str(k): float(v) for k, v in dict(request.get("metrics") or {}).items()
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            }
            out.append(
                Registration(
                    model=model,
                    bundle_id=bundle,
                    run_id=str(request.get("run_id") or self._producing_run(bundles[bundle])),
                    data_version=request.get("data_version"),
                    metrics=metrics,
                    stage=stage,
                    alias=alias,
                    reason=request.get("reason"),
                    user=user,
                    expect_production=self._compared_production(model, stage),
                )
            )
        return out

    def _compared_production(self, model: str, stage: Any) -> Any:
        """For a registration into production after ``gate.must_beat`` compared with the
        production version of the same model: that version (None: there was none), which
        must still be in production when the registration is recorded; else ANY.

        Raises:
            ShipyardError: when production changed since the comparison.
        """
        from shipyard.stores.metadata.registry import ANY, RegistryTables

        config = self.record.config if self.record is not None else {}
        compared = config.get("must_beat") if isinstance(config, Mapping) else None
        if stage != "production" or not isinstance(compared, Mapping) or compared.get("model") != model:
            return ANY
        if compared.get("stage") != "production":
            return ANY
        expected = compared.get("version")
        now = RegistryTables(self.metadata_store).versions(model, stage="production")
        found = now[0].version if now else None
        if found != expected:
            raise ShipyardError(
                f"gate.must_beat compared the new model with {model}@production "
                f"({'v' + str(expected) if expected else 'none'}), but production is now "
                f"{'v' + str(found) if found else 'none'}: not registered into production. "
                "Run the pipeline again to compare with the new version."
            )
        return expected

    def _producing_run(self, artifact: ArtifactRecord) -> str:
        """The run whose step wrote ``artifact`` first (this run when unknown)."""
        if artifact.producer:
            with contextlib.suppress(ShipyardError):
                return self.metadata_store.get_step_run(artifact.producer).run_id
        return self.run_id

    def skip(self, node: StepNode, blocker: str) -> None:
        """Record a step that cannot run because an upstream step failed."""
        now = time.time()
        reason = f"upstream step {blocker!r} did not complete"
        record = StepRunRecord(
            id=new_id(),
            run_id=self.run_id,
            step=node.name,
            status="skipped",
            started_at=now,
            ended_at=now,
            params=dict(node.params_json),
            reason=reason,
        )
        self.metadata_store.record_step(record)
        self.results[node.name] = StepResult(node.name, "skipped", reason, 0.0, record.id)
        self.hooks.on_step_end(
            run_id=self.run_id, step=node.name, status="skipped", reason=reason, duration=0.0
        )


def child_runs(
    trials: Sequence[Mapping[str, Any]], *, parent: RunRecord, step: str, default_time: float
) -> list[ChildRun]:
    """Trial records (as a ``trials`` step outputs them) as child runs of ``parent``.

    Each child has the parent's pipeline, user and host, ``kind == "trial"``,
    its params and metrics under the step's name, and every other key of the
    trial (its number, the metric's value, whether it was chosen...) in its
    config.
    """
    out = []
    for trial in trials:
        status = "completed" if trial.get("status") == "completed" else "failed"
        started = _seconds(trial.get("started_at"), default_time)
        metrics = {
            str(k): float(v)
            for k, v in dict(trial.get("metrics") or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        }
        config = {
            k: v
            for k, v in trial.items()
            if k not in ("params", "metrics", "status", "started_at", "ended_at", "error", "executor")
        }
        run = RunRecord(
            id=new_id(),
            pipeline=parent.pipeline,
            status=status,
            started_at=started,
            ended_at=_seconds(trial.get("ended_at"), started),
            user=parent.user,
            host=parent.host,
            orchestrator=str(trial.get("executor") or parent.orchestrator or "") or None,
            config={"step": step, **config},
            error=str(trial["error"]) if trial.get("error") else None,
            error_step=step if status == "failed" else None,
            parent_id=parent.id,
            kind=TRIAL_KIND,
        )
        params = dict(trial.get("params") or {})
        out.append(ChildRun(run, {step: params} if params else {}, {step: metrics} if metrics else {}))
    return out


def _seconds(value: Any, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


__all__ = [
    "NO_HOOKS",
    "REGISTER_TAG",
    "TRIALS_TAG",
    "TRIAL_KIND",
    "RunHooks",
    "RunResult",
    "RunSession",
    "StepOutcome",
    "StepResult",
    "StepTask",
    "child_runs",
    "execute_step",
    "new_id",
]
