"""Partitioned datasets with the real cluster: pipelines reading them, ingest on the workers.

The workers of the session's cluster are fresh ``dask worker`` processes that
never imported ``shipyard.data``; a partitioned version must load there (and in
a fresh ``shipyard`` command) all the same.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from shipyard.client import Client
from shipyard.data.datasets import DatasetStores
from shipyard.errors import ShipyardError
from shipyard.stores.artifacts import ArtifactStore
from tests.dask.conftest import DaskCluster
from tests.data.support import pipeline_yaml, toy_frame
from tests.helpers import run_cli


def write_csv_parts(folder: Path, parts: int = 3, rows: int = 120) -> pd.DataFrame:
    folder.mkdir(parents=True, exist_ok=True)
    frame = toy_frame(parts * rows)
    for i in range(parts):
        frame.iloc[i * rows : (i + 1) * rows].to_csv(folder / f"part-{i}.csv", index=False)
    return frame


def test_a_pipeline_on_a_partitioned_dataset_runs_on_the_cluster(
    dask_cluster: DaskCluster, project: Path, client: Client
) -> None:
    frame = write_csv_parts(project / "parts")
    added = run_cli("data", "add", "toy", "parts/*.csv", cwd=project)
    assert added.returncode == 0, added.stderr
    (project / "toy.yaml").write_text(pipeline_yaml("toy@1"))

    result = client.run(
        str(project / "toy.yaml"), orchestrator="dask",
        orchestrator_options={"address": dask_cluster.address},
    )

    assert result.ok, result.error
    version = client.datasets.resolve("toy@1")
    assert client.datasets.is_partitioned(version)
    # A fresh process shows the manifest and loads it as the whole table.
    shown = run_cli("artifacts", "show", version.artifact_id, "--json", cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["materializer"].startswith("parquet-parts")
    script = (
        "import sys; from shipyard.client import Client\n"
        "frame = Client(sys.argv[1]).load_artifact(sys.argv[2])\n"
        "print(len(frame), list(frame.columns))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script, str(project), version.artifact_id],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split(" ", 1)[0] == str(len(frame))


def test_ingest_on_the_cluster_checks_the_store_and_passes_an_absolute_root(
    dask_cluster: DaskCluster, project: Path, client: Client
) -> None:
    frame = write_csv_parts(project / "parts")
    # An artifact store named by a relative path: the workers run in another folder.
    relative = DatasetStores(ArtifactStore(".shipyard/relative-artifacts"), client.metadata_store)
    version, created = relative.add("toy", "parts/*.csv", base=project, address=dask_cluster.address)
    assert created and version.rows == len(frame)
    for part_file in relative.files(version):
        assert Path(part_file).is_file()
    pd.testing.assert_frame_equal(relative.frame(version), frame, check_dtype=False)

    in_memory = DatasetStores(ArtifactStore("memory://shipyard-ingest"), client.metadata_store)
    with pytest.raises(ShipyardError, match="memory"):
        in_memory.add("other", "parts/*.csv", base=project, address=dask_cluster.address)
    assert [d.name for d in client.metadata_store.list_datasets()] == ["toy"]
