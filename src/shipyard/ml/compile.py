"""``shipyard.ml.compile`` turns a ``PipelineSpec`` into a ``Pipeline`` of standard steps.

The graph::

    ingest -> [custom steps] -> split -> features -> statistics -> schema -> validate
                                                     statistics -> skew
           features -> preprocess -> [tune] -> train (after validate) -> evaluate -> [gate] -> bundle
                                                                                    -> [register]

``gate.must_beat`` compares the new model with a registered version: that
version is looked up when the pipeline is compiled (with the ``models``
resolver) and its bundle becomes an input of the gate, so the gate's cache key
covers which version it was.

Problems found here (no file matches ``data``, a column named in the YAML
missing from the data, a custom step that cannot be imported, a search space
the model does not accept) are :class:`~shipyard.config.yamlio.ConfigError`
naming the YAML line.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shipyard.config.loader import LoadedSpec, load_spec
from shipyard.config.spec import DataSourceSpec
from shipyard.config.yamlio import ConfigError
from shipyard.data.refs import is_dataset_ref
from shipyard.data.sources import (
    DataError,
    Source,
    check_sql_url,
    fingerprint,
    header,
    is_url,
    resolve_files,
)
from shipyard.engine.graph import (
    ArtifactInput,
    OutputRef,
    Pipeline,
    StepNode,
    validate_params,
)
from shipyard.engine.step import Step, step
from shipyard.errors import ParamsError, ShipyardError
from shipyard.ml import steps as std
from shipyard.stores.metadata.records import DatasetVersionRecord
from shipyard.stores.metadata.registry import ModelVersionRecord

Resolver = Callable[[str], DatasetVersionRecord]
#: Finds a registered version by model name and reference (stage, alias, number); None: no such version yet.
ModelResolver = Callable[[str, str], ModelVersionRecord | None]


def _ingest(loaded: LoadedSpec, datasets: Resolver | None) -> tuple[StepNode, list[Source] | None]:
    """The ingest node for the pipeline's ``data``, and its files when it has some."""
    spec = loaded.spec
    where = loaded.where("data")
    if isinstance(spec.data, DataSourceSpec):
        try:
            check_sql_url(spec.data.url)
        except DataError as exc:
            raise ConfigError([f"{loaded.where('data', 'url')}: {exc.message}"], hint=exc.hint) from None
        return _node("ingest", std.ingest_sql, params={"query": spec.data.sql, "url": spec.data.url}), None
    if is_dataset_ref(spec.data):
        if datasets is None:
            raise ConfigError([f"{where}: {spec.data!r} names a dataset, but no store was given to find it"])
        try:
            version = datasets(spec.data)
        except ShipyardError as exc:
            raise ConfigError([f"{where}: {exc.message}"], hint=exc.hint) from None
        node = _node(
            "ingest",
            std.ingest_dataset,
            {"snapshot": ArtifactInput(version.artifact_id)},
            {"dataset": version.ref},
        )
        return node, None
    base = loaded.path.parent.resolve()
    try:
        files = resolve_files(spec.data, base)
    except DataError as exc:
        raise ConfigError([f"{where}: {exc.message}"]) from None
    pattern = spec.data if is_url(spec.data) or Path(spec.data).is_absolute() else str(base / spec.data)
    return _node("ingest", std.ingest, params={"path": pattern, "fingerprint": fingerprint(files)}), files


def required_columns(loaded: LoadedSpec) -> dict[str, list[tuple[str, tuple[Any, ...]]]]:
    """Columns the YAML names, each with where (key path) it is named."""
    spec = loaded.spec
    uses: dict[str, list[tuple[str, tuple[Any, ...]]]] = {}

    def add(column: str, label: str, loc: tuple[Any, ...]) -> None:
        uses.setdefault(column, []).append((label, loc))

    add(spec.label, "label", ("label",))
    if spec.split.column:
        add(spec.split.column, "split.column", ("split", "column"))
    for i, column in enumerate(spec.drop):
        add(column, "drop", ("drop", i))
    for column in spec.declared_features():
        add(column, "features", ("features", column) if isinstance(spec.features, dict) else ("features",))
    for i, column in enumerate(spec.evaluate.slices):
        add(column, "evaluate.slices", ("evaluate", "slices", i))
    for column in spec.preprocess.columns:
        add(column, "preprocess.columns", ("preprocess", "columns", column))
    return uses


