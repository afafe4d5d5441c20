"""``shipyard.config.spec`` provides ``PipelineSpec``: the YAML pipeline, validated.

Every model forbids unknown keys and is frozen. Defaults are documented on
each field and in ``docs/yaml.md``. The spec is pure configuration: it is
compiled into a :class:`~shipyard.engine.graph.Pipeline` by ``shipyard.ml``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

FeatureType = Literal["numeric", "categorical", "text", "datetime", "boolean"]
FEATURE_TYPES: tuple[str, ...] = ("numeric", "categorical", "text", "datetime", "boolean")
SPLITS = ("train", "eval", "test")
DATETIME_PARTS = (
    "year", "month", "day", "hour", "minute", "dayofweek", "dayofyear", "weekofyear", "quarter",
)
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("mae", "rmse", "r2", "mape")
METRICS = CLASSIFICATION_METRICS + REGRESSION_METRICS
#: Metrics where a larger value is better; the others are better smaller.
MAXIMIZED_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "r2")
SEARCH_FORMS = ("choice", "uniform", "loguniform", "int")
SEARCH_METHODS = ("grid", "random", "optuna")
#: The stages a model version can be put in (a new version is in none of them).
MODEL_STAGES = ("staging", "production", "archived")
#: What a model name may look like (it is followed by ``@VERSION`` in references).
MODEL_NAME = re.compile(r"[A-Za-z0-9_][\w.-]{0,199}")
#: What an alias may look like: ``champion``, ``candidate``, ``eu-west_2``.
ALIAS_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
#: Words a reference resolves itself, so no alias may take them.
RESERVED_ALIASES = ("latest", "none", *MODEL_STAGES)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# -- preprocessing methods -----------------------------------------------------------


class _ImputeOptions(_Spec):
    strategy: Literal["mean", "median", "most_frequent", "constant"] = "median"
    value: Any = None


class _NoOptions(_Spec):
    pass


class _ClipOptions(_Spec):
    min: float | None = None
    max: float | None = None


class _BucketizeOptions(_Spec):
    bins: int = Field(5, ge=2, le=1000)
    strategy: Literal["quantile", "uniform"] = "quantile"
    edges: list[float] | None = None


class _OneHotOptions(_Spec):
    max_categories: int = Field(20, ge=2)
    min_frequency: float | None = Field(None, gt=0)


class _HashOptions(_Spec):
    n_features: int = Field(16, ge=2, le=1 << 20)


class _DatetimeOptions(_Spec):
    parts: list[Literal[DATETIME_PARTS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["hour", "dayofweek", "month"], min_length=1
    )


class _TfidfOptions(_Spec):
    max_features: int = Field(500, ge=1)
    ngram_max: int = Field(1, ge=1, le=3)


#: Method name -> (options model, the option a scalar shorthand sets, types it applies to).
METHODS: dict[str, tuple[type[_Spec], str | None, tuple[str, ...]]] = {
    "impute": (_ImputeOptions, "strategy", FEATURE_TYPES),
    "standard": (_NoOptions, None, ("numeric",)),
    "minmax": (_NoOptions, None, ("numeric",)),
    "robust": (_NoOptions, None, ("numeric",)),
    "log1p": (_NoOptions, None, ("numeric",)),
    "clip": (_ClipOptions, None, ("numeric",)),
    "bucketize": (_BucketizeOptions, "bins", ("numeric",)),
    "onehot": (_OneHotOptions, "max_categories", ("categorical", "boolean")),
    "ordinal": (_NoOptions, None, ("categorical", "boolean")),
    "hash": (_HashOptions, "n_features", ("categorical", "text")),
    "datetime": (_DatetimeOptions, "parts", ("datetime",)),
    "tfidf": (_TfidfOptions, "max_features", ("text",)),
    "boolean": (_NoOptions, None, ("boolean",)),
    "passthrough": (_NoOptions, None, ("numeric", "boolean")),
}


class Method(_Spec):
    """One preprocessing method: ``standard``, ``{impute: median}``, ``{clip: {min: 0}}``."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, raw: Any) -> Any:
        if isinstance(raw, Method):
            return raw
        if isinstance(raw, dict) and set(raw) == {"name", "options"}:
            name, value = raw["name"], raw["options"]
        elif isinstance(raw, str):
            name, value = raw, None
        elif isinstance(raw, dict) and len(raw) == 1:
            ((name, value),) = raw.items()
        else:
            raise ValueError(
                "a method is a name (standard) or a one-key mapping ({clip: {min: 0}}); "
                f"got {raw!r}"
            )
        if name not in METHODS:
            import difflib

            guess = difflib.get_close_matches(str(name), list(METHODS), n=1, cutoff=0.6)
            hint = f"; did you mean {guess[0]!r}?" if guess else ""
            raise ValueError(
                f"unknown preprocessing method {name!r}{hint} known: {', '.join(METHODS)}"
            )
        options_model, shorthand, _ = METHODS[name]
        if value is None:
            options: dict[str, Any] = {}
        elif isinstance(value, dict):
            options = value
        elif shorthand is not None:
            options = {shorthand: value}
        else:
            raise ValueError(f"method {name!r} takes no options; got {value!r}")
        try:
            validated = options_model.model_validate(options)
        except ValidationError as exc:
            raise ValueError(_options_problem(name, options_model, exc)) from None
        return {"name": name, "options": validated.model_dump(exclude_none=False)}

    def applies_to(self, feature_type: str) -> bool:
        """True when the method can be used on columns of this type."""
        return feature_type in METHODS[self.name][2]


