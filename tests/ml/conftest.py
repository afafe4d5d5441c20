"""Fixtures of the YAML training pipeline tests.

``trained_taxi`` trains the taxi example once per session (on its first 3000
rows, 30 boosting iterations) in its own project; tests only read it. Tests
that record more runs build their own projects.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from shipyard.client import Client
from tests.ml.support import FAST, copy_taxi, isolated, new_project


@dataclass
class TrainedTaxi:
    """One completed run of the taxi example."""

    folder: Path
    yaml: Path
    client: Client
    run_id: str
    bundle_id: str
    result: object

    def output(self, step: str, name: str = "output") -> object:
        return self.client.load_output(self.run_id, step, name)

    def test_rows(self) -> pd.DataFrame:
        """The raw rows of the test split, as the split step stored them."""
        return self.client.load_output(self.run_id, "split", "test")


@pytest.fixture(scope="package", autouse=True)
def _one_native_thread() -> Iterator[None]:
    """One OpenMP/BLAS thread while these tests run (see ``support.cli``)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def trained_taxi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrainedTaxi]:
    folder = tmp_path_factory.mktemp("taxi")
    yaml = copy_taxi(folder)
    with isolated():
        client = new_project(folder)
        result = client.run(str(yaml), overrides=[FAST])
    assert result.ok, result.error
    bundle_id = result.steps["bundle"].outputs["output"].id
    try:
        yield TrainedTaxi(folder, yaml, client, result.run_id, bundle_id, result)
    finally:
        client.close()