def _check_columns(loaded: LoadedSpec, files: Sequence[Source]) -> None:
    try:
        available = header(files[0])
    except (OSError, ShipyardError, ValueError):
        return  # the ingest step reports unreadable files with the details
    problems = []
    for column, places in required_columns(loaded).items():
        if column in available:
            continue
        label, loc = places[0]
        problems.append(
            f"{loaded.where(*loc)}: column {column!r} ({label}) is not in "
            f"{Path(str(files[0])).name}; available: {', '.join(available)}"
        )
    if problems:
        raise ConfigError(problems)


def _custom_step(loaded: LoadedSpec, index: int) -> Step:
    custom = loaded.spec.steps[index]
    where = loaded.where("steps", index, "run")
    module_name, _, attr = custom.run.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError([f"{where}: cannot import {module_name!r}: {exc}"]) from None
    target = getattr(module, attr, None)
    if target is None:
        raise ConfigError([f"{where}: module {module_name!r} has no {attr!r}"])
    if not isinstance(target, Step) and not callable(target):
        raise ConfigError([f"{where}: {custom.run} is not a function"])
    made = target if isinstance(target, Step) else step(target)
    if not made.arguments:
        raise ConfigError([f"{where}: {custom.run} must take the data as its first argument"])
    return made.named(custom.name)


def _custom_nodes(loaded: LoadedSpec) -> tuple[list[StepNode], OutputRef]:
    """Nodes for the custom steps, and the output that feeds the split."""
    spec = loaded.spec
    nodes: list[StepNode] = []
    consumed: set[str] = set()
    for index, custom in enumerate(spec.steps):
        made = _custom_step(loaded, index)
        data_arg = next(iter(made.arguments))
        names = [a for a in made.arguments if a != data_arg]
        try:
            params, params_json = validate_params(made, custom.params, names=names)
        except ParamsError as exc:
            raise ConfigError([f"{loaded.where('steps', index, 'params')}: {exc.message}"]) from None
        nodes.append(StepNode(custom.name, made, {data_arg: OutputRef(custom.after)}, params, params_json))
        consumed.add(custom.after)
    leaves = [n.name for n in nodes if n.name not in consumed]
    if len(leaves) > 1:
        raise ConfigError(
            [f"{loaded.where('steps')}: custom steps must form one chain after ingest; "
             f"{', '.join(leaves)} all end it"]
        )
    return nodes, OutputRef(leaves[0] if leaves else "ingest")


def _given_schema(loaded: LoadedSpec) -> dict[str, Any] | None:
    spec = loaded.spec
    if spec.schema_file is None:
        return None
    from shipyard.data.schema import load_schema

    path = Path(spec.schema_file)
    path = path if path.is_absolute() else loaded.path.parent / path
    if not path.is_file():
        raise ConfigError([f"{loaded.where('schema')}: schema file {spec.schema_file!r} not found"])
    return load_schema(path).model_dump(mode="json")


def _check_features(loaded: LoadedSpec) -> None:
    spec = loaded.spec
    problems = []
    if isinstance(spec.features, list):
        for i, column in enumerate(spec.features):
            if column == spec.label:
                problems.append(f"{loaded.where('features', i)}: the label {column!r} cannot be a feature")
            elif column in spec.drop:
                problems.append(f"{loaded.where('features', i)}: {column!r} is both a feature and in drop")
    elif isinstance(spec.features, dict):
        for column in spec.features:
            if column == spec.label:
                problems.append(f"{loaded.where('features', column)}: the label {column!r} cannot be a feature")
            elif column in spec.drop:
                problems.append(f"{loaded.where('features', column)}: {column!r} is both a feature and in drop")
    if problems:
        raise ConfigError(problems)


def _model(loaded: LoadedSpec) -> str | None:
    """Check the model class and params now; the code hash of a project-defined class.

    Returns:
        The class's code hash when it is the project's own (so editing it
        re-runs training), else None.
    """
    from shipyard.engine.hashing import code_hash, is_user_object
    from shipyard.ml.train import ModelError, load_model_class, make_model

    train = loaded.spec.train
    try:
        cls = load_model_class(train.model)
        make_model(train.model, train.params)
    except ModelError as exc:
        where = loaded.where("train", "params") if "params" in str(exc) or ":" in exc.message else loaded.where("train", "model")
        raise ConfigError([f"{where}: {exc.message}"], hint=exc.hint) from None
    return code_hash(cls) if is_user_object(cls) else None


