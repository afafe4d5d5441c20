"""Named, versioned datasets: add, resolve, diff, frames, and the runs that used a version.

One project (SQLite metadata store + artifact folder) is shared by the module;
each test adds its own dataset names so the order of the tests does not matter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard.client import Client
from shipyard.config.loader import load_spec
from shipyard.config.yamlio import ConfigError
from shipyard.data.datasets import diff, is_dataset_ref, parse_ref
from shipyard.data.drift import compare
from shipyard.data.sources import DataError
from shipyard.data.statistics import compute_statistics
from shipyard.engine.graph import ArtifactInput, Pipeline, StepNode
from shipyard.errors import DatasetNotFound, ShipyardError
from shipyard.ml import steps as std
from shipyard.ml.compile import compile_spec
from tests.data.support import (
    assert_same_exact_parts,
    isolated,
    new_client,
    pipeline_yaml,
    toy_frame,
)


@dataclass
class Project:
    folder: Path
    client: Client

    def write(self, name: str, frame: pd.DataFrame) -> Path:
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        return path


@pytest.fixture(scope="module")
def proj(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    folder = tmp_path_factory.mktemp("datasets")
    with isolated():
        client = new_client(folder)
        try:
            yield Project(folder, client)
        finally:
            client.close()


@pytest.fixture(scope="module")
def versions(proj: Project) -> dict[str, object]:
    """toy@1 and toy@2 (30 rows removed, 25 added, x2 dropped, a column added)."""
    v1_frame = toy_frame(400, seed=1)
    rng = np.random.default_rng(9)
    added = toy_frame(25, seed=2).assign(x1=lambda f: f["x1"] + 3.0)
    v2_frame = pd.concat([v1_frame.iloc[30:], added], ignore_index=True).drop(columns=["x2"])
    v2_frame["weight"] = rng.uniform(size=len(v2_frame)).round(3)
    p1, p2 = proj.write("toy_v1.csv", v1_frame), proj.write("toy_v2.csv", v2_frame)
    v1, created1 = proj.client.datasets.add("toy", p1, message="first cut", user="ana")
    again, created_again = proj.client.datasets.add("toy", p1)
    v2, created2 = proj.client.datasets.add("toy", str(p2), message="refresh")
    return {
        "v1": v1, "v2": v2, "created": (created1, created_again, created2), "again": again,
        "v1_frame": v1_frame, "v2_frame": v2_frame, "p1": p1,
    }


# -- adding and resolving ----------------------------------------------------------------------


def test_add_creates_versions_and_identical_content_returns_the_existing_one(proj: Project, versions: dict) -> None:
    v1, v2, again = versions["v1"], versions["v2"], versions["again"]
    assert versions["created"] == (True, False, True)
    assert (v1.name, v1.version, v1.ref) == ("toy", 1, "toy@1")
    assert (v1.rows, v1.columns) == (400, ["x1", "x2", "color", "label"])
    assert (v1.message, v1.user, v1.source) == ("first cut", "ana", str(versions["p1"]))
    assert again == v1
    assert (v2.version, v2.rows, v2.columns) == (2, 395, ["x1", "color", "label", "weight"])
    assert v2.artifact_id != v1.artifact_id and v2.statistics_id != v1.statistics_id
    # The same content once more, even after a newer version, is still version 1.
    back, created = proj.client.datasets.add("toy", versions["p1"], message="ignored")
    assert (back.version, created, back.message) == (1, False, "first cut")
    assert [v.version for v in proj.client.metadata_store.dataset_versions("toy")] == [2, 1]


def test_a_version_holds_its_rows_and_statistics(proj: Project, versions: dict) -> None:
    datasets = proj.client.datasets
    frame = datasets.frame(versions["v1"])
    pd.testing.assert_frame_equal(frame, versions["v1_frame"], check_dtype=False)
    stats = datasets.statistics(versions["v1"])
    expected = compute_statistics(versions["v1_frame"])
    assert stats.rows == 400
    for name in expected.columns:
        assert_same_exact_parts(stats[name], expected[name])
    # The artifacts are in the metadata store (the data version is the artifact id).
    records = proj.client.metadata_store.get_artifacts([versions["v1"].artifact_id, versions["v1"].statistics_id])
    assert set(records) == {versions["v1"].artifact_id, versions["v1"].statistics_id}


def test_list_and_resolve(proj: Project, versions: dict) -> None:
    datasets = proj.client.datasets
    assert datasets.resolve("toy@latest") == versions["v2"]
    assert datasets.resolve("toy") == versions["v2"]
    assert datasets.resolve("toy@1") == versions["v1"]
    assert datasets.resolve("toy@2") == versions["v2"]
    latest = {v.name: v.version for v in proj.client.metadata_store.list_datasets()}
    assert latest["toy"] == 2
    assert is_dataset_ref("toy@latest") and is_dataset_ref("toy@12") and not is_dataset_ref("toy.csv")
    assert parse_ref("taxi@3") == ("taxi", 3) and parse_ref("taxi@latest") == ("taxi", None)


def test_bad_references_name_what_exists(proj: Project, versions: dict) -> None:
    datasets = proj.client.datasets
    with pytest.raises(DatasetNotFound) as info:
        datasets.resolve("toy@9")
    assert info.value.message == "Dataset 'toy' has no version 9; versions: 2, 1."
    with pytest.raises(DatasetNotFound) as info:
        datasets.resolve("nope@latest")
    assert info.value.message.startswith("No dataset named 'nope'; datasets: ")
    assert "toy" in info.value.message
    assert info.value.hint == "Add one with: shipyard data add NAME PATH"
    with pytest.raises(DatasetNotFound, match="is not a dataset reference"):
        datasets.resolve("toy@v1!")
    with pytest.raises(ShipyardError, match="Dataset name 'bad/name' is not valid"):
        datasets.add("bad/name", versions["p1"])
    with pytest.raises(DataError, match="No file matches"):
        datasets.add("ghost", proj.folder / "nothing-*.csv")


def test_a_glob_of_csv_files_is_one_dataset(proj: Project) -> None:
    parts = [toy_frame(50 + 10 * i, seed=20 + i) for i in range(3)]
    for i, part in enumerate(parts):
        proj.write(f"trips/2024-0{i + 1}.csv", part)
    proj.write("trips/notes.txt", pd.DataFrame({"a": [1]}))  # not matched by the glob
    version, created = proj.client.datasets.add("trips", "trips/2024-*.csv", base=proj.folder)
    assert created and version.rows == 50 + 60 + 70
    whole = pd.concat(parts, ignore_index=True)
    pd.testing.assert_frame_equal(proj.client.datasets.frame(version), whole, check_dtype=False)
    assert proj.client.datasets.statistics(version)["x1"].count == 180
    # Files whose columns differ cannot be one table.
    proj.write("mixed/a.csv", parts[0])
    proj.write("mixed/b.csv", parts[1].rename(columns={"x1": "other"}))
    with pytest.raises(DataError, match="must share their columns"):
        proj.client.datasets.add("mixed", str(proj.folder / "mixed" / "*.csv"))


# -- diff ---------------------------------------------------------------------------------------------


def test_diff_of_two_versions(proj: Project, versions: dict) -> None:
    datasets = proj.client.datasets
    v1, v2 = versions["v1"], versions["v2"]
    result = diff(datasets.statistics(v1), datasets.statistics(v2), datasets.frame(v1), datasets.frame(v2))
    assert result["rows"] == [400, 395]
    assert (result["rows_added"], result["rows_removed"], result["rows_kept"]) == (25, 30, 370)
    assert result["columns_added"] == ["weight"] and result["columns_removed"] == ["x2"]
    assert result["type_changed"] == {}
    x1 = result["statistics"]["x1"]
    before, after = versions["v1_frame"]["x1"], versions["v2_frame"]["x1"]
    assert x1["mean"] == [pytest.approx(before.mean()), pytest.approx(after.mean())]
    assert x1["max"] == [before.max(), after.max()]
    assert x1["drift"]["method"] == "wasserstein"
    assert set(result["statistics"]) == {"x1", "color", "label"}
    assert set(result["drifted"]) <= {"x1", "color", "label"}


def test_diff_reports_a_changed_type(proj: Project) -> None:
    base = toy_frame(120, seed=5)
    coded = base.assign(color=base["color"].map({"red": 1, "green": 2, "blue": 3}))
    a, _ = proj.client.datasets.add("recoded", proj.write("recoded_a.csv", base))
    b, _ = proj.client.datasets.add("recoded", proj.write("recoded_b.csv", coded))
    datasets = proj.client.datasets
    result = diff(datasets.statistics(a), datasets.statistics(b), datasets.frame(a), datasets.frame(b))
    assert result["type_changed"] == {"color": ["categorical", "numeric"]}
    assert "color" not in result["statistics"] or "drift" in result["statistics"]["color"]
    color = next(c for c in compare(datasets.statistics(a), datasets.statistics(b)).columns if c.column == "color")
    assert color.drifted and "type changed" in color.note
    assert result["statistics"]["x1"] == {  # an unchanged column
        "null_fraction": [0.0, 0.0], "drift": {"method": "wasserstein", "score": 0.0, "drifted": False},
    }
    identical = diff(datasets.statistics(a), datasets.statistics(a), datasets.frame(a), datasets.frame(a))
    assert (identical["rows_added"], identical["rows_removed"], identical["rows_kept"]) == (0, 0, 120)
    assert identical["drifted"] == []


# -- runs that used a version --------------------------------------------------------------------------


def _dataset_pipeline(proj: Project, ref_version: object) -> Pipeline:
    """The toy YAML pipeline with the ingest node a dataset reference compiles to."""
    yaml = proj.folder / "by_path.yaml"
    yaml.write_text(pipeline_yaml("toy_v1.csv", name="toy-ds"))
    built = compile_spec(load_spec(yaml))
    ingest = StepNode(
        "ingest", std.ingest_dataset, {"snapshot": ArtifactInput(ref_version.artifact_id)},
        {"dataset": ref_version.ref}, {"dataset": ref_version.ref},
    )
    return Pipeline(built.name, [ingest if n.name == "ingest" else n for n in built.nodes], source=built.source)


def test_runs_using_lists_the_runs_that_read_a_version(proj: Project, versions: dict) -> None:
    v1, v2 = versions["v1"], versions["v2"]
    result = proj.client.run(_dataset_pipeline(proj, v1))
    assert result.ok, result.error
    assert result.artifact("ingest").id == v1.artifact_id  # passed on as it is
    assert proj.client.params(result.run_id)["ingest"] == {"dataset": "toy@1"}
    bundle = proj.client.load_bundle(result.artifact("bundle").id).bundle
    assert bundle.data_version == v1.artifact_id
    assert result.run_id in proj.client.datasets.runs_using(v1)
    assert result.run_id not in proj.client.datasets.runs_using(v2)


def test_a_yaml_pipeline_naming_an_unknown_dataset_fails_at_load(proj: Project, versions: dict) -> None:
    yaml = proj.folder / "unknown.yaml"
    yaml.write_text(pipeline_yaml("nope@latest", name="unknown"))
    with pytest.raises(ConfigError) as info:
        proj.client.run(str(yaml))
    assert info.value.message.startswith(f"{yaml}:2: No dataset named 'nope'; datasets: ")
    yaml.write_text(pipeline_yaml("toy@7", name="unknown"))
    with pytest.raises(ConfigError, match=r":2: Dataset 'toy' has no version 7; versions: 2, 1\."):
        proj.client.run(str(yaml))


def test_a_yaml_pipeline_records_the_exact_dataset_version(proj: Project, versions: dict) -> None:
    frame = toy_frame(300, seed=31)
    first, _ = proj.client.datasets.add("pinned", proj.write("pinned_1.csv", frame))
    yaml = proj.folder / "latest.yaml"
    yaml.write_text(pipeline_yaml("pinned@latest", name="pinned"))
    run1 = proj.client.run(str(yaml))
    assert run1.ok, run1.error
    assert proj.client.params(run1.run_id)["ingest"] == {"dataset": "pinned@1"}
    assert run1.artifact("ingest").id == first.artifact_id
    assert proj.client.load_bundle(run1.artifact("bundle").id).bundle.data_version == first.artifact_id
    assert proj.client.get_run(run1.run_id).config["spec"]["data"] == "pinned@latest"

    second, _ = proj.client.datasets.add("pinned", proj.write("pinned_2.csv", toy_frame(320, seed=32)))
    run2 = proj.client.run(str(yaml))
    assert run2.ok, run2.error
    assert proj.client.params(run2.run_id)["ingest"] == {"dataset": "pinned@2"}
    assert run2.artifact("ingest").id == second.artifact_id
    yaml.write_text(pipeline_yaml("pinned@1", name="pinned"))
    run3 = proj.client.run(str(yaml))
    assert run3.ok and proj.client.params(run3.run_id)["ingest"] == {"dataset": "pinned@1"}
    assert proj.client.datasets.runs_using(first) == sorted([run1.run_id, run3.run_id])
    assert proj.client.datasets.runs_using(second) == [run2.run_id]
