"""``shipyard.ui.svg`` provides the dashboard's drawings as inline SVG, laid out here.

* :func:`layers` — a graph's nodes in layers by topological depth (cycles
  broken, nodes ordered to keep edges short);
* :func:`dag_svg` — a graph drawn top to bottom: boxes coloured by a class,
  curved arrows between them, each box a link;
* :func:`bar_charts_svg` — one small horizontal bar chart per metric, one bar
  per run.

Every string is escaped; no script, no external resource.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

NODE_W, NODE_H = 176, 46
GAP_X, GAP_Y = 26, 46
BEND_W = 12  # room a long edge takes in a layer it crosses
PAD = 12
PALETTE = ("#2563eb", "#ea580c", "#16a34a", "#9333ea", "#db2777", "#0891b2", "#ca8a04", "#4b5563")


def _e(value: object) -> str:
    return escape(str(value), quote=True)


@dataclass(frozen=True)
class Node:
    """A box of a drawn graph.

    Attributes:
        id: the node's key in the edges.
        label: the first line (bold).
        sub: the second line.
        css: class names of the box (its colour), e.g. ``s-ran``.
        href: where a click goes.
        title: the tooltip.
        data: ``data-*`` attributes (e.g. ``{"status": "ran"}``).
    """

    id: str
    label: str
    sub: str = ""
    css: str = ""
    href: str | None = None
    title: str = ""
    data: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Layout:
    """Where a graph's boxes and edges go.

    Attributes:
        rows: the layers, top first; real node ids and ``("~", i)`` bend
            points of long edges (each in one layer).
        boxes: the top-left corner of each real node.
        routes: for each drawn edge ``(a, b)``, the points it passes through
            (centres of bend points); empty for a direct edge.
        back: edges that would close a cycle (drawn around the side).
        width: the drawing's width.
        height: the drawing's height.
    """

    rows: list[list[Any]]
    boxes: dict[str, tuple[float, float]]
    routes: dict[tuple[str, str], list[tuple[float, float]]]
    back: list[tuple[str, str]]
    width: float
    height: float


def _break_cycles(known: list[str], children: Mapping[str, list[str]]) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """The edges that keep the graph acyclic (depth first, in the given order), and the others."""
    state = dict.fromkeys(known, 0)  # 0 new, 1 on the stack, 2 done
    forward: dict[str, list[str]] = {n: [] for n in known}
    back: list[tuple[str, str]] = []
    for root in known:
        if state[root]:
            continue
        stack = [(root, iter(children[root]))]
        state[root] = 1
        while stack:
            node, rest = stack[-1]
            child = next(rest, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state[child] == 1:
                back.append((node, child))
            else:
                forward[node].append(child)
                if state[child] == 0:
                    state[child] = 1
                    stack.append((child, iter(children[child])))
    return forward, back


def layout(ids: Sequence[str], edges: Sequence[tuple[str, str]]) -> Layout:
    """Lay a graph out top to bottom (a small Sugiyama layout).

    Each node goes one layer below its deepest parent; edges that close a
    cycle and self-loops are set aside; long edges get a bend point in each
    layer they cross; nodes are ordered in their layer by the mean position of
    their neighbours (sweeps down and up), then placed as near as they can be
    to the mean position of their parents and children.
    """
    known = list(dict.fromkeys(ids))
    index = {n: i for i, n in enumerate(known)}
    children: dict[str, list[str]] = {n: [] for n in known}
    for a, b in dict.fromkeys(edges):
        if a != b and a in index and b in index:
            children[a].append(b)
    forward, back = _break_cycles(known, children)
    parents: dict[str, list[str]] = {n: [] for n in known}
    for a, targets in forward.items():
        for b in targets:
            parents[b].append(a)
    depth: dict[str, int] = {}
    for node in _topological(known, forward, parents):
        depth[node] = max((depth[p] + 1 for p in parents[node]), default=0)
    rows: list[list[Any]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for node in sorted(known, key=lambda n: index[n]):
        rows[depth[node]].append(node)
    # Long edges: a chain of bend points, one per layer crossed.
    up: dict[Any, list[Any]] = {n: list(parents[n]) for n in known}
    down: dict[Any, list[Any]] = {n: list(forward[n]) for n in known}
    chains: dict[tuple[str, str], list[Any]] = {}
    for a in known:
        for b in forward[a]:
            span = depth[b] - depth[a]
            if span <= 1:
                continue
            chain = [("~", len(up) + k) for k in range(span - 1)]
            for k, bend in enumerate(chain):
                rows[depth[a] + 1 + k].append(bend)
                up[bend], down[bend] = [], []
            path = [a, *chain, b]
            for x, y in itertools.pairwise(path):
                down[x].append(y)
                up[y].append(x)
            down[a].remove(b)
            up[b].remove(a)
            chains[(a, b)] = chain
    for _ in range(2):
        _reorder(rows, up, down)
    width_of = {n: (BEND_W if isinstance(n, tuple) else NODE_W) for row in rows for n in row}
    x = _place(rows, up, down, width_of)
    left = min((x[n] - width_of[n] / 2 for n in x), default=0.0)
    right = max((x[n] + width_of[n] / 2 for n in x), default=0.0)
    shift = PAD - left
    centre = {n: (x[n] + shift, PAD + d * (NODE_H + GAP_Y) + NODE_H / 2) for d, row in enumerate(rows) for n in row}
    boxes = {n: (centre[n][0] - NODE_W / 2, centre[n][1] - NODE_H / 2) for n in known}
    routes = {edge: [centre[b] for b in chain] for edge, chain in chains.items()}
    height = PAD * 2 + len(rows) * NODE_H + max(len(rows) - 1, 0) * GAP_Y
    extra = NODE_W if back else 0  # room for edges going round the side
    return Layout(rows, boxes, routes, back, right - left + 2 * PAD + extra, height)


def layers(ids: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[list[str]]:
    """The real nodes of each layer of :func:`layout`, top first, left to right."""
    laid = layout(ids, edges)
    return [[n for n in sorted(row, key=lambda n: laid.boxes.get(n, (0, 0))[0]) if not isinstance(n, tuple)]
            for row in laid.rows]


def _topological(known: list[str], forward: Mapping[str, list[str]], parents: Mapping[str, list[str]]) -> list[str]:
    remaining = {n: len(parents[n]) for n in known}
    ready = [n for n in known if remaining[n] == 0]
    out: list[str] = []
    while ready:
        node = ready.pop(0)
        out.append(node)
        for child in forward[node]:
            remaining[child] -= 1
            if remaining[child] == 0:
                ready.append(child)
    return out


def _reorder(rows: list[list[Any]], up: Mapping[Any, list[Any]], down: Mapping[Any, list[Any]]) -> None:
    """Barycenter ordering: a sweep down by parents, then up by children."""
    for sweep, links, step in ((range(1, len(rows)), up, -1), (range(len(rows) - 2, -1, -1), down, 1)):
        for i in sweep:
            position = {n: k for k, n in enumerate(rows[i + step])}
            current = {n: k for k, n in enumerate(rows[i])}

            def key(node: Any, links: Mapping[Any, list[Any]] = links, position: dict[Any, int] = position,
                    current: dict[Any, int] = current) -> float:
                linked = [position[n] for n in links[node] if n in position]
                return sum(linked) / len(linked) if linked else float(current[node])

            rows[i].sort(key=key)


def _pack(row: list[Any], want: Mapping[Any, float], width_of: Mapping[Any, float]) -> dict[Any, float]:
    """Centres as near as possible to ``want``, in the row's order, boxes not overlapping."""
    out: dict[Any, float] = {}
    previous = None
    for node in row:
        x = want[node]
        if previous is not None:
            gap = GAP_X if not (isinstance(node, tuple) or isinstance(previous, tuple)) else GAP_X / 2
            x = max(x, out[previous] + width_of[previous] / 2 + gap + width_of[node] / 2)
        out[node] = x
        previous = node
    # Shift the row back by the mean overshoot, so it stays centred on what it wanted.
    overshoot = sum(out[n] - want[n] for n in row) / len(row) if row else 0.0
    return {n: v - overshoot for n, v in out.items()}