def _options_problem(name: str, model: type[_Spec], exc: ValidationError) -> str:
    import difflib

    allowed = list(model.model_fields)
    err = exc.errors()[0]
    option = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        guess = difflib.get_close_matches(option, allowed, n=1, cutoff=0.6)
        hint = f"; did you mean {guess[0]!r}?" if guess else ""
        listing = ", ".join(allowed) if allowed else "none"
        return f"method {name!r} has no option {option!r}{hint} options: {listing}"
    return f"method {name!r}, option {option!r}: {err['msg']} (got {err.get('input')!r})"


def _methods(*items: Any) -> list[Method]:
    return [Method.model_validate(item) for item in items]


class PreprocessSpec(_Spec):
    """Preprocessing by feature type, and per-column overrides.

    Each list is applied in order to the columns of that type; ``columns``
    replaces the list for the named columns.
    """

    numeric: list[Method] = Field(default_factory=lambda: _methods({"impute": "median"}, "standard"))
    categorical: list[Method] = Field(
        default_factory=lambda: _methods({"impute": "most_frequent"}, {"onehot": 20})
    )
    boolean: list[Method] = Field(
        default_factory=lambda: _methods({"impute": "most_frequent"}, "boolean")
    )
    datetime: list[Method] = Field(default_factory=lambda: _methods("datetime"))
    text: list[Method] = Field(default_factory=lambda: _methods("tfidf"))
    columns: dict[str, list[Method]] = Field(default_factory=dict)

    def for_type(self, feature_type: str) -> list[Method]:
        """The methods applied to columns of ``feature_type``."""
        return list(getattr(self, feature_type))


# -- the other blocks -------------------------------------------------------------------


