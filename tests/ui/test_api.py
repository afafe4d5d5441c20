"""The dashboard's data, page by page, through its JSON API on a real server (and its HTML pages)."""

from __future__ import annotations

import re

import pytest

from tests.ui.support import (
    HTML_PIPELINE,
    HTML_USER,
    MODEL,
    SCRIPT_COLUMN,
    TAXI_STEPS,
    UIProject,
)

pytestmark = pytest.mark.slow

DATA_STEPS = {"ingest", "split", "features", "statistics", "schema", "skew", "validate", "preprocess"}


# -- runs list ------------------------------------------------------------------------------------


def test_runs_list_holds_every_top_level_run_newest_first(http, ui_project: UIProject) -> None:
    data = http.get("/api/runs").json()
    ids = [r["id"] for r in data["runs"]]
    assert data["total"] == 4 and data["page"] == 1 and data["pages"] == 1
    assert ids == [ui_project.html, ui_project.failed, ui_project.second, ui_project.first]
    assert set(data["choices"]["pipelines"]) == {"taxi-tips", "fragile", HTML_PIPELINE}
    assert set(data["choices"]["users"]) == {"alice", "bob", HTML_USER}
    assert "eval.roc_auc" in data["choices"]["metrics"]
    assert not any("[" in m for m in data["choices"]["metrics"])  # per-slice metrics stay out of the menu


def test_runs_list_filters_by_pipeline_user_and_status(http, ui_project: UIProject) -> None:
    by_pipeline = http.get("/api/runs", params={"pipeline": "taxi-tips"}).json()
    assert [r["id"] for r in by_pipeline["runs"]] == [ui_project.second, ui_project.first]
    by_user = http.get("/api/runs", params={"user": "bob"}).json()
    assert [r["id"] for r in by_user["runs"]] == [ui_project.failed]
    by_status = http.get("/api/runs", params={"status": "failed"}).json()
    assert [r["id"] for r in by_status["runs"]] == [ui_project.failed] and by_status["total"] == 1
    both = http.get("/api/runs", params={"pipeline": "taxi-tips", "status": "failed"}).json()
    assert both["runs"] == [] and both["total"] == 0


def test_runs_list_is_paginated_on_the_server(http, ui_project: UIProject) -> None:
    pages = [http.get("/api/runs", params={"per_page": 3, "page": n}).json() for n in (1, 2)]
    assert [len(p["runs"]) for p in pages] == [3, 1]
    assert all(p["pages"] == 2 and p["total"] == 4 for p in pages)
    assert pages[1]["runs"][0]["id"] == ui_project.first
    html = http.get("/", params={"per_page": 3}).text
    assert "page 1 of 2" in html and 'class="next"' in html


def test_runs_list_sorts_by_a_metric_in_both_directions_runs_without_it_last(http, ui_project: UIProject) -> None:
    from shipyard.client import Client

    with Client(ui_project.folder) as client:
        values = {r: client.metrics(r)["evaluate"]["eval.roc_auc"] for r in (ui_project.first, ui_project.second)}
    best, worst = sorted(values, key=values.get, reverse=True)
    down = http.get("/api/runs", params={"metric": "eval.roc_auc", "sort": "metric", "order": "desc"}).json()
    up = http.get("/api/runs", params={"metric": "eval.roc_auc", "sort": "metric", "order": "asc"}).json()
    assert [r["id"] for r in down["runs"]][:2] == [best, worst]
    assert [r["id"] for r in up["runs"]][:2] == [worst, best]
    assert [r["metric"] for r in down["runs"]][2:] == [None, None]  # no roc_auc: last, either way
    assert [r["metric"] for r in up["runs"]][2:] == [None, None]
    assert down["runs"][0]["metric"] == pytest.approx(values[best])


def test_runs_list_refuses_an_unknown_status_or_sort_with_a_message(http) -> None:
    response = http.get("/api/runs", params={"status": "exploded"})
    assert response.status_code == 400 and "not one of" in response.json()["detail"]
    response = http.get("/api/runs", params={"sort": "metric"})
    assert response.status_code == 400 and "metric name" in response.json()["detail"]
    page = http.get("/", params={"status": "exploded"})
    assert page.status_code == 400 and "exploded" in page.text and "<html" in page.text


