"""``shipyard.ml.steps`` provides the standard steps a YAML pipeline compiles to.

ingest -> [custom steps] -> split -> features -> preprocess -> [tune] -> train ->
evaluate -> [gate] -> bundle -> [register]. Heavy libraries are imported inside the steps,
so a fully cached run never loads pandas or scikit-learn.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from shipyard.engine.context import get_step_context, log_metrics
from shipyard.engine.runner import REGISTER_TAG, TRIALS_TAG
from shipyard.engine.step import step
from shipyard.errors import ShipyardError
from shipyard.stores.metadata.records import ArtifactRecord

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.bundle.bundle import ModelBundle


class GateFailed(ShipyardError):
    """The model missed a threshold of the pipeline's gate."""

    headline = "Gate failed"


class Splits(NamedTuple):
    train: pd.DataFrame
    eval: pd.DataFrame
    test: pd.DataFrame


class Fitted(NamedTuple):
    preprocessor: Any
    schema: dict


class Evaluation(NamedTuple):
    metrics: dict
    predictions: pd.DataFrame


class Tuned(NamedTuple):
    best: dict
    trials: list


@step(tags=("data",))
def ingest(path: str, fingerprint: str) -> pd.DataFrame:
    """Read the source files into one table: its content hash is the data version."""
    from shipyard.data.sources import read_table, resolve_files

    frame = read_table(resolve_files(path, Path.cwd()))
    log_metrics(rows=len(frame), columns=frame.shape[1])
    return frame


@step(tags=("data",))
def ingest_dataset(snapshot: ArtifactRecord, dataset: str) -> ArtifactRecord:
    """A registered dataset version: its artifact is the data version, passed on as it is."""
    return snapshot


@step(cache=False, tags=("data",))
def ingest_sql(query: str, url: str) -> pd.DataFrame:
    """Run the SQL query (never cached: the database may change); its result is the data version."""
    from shipyard.data.sources import read_sql

    frame = read_sql(query, url)
    log_metrics(rows=len(frame), columns=frame.shape[1])
    return frame


def _require_columns(frame: pd.DataFrame, required: dict[str, list[str]]) -> None:
    from shipyard.data.sources import DataError

    missing = [
        f"{column!r} ({', '.join(uses)})" for column, uses in required.items() if column not in frame
    ]
    if missing:
        raise DataError(
            f"Column(s) named in the pipeline are not in the data: {'; '.join(missing)}. "
            f"Available: {', '.join(map(str, frame.columns))}."
        )


@step
def split(
    data: pd.DataFrame,
    label: str,
    by: str = "random",
    ratios: dict | None = None,
    column: str | None = None,
    cutoffs: dict | None = None,
    groups: dict | None = None,
    seed: int = 0,
    required: dict | None = None,
) -> Splits:
    """Divide rows into train, eval and test."""
    from shipyard.ml.split import split_frame

    _require_columns(data, required or {label: ["label"]})
    unlabeled = int(data[label].isna().sum())
    if unlabeled:
        data = data[data[label].notna()].reset_index(drop=True)
    parts = split_frame(
        data,
        by=by,
        label=label,
        ratios=ratios or {"train": 0.7, "eval": 0.15, "test": 0.15},
        column=column,
        cutoffs=cutoffs,
        groups=groups,
        seed=seed,
    )
    log_metrics({f"{name}_rows": len(frame) for name, frame in parts.items()}, unlabeled_rows=unlabeled)
    return Splits(parts["train"], parts["eval"], parts["test"])


@step
def features(
    train: pd.DataFrame,
    label: str,
    select: list | None = None,
    types: dict | None = None,
    drop: list | None = None,
    task: str | None = None,
) -> dict:
    """Feature columns and their types (declared or inferred), and the task."""
    from shipyard.ml.features import infer_task, resolve_features

    columns = resolve_features(train, label=label, select=select, types=types, drop=drop or [])
    if not columns:
        raise ShipyardError(f"No feature columns are left besides the label {label!r}.")
    return {
        "columns": columns,
        "task": task or infer_task(train[label]),
        "task_inferred": task is None,
    }