class Ratios(_Spec):
    """Fractions of rows for each split; they must add up to 1."""

    train: float = Field(0.7, gt=0, lt=1)
    eval: float = Field(0.15, gt=0, lt=1)
    test: float = Field(0.15, gt=0, lt=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> Ratios:
        total = self.train + self.eval + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(
                f"ratios must add up to 1; train {self.train} + eval {self.eval} + test "
                f"{self.test} = {total:g}"
            )
        return self


class SplitSpec(_Spec):
    """How rows are divided into train, eval and test.

    ``random`` (seeded), ``stratified`` (keeps the label's class shares),
    ``time`` (earliest rows train, latest test, by ``column``), ``group`` (all
    rows of a ``column`` value land in one split). Fractions come from
    ``ratios``; ``time`` may give explicit ``cutoffs`` (where eval and test
    start) and ``group`` explicit ``groups`` (values for eval and test).
    """

    by: Literal["random", "stratified", "time", "group"] = "random"
    column: str | None = None
    ratios: Ratios = Field(default_factory=Ratios)
    cutoffs: dict[Literal["eval", "test"], dt.datetime | dt.date | int | float | str] | None = None
    groups: dict[Literal["eval", "test"], list[Any]] | None = None
    seed: int = 0

    @model_validator(mode="after")
    def _consistent(self) -> SplitSpec:
        if self.by in ("time", "group") and not self.column:
            raise ValueError(f"split by {self.by} needs 'column'")
        if self.by in ("random", "stratified") and self.column:
            raise ValueError(f"split by {self.by} takes no 'column'")
        if self.cutoffs is not None:
            if self.by != "time":
                raise ValueError("'cutoffs' is only for split by time")
            if set(self.cutoffs) != {"eval", "test"}:
                raise ValueError("'cutoffs' needs both eval and test")
        if self.groups is not None:
            if self.by != "group":
                raise ValueError("'groups' is only for split by group")
            if set(self.groups) != {"eval", "test"}:
                raise ValueError("'groups' needs both eval and test")
        return self


class TrainSpec(_Spec):
    """The estimator: an import path to a class with fit/predict, its params and the task."""

    model: str
    params: dict[str, Any] = Field(default_factory=dict)
    task: Literal["classification", "regression"] | None = None

    @field_validator("model")
    @classmethod
    def _import_path(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][\w.]*[.:][A-Za-z_]\w*", value):
            raise ValueError(
                f"model must be an import path such as "
                f"sklearn.ensemble.HistGradientBoostingClassifier; got {value!r}"
            )
        return value


class EvaluateSpec(_Spec):
    """Metrics computed on the eval and test splits, overall and per slice."""

    metrics: list[Literal[METRICS]] | None = None  # type: ignore[valid-type]
    slices: list[str] = Field(default_factory=list)
    max_slice_values: int = Field(20, ge=1, le=1000)


class Threshold(_Spec):
    """Bounds a metric must respect: ``{min: 0.75}``, ``{max: 3.0}`` or both."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> Threshold:
        if self.min is None and self.max is None:
            raise ValueError("a threshold needs 'min' or 'max'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


def model_name_problem(value: str) -> str | None:
    """Why ``value`` cannot name a model, or None when it can."""
    if MODEL_NAME.fullmatch(value) and value != "latest":
        return None
    return (
        f"{value!r} is not a valid model name: use letters, digits, '_', '-' and '.' (at most "
        "200), starting with a letter, digit or '_'"
    )


def alias_problem(value: str) -> str | None:
    """Why ``value`` cannot be an alias, or None when it can."""
    if not ALIAS_NAME.fullmatch(value):
        return (
            f"{value!r} is not a valid alias: lowercase letters, digits, '_' and '-' (at most "
            "64), starting with a letter, e.g. champion or candidate"
        )
    if value in RESERVED_ALIASES:
        return f"{value!r} cannot be an alias: it is a stage or a reserved word ({', '.join(RESERVED_ALIASES)})"
    if re.fullmatch(r"v\d+", value):
        return f"{value!r} cannot be an alias: NAME@{value} means version {value[1:]}"
    return None


class RegisterSpec(_Spec):
    """Register the run's bundle in the model registry once the gate passes.

    ``register: taxi-tips`` is short for ``{name: taxi-tips}``. ``stage`` puts
    the new version in a stage (``production`` moves the previous production
    version to ``archived``); ``alias`` points an alias at it.
    """

    name: str
    stage: Literal["staging", "production", "archived"] | None = None
    alias: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, raw: Any) -> Any:
        return {"name": raw} if isinstance(raw, str) else raw

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if (problem := model_name_problem(value)) is not None:
            raise ValueError(problem)
        return value

    @field_validator("alias")
    @classmethod
    def _alias(cls, value: str | None) -> str | None:
        if value is not None and (problem := alias_problem(value)) is not None:
            raise ValueError(problem)
        return value


class MustBeatSpec(_Spec):
    """The registered version a new model must beat on this run's eval split.

    ``must_beat: production`` is short for ``{stage: production}`` and
    ``must_beat: NAME@REF`` for ``{model: NAME, stage: REF}``. ``model``
    defaults to ``register.name``; ``stage`` is a stage, an alias or a version
    number (default ``production``); ``metric`` defaults to ``tune.metric``,
    else the task's default (roc_auc or accuracy for classifiers, rmse for
    regressors); the new model passes when it is at least ``margin`` better.
    """

    model: str | None = None
    stage: str = "production"
    metric: Literal[METRICS] | None = None  # type: ignore[valid-type]
    margin: float = Field(0.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, raw: Any) -> Any:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return {"stage": str(raw)}
        if isinstance(raw, str):
            model, at, ref = raw.rpartition("@")
            return {"model": model, "stage": ref} if at else {"stage": raw}
        if isinstance(raw, dict) and isinstance(raw.get("stage"), int) and not isinstance(raw["stage"], bool):
            return {**raw, "stage": str(raw["stage"])}
        return raw

    @field_validator("model")
    @classmethod
    def _model(cls, value: str | None) -> str | None:
        if value is not None and (problem := model_name_problem(value)) is not None:
            raise ValueError(problem)
        return value

    @field_validator("stage")
    @classmethod
    def _ref(cls, value: str) -> str:
        if value in MODEL_STAGES or value == "latest" or value.isdigit() or ALIAS_NAME.fullmatch(value):
            return value
        raise ValueError(
            f"{value!r} names no version: use a stage ({', '.join(MODEL_STAGES)}), an alias "
            "(e.g. champion) or a version number"
        )


class GateSpec(_Spec):
    """What the model must achieve to be accepted (bundled and registered).

    Written as one mapping: metric thresholds on the eval split
    (``roc_auc: {min: 0.8}``) and, optionally, ``must_beat`` (see
    :class:`MustBeatSpec`).
    """

    thresholds: dict[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")], Threshold] = Field(
        default_factory=dict
    )
    must_beat: MustBeatSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _flat(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "thresholds" not in raw:
            for metric in raw:
                if metric != "must_beat" and metric not in METRICS:
                    import difflib

                    known = [*METRICS, "must_beat"]
                    guess = difflib.get_close_matches(str(metric), known, n=1, cutoff=0.6)
                    hint = f"; did you mean {guess[0]!r}?" if guess else ""
                    raise ValueError(f"unknown metric {metric!r}{hint} known: {', '.join(known)}")
            flat = {"thresholds": {k: v for k, v in raw.items() if k != "must_beat"}}
            if "must_beat" in raw:
                flat["must_beat"] = raw["must_beat"]
            return flat
        return raw

    @field_validator("thresholds")
    @classmethod
    def _metrics(cls, value: Mapping[str, Threshold]) -> Mapping[str, Threshold]:
        for metric in value:
            if metric not in METRICS:
                import difflib

                known = [*METRICS, "must_beat"]
                guess = difflib.get_close_matches(metric, known, n=1, cutoff=0.6)
                hint = f"; did you mean {guess[0]!r}?" if guess else ""
                raise ValueError(f"unknown metric {metric!r}{hint} known: {', '.join(known)}")
        return value

    def __bool__(self) -> bool:
        return bool(self.thresholds) or self.must_beat is not None


class CustomStepSpec(_Spec):
    """A Python step by import path, inserted into the data flow after ``after``.

    The function takes a DataFrame (first argument) and returns a DataFrame;
    ``params`` are passed as keyword arguments. It runs on the whole dataset
    before the split, and the model bundle applies it to raw rows at
    prediction time too.
    """

    name: str = Field(pattern=r"^[A-Za-z_][\w-]*$")
    run: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    after: str = "ingest"
    params: dict[str, Any] = Field(default_factory=dict)


class DataSourceSpec(_Spec):
    """A table read from a database: a SQL query against a SQLAlchemy URL.

    Put credentials in environment variables (``${DB_PASSWORD}``): they are
    read when the query runs and never stored with the run.
    """

    sql: str
    url: str


class ValidateSpec(_Spec):
    """What a data validation error does: fail the run (default) or warn."""

    on_error: Literal["fail", "warn"] = "fail"


class ColumnDriftSpec(_Spec):
    """The test deciding one column's drift, and its threshold."""

    method: Literal["wasserstein", "ks", "psi", "jensen_shannon", "chi2", "skip"] | None = None
    threshold: float | None = None


