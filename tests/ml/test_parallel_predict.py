"""Batch prediction over many input parts, in process and on a real Dask cluster of processes.

The session's trained taxi bundle scores 4,000 real taxi rows cut into 8
Parquet parts. Whatever the layout (one file or a folder of parts) and
wherever the parts are scored, the predictions must be those of the same rows
given as one file, in the same order, and the input's checks must agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard.bundle.bundle import InputError
from shipyard.data.sources import DataError
from shipyard.engine.cluster import connect
from shipyard.ml.parallel_predict import predict_parts
from shipyard.ml.predict import predict_file
from tests.ml.conftest import TrainedTaxi
from tests.ml.support import assert_user_error, cli, taxi_rows

PARTS = 8
ROWS = 500


@pytest.fixture(scope="module")
def dask_client() -> Iterator[object]:
    with connect("local", n_workers=2) as client:
        yield client


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("predict-parts")
    rows = taxi_rows(PARTS * ROWS).drop(columns=["big_tipper", "tips"])
    rows.insert(0, "trip_id", range(len(rows)))
    rows.loc[[7, 1234], "payment_type"] = "Bitcoin"  # unseen in training: counted across parts
    (folder / "parts").mkdir()
    parts = []
    for i in range(PARTS):
        path = folder / "parts" / f"trips-{i}.parquet"
        rows.iloc[i * ROWS : (i + 1) * ROWS].to_parquet(path, index=False)
        parts.append(path)
    whole = folder / "whole.parquet"
    rows.to_parquet(whole, index=False)
    return {"folder": folder, "parts": parts, "whole": whole, "rows": rows}


@pytest.fixture(scope="module")
def predictor(trained_taxi: TrainedTaxi) -> object:
    return trained_taxi.client.load_bundle(trained_taxi.bundle_id)


@pytest.fixture(scope="module")
def bundle_folder(trained_taxi: TrainedTaxi) -> Path:
    return trained_taxi.client.artifact_store.local_path(trained_taxi.bundle_id)


@pytest.fixture(scope="module")
def single(inputs: dict, predictor: object) -> tuple[object, pd.DataFrame]:
    """The reference: the same rows as one file, scored by predict_file."""
    output = inputs["folder"] / "single.parquet"
    summary = predict_file(predictor, inputs["whole"], output, keep=["trip_id"])
    return summary, pd.read_parquet(output)


def _assert_same_checks(summary: object, reference: object) -> None:
    assert summary.rows == reference.rows == PARTS * ROWS
    assert summary.unseen == reference.unseen  # counted part by part, summed
    assert reference.unseen["payment_type"] >= 2
    assert summary.extra_columns == reference.extra_columns
    assert summary.validation == reference.validation
    got = {c["column"]: c["score"] for c in summary.drift["columns"]}
    expected = {c["column"]: c["score"] for c in reference.drift["columns"]}
    assert got.keys() == expected.keys()
    for column, score in expected.items():
        assert got[column] == pytest.approx(score, abs=1e-3), column
    assert summary.drift["drifted"] == reference.drift["drifted"]


def test_parts_on_the_cluster_give_the_single_file_predictions_in_order(
    inputs: dict, predictor: object, bundle_folder: Path, dask_client: object, single: tuple
) -> None:
    reference, expected = single
    output = inputs["folder"] / "cluster.parquet"
    messages: list[str] = []
    summary = predict_parts(
        predictor, inputs["parts"], output, bundle_folder=bundle_folder, keep=["trip_id"],
        dask_client=dask_client, progress=messages.append, chunk_rows=200,
    )
    written = pd.read_parquet(output)
    pd.testing.assert_frame_equal(written, expected)
    assert written["trip_id"].tolist() == list(range(PARTS * ROWS))
    _assert_same_checks(summary, reference)
    assert messages[0] == "predicting 8 parts on 2 Dask workers"
    assert not [p for p in output.parent.iterdir() if p.name.startswith(".")]


def test_parts_in_process_write_a_folder_of_parts_matching_the_input(
    inputs: dict, predictor: object, single: tuple
) -> None:
    reference, expected = single
    output = inputs["folder"] / "by-part"
    summary = predict_parts(predictor, inputs["parts"], output, keep=["trip_id"])
    names = sorted(p.name for p in output.iterdir())
    assert names == [f"part-{i:05d}.parquet" for i in range(PARTS)]
    for i, name in enumerate(names):
        part = pd.read_parquet(output / name)
        pd.testing.assert_frame_equal(part, expected.iloc[i * ROWS : (i + 1) * ROWS].reset_index(drop=True))
    _assert_same_checks(summary, reference)
    # Scoring again replaces an earlier output (a folder of parts only) as a whole.
    predict_parts(predictor, inputs["parts"][:2], output)
    assert sorted(p.name for p in output.iterdir()) == ["part-00000.parquet", "part-00001.parquet"]


def test_a_folder_output_never_replaces_a_folder_holding_other_files(
    inputs: dict, predictor: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    (folder / "part-00000.parquet").write_bytes(b"an earlier part")
    (folder / "sub").mkdir()
    with pytest.raises(DataError, match="holds files other than the parts"):
        predict_parts(predictor, inputs["parts"][:2], folder)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "part-00000.parquet", "sub"]
    assert (folder / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no staging folder left
    # The current folder, its parent, or a folder holding it: refused whatever they hold.
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for output in (Path("."), Path(".."), Path("./"), tmp_path, Path("sub/..")):
        with pytest.raises(DataError, match="current folder"):
            predict_parts(predictor, inputs["parts"][:2], output)
    assert list(work.iterdir()) == []


def test_csv_output_of_parts_on_the_cluster_is_one_file_with_one_header(
    inputs: dict, predictor: object, bundle_folder: Path, dask_client: object
) -> None:
    joined, alone = inputs["folder"] / "joined.csv", inputs["folder"] / "alone.csv"
    predict_parts(predictor, inputs["parts"], joined, bundle_folder=bundle_folder, keep=["trip_id"], dask_client=dask_client)
    predict_file(predictor, inputs["whole"], alone, keep=["trip_id"])
    assert joined.read_text() == alone.read_text()


def test_a_bad_part_fails_and_leaves_nothing_behind(
    inputs: dict, predictor: object, bundle_folder: Path, dask_client: object
) -> None:
    broken = inputs["folder"] / "broken"
    broken.mkdir()
    parts = []
    for i in range(4):
        rows = inputs["rows"].iloc[i * 50 : (i + 1) * 50]
        if i == 2:
            rows = rows.drop(columns=["company"])
        parts.append(broken / f"p{i}.parquet")
        rows.to_parquet(parts[-1], index=False)
    output = inputs["folder"] / "never.parquet"
    with pytest.raises(InputError, match="Missing column"):
        predict_parts(predictor, parts, output, bundle_folder=bundle_folder, dask_client=dask_client)
    assert not output.exists()
    assert not [p for p in inputs["folder"].iterdir() if p.name.startswith(".never")]


def test_predict_command_on_a_glob_and_on_a_partitioned_dataset(
    trained_taxi: TrainedTaxi, inputs: dict, dask_client: object, single: tuple
) -> None:
    reference, expected = single
    folder: Path = inputs["folder"]
    address = dask_client.scheduler.address
    output = folder / "cli.parquet"
    result = cli(
        "predict", trained_taxi.run_id, "--input", str(folder / "parts" / "*.parquet"),
        "--output", str(output), "--keep", "trip_id", "--address", address, "--json",
        cwd=trained_taxi.folder,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["rows"], summary["parts"], summary["unseen_categories"]) == (PARTS * ROWS, PARTS, reference.unseen)
    pd.testing.assert_frame_equal(pd.read_parquet(output), expected)
    # --json writes the input's checks next to the output, as without it.
    assert summary["report"] == f"{output}.report.json"
    assert json.loads(Path(summary["report"]).read_text())["validation"] == summary["validation"]
    # The current folder as the output: one clear error, nothing written or deleted.
    before = sorted(p.name for p in trained_taxi.folder.iterdir())
    refused = cli(
        "predict", trained_taxi.run_id, "--input", str(folder / "parts" / "*.parquet"), "--output", ".",
        cwd=trained_taxi.folder,
    )
    assert_user_error(refused, "is the current folder")
    assert sorted(p.name for p in trained_taxi.folder.iterdir()) == before

    # A partitioned dataset version as the input; a folder of parts as the output; in process.
    added = cli("data", "add", "new_trips", str(folder / "parts"), cwd=trained_taxi.folder)
    assert added.returncode == 0, added.stderr
    result = cli(
        "predict", trained_taxi.run_id, "--input", "new_trips@latest", "--output", str(folder / "cli-parts"),
        cwd=trained_taxi.folder,
    )
    assert result.returncode == 0, result.stderr
    assert f"Wrote {PARTS * ROWS} prediction(s) to {folder / 'cli-parts'}/ ({PARTS} parts)" in " ".join(result.stdout.split())
    report = json.loads((folder / "cli-parts.report.json").read_text())  # next to the folder, not in it
    assert report["validation"] == summary["validation"]
    back = pd.read_parquet(folder / "cli-parts")
    np.testing.assert_array_equal(back["prediction"].to_numpy(), expected["prediction"].to_numpy())