def _check_tune(loaded: LoadedSpec) -> None:
    """Check the ``tune`` block against the model, before anything runs.

    Every searched param must be one the model takes, and each listed value
    (each bound of a range) must be valid for it; the metric must suit the
    task; a grid must be enumerable; Optuna must be installed to use it.
    """
    import importlib.util
    import inspect

    from shipyard.config.spec import CLASSIFICATION_METRICS, REGRESSION_METRICS
    from shipyard.ml.train import ModelError, load_model_class, make_model
    from shipyard.ml.tune import MAX_GRID, dimensions, grid_size

    spec = loaded.spec
    tune = spec.tune
    assert tune is not None
    problems: list[str] = []
    if tune.method == "optuna" and importlib.util.find_spec("optuna") is None:
        raise ConfigError(
            [f"{loaded.where('tune', 'method')}: tune method 'optuna' needs Optuna, which is not installed"],
            hint="Install the extra: pip install 'shipyard[optuna]'",
        )
    dims = dimensions(tune.space_json())
    if tune.method == "grid":
        for dim in dims:
            if not dim.discrete:
                problems.append(
                    f"{loaded.where('tune', 'space', dim.name)}: a grid takes choice or int values; "
                    f"{dim.name!r} is {dim.form} (use random or optuna, or list values with choice)"
                )
        size = grid_size(dims)
        if not problems and tune.trials is None and size is not None and size > MAX_GRID:
            problems.append(
                f"{loaded.where('tune')}: the grid has {size} combinations; set tune.trials "
                f"(at most {MAX_GRID}) or make the space smaller"
            )
    cls = load_model_class(spec.train.model)
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        signature = None
    if signature is not None and not any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()
    ):
        accepted = [n for n in signature.parameters if n != "self"]
    else:
        accepted = None  # takes **kwargs: let the model say what it refuses
    base = dict(spec.train.params)
    for dim in dims:
        where = loaded.where("tune", "space", dim.name)
        if accepted is not None and dim.name not in accepted:
            import difflib

            guess = difflib.get_close_matches(dim.name, accepted, n=1, cutoff=0.6)
            hint = f"; did you mean {guess[0]!r}?" if guess else ""
            problems.append(
                f"{where}: {spec.train.model} takes no param {dim.name!r}{hint} "
                f"its params: {', '.join(accepted)}"
            )
            continue
        values = dim.values if dim.form == "choice" else dim.values[:2]
        for value in values:
            try:
                make_model(spec.train.model, {**base, dim.name: value})
            except ModelError as exc:
                problems.append(f"{where}: {dim.name} = {value!r} is refused by the model: {exc.message}")
                break
    if tune.metric is not None:
        task = spec.train.task or _model_task(spec.train.model, base)
        allowed = {"classification": CLASSIFICATION_METRICS, "regression": REGRESSION_METRICS}.get(task or "")
        if allowed is not None and tune.metric not in allowed:
            problems.append(
                f"{loaded.where('tune', 'metric')}: metric {tune.metric!r} is not computed for "
                f"{task}; use one of {', '.join(allowed)}"
            )
        elif tune.metric in ("roc_auc", "log_loss") and not _has_proba(spec.train.model, base):
            problems.append(
                f"{loaded.where('tune', 'metric')}: metric {tune.metric!r} needs class "
                f"probabilities, and {spec.train.model} gives none with these params; "
                "use accuracy or f1"
            )
    if problems:
        raise ConfigError(problems)


def _model_task(model: str, params: dict[str, Any]) -> str | None:
    """``classification`` or ``regression`` for scikit-learn-style estimators, else None."""
    from sklearn.base import is_classifier, is_regressor

    from shipyard.ml.train import make_model

    estimator = make_model(model, params)
    if is_classifier(estimator):
        return "classification"
    if is_regressor(estimator):
        return "regression"
    return None


def _has_proba(model: str, params: dict[str, Any]) -> bool:
    from shipyard.ml.train import make_model

    return hasattr(make_model(model, params), "predict_proba")


def _seeded(spec: Any) -> dict[str, Any]:
    """``train.params``, with ``random_state: 0`` when the model takes one and it is not set.

    An unseeded model is a different artifact on every run (and may predict
    differently); a fixed seed makes runs reproducible. A search seeds its
    trials and the refit with ``tune.seed`` instead.
    """
    from shipyard.ml.tune import accepts_random_state

    params = dict(spec.train.params)
    if spec.tune is None and "random_state" not in params and accepts_random_state(spec.train.model):
        params["random_state"] = 0
    return params


def _tune_node(loaded: LoadedSpec, model_code: str | None) -> StepNode:
    spec = loaded.spec
    tune = spec.tune
    assert tune is not None
    return _node(
        "tune",
        std.tune,
        {
            "train": OutputRef("split", "train"),
            "eval_split": OutputRef("split", "eval"),
            "preprocessor": OutputRef("preprocess", "preprocessor"),
            "features": OutputRef("features"),
            "validation": OutputRef("validate"),
        },
        {
            "label": spec.label,
            "model": spec.train.model,
            "params": dict(spec.train.params),
            "space": tune.space_json(),
            "method": tune.method,
            "trials": tune.trials,
            "metric": tune.metric,
            "direction": tune.direction,
            "seed": tune.seed,
            "workers": tune.workers,
            "batch": tune.batch,
            "model_code": model_code,
        },
    )


