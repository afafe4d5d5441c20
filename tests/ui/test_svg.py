"""The dashboard's graph layout and drawings (pure functions, no server)."""

from __future__ import annotations

from shipyard.ui.svg import Node, bar_charts_svg, dag_svg, layers, layout


def test_nodes_sit_one_layer_below_their_deepest_parent() -> None:
    edges = [("ingest", "split"), ("split", "train"), ("split", "stats"), ("stats", "validate"),
             ("validate", "train"), ("ingest", "bundle"), ("train", "bundle")]
    rows = layers(["ingest", "split", "stats", "validate", "train", "bundle"], edges)
    assert rows == [["ingest"], ["split"], ["stats"], ["validate"], ["train"], ["bundle"]]


def test_long_edges_bend_around_the_layers_they_cross() -> None:
    laid = layout(["a", "b", "c", "d"], [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")])
    assert len(laid.routes[("a", "d")]) == 2  # one bend point in each of the two layers between
    xs = {laid.boxes[n][0] for n in "abcd"}
    bends = {x for x, _ in laid.routes[("a", "d")]}
    assert not bends & xs  # the edge does not run through the boxes


def test_cycles_and_self_loops_are_drawn_without_looping_forever() -> None:
    rows = layers(["a", "b", "c"], [("a", "b"), ("b", "a"), ("b", "c"), ("c", "c")])
    assert [n for row in rows for n in row] == ["a", "b", "c"]
    svg = dag_svg([Node("a", "a"), Node("b", "b"), Node("c", "c")], [("a", "b"), ("b", "a"), ("b", "c")])
    assert svg.count('class="edge"') == 3


def test_siblings_share_a_layer_and_unknown_edges_are_ignored() -> None:
    rows = layers(["root", "x", "y"], [("root", "x"), ("root", "y"), ("ghost", "x")])
    assert rows[0] == ["root"] and sorted(rows[1]) == ["x", "y"]


def test_drawings_escape_every_text() -> None:
    evil = "<script>alert(1)</script>"
    svg = dag_svg([Node(evil, evil, sub=evil, href='"><img src=x>', title=evil, data=(("step", evil),))], [])
    assert "<script>" not in svg and "<img" not in svg and "&lt;script&gt;" in svg
    charts = bar_charts_svg({evil: [1.0, None]}, [evil, "b"])
    assert "<script>" not in charts and "no value" in charts


def test_bar_charts_handle_negative_and_missing_values() -> None:
    charts = bar_charts_svg({"r2": [-0.5, 0.25, float("nan")]}, ["a", "b", "c"])
    assert charts.count('class="bar"') == 2 and charts.count("no value") == 1
    assert bar_charts_svg({}, ["a"]) == ""
