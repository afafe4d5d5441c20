"""``shipyard.ml.scaffold`` writes a starting pipeline YAML inferred from a data file.

``shipyard init --from data.csv --label COL`` uses it: it reads a sample of
the file, infers the task and the feature types, picks a split (by time when
a time-like column exists, stratified for classification, random otherwise)
and a default model, and writes each block with a comment saying why.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from shipyard.data.sources import DataError, file_format, iter_chunks

SAMPLE_ROWS = 20_000
MODELS = {
    "classification": "sklearn.ensemble.HistGradientBoostingClassifier",
    "regression": "sklearn.ensemble.HistGradientBoostingRegressor",
}
_TIME_NAME = re.compile(r"(time|date|timestamp|_at|_ts|datetime)$|^(dt|ts|date|time)", re.I)


def _yaml_value(value: object) -> str:
    """``value`` as YAML: bare when YAML reads it back unchanged, else quoted."""
    import yaml

    if isinstance(value, str) and re.fullmatch(r"[A-Za-z_][\w./-]*", value):
        try:
            if yaml.safe_load(value) == value:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value)


def scaffold_pipeline(data: Path, label: str, *, name: str | None = None, relative_to: Path | None = None) -> str:
    """The text of a pipeline YAML for ``data`` predicting ``label``.

    Raises:
        DataError: when the file cannot be read or lacks the label column.
    """
    from shipyard.ml.features import infer_task, infer_type

    file_format(data)
    if not data.is_file():
        raise DataError(f"{data} is not a file." if data.exists() else f"{data} does not exist.")
    try:
        sample = next(iter_chunks(data, SAMPLE_ROWS))
    except StopIteration:
        raise DataError(f"{data} has no rows.") from None
    if sample.empty:
        raise DataError(f"{data} has no rows.")
    if label not in sample.columns:
        raise DataError(
            f"{data.name} has no column {label!r}; columns: {', '.join(map(str, sample.columns))}."
        )
    task = infer_task(sample[label])
    types = {c: infer_type(sample[c]) for c in sample.columns if c != label}
    time_column = next((c for c, t in types.items() if t == "datetime"), None) or next(
        (c for c, t in types.items() if t == "numeric" and _TIME_NAME.search(str(c))), None
    )
    base = relative_to or Path.cwd()
    try:
        data_path = os.path.relpath(data.resolve(), base.resolve())
    except ValueError:
        data_path = str(data.resolve())
    pipeline_name = name or re.sub(r"[^\w.-]+", "-", data.stem).strip("-") or "pipeline"
    if not re.fullmatch(r"[A-Za-z0-9_][\w.-]*", pipeline_name):
        raise DataError(
            f"--name {pipeline_name!r} is not a valid pipeline name: use letters, digits, '_', '-' and '.'."
        )
    counts = ", ".join(
        f"{n} {t}" for t, n in sorted(
            {t: sum(1 for v in types.values() if v == t) for t in set(types.values())}.items()
        )
    )
    lines = [
        f"# Pipeline for {data.name}: predict {label!r} ({task}, inferred from its values).",
        "# Run it with: shipyard run " + "<this file>",
        f"name: {_yaml_value(pipeline_name)}",
        f"data: {_yaml_value(data_path)}",
        f"label: {_yaml_value(label)}",
        "",
        f"# Inferred feature types ({counts}); change a type here, or list only the",
        "# columns to use. Omitted columns would be inferred on each run.",
        "features:",
        *(f"  {_yaml_value(c)}: {t}" for c, t in types.items()),
        "",
    ]
    if time_column is not None:
        lines += [
            f"# {time_column!r} looks like time: train on the earliest rows, test on the latest.",
            f"split: {{by: time, column: {_yaml_value(time_column)}, "
            "ratios: {train: 0.7, eval: 0.15, test: 0.15}}",
        ]
    elif task == "classification":
        lines += [
            "# No time column found: a stratified split keeps the label's class shares.",
            "split: {by: stratified, ratios: {train: 0.7, eval: 0.15, test: 0.15}, seed: 0}",
        ]
    else:
        lines += [
            "# No time column found: a seeded random split.",
            "split: {by: random, ratios: {train: 0.7, eval: 0.15, test: 0.15}, seed: 0}",
        ]
    lines += [
        "",
        "# A strong default for tables; any estimator with fit/predict works here.",
        f"train: {{model: {MODELS[task]}, params: {{max_iter: 200}}}}",
        "",
        "# Metrics default to the task's usual ones; add slices: [column] for per-value metrics.",
        "# gate: {" + ("roc_auc: {min: 0.75}" if task == "classification" else "r2: {min: 0.5}") + "}",
        "",
    ]
    return "\n".join(lines)


__all__ = ["scaffold_pipeline"]
