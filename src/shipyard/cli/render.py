"""``shipyard.cli.render`` provides terminal rendering: tables, run details, live progress.

Nothing here computes anything; it formats records for people. ``--json``
output bypasses it.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shipyard.engine.runner import RunHooks

if TYPE_CHECKING:
    from rich.live import Live

    from shipyard.client import Client
    from shipyard.engine.graph import Pipeline
    from shipyard.engine.runner import RunResult
    from shipyard.stores.metadata import ArtifactRecord, RunRecord, StepRunRecord

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

STATUS_STYLE = {
    "completed": "green",
    "cached": "cyan",
    "failed": "red",
    "crashed": "red",
    "skipped": "yellow",
    "running": "blue",
    "pending": "dim",
}
STATUS_ICON = {
    "completed": "✓",
    "cached": "↺",
    "failed": "✗",
    "crashed": "✗",
    "skipped": "–",
    "running": "…",
    "pending": "·",
}


def status_text(status: str) -> str:
    """A coloured status word with its icon."""
    style = STATUS_STYLE.get(status, "white")
    return f"[{style}]{STATUS_ICON.get(status, '?')} {status}[/{style}]"


def when(ts: float | None) -> str:
    """A timestamp as local ``YYYY-MM-DD HH:MM:SS``."""
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: float | None) -> str:
    """A duration for people: ``12 ms``, ``3.4 s``, ``2m05s``."""
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(int(value), 60)
    return f"{minutes}m{secs:02d}s"


def size(n: int) -> str:
    """A byte count for people."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def print_json(data: Any) -> None:
    """Print JSON for scripts (plain, no colours)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


# -- runs ------------------------------------------------------------------


def runs_table(
    runs: Iterable[RunRecord],
    *,
    total: int | None = None,
    tags: Mapping[str, list[str]] | None = None,
) -> Table:
    """A table of runs (with a tags column when ``tags`` names some)."""
    rows = list(runs)
    tags = tags or {}
    caption = f"{len(rows)} of {total} runs" if total is not None and total > len(rows) else None
    table = Table(caption=caption, header_style="bold")
    table.add_column("run", no_wrap=True)
    table.add_column("pipeline", min_width=8, overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("started", no_wrap=True)
    table.add_column("took", no_wrap=True, justify="right")
    table.add_column("user", max_width=10, overflow="ellipsis", no_wrap=True)
    table.add_column("commit", no_wrap=True, min_width=7)
    with_tags = any(tags.get(run.id) for run in rows)
    if with_tags:
        table.add_column("tags", overflow="fold")
    for run in rows:
        commit = (run.git_commit or "")[:7] + ("*" if run.git_dirty else "")
        pipeline = run.pipeline + (f" (reproduces {run.reproduces[:8]})" if run.reproduces else "")
        table.add_row(
            run.id[:8],
            escape(pipeline),
            status_text(run.status),
            when(run.started_at)[5:16],
            seconds(run.duration),
            escape(run.user or "-"),
            commit or "-",
            *([escape(", ".join(tags.get(run.id, [])))] if with_tags else []),
        )
    return table


def _short_ids(mapping: Mapping[str, str]) -> str:
    return ", ".join(
        f"{name}={aid[:12]}" if name != "output" else aid[:12] for name, aid in mapping.items()
    )


def steps_table(steps: Iterable[StepRunRecord], graph: Mapping[str, Any]) -> Table:
    """A table of a run's steps in pipeline order, with why each ran or not."""
    by_name = {s.step: s for s in steps}
    order = [s["name"] for s in graph.get("steps", [])] or list(by_name)
    table = Table(header_style="bold")
    for column in ("step", "status", "time", "why", "outputs"):
        table.add_column(column, overflow="fold")
    for name in order:
        record = by_name.get(name)
        if record is None:
            table.add_row(escape(name), status_text("pending"), "-", "did not run", "")
            continue
        why = record.reason or ""
        if record.status == "cached":
            why = f"cached ({why})"
        elif record.status in ("completed", "failed"):
            why = f"ran: {why}"
        table.add_row(
            escape(name),
            status_text(record.status),
            seconds(record.duration),
            escape(why),
            _short_ids(record.outputs),
        )
    return table