# -- run page -------------------------------------------------------------------------------------


def test_run_graph_has_a_node_per_step_coloured_by_status(http, ui_project: UIProject) -> None:
    first = http.get(f"/api/runs/{ui_project.first}").json()["graph"]
    second = http.get(f"/api/runs/{ui_project.second}").json()["graph"]
    assert len(first["nodes"]) == len(second["nodes"]) == TAXI_STEPS
    assert first["counts"] == {"ran": TAXI_STEPS}
    statuses = {n["name"]: n["status"] for n in second["nodes"]}
    assert {n for n, s in statuses.items() if s == "cached"} == DATA_STEPS
    assert {n for n, s in statuses.items() if s == "ran"} == {"train", "evaluate", "gate", "bundle"}
    assert ["ingest", "split"] in second["edges"] and ["train", "evaluate"] in second["edges"]
    cached = next(n for n in second["nodes"] if n["name"] == "split")
    assert cached["cached_from"] == ui_project.first and cached["reason"]


def test_failed_run_graph_shows_the_failed_step_and_what_never_ran(http, ui_project: UIProject) -> None:
    data = http.get(f"/api/runs/{ui_project.failed}").json()
    statuses = {n["name"]: n["status"] for n in data["graph"]["nodes"]}
    assert statuses == {"load": "ran", "boom": "failed", "after": "skipped"}
    assert data["run"]["status"] == "failed" and data["run"]["error_step"] == "boom"
    boom = next(s for s in data["steps"] if s["step"] == "boom")
    assert "boom <i>failed</i>" in boom["error"] and boom["traceback"]
    assert data["report"] is False and data["bundles"] == []


def test_run_page_data_has_steps_params_metrics_slices_config_git_and_links(http, ui_project: UIProject) -> None:
    data = http.get(f"/api/runs/{ui_project.second}").json()
    steps = {s["step"]: s for s in data["steps"]}
    assert steps["train"]["shown_status"] == "ran" and steps["split"]["shown_status"] == "cached"
    assert steps["split"]["cached_from_run"] == ui_project.first and steps["split"]["duration"] is not None
    assert set(steps["split"]["outputs"]) == {"train", "eval", "test"}
    assert all(a in data["artifacts"] for a in steps["split"]["outputs"].values())
    assert data["params"]["train"]["params"]["max_iter"] == 25
    assert data["source"] == "pipeline.yaml"  # shown relative to the project
    tables = data["metric_tables"]
    assert tables["splits"]["names"] == ["eval", "test"]
    assert "roc_auc" in dict(tables["splits"]["rows"])
    assert [t["title"] for t in tables["slices"]] == ["test by payment_type"]
    assert tables["slices"][0]["columns"][0] == "rows"
    assert data["config"]["kind"] == "yaml" and data["config"]["spec"]["label"] == "big_tipper"
    assert set(data["git"]) == {"commit", "branch", "dirty", "remote", "diff_artifact"}
    assert data["report"] is True
    assert [b["step"] for b in data["bundles"]] == ["bundle"]
    assert [d["step"] for d in data["data_versions"]] == ["ingest"]


def test_run_page_html_draws_the_graph_and_links_the_report_and_artifacts(http, ui_project: UIProject) -> None:
    html = http.get(f"/runs/{ui_project.second}").text
    assert html.count('<g class="node') == TAXI_STEPS
    assert len(re.findall(r'<g class="node s-cached"', html)) == len(DATA_STEPS)
    assert f'href="/runs/{ui_project.second}/report"' in html
    assert 'href="/artifacts/' in html and "Per slice: test by payment_type" in html
    assert 'class="legend"' in html


def test_unknown_run_is_a_404_page_and_json(http) -> None:
    assert http.get("/api/runs/ffffffffffff").status_code == 404
    page = http.get("/runs/ffffffffffff")
    assert page.status_code == 404 and "No run matches" in page.text


def test_a_run_is_found_by_unique_prefix_and_latest(http, ui_project: UIProject) -> None:
    assert http.get(f"/api/runs/{ui_project.first[:8]}").json()["run"]["id"] == ui_project.first
    assert http.get("/api/runs/latest").json()["run"]["id"] == ui_project.html


