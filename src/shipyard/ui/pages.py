"""``shipyard.ui.pages`` provides the dashboard's HTML pages, rendered from the pages' data.

Each function takes the dict :class:`~shipyard.ui.data.Dashboard` returns for
the page (the same the JSON API sends) and returns a complete document. All
text from the stores goes through :mod:`shipyard.ui.html`, which escapes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.ui.html import (
    DASH,
    Html,
    badge,
    dl,
    duration,
    e,
    join,
    link,
    number,
    pager,
    pretty,
    seg,
    short,
    size,
    table,
    tag,
    url,
    when,
)
from shipyard.ui.svg import Node, bar_charts_svg, dag_svg

#: Graph statuses in legend order, with what each means.
GRAPH_STATUSES = {
    "ran": "executed in this run",
    "cached": "outputs reused from an earlier run",
    "failed": "raised an error",
    "skipped": "skipped",
    "pending": "not finished yet",
    "not run": "not reached",
}
MAX_CHARTS = 16


# -- layout ---------------------------------------------------------------------------------------


def document(title: str, body: Html, *, active: str = "", project: str = "", models: bool = False) -> Html:
    """A complete dashboard page: header with navigation, the body, footer."""
    items = [("runs", "/", "Runs"), ("datasets", "/datasets", "Datasets"), ("reports", "/reports", "Reports"),
             ("compare", "/compare", "Compare")]
    if models:
        items.append(("models", "/models", "Models"))
    current = ' class="active" aria-current="page"'
    nav = "".join(
        f'<a href="{href}"{current if key == active else ""}>{text}</a>' for key, href, text in items
    )
    return Html(
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{e(title)} · Shipyard</title>\n"
        '<link rel="stylesheet" href="/static/ui.css">\n'
        '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">\n'
        '<script src="/static/ui.js" defer></script>\n</head>\n<body>\n'
        f'<header class="top"><a class="brand" href="/">Shipyard</a><nav>{nav}</nav>'
        f'<span class="project" title="project">{e(project)}</span></header>\n'
        f"<main>\n{body}\n</main>\n"
        '<footer>Shipyard dashboard · read-only: nothing here changes the stores.</footer>\n'
        "</body>\n</html>\n"
    )


def _run_link(run_id: str | None, text: str | None = None) -> Html:
    if not run_id:
        return Html(DASH)
    return link(f"/runs/{seg(run_id)}", text or run_id[:12], cls="mono", title=run_id)


def _artifact_link(artifact_id: str | None, text: Any = None) -> Html:
    if not artifact_id:
        return Html(DASH)
    return link(f"/artifacts/{seg(artifact_id)}", text if text is not None else artifact_id[:12],
                cls="mono" if text is None else "", title=artifact_id)


def _section(title: str, content: Any, *, anchor: str = "", note: Any = "") -> Html:
    head = tag("h2", title, id=anchor or None)
    return Html(f'<section class="card">{head}{e(note) if note else ""}{e(content)}</section>')


def error_page(status: int, message: str, *, project: str = "", hint: str = "") -> Html:
    """A page that says what went wrong."""
    titles = {400: "Cannot show this", 401: "Token needed", 404: "Not found", 405: "Read-only", 500: "Error"}
    body = Html(
        f'<h1>{e(titles.get(status, "Error"))}</h1><div class="banner bad">{e(message)}</div>'
        + (f'<p class="muted">{e(hint)}</p>' if hint else "")
        + '<p><a href="/">Back to the runs</a></p>'
    )
    return document(titles.get(status, "Error"), body, project=project)


def login_page() -> Html:
    """The page asking for the dashboard's token."""
    body = Html(
        "<h1>Token needed</h1><p>This dashboard was started with a token. Enter it to continue; "
        "it is kept in a cookie for this browser.</p>"
        '<form method="get" action="/" class="login"><label>Token '
        '<input type="password" name="token" autocomplete="current-password" required autofocus></label> '
        '<button type="submit">Open</button></form>'
    )
    return document("Token needed", body)


# -- runs list ------------------------------------------------------------------------------------