def _place(rows: list[list[Any]], up: Mapping[Any, list[Any]], down: Mapping[Any, list[Any]],
           width_of: Mapping[Any, float]) -> dict[Any, float]:
    x: dict[Any, float] = {}
    for row in rows:  # start packed from the left
        x |= _pack(row, dict.fromkeys(row, 0.0), width_of)
    for _ in range(3):
        for sweep, links in ((rows[1:], up), (list(reversed(rows[:-1])), down)):
            for row in sweep:
                want = {}
                for n in row:
                    linked = [x[m] for m in links[n]] or [x[n]]
                    want[n] = sum(linked) / len(linked)
                x |= _pack(row, want, width_of)
    return x


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _curve(points: Sequence[tuple[float, float]]) -> str:
    """A smooth path through points going down: vertical tangents at each point."""
    (x0, y0), rest = points[0], points[1:]
    d = [f"M{x0:.1f},{y0:.1f}"]
    for x1, y1 in rest:
        dy = (y1 - y0) / 2
        d.append(f"C{x0:.1f},{y0 + dy:.1f} {x1:.1f},{y1 - dy:.1f} {x1:.1f},{y1:.1f}")
        x0, y0 = x1, y1
    return " ".join(d)


def dag_svg(
    nodes: Sequence[Node],
    edges: Sequence[tuple[str, str]],
    *,
    label: str = "graph",
    highlight: str | None = None,
) -> str:
    """A graph drawn top to bottom as inline SVG.

    Args:
        nodes: the boxes, in a stable order (it breaks ties and cycles).
        edges: ``(from id, to id)`` pairs; unknown ids are ignored.
        label: the drawing's accessible name.
        highlight: the id of a node drawn with a thick outline (e.g. the
            artifact a lineage graph is about).
    """
    laid = layout([n.id for n in nodes], edges)
    place = laid.boxes
    width, height = laid.width, laid.height
    parts = [
        f'<svg class="dag" role="img" aria-label="{_e(label)}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" xmlns="http://www.w3.org/2000/svg">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>',
    ]
    back = set(laid.back)
    for a, b in dict.fromkeys(edges):
        if a == b or a not in place or b not in place:
            continue
        (xa, ya), (xb, yb) = place[a], place[b]
        if (a, b) in back:  # it closes a cycle: from the side, around
            x1, y1, x2, y2 = xa + NODE_W, ya + NODE_H / 2, xb + NODE_W, yb + NODE_H / 2
            bend = NODE_W / 2 + abs(y1 - y2) / 4
            d = f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 + bend:.1f},{y2:.1f} {x2 + 1:.1f},{y2:.1f}"
        else:
            start = (xa + NODE_W / 2, ya + NODE_H)
            end = (xb + NODE_W / 2, yb - 1)
            d = _curve([start, *laid.routes.get((a, b), []), end])
        parts.append(
            f'<path class="edge" data-from="{_e(a)}" data-to="{_e(b)}" d="{d}" marker-end="url(#arrow)"/>'
        )
    for node in nodes:
        if node.id not in place:
            continue
        x, y = place[node.id]
        data = "".join(f' data-{_e(k)}="{_e(v)}"' for k, v in node.data)
        css = f"node {node.css}" + (" focus" if node.id == highlight else "")
        box = (
            f"<title>{_e(node.title or node.label)}</title>"
            f'<rect width="{NODE_W}" height="{NODE_H}" rx="7"/>'
            f'<text class="label" x="10" y="19">{_e(_clip(node.label, 21))}</text>'
            f'<text class="sub" x="10" y="36">{_e(_clip(node.sub, 30))}</text>'
        )
        if node.href:
            box = f'<a href="{_e(node.href)}">{box}</a>'
        parts.append(f'<g class="{_e(css)}"{data} transform="translate({x:.1f},{y:.1f})">{box}</g>')
    parts.append("</svg>")
    return "".join(parts)


