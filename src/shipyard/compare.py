"""``shipyard.compare`` provides diffs and comparisons of runs, like commits.

:func:`diff_runs` says what differs between two runs: their config (a key
level diff of the YAML spec, or a Python pipeline's target and params), step
params, data versions (with a data diff summary when they differ), code
(commit, dirty flag, remote), package versions, metrics (both values and the
delta) and which steps were served from the cache. :func:`compare_runs` puts
the params and metrics of many runs side by side, optionally sorted by a
metric. Both return JSON-ready dicts; the CLI renders them.

Example:
    >>> from shipyard import Client                         # doctest: +SKIP
    >>> Client().diff_runs("latest~1", "latest")["config"]  # doctest: +SKIP
    [{'key': 'train.params.max_iter', 'change': 'changed', 'a': 30, 'b': 50}]
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shipyard.engine.cache import flatten
from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from shipyard.client import Client
    from shipyard.stores.metadata import RunRecord, StepRunRecord

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: Config keys that say how a run was asked for, shown apart from the pipeline's own config.
_SETTINGS = ("target", "file", "cache")


# -- time filters ------------------------------------------------------------------------------


def parse_time(value: str | float | dt.datetime, *, end: bool = False, now: float | None = None) -> float:
    """A point in time as epoch seconds.

    Args:
        value: epoch seconds; a ``datetime``; a date (``2026-11-20``) or date and
            time (``2026-11-20 14:30``, ``2026-11-20T14:30:00``) in local time; or
            a time ago: ``30m``, ``12h``, ``3d``, ``2w`` (also ``s``).
        end: for a bare date, the end of that day (so ``--until 2026-11-20``
            includes the 20th).
        now: the current time (for tests).

    Raises:
        ShipyardError: for text that is none of these.
    """
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = float(relative[1]), relative[2].lower()
        return (time.time() if now is None else now) - amount * _UNITS[unit]
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        day = None
    if day is not None:
        start = dt.datetime.combine(day, dt.time())
        return (start + dt.timedelta(days=1) if end else start).timestamp()
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ShipyardError(
            f"{text!r} is not a time: give a date (2026-11-20), a date and time "
            "(2026-11-20 14:30) or a time ago (30m, 12h, 3d, 2w)."
        ) from None


# -- key-level diffs ---------------------------------------------------------------------------


def key_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The keys that differ between two nested mappings, by dotted path.

    Returns:
        ``{"key", "change" (added, removed or changed), "a", "b"}`` per key,
        sorted by key; a key one side lacks has ``None`` there.
    """
    flat_a, flat_b = flatten(a), flatten(b)
    out = []
    for key in sorted(set(flat_a) | set(flat_b)):
        if key not in flat_b:
            out.append({"key": key, "change": "removed", "a": flat_a[key], "b": None})
        elif key not in flat_a:
            out.append({"key": key, "change": "added", "a": None, "b": flat_b[key]})
        elif not _same(flat_a[key], flat_b[key]):
            out.append({"key": key, "change": "changed", "a": flat_a[key], "b": flat_b[key]})
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return (bool(a == b) and type(a) is type(b)) or (_number(a) and _number(b) and a == b)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# -- what a run is made of ---------------------------------------------------------------------


def config_kind(run: RunRecord) -> str:
    """``yaml`` for a YAML pipeline, ``python`` for a Python target, ``object`` otherwise."""
    if run.config.get("kind") == "yaml":
        return "yaml"
    return "python" if run.config.get("target") else "object"


def config_view(run: RunRecord) -> dict[str, Any]:
    """The part of a run's config that defines its pipeline: the YAML spec as
    run (overrides applied), or a Python pipeline's params."""
    if config_kind(run) == "yaml":
        return dict(run.config.get("spec") or {})
    return {"params": dict(run.config.get("params") or {})}