def runs_page(data: Mapping[str, Any], *, project: str = "", models: bool = False) -> Html:
    """The runs list: filters, a sortable page of runs, compare check boxes, pagination."""
    filters = data["filters"]
    choices = data["choices"]
    keep = {k: v for k, v in filters.items() if v}

    def options(name: str, values: Sequence[str], everything: str) -> Html:
        chosen = filters.get(name)
        opts = [f'<option value="">{e(everything)}</option>'] + [
            f'<option value="{e(v)}"{" selected" if v == chosen else ""}>{e(v)}</option>' for v in values
        ]
        return Html(f'<label>{e(name)} <select name="{e(name)}" class="auto">{"".join(opts)}</select></label>')

    form = Html(
        '<form class="filters" method="get" action="/">'
        + options("pipeline", choices["pipelines"], "all pipelines")
        + options("user", choices["users"], "all users")
        + options("status", choices["statuses"], "any status")
        + options("metric", choices["metrics"], "no metric column")
        + f'<input type="hidden" name="sort" value="{e(filters["sort"])}">'
        + f'<input type="hidden" name="order" value="{e(filters["order"])}">'
        + '<button type="submit">Filter</button>'
        + (' <a href="/" class="clear">clear</a>' if any(filters.get(k) for k in ("pipeline", "user", "status", "metric")) else "")
        + "</form>"
    )

    def header(label: str, key: str) -> Html:
        current = filters["sort"] == key
        order = "asc" if current and filters["order"] == "desc" else "desc"
        arrow = (" ↓" if filters["order"] == "desc" else " ↑") if current else ""
        query = {**keep, "sort": key, "order": order}
        query.pop("page", None)
        return link(url("/", query), f"{label}{arrow}", cls="sort" + (" current" if current else ""))

    metric = filters.get("metric")
    headers: list[Any] = [Html('<span class="sr">compare</span>'), "run", header("pipeline", "pipeline"),
                          header("status", "status"), header("started", "started"),
                          header("duration", "duration"), header("user", "user"), "git"]
    if metric:
        headers.append(header(metric, "metric"))
    rows = []
    attrs = []
    for run in data["runs"]:
        commit = (run.get("git_commit") or "")[:8] + ("*" if run.get("git_dirty") else "")
        row = [
            Html(f'<input type="checkbox" name="runs" value="{e(run["id"])}" aria-label="compare {e(run["id"])}">'),
            _run_link(run["id"], run["id"][:12]),
            link(url("/", {**keep, "pipeline": run["pipeline"], "page": None}), run["pipeline"], cls="plain"),
            badge(run["status"]),
            when(run["started_at"]),
            duration(run.get("duration")),
            run.get("user") or DASH,
            Html(f'<span class="mono">{e(commit)}</span>') if commit else DASH,
        ]
        if metric:
            row.append(number(run.get("metric")))
        rows.append(row)
        attrs.append({"data-run": run["id"], "data-status": run["status"]})
    numeric = [8] if metric else []
    listing = table(headers, rows, cls="runs", numeric=numeric, row_attrs=attrs,
                    empty="No runs match." if keep.keys() - {"sort", "order"} else
                    "No runs yet. Run a pipeline with: shipyard run pipeline.yaml")
    body = Html(
        f'<h1>Runs</h1>{form}'
        f'<form method="get" action="/compare" class="compare-form">{listing}'
        + ('<p class="actions"><button type="submit" class="compare-button">Compare selected runs</button> '
           '<span class="muted small">tick two or more runs</span></p>' if data["runs"] else "")
        + "</form>"
        + pager("/", keep, data["page"], data["pages"], data["total"], "runs")
    )
    return document("Runs", body, active="runs", project=project, models=models)


# -- run page -------------------------------------------------------------------------------------


def graph_nodes(graph: Mapping[str, Any]) -> list[Node]:
    """The nodes of a run's DAG: one box per step, coloured and labelled by status."""
    nodes = []
    for node in graph["nodes"]:
        status = node["status"]
        sub = status + (f" · {duration(node['duration'])}" if node.get("duration") is not None else "")
        tip = f"{node['name']}: {status}"
        if node.get("reason"):
            tip += f" ({node['reason']})"
        nodes.append(Node(
            id=node["name"], label=node["name"], sub=sub, css=f"s-{status.replace(' ', '-')}",
            href=f"#step-{node['name']}", title=tip, data=(("step", node["name"]), ("status", status)),
        ))
    return nodes


def legend(counts: Mapping[str, int]) -> Html:
    """The colours of the graph, with how many steps have each."""
    items = [
        f'<span class="key"><i class="swatch s-{e(s.replace(" ", "-"))}"></i>{e(s)} '
        f'<b>{counts.get(s, 0)}</b><span class="muted small"> {e(meaning)}</span></span>'
        for s, meaning in GRAPH_STATUSES.items()
        if counts.get(s) or s in ("ran", "cached", "failed")
    ]
    return Html(f'<p class="legend" aria-label="legend">{"".join(items)}</p>')