def _fmt(value: float) -> str:
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4g}"


def bar_charts_svg(
    metrics: Mapping[str, Sequence[float | None]],
    runs: Sequence[str],
    *,
    width: int = 320,
) -> str:
    """One small horizontal bar chart per metric, one bar per run (in the order of ``runs``).

    Bars start at zero (or at the smallest value, when every value is
    negative); a missing value draws no bar and says so.

    Returns:
        The HTML of the charts (a legend and one ``<figure>`` each), or ``""``.
    """
    if not metrics or not runs:
        return ""
    bar_h, gap, label_w, value_w = 16, 6, 76, 70
    legend = "".join(
        f'<span><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{_e(run)}</span>'
        for i, run in enumerate(runs)
    )
    out = [f'<div class="legend">{legend}</div><div class="charts">']
    for name, values in metrics.items():
        finite = [v for v in values if v is not None and math.isfinite(v)]
        low = min([0.0, *finite])
        high = max([0.0, *finite])
        span = (high - low) or 1.0
        plot = width - label_w - value_w
        height = len(runs) * (bar_h + gap) + gap
        zero = label_w + (0 - low) / span * plot
        rows = []
        for i, (run, value) in enumerate(zip(runs, values, strict=False)):
            y = gap + i * (bar_h + gap)
            rows.append(f'<text x="{label_w - 6}" y="{y + bar_h - 4}" text-anchor="end">{_e(run)}</text>')
            if value is None or not math.isfinite(value):
                rows.append(f'<text x="{label_w + 4}" y="{y + bar_h - 4}" class="missing">no value</text>')
                continue
            x = label_w + (min(value, 0.0) - low) / span * plot
            w = max(abs(value) / span * plot, 1.0)
            colour = PALETTE[i % len(PALETTE)]
            rows.append(
                f'<rect class="bar" data-run="{_e(run)}" data-value="{value!r}" x="{x:.1f}" y="{y}" '
                f'width="{w:.1f}" height="{bar_h}" fill="{colour}"><title>{_e(run)}: {_e(_fmt(value))}</title></rect>'
            )
            rows.append(f'<text x="{x + w + 4:.1f}" y="{y + bar_h - 4}">{_e(_fmt(value))}</text>')
        axis = f'<line class="axis" x1="{zero:.1f}" y1="0" x2="{zero:.1f}" y2="{height}"/>'
        out.append(
            f'<figure class="chart" data-metric="{_e(name)}"><figcaption>{_e(name)}</figcaption>'
            f'<svg role="img" aria-label="{_e(name)}" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" xmlns="http://www.w3.org/2000/svg">{axis}{"".join(rows)}</svg></figure>'
        )
    out.append("</div>")
    return "".join(out)


__all__ = ["Layout", "Node", "bar_charts_svg", "dag_svg", "layers", "layout"]
