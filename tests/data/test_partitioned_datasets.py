"""Partitioned dataset versions: a glob or folder of files stored as Parquet part artifacts.

One project (SQLite + artifact folder) and one local Dask cluster of two
worker processes serve the module. The data is 8 Parquet parts of 20,000
rows (from ``test_parallel``); each test adds its own dataset names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from shipyard.client import Client
from shipyard.data.datasets import PARTS_MATERIALIZER, DatasetStores, diff
from shipyard.data.sources import DataError
from shipyard.data.statistics import compute_statistics
from shipyard.engine.cluster import connect
from shipyard.errors import ShipyardError
from shipyard.stores.artifacts import ArtifactStore
from shipyard.stores.metadata import MetadataStore
from tests.data.support import (
    assert_same_exact_parts,
    assert_statistics_match,
    isolated,
    new_client,
    pipeline_yaml,
    toy_frame,
)
from tests.data.test_parallel import PARTS, ROWS, make_part, write_parts
from tests.helpers import run_cli


@dataclass
class Project:
    folder: Path
    client: Client
    dask: object
    paths: list[Path]
    frame: pd.DataFrame

    @property
    def datasets(self) -> DatasetStores:
        return self.client.datasets


@pytest.fixture(scope="module")
def proj(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    folder = tmp_path_factory.mktemp("partitioned")
    paths = write_parts(folder / "events")
    frame = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    with isolated(), connect("local", n_workers=2) as dask:
        client = new_client(folder)
        try:
            yield Project(folder, client, dask, paths, frame)
        finally:
            client.close()


@pytest.fixture(scope="module")
def events(proj: Project) -> dict[str, object]:
    """events@1 added in this process, then the same files added on the cluster."""
    messages: list[str] = []
    v1, created = proj.datasets.add("events", "events/*.parquet", base=proj.folder, progress=messages.append)
    again, created_again = proj.datasets.add("events", proj.folder / "events", dask_client=proj.dask)
    return {"v1": v1, "created": (created, created_again), "again": again, "messages": messages}


def test_a_glob_of_several_files_becomes_a_partitioned_version(proj: Project, events: dict) -> None:
    v1 = events["v1"]
    assert events["created"] == (True, False) and events["again"] == v1  # same parts, same version
    assert (v1.rows, v1.columns) == (PARTS * ROWS, list(proj.frame.columns))
    record = proj.client.metadata_store.get_artifacts([v1.artifact_id])[v1.artifact_id]
    assert (record.materializer, record.data_type) == (PARTS_MATERIALIZER, "pandas.DataFrame")
    table = proj.datasets.table(v1)
    assert [p.rows for p in table.parts] == [ROWS] * PARTS and table.rows == v1.rows
    assert len({p.id for p in table.parts}) == PARTS
    assert all(proj.client.artifact_store.exists(p.id) for p in table.parts)
    assert any("8 Parquet parts" in m for m in events["messages"])
    # Each part is the file's rows as Parquet, in the order of the files.
    for path, stored in zip(proj.paths, proj.datasets.files(v1), strict=True):
        assert pq.read_table(stored).equals(pq.read_table(path).replace_schema_metadata(None))


def test_a_partitioned_version_holds_its_rows_and_statistics(proj: Project, events: dict) -> None:
    v1 = events["v1"]
    pd.testing.assert_frame_equal(proj.datasets.frame(v1), proj.frame)
    # Loading the data artifact (what a pipeline step receives) gives the same table.
    pd.testing.assert_frame_equal(proj.client.load_artifact(v1.artifact_id), proj.frame)
    stored = proj.datasets.statistics(v1)
    assert stored.to_json() == compute_statistics(proj.paths).to_json()
    whole = compute_statistics(proj.frame, batch_rows=10**8)
    for name in ("amount", "score", "lat", "visits", "plan", "merchant", "active", "seen"):
        assert_same_exact_parts(stored[name], whole[name])
    # With types (a schema's), the parts are read again, here or on the cluster.
    typed = proj.datasets.statistics(v1, types={"visits": "categorical"}, dask_client=proj.dask)
    assert typed["visits"].type == "categorical" and typed["plan"].top.counts == stored["plan"].top.counts
    assert proj.client.describe_artifact(v1.artifact_id)["parts"] == PARTS


def test_csv_files_are_cast_to_one_schema(proj: Project) -> None:
    folder = proj.folder / "csv"
    folder.mkdir()
    first = pd.DataFrame({"n": [1, 2, 3], "when": ["2024-01-01", "2024-01-02", None], "c": ["a", "b", "c"]})
    second = pd.DataFrame({"n": [1.5, None, 4.0], "when": ["2024-02-01", "2024-02-02", "2024-02-03"], "c": ["a", None, "d"]})
    first.to_csv(folder / "a.csv", index=False)
    second.to_csv(folder / "b.csv", index=False)
    version, created = proj.datasets.add("mixed_csv", "csv/*.csv", base=proj.folder, dask_client=proj.dask)
    assert created and version.rows == 6
    table = proj.datasets.table(version)
    # Integers in one file and floats in the other: floats; dates stay text, as for one CSV file.
    assert dict(table.columns) == {"n": "double", "when": "string", "c": "string"}
    frame = proj.datasets.frame(version)
    assert frame["n"].tolist()[:3] == [1.0, 2.0, 3.0] and np.isnan(frame["n"][4])
    assert frame["when"].tolist()[:2] == ["2024-01-01", "2024-01-02"]
    stats = proj.datasets.statistics(version)
    assert (stats["n"].type, stats["n"].count, stats["n"].nulls) == ("numeric", 5, 1)
    assert (stats["c"].nulls, stats["when"].type) == (1, "categorical")
    # Files whose columns differ cannot be one table.
    (proj.folder / "bad").mkdir()
    first.to_csv(proj.folder / "bad" / "a.csv", index=False)
    first.rename(columns={"n": "m"}).to_csv(proj.folder / "bad" / "b.csv", index=False)
    with pytest.raises(DataError, match="must share their columns"):
        proj.datasets.add("bad", proj.folder / "bad")


def test_a_new_file_adds_one_part_and_diff_reads_only_changed_parts(proj: Project, events: dict) -> None:
    folder = proj.folder / "grown"
    paths = write_parts(folder)
    changed = make_part(3).iloc[:15_000]  # part 3 loses 5,000 rows
    changed.to_parquet(paths[3], index=False)
    write_parts(folder, 1, first=PARTS)  # one more file
    v2, created = proj.datasets.add("events", folder, dask_client=proj.dask)
    assert created and v2.version == 2 and v2.rows == PARTS * ROWS - 5_000 + ROWS
    old = {p.id for p in proj.datasets.table(events["v1"]).parts}
    new = [p.id for p in proj.datasets.table(v2).parts]
    assert sum(p in old for p in new) == PARTS - 1  # unchanged files are the same part artifacts
    result = proj.datasets.diff(events["v1"], v2)
    assert (result["rows_added"], result["rows_removed"], result["rows_kept"]) == (ROWS, 5_000, PARTS * ROWS - 5_000)
    assert result["rows"] == [PARTS * ROWS, v2.rows] and result["columns_added"] == []
    # The same counts as comparing the whole tables in memory.
    in_memory = diff(
        proj.datasets.statistics(events["v1"]), proj.datasets.statistics(v2),
        proj.datasets.frame(events["v1"]), proj.datasets.frame(v2),
    )
    assert {k: in_memory[k] for k in ("rows_added", "rows_removed", "rows_kept")} == {
        k: result[k] for k in ("rows_added", "rows_removed", "rows_kept")
    }


def test_diff_of_a_single_file_version_and_a_partitioned_one(proj: Project, events: dict) -> None:
    single = proj.folder / "single.parquet"
    proj.frame.iloc[: 3 * ROWS].to_parquet(single, index=False)
    flat, _ = proj.datasets.add("events", single)
    assert proj.datasets.table(flat) is None
    result = proj.datasets.diff(flat, events["v1"])
    assert (result["rows_added"], result["rows_removed"], result["rows_kept"]) == ((PARTS - 3) * ROWS, 0, 3 * ROWS)


def test_export_to_one_file_or_a_folder_of_parts(proj: Project, events: dict) -> None:
    v1 = events["v1"]
    out = proj.folder / "exports"
    rows, written, files = proj.datasets.export(v1, out / "all.parquet")
    assert (rows, written, files) == (PARTS * ROWS, out / "all.parquet", 1)
    pd.testing.assert_frame_equal(pd.read_parquet(written), proj.frame)
    rows, written, files = proj.datasets.export(v1, out / "parts")
    assert (rows, files) == (PARTS * ROWS, PARTS)
    assert sorted(p.name for p in written.iterdir()) == [f"part-{i:05d}.parquet" for i in range(PARTS)]
    pd.testing.assert_frame_equal(pd.read_parquet(written), proj.frame)
    proj.datasets.export(v1, out / "all.csv")
    back = pd.read_csv(out / "all.csv")
    assert len(back) == PARTS * ROWS and back["plan"].tolist() == proj.frame["plan"].tolist()
    proj.datasets.export(v1, out / "all.jsonl")
    assert sum(1 for _ in (out / "all.jsonl").open()) == PARTS * ROWS
    with pytest.raises(ShipyardError, match="exists; a folder export writes a new"):
        proj.datasets.export(v1, out / "parts")
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # nothing half-written left


def test_a_yaml_pipeline_reads_a_partitioned_version(proj: Project) -> None:
    folder = proj.folder / "toy"
    folder.mkdir()
    for i in range(3):
        toy_frame(150, seed=40 + i).to_parquet(folder / f"part-{i}.parquet", index=False)
    version, _ = proj.datasets.add("toy_parts", folder)
    assert proj.datasets.table(version) is not None
    yaml = proj.folder / "toy_parts.yaml"
    yaml.write_text(pipeline_yaml("toy_parts@latest", name="toy-parts"))
    result = proj.client.run(str(yaml))
    assert result.ok, result.error
    assert result.artifact("ingest").id == version.artifact_id
    assert proj.client.metrics(result.run_id)["split"]["train_rows"] > 0
    assert proj.datasets.runs_using(version) == [result.run_id]


def test_a_partitioned_version_on_object_storage(tmp_path: Path) -> None:
    """Parts on an fsspec store are read from their URLs (in process: memory:// is per process)."""
    folder = tmp_path / "files"
    paths = write_parts(folder, 3, rows=500)
    metadata = MetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    try:
        stores = DatasetStores(ArtifactStore("memory://shipyard-test-parts"), metadata)
        version, created = stores.add("remote", folder)
        assert created and version.rows == 1500
        files = stores.files(version)
        assert all(f.startswith("memory://") for f in files)
        assert all(p.uri and p.uri.startswith("memory://") for p in stores.table(version).parts)
        expected = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
        pd.testing.assert_frame_equal(stores.frame(version), expected)
        assert_statistics_match(stores.statistics(version, types={"visits": "numeric"}), compute_statistics(paths))
    finally:
        metadata.close()


# -- the commands -------------------------------------------------------------------------------------


def test_commands_on_a_partitioned_version_with_a_cluster(proj: Project, events: dict) -> None:
    def cli(*args: str) -> object:
        result = run_cli(*args, cwd=proj.folder, timeout=180)
        assert result.returncode in (0, 2), result.stderr
        return result

    # The module's cluster, by its scheduler's address (as for a cluster started with `dask scheduler`).
    address = proj.dask.scheduler.address
    assert address.startswith("tcp://")
    added = cli("data", "add", "cli_events", "events", "--address", address, "--json")
    shown = json.loads(added.stdout)
    assert (shown["rows"], shown["parts"], shown["created"]) == (PARTS * ROWS, PARTS, True)
    assert shown["artifact_id"] == events["v1"].artifact_id  # the same parts and manifest as events@1

    show = cli("data", "show", "cli_events@1")
    assert "parts         8 Parquet parts" in show.stdout

    stats = cli("data", "stats", "cli_events", "-f", "json", "--address", "local")
    assert json.loads(stats.stdout) == proj.datasets.statistics(events["v1"]).summary()

    (proj.folder / "schema.yaml").write_text(
        "columns:\n  amount: {type: numeric, max_null_fraction: 0.0}\n  plan: {type: categorical}\n"
    )
    checked = run_cli(
        "data", "validate", "cli_events", "--schema", "schema.yaml", "-f", "json",
        cwd=proj.folder, env={"SHIPYARD_DASK_ADDRESS": address},
    )
    assert checked.returncode == 2, checked.stderr  # amount has nulls: an error
    anomalies = json.loads(checked.stdout)["anomalies"]
    assert {"column": "amount", "kind": "null_fraction"}.items() <= anomalies[0].items()

    drift = cli("data", "drift", "cli_events", "events/part-00[0-3].parquet", "-f", "json", "--address", address)
    assert json.loads(drift.stdout)["compared"] == 9