# -- data reports ---------------------------------------------------------------------------------


def test_run_report_has_statistics_validation_and_drift(http, ui_project: UIProject) -> None:
    data = http.get(f"/api/runs/{ui_project.first}/report").json()
    assert set(data["statistics"]) == {"train", "eval", "test"}
    assert "anomalies" in data["validation"] and set(data["skew"]) >= {"eval", "test"}
    document = http.get(f"/runs/{ui_project.first}/report.html")
    assert document.status_code == 200 and "Skew: train → eval" in document.text
    assert "Validation" in document.text and "<svg" in document.text
    page = http.get(f"/runs/{ui_project.first}/report").text
    assert f'src="/runs/{ui_project.first}/report.html"' in page


def test_a_run_without_statistics_has_no_report(http, ui_project: UIProject) -> None:
    response = http.get(f"/runs/{ui_project.failed}/report")
    assert response.status_code == 400 and "no data report" in response.text
    assert http.get(f"/api/runs/{ui_project.failed}/report").status_code == 400


def test_reports_list_holds_the_runs_with_reports_and_the_datasets(http, ui_project: UIProject) -> None:
    data = http.get("/api/reports").json()
    assert [r["id"] for r in data["runs"]] == [ui_project.second, ui_project.first]
    assert [d["name"] for d in data["datasets"]] == ["trips"]


# -- artifacts ------------------------------------------------------------------------------------


def _split(http, run: str) -> dict:
    return next(s for s in http.get(f"/api/runs/{run}").json()["steps"] if s["step"] == "split")


def test_artifact_page_data_has_type_size_producer_consumers_and_a_table_preview(http, ui_project: UIProject) -> None:
    train = _split(http, ui_project.first)["outputs"]["train"]
    data = http.get(f"/api/artifacts/{train}").json()
    record = data["artifact"]
    assert record["data_type"] == "pandas.DataFrame" and record["size"] > 0 and record["format"] == "pandas-parquet/1"
    assert data["producers"][0]["run_id"] == ui_project.first and data["producers"][0]["step"] == "split"
    assert data["producer_count"] == 2  # the second run reused it from the cache
    consumers = {(c["run_id"], c["step"]) for c in data["consumers"]}
    assert (ui_project.first, "train") in consumers and (ui_project.second, "train") in consumers
    assert data["consumer_count"] == len(data["consumers"])
    assert data["location"] == f".shipyard/artifacts/{train[:2]}/{train}"
    preview = data["preview"]
    assert preview["kind"] == "table" and preview["rows"] > 1000 and len(preview["head"]) == 20
    assert ["fare", "double"] in preview["schema"]
    assert len(preview["head"][0]) == len(preview["schema"])


def test_artifact_lineage_goes_upstream_and_downstream(http, ui_project: UIProject) -> None:
    train = _split(http, ui_project.first)["outputs"]["train"]
    lineage = http.get(f"/api/artifacts/{train}").json()["lineage"]
    nodes = {n["id"]: n for n in lineage["nodes"]}
    steps = {n["step"] for n in nodes.values() if n["kind"] == "step"}
    assert {"split", "ingest"} <= steps  # upstream: who made it, and who made its input
    assert {"train", "statistics", "preprocess"} <= steps  # downstream: who read it
    assert lineage["center"] == f"a:{train}" and lineage["center"] in nodes
    assert [f"s:{_split(http, ui_project.first)['id']}", f"a:{train}"] in lineage["edges"]
    html = http.get(f"/artifacts/{train}").text
    assert 'class="node artifact focus"' in html and 'data-kind="step"' in html


def test_artifact_consumers_are_paginated(http, ui_project: UIProject) -> None:
    train = _split(http, ui_project.first)["outputs"]["train"]
    one = http.get(f"/api/artifacts/{train}", params={"per_page": 1, "page": 2}).json()
    assert len(one["consumers"]) == 1 and one["pages"] == one["consumer_count"] > 2