def show_run(
    run: RunRecord,
    steps: list[StepRunRecord],
    params: Mapping[str, Mapping[str, Any]],
    metrics: Mapping[str, Mapping[str, float]],
    *,
    tags: Iterable[str] = (),
    notes: Iterable[Any] = (),
) -> None:
    """Print everything about a run (its tags and notes too)."""
    commit = run.git_commit or "-"
    if run.git_dirty:
        commit += " (uncommitted changes)"
    lines = [
        f"[bold]Run {run.id}[/bold]  {status_text(run.status)}",
        f"pipeline      {escape(run.pipeline)}",
        f"source        {escape(str(run.config.get('target') or run.config.get('source') or '-'))}",
        f"started       {when(run.started_at)}   duration {seconds(run.duration)}",
        f"user          {escape(run.user or '-')} on {escape(run.host or '-')}",
        f"git           {escape(commit)}" + (f" on {escape(run.git_branch)}" if run.git_branch else ""),
    ]
    if run.git_remote:
        lines.append(f"remote        {escape(run.git_remote)}")
    if run.git_diff_id:
        lines.append(
            f"changes       artifact {run.git_diff_id[:16]} holds the uncommitted changes: "
            f"shipyard artifacts export {run.git_diff_id[:16]} changes.diff"
        )
    lines.append(
        f"orchestrator  {run.orchestrator or '-'}"
        + ("" if run.config.get("cache", True) else "   (cache disabled)")
    )
    if run.reproduces:
        lines.append(
            f"reproduces    run {run.reproduces}   compare: shipyard runs diff {run.reproduces[:8]} "
            f"{run.id[:8]}"
        )
    tag_list = list(tags)
    if tag_list:
        lines.append(f"tags          {escape(', '.join(tag_list))}")
    data_steps = {s["name"] for s in run.graph.get("steps", []) if "data" in s.get("tags", [])}
    for record in steps:
        if record.step in data_steps:
            for output, artifact_id in record.outputs.items():
                label = record.step if output == "output" else f"{record.step}.{output}"
                lines.append(f"data version  {artifact_id[:16]} ({escape(label)})")
    console.print("\n".join(lines))
    note_list = list(notes)
    if note_list:
        console.print("\n[bold]Notes[/bold]")
        for note in note_list:
            console.print(f"  {when(note.created_at)}  {escape(note.user or '-')}: {escape(note.text)}")
    if params:
        console.print("\n[bold]Params[/bold]")
        for step, values in params.items():
            for key, value in values.items():
                label = f"{step}.{key}" if step else key
                console.print(f"  {escape(label)} = {escape(json.dumps(value, default=str))}")
    console.print()
    console.print(steps_table(steps, run.graph))
    for table in metrics_tables(metrics):
        console.print(table)
    if run.error:
        where = f" in step {run.error_step!r}" if run.error_step else ""
        console.print(f"\n[red bold]Error{escape(where)}:[/red bold] {escape(run.error)}")
        failed = [s for s in steps if s.status == "failed" and s.traceback]
        for record in failed:
            console.print(f"\n[dim]Traceback of step {escape(record.step)}:[/dim]")
            console.print(escape(record.traceback.rstrip()), markup=True)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def metrics_tables(metrics: Mapping[str, Mapping[str, float | None]]) -> list[Table]:
    """Metrics as tables: per split (``eval.x``, ``test.x``), per slice, and the rest."""
    from shipyard.ml.metrics import arrange_metrics

    arranged = arrange_metrics(metrics)
    tables = []
    if arranged["plain"]:
        table = Table(title="Step metrics", header_style="bold", title_justify="left")
        for column in ("step", "metric", "value"):
            table.add_column(column)
        for step, key, value in arranged["plain"]:
            table.add_row(escape(step), escape(key), _number(value))
        tables.append(table)
    names = arranged["splits"]["names"]
    if arranged["splits"]["rows"]:
        table = Table(title="Metrics", header_style="bold", title_justify="left")
        table.add_column("metric")
        for name in names:
            table.add_column(name, justify="right")
        for metric, by_split in arranged["splits"]["rows"]:
            table.add_row(escape(metric), *(_number(by_split.get(n)) for n in names))
        tables.append(table)
    for sliced in arranged["slices"]:
        columns = sliced["columns"]
        table = Table(title=f"Metrics on {sliced['title']}", header_style="bold", title_justify="left")
        table.add_column("value")
        for column in columns:
            table.add_column(escape(column), justify="right")
        for value, by_metric in sliced["rows"]:
            cells = [
                f"{by_metric[c]:.0f}" if c == "rows" and by_metric.get(c) is not None
                else _number(by_metric.get(c))
                for c in columns
            ]
            table.add_row(escape(value), *cells)
        tables.append(table)
    return tables