def flat_params(params: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A run's params by dotted key: ``step.param[.sub...]`` (pipeline params without a step)."""
    out: dict[str, Any] = {}
    for step, values in params.items():
        out.update(flatten(values, f"{step}." if step else ""))
    return out


def data_versions(client: Client, run: RunRecord, steps: Sequence[StepRunRecord]) -> list[dict[str, Any]]:
    """The data a run read: each output of its data steps (tagged ``data``, e.g.
    ``ingest``), with the dataset version or source it came from and its size."""
    data_steps = {s["name"] for s in run.graph.get("steps", []) if "data" in s.get("tags", [])}
    out = []
    for record in steps:
        if record.step not in data_steps:
            continue
        for output, artifact_id in sorted(record.outputs.items()):
            entry: dict[str, Any] = {
                "step": record.step,
                "output": output,
                "artifact": artifact_id,
                "status": record.status,
            }
            for key in ("dataset", "path", "query"):
                if record.params.get(key):
                    entry[key] = record.params[key]
            for key in ("rows", "columns"):
                if key in record.metrics:
                    entry[key] = int(record.metrics[key])
            out.append(entry)
    return out


def _dataset_version(client: Client, ref: str | None) -> Any:
    if not ref:
        return None
    from shipyard.data.refs import parse_ref

    try:
        name, version = parse_ref(ref)
        return client.metadata_store.get_dataset_version(name, version)
    except ShipyardError:
        return None


def _split_statistics(client: Client, steps: Sequence[StepRunRecord], split: str = "train") -> Any:
    """The statistics the run's ``statistics`` step recorded for a split, or None."""
    from shipyard.data.statistics import Statistics

    for record in steps:
        if record.step == "statistics" and "output" in record.outputs:
            try:
                stats = client.load_artifact(record.outputs["output"])
                return Statistics.from_json(stats[split])
            except (ShipyardError, KeyError, TypeError, ValueError, OSError):
                return None
    return None


def _data_summary(
    client: Client,
    data_a: list[dict[str, Any]],
    data_b: list[dict[str, Any]],
    steps_a: Sequence[StepRunRecord],
    steps_b: Sequence[StepRunRecord],
) -> dict[str, Any] | None:
    """How the data of two runs differ: rows, columns and the drift between their statistics.

    Cheap: it reads recorded statistics (a dataset version's, else the train
    split's the run computed), never the data itself.
    """
    from shipyard.data.datasets import diff as statistics_diff

    first_a = data_a[0] if data_a else {}
    first_b = data_b[0] if data_b else {}
    version_a = _dataset_version(client, first_a.get("dataset"))
    version_b = _dataset_version(client, first_b.get("dataset"))
    summary: dict[str, Any] = {
        "rows": [first_a.get("rows"), first_b.get("rows")],
        "columns": [first_a.get("columns"), first_b.get("columns")],
    }
    stats_a = stats_b = None
    if version_a is not None and version_b is not None:
        summary["rows"] = [version_a.rows, version_b.rows]
        summary["columns"] = [len(version_a.columns), len(version_b.columns)]
        try:
            stats_a = client.datasets.statistics(version_a)
            stats_b = client.datasets.statistics(version_b)
            summary["basis"] = f"statistics of datasets {version_a.ref} and {version_b.ref}"
        except (ShipyardError, OSError):
            stats_a = stats_b = None
    if stats_a is None or stats_b is None:
        stats_a, stats_b = _split_statistics(client, steps_a), _split_statistics(client, steps_b)
        if stats_a is not None and stats_b is not None:
            summary["basis"] = "statistics of each run's train split"
    if stats_a is None or stats_b is None:
        summary["basis"] = None
        return summary
    found = statistics_diff(stats_a, stats_b)
    summary["columns_added"] = found["columns_added"]
    summary["columns_removed"] = found["columns_removed"]
    summary["type_changed"] = found["type_changed"]
    summary["drifted"] = found["drifted"]
    summary["drift"] = {
        column: shift["drift"] for column, shift in found["statistics"].items() if "drift" in shift
    }
    if summary["columns"] == [None, None]:
        summary["columns"] = [len(stats_a.columns), len(stats_b.columns)]
    return summary


def _code(run: RunRecord) -> dict[str, Any]:
    return {
        "commit": run.git_commit,
        "branch": run.git_branch,
        "dirty": run.git_dirty,
        "remote": run.git_remote,
        "diff_artifact": run.git_diff_id,
    }


def _packages(a: RunRecord, b: RunRecord) -> dict[str, Any]:
    env_a, env_b = a.environment or {}, b.environment or {}
    pkgs_a, pkgs_b = dict(env_a.get("packages") or {}), dict(env_b.get("packages") or {})
    changed = [
        {"name": name, "a": pkgs_a.get(name), "b": pkgs_b.get(name)}
        for name in sorted(set(pkgs_a) | set(pkgs_b), key=str.lower)
        if pkgs_a.get(name) != pkgs_b.get(name)
    ]
    python = None
    if env_a.get("python") != env_b.get("python"):
        python = {"a": env_a.get("python"), "b": env_b.get("python")}
    return {"python": python, "changed": changed}


def _step_order(*runs: RunRecord) -> list[str]:
    order: list[str] = []
    for run in runs:
        for step in run.graph.get("steps", []):
            if step["name"] not in order:
                order.append(step["name"])
    return order


def _metric_rows(
    a: Mapping[str, Mapping[str, float]], b: Mapping[str, Mapping[str, float]], order: Sequence[str]
) -> list[dict[str, Any]]:
    steps = sorted(set(a) | set(b), key=lambda s: (order.index(s) if s in order else len(order), s))
    rows = []
    for step in steps:
        values_a, values_b = a.get(step, {}), b.get(step, {})
        for name in sorted(set(values_a) | set(values_b)):
            va, vb = values_a.get(name), values_b.get(name)
            delta = vb - va if va is not None and vb is not None else None
            rows.append(
                {
                    "step": step,
                    "metric": name,
                    "a": va,
                    "b": vb,
                    "delta": delta,
                    "equal": va is not None and vb is not None and _same(va, vb),
                }
            )
    return rows


def _step_state(record: StepRunRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "status": record.status,
        "reason": record.reason,
        "outputs": dict(record.outputs),
        "duration": record.duration,
    }


def _run_summary(run: RunRecord, tags: list[str]) -> dict[str, Any]:
    return {
        "id": run.id,
        "pipeline": run.pipeline,
        "status": run.status,
        "started_at": run.started_at,
        "user": run.user,
        "cache": bool(run.config.get("cache", True)),
        "reproduces": run.reproduces,
        "tags": tags,
    }


def diff_runs(client: Client, a: str | RunRecord, b: str | RunRecord) -> dict[str, Any]:
    """What differs between two runs, section by section.

    Args:
        client: the client whose stores hold both runs.
        a: the first run (id, unique prefix, ``latest``, ``latest~N`` or record).
        b: the second run; deltas are ``b - a``.

    Returns:
        A JSON-ready dict with ``a`` and ``b`` (who, when, tags), ``config``
        (changed keys of the pipeline's config, dotted), ``settings`` (target,
        file, cache), ``params`` (changed step params, dotted), ``data`` (each
        run's data versions, whether they are the same, and a ``summary`` when
        they differ), ``code`` (commit, dirty flag, remote of each),
        ``packages`` (the versions that differ), ``metrics`` (every metric of
        either run with both values, the delta and whether they are equal),
        ``steps`` (each step's status in each run: executed or served from
        the cache, and whether its outputs are the same) and ``same_metrics``.
    """
    from shipyard.stores.metadata.annotations import run_tags

    run_a = a if not isinstance(a, str) else client.get_run(a)
    run_b = b if not isinstance(b, str) else client.get_run(b)
    steps_a, steps_b = client.step_runs(run_a), client.step_runs(run_b)
    tags = run_tags(client.metadata_store, [run_a.id, run_b.id])
    kind_a, kind_b = config_kind(run_a), config_kind(run_b)

    data_a = data_versions(client, run_a, steps_a)
    data_b = data_versions(client, run_b, steps_b)
    same_data = [d["artifact"] for d in data_a] == [d["artifact"] for d in data_b]
    data: dict[str, Any] = {"a": data_a, "b": data_b, "same": same_data, "summary": None}
    if not same_data and data_a and data_b:
        data["summary"] = _data_summary(client, data_a, data_b, steps_a, steps_b)

    settings_a = {k: run_a.config.get(k) for k in _SETTINGS if k in run_a.config}
    settings_b = {k: run_b.config.get(k) for k in _SETTINGS if k in run_b.config}
    settings = key_diff(settings_a, settings_b)
    if run_a.orchestrator != run_b.orchestrator:
        settings.append(
            {"key": "orchestrator", "change": "changed", "a": run_a.orchestrator, "b": run_b.orchestrator}
        )

    order = _step_order(run_a, run_b)
    by_step_a = {s.step: s for s in steps_a}
    by_step_b = {s.step: s for s in steps_b}
    steps = []
    for name in order + sorted((set(by_step_a) | set(by_step_b)) - set(order)):
        sa, sb = by_step_a.get(name), by_step_b.get(name)
        steps.append(
            {
                "step": name,
                "a": _step_state(sa),
                "b": _step_state(sb),
                "same_outputs": sa is not None and sb is not None and bool(sa.outputs)
                and sa.outputs == sb.outputs,
            }
        )

    metrics = _metric_rows(client.metrics(run_a), client.metrics(run_b), order)
    code_a, code_b = _code(run_a), _code(run_b)
    return {
        "a": _run_summary(run_a, tags.get(run_a.id, [])),
        "b": _run_summary(run_b, tags.get(run_b.id, [])),
        "kind": [kind_a, kind_b],
        "config": key_diff(config_view(run_a), config_view(run_b)),
        "settings": settings,
        "params": key_diff(flat_params(client.params(run_a)), flat_params(client.params(run_b))),
        "data": data,
        "code": {
            "a": code_a,
            "b": code_b,
            "same_commit": code_a["commit"] == code_b["commit"],
            "same": code_a["commit"] == code_b["commit"]
            and not code_a["dirty"]
            and not code_b["dirty"],
        },
        "packages": _packages(run_a, run_b),
        "metrics": metrics,
        "same_metrics": bool(metrics) and all(row["equal"] for row in metrics),
        "steps": steps,
    }


# -- comparing many runs -----------------------------------------------------------------------


def metric_direction(metric: str) -> str:
    """``max`` when a larger value of the metric is better (roc_auc, accuracy, r2...), else ``min``."""
    from shipyard.ml.tune import direction_of

    return direction_of(metric.rsplit(".", 1)[-1].rsplit("/", 1)[-1])


def metric_columns(runs_metrics: Iterable[Mapping[str, Mapping[str, float]]]) -> list[dict[str, str]]:
    """The metrics of several runs as columns: ``{"key", "step", "metric"}``.

    ``key`` is the metric's name, or ``step/name`` when two steps log the same name.
    """
    seen: dict[tuple[str, str], None] = {}
    for metrics in runs_metrics:
        for step, values in metrics.items():
            for name in values:
                seen.setdefault((step, name), None)
    steps_of: dict[str, set[str]] = {}
    for step, name in seen:
        steps_of.setdefault(name, set()).add(step)
    return [
        {"key": name if len(steps_of[name]) == 1 else f"{step}/{name}", "step": step, "metric": name}
        for step, name in seen
    ]


def resolve_metric(name: str, keys: Sequence[str]) -> str:
    """The metric column ``name`` names: an exact key, or a name such as ``roc_auc``
    that ends one key (``eval.`` ones are preferred: the eval split picks models).

    Raises:
        ShipyardError: when it names no metric, or several and none on the eval split.
    """
    if name in keys:
        return name
    ends = [k for k in keys if k.endswith(f".{name}") or k.endswith(f"/{name}")]
    whole = [k for k in ends if "[" not in k]
    candidates = whole or ends
    if len(candidates) == 1:
        return candidates[0]
    preferred = [k for k in candidates if k.split("/")[-1] == f"eval.{name}"]
    if len(preferred) == 1:
        return preferred[0]
    if not candidates:
        listing = ", ".join(k for k in keys if "[" not in k) or "none"
        raise ShipyardError(f"No metric {name!r} in these runs; their metrics: {listing}.")
    raise ShipyardError(
        f"Metric {name!r} is ambiguous; it may be {', '.join(candidates[:6])}. Give one of them."
    )


def compare_runs(
    client: Client,
    refs: Sequence[str | RunRecord] = (),
    *,
    pipeline: str | None = None,
    last: int | None = None,
    sort: str | None = None,
) -> dict[str, Any]:
    """The params and metrics of several runs side by side.

    Args:
        client: the client whose stores hold the runs.
        refs: the runs (ids, prefixes, ``latest``, ``latest~N`` or records).
        pipeline: with ``last``, or without ``refs``: the newest runs of this pipeline.
        last: how many of the newest runs (of ``pipeline``, if given) to add; default 10
            when no run is named.
        sort: a metric to order the runs by, best first: descending for
            metrics where higher is better (roc_auc, accuracy, f1, r2...),
            ascending for the others (losses, errors). Runs without it come last.

    Returns:
        ``runs`` (each with its id, pipeline, status, start, user, tags, flat
        ``params`` and ``metrics`` by column key), ``params`` (the keys whose
        values differ between the runs), ``metrics`` (column keys with their
        step and name) and ``sort`` (``{"metric", "direction"}`` or None).
    """
    from shipyard.stores.metadata.annotations import run_tags

    records: dict[str, RunRecord] = {}
    for ref in refs:
        run = ref if not isinstance(ref, str) else client.get_run(ref)
        records.setdefault(run.id, run)
    if pipeline is not None or last is not None or not refs:
        for run in client.runs(pipeline=pipeline, limit=last or 10):
            records.setdefault(run.id, run)
    if not records:
        where = f" of pipeline {pipeline!r}" if pipeline else ""
        raise ShipyardError(f"No runs{where} to compare.", hint="`shipyard runs list` shows the runs.")
    runs = list(records.values())
    params = {run.id: flat_params(client.params(run)) for run in runs}
    metrics = {run.id: client.metrics(run) for run in runs}
    columns = metric_columns(metrics[run.id] for run in runs)
    tags = run_tags(client.metadata_store, records)
    keys = sorted({k for values in params.values() for k in values})
    varying = [
        k
        for k in keys
        if len(runs) > 1 and any(not _same(params[r.id].get(k), params[runs[0].id].get(k)) for r in runs)
    ]
    rows = []
    for run in runs:
        flat = {c["key"]: metrics[run.id].get(c["step"], {}).get(c["metric"]) for c in columns}
        rows.append(
            {
                "id": run.id,
                "pipeline": run.pipeline,
                "status": run.status,
                "started_at": run.started_at,
                "user": run.user,
                "reproduces": run.reproduces,
                "tags": tags.get(run.id, []),
                "params": params[run.id],
                "metrics": {k: v for k, v in flat.items() if v is not None},
            }
        )
    sort_info = None
    if sort:
        key = resolve_metric(sort, [c["key"] for c in columns])
        direction = metric_direction(key)
        sign = -1.0 if direction == "max" else 1.0

        def order(row: dict[str, Any]) -> tuple[int, float]:
            value = row["metrics"].get(key)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return (1, 0.0)
            return (0, sign * value)

        rows.sort(key=order)
        sort_info = {"metric": key, "direction": direction}
    return {"runs": rows, "params": varying, "metrics": columns, "sort": sort_info}


__all__ = [
    "compare_runs",
    "config_kind",
    "config_view",
    "data_versions",
    "diff_runs",
    "flat_params",
    "flatten",
    "key_diff",
    "metric_columns",
    "metric_direction",
    "parse_time",
    "resolve_metric",
]