class DriftSpec(_Spec):
    """Drift tests between the train split and the eval/test splits (skew).

    Defaults: normalised Wasserstein >= 0.1 for numbers, Jensen-Shannon
    distance >= 0.1 for categories and booleans; the data drifts when half
    the compared columns do.
    """

    methods: dict[
        Literal["numeric", "categorical", "boolean"],
        Literal["wasserstein", "ks", "psi", "jensen_shannon", "chi2"],
    ] = Field(default_factory=dict)
    thresholds: dict[Literal["wasserstein", "ks", "psi", "jensen_shannon", "chi2"], float] = Field(
        default_factory=dict
    )
    columns: dict[str, ColumnDriftSpec] = Field(default_factory=dict)
    share: float = Field(0.5, gt=0, le=1)
    min_values: int = Field(30, ge=1)


class SearchDimension(_Spec):
    """The values one param of the model is searched over.

    Written as a one-key mapping: ``{choice: [100, 200]}`` (any of the listed
    values), ``{uniform: [0.0, 1.0]}`` (a float drawn evenly between the
    bounds), ``{loguniform: [0.01, 0.3]}`` (a float drawn evenly on a log
    scale; both bounds above 0), ``{int: [2, 8]}`` (an integer, both bounds
    included).
    """

    form: Literal["choice", "uniform", "loguniform", "int"]
    values: list[Any]

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, raw: Any) -> Any:
        if isinstance(raw, SearchDimension):
            return raw
        if isinstance(raw, dict) and set(raw) == {"form", "values"}:
            form, values = raw["form"], raw["values"]
        elif isinstance(raw, dict) and len(raw) == 1:
            ((form, values),) = raw.items()
        else:
            raise ValueError(
                "a search space is a one-key mapping: {choice: [a, b]}, {uniform: [lo, hi]}, "
                f"{{loguniform: [lo, hi]}} or {{int: [lo, hi]}}; got {raw!r}"
            )
        if form not in SEARCH_FORMS:
            import difflib

            guess = difflib.get_close_matches(str(form), SEARCH_FORMS, n=1, cutoff=0.6)
            hint = f"; did you mean {guess[0]!r}?" if guess else ";"
            raise ValueError(f"unknown search space {form!r}{hint} known: {', '.join(SEARCH_FORMS)}")
        if form == "choice":
            if not isinstance(values, list) or not values:
                raise ValueError(f"choice needs a non-empty list of values; got {values!r}")
            seen = [json.dumps(v, sort_keys=True, default=str) for v in values]
            repeated = sorted({v for v in seen if seen.count(v) > 1})
            if repeated:
                raise ValueError(f"choice lists {', '.join(repeated)} more than once; list each value once")
            return {"form": form, "values": values}
        return {"form": form, "values": _bounds(str(form), values)}

    def to_json(self) -> dict[str, list[Any]]:
        """The YAML form: ``{loguniform: [0.01, 0.3]}``."""
        return {self.form: list(self.values)}