def table_of(frame: Any, *, max_rows: int = 20) -> Table:
    """A pandas DataFrame as a table (first rows)."""
    table = Table(header_style="bold")
    for column in frame.columns:
        table.add_column(escape(str(column)))
    for row in frame.head(max_rows).itertuples(index=False, name=None):
        table.add_row(*(escape(f"{v:.4g}" if isinstance(v, float) else str(v)) for v in row))
    return table


def show_artifact(
    artifact: ArtifactRecord,
    produced: list[tuple[StepRunRecord, str]],
    consumed: list[tuple[StepRunRecord, str]],
    preview: Mapping[str, Any] | None,
) -> None:
    """Print an artifact's record, lineage and a preview of its content."""
    console.print(f"[bold]Artifact {artifact.id}[/bold]")
    console.print(f"type          {escape(artifact.data_type)}")
    console.print(f"format        {artifact.format}")
    console.print(f"size          {size(artifact.size)} in {artifact.files} file(s)")
    console.print(f"uri           {escape(artifact.uri)}")
    console.print(f"created       {when(artifact.created_at)}")
    if produced:
        console.print("\n[bold]Produced by[/bold]")
        for record, name in produced:
            console.print(
                f"  run {record.run_id}  step {escape(record.step)} "
                f"(output {escape(name)}, {record.status})"
            )
    if consumed:
        console.print("\n[bold]Consumed by[/bold]")
        for record, name in consumed:
            console.print(
                f"  run {record.run_id}  step {escape(record.step)} "
                f"(input {escape(name)}, {record.status})"
            )
    if preview:
        console.print("\n[bold]Content[/bold]")
        head = preview.get("head")
        for key, value in preview.items():
            if key in ("head", "columns", "preview"):
                continue
            console.print(f"  {escape(key)}: {escape(str(value))}")
        if "columns" in preview:
            cols = ", ".join(f"{escape(k)}: {escape(v)}" for k, v in preview["columns"].items())
            console.print(f"  columns: {cols}")
        if "preview" in preview:
            console.print(f"  value: {escape(str(preview['preview']))}")
        if head:
            table = Table(header_style="bold")
            for column in head[0]:
                table.add_column(escape(str(column)))
            for row in head:
                table.add_row(*(escape(str(v)) for v in row.values()))
            console.print(table)


def artifacts_table(artifacts: Iterable[ArtifactRecord]) -> Table:
    """A table of artifacts."""
    table = Table(header_style="bold")
    for column in ("artifact", "type", "format", "size", "created"):
        table.add_column(column)
    for a in artifacts:
        table.add_row(a.id[:16], escape(a.data_type), a.format, size(a.size), when(a.created_at))
    return table


# -- live progress -------------------------------------------------------------


