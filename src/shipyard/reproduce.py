"""``shipyard.reproduce`` provides re-running a recorded run exactly (``shipyard reproduce``).

A reproduction runs the same pipeline with the same config on the same data:

* a YAML pipeline: the spec recorded with the run (``--set`` overrides
  applied), never the YAML file as it is now;
* a Python pipeline: the recorded target (``file.py:name``) with the recorded
  params;
* data: the data version the run read. The ``ingest`` step of a YAML pipeline
  is replaced by one that passes on the artifact the original ``ingest``
  produced, so a data file that changed since (or a dataset whose ``latest``
  moved, or a SQL table that changed) does not change the reproduction. When
  that artifact is gone the reproduction is refused. A Python pipeline's steps
  read their data themselves: they are run as they are;
* a gate with ``must_beat`` compares with the registered version the
  original compared with; a ``register`` step is left out (a reproduction
  checks results, it does not change the model registry).

Code is checked, not replaced: when the current git commit differs from the
recorded one, the reproduction is refused (``force=True`` runs it anyway,
with a warning). Uncommitted changes that differ from the recorded ones are
warned about. The new run records ``reproduces = <original id>``.

By default every step executes (no cache): a reproduction is a check that the
code and data still give the same results, and a step served from the cache
would check nothing. ``cache=True`` lets unchanged steps come from the cache.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.engine.graph import ArtifactInput, Pipeline, StepNode
from shipyard.engine.step import step
from shipyard.errors import ReproduceError, ShipyardError
from shipyard.stores.metadata.records import ArtifactRecord, DatasetVersionRecord

if TYPE_CHECKING:
    from shipyard.client import Client
    from shipyard.engine.runner import RunHooks, RunResult
    from shipyard.stores.metadata import RunRecord

#: Config keys that are the orchestrator's or the run's own, not copied to a reproduction.
_NOT_COPIED = ("cache", "dask")
#: The stand-in dataset reference the YAML compiler sees while the recorded data is swapped in.
_RECORDED_REF = "recorded-data@1"


class ReproduceWarning(UserWarning):
    """A reproduction runs, but something may differ from the original run."""


@step(tags=("data",))
def recorded_data(snapshot: ArtifactRecord, metrics: dict | None = None) -> ArtifactRecord:
    """The data version an earlier run read, passed on as it is (``shipyard reproduce``).

    ``metrics`` are those the original step logged about this data (its rows
    and columns): the same data, so the same values.
    """
    from shipyard.engine.context import log_metrics

    if metrics:
        log_metrics(metrics)
    return snapshot


@dataclass
class Reproduction:
    """A checked plan to reproduce a run: run it with :meth:`run`.

    Attributes:
        original: the run to reproduce.
        pipeline: the pipeline to run (the recorded config, the recorded data).
        config: the config to record (the original's).
        warnings: what may differ from the original (code, uncommitted changes).
        data_artifact: the recorded data version fed in place of ``ingest``, if any.
    """

    original: RunRecord
    pipeline: Pipeline
    config: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    data_artifact: str | None = None

    def run(
        self,
        client: Client,
        *,
        cache: bool = False,
        hooks: RunHooks | None = None,
        orchestrator: str | None = None,
    ) -> RunResult:
        """Run the reproduction; the new run records ``reproduces``."""
        return client.run(
            self.pipeline,
            cache=cache,
            hooks=hooks,
            orchestrator=orchestrator,
            config=self.config,
            reproduces=self.original.id,
        )


def plan(client: Client, ref: str | RunRecord, *, force: bool = False) -> Reproduction:
    """Check that a run can be reproduced and build its pipeline.

    Raises:
        ReproduceError: when the code's commit differs (without ``force``), the
            run is a trial or ran a pipeline object, or its data version is gone.
    """
    original = ref if not isinstance(ref, str) else client.get_run(ref)
    if original.parent_id is not None:
        raise ReproduceError(
            f"Run {original.id} is a {original.kind or 'child run'} of run {original.parent_id}; "
            f"reproduce that run instead: shipyard reproduce {original.parent_id}"
        )
    if original.status == "running":
        raise ReproduceError(f"Run {original.id} is still running; reproduce it once it has ended.")
    notes = _check_code(client, original, force=force)
    config = {k: v for k, v in original.config.items() if k not in _NOT_COPIED}
    if original.config.get("kind") == "yaml":
        pipeline, artifact = _yaml_pipeline(client, original)
        if any(s.get("name") == "register" for s in original.graph.get("steps", [])):
            notes.append(
                f"Run {original.id} registered its model; the reproduction does not (it leaves "
                "the model registry as it is)."
            )
    elif original.config.get("target"):
        pipeline, artifact = _python_pipeline(client, original), None
    else:
        raise ReproduceError(
            f"Run {original.id} ran a pipeline object built in Python, so no target "
            "(file.py:name or pipeline.yaml) was recorded to run again.",
            hint="Run the same code again; runs of a target or YAML file can be reproduced.",
        )
    return Reproduction(original, pipeline, config, notes, artifact)


def reproduce(
    client: Client,
    ref: str | RunRecord,
    *,
    force: bool = False,
    cache: bool = False,
    hooks: RunHooks | None = None,
    orchestrator: str | None = None,
) -> RunResult:
    """Re-run a recorded run with its exact config and data (see the module doc).

    What may differ (``force`` past a commit change, other uncommitted
    changes) is reported as :class:`ReproduceWarning`.
    """
    planned = plan(client, ref, force=force)
    for text in planned.warnings:
        warnings.warn(text, ReproduceWarning, stacklevel=3)
    return planned.run(client, cache=cache, hooks=hooks, orchestrator=orchestrator)


# -- code --------------------------------------------------------------------------------------


def _patch_body(patch: bytes | None) -> bytes:
    """A stored or current diff without its leading comment lines."""
    if not patch:
        return b""
    lines = patch.splitlines(keepends=True)
    start = 0
    while start < len(lines) and lines[start].startswith(b"#"):
        start += 1
    return b"".join(lines[start:])


def _check_code(client: Client, original: RunRecord, *, force: bool) -> list[str]:
    from shipyard.engine.provenance import git_diff, git_info

    folder = client.stack.project_dir
    now = git_info(folder)
    notes: list[str] = []
    recorded = original.git_commit
    if recorded is None:
        notes.append(
            f"Run {original.id} recorded no git commit (it ran outside a git repository), so "
            "the code it ran cannot be checked against the current code."
        )
    elif now.commit != recorded:
        current = now.commit or "not a git repository"
        message = (
            f"Run {original.id} ran the code of commit {recorded}; the code here is at "
            f"{current}."
        )
        if not force:
            raise ReproduceError(
                f"{message} Its results could differ because the code did.",
                hint=f"Check out that commit (git checkout {recorded[:12]}) and reproduce again, "
                "or pass --force to run the current code anyway.",
            )
        notes.append(f"{message} --force: running the current code anyway.")
    if recorded is not None and now.commit == recorded:
        if original.git_dirty:
            stored = _stored_diff(client, original)
            if stored is None or _patch_body(stored) != _patch_body(git_diff(folder)):
                where = (
                    f" (its patch: shipyard artifacts export {original.git_diff_id[:12]} changes.diff)"
                    if original.git_diff_id
                    else ""
                )
                notes.append(
                    f"Run {original.id} ran with uncommitted changes{where}; the working tree now "
                    "has different ones, so the code may differ."
                )
        elif now.dirty:
            notes.append(
                f"The working tree has uncommitted changes that run {original.id} did not have; "
                "the code may differ."
            )
    return notes


def _stored_diff(client: Client, original: RunRecord) -> bytes | None:
    if not original.git_diff_id:
        return None
    try:
        value = client.load_artifact(original.git_diff_id)
    except (ShipyardError, OSError):
        return None
    return bytes(value) if isinstance(value, (bytes, bytearray)) else None


# -- pipelines ---------------------------------------------------------------------------------


def _locate(recorded: str, client: Client) -> Path | None:
    """A recorded relative path, from the current folder or else the project folder:
    the first that exists, else the first whose folder exists."""
    path = Path(recorded)
    if path.is_absolute():
        return path
    candidates = [Path.cwd() / path]
    if client.stack.project_dir is not None:
        candidates.append(client.stack.project_dir / path)
    for candidate in candidates:
        if candidate.exists():
            return candidate
    for candidate in candidates:
        if candidate.parent.is_dir():
            return candidate
    return None


def _recorded_data(
    client: Client, original: RunRecord
) -> tuple[str, dict[str, Any], dict[str, float]]:
    """The data version (artifact id) the run's ``ingest`` step produced, that step's
    params and its metrics."""
    for record in client.step_runs(original):
        if record.step == "ingest":
            artifact = record.outputs.get("output")
            if artifact is None:
                break
            if not client.artifact_store.exists(artifact):
                raise ReproduceError(
                    f"The data version run {original.id} read (artifact {artifact[:12]}, output of "
                    "its ingest step) is no longer in the artifact store, so the run cannot be "
                    "reproduced on the same data."
                )
            return artifact, dict(record.params), dict(record.metrics)
    raise ReproduceError(
        f"Run {original.id} recorded no data version: its ingest step did not complete, so "
        "there is no data to reproduce it on.",
        hint=f"Run the pipeline again instead: shipyard run {original.config.get('file') or '...'}",
    )


def _yaml_pipeline(client: Client, original: RunRecord) -> tuple[Pipeline, str]:
    from shipyard.config.loader import LoadedSpec
    from shipyard.config.spec import PipelineSpec
    from shipyard.config.yamlio import LineMap, validate
    from shipyard.ml.compile import compile_spec

    raw = original.config.get("spec")
    if not isinstance(raw, Mapping):
        raise ReproduceError(f"Run {original.id} has no recorded YAML config to reproduce.")
    file = str(original.config.get("file") or "pipeline.yaml")
    path = _locate(file, client)
    if path is None:
        raise ReproduceError(
            f"Run {original.id} ran {file}; its folder is not here (looked in the current and the "
            "project folder), and custom steps and files are found next to it.",
            hint="Reproduce from the folder the run was started in.",
        )
    artifact, ingest_params, ingest_metrics = _recorded_data(client, original)
    lines = LineMap(f"the config recorded with run {original.id}")
    spec = validate(PipelineSpec, dict(raw), lines)
    recorded = spec.model_copy(update={"data": _RECORDED_REF})
    loaded = LoadedSpec(recorded, path, dict(raw), (), lines)
    stand_in = DatasetVersionRecord(
        name="recorded-data", version=1, artifact_id=artifact, rows=0, created_at=0.0
    )
    built = compile_spec(
        loaded, datasets=lambda _ref: stand_in, models=_recorded_champion(original)
    )
    ingest = StepNode(
        "ingest",
        recorded_data,
        {"snapshot": ArtifactInput(artifact)},
        {"metrics": ingest_metrics} if ingest_metrics else {},
        # The original's params are recorded on the step (what the data is: its
        # path and fingerprint, its dataset version or query), so params diff cleanly.
        ingest_params,
    )
    # A reproduction checks results; it does not register (or promote) a model.
    nodes = [ingest if node.name == "ingest" else node for node in built.nodes if node.name != "register"]
    return Pipeline(built.name, nodes, params=built.params, source=built.source), artifact


def _recorded_champion(original: RunRecord) -> Any:
    """For ``gate.must_beat``: the registered version the original run's gate compared with
    (whatever the registry holds now), or None when it had none."""
    gate = next((s for s in original.graph.get("steps", []) if s.get("name") == "gate"), {})
    must = dict(gate.get("params") or {}).get("must_beat") or {}

    def resolve(name: str, _ref: str) -> Any:
        if not must.get("bundle") or must.get("version") is None:
            return None
        from shipyard.stores.metadata.registry import ModelVersionRecord

        return ModelVersionRecord(
            model=str(must.get("model") or name),
            version=int(must["version"]),
            bundle_id=str(must["bundle"]),
            stage="none",
            created_at=0.0,
        )

    return resolve


def _python_pipeline(client: Client, original: RunRecord) -> Pipeline:
    from shipyard.engine.loader import load_pipeline

    target = str(original.config["target"])
    source, colon, name = target.partition(":")
    if source.endswith(".py") and not Path(source).is_file():
        located = _locate(source, client)
        if located is not None and located.is_file():
            target = f"{located}{colon}{name}"
    params = dict(original.config.get("params") or {})
    return load_pipeline(target, params)


__all__ = [
    "ReproduceError",
    "ReproduceWarning",
    "Reproduction",
    "plan",
    "recorded_data",
    "reproduce",
]