def test_json_and_bundle_artifacts_get_a_preview(http, ui_project: UIProject) -> None:
    run = http.get(f"/api/runs/{ui_project.first}").json()
    steps = {s["step"]: s for s in run["steps"]}
    metrics = http.get(f"/api/artifacts/{steps['evaluate']['outputs']['metrics']}").json()["preview"]
    assert metrics["kind"] == "json" and "roc_auc" in metrics["text"]
    bundle = http.get(f"/api/artifacts/{run['bundles'][0]['artifact']}").json()["preview"]
    assert bundle["kind"] == "summary" and bundle["values"]["label"] == "big_tipper"


def test_unknown_artifact_is_a_404(http) -> None:
    assert http.get("/api/artifacts/ffffffffffff").status_code == 404
    assert http.get("/artifacts/ffffffffffff").status_code == 404


# -- escaping -------------------------------------------------------------------------------------


def test_a_column_named_script_is_escaped_in_the_preview(http, ui_project: UIProject) -> None:
    data = http.get(f"/api/artifacts/{ui_project.table}").json()
    assert data["preview"]["schema"][0][0] == SCRIPT_COLUMN  # the data keeps the real name
    html = http.get(f"/artifacts/{ui_project.table}").text
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert http.get(f"/artifacts/{ui_project.table}").headers["content-security-policy"].startswith("default-src 'self'")


def test_html_in_pipeline_user_and_error_is_escaped_everywhere(http, ui_project: UIProject) -> None:
    pages = [
        "/", "/?user=" + HTML_USER, f"/runs/{ui_project.html}", f"/runs/{ui_project.failed}",
        f"/compare?runs={ui_project.html}&runs={ui_project.failed}", "/reports",
    ]
    for path in pages:
        html = http.get(path).text
        assert "<img src=x" not in html and "<b>mallory" not in html and "<i>failed" not in html, path
    listing = http.get("/").text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in listing and "&lt;b&gt;mallory&lt;/b&gt;" in listing
    assert "boom &lt;i&gt;failed&lt;/i&gt;" in http.get(f"/runs/{ui_project.failed}").text
    assert http.get("/api/runs", params={"pipeline": HTML_PIPELINE}).json()["runs"][0]["id"] == ui_project.html


# -- datasets -------------------------------------------------------------------------------------


def test_datasets_list_versions_statistics_and_histograms(http) -> None:
    listing = http.get("/api/datasets").json()["datasets"]
    assert [(d["name"], d["version"]) for d in listing] == [("trips", 2)]
    data = http.get("/api/datasets/trips").json()
    assert data["version"]["version"] == 2 and [v["version"] for v in data["versions"]] == [2, 1]
    assert data["statistics"]["rows"] == 800 and data["statistics"]["columns"]["fare"]["type"] == "numeric"
    older = http.get("/api/datasets/trips", params={"version": 1}).json()
    assert older["version"]["message"] == "first cut"
    document = http.get("/datasets/trips/statistics.html", params={"version": 1}).text
    assert "Statistics of trips@1" in document and "<svg" in document  # the histograms
    assert 'src="/datasets/trips/statistics.html?version=2"' in http.get("/datasets/trips").text


def test_dataset_diff_of_two_versions(http) -> None:
    data = http.get("/api/datasets/trips/diff", params={"a": 1, "b": 2}).json()
    diff = data["diff"]
    assert diff["rows"] == [800, 800]
    assert diff["rows_kept"] == 400 and diff["rows_added"] == 400 and diff["rows_removed"] == 400
    assert "fare" in diff["statistics"] and "drift" in diff["statistics"]["fare"]
    assert http.get("/api/datasets/trips/diff").json()["a"]["version"] == 1  # default: the last two
    drift = http.get("/datasets/trips/drift.html", params={"a": 1, "b": 2}).text
    assert "Drift: trips@1 → trips@2" in drift
    assert 'src="/datasets/trips/drift.html?a=1&amp;b=2"' in http.get("/datasets/trips/diff?a=1&b=2").text


def test_unknown_dataset_or_version_is_a_404_naming_what_exists(http) -> None:
    missing = http.get("/api/datasets/nope")
    assert missing.status_code == 404 and "trips" in missing.json()["detail"]
    version = http.get("/api/datasets/trips", params={"version": 9})
    assert version.status_code == 404 and "versions: 2, 1" in version.json()["detail"]


# -- compare --------------------------------------------------------------------------------------