def _types(features: dict) -> dict[str, str]:
    return {name: str(info["type"]) for name, info in features["columns"].items()}


@step
def statistics(
    train_split: pd.DataFrame, eval_split: pd.DataFrame, test_split: pd.DataFrame, features: dict
) -> dict:
    """Statistics of every column of each split (JSON), with the features' types."""
    from shipyard.data.statistics import compute_statistics

    types = _types(features)
    return {
        name: compute_statistics(frame, types=types).to_json()
        for name, frame in (("train", train_split), ("eval", eval_split), ("test", test_split))
    }


@step
def schema(statistics: dict, label: str, given: dict | None = None) -> dict:
    """The data schema: the given ``schema.yaml``, or one inferred from the train split."""
    from shipyard.data.schema import infer_schema, schema_from_json
    from shipyard.data.statistics import Statistics

    if given is not None:
        return schema_from_json(given).model_dump(mode="json")
    inferred = infer_schema(Statistics.from_json(statistics["train"]), label=label)
    return inferred.model_dump(mode="json")


@step
def validate(statistics: dict, schema: dict, on_error: str = "fail") -> dict:
    """Check each split against the schema; errors fail the run unless ``on_error: warn``."""
    from shipyard.data.schema import schema_from_json
    from shipyard.data.statistics import Statistics
    from shipyard.data.validation import ValidationResult, validate_statistics

    expected = schema_from_json(schema)
    result = ValidationResult()
    for split_name, stats in statistics.items():
        result = result.merge(validate_statistics(Statistics.from_json(stats), expected, split=split_name))
    log_metrics(validation_errors=len(result.errors), validation_warnings=len(result.warnings))
    if on_error == "fail":
        result.raise_for_errors("the splits (set validate: {on_error: warn} to go on)")
    return result.to_json()


@step
def skew(statistics: dict, config: dict | None = None) -> dict:
    """Drift between the train split and the eval and test splits."""
    from shipyard.data.drift import DriftConfig, compare
    from shipyard.data.statistics import Statistics

    drift_config = DriftConfig.from_dict(config)
    train_stats = Statistics.from_json(statistics["train"])
    out = {}
    for split_name in ("eval", "test"):
        report = compare(train_stats, Statistics.from_json(statistics[split_name]), drift_config)
        out[split_name] = report.to_json()
        log_metrics({f"skew.{split_name}.drifted_share": report.share,
                     f"skew.{split_name}.drifted_columns": len(report.drifted)})
    return out


@step
def preprocess(train: pd.DataFrame, features: dict, methods: dict | None = None) -> Fitted:
    """Fit the preprocessing on the train split; learn the input schema."""
    from shipyard.bundle.bundle import InputError, type_problem
    from shipyard.bundle.schema import infer_input_schema
    from shipyard.config.spec import PreprocessSpec
    from shipyard.ml.preprocess import build_preprocessor

    types = {name: str(info["type"]) for name, info in features["columns"].items()}
    problems = [
        f"column {name!r} is declared {kind} but: {problem}"
        for name, kind in types.items()
        if (problem := type_problem(train[name], kind))
    ]
    if problems:
        raise InputError("; ".join(problems))
    spec = PreprocessSpec.model_validate(methods or {})
    transformer = build_preprocessor(types, spec)
    transformer.fit(train[list(types)])
    return Fitted(transformer, infer_input_schema(train, types))