def run_page(data: Mapping[str, Any], *, project: str = "", models: bool = False) -> Html:
    """A run: facts, DAG, steps, metrics, params, trials, config, environment."""
    run = data["run"]
    git = data["git"]
    artifacts = data["artifacts"]
    links = []
    if data["report"]:
        links.append(link(f"/runs/{seg(run['id'])}/report", "Data report", cls="button report-link"))
    for bundle in data["bundles"]:
        links.append(link(f"/artifacts/{seg(bundle['artifact'])}", "Model bundle", cls="button"))
    for version in data.get("models") or []:
        links.append(link(f"/models/{seg(version['model'])}", f"{version['model']} v{version['version']} ({version['stage']})",
                          cls="button subtle"))
    links.append(link(url("/compare", {"runs": [run["id"]]}), "Compare with…", cls="button subtle"))
    commit = git.get("commit")
    code = DASH
    if commit:
        code = Html(f'<span class="mono">{e(commit[:12])}</span>')
        if git.get("dirty"):
            code = Html(code + ' <span class="badge s-warn">uncommitted changes</span>')
        if git.get("branch"):
            code = Html(code + f" on {e(git['branch'])}")
    facts = dl([
        ("pipeline", link(url("/", {"pipeline": run["pipeline"]}), run["pipeline"])),
        ("status", badge(run["status"])),
        ("started", when(run["started_at"])),
        ("duration", duration(run.get("duration"))),
        ("user", f"{run.get('user') or DASH} on {run.get('host') or DASH}"),
        ("orchestrator", run.get("orchestrator")),
        ("source", data.get("source") or data["config"].get("target") or data["config"].get("source")),
        ("git commit", code),
        ("git remote", git.get("remote")),
        ("uncommitted diff", _artifact_link(git["diff_artifact"], "the diff") if git.get("diff_artifact") else None),
        ("part of run", _run_link(data["parent"]) if data.get("parent") else None),
        ("reproduces", _run_link(data["reproduces"]) if data.get("reproduces") else None),
        ("data", join((_data_version(d) for d in data["data_versions"]), ", ") or None),
    ])
    parts = [
        f'<h1>Run <span class="mono">{e(run["id"])}</span> {badge(run["status"])}</h1>',
        f'<p class="actions">{join(links, " ")}</p>',
        facts,
    ]
    if run.get("error"):
        where = f" in step {run['error_step']}" if run.get("error_step") else ""
        parts.append(f'<div class="banner bad"><strong>Error{e(where)}:</strong> {e(run["error"])}</div>')
    graph = data["graph"]
    if graph["nodes"]:
        svg = dag_svg(graph_nodes(graph), [tuple(x) for x in graph["edges"]], label=f"pipeline {run['pipeline']}")
        parts.append(_section("Pipeline graph", Html(f'<div class="graph">{svg}</div>'), anchor="graph",
                              note=legend(graph["counts"])))
    parts.append(_section("Steps", _steps_table(data["steps"], artifacts), anchor="steps"))
    parts.append(_section("Metrics", metrics_html(data["metric_tables"]), anchor="metrics"))
    if data["trials"]:
        parts.append(_section("Trials of the search", _trials_table(data["trials"]), anchor="trials"))
    parts.append(_section("Params", _params_table(data["params"]), anchor="params"))
    parts.append(_section("Config", pretty(data["config"]), anchor="config"))
    parts.append(_section("Environment", pretty(data["environment"]), anchor="environment"))
    for step in data["steps"]:
        if step.get("traceback"):
            parts.append(_section(f"Traceback of {step['step']}", Html(f'<pre class="trace">{e(step["traceback"])}</pre>')))
    return document(f"Run {run['id'][:12]}", Html("".join(parts)), active="runs", project=project, models=models)


def _data_version(entry: Mapping[str, Any]) -> Html:
    label = entry.get("dataset") or entry["step"] + ("" if entry["output"] == "output" else f".{entry['output']}")
    return _artifact_link(entry["artifact"], f"{label} ({entry['artifact'][:8]})")


def _artifact_list(edges: Mapping[str, str], artifacts: Mapping[str, Any]) -> Html:
    items = []
    for name, artifact_id in sorted(edges.items()):
        record = artifacts.get(artifact_id)
        kind = f" {record['short_type']}, {size(record['size'])}" if record else ""
        items.append(Html(f'{_artifact_link(artifact_id, name)}<span class="muted small">{e(kind)}</span>'))
    return join(items, Html("<br>")) if items else Html(DASH)


def _steps_table(steps: Sequence[Mapping[str, Any]], artifacts: Mapping[str, Any]) -> Html:
    rows = []
    attrs = []
    for step in steps:
        reason = step.get("reason") or ""
        if step.get("cached_from_run"):
            reason = Html(f'{e(reason)} <span class="muted small">(from run {_run_link(step["cached_from_run"], step["cached_from_run"][:8])})</span>')
        rows.append([
            Html(f'<span id="step-{e(step["step"])}">{e(step["step"])}</span>'),
            badge(step["shown_status"]),
            duration(step.get("duration")),
            reason or DASH,
            _artifact_list(step["inputs"], artifacts),
            _artifact_list(step["outputs"], artifacts),
        ])
        attrs.append({"data-step": step["step"], "data-status": step["shown_status"]})
    return table(["step", "status", "took", "why it ran or came from the cache", "inputs", "outputs"], rows,
                 cls="steps", numeric=[2], row_attrs=attrs, empty="No step ran.")


def metrics_html(tables: Mapping[str, Any]) -> Html:
    """Metrics by split, per slice and the rest, as tables."""
    parts = []
    splits = tables["splits"]
    if splits["rows"]:
        parts.append(table(["metric", *splits["names"]],
                           [[m, *(number(v.get(n)) for n in splits["names"])] for m, v in splits["rows"]],
                           numeric=range(1, len(splits["names"]) + 1), cls="metrics"))
    for sliced in tables["slices"]:
        parts.append(tag("h3", f"Per slice: {sliced['title']}"))
        parts.append(table(["value", *sliced["columns"]],
                           [[v, *(number(m.get(c)) for c in sliced["columns"])] for v, m in sliced["rows"]],
                           numeric=range(1, len(sliced["columns"]) + 1), cls="metrics slices"))
    if tables["plain"]:
        if parts:
            parts.append(tag("h3", "Step metrics"))
        parts.append(table(["step", "metric", "value"], [[s, k, number(v)] for s, k, v in tables["plain"]],
                           numeric=[2], cls="metrics"))
    return join(parts) if parts else Html('<p class="muted">No metrics recorded.</p>')