def _bounds(form: str, values: Any) -> list[Any]:
    """``[lo, hi]`` of a range, checked."""
    if not isinstance(values, list) or len(values) != 2:
        raise ValueError(f"{form} needs two bounds [lo, hi]; got {values!r}")
    lo, hi = values
    numbers = (int,) if form == "int" else (int, float)
    if any(isinstance(v, bool) or not isinstance(v, numbers) for v in (lo, hi)):
        kind = "integers" if form == "int" else "numbers"
        raise ValueError(f"the bounds of {form} must be {kind}; got {values!r}")
    if not lo < hi:
        raise ValueError(f"{form} range [{lo}, {hi}]: the lower bound must be below the upper one")
    if form == "loguniform" and lo <= 0:
        raise ValueError(f"loguniform range [{lo}, {hi}]: both bounds must be above 0")
    return [lo, hi] if form == "int" else [float(lo), float(hi)]


class TuneSpec(_Spec):
    """A hyperparameter search over the params of ``train.model``.

    Each trial fits the model on the train split with one set of values and
    scores it on the eval split; the best set is refitted by the train step.
    ``trials`` defaults to every combination for ``grid`` and 20 otherwise;
    ``direction`` follows the metric (roc_auc up, log_loss down) unless given;
    ``workers`` is the size of the local process pool (default: the CPU
    count); ``batch`` is how many trials ``optuna`` proposes at a time.
    """

    method: Literal["grid", "random", "optuna"] = "random"
    trials: int | None = Field(None, ge=1, le=10_000)
    metric: Literal[METRICS] | None = None  # type: ignore[valid-type]
    direction: Literal["max", "min"] | None = None
    seed: int = Field(0, ge=0)
    workers: int | None = Field(None, ge=1, le=1024)
    batch: int = Field(4, ge=1, le=1000)
    space: dict[Annotated[str, Field(pattern=r"^[A-Za-z_]\w*$")], SearchDimension] = Field(
        min_length=1
    )

    def space_json(self) -> dict[str, dict[str, list[Any]]]:
        """The space in its YAML form, for the step's params."""
        return {name: dim.to_json() for name, dim in self.space.items()}