def _default_metric(spec: Any) -> str | None:
    """The metric ``must_beat`` compares by default (the tune default), when the model tells the task."""
    from shipyard.ml.tune import default_metric

    params = dict(spec.train.params)
    try:
        task = spec.train.task or _model_task(spec.train.model, params)
        proba = task == "classification" and _has_proba(spec.train.model, params)
    except Exception:  # an estimator scikit-learn cannot classify: the gate decides at run time
        return None
    return default_metric(task, proba) if task is not None else None


def _gate_node(
    loaded: LoadedSpec, metrics: OutputRef, models: ModelResolver | None
) -> StepNode:
    """The gate: thresholds, and the registered version to beat (looked up now)."""
    spec = loaded.spec
    assert spec.gate is not None
    gate = spec.gate
    thresholds = {name: bound.model_dump() for name, bound in gate.thresholds.items()}
    inputs: dict[str, OutputRef | ArtifactInput] = {"metrics": metrics}
    params: dict[str, Any] = {"thresholds": thresholds}
    optional = ["model", "eval_split", "champion"]
    must = gate.must_beat
    if must is None:
        optional.append("must_beat")
    else:
        where = loaded.where("gate", "must_beat")
        name = must.model or (spec.registration.name if spec.registration else None)
        if name is None:
            raise ConfigError(
                [f"{where}: gate.must_beat needs a model: set gate.must_beat.model, or register: {{name: ...}}"]
            )
        if models is None:
            raise ConfigError([f"{where}: gate.must_beat compares with the model registry, but no store was given"])
        try:
            version = models(name, must.stage)
        except ShipyardError as exc:
            raise ConfigError([f"{where}: {exc.message}"], hint=exc.hint) from None
        inputs |= {"model": OutputRef("train"), "eval_split": OutputRef("split", "eval")}
        if version is not None:
            inputs["champion"] = ArtifactInput(version.bundle_id)
        params["must_beat"] = {
            "model": name,
            "stage": must.stage,
            "version": version.version if version is not None else None,
            "bundle": version.bundle_id if version is not None else None,
            "metric": must.metric or (spec.tune.metric if spec.tune is not None else None) or _default_metric(spec),
            "margin": must.margin,
        }
    return _node("gate", std.gate, inputs, params, optional=tuple(optional))