def _params_table(params: Mapping[str, Mapping[str, Any]]) -> Html:
    rows = [
        [step or "(pipeline)", key, Html(f'<code>{e(short(value, 200))}</code>')]
        for step, values in params.items() for key, value in values.items()
    ]
    return table(["step", "param", "value"], rows, empty="No params.")


def _trials_table(trials: Sequence[Mapping[str, Any]]) -> Html:
    rows = [
        [
            "★" if t["chosen"] else "",
            _run_link(t["id"], f"trial {t['trial']}" if t.get("trial") is not None else t["id"][:8]),
            badge(t["status"]),
            number(t.get("value")),
            short({k: v for values in t["params"].values() for k, v in values.items()}, 160),
            duration(t.get("duration")),
        ]
        for t in trials
    ]
    metric = trials[0].get("metric") or "value"
    return table(["", "trial", "status", metric, "params", "took"], rows, numeric=[3, 5])


# -- reports --------------------------------------------------------------------------------------


def report_page(run: Mapping[str, Any], *, project: str = "", models: bool = False) -> Html:
    """A run's data report (the HTML report, framed) with a way back to the run."""
    source = f"/runs/{seg(run['id'])}/report.html"
    body = Html(
        f'<p class="crumbs">{_run_link(run["id"], "‹ Run " + run["id"][:12])} · {e(run["pipeline"])}</p>'
        f'<h1>Data report</h1><p class="muted">Statistics of each split, validation anomalies and '
        f'train-vs-eval/test drift, as <code>shipyard report</code> writes them. '
        f'{link(source, "Open on its own")}</p>'
        f'<iframe class="report" title="data report" src="{e(source)}"></iframe>'
    )
    return document("Data report", body, active="reports", project=project, models=models)


def reports_page(data: Mapping[str, Any], *, project: str = "", models: bool = False) -> Html:
    """Runs with a data report, and the datasets' statistics."""
    rows = [
        [
            link(f"/runs/{seg(r['id'])}/report", "data report", cls="report-link"),
            _run_link(r["id"]),
            r["pipeline"],
            badge(r["status"]),
            when(r["started_at"]),
            r.get("user") or DASH,
        ]
        for r in data["runs"]
    ]
    datasets = [
        [
            link(f"/datasets/{seg(d['name'])}/statistics?version={d['version']}", "statistics"),
            link(f"/datasets/{seg(d['name'])}", f"{d['name']}@{d['version']}"),
            f"{d['rows']:,}",
            when(d["created_at"]),
        ]
        for d in data["datasets"]
    ]
    body = Html(
        "<h1>Reports</h1>"
        + _section("Data reports of runs", Html(
            table(["", "run", "pipeline", "status", "started", "user"], rows,
                  empty="No run recorded data statistics yet (YAML pipelines do).")
            + pager("/reports", {}, data["page"], data["pages"], data["total"], "reports")))
        + _section("Dataset statistics", table(["", "dataset", "rows", "added"], datasets, numeric=[2],
                                               empty="No datasets yet: shipyard data add NAME PATH"))
    )
    return document("Reports", body, active="reports", project=project, models=models)


# -- artifacts ------------------------------------------------------------------------------------


def lineage_nodes(lineage: Mapping[str, Any]) -> list[Node]:
    """Boxes of a lineage graph: artifacts (name, type, size) and the step runs between them."""
    nodes = []
    for node in lineage["nodes"]:
        if node["kind"] == "artifact":
            label = node.get("name") or node["artifact"][:12]
            sub = " · ".join(x for x in (node.get("type"), size(node.get("size")) if node.get("size") is not None else None) if x)
            nodes.append(Node(
                id=node["id"], label=label, sub=sub or node["artifact"][:12], css="artifact",
                href=f"/artifacts/{seg(node['artifact'])}", title=f"artifact {node['artifact']}",
                data=(("kind", "artifact"), ("artifact", node["artifact"])),
            ))
        else:
            status = node["status"]
            nodes.append(Node(
                id=node["id"], label=node["step"], sub=f"{status} · run {node['run_id'][:8]}",
                css=f"step s-{status.replace(' ', '-')}", href=f"/runs/{seg(node['run_id'])}#step-{node['step']}",
                title=f"step {node['step']} of {node.get('pipeline') or 'a'} run {node['run_id']}",
                data=(("kind", "step"), ("status", status)),
            ))
    return nodes