class Progress(RunHooks):
    """Shows each step's status while a run executes.

    On a terminal it keeps a live table (with a spinner on the running step);
    otherwise it prints one line per finished step.
    """

    def __init__(self, out: Console | None = None) -> None:
        self.out = out or console
        self.rows: dict[str, list[str]] = {}
        self._live: Live | None = None
        self._started: dict[str, float] = {}

    def _table(self) -> Table:
        table = Table(header_style="bold", box=None, pad_edge=False)
        for column in ("step", "status", "time", "why"):
            table.add_column(column, overflow="fold")
        for name, (status, took, why) in self.rows.items():
            if status == "running":
                took = seconds(time.time() - self._started.get(name, time.time()))
            table.add_row(escape(name), status_text(status), took, escape(why))
        return table

    def on_run_start(self, *, run_id: str, pipeline: Pipeline, **future: Any) -> None:
        self.out.print(
            f"[bold]Run {run_id}[/bold] of pipeline [bold]{escape(pipeline.name)}[/bold] "
            f"({len(pipeline)} steps)"
        )
        self.rows = {node.name: ["pending", "", ""] for node in pipeline}
        if self.out.is_terminal:
            from rich.live import Live

            self._live = Live(self._table(), console=self.out, refresh_per_second=8, transient=False)
            self._live.start()

    def on_step_start(self, *, run_id: str, step: str, reason: str, **future: Any) -> None:
        self._started[step] = time.time()
        self.rows[step] = ["running", "", reason]
        if self._live is not None:
            self._live.update(self._table())

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
        why = f"cached ({reason})" if status == "cached" else reason
        if status == "failed" and error:
            why = error.splitlines()[0]
        self.rows[step] = [status, seconds(duration), why]
        if self._live is not None:
            self._live.update(self._table())
        else:
            self.out.print(
                f"  {status_text(status)}  {escape(step)}  {seconds(duration)}  [dim]{escape(why)}[/dim]"
            )

    def on_run_end(self, *, run_id: str, status: str, **future: Any) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the live display (also after an interruption)."""
        if self._live is not None:
            self._live.update(self._table())
            self._live.stop()
            self._live = None


def training_summary(client: Client, result: RunResult) -> None:
    """Features, metrics and the bundle of a finished YAML pipeline run."""
    features = result.steps.get("features")
    if features is not None and "output" in features.outputs:
        info = client.load_artifact(features.outputs["output"])
        by_type: dict[str, list[str]] = {}
        for name, spec in info["columns"].items():
            mark = "" if spec["inferred"] else "*"
            by_type.setdefault(str(spec["type"]), []).append(escape(name) + mark)
        task = f"{info['task']}{' (inferred)' if info.get('task_inferred') else ''}"
        console.print(f"\n[bold]Task[/bold] {task}; [bold]features[/bold] ({len(info['columns'])}, "
                      "* declared, others inferred):")
        for kind, names in by_type.items():
            console.print(f"  [dim]{kind}:[/dim] {', '.join(names)}")
    evaluated = result.steps.get("evaluate")
    if evaluated is not None and evaluated.status in ("completed", "cached"):
        metrics = client.metrics(result.run_id).get("evaluate", {})
        overall = {k: v for k, v in metrics.items() if "[" not in k}
        for table in metrics_tables({"evaluate": overall}):
            console.print(table)
    bundled = result.steps.get("bundle")
    if bundled is not None and "output" in bundled.outputs:
        bundle_id = bundled.outputs["output"].id
        console.print(
            f"[bold]Model bundle[/bold] {bundle_id[:16]}   predict with: "
            f"shipyard predict {result.run_id} --input rows.csv"
        )
    from shipyard.cli.models import registry_summary

    registry_summary(client, result)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def statistics_table(stats: Any) -> Table:
    """One row per column: type, count, nulls, distinct, and the values by type."""
    table = Table(title=f"{stats.rows:,} rows", header_style="bold", title_justify="left")
    for column in ("column", "type", "nulls", "distinct", "summary"):
        table.add_column(column, overflow="fold")
    for name, column in stats.columns.items():
        info = column.summary()
        if info["type"] == "numeric":
            detail = (
                f"mean {_fmt(info.get('mean'))} std {_fmt(info.get('std'))} "
                f"min {_fmt(info.get('min'))} p50 {_fmt(info.get('p50'))} max {_fmt(info.get('max'))}"
            )
        elif info["type"] in ("categorical", "text"):
            top = info.get("top") or []
            detail = ", ".join(f"{v} {c / max(info['count'], 1):.0%}" for v, c in top[:3])
        elif info["type"] == "boolean":
            detail = f"true {_fmt(info.get('true_ratio'))}"
        else:
            detail = f"{info.get('min')} … {info.get('max')}"
        distinct = f"{info['distinct']:,}" + ("" if info["distinct_exact"] else "~")
        table.add_row(escape(name), info["type"], f"{info['null_fraction']:.1%}", distinct, escape(detail))
    return table


def anomalies_table(result: Mapping[str, Any]) -> Table:
    """Validation anomalies, errors first."""
    verdict = "[green]passed[/green]" if result["ok"] else "[red]failed[/red]"
    table = Table(
        title=f"Validation {verdict}: {result['errors']} error(s), {result['warnings']} warning(s)",
        header_style="bold", title_justify="left",
    )
    for column in ("severity", "split", "column", "kind", "message"):
        table.add_column(column, overflow="fold")
    order = {"error": 0, "warning": 1}
    for a in sorted(result["anomalies"], key=lambda a: order.get(a["severity"], 2)):
        style = "red" if a["severity"] == "error" else "yellow"
        table.add_row(
            f"[{style}]{a['severity']}[/{style}]", escape(a.get("split") or "-"),
            escape(a.get("column") or "-"), a["kind"], escape(a["message"]),
        )
    return table


def drift_table(report: Mapping[str, Any]) -> Table:
    """Drift per column, highest score first, with the overall verdict."""
    verdict = "[red]drift[/red]" if report["dataset_drift"] else "[green]no drift[/green]"
    table = Table(
        title=f"{verdict}: {len(report['drifted'])} of {report['compared']} columns drifted "
        f"({report['drifted_share']:.0%}; dataset drift from {report['share_threshold']:.0%})",
        header_style="bold", title_justify="left",
    )
    table.add_column("column", overflow="fold", ratio=3)
    for column in ("type", "test", "score", "threshold", "p-value"):
        table.add_column(column, no_wrap=True)
    table.add_column("drift", overflow="fold", ratio=2)
    short = {"numeric": "num", "categorical": "cat", "boolean": "bool", "datetime": "date", "text": "text"}
    tests = {"wasserstein": "W/std", "jensen_shannon": "JS", "ks": "KS", "chi2": "chi2", "psi": "PSI"}
    for c in report["columns"]:
        mark = "[red]yes[/red]" if c["drifted"] else "no"
        p_value = c.get("p_value")
        if p_value is None:  # the deciding test has none: show the KS / chi-square one
            p_value = next((t.get("p_value") for t in c.get("tests", {}).values() if "p_value" in t), None)
        table.add_row(
            escape(c["column"]), short.get(c["type"], c["type"]), tests.get(c["method"], c["method"]),
            _fmt(c["score"]), _fmt(c["threshold"]), _fmt(p_value),
            mark + (f" ({escape(c['note'])})" if c.get("note") else ""),
        )
    return table


def diff_text(a: str, b: str, result: Mapping[str, Any]) -> str:
    """A dataset diff for people."""
    lines = [f"[bold]{a} → {b}[/bold]", f"rows          {result['rows'][0]:,} → {result['rows'][1]:,}"]
    if "rows_added" in result:
        lines.append(
            f"rows added    {result['rows_added']:,}   removed {result['rows_removed']:,}   "
            f"unchanged {result['rows_kept']:,}"
        )
    lines.append(f"columns added {', '.join(result['columns_added']) or '-'}   removed {', '.join(result['columns_removed']) or '-'}")
    for column, (before, after) in result["type_changed"].items():
        lines.append(f"type changed  {escape(column)}: {before} → {after}")
    for column, shift in result["statistics"].items():
        parts = [
            f"{key} {_fmt(pair[0])} → {_fmt(pair[1])}" for key, pair in shift.items()
            if key != "drift" and isinstance(pair, list) and pair[0] != pair[1]
        ]
        drift = shift.get("drift")
        if drift and drift["drifted"]:
            parts.append(f"[red]drift[/red] ({drift['method']} {_fmt(drift['score'])})")
        if parts:
            lines.append(f"  {escape(column)}: " + "; ".join(escape(p) if "[red]" not in p else p for p in parts))
    return "\n".join(lines)


def run_summary(result: RunResult) -> None:
    """One closing line for a run."""
    counts: dict[str, int] = {}
    for step in result.steps.values():
        counts[step.status] = counts.get(step.status, 0) + 1
    parts = ", ".join(f"{n} {status}" for status, n in counts.items())
    console.print(
        f"{status_text(result.status)} in {seconds(result.duration)} ({parts}). "
        f"Details: [bold]shipyard runs show {result.run_id}[/bold]"
    )


__all__ = [
    "Progress",
    "artifacts_table",
    "console",
    "err_console",
    "metrics_tables",
    "print_json",
    "run_summary",
    "runs_table",
    "show_artifact",
    "show_run",
    "status_text",
    "table_of",
]