@step(tags=(TRIALS_TAG,))
def tune(
    train: pd.DataFrame,
    eval_split: pd.DataFrame,
    preprocessor: Any,
    features: dict,
    label: str,
    model: str,
    space: dict,
    params: dict | None = None,
    method: str = "random",
    trials: int | None = None,
    metric: str | None = None,
    direction: str | None = None,
    seed: int = 0,
    workers: int | None = None,
    batch: int = 4,
    model_code: str | None = None,
    validation: dict | None = None,
) -> Tuned:
    """Search the model's params: fit on train, score on eval, keep the best values.

    ``best`` holds the values the train step applies on top of its params
    (``best["params"]``), the trial they come from and its score; ``trials``
    lists every trial, which the run records as its child runs. A trial that
    fails is recorded with its error; the step fails only when all of them do.
    """
    from shipyard.ml.tune import (
        TuneError,
        best_of,
        describe_failures,
        direction_of,
        prepare,
        search,
    )

    data, fixed = prepare(
        train, eval_split, preprocessor=preprocessor, features=features, label=label, model=model,
        params=params or {}, space=space, metric=metric, seed=seed,
    )
    goal = direction_of(data.metric, direction)
    results = search(
        data, space, method=method, trials=trials, seed=seed, direction=goal, workers=workers,
        batch=batch,
    )
    best = best_of(results, goal)
    if best is None:
        raise TuneError(
            f"All {len(results)} trials of the search failed: {describe_failures(results)}."
        )
    key = f"eval.{data.metric}"
    failed = sum(1 for r in results if r["status"] != "completed")
    log_metrics(
        {f"best_{data.metric}": best["value"]},
        trials=len(results), failed_trials=failed, best_trial=best["number"],
    )
    records = [
        {"trial": r["number"], **{k: v for k, v in r.items() if k != "number"}, "metric": key,
         "direction": goal, "chosen": r["number"] == best["number"]}
        for r in results
    ]
    return Tuned(
        best={
            "params": {**fixed, **best["params"]},
            "trial": best["number"],
            "metric": key,
            "direction": goal,
            "value": best["value"],
            "method": method,
        },
        trials=records,
    )


@step
def train(
    train: pd.DataFrame,
    preprocessor: Any,
    schema: dict,
    features: dict,
    label: str,
    model: str,
    params: dict | None = None,
    transforms: list | None = None,
    validation: dict | None = None,
    model_code: str | None = None,
    tuned: dict | None = None,
) -> ModelBundle:
    """Fit the model on the preprocessed train split; return the model bundle.

    ``validation`` is the validate step's result: taking it makes training wait
    for the data to pass validation. ``model_code`` is the code hash of a
    model class defined in the project: editing the class re-runs training.
    ``tuned`` is the tune step's best result: its values replace the params
    of the same names.
    """
    from shipyard.bundle.bundle import ModelBundle
    from shipyard.ml.train import (
        check_task,
        encode_labels,
        make_model,
        regression_target,
    )

    types = {name: str(info["type"]) for name, info in features["columns"].items()}
    task = features["task"]
    estimator = make_model(model, {**(params or {}), **((tuned or {}).get("params") or {})})
    check_task(estimator, task, model)
    matrix = preprocessor.transform(train[list(types)])
    if task == "classification":
        target, classes = encode_labels(train[label])
    else:
        target, classes = regression_target(train[label]), None
    estimator.fit(matrix, target)
    return ModelBundle(
        preprocessor=preprocessor,
        model=estimator,
        features=types,
        schema=schema,
        label={"name": label, "task": task, "classes": classes},
        transforms=tuple(transforms or ()),
        model_class=model,
    )


def _slice_metrics(
    frame: pd.DataFrame,
    predictions: pd.DataFrame,
    *,
    slices: list,
    max_values: int,
    measure: Any,
) -> dict[str, float]:
    out: dict[str, float] = {}
    for column in slices:
        keys = frame[column].astype(str).where(frame[column].notna(), "<missing>")
        for value in keys.value_counts().head(max_values).index:
            mask = (keys == value).to_numpy()
            for name, number in measure(frame[mask], predictions[mask]).items():
                out[f"test[{column}={value}].{name}"] = number
            out[f"test[{column}={value}].rows"] = float(mask.sum())
    return out