def preview_html(preview: Mapping[str, Any]) -> Html:
    """An artifact's preview: schema and first rows, JSON text, or a summary."""
    kind = preview["kind"]
    if kind == "table":
        schema = table(["column", "type"], preview["schema"], cls="schema")
        names = [Html(f'{e(name)}<br><span class="coltype">{e(kind)}</span>') for name, kind in preview["schema"]]
        head = table(names, [[DASH if c is None else c for c in row] for row in preview["head"]],
                     cls="preview", empty="The table has no rows.")
        rows = preview.get("rows")
        count = f"{rows:,} rows, " if isinstance(rows, int) else ""
        return Html(
            f'<p class="muted">{e(count)}{len(names)} columns; the first {len(preview["head"])} rows:</p>{head}'
            f'<details class="schema"><summary>Schema ({len(names)} columns)</summary>{schema}</details>'
        )
    if kind == "json":
        return Html(f'<pre class="json">{e(preview["text"])}</pre>')
    if kind == "summary":
        return table(["", ""], [[k, short(v, 300)] for k, v in preview["values"].items()],
                     empty="No preview for this kind of artifact.")
    return Html(f'<p class="muted">No preview: {e(preview.get("reason"))}</p>')


def _edges_table(rows: Sequence[Mapping[str, Any]], noun: str) -> Html:
    return table(
        ["run", "pipeline", "step", noun, "status", "when"],
        [
            [_run_link(r["run_id"]), r["pipeline"], link(f"/runs/{seg(r['run_id'])}#step-{r['step']}", r["step"]),
             r["name"], badge(_shown(r["status"])), when(r.get("started_at"))]
            for r in rows
        ],
        empty=f"No step {'read' if noun == 'as input' else 'wrote'} it.",
    )


def _producer(row: Mapping[str, Any]) -> Html:
    step = link(f"/runs/{seg(row['run_id'])}#step-{row['step']}", row["step"])
    return Html(f"step {step} of run {_run_link(row['run_id'])}")


def _shown(status: str) -> str:
    return "ran" if status == "completed" else status


def artifact_page(data: Mapping[str, Any], *, project: str = "", models: bool = False) -> Html:
    """An artifact: what it is, who made and read it, a preview and its lineage."""
    record = data["artifact"]
    producer = data["producers"][0] if data["producers"] else None
    datasets = join(
        (link(f"/datasets/{seg(d['name'])}?version={d['version']}", f"{d['name']}@{d['version']}") for d in data["datasets"]),
        ", ",
    )
    facts = dl([
        ("type", Html(f'<code>{e(record["data_type"])}</code>')),
        ("format", record["format"]),
        ("size", f"{size(record['size'])} in {record['files']} file{'s' if record['files'] != 1 else ''}"),
        ("created", when(record["created_at"])),
        ("produced by", _producer(producer) if producer else None),
        ("consumers", f"{data['consumer_count']:,} step runs"),
        ("dataset", datasets or None),
        ("location", Html(f'<code class="wrap">{e(data.get("location") or record["uri"])}</code>')),
    ])
    lineage = data["lineage"]
    svg = dag_svg(lineage_nodes(lineage), [tuple(x) for x in lineage["edges"]], label="lineage",
                  highlight=lineage["center"])
    more = (f'<p class="muted small">{lineage["more"]:,} more consuming step runs are not drawn; '
            "they are listed below.</p>") if lineage["more"] else ""
    parts = [
        f'<h1>Artifact <span class="mono">{e(record["id"][:16])}</span> <span class="type">{e(record["short_type"])}</span></h1>',
        f'<p class="mono muted small">{e(record["id"])}</p>',
        facts,
        _section("Lineage", Html(f'<div class="graph">{svg}</div>{more}'), anchor="lineage",
                 note=Html('<p class="legend small"><span class="key"><i class="swatch artifact"></i>artifact</span>'
                           '<span class="key"><i class="swatch s-ran"></i>step that ran</span>'
                           '<span class="key"><i class="swatch s-cached"></i>cached step</span> '
                           '<span class="muted">upstream above, downstream below</span></p>')),
        _section("Preview", preview_html(data["preview"]), anchor="preview"),
        _section(f"Produced by ({data['producer_count']:,})", _edges_table(data["producers"], "as output"), anchor="producers"),
        _section(f"Consumed by ({data['consumer_count']:,})", Html(
            _edges_table(data["consumers"], "as input")
            + pager(f"/artifacts/{seg(record['id'])}", {}, data["page"], data["pages"], data["consumer_count"], "step runs")
        ), anchor="consumers"),
    ]
    return document(f"Artifact {record['id'][:12]}", Html("".join(parts)), project=project, models=models)


# -- datasets -------------------------------------------------------------------------------------


def datasets_page(data: Mapping[str, Any], *, project: str = "", models: bool = False) -> Html:
    """Every dataset with its latest version."""
    rows = [
        [link(f"/datasets/{seg(d['name'])}", d["name"]), d["version"], f"{d['rows']:,}", len(d["columns"]),
         when(d["created_at"]), d.get("user") or DASH, d.get("message") or ""]
        for d in data["datasets"]
    ]
    body = Html("<h1>Datasets</h1>" + table(
        ["dataset", "latest", "rows", "columns", "added", "by", "message"], rows, numeric=[1, 2, 3],
        cls="datasets", empty="No datasets yet. Add one with: shipyard data add NAME PATH",
    ))
    return document("Datasets", body, active="datasets", project=project, models=models)


