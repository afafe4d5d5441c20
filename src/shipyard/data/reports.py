"""``shipyard.data.reports`` provides self-contained HTML reports of data statistics, validation and drift.

Every function returns a complete HTML document (a ``str``; write it as UTF-8)
that opens offline: the style is inline CSS in a system font, the plots are
inline SVG drawn here, and the only script is a few lines that sort a table
when its header is clicked. Nothing is fetched from the network.

* :func:`statistics_html` — one or more named tables (``{"train": ..., "test": ...}``):
  per column its type, count, nulls, distinct values and, by type, numbers
  with an overlaid histogram of every table (shares, so sizes compare), the
  most frequent categories as grouped bars, datetime ranges, text lengths;
* :func:`drift_html` — the dataset verdict, a sortable table of each column's
  drift and reference-vs-current plots;
* :func:`validation_html` — error and warning counts and a sortable table of
  the anomalies;
* :func:`run_report_html` — all of these in one document;
* :func:`write_report` — writes a report atomically.

Every string taken from the data (column names, categories, messages) is
escaped, so a report is safe to open whatever the data holds.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.data.drift import DriftReport
    from shipyard.data.statistics import ColumnStatistics, Statistics

HISTOGRAM_BINS = 20
TOP_CATEGORIES = 10
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
PALETTE = ("#2563eb", "#ea580c", "#16a34a", "#9333ea", "#db2777", "#0891b2", "#ca8a04", "#4b5563")
_DASH = "&#8212;"
_DAY = 86_400
_W, _H = 540, 170  # histogram size (px)
_ML, _MR, _MT, _MB = 44, 12, 10, 24  # histogram margins

_CSS = """
:root{--fg:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f8fafc;--ok:#166534;--okbg:#dcfce7;--okb:#86efac;
--bad:#991b1b;--badbg:#fee2e2;--badb:#fca5a5;--warn:#92400e;--warnbg:#fef3c7;--warnb:#fcd34d}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:24px 20px 48px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:18px;margin:32px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:24px 0 8px}
h4{font-size:14px;margin:0 0 8px}
.card>h3:first-child,.card>h4:first-child{margin-top:0}
a{color:#1d4ed8;text-decoration:none}
a:hover{text-decoration:underline}
nav{margin:8px 0 0;font-size:13px}
nav a{margin-right:14px}
.muted{color:var(--muted)}
.small{font-size:12px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin:12px 0}
.grid{display:grid;grid-template-columns:minmax(260px,1fr) minmax(300px,560px);gap:18px;align-items:start}
@media (max-width:860px){.grid{grid-template-columns:1fr}}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;font-weight:600;color:var(--muted);white-space:nowrap}
.n{text-align:right;white-space:nowrap}
tbody tr:hover{background:#f1f5f9}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th::after{content:" \\2195";opacity:.35}
table.sortable th[aria-sort=ascending]::after{content:" \\2191";opacity:1}
table.sortable th[aria-sort=descending]::after{content:" \\2193";opacity:1}
.banner{border:1px solid;border-radius:8px;padding:12px 16px;margin:12px 0}
.banner strong{font-size:16px}
.banner.ok{background:var(--okbg);color:var(--ok);border-color:var(--okb)}
.banner.bad{background:var(--badbg);color:var(--bad);border-color:var(--badb)}
.banner.warn{background:var(--warnbg);color:var(--warn);border-color:var(--warnb)}
.badge{display:inline-block;padding:0 8px;border-radius:999px;font-size:12px;font-weight:600;white-space:nowrap}
.badge.ok{background:var(--okbg);color:var(--ok)}
.badge.bad{background:var(--badbg);color:var(--bad)}
.badge.warn{background:var(--warnbg);color:var(--warn)}
.badge.none{background:#f1f5f9;color:var(--muted)}
.type{display:inline-block;padding:0 6px;border-radius:4px;font-size:12px;background:#eef2ff;color:#3730a3;
margin-left:6px;font-weight:500;vertical-align:1px}
.legend{font-size:12px;margin:0 0 4px}
.legend span{margin-right:14px;white-space:nowrap}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.stat{display:inline-block;margin:0 24px 4px 0}
.stat b{display:block;font-size:20px}
svg{display:block;max-width:100%;height:auto}
svg text{font-size:10px;fill:var(--muted)}
svg .hit{fill:#0f172a;fill-opacity:0}
svg .hit:hover{fill-opacity:.06}
footer{margin-top:40px;font-size:12px;color:var(--muted)}
"""

_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  function sort() {
    var table = th.closest("table"), body = table.tBodies[0];
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
    function key(row) {
      var cell = row.children[index];
      if (!cell) return "";
      return cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
    }
    Array.prototype.slice.call(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === "" || y === "") return x === y ? 0 : (x === "" ? 1 : -1);
      var nx = Number(x), ny = Number(y);
      if (!isNaN(nx) && !isNaN(ny)) return (nx - ny) * dir;
      return x.localeCompare(y) * dir;
    }).forEach(function (row) { body.appendChild(row); });
  }
  th.tabIndex = 0;
  th.addEventListener("click", sort);
  th.addEventListener("keydown", function (e) { if (e.key === "Enter") sort(); });
});
"""


# -- public functions ------------------------------------------------------------------------


def statistics_html(tables: Mapping[str, Statistics], *, title: str) -> str:
    """A report of one or more tables' statistics.

    Args:
        tables: statistics by table name, e.g. ``{"train": s1, "test": s2}``
            or ``{"dataset": s}``; plots overlay the tables in this order.
        title: the document's title.

    Returns:
        The HTML document.
    """
    return _document(title, _statistics_body(tables, prefix="stats", level=2))


def drift_html(
    report: Mapping[str, Any] | DriftReport,
    reference: Statistics,
    current: Statistics,
    *,
    title: str,
    labels: tuple[str, str] = ("reference", "current"),
) -> str:
    """A report of the drift between a reference and a current table.

    Args:
        report: the :class:`~shipyard.data.drift.DriftReport` of
            :func:`~shipyard.data.drift.compare`, or its JSON form.
        reference: statistics of the reference table.
        current: statistics of the current table.
        title: the document's title.
        labels: names of the reference and current tables in the report.

    Returns:
        The HTML document.
    """
    if labels[0] == labels[1]:  # the same source on both sides: keep the two series apart
        labels = (f"{labels[0]} (reference)", f"{labels[1]} (current)")
    return _document(title, _drift_body(report, reference, current, labels=labels, prefix="drift", level=2))


def validation_html(result: Mapping[str, Any], *, title: str) -> str:
    """A report of a validation result: counts and a sortable table of anomalies.

    Args:
        result: the validation result's JSON (``ok``, ``errors``, ``warnings``
            and ``anomalies``, each with ``severity``, ``column``, ``kind``,
            ``message`` and an optional ``split``), or the
            :class:`~shipyard.data.validation.ValidationResult` itself.
        title: the document's title.

    Returns:
        The HTML document.
    """
    return _document(title, _validation_body(result, level=2))


def run_report_html(
    *,
    title: str,
    statistics: Mapping[str, Statistics] | None = None,
    validation: Mapping[str, Any] | None = None,
    drift: Sequence[tuple[str, Mapping[str, Any], Statistics, Statistics]] | None = None,
) -> str:
    """One document with a section for each part given.

    Args:
        title: the document's title.
        statistics: statistics by table name (see :func:`statistics_html`).
        validation: a validation result (see :func:`validation_html`).
        drift: drift comparisons, each ``(section title, report JSON,
            reference statistics, current statistics)``.

    Returns:
        The HTML document.
    """
    sections: list[tuple[str, str, str]] = []  # (anchor, heading, body)
    if validation is not None:
        sections.append(("validation", "Validation", _validation_body(validation, level=3)))
    for i, (name, report, reference, current) in enumerate(drift or (), start=1):
        body = _drift_body(report, reference, current, labels=("reference", "current"), prefix=f"drift{i}", level=3)
        sections.append((f"drift{i}", str(name), body))
    if statistics is not None:
        sections.append(("statistics", "Statistics", _statistics_body(statistics, prefix="stats", level=3)))
    if not sections:
        return _document(title, '<p class="muted">Nothing to report.</p>')
    nav = "".join(f'<a href="#{anchor}">{_e(heading)}</a>' for anchor, heading, _ in sections)
    parts = [f"<nav>{nav}</nav>"]
    parts += [f'<section id="{anchor}"><h2>{_e(heading)}</h2>{body}</section>' for anchor, heading, body in sections]
    return _document(title, "".join(parts))


def write_report(html: str, path: Path) -> Path:
    """Write a report atomically: to a temporary file beside it, then renamed over it.

    Args:
        html: the document.
        path: where to write it (parent folders are created).

    Returns:
        The path written.
    """
    from shipyard.stores.files import write_atomic

    path = Path(path)
    write_atomic(path, html.encode("utf-8"))
    return path


# -- document ---------------------------------------------------------------------------------


def _document(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="Shipyard">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{_e(title)}</h1>\n{body}\n"
        '<footer>Made by Shipyard. This file is self-contained: it opens offline.</footer>\n'
        f"</main>\n<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )


def _e(value: Any) -> str:
    """Escape text from the data for HTML (and quoted attributes)."""
    return html.escape(str(value), quote=True)


def _h(level: int, text: str, anchor: str | None = None) -> str:
    level = min(level, 6)
    attr = f' id="{anchor}"' if anchor else ""
    return f"<h{level}{attr}>{text}</h{level}>"


def _num(value: Any) -> str:
    """A number formatted for people (already safe HTML)."""
    if value is None or isinstance(value, bool):
        return _DASH if value is None else str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return _e(value)
    if math.isnan(v):
        return _DASH
    if math.isinf(v):
        return "&#8734;" if v > 0 else "&#8722;&#8734;"
    if v == 0:
        return "0"
    if v.is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    a = abs(v)
    if a >= 1e15 or a < 1e-3:
        return f"{v:.3g}"
    if a >= 1e5:
        return f"{v:,.0f}"
    if a >= 1e3:
        return f"{v:,.1f}"
    return f"{v:.4g}"


def _pct(share: float | None) -> str:
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return _DASH
    if 0 < share < 0.001:
        return "&lt;0.1%"
    return f"{share * 100:.1f}%"


def _sort_key(value: Any) -> str:
    """A cell's ``data-sort`` value: a plain number, or empty for none."""
    if value is None or isinstance(value, bool):
        return ""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return _e(value)
    return "" if math.isnan(v) else repr(v) if math.isfinite(v) else ("1e308" if v > 0 else "-1e308")


def _td(content: str, sort: Any = ..., cls: str = "") -> str:
    attrs = f' class="{cls}"' if cls else ""
    if sort is not ...:
        attrs += f' data-sort="{_sort_key(sort)}"'
    return f"<td{attrs}>{content}</td>"


def _when(seconds: float | None, *, time: bool = True) -> str:
    if seconds is None:
        return _DASH
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    if not time or (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _legend(series: Sequence[tuple[str, str]]) -> str:
    items = "".join(f'<span><i style="background:{colour}"></i>{_e(label)}</span>' for label, colour in series)
    return f'<div class="legend">{items}</div>'


# -- statistics -------------------------------------------------------------------------------


def _statistics_body(tables: Mapping[str, Statistics], *, prefix: str, level: int) -> str:
    names = list(tables)
    if not names:
        return '<p class="muted">No tables.</p>'
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    columns: list[str] = []
    for stats in tables.values():
        columns += [c for c in stats.columns if c not in columns]
    anchors = {column: f"{prefix}-c{i}" for i, column in enumerate(columns)}

    # Tables.
    rows = "".join(
        f'<tr><td><i style="display:inline-block;width:10px;height:10px;border-radius:2px;'
        f'background:{colours[name]};margin-right:6px"></i>{_e(name)}</td>'
        f'<td class="n">{_num(stats.rows)}</td><td class="n">{_num(len(stats.columns))}</td></tr>'
        for name, stats in tables.items()
    )
    parts = [
        '<div class="card"><table><thead><tr><th>Table</th><th class="n">Rows</th>'
        f'<th class="n">Columns</th></tr></thead><tbody>{rows}</tbody></table></div>'
    ]

    # Overview of the columns.
    head = "<th>Column</th><th>Type</th>" + "".join(
        f'<th class="n">Nulls{_suffix(name, names)}</th><th class="n">Distinct{_suffix(name, names)}</th>' for name in names
    )
    body = []
    for column in columns:
        present = {name: tables[name].columns.get(column) for name in names}
        kind = _kind(present.values())
        cells = [
            _td(f'<a href="#{anchors[column]}">{_e(column)}</a>', column),
            _td(_e(kind), kind),
        ]
        for name in names:
            c = present[name]
            cells.append(_td(_pct(c.null_fraction) if c else _DASH, c.null_fraction if c else None, "n"))
            cells.append(_td(_distinct(c) if c else _DASH, c.distinct.estimate() if c else None, "n"))
        body.append(f"<tr>{''.join(cells)}</tr>")
    parts.append(_h(level, "Columns"))
    parts.append(
        '<div class="card scroll"><table class="sortable"><thead><tr>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )

    # One card per column.
    for column in columns:
        present = {name: tables[name].columns.get(column) for name in names}
        kind = _kind(present.values())
        series = [(name, colours[name], c) for name, c in present.items() if c is not None]
        parts.append(
            f'<div class="card" id="{anchors[column]}">'
            f'{_h(level + 1, f"{_e(column)} <span class=type>{_e(kind)}</span>")}'
            f"{_panes(_column_table(present), _chart(series))}</div>"
        )
    return "".join(parts)


def _panes(table: str, chart: str) -> str:
    """A column's table beside its plot (or alone)."""
    if not chart:
        return f'<div class="scroll" style="max-width:640px">{table}</div>'
    return f'<div class="grid"><div class="scroll">{table}</div><div>{chart}</div></div>'


def _suffix(name: str, names: Sequence[str]) -> str:
    return f"<br>{_e(name)}" if len(names) > 1 else ""


def _kind(columns: Any) -> str:
    for c in columns:
        if c is not None:
            return c.type
    return "unknown"


def _distinct(c: ColumnStatistics) -> str:
    return ("" if c.distinct.is_exact else "&#8776;") + _num(c.distinct.estimate())


def _column_table(present: Mapping[str, ColumnStatistics | None]) -> str:
    """Rows of statistics, one column per table."""
    names = list(present)
    kind = _kind(present.values())
    common: list[tuple[str, Any]] = [
        ("count", lambda c: _num(c.count)),
        ("nulls", lambda c: f"{_num(c.nulls)} <span class=muted>({_pct(c.null_fraction)})</span>"),
        ("distinct", _distinct),
    ]
    rows: list[tuple[str, Any]] = []
    if kind == "numeric":
        rows += [
            ("mean", lambda c: _num(c.mean if c.finite_count else None)),
            ("std", lambda c: _num(c.std)),
            ("min", lambda c: _num(c.minimum)),
        ]
        rows += [
            (f"p{round(q * 100)}", lambda c, q=q: _num(c.quantiles(QUANTILES).get(f"p{round(q * 100)}")))
            for q in QUANTILES
        ]
        rows += [
            ("max", lambda c: _num(c.maximum)),
            ("zeros", lambda c: _num(c.zeros)),
        ]
        if any(c is not None and c.infinite for c in present.values()):
            rows.append(("infinite", lambda c: _num(c.infinite)))
    elif kind == "datetime":
        rows += [
            ("min", lambda c: _when(c.minimum)),
            ("max", lambda c: _when(c.maximum)),
            ("days", lambda c: _num(len(c.days))),
        ]
    elif kind == "boolean":
        rows.append(("true", lambda c: _pct(c.trues / c.count) if c.count else _DASH))
    elif kind in ("categorical", "text"):
        if kind == "categorical":
            rows.append(("most frequent", _most_frequent))
        rows += [
            ("length min", lambda c: _num(c.length_min)),
            ("length mean", lambda c: _num(c.length_total / c.count) if c.count else _DASH),
            ("length max", lambda c: _num(c.length_max)),
        ]
        if kind == "text":
            rows.append(("most frequent", _most_frequent))
    head = ""
    if len(names) > 1:
        # A table whose column has another type says so (its type's rows stay empty).
        head = "<th></th>" + "".join(
            f'<th class="n">{_e(name)}'
            + (f'<br><span class="type">{_e(c.type)}</span>' if c is not None and not _alike(c.type, kind) else "")
            + "</th>"
            for name, c in present.items()
        )
    body = []
    for specific, (label, cell) in [(False, row) for row in common] + [(True, row) for row in rows]:
        values = []
        for c in present.values():
            if c is None or (specific and not _alike(c.type, kind)):
                values.append(f'<td class="n muted">{_DASH}</td>')
            else:
                values.append(f'<td class="n">{cell(c)}</td>')
        body.append(f'<tr><th>{label}</th>{"".join(values)}</tr>')
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    return f"<table>{thead}<tbody>{''.join(body)}</tbody></table>"


def _alike(a: str, b: str) -> bool:
    """Whether statistics of type ``a`` have the rows of type ``b``."""
    return a == b or {a, b} == {"categorical", "text"}


def _most_frequent(c: ColumnStatistics) -> str:
    if c.top is None or not c.top.counts or not c.count:
        return _DASH
    value, count = c.top.most_common(1)[0]
    shown = value if len(value) <= 20 else value[:19] + "\u2026"
    return f'<span title="{_e(value)}">{_e(shown)}</span> <span class=muted>({_pct(count / c.count)})</span>'


# -- charts ----------------------------------------------------------------------------------


def _chart(series: Sequence[tuple[str, str, ColumnStatistics]]) -> str:
    """The plot of a column in one or more tables: a histogram or category bars."""
    if not series:
        return ""
    kind = series[0][2].type
    if kind in ("numeric", "datetime"):
        return _histogram(series, kind)
    if kind in ("categorical", "boolean"):
        return _categories(series)
    return ""


def _histogram(series: Sequence[tuple[str, str, ColumnStatistics]], kind: str) -> str:
    if kind == "datetime":
        usable = [(n, col, c) for n, col, c in series if c.type == kind and c.days]
    else:
        usable = [(n, col, c) for n, col, c in series if c.type == kind and c.sketch is not None and c.minimum is not None]
    if not usable:
        return '<p class="muted small">No values to plot.</p>'
    lo, hi, bins, discrete = _bins([c for _, _, c in usable], kind)
    shares = []
    for _, _, c in usable:
        counts = [float(x) for x in c.histogram(bins, lo, hi)["counts"]]
        total = sum(counts)
        shares.append([x / total if total else 0.0 for x in counts])
    edges = [lo + (hi - lo) * i / bins for i in range(bins + 1)]
    top = max(max(s) for s in shares) or 1.0
    pw, ph = _W - _ML - _MR, _H - _MT - _MB
    base = _MT + ph

    def x(i: int) -> float:
        return _ML + pw * i / bins

    def y(share: float) -> float:
        return _MT + ph * (1 - share / top)

    def fmt(value: float) -> str:
        return _when(value, time=False) if kind == "datetime" else _num(value)

    out = [f'<svg viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" aria-label="histogram">']
    for share in (top / 2, top):
        out.append(f'<line x1="{_ML}" x2="{_W - _MR}" y1="{y(share):.1f}" y2="{y(share):.1f}" stroke="#eef0f3"/>')
        out.append(f'<text x="{_ML - 4}" y="{y(share) + 3:.1f}" text-anchor="end">{_pct(share)}</text>')
    for (_, colour, _), values in zip(usable, shares, strict=True):
        path = [f"M{x(0):.1f},{base:.1f}"]
        for i, share in enumerate(values):
            path.append(f"L{x(i):.1f},{y(share):.1f}L{x(i + 1):.1f},{y(share):.1f}")
        path.append(f"L{x(bins):.1f},{base:.1f}Z")
        out.append(f'<path d="{"".join(path)}" fill="{colour}" fill-opacity=".16" stroke="{colour}" stroke-width="1.5" stroke-linejoin="round"/>')
    out.append(f'<line x1="{_ML}" x2="{_W - _MR}" y1="{base}" y2="{base}" stroke="#9ca3af"/>')
    for i in range(bins):
        if discrete:
            where = fmt((edges[i] + edges[i + 1]) / 2)
        else:
            where = f"{fmt(edges[i])} &#8211; {fmt(edges[i + 1])}"
        tip = "; ".join(f"{_e(name)} {_pct(values[i])}" for (name, _, _), values in zip(usable, shares, strict=True))
        out.append(
            f'<rect class="hit" x="{x(i):.1f}" y="{_MT}" width="{pw / bins:.1f}" height="{ph}">'
            f"<title>{where}: {tip}</title></rect>"
        )
    if discrete:  # a label under each bin (a few when many)
        ticks = range(bins) if bins <= 12 and kind == "numeric" else sorted({0, bins // 2, bins - 1})
        labels = [(x(i) + pw / bins / 2, fmt((edges[i] + edges[i + 1]) / 2), "middle") for i in ticks]
    else:
        labels = [(x(0), fmt(lo), "start"), (x(bins // 2), fmt(edges[bins // 2]), "middle"), (x(bins), fmt(hi), "end")]
    for pos, text, anchor in labels:
        out.append(f'<text x="{pos:.1f}" y="{_H - 8}" text-anchor="{anchor}">{text}</text>')
    out.append("</svg>")
    return _legend([(n, col) for n, col, _ in usable]) + "".join(out)


def _bins(columns: Sequence[ColumnStatistics], kind: str) -> tuple[float, float, int, bool]:
    """The shared range and bins of every table's histogram (and whether bins are single values)."""
    if kind == "datetime":
        first = min(min(c.days) for c in columns)
        last = max(max(c.days) for c in columns)
        if last - first < 31:
            return (first - 0.5) * _DAY, (last + 0.5) * _DAY, last - first + 1, True
        return float(first * _DAY), float(last * _DAY), HISTOGRAM_BINS, False
    lo = min(float(c.minimum) for c in columns if c.minimum is not None)
    hi = max(float(c.maximum) for c in columns if c.maximum is not None)
    whole = all(c.dtype.startswith(("int", "uint")) for c in columns)
    # Small whole numbers get a bin each (the sketch keeps values within 1%, so
    # up to 40 a value stays inside its bin).
    if whole and hi - lo < 30 and max(abs(lo), abs(hi)) <= 40:
        return lo - 0.5, hi + 0.5, round(hi - lo) + 1, True
    if hi <= lo:
        return lo - 0.5, lo + 0.5, 1, True
    return lo, hi, HISTOGRAM_BINS, False


def _shares(c: ColumnStatistics) -> dict[str, float]:
    if not c.count:
        return {}
    if c.type == "boolean":
        return {"true": c.trues / c.count, "false": (c.count - c.trues) / c.count}
    counts = c.top.counts if c.top is not None else {}
    return {str(k): v / c.count for k, v in counts.items()}


def _categories(series: Sequence[tuple[str, str, ColumnStatistics]]) -> str:
    """Grouped horizontal bars: the most frequent values' shares in each table."""
    shares = [_shares(c) for _, _, c in series]
    totals: dict[str, float] = {}
    for s in shares:
        for key, value in s.items():
            totals[key] = totals.get(key, 0.0) + value
    if not totals:
        return '<p class="muted small">No values to plot.</p>'
    keys = sorted(totals, key=lambda k: (-totals[k], k))[:TOP_CATEGORIES]
    if series[0][2].type == "boolean":
        keys = [k for k in ("true", "false") if k in totals]
    top = max(max(s.values(), default=0.0) for s in shares) or 1.0
    n = len(series)
    bar = 10 if n <= 2 else 7
    group = n * bar + (n - 1)
    gap, label_w, value_w = 8, 150, 44
    height = len(keys) * (group + gap) + gap
    plot = _W - label_w - value_w
    out = [f'<svg viewBox="0 0 {_W} {height}" width="{_W}" height="{height}" role="img" aria-label="category shares">']
    for row, key in enumerate(keys):
        y0 = gap + row * (group + gap)
        shown = key if len(key) <= 24 else key[:23] + "\u2026"
        out.append(
            f'<text x="{label_w - 6}" y="{y0 + group / 2 + 3.5:.1f}" text-anchor="end">'
            f"<title>{_e(key)}</title>{_e(shown)}</text>"
        )
        for j, ((name, colour, c), s) in enumerate(zip(series, shares, strict=True)):
            share = s.get(key, 0.0)
            width = max(plot * share / top, 0.5 if share else 0.0)
            yb = y0 + j * (bar + 1)
            count = round(share * c.count)
            out.append(
                f'<rect x="{label_w}" y="{yb}" width="{width:.1f}" height="{bar}" fill="{colour}" rx="1">'
                f"<title>{_e(name)}: {_e(key)} {_pct(share)} ({_num(count)})</title></rect>"
            )
            out.append(f'<text x="{label_w + width + 4:.1f}" y="{yb + bar - 1}" style="font-size:9px">{_pct(share)}</text>')
    out.append("</svg>")
    distinct = max(c.distinct.estimate() for _, _, c in series)
    note = ""
    if distinct > len(keys):
        note = f'<p class="muted small">The {len(keys)} most frequent of {_num(distinct)} values; shares of non-null values.</p>'
    return _legend([(name, colour) for name, colour, _ in series]) + "".join(out) + note


# -- drift ------------------------------------------------------------------------------------


def _drift_body(
    report: Mapping[str, Any] | DriftReport,
    reference: Statistics,
    current: Statistics,
    *,
    labels: tuple[str, str],
    prefix: str,
    level: int,
) -> str:
    data: Mapping[str, Any] = report.to_json() if hasattr(report, "to_json") else report  # type: ignore[union-attr]
    columns = list(data.get("columns") or [])
    drifted = [str(c) for c in data.get("drifted") or [c["column"] for c in columns if c.get("drifted")]]
    compared = int(data.get("compared", len(columns)))
    share = float(data.get("drifted_share", len(drifted) / compared if compared else 0.0))
    threshold = float(data.get("share_threshold", 0.5))
    verdict = bool(data.get("dataset_drift", False))
    ref_label, cur_label = labels
    anchors = {c["column"]: f"{prefix}-c{i}" for i, c in enumerate(columns)}

    # Verdict banner.
    names = ", ".join(f'<a href="#{anchors[n]}">{_e(n)}</a>' if n in anchors else _e(n) for n in drifted)
    lines = [
        f"<strong>{'Dataset drift detected' if verdict else 'No dataset drift'}</strong>",
        f"<div>{len(drifted)} of {compared} columns drifted ({_pct(share)}); "
        f"the dataset drifts from {_pct(threshold)}.</div>",
    ]
    if drifted:
        lines.append(f"<div>Drifted: {names}</div>")
    ref_rows = data.get("reference_rows", reference.rows)
    cur_rows = data.get("current_rows", current.rows)
    lines.append(f'<div class="small">{_e(ref_label)}: {_num(ref_rows)} rows &middot; {_e(cur_label)}: {_num(cur_rows)} rows</div>')
    for key, what in (("missing_columns", f"Missing from {_e(cur_label)}"), ("new_columns", f"New in {_e(cur_label)}")):
        if data.get(key):
            lines.append(f'<div class="small">{what}: {", ".join(_e(c) for c in data[key])}</div>')
    parts = [f'<div class="banner {"bad" if verdict else "ok"}">{"".join(lines)}</div>']

    # Drift table (sorted by score, highest first, as the report is).
    rows = []
    for c in columns:
        name = str(c.get("column"))
        p_value, p_test = c.get("p_value"), ""
        if p_value is None:
            for test, result in (c.get("tests") or {}).items():
                if result.get("p_value") is not None:
                    p_value, p_test = result["p_value"], test
                    break
        p_cell = _num(p_value) + (f' <span class="muted small">{_e(p_test)}</span>' if p_test else "")
        rows.append(
            "<tr>"
            + _td(f'<a href="#{anchors[name]}">{_e(name)}</a>', name)
            + _td(_e(c.get("type", "")))
            + _td(_e(c.get("method", "")))
            + _td(_num(c.get("score")), c.get("score"), "n")
            + _td(_num(c.get("threshold")), c.get("threshold"), "n")
            + _td(p_cell, p_value, "n")
            + _td(_drift_badge(c), _verdict_rank(c))
            + "</tr>"
        )
    parts.append(_h(level, "Drift by column"))
    if rows:
        parts.append(
            '<div class="card scroll"><table class="sortable"><thead><tr><th>Column</th><th>Type</th>'
            '<th>Method</th><th class="n" aria-sort="descending">Score</th><th class="n">Threshold</th><th class="n">p-value</th>'
            f"<th>Verdict</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        )
    else:
        parts.append('<p class="muted">No columns were compared.</p>')

    # One card per column.
    colours = (PALETTE[0], PALETTE[1])
    for c in columns:
        name = str(c.get("column"))
        present = {ref_label: reference.columns.get(name), cur_label: current.columns.get(name)}
        series = [(label, colour, s) for (label, s), colour in zip(present.items(), colours, strict=True) if s is not None]
        note = f'<p class="muted small">{_e(c["note"])}</p>' if c.get("note") else ""
        heading = f'{_e(name)} <span class="type">{_e(c.get("type", ""))}</span> {_drift_badge(c)}'
        parts.append(
            f'<div class="card" id="{anchors[name]}">{_h(level + 1, heading)}'
            f"{_panes(_column_table(present) + _tests_table(c) + note, _chart(series))}</div>"
        )
    return "".join(parts)


def _drift_badge(c: Mapping[str, Any]) -> str:
    if c.get("score") is None and not c.get("drifted"):
        return '<span class="badge none">not compared</span>'
    return '<span class="badge bad">drifted</span>' if c.get("drifted") else '<span class="badge ok">no drift</span>'


def _verdict_rank(c: Mapping[str, Any]) -> int:
    return 2 if c.get("drifted") else 0 if c.get("score") is None else 1


def _tests_table(c: Mapping[str, Any]) -> str:
    tests = c.get("tests") or {}
    if not tests:
        return ""
    rows = []
    for test, result in tests.items():
        flagged = result.get("flagged")
        badge = '<span class="badge bad">flagged</span>' if flagged else '<span class="badge ok">ok</span>'
        deciding = ' <span class="muted small">decides</span>' if test == c.get("method") else ""
        rows.append(
            f'<tr><td style="white-space:nowrap">{_e(test)}{deciding}</td>'
            f"<td class=n>{_num(result.get('score'))}</td>"
            f"<td class=n>{_num(result.get('p_value'))}</td><td class=n>{_num(result.get('threshold'))}</td>"
            f"<td>{badge}</td></tr>"
        )
    return (
        '<table style="margin-top:12px"><thead><tr><th>Test</th><th class="n">Score</th><th class="n">p-value</th>'
        f'<th class="n">Threshold</th><th></th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


# -- validation -------------------------------------------------------------------------------

_SEVERITY_RANK = {"error": 0, "warning": 1}


def _validation_body(result: Mapping[str, Any], *, level: int) -> str:
    if hasattr(result, "to_json"):  # a ValidationResult
        result = result.to_json()
    anomalies = list(result.get("anomalies") or [])
    errors = int(result.get("errors", sum(1 for a in anomalies if a.get("severity") == "error")))
    warnings = int(result.get("warnings", sum(1 for a in anomalies if a.get("severity") == "warning")))
    ok = bool(result.get("ok", errors == 0))
    if not ok:
        tone, headline = "bad", "Validation failed"
    elif warnings:
        tone, headline = "warn", "Validation passed with warnings"
    else:
        tone, headline = "ok", "Validation passed"
    kinds: dict[str, int] = {}
    for a in anomalies:
        kinds[str(a.get("kind", ""))] = kinds.get(str(a.get("kind", "")), 0) + 1
    by_kind = ", ".join(f"{_e(k)} &times; {n}" for k, n in sorted(kinds.items()))
    parts = [
        f'<div class="banner {tone}"><strong>{headline}</strong><div>'
        f'<span class="stat"><b>{_num(errors)}</b>error{"" if errors == 1 else "s"}</span>'
        f'<span class="stat"><b>{_num(warnings)}</b>warning{"" if warnings == 1 else "s"}</span></div>'
        + (f'<div class="small">{by_kind}</div>' if by_kind else "")
        + "</div>"
    ]
    parts.append(_h(level, "Anomalies"))
    if not anomalies:
        parts.append('<p class="muted">No anomalies.</p>')
        return "".join(parts)
    ordered = sorted(
        anomalies,
        key=lambda a: (_SEVERITY_RANK.get(a.get("severity"), 2), str(a.get("split") or ""), str(a.get("column") or ""), str(a.get("kind") or "")),
    )
    rows = []
    for a in ordered:
        severity = str(a.get("severity", ""))
        tone = {"error": "bad", "warning": "warn"}.get(severity, "none")
        column, split = a.get("column"), a.get("split")
        rows.append(
            "<tr>"
            + _td(f'<span class="badge {tone}">{_e(severity)}</span>', _SEVERITY_RANK.get(severity, 2))
            + _td(_e(split) if split is not None else _DASH, "" if split is None else split)
            + _td(_e(column) if column is not None else _DASH, "" if column is None else column)
            + _td(_e(a.get("kind", "")))
            + _td(_e(a.get("message", "")))
            + "</tr>"
        )
    parts.append(
        '<div class="card scroll"><table class="sortable"><thead><tr><th aria-sort="ascending">Severity</th><th>Split</th>'
        f"<th>Column</th><th>Kind</th><th>Message</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    return "".join(parts)


__all__ = [
    "drift_html",
    "run_report_html",
    "statistics_html",
    "validation_html",
    "write_report",
]