@step
def evaluate(
    model: ModelBundle,
    eval_split: pd.DataFrame,
    test_split: pd.DataFrame,
    metrics: list | None = None,
    slices: list | None = None,
    max_slice_values: int = 20,
) -> Evaluation:
    """Metrics on the eval and test splits (and per slice of test) through the Predictor."""
    from shipyard.bundle.bundle import Predictor
    from shipyard.ml.metrics import default_metrics, split_metrics

    # The splits already went through the custom steps: do not apply them twice.
    predictor = Predictor(model, apply_transforms=False)
    names = metrics or list(default_metrics(model.task))
    unknown = [n for n in names if n not in default_metrics(model.task)]
    if unknown:
        raise ShipyardError(
            f"Metric(s) {', '.join(unknown)} do not apply to {model.task}; use "
            f"{', '.join(default_metrics(model.task))}."
        )

    def measure(frame: pd.DataFrame, predicted: pd.DataFrame) -> dict[str, float]:
        return split_metrics(
            frame, predicted, label=model.label["name"], task=model.task,
            classes=model.classes, names=names,
        )

    out: dict[str, float] = {}
    test_predictions = None
    for split_name, frame in (("eval", eval_split), ("test", test_split)):
        predicted = predictor.predict_frame(frame)
        out |= {f"{split_name}.{k}": v for k, v in measure(frame, predicted).items()}
        test_predictions = predicted
    assert test_predictions is not None
    out |= _slice_metrics(
        test_split, test_predictions, slices=slices or [], max_values=max_slice_values,
        measure=measure,
    )
    log_metrics(out)
    return Evaluation(out, test_predictions.reset_index(drop=True))


@step
def gate(
    metrics: dict,
    thresholds: dict,
    model: ModelBundle | None = None,
    eval_split: pd.DataFrame | None = None,
    champion: ModelBundle | None = None,
    must_beat: dict | None = None,
) -> dict:
    """Fail the run unless every threshold holds on the eval split (and the model beats ``champion``).

    With ``must_beat`` (``model``, ``stage``, ``version``, ``metric``,
    ``margin``), the new model and ``champion`` (the registered version to
    beat, when there is one) score this run's eval split with the same
    metric; the new one must be at least ``margin`` better. The comparison is
    logged as ``must_beat.*`` metrics, whether it passes or not.
    """
    failures = []
    for name, bound in thresholds.items():
        value = metrics.get(f"eval.{name}")
        if value is None:
            failures.append(f"eval {name} was not computed")
            continue
        if bound.get("min") is not None and value < bound["min"]:
            failures.append(f"eval {name} {value:.4g} is below the minimum {bound['min']:g}")
        if bound.get("max") is not None and value > bound["max"]:
            failures.append(f"eval {name} {value:.4g} is above the maximum {bound['max']:g}")
    if must_beat is not None:
        assert model is not None and eval_split is not None
        problem = _must_beat(model, eval_split, champion, must_beat)
        if problem is not None:
            failures.append(problem)
    if failures:
        raise GateFailed("the model is not accepted: " + "; ".join(failures))
    return metrics