def _diff_form(name: str, versions: Sequence[int], a: int | None, b: int | None) -> Html:
    if len(versions) < 2:
        return Html('<p class="muted">One version so far: a diff needs two.</p>')

    def select(field: str, chosen: int | None) -> str:
        opts = "".join(f'<option value="{v}"{" selected" if v == chosen else ""}>{v}</option>' for v in versions)
        return f'<label>{field} <select name="{field}">{opts}</select></label>'

    return Html(
        f'<form class="filters" method="get" action="/datasets/{e(seg(name))}/diff">'
        f'{select("a", a)} {select("b", b)} <button type="submit">Diff versions</button></form>'
    )


def dataset_page(data: Mapping[str, Any], *, project: str = "", models: bool = False) -> Html:
    """A dataset: its versions, one version's facts, statistics summary and full statistics report."""
    name = data["dataset"]
    version = data["version"]
    numbers = [v["version"] for v in data["versions"]]
    rows = [
        [link(f"/datasets/{seg(name)}?version={v['version']}", f"{name}@{v['version']}",
              cls="current" if v["version"] == version["version"] else ""),
         f"{v['rows']:,}", len(v["columns"]), when(v["created_at"]), v.get("user") or DASH,
         v.get("source") or DASH, v.get("message") or "", _artifact_link(v["artifact_id"])]
        for v in data["versions"]
    ]
    stats = data["statistics"]
    columns = [
        [col, s.get("type"), f"{s.get('count', 0):,}", f"{100 * (s.get('null_fraction') or 0):.1f}%",
         number(s.get("distinct")), number(s.get("mean")), number(s.get("min")), number(s.get("max"))]
        for col, s in stats["columns"].items()
    ]
    source = f"/datasets/{seg(name)}/statistics.html?version={version['version']}"
    older = [n for n in numbers if n < version["version"]]
    body = Html(
        f'<h1>Dataset {e(name)}@{version["version"]}</h1>'
        + dl([("rows", f"{version['rows']:,}"), ("columns", len(version["columns"])),
              ("added", f"{when(version['created_at'])} by {version.get('user') or DASH}"),
              ("source", version.get("source")), ("message", version.get("message")),
              ("data", _artifact_link(version["artifact_id"])),
              ("read by", f"{data['used_by_steps']:,} step runs")])
        + _section("Versions", Html(table(["version", "rows", "columns", "added", "by", "source", "message", "data"],
                                          rows, numeric=[1, 2]) + _diff_form(name, numbers, older[0] if older else numbers[-1], version["version"])))
        + _section("Column statistics", table(["column", "type", "count", "nulls", "distinct", "mean", "min", "max"],
                                              columns, numeric=[2, 3, 4, 5, 6, 7]))
        + _section("Statistics report", Html(
            f'<p class="muted">Histograms and top values of every column. {link(source, "Open on its own")}</p>'
            f'<iframe class="report" title="statistics report" src="{e(source)}"></iframe>'))
    )
    return document(f"Dataset {name}", body, active="datasets", project=project, models=models)


def dataset_statistics_page(data: Mapping[str, Any], *, project: str = "", models: bool = False) -> Html:
    """A dataset version's statistics report, framed."""
    name, version = data["dataset"], data["version"]["version"]
    source = f"/datasets/{seg(name)}/statistics.html?version={version}"
    body = Html(
        f'<p class="crumbs">{link(f"/datasets/{seg(name)}?version={version}", f"‹ {name}@{version}")}</p>'
        f'<h1>Statistics of {e(name)}@{version}</h1><p>{link(source, "Open on its own")}</p>'
        f'<iframe class="report" title="statistics report" src="{e(source)}"></iframe>'
    )
    return document(f"Statistics of {name}@{version}", body, active="datasets", project=project, models=models)