def test_compare_two_runs_config_diff_and_metrics(http, ui_project: UIProject) -> None:
    data = http.get("/api/compare", params={"runs": [ui_project.first, ui_project.second]}).json()
    assert [r["id"] for r in data["runs"]] == [ui_project.first, ui_project.second]
    differing = {c["key"]: c["values"] for c in data["config"] if c["differs"]}
    assert differing["param.train.params.max_iter"] == [30, 25]
    assert differing["config.spec.train.params.max_iter"] == [30, 25]
    assert not any(k.startswith("data.") for k in differing)  # same data version
    same = {c["key"] for c in data["config"] if not c["differs"]}
    assert "data.ingest.output" in same and "param.split.by" in same
    metrics = {m["key"]: m["values"] for m in data["metrics"]}
    assert len(metrics["eval.roc_auc"]) == 2 and all(v is not None for v in metrics["eval.roc_auc"])
    html = http.get("/compare", params={"runs": [ui_project.first, ui_project.second]}).text
    assert "Compare 2 runs" in html and '<figure class="chart"' in html
    assert "param.train.params.max_iter" in html


def test_compare_takes_comma_separated_ids_and_refuses_one_run(http, ui_project: UIProject) -> None:
    both = http.get("/api/compare", params={"runs": f"{ui_project.first},{ui_project.failed}"}).json()
    assert len(both["runs"]) == 2
    one = http.get("/api/compare", params={"runs": ui_project.first})
    assert one.status_code == 400 and "two runs" in one.json()["detail"]
    picker = http.get("/compare").text
    assert "Tick two or more runs" in picker and picker.count('name="runs"') == 4


# -- safety ---------------------------------------------------------------------------------------


def test_only_get_is_answered(http, ui_project: UIProject) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        response = http.request(method, f"/api/runs/{ui_project.first}")
        assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"
    assert http.post("/").status_code == 405
    assert http.get("/docs").status_code == 404 and http.get("/openapi.json").status_code == 404


def test_static_assets_ship_in_the_package(http) -> None:
    from pathlib import Path

    import shipyard.ui

    static = Path(shipyard.ui.__file__).with_name("static")
    assert {"ui.css", "ui.js", "favicon.svg"} <= {p.name for p in static.iterdir()}
    assert "svg.dag" in http.get("/static/ui.css").text
    page = http.get("/").text
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page


# -- models ---------------------------------------------------------------------------------------


def test_models_list_and_a_models_versions_stages_runs_and_history(http, ui_project: UIProject) -> None:
    listing = http.get("/api/models").json()["models"]
    assert [(m["name"], m["versions"], m["production"]) for m in listing] == [(MODEL, 2, 2)]
    data = http.get(f"/api/models/{MODEL}").json()
    versions = {v["version"]: v for v in data["versions"]}
    assert versions[2]["stage"] == "production" and versions[1]["stage"] == "archived"
    assert versions[2]["aliases"] == ["candidate"]
    assert versions[1]["run_id"] == ui_project.first and versions[2]["run"]["id"] == ui_project.second
    assert versions[2]["data_version"] and versions[2]["metrics"]
    assert versions[2]["traffic_chunks"] == 1 and versions[1]["traffic_chunks"] == 0
    kinds = [(h["kind"], h["version"]) for h in data["history"]]
    assert ("register", 1) in kinds and ("register", 2) in kinds
    assert any(h["reason"] == "better on eval" for h in data["history"])
    html = http.get(f"/models/{MODEL}").text
    assert f'href="/models/{MODEL}/2/drift"' in html and "better on eval" in html
    run = http.get(f"/api/runs/{ui_project.second}").json()
    assert run["models"] == [{"model": MODEL, "version": 2, "stage": "production", "aliases": ["candidate"]}]


def test_live_drift_of_a_version_from_its_prediction_log(http) -> None:
    data = http.get(f"/api/models/{MODEL}/2/drift").json()
    assert data["rows"] == 200 and data["columns"] and "dataset_drift" in data
    document = http.get(f"/models/{MODEL}/2/drift.html").text
    assert f"Traffic drift of {MODEL}@2" in document
    none = http.get(f"/api/models/{MODEL}/1/drift")
    assert none.status_code == 400 and "No logged traffic" in none.json()["detail"]
    assert http.get("/api/models/nope").status_code == 404