class PipelineSpec(_Spec):
    """A training pipeline described in YAML.

    Required: ``name``, ``data``, ``label``, ``train``. Everything else has a
    default: features inferred, random 70/15/15 split, the preprocessing
    defaults per type, the default metrics of the task, no gate.
    """

    name: str = Field(max_length=200)
    description: str = ""
    data: str | DataSourceSpec
    label: str
    features: list[str] | dict[str, FeatureType | None] | None = None
    drop: list[str] = Field(default_factory=list)
    schema_file: str | None = Field(None, alias="schema")
    validate_data: ValidateSpec = Field(default_factory=ValidateSpec, alias="validate")
    drift: DriftSpec = Field(default_factory=DriftSpec)
    split: SplitSpec = Field(default_factory=SplitSpec)
    preprocess: PreprocessSpec = Field(default_factory=PreprocessSpec)
    train: TrainSpec
    evaluate: EvaluateSpec = Field(default_factory=EvaluateSpec)
    tune: TuneSpec | None = None
    gate: GateSpec | None = None
    registration: RegisterSpec | None = Field(None, alias="register")
    steps: list[CustomStepSpec] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_][\w.-]*", value):
            raise ValueError(
                f"{value!r} is not a valid name: use letters, digits, '_', '-' and '.', "
                "starting with a letter, digit or '_'"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PipelineSpec:
        if self.label in self.drop:
            raise ValueError(f"the label {self.label!r} is also in 'drop'")
        names = [s.name for s in self.steps]
        reserved = {
            "ingest", "split", "features", "preprocess", "tune", "train", "evaluate", "gate", "bundle",
            "register",
        }
        for step_spec in self.steps:
            if step_spec.name in reserved or names.count(step_spec.name) > 1:
                raise ValueError(
                    f"custom step name {step_spec.name!r} is taken; standard steps: "
                    f"{', '.join(sorted(reserved))}"
                )
            if step_spec.after != "ingest" and step_spec.after not in names:
                raise ValueError(
                    f"custom step {step_spec.name!r} runs after {step_spec.after!r}, which is "
                    f"neither 'ingest' nor a custom step ({', '.join(names)})"
                )
        return self

    def declared_features(self) -> dict[str, str | None]:
        """Columns named under ``features`` with their declared type (None: infer).

        A list selects the feature columns; a mapping declares types, and the
        columns it leaves out are features too, with inferred types.
        """
        if self.features is None:
            return {}
        if isinstance(self.features, list):
            return {name: None for name in self.features}
        return dict(self.features)


__all__ = [
    "ALIAS_NAME",
    "CLASSIFICATION_METRICS",
    "DATETIME_PARTS",
    "FEATURE_TYPES",
    "MAXIMIZED_METRICS",
    "METHODS",
    "METRICS",
    "MODEL_NAME",
    "MODEL_STAGES",
    "REGRESSION_METRICS",
    "RESERVED_ALIASES",
    "SEARCH_FORMS",
    "SEARCH_METHODS",
    "ColumnDriftSpec",
    "CustomStepSpec",
    "DataSourceSpec",
    "DriftSpec",
    "EvaluateSpec",
    "GateSpec",
    "Method",
    "MustBeatSpec",
    "PipelineSpec",
    "PreprocessSpec",
    "Ratios",
    "RegisterSpec",
    "SearchDimension",
    "SplitSpec",
    "Threshold",
    "TrainSpec",
    "TuneSpec",
    "ValidateSpec",
    "alias_problem",
    "model_name_problem",
]