def compile_spec(
    loaded: LoadedSpec, *, datasets: Resolver | None = None, models: ModelResolver | None = None
) -> Pipeline:
    """The pipeline a loaded spec describes.

    Args:
        loaded: the validated YAML.
        datasets: finds a dataset version by ``name@version`` (for ``data: taxi@3``).
        models: finds a registered model version (for ``gate.must_beat``).

    Raises:
        ConfigError: for missing data files, columns or custom steps, naming the line.
    """
    spec = loaded.spec
    folder = str(loaded.path.parent.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)  # the project's own steps and model classes
    _check_features(loaded)
    model_code = _model(loaded)
    if spec.tune is not None:
        _check_tune(loaded)
    ingest_node, files = _ingest(loaded, datasets)
    if not spec.steps and files is not None:
        _check_columns(loaded, files)
    custom_nodes, data = _custom_nodes(loaded)
    # Without custom steps the columns were checked against the file above; with
    # them, the split step checks the table they produce.
    required = (
        {column: [label for label, _ in places] for column, places in required_columns(loaded).items()}
        if spec.steps
        else {spec.label: ["label"]}
    )
    transforms = [
        {"name": c.name, "run": c.run, "params": dict(c.params)} for c in spec.steps
    ]
    split_params = {
        "label": spec.label,
        "by": spec.split.by,
        "ratios": spec.split.ratios.model_dump(),
        "column": spec.split.column,
        "cutoffs": spec.split.cutoffs,
        "groups": spec.split.groups,
        "seed": spec.split.seed,
        "required": required,
    }
    splits = {
        "train_split": OutputRef("split", "train"),
        "eval_split": OutputRef("split", "eval"),
        "test_split": OutputRef("split", "test"),
    }
    nodes = [
        ingest_node,
        *custom_nodes,
        _node("split", std.split, {"data": data}, split_params),
        _node(
            "features",
            std.features,
            {"train": OutputRef("split", "train")},
            {
                "label": spec.label,
                "select": list(spec.features) if isinstance(spec.features, list) else None,
                "types": dict(spec.features) if isinstance(spec.features, dict) else None,
                "drop": list(spec.drop),
                "task": spec.train.task,
            },
        ),
        _node("statistics", std.statistics, {**splits, "features": OutputRef("features")}),
        _node(
            "schema",
            std.schema,
            {"statistics": OutputRef("statistics")},
            {"label": spec.label, "given": _given_schema(loaded)},
        ),
        _node(
            "validate",
            std.validate,
            {"statistics": OutputRef("statistics"), "schema": OutputRef("schema")},
            {"on_error": spec.validate_data.on_error},
        ),
        _node(
            "skew",
            std.skew,
            {"statistics": OutputRef("statistics")},
            {"config": spec.drift.model_dump(mode="json", exclude_none=True)},
        ),
        _node(
            "preprocess",
            std.preprocess,
            {"train": OutputRef("split", "train"), "features": OutputRef("features")},
            {"methods": spec.preprocess.model_dump(mode="json")},
        ),
        *([_tune_node(loaded, model_code)] if spec.tune is not None else []),
        _node(
            "train",
            std.train,
            {
                "train": OutputRef("split", "train"),
                "preprocessor": OutputRef("preprocess", "preprocessor"),
                "schema": OutputRef("preprocess", "schema"),
                "features": OutputRef("features"),
                "validation": OutputRef("validate"),
                **({"tuned": OutputRef("tune", "best")} if spec.tune is not None else {}),
            },
            {
                "label": spec.label,
                "model": spec.train.model,
                "params": _seeded(spec),
                "transforms": transforms,
                "model_code": model_code,
            },
            optional=("tuned",),
        ),
        _node(
            "evaluate",
            std.evaluate,
            {
                "model": OutputRef("train"),
                "eval_split": OutputRef("split", "eval"),
                "test_split": OutputRef("split", "test"),
            },
            {
                "metrics": list(spec.evaluate.metrics) if spec.evaluate.metrics else None,
                "slices": list(spec.evaluate.slices),
                "max_slice_values": spec.evaluate.max_slice_values,
            },
        ),
    ]
    metrics = OutputRef("evaluate", "metrics")
    if spec.gate:
        nodes.append(_gate_node(loaded, metrics, models))
        metrics = OutputRef("gate")
    nodes.append(
        _node(
            "bundle",
            std.bundle,
            {
                "model": OutputRef("train"),
                "metrics": metrics,
                "data": OutputRef("ingest"),
                "statistics": OutputRef("statistics"),
                "schema": OutputRef("schema"),
            },
        )
    )
    if spec.registration is not None:
        register = spec.registration
        nodes.append(
            _node(
                "register",
                std.register,
                {"bundle": OutputRef("bundle"), "metrics": metrics, "data": OutputRef("ingest")},
                {"name": register.name, "stage": register.stage, "alias": register.alias},
            )
        )
    return Pipeline(spec.name, nodes, source=str(loaded.path))


def _node(
    name: str,
    made: Step,
    inputs: dict[str, OutputRef | ArtifactInput] | None = None,
    params: dict[str, Any] | None = None,
    optional: tuple[str, ...] = (),
) -> StepNode:
    """A node; ``optional`` names inputs that, when not wired, keep their default
    without becoming params (so they are not recorded or hashed)."""
    values = params or {}
    names = [a for a in made.arguments if a not in (inputs or {}) and a not in optional]
    python, as_json = validate_params(made, values, names=names)
    return StepNode(name, made, dict(inputs or {}), python, as_json)


def load_yaml_pipeline(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    datasets: Resolver | None = None,
    models: ModelResolver | None = None,
) -> tuple[Pipeline, dict[str, Any]]:
    """Load, validate and compile a YAML pipeline.

    Returns:
        The pipeline and the config to record on its run (the YAML as loaded,
        the overrides, the file, and the registered version ``gate.must_beat``
        compares with).
    """
    loaded = load_spec(path, overrides)
    pipeline = compile_spec(loaded, datasets=datasets, models=models)
    config = {
        "kind": "yaml",
        "file": str(path),
        # YAML dates and times become ISO strings: the config is stored as JSON.
        "spec": json.loads(json.dumps(loaded.raw, default=str)),
        "overrides": list(overrides),
    }
    gate = next((node for node in pipeline if node.name == "gate"), None)
    if gate is not None and gate.params.get("must_beat") is not None:
        must = gate.params["must_beat"]
        config["must_beat"] = {k: must[k] for k in ("model", "stage", "version", "bundle")}
    return pipeline, config


__all__ = ["ModelResolver", "compile_spec", "load_yaml_pipeline", "required_columns"]
