"""``shipyard.ui.html`` provides small HTML building blocks that escape everything.

Text becomes markup only through :func:`e` (which escapes it) or the helpers
here (which escape what they are given). :class:`Html` marks a string as
markup already, so a table cell or a link text that is plain text is always
escaped, and one that is markup is never escaped twice.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

DASH = "–"
_N = ' class="n"'


class Html(str):
    """A string that is markup already (it is not escaped again)."""

    __slots__ = ()


def e(value: Any) -> Html:
    """Text as HTML: escaped (quotes too), ``None`` as empty."""
    if isinstance(value, Html):
        return value
    return Html("" if value is None else escape(str(value), quote=True))


def join(parts: Iterable[Any], sep: str = "") -> Html:
    """Markup and text joined (the text escaped)."""
    return Html(e(sep).join(e(p) for p in parts))


def seg(value: Any) -> str:
    """A URL path segment: every reserved character quoted."""
    return quote(str(value), safe="")


def url(path: str, query: Mapping[str, Any] | None = None) -> str:
    """A URL from a path and query parameters (``None`` and ``""`` left out; lists repeat the key)."""
    pairs: list[tuple[str, str]] = []
    for key, value in (query or {}).items():
        values = value if isinstance(value, (list, tuple)) else [value]
        pairs += [(key, str(v)) for v in values if v is not None and v != ""]
    return f"{path}?{urlencode(pairs)}" if pairs else path


def link(href: str, text: Any, *, cls: str = "", title: str = "") -> Html:
    """``<a>``; ``text`` is escaped unless it is :class:`Html`."""
    extra = (f' class="{e(cls)}"' if cls else "") + (f' title="{e(title)}"' if title else "")
    return Html(f'<a href="{e(href)}"{extra}>{e(text)}</a>')


def tag(name: str, content: Any = "", **attrs: Any) -> Html:
    """An element; attribute values escaped (``cls`` is ``class``; ``None``/``False`` left out)."""
    rendered = "".join(
        f' {"class" if k == "cls" else k.replace("_", "-")}' + ("" if v is True else f'="{e(v)}"')
        for k, v in attrs.items()
        if v is not None and v is not False
    )
    return Html(f"<{name}{rendered}>{e(content)}</{name}>")


def table(
    headers: Sequence[Any],
    rows: Iterable[Sequence[Any]],
    *,
    cls: str = "",
    empty: str = "Nothing here yet.",
    numeric: Iterable[int] = (),
    row_attrs: Sequence[Mapping[str, Any]] | None = None,
) -> Html:
    """A table; cells are escaped unless they are :class:`Html`.

    Args:
        numeric: indexes of right-aligned columns.
        row_attrs: attributes of each ``<tr>`` (e.g. ``data-run``).
    """
    right = set(numeric)
    body = []
    for i, row in enumerate(rows):
        attrs = "".join(f' {e(k)}="{e(v)}"' for k, v in (row_attrs[i] if row_attrs else {}).items())
        cells = "".join(f"<td{_N if j in right else ''}>{e(c)}</td>" for j, c in enumerate(row))
        body.append(f"<tr{attrs}>{cells}</tr>")
    if not body:
        return Html(f'<p class="muted">{e(empty)}</p>')
    head = "".join(f"<th{_N if j in right else ''}>{e(h)}</th>" for j, h in enumerate(headers))
    return Html(
        f'<div class="scroll"><table class="{e(cls)}"><thead><tr>{head}</tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table></div>'
    )


def dl(items: Iterable[tuple[Any, Any]]) -> Html:
    """A definition list of ``(term, value)`` (values escaped unless markup); empty values left out."""
    parts = [f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in items if v not in (None, "")]
    return Html(f'<dl class="facts">{"".join(parts)}</dl>')


def badge(status: str | None, label: str | None = None) -> Html:
    """A status as a coloured pill (``data-status`` holds the status)."""
    status = status or "unknown"
    css = status.replace(" ", "-")
    return Html(f'<span class="badge s-{e(css)}" data-status="{e(status)}">{e(label or status)}</span>')


def when(seconds: float | None) -> str:
    """Epoch seconds as local ``YYYY-MM-DD HH:MM:SS``."""
    if seconds is None:
        return DASH
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def duration(seconds: float | None) -> str:
    """A duration for people: ``350 ms``, ``4.2 s``, ``3 min 5 s``, ``2 h 10 min``."""
    if seconds is None or not math.isfinite(seconds):
        return DASH
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def number(value: Any) -> str:
    """A number with 4 significant digits; missing as a dash."""
    if value is None:
        return DASH
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.4g}" if isinstance(value, float) else f"{value:,}"


def size(count: int | None) -> str:
    """Bytes as B, kB, MB or GB."""
    if count is None:
        return DASH
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def short(value: Any, limit: int = 80) -> str:
    """A value as compact text (JSON for structures), cut at ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pretty(value: Any) -> Html:
    """A value as indented JSON in a ``<pre>``."""
    return Html(f'<pre class="json">{e(json.dumps(value, indent=2, default=str, sort_keys=False))}</pre>')


def pager(path: str, query: Mapping[str, Any], page: int, pages: int, total: int, noun: str) -> Html:
    """Previous/next links that keep the other query parameters."""
    if pages <= 1:
        return Html(f'<p class="pager muted">{total:,} {e(noun)}</p>')
    prev = link(url(path, {**query, "page": page - 1}), "‹ Previous", cls="prev") if page > 1 else Html(
        '<span class="muted">‹ Previous</span>'
    )
    nxt = link(url(path, {**query, "page": page + 1}), "Next ›", cls="next") if page < pages else Html(
        '<span class="muted">Next ›</span>'
    )
    return Html(
        f'<p class="pager">{prev} <span class="where">page {page:,} of {pages:,} · {total:,} {e(noun)}</span> {nxt}</p>'
    )


__all__ = [
    "DASH", "Html", "badge", "dl", "duration", "e", "join", "link", "number", "pager", "pretty",
    "seg", "short", "size", "table", "tag", "url", "when",
]
