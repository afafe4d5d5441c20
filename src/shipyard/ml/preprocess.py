"""``shipyard.ml.preprocess`` builds the scikit-learn preprocessing from feature types.

Each column first goes through the preparation its type needs (numbers as
floats, booleans as 0/1, categories as strings), then through the methods of
its type (``preprocess.numeric`` ...) or its own list (``preprocess.columns``).
Columns sharing a type and a method list share one transformer. The result is
an unfitted ``ColumnTransformer``; the pipeline fits it on the train split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.config.spec import Method, PreprocessSpec
from shipyard.errors import ShipyardError


class PreprocessError(ShipyardError):
    """A preprocessing method does not fit a column."""

    headline = "Invalid preprocessing"


def _params(cls: type) -> set[str]:
    import inspect

    return set(inspect.signature(cls).parameters)


def _method_step(method: Method, feature_type: str) -> list[tuple[str, Any]]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import (
        KBinsDiscretizer,
        MinMaxScaler,
        OneHotEncoder,
        OrdinalEncoder,
        RobustScaler,
        StandardScaler,
    )

    from shipyard.bundle import transformers as t

    o = method.options
    name = method.name
    if name == "impute":
        fill = o["value"]
        if o["strategy"] == "constant" and fill is None:
            fill = 0 if feature_type in ("numeric", "boolean") else "missing"
        return [("impute", SimpleImputer(strategy=o["strategy"], fill_value=fill, keep_empty_features=True))]
    simple = {
        "standard": StandardScaler,
        "minmax": MinMaxScaler,
        "robust": RobustScaler,
        "log1p": t.SignedLog1p,
    }
    if name in simple:
        return [(name, simple[name]())]
    if name == "clip":
        return [("clip", t.Clip(o["min"], o["max"]))]
    if name == "bucketize":
        if o["edges"]:
            return [("bucketize", t.Bucketize(sorted(o["edges"])))]
        kwargs: dict[str, Any] = {"n_bins": o["bins"], "encode": "ordinal", "strategy": o["strategy"]}
        if o["strategy"] == "quantile" and "quantile_method" in _params(KBinsDiscretizer):
            kwargs["quantile_method"] = "averaged_inverted_cdf"  # the future default
        return [("bucketize", KBinsDiscretizer(**kwargs))]
    if name == "onehot":
        return [("onehot", OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            max_categories=o["max_categories"],
            min_frequency=o["min_frequency"],
            sparse_output=False,
        ))]
    if name == "ordinal":
        return [("ordinal", OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1
        ))]
    if name == "hash":
        return [("hash", t.HashEncoder(o["n_features"]))]
    if name == "datetime":
        return [("datetime", t.DatetimeParts(list(o["parts"])))]
    if name == "tfidf":
        return [
            ("text", t.TextColumn()),
            ("tfidf", TfidfVectorizer(max_features=o["max_features"], ngram_range=(1, o["ngram_max"]))),
        ]
    return []  # passthrough, boolean: the preparation already did the work


def _preparation(feature_type: str, methods: Sequence[Method]) -> list[tuple[str, Any]]:
    from shipyard.bundle import transformers as t

    if feature_type == "numeric":
        return [("as_float", t.ToFloat())]
    if feature_type == "boolean":
        return [("as_number", t.BooleanToNumber())]
    if feature_type == "categorical":
        return [("as_category", t.AsCategory())]
    if feature_type == "text" and not any(m.name == "tfidf" for m in methods):
        return [("as_category", t.AsCategory())]
    return []


def _check(column: str, feature_type: str, methods: Sequence[Method]) -> list[str]:
    problems = []
    for method in methods:
        if not method.applies_to(feature_type):
            problems.append(
                f"method {method.name!r} does not apply to {feature_type} column {column!r}"
            )
        elif (
            method.name == "impute"
            and method.options["strategy"] in ("mean", "median")
            and feature_type not in ("numeric", "boolean")
        ):
            problems.append(
                f"impute {method.options['strategy']} needs numbers; column {column!r} is "
                f"{feature_type} (use most_frequent or constant)"
            )
    if feature_type == "text" and sum(m.name == "tfidf" for m in methods) > 1:
        problems.append(f"text column {column!r} can have one tfidf")
    return problems


def build_preprocessor(features: Mapping[str, str], spec: PreprocessSpec) -> Any:
    """An unfitted ``ColumnTransformer`` for these feature types.

    Raises:
        PreprocessError: listing every method that does not fit its column's type,
            and every override naming a column that is not a feature.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    problems = [
        f"preprocess.columns names {column!r}, which is not a feature (features: "
        f"{', '.join(features)})"
        for column in spec.columns
        if column not in features
    ]
    groups: dict[tuple[str, str], list[str]] = {}
    methods_of: dict[tuple[str, str], list[Method]] = {}
    for column, feature_type in features.items():
        methods = spec.columns.get(column) or spec.for_type(feature_type)
        problems += _check(column, feature_type, methods)
        key = (feature_type, repr([m.model_dump() for m in methods]))
        if feature_type == "text":
            key = (feature_type, f"{key[1]}:{column}")  # TF-IDF reads one column
        groups.setdefault(key, []).append(column)
        methods_of[key] = list(methods)
    if problems:
        raise PreprocessError("; ".join(problems))
    transformers = []
    for index, (key, columns) in enumerate(groups.items()):
        feature_type, _ = key
        methods = methods_of[key]
        steps = _preparation(feature_type, methods)
        for method in methods:
            steps += _method_step(method, feature_type)
        name = f"{feature_type}_{index}"
        transformers.append((name, Pipeline(steps) if steps else "passthrough", columns))
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)


__all__ = ["PreprocessError", "build_preprocessor"]
