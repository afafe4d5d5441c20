"""Fixtures of the model registry tests.

``two_runs`` trains the taxi example twice in one project (a weak model with 3
boosting iterations and the usual fast one with 30), so tests have two real
bundles to register, promote, alias and roll back. Each test uses its own model
names, so tests sharing the project do not see each other's versions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ml.support import copy_taxi, isolated, new_project

WEAK = "train.params.max_iter=3"
STRONG = "train.params.max_iter=30"


@dataclass
class TwoRuns:
    """A project with two completed taxi runs and their bundles."""

    folder: Path
    yaml: Path
    runs: list[str]
    bundles: list[str]


@pytest.fixture(scope="package", autouse=True)
def _one_native_thread() -> Iterator[None]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> TwoRuns:
    folder = tmp_path_factory.mktemp("registry") / "project"
    yaml = copy_taxi(folder)
    runs, bundles = [], []
    with isolated(folder), new_project(folder) as client:
        for override in (WEAK, STRONG):
            result = client.run(str(yaml), overrides=[override])
            assert result.ok, result.error
            runs.append(result.run_id)
            bundles.append(result.steps["bundle"].outputs["output"].id)
    return TwoRuns(folder, yaml, runs, bundles)
