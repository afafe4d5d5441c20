"""``shipyard.ui.data`` provides the data of each dashboard page, as JSON-ready dicts.

:class:`Dashboard` reads a stack through a read-only client and returns, for
each page, one dict: the JSON API sends it as it is, the HTML page renders
it. Nothing here writes to a store.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError
from shipyard.stores.metadata.records import RUN_STATUSES

if TYPE_CHECKING:
    from shipyard.stores.metadata import ArtifactRecord, RunRecord, StepRunRecord
    from shipyard.ui.store import ReadOnlyClient, ReadOnlyMetadataStore

PER_PAGE = 50
MAX_PER_PAGE = 200
PREVIEW_ROWS = 20
PREVIEW_CHARS = 80
MAX_COMPARE = 8
#: How a step's recorded status is shown on the graph.
STEP_LABELS = {"completed": "ran", "cached": "cached", "failed": "failed", "skipped": "skipped"}
NOT_RUN = "not run"
_TABLE_FILES = {"pandas-parquet": "data.parquet", "arrow-parquet": "data.parquet"}


class Dashboard:
    """The pages' data for one stack.

    Args:
        client: a read-only client on the stack.
    """

    def __init__(self, client: ReadOnlyClient) -> None:
        self.client = client
        self.store: ReadOnlyMetadataStore = client.metadata_store
        # Finished runs and content-addressed artifacts never change: their
        # reports can be kept once built.
        self._report_html = lru_cache(maxsize=16)(self._build_report_html)
        self._statistics_html = lru_cache(maxsize=16)(self._build_statistics_html)
        self._drift_html = lru_cache(maxsize=16)(self._build_drift_html)
        self._traffic_cache: dict[str, tuple[tuple[int, str], tuple[Any, Any, Any, int]]] = {}

    @property
    def title(self) -> str:
        """The project's name (its folder), or the stack's."""
        folder = self.client.stack.project_dir
        return folder.name if folder is not None else self.client.stack.name

    def shown_path(self, text: str | None) -> str | None:
        """A path or file URL inside the project, shown relative to it (``pipeline.yaml``)."""
        folder = self.client.stack.project_dir
        if not text or folder is None:
            return text
        path = text.removeprefix("file://")
        head, sep, tail = path.partition(":")  # file.py:pipeline targets
        for candidate, rest in ((path, ""), (head, sep + tail)):
            try:
                return Path(candidate).relative_to(folder.resolve()).as_posix() + rest
            except ValueError:
                continue
        return text

    # -- runs ------------------------------------------------------------

    def runs(
        self,
        *,
        pipeline: str | None = None,
        user: str | None = None,
        status: str | None = None,
        metric: str | None = None,
        sort: str = "started",
        order: str = "desc",
        page: int = 1,
        per_page: int = PER_PAGE,
    ) -> dict[str, Any]:
        """One page of runs (newest first unless sorted otherwise), with the filter choices.

        Raises:
            ShipyardError: for an unknown status, sort or order, or a page out of range.
        """
        if status and status not in RUN_STATUSES:
            raise ShipyardError(f"Status {status!r} is not one of {', '.join(RUN_STATUSES)}.")
        if order not in ("asc", "desc"):
            raise ShipyardError(f"Order {order!r} is not asc or desc.")
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            raise ShipyardError(f"Page {page} of {per_page} runs: expected page >= 1 and 1-{MAX_PER_PAGE} per page.")
        found = self.store.runs_page(
            pipeline=pipeline or None, user=user or None, status=status or None, metric=metric or None,
            sort=sort, descending=order == "desc", limit=per_page, offset=(page - 1) * per_page,
        )
        return {
            "runs": found.rows,
            "total": found.total,
            "page": page,
            "per_page": per_page,
            "pages": max(1, math.ceil(found.total / per_page)),
            "filters": {
                "pipeline": pipeline or None, "user": user or None, "status": status or None,
                "metric": metric or None, "sort": sort, "order": order,
            },
            "choices": {
                "pipelines": self.store.list_pipelines(),
                "users": self.store.run_users(),
                "statuses": list(RUN_STATUSES),
                "metrics": self.store.metric_keys(),
            },
        }

    def run(self, ref: str) -> dict[str, Any]:
        """Everything about a run: graph, steps, params, metrics, config, git, artifacts, trials."""
        client, store = self.client, self.store
        run = client.get_run(ref)
        steps = client.step_runs(run)
        metrics = client.metrics(run)
        artifact_ids = {a for s in steps for a in (*s.inputs.values(), *s.outputs.values())}
        if run.git_diff_id:
            artifact_ids.add(run.git_diff_id)
        artifacts = store.get_artifacts(artifact_ids)
        cached_from = {}
        for record in steps:
            if record.cached_from:
                with contextlib.suppress(ShipyardError):
                    cached_from[record.step] = store.get_step_run(record.cached_from).run_id
        done = {s.step for s in steps if s.status in ("completed", "cached")}
        bundles = [
            {"step": s.step, "output": name, "artifact": aid}
            for s in steps for name, aid in s.outputs.items()
            if aid in artifacts and artifacts[aid].materializer == "model-bundle"
        ]
        # Like the client: the bundle step's output when there is one, else the last bundle made.
        bundles = [b for b in bundles if b["step"] == "bundle"] or bundles[-1:]
        trials = []
        searches = any("trials" in s.get("tags", []) for s in run.graph.get("steps", []))
        if run.parent_id is None and searches:
            for child in client.trials(run):
                trials.append({
                    "id": child.run.id, "status": child.run.status, "trial": child.run.config.get("trial"),
                    "metric": child.run.config.get("metric"), "value": child.run.config.get("value"),
                    "chosen": bool(child.run.config.get("chosen")), "params": child.params,
                    "duration": child.run.duration,
                })
        registered = []
        if self.has_models and bundles:
            tables = self.client.models.tables
            for bundle in bundles:
                registered += [
                    {"model": v.model, "version": v.version, "stage": v.stage, "aliases": list(v.aliases)}
                    for v in tables.versions_of_bundle(bundle["artifact"])
                ]
        return {
            "run": _run_fields(run),
            "graph": self._graph(run, steps, cached_from),
            "models": registered,
            "steps": [_step_fields(s, cached_from.get(s.step)) for s in steps],
            "params": client.params(run),
            "metrics": metrics,
            "metric_tables": metric_tables(metrics),
            "config": run.config,
            "source": self.shown_path(run.config.get("target") or run.config.get("source")),
            "environment": run.environment,
            "git": {
                "commit": run.git_commit, "branch": run.git_branch, "dirty": run.git_dirty,
                "remote": run.git_remote, "diff_artifact": run.git_diff_id,
            },
            "artifacts": {aid: _artifact_fields(a) for aid, a in artifacts.items()},
            "data_versions": self._data_versions(run, steps),
            "bundles": bundles,
            "report": "statistics" in done,
            "trials": trials,
            "parent": run.parent_id,
            "reproduces": run.reproduces,
        }

    def _graph(self, run: RunRecord, steps: Sequence[StepRunRecord], cached_from: Mapping[str, str]) -> dict[str, Any]:
        """The pipeline's DAG with each step's status: nodes, edges and counts by status."""
        by_step = {s.step: s for s in steps}
        declared = run.graph.get("steps") or []
        names = [s["name"] for s in declared] + [s.step for s in steps if s.step not in {d["name"] for d in declared}]
        edges = []
        for spec in declared:
            for ref in (spec.get("inputs") or {}).values():
                source = str(ref).split(".", 1)[0]
                if source in names and (source, spec["name"]) not in edges:
                    edges.append((source, spec["name"]))
        waiting = "pending" if run.status == "running" else NOT_RUN
        nodes = []
        for name in names:
            record = by_step.get(name)
            status = STEP_LABELS.get(record.status, record.status) if record is not None else waiting
            nodes.append({
                "name": name,
                "status": status,
                "duration": record.duration if record is not None else None,
                "reason": record.reason if record is not None else None,
                "cached_from": cached_from.get(name),
            })
        counts: dict[str, int] = {}
        for node in nodes:
            counts[node["status"]] = counts.get(node["status"], 0) + 1
        return {"nodes": nodes, "edges": [list(e) for e in edges], "counts": counts}

    def _data_versions(self, run: RunRecord, steps: Sequence[StepRunRecord]) -> list[dict[str, Any]]:
        from shipyard.compare import data_versions

        return data_versions(self.client, run, steps)

    # -- reports ---------------------------------------------------------

    def report(self, ref: str) -> dict[str, Any]:
        """A run's data report as JSON: statistics by split, validation, train-vs-split drift.

        Raises:
            ShipyardError: when the run recorded no statistics.
        """
        run = self.client.get_run(ref)
        stats, validation, skew = self._report_parts(run)
        return {"run_id": run.id, "pipeline": run.pipeline, "statistics": stats, "validation": validation, "skew": skew}

    def _report_parts(self, run: RunRecord) -> tuple[dict[str, Any], Any, Any]:
        done = {s.step: s for s in self.client.step_runs(run) if s.status in ("completed", "cached")}
        if "statistics" not in done:
            raise ShipyardError(
                f"Run {run.id} has no data report: it recorded no data statistics (a YAML pipeline "
                "run records them in its statistics step)."
            )
        load = self.client.load_artifact
        stats = load(done["statistics"].outputs["output"])
        validation = load(done["validate"].outputs["output"]) if "validate" in done else None
        skew = load(done["skew"].outputs["output"]) if "skew" in done else None
        return stats, validation, skew

    def report_html(self, ref: str) -> str:
        """A run's data report as the self-contained HTML document ``shipyard report`` writes."""
        run = self.client.get_run(ref)
        if run.status == "running":
            return self._build_report_html(run.id)
        return self._report_html(run.id)

    def _build_report_html(self, run_id: str) -> str:
        from shipyard.data.reports import run_report_html
        from shipyard.data.statistics import Statistics

        run = self.client.get_run(run_id)
        stats_json, validation, skew = self._report_parts(run)
        tables = {name: Statistics.from_json(data) for name, data in stats_json.items()}
        drift = [
            (f"Skew: train → {split}", skew[split], tables["train"], tables[split])
            for split in ("eval", "test") if skew and split in skew and "train" in tables and split in tables
        ]
        return run_report_html(
            title=f"Run {run.id} of {run.pipeline}", statistics=tables, validation=validation, drift=drift
        )

    def reports(self, *, page: int = 1, per_page: int = PER_PAGE) -> dict[str, Any]:
        """Runs with a data report (newest first, paginated) and the datasets' statistics."""
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            raise ShipyardError(f"Page {page} of {per_page}: expected page >= 1 and 1-{MAX_PER_PAGE} per page.")
        ids, total = self.store.runs_with_step("statistics", limit=per_page, offset=(page - 1) * per_page)
        summaries = self.store.run_summaries(ids)
        return {
            "runs": [summaries[i] for i in ids if i in summaries],
            "total": total,
            "page": page,
            "per_page": per_page,
            "pages": max(1, math.ceil(total / per_page)),
            "datasets": [v.to_dict() for v in self.store.list_datasets()],
        }

    # -- artifacts -------------------------------------------------------

    def artifact(self, ref: str, *, page: int = 1, per_page: int = PER_PAGE, depth: int = 2) -> dict[str, Any]:
        """An artifact: its record, producer, consumers (paginated), preview and lineage graph."""
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE or not 1 <= depth <= 5:
            raise ShipyardError("Expected page >= 1, 1-200 per page and a lineage depth of 1-5.")
        record = self.client.get_artifact(ref)
        producers, produced = self.store.artifact_edges_page(record.id, kind="outputs", limit=20)
        consumers, consumed = self.store.artifact_edges_page(
            record.id, kind="inputs", limit=per_page, offset=(page - 1) * per_page, newest=True
        )
        return {
            "artifact": _artifact_fields(record),
            "location": self.shown_path(record.uri),
            "producers": producers,
            "producer_count": produced,
            "consumers": consumers,
            "consumer_count": consumed,
            "page": page,
            "per_page": per_page,
            "pages": max(1, math.ceil(consumed / per_page)),
            "datasets": self.store.artifact_of_dataset(record.id),
            "preview": self.preview(record),
            "lineage": self.lineage(record, depth=depth),
        }

    def preview(self, record: ArtifactRecord) -> dict[str, Any]:
        """What an artifact holds: a table's schema and first rows, a JSON text, or a summary.

        Returns:
            ``{"kind": "table", "rows", "schema": [[name, type]...], "head": [[cell...]...]}``,
            ``{"kind": "json", "text", ...}``, ``{"kind": "summary", "values"}`` or
            ``{"kind": "unavailable", "reason"}``. Cells are text (cut at 80
            characters) or None.
        """
        try:
            if record.materializer in _TABLE_FILES:
                return _table_preview(self.client.artifact_store.local_path(record.id) / _TABLE_FILES[record.materializer])
            from shipyard.engine.artifacts import describe_value

            described = describe_value(record, self.client.artifact_store)
        except (ShipyardError, OSError, ValueError, KeyError) as exc:
            return {"kind": "unavailable", "reason": str(getattr(exc, "message", None) or exc)}
        if "preview" in described and record.materializer == "json":
            return {"kind": "json", "text": described["preview"], "type": described.get("json_type"),
                    "length": described.get("length")}
        if "columns" in described and "head" in described:
            columns = described["columns"]
            head = described["head"]
            return {
                "kind": "table", "rows": described.get("rows"),
                "schema": [[str(n), str(tp)] for n, tp in columns.items()],
                "head": [[_cell(row.get(n)) for n in columns] for row in head],
            }
        return {"kind": "summary", "values": {str(k): _jsonable(v) for k, v in described.items()}}

    def lineage(self, record: ArtifactRecord, *, depth: int = 2, fanout: int = 6) -> dict[str, Any]:
        """The artifact's lineage graph: ``depth`` steps upstream and downstream.

        Upstream, each artifact's first producer (the step run that executed)
        and that step run's inputs; downstream, up to ``fanout`` consuming
        steps (the oldest run of each step name) and their outputs.

        Returns:
            ``nodes`` (``{"id", "kind": artifact|step, ...}``), ``edges``
            (``[from, to]``) and ``more``: how many consumers were left out.
        """
        store = self.store
        nodes: dict[str, dict[str, Any]] = {}
        edges: list[tuple[str, str]] = []
        names: dict[str, str] = {}
        more = 0

        def add_step(row: Mapping[str, Any]) -> str:
            key = f"s:{row['id']}"
            nodes.setdefault(key, {
                "id": key, "kind": "step", "step": row["step"], "run_id": row["run_id"],
                "status": STEP_LABELS.get(row["status"], row["status"]), "pipeline": row.get("pipeline"),
            })
            return key

        def add_artifact(artifact_id: str, name: str | None) -> str:
            key = f"a:{artifact_id}"
            nodes.setdefault(key, {"id": key, "kind": "artifact", "artifact": artifact_id})
            if name:
                names.setdefault(artifact_id, name)
            return key

        add_artifact(record.id, None)
        frontier = [record.id]
        for _ in range(depth):
            following = []
            for artifact_id in frontier:
                producer = self._producer(artifact_id)
                if producer is None:
                    continue
                names.setdefault(artifact_id, _label(producer["step"], producer["name"]))
                step = add_step(producer)
                edges.append((step, f"a:{artifact_id}"))
                inputs, _outputs = store.step_run_edges(producer["id"])
                for source in [inputs[k] for k in sorted(inputs)]:
                    if f"a:{source}" not in nodes:
                        following.append(source)
                    edges.append((add_artifact(source, None), step))
            frontier = following
        frontier = [record.id]
        for _ in range(depth):
            following = []
            for artifact_id in frontier:
                consumers, total = store.artifact_edges_page(artifact_id, kind="inputs", limit=fanout * 8)
                chosen: dict[tuple[str, str], Mapping[str, Any]] = {}
                for row in consumers:
                    chosen.setdefault((row["pipeline"], row["step"]), row)
                picked = list(chosen.values())[:fanout]
                more += total - len(picked)
                for row in picked:
                    step = add_step(row)
                    edges.append((f"a:{artifact_id}", step))
                    _inputs, outputs = store.step_run_edges(row["id"])
                    for name in sorted(outputs):
                        if f"a:{outputs[name]}" not in nodes:
                            following.append(outputs[name])
                        edges.append((step, add_artifact(outputs[name], _label(row["step"], name))))
            frontier = following
        records = store.get_artifacts(n["artifact"] for n in nodes.values() if n["kind"] == "artifact")
        for node in nodes.values():
            if node["kind"] == "artifact":
                found = records.get(node["artifact"])
                if node["artifact"] not in names:  # the upstream edge of the drawing: name it after its maker
                    producer = self._producer(node["artifact"])
                    if producer is not None:
                        names[node["artifact"]] = _label(producer["step"], producer["name"])
                node["name"] = names.get(node["artifact"])
                node["type"] = _short_type(found.data_type) if found else None
                node["size"] = found.size if found else None
        return {"center": f"a:{record.id}", "nodes": list(nodes.values()), "edges": [list(e) for e in dict.fromkeys(edges)],
                "more": max(more, 0)}

    def _producer(self, artifact_id: str) -> dict[str, Any] | None:
        """The step run that made an artifact (the one that executed), with the output's name."""
        record = self.store.get_artifacts([artifact_id]).get(artifact_id)
        if record is not None and record.producer:
            found = self.store.step_run_summary(record.producer)
            if found is not None:
                _inputs, outputs = self.store.step_run_edges(found["id"])
                name = next((n for n, a in sorted(outputs.items()) if a == artifact_id), None)
                if name is not None:
                    return found | {"name": name}
        rows, _total = self.store.artifact_edges_page(artifact_id, kind="outputs", limit=1)
        return rows[0] if rows else None

    # -- datasets --------------------------------------------------------

    def datasets(self) -> dict[str, Any]:
        """Every dataset with its latest version."""
        return {"datasets": [v.to_dict() for v in self.store.list_datasets()]}

    def dataset(self, name: str, version: int | None = None) -> dict[str, Any]:
        """A dataset: its versions and one version's statistics summary (the latest by default)."""
        chosen = self.store.get_dataset_version(name, version)
        versions = self.store.dataset_versions(name)
        stats = self.client.datasets.statistics(chosen)
        _used, uses = self.store.artifact_edges_page(chosen.artifact_id, kind="inputs", limit=1)
        return {
            "dataset": name,
            "version": chosen.to_dict(),
            "versions": [v.to_dict() for v in versions],
            "statistics": stats.summary(),
            "used_by_steps": uses,
        }

    def statistics_html(self, name: str, version: int | None = None) -> str:
        """A dataset version's statistics report (histograms and all), as ``data stats --format html`` writes it."""
        chosen = self.store.get_dataset_version(name, version)
        return self._statistics_html(chosen.name, chosen.version)

    def _build_statistics_html(self, name: str, version: int) -> str:
        from shipyard.data.reports import statistics_html

        chosen = self.store.get_dataset_version(name, version)
        stats = self.client.datasets.statistics(chosen)
        return statistics_html({chosen.ref: stats}, title=f"Statistics of {chosen.ref}")

    def _pair(self, name: str, a: int | None, b: int | None) -> tuple[Any, Any]:
        versions = self.store.dataset_versions(name)
        if not versions:
            self.store.get_dataset_version(name)  # raises, naming the datasets
        if a is None or b is None:
            if len(versions) < 2:
                raise ShipyardError(f"Dataset {name!r} has one version; a diff needs two.")
            b_default, a_default = versions[0].version, versions[1].version
            a = a_default if a is None else a
            b = b_default if b is None else b
        return self.store.get_dataset_version(name, a), self.store.get_dataset_version(name, b)

    def dataset_diff(self, name: str, a: int | None = None, b: int | None = None) -> dict[str, Any]:
        """What changed between two versions (default: the last two): rows, columns, statistics, drift."""
        va, vb = self._pair(name, a, b)
        return {"dataset": name, "a": va.to_dict(), "b": vb.to_dict(),
                "versions": [v.version for v in self.store.dataset_versions(name)],
                "diff": _jsonable(self.client.datasets.diff(va, vb))}

    def drift_html(self, name: str, a: int | None = None, b: int | None = None) -> str:
        """The drift report between two versions of a dataset (as ``data drift --format html`` writes it)."""
        va, vb = self._pair(name, a, b)
        return self._drift_html(name, va.version, vb.version)

    def _build_drift_html(self, name: str, a: int, b: int) -> str:
        from shipyard.data.drift import compare
        from shipyard.data.reports import drift_html

        va, vb = self.store.get_dataset_version(name, a), self.store.get_dataset_version(name, b)
        sa, sb = self.client.datasets.statistics(va), self.client.datasets.statistics(vb)
        return drift_html(compare(sa, sb).to_json(), sa, sb, title=f"Drift: {va.ref} → {vb.ref}",
                          labels=(va.ref, vb.ref))

    # -- compare ---------------------------------------------------------

    def compare(self, refs: Sequence[str]) -> dict[str, Any]:
        """Two or more runs side by side: a key-level config diff and their metrics.

        Raises:
            ShipyardError: for fewer than two runs or more than eight.
        """
        wanted = list(dict.fromkeys(r.strip() for ref in refs for r in ref.split(",") if r.strip()))
        if len(wanted) < 2:
            raise ShipyardError("Compare needs two runs or more: pick them on the runs list (the check boxes).")
        if len(wanted) > MAX_COMPARE:
            raise ShipyardError(f"Compare takes at most {MAX_COMPARE} runs; {len(wanted)} were given.")
        runs = []
        for ref in wanted:
            run = self.client.get_run(ref)
            if run.id not in {r.id for r in runs}:
                runs.append(run)
        if len(runs) < 2:
            raise ShipyardError("Compare needs two different runs.")
        flat = []
        for run in runs:
            values = {f"param.{k}": v for k, v in _flatten(self.client.params(run)).items()}
            values |= {f"config.{k}": v for k, v in _flatten(_config_view(run.config)).items()}
            values |= {
                "git.commit": run.git_commit, "git.branch": run.git_branch, "git.dirty": run.git_dirty,
                "orchestrator": run.orchestrator,
            }
            values |= {
                f"data.{d['step']}.{d['output']}": d["artifact"]
                for d in self._data_versions(run, self.client.step_runs(run))
            }
            flat.append(values)
        keys = sorted(set().union(*flat))
        config = []
        for key in keys:
            values = [f.get(key) for f in flat]
            config.append({"key": key, "values": _jsonable(values), "differs": any(v != values[0] for v in values)})
        metrics = [self.client.metrics(run) for run in runs]
        names = list(dict.fromkeys(k for m in metrics for values in m.values() for k in values))
        rows = []
        for key in names:
            values = [_metric_value(m, key) for m in metrics]
            rows.append({"key": key, "values": values, "slice": "[" in key})
        return {
            "runs": [_run_fields(run) | {"duration": run.duration} for run in runs],
            "config": config,
            "differences": sum(1 for row in config if row["differs"]),
            "metrics": _jsonable(rows),
        }

    # -- models ----------------------------------------------------------

    @property
    def has_models(self) -> bool:
        """True when this Shipyard has the model registry (``Client.models``)."""
        return hasattr(type(self.client), "models")

    def _registry(self) -> Any:
        if not self.has_models:
            raise ShipyardError("This version of Shipyard has no model registry.")
        return self.client.models

    def models(self) -> dict[str, Any]:
        """Every registered model with its version count, production version, staging versions and aliases."""
        return {"models": [m.to_dict() for m in self._registry().list()]}

    def model(self, name: str) -> dict[str, Any]:
        """A model: its versions (stage, aliases, the run and data that made each, metrics,
        logged traffic) and its history of registrations, promotions and aliases."""
        registry = self._registry()
        record = registry.get(name)
        versions = registry.versions(name)
        runs = self.store.run_summaries([v.run_id for v in versions if v.run_id])
        out = []
        for version in versions:
            fields = version.to_dict()
            fields["run"] = runs.get(version.run_id) if version.run_id else None
            fields["traffic_chunks"] = len(self._log_files(version.bundle_id))
            out.append(fields)
        return {
            "model": record.to_dict(),
            "versions": out,
            "history": [e.to_dict() for e in registry.history(name)],
        }

    def _log_files(self, bundle_id: str) -> list[str]:
        from shipyard.serving.log import log_folder

        try:
            return [f for f in self.client.artifact_store.list_files(log_folder(bundle_id)) if f.endswith(".parquet")]
        except OSError:
            return []

    def model_drift(self, name: str, version: int) -> dict[str, Any]:
        """Drift of a version's logged production traffic from its training statistics.

        Raises:
            ShipyardError: when the version logged no traffic or its bundle has no statistics.
        """
        version_record = self._registry().resolve(f"{name}@{version}")
        report, _reference, _traffic, rows = self._traffic(version_record.bundle_id)
        return {"model": name, "version": version, "bundle_id": version_record.bundle_id, "rows": rows,
                **report.to_json()}

    def model_drift_html(self, name: str, version: int) -> str:
        """The drift report of a version's logged traffic (as ``shipyard monitor --format html`` writes it)."""
        from shipyard.data.reports import drift_html

        version_record = self._registry().resolve(f"{name}@{version}")
        report, reference, traffic, _rows = self._traffic(version_record.bundle_id)
        return drift_html(report, reference, traffic, title=f"Traffic drift of {name}@{version}",
                          labels=("training", "traffic"))

    def _traffic(self, bundle_id: str) -> tuple[Any, Any, Any, int]:
        """(drift report, training statistics, traffic statistics, rows) of a bundle's prediction log."""
        files = self._log_files(bundle_id)
        key = (len(files), files[-1] if files else "")  # a new chunk makes it stale
        known = self._traffic_cache.get(bundle_id)
        if known is None or known[0] != key:
            known = self._traffic_cache[bundle_id] = (key, self._build_traffic(bundle_id))
        return known[1]

    def _build_traffic(self, bundle_id: str) -> tuple[Any, Any, Any, int]:
        import json

        from shipyard.bundle.io import read_metadata
        from shipyard.data.drift import compare
        from shipyard.data.statistics import Statistics, compute_statistics
        from shipyard.serving.log import read_log

        store = self.client.artifact_store
        folder = store.local_path(bundle_id)
        features = read_metadata(folder).get("features") or {}
        try:
            reference = Statistics.from_json(json.loads((folder / "statistics.json").read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise ShipyardError(f"Bundle {bundle_id[:12]} carries no training statistics to compare with.") from exc
        traffic = None
        rows = 0
        for chunk in read_log(store, bundle_id):
            columns = [c for c in features if c in chunk.columns]
            part = compute_statistics(chunk[columns], types=dict(features))
            traffic = part if traffic is None else traffic.merge(part)
            rows += len(chunk)
        if traffic is None:
            raise ShipyardError(
                f"No logged traffic for bundle {bundle_id[:12]}: serve it (shipyard serve) and send predictions."
            )
        return compare(reference, traffic), reference, traffic, rows


# -- helpers ------------------------------------------------------------------------------------


def _run_fields(run: RunRecord) -> dict[str, Any]:
    fields = run.to_dict()
    for key in ("config", "graph", "environment", "process_token"):
        fields.pop(key, None)
    fields["duration"] = run.duration
    return fields


def _step_fields(step: StepRunRecord, cached_run: str | None) -> dict[str, Any]:
    fields = step.to_dict()
    fields.pop("cache_parts", None)
    fields["duration"] = step.duration
    fields["shown_status"] = STEP_LABELS.get(step.status, step.status)
    fields["cached_from_run"] = cached_run
    return fields


def _artifact_fields(record: ArtifactRecord) -> dict[str, Any]:
    return record.to_dict() | {"format": record.format, "short_type": _short_type(record.data_type)}


def _label(step: str, output: str) -> str:
    """An artifact as its step and output: ``ingest``, ``split.train``."""
    return step if output == "output" else f"{step}.{output}"


def _short_type(data_type: str) -> str:
    return data_type.rsplit(".", 1)[-1]


def metric_tables(metrics: Mapping[str, Mapping[str, float | None]]) -> dict[str, Any]:
    """Metrics arranged for reading (:func:`shipyard.ml.metrics.arrange_metrics`), JSON-ready."""
    from shipyard.ml.metrics import arrange_metrics

    return _jsonable(arrange_metrics(metrics))


def _metric_value(metrics: Mapping[str, Mapping[str, float | None]], key: str) -> float | None:
    values = [v[key] for v in metrics.values() if key in v and v[key] is not None]
    return max(values) if values else None


def _config_view(config: Mapping[str, Any]) -> dict[str, Any]:
    """A run's config without what is recorded elsewhere (params) or is not configuration."""
    if config.get("kind") == "yaml" and isinstance(config.get("spec"), Mapping):
        return {"spec": config["spec"], **{k: config.get(k) for k in ("target", "cache", "overrides") if k in config}}
    return {k: v for k, v in config.items() if k not in ("params", "source")}


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{prefix}{key}" if key != "" else prefix.rstrip(".") or "pipeline"
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, f"{path}."))
        else:
            out[path] = value
    return out


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def _table_preview(path: Any) -> dict[str, Any]:
    import pyarrow.parquet as pq

    meta = pq.read_metadata(path)
    schema = meta.schema.to_arrow_schema()
    fields = [f for f in schema if f.name != "__index_level_0__"]
    batches = pq.ParquetFile(path).iter_batches(batch_size=PREVIEW_ROWS, columns=[f.name for f in fields])
    first = next(batches, None)
    rows = first.to_pylist()[:PREVIEW_ROWS] if first is not None else []
    return {
        "kind": "table",
        "rows": meta.num_rows,
        "schema": [[f.name, str(f.type)] for f in fields],
        "head": [[_cell(row.get(f.name)) for f in fields] for row in rows],
    }


def _jsonable(value: Any) -> Any:
    """The value with non-finite floats as None and other odd types as text (for JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return str(value)


def jsonable(value: Any) -> Any:
    """Public form of the JSON cleaner (non-finite floats become None)."""
    return _jsonable(value)


__all__ = ["NOT_RUN", "STEP_LABELS", "Dashboard", "jsonable", "metric_tables"]