def dataset_diff_page(data: Mapping[str, Any], *, project: str = "", models: bool = False) -> Html:
    """What changed between two versions, and their drift report."""
    name = data["dataset"]
    a, b = data["a"], data["b"]
    diff = data["diff"]
    ra, rb = diff["rows"]
    facts = dl([
        ("rows", f"{ra:,} → {rb:,}"),
        ("rows added", f"{diff['rows_added']:,}" if "rows_added" in diff else None),
        ("rows removed", f"{diff['rows_removed']:,}" if "rows_removed" in diff else None),
        ("rows kept", f"{diff['rows_kept']:,}" if "rows_kept" in diff else None),
        ("columns added", ", ".join(diff["columns_added"]) or DASH),
        ("columns removed", ", ".join(diff["columns_removed"]) or DASH),
        ("type changes", ", ".join(f"{c}: {x} → {y}" for c, (x, y) in diff["type_changed"].items()) or DASH),
        ("drifted columns", ", ".join(diff.get("drifted") or []) or "none"),
    ])
    rows = []
    for column, entry in diff["statistics"].items():
        drift = entry.get("drift") or {}
        nulls = entry.get("null_fraction") or [None, None]
        changed = {k: v for k, v in entry.items() if k not in ("drift", "null_fraction")}
        rows.append([
            column,
            f"{_percent(nulls[0])} → {_percent(nulls[1])}",
            "; ".join(f"{k} {number(x)} → {number(y)}" for k, (x, y) in changed.items()) or DASH,
            drift.get("method") or DASH,
            number(drift.get("score")),
            badge("drift" if drift.get("drifted") else "ok", "drifts" if drift.get("drifted") else "stable")
            if drift else DASH,
        ])
    source = url(f"/datasets/{seg(name)}/drift.html", {"a": a["version"], "b": b["version"]})
    body = Html(
        f'<p class="crumbs">{link(f"/datasets/{seg(name)}", f"‹ {name}")}</p>'
        f'<h1>{e(name)}@{a["version"]} → {e(name)}@{b["version"]}</h1>'
        + _diff_form(name, data["versions"], a["version"], b["version"])
        + facts
        + _section("Columns", table(["column", "nulls", "changed statistics", "test", "score", "drift"], rows,
                                    numeric=[4]))
        + _section("Drift report", Html(
            f'<p class="muted">{link(source, "Open on its own")}</p>'
            f'<iframe class="report" title="drift report" src="{e(source)}"></iframe>'))
    )
    return document(f"Diff of {name}", body, active="datasets", project=project, models=models)


# -- compare --------------------------------------------------------------------------------------


def compare_pick_page(runs: Mapping[str, Any], chosen: Sequence[str], *, project: str = "", models: bool = False,
                      message: str = "") -> Html:
    """The compare page before two runs are chosen: the newest runs with check boxes."""
    rows = [
        [Html(f'<input type="checkbox" name="runs" value="{e(r["id"])}"{" checked" if r["id"] in chosen else ""} '
              f'aria-label="compare {e(r["id"])}">'),
         _run_link(r["id"]), r["pipeline"], badge(r["status"]), when(r["started_at"]), r.get("user") or DASH]
        for r in runs["runs"]
    ]
    body = Html(
        "<h1>Compare runs</h1>"
        + (f'<div class="banner warn">{e(message)}</div>' if message else "")
        + "<p>Tick two or more runs (or pick them on the runs list) to see their config diff and metrics side by side.</p>"
        + '<form method="get" action="/compare" class="compare-form">'
        + table(["", "run", "pipeline", "status", "started", "user"], rows, empty="No runs yet.")
        + '<p class="actions"><button type="submit" class="compare-button">Compare selected runs</button></p></form>'
    )
    return document("Compare runs", body, active="compare", project=project, models=models)