def _must_beat(model: ModelBundle, eval_split: pd.DataFrame, champion: ModelBundle | None, spec: dict) -> str | None:
    """Score the new model and the champion on the eval split; why the new one loses, or None."""
    from shipyard.bundle.bundle import Predictor
    from shipyard.config.spec import MAXIMIZED_METRICS
    from shipyard.ml.metrics import split_metrics
    from shipyard.ml.tune import default_metric

    metric = spec.get("metric") or default_metric(model.task, hasattr(model.model, "predict_proba"))
    margin = float(spec.get("margin") or 0.0)
    target = f"{spec['model']}@{spec['stage']}"
    label = model.label["name"]

    def score(bundle: ModelBundle, transforms: bool) -> float | None:
        predicted = Predictor(bundle, apply_transforms=transforms).predict_frame(eval_split)
        return split_metrics(
            eval_split, predicted, label=label, task=bundle.task, classes=bundle.classes, names=[metric]
        ).get(metric)

    # The split already went through this pipeline's custom steps: apply the
    # champion's own only when they differ.
    candidate = score(model, False)
    if candidate is None:
        return f"eval {metric} of the new model could not be computed (must_beat)"
    log_metrics({"must_beat.candidate": candidate, "must_beat.margin": margin})
    if champion is None:
        log_metrics({"must_beat.compared": 0, "must_beat.passed": 1})
        return None
    if champion.task != model.task or (champion.label or {}).get("name") != label:
        return (
            f"{target} (v{spec.get('version')}) predicts {champion.label.get('name')!r} "
            f"({champion.task}), not {label!r} ({model.task}): they cannot be compared"
        )
    try:
        current = score(champion, list(champion.transforms) != list(model.transforms))
    except ShipyardError as exc:
        return f"{target} (v{spec.get('version')}) cannot score this run's eval split: {exc.message}"
    if current is None:
        return f"eval {metric} of {target} could not be computed (must_beat)"
    better = metric in MAXIMIZED_METRICS
    improvement = candidate - current if better else current - candidate
    passed = improvement >= margin - 1e-12
    log_metrics({
        "must_beat.compared": 1, "must_beat.champion": current, "must_beat.improvement": improvement,
        "must_beat.passed": int(passed), "must_beat.version": float(spec.get("version") or 0),
    })
    if passed:
        return None
    direction = "higher" if better else "lower"
    return (
        f"eval {metric} {candidate:.4g} does not beat {target} (v{spec.get('version')}) {current:.4g}"
        + (f" by the margin {margin:g}" if margin else "")
        + f" ({direction} is better)"
    )


@step
def bundle(
    model: ModelBundle,
    metrics: dict,
    data: ArtifactRecord,
    statistics: dict | None = None,
    schema: dict | None = None,
) -> ModelBundle:
    """The accepted model bundle, stamped with its metrics, run and data version.

    It also carries the training split's statistics and the schema of its
    feature columns, the references for validating and watching serving traffic.
    """
    overall = {k: v for k, v in metrics.items() if "[" not in k}
    features = set(model.features)
    train_stats = None
    if statistics is not None:
        train_stats = dict(statistics["train"])
        train_stats["columns"] = {k: v for k, v in train_stats["columns"].items() if k in features}
    feature_schema = None
    if schema is not None:
        feature_schema = {**schema, "columns": {k: v for k, v in schema["columns"].items() if k in features}}
        feature_schema["label"] = None
    return model.with_info(
        metrics=overall,
        run_id=get_step_context().run_id,
        data_version=data.id,
        statistics=train_stats,
        data_schema=feature_schema,
    )


@step(tags=(REGISTER_TAG,))
def register(
    bundle: ArtifactRecord,
    metrics: dict,
    data: ArtifactRecord,
    name: str,
    stage: str | None = None,
    alias: str | None = None,
) -> dict:
    """Ask for the bundle to be registered as a version of the model ``name``.

    The step only describes the registration (a step never writes to a
    store): the run records it in the model registry together with this step
    run. A cache hit of this step registers nothing again.
    """
    return {
        "model": name,
        "bundle": bundle.id,
        "stage": stage,
        "alias": alias,
        "metrics": {k: v for k, v in metrics.items() if "[" not in k},
        "data_version": data.id,
    }


__all__ = [
    "Evaluation",
    "Fitted",
    "GateFailed",
    "Splits",
    "Tuned",
    "bundle",
    "evaluate",
    "features",
    "gate",
    "ingest",
    "ingest_dataset",
    "ingest_sql",
    "preprocess",
    "register",
    "schema",
    "skew",
    "split",
    "statistics",
    "train",
    "tune",
    "validate",
]