def compare_page(data: Mapping[str, Any], *, project: str = "", models: bool = False) -> Html:
    """Runs side by side: who and when, metrics (table and bar charts), config diff."""
    runs = data["runs"]
    ids = [r["id"] for r in runs]
    labels = [r["id"][:8] for r in runs]
    head = table(
        ["", "run", "pipeline", "status", "started", "took", "user", "git"],
        [[Html(f'<i class="swatch" style="background:{_colour(i)}"></i>'), _run_link(r["id"]), r["pipeline"],
          badge(r["status"]), when(r["started_at"]), duration(r.get("duration")), r.get("user") or DASH,
          (r.get("git_commit") or DASH)[:8]] for i, r in enumerate(runs)],
    )
    whole = [m for m in data["metrics"] if not m["slice"]]
    sliced = [m for m in data["metrics"] if m["slice"]]

    def metric_rows(rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
        out = []
        for m in rows:
            values = m["values"]
            cells = [number(v) for v in values]
            if len({v for v in values}) > 1:
                cells = [Html(f'<span class="differs">{e(c)}</span>') for c in cells]
            out.append([m["key"], *cells])
        return out

    differ = [m for m in whole if len(set(m["values"])) > 1]
    charts = bar_charts_svg({m["key"]: m["values"] for m in differ[:MAX_CHARTS]}, labels)
    if charts:
        charts = Html(f'<p class="muted small">The metrics whose values differ{" (the first " + str(MAX_CHARTS) + ")" if len(differ) > MAX_CHARTS else ""}:</p>' + charts)
    metrics = table(["metric", *labels], metric_rows(whole), numeric=range(1, len(ids) + 1), cls="metrics",
                    empty="None of these runs recorded metrics.")
    if sliced:
        metrics = Html(metrics + f"<details><summary>Per-slice metrics ({len(sliced)})</summary>"
                       + table(["metric", *labels], metric_rows(sliced), numeric=range(1, len(ids) + 1)) + "</details>")
    differing = [c for c in data["config"] if c["differs"]]
    same = [c for c in data["config"] if not c["differs"]]

    def config_rows(rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
        return [[c["key"], *(Html(f"<code>{e(short(v, 120))}</code>") if v is not None else DASH for v in c["values"])]
                for c in rows]

    config = table(["key", *labels], config_rows(differing), cls="config-diff",
                   empty="The runs have the same config, params, code and data.")
    if same:
        config = Html(config + f"<details><summary>Identical keys ({len(same)})</summary>"
                      + table(["key", *labels], config_rows(same)) + "</details>")
    body = Html(
        f"<h1>Compare {len(runs)} runs</h1>"
        + head
        + _section(f"Config diff ({len(differing)} keys differ)", config, anchor="config")
        + _section("Metrics", Html(charts + metrics), anchor="metrics")
    )
    return document("Compare runs", body, active="compare", project=project, models=models)


# -- models ---------------------------------------------------------------------------------------


def _stage(stage: str) -> Html:
    return badge({"production": "completed", "staging": "running", "archived": "skipped"}.get(stage, "none"), stage)


def models_page(data: Mapping[str, Any], *, project: str = "", models: bool = True) -> Html:
    """Every registered model: versions, production, staging, aliases."""
    rows = [
        [link(f"/models/{seg(m['name'])}", m["name"]), m["versions"],
         f"v{m['production']}" if m.get("production") else DASH,
         ", ".join(f"v{v}" for v in m.get("staging") or []) or DASH,
         ", ".join(f"{a} → v{v}" for a, v in (m.get("aliases") or {}).items()) or DASH,
         when(m.get("updated_at") or m["created_at"]), m.get("description") or ""]
        for m in data["models"]
    ]
    body = Html("<h1>Models</h1>" + table(
        ["model", "versions", "production", "staging", "aliases", "changed", "description"], rows, numeric=[1],
        cls="models", empty="No registered models yet. Register a run's bundle with: shipyard models register NAME RUN",
    ))
    return document("Models", body, active="models", project=project, models=models)


def model_page(data: Mapping[str, Any], *, project: str = "", models: bool = True) -> Html:
    """A model: its versions with the run and data behind each, and its promotion history."""
    model = data["model"]
    name = model["name"]
    rows = []
    for v in data["versions"]:
        run = v.get("run")
        metrics = v.get("metrics") or {}
        shown = ", ".join(f"{k} {number(x)}" for k, x in list(metrics.items())[:4] if "[" not in k)
        traffic = (link(f"/models/{seg(name)}/{v['version']}/drift", f"drift ({v['traffic_chunks']} log chunks)")
                   if v["traffic_chunks"] else Html('<span class="muted">no traffic logged</span>'))
        rows.append([
            f"v{v['version']}", _stage(v["stage"]), ", ".join(v.get("aliases") or []) or DASH,
            _run_link(v["run_id"]) if v.get("run_id") else DASH,
            run["pipeline"] if run else DASH,
            _artifact_link(v["data_version"]) if v.get("data_version") else DASH,
            _artifact_link(v["bundle_id"]),
            shown or DASH, traffic, when(v["created_at"]), v.get("user") or DASH,
        ])
    history = [
        [when(h["created_at"]), h["kind"], f"v{h['version']}",
         f"{h.get('from_value') or DASH} → {h.get('to_value') or DASH}", h.get("reason") or "", h.get("user") or DASH]
        for h in reversed(data["history"])
    ]
    body = Html(
        f'<p class="crumbs">{link("/models", "‹ Models")}</p><h1>Model {e(name)}</h1>'
        + dl([("description", model.get("description")), ("production", f"v{model['production']}" if model.get("production") else "none"),
              ("versions", model["versions"]), ("registered", when(model["created_at"]))])
        + _section("Versions", table(
            ["version", "stage", "aliases", "run", "pipeline", "data", "bundle", "metrics", "live traffic", "registered", "by"],
            rows, cls="versions"), anchor="versions")
        + _section("History", table(["when", "what", "version", "change", "why", "who"], history,
                                    empty="No changes yet."), anchor="history")
    )
    return document(f"Model {name}", body, active="models", project=project, models=models)


def model_drift_page(name: str, version: int, data: Mapping[str, Any], *, project: str = "", models: bool = True) -> Html:
    """A version's live drift: logged traffic against its training statistics."""
    source = f"/models/{seg(name)}/{version}/drift.html"
    body = Html(
        f'<p class="crumbs">{link(f"/models/{seg(name)}", f"‹ {name}")}</p>'
        f"<h1>Live drift of {e(name)}@{version}</h1>"
        f'<p class="muted">{data["rows"]:,} logged predictions against the training statistics, as '
        f'<code>shipyard monitor</code> reports them. {link(source, "Open on its own")}</p>'
        f'<iframe class="report" title="drift report" src="{e(source)}"></iframe>'
    )
    return document(f"Drift of {name}@{version}", body, active="models", project=project, models=models)


def _percent(share: float | None) -> str:
    return DASH if share is None else f"{100 * share:.1f}%"


def _colour(i: int) -> str:
    from shipyard.ui.svg import PALETTE

    return PALETTE[i % len(PALETTE)]


__all__ = [
    "artifact_page",
    "compare_page",
    "compare_pick_page",
    "dataset_diff_page",
    "dataset_page",
    "dataset_statistics_page",
    "datasets_page",
    "document",
    "error_page",
    "login_page",
    "model_drift_page",
    "model_page",
    "models_page",
    "report_page",
    "reports_page",
    "run_page",
    "runs_page",
]
