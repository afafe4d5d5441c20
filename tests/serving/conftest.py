"""Fixtures of the serving tests.

``trained_project`` trains the four pipelines once per session (a taxi
classifier, a bike-rentals regressor with a datetime feature, a table using
every preprocessing method, and the taxi classifier with a strict schema) in
one project; each test module works on its own copy (``project``), so the
prediction logs of one module's servers never reach another's.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.serving.support import TrainedProject, train_project


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> TrainedProject:
    from threadpoolctl import threadpool_limits

    with pytest.MonkeyPatch.context() as mp, threadpool_limits(limits=1):
        for name in list(os.environ):
            if name.startswith("SHIPYARD_"):
                mp.delenv(name, raising=False)
        mp.setenv("SHIPYARD_USER", "tester")
        return train_project(tmp_path_factory.mktemp("serving") / "trained")


@pytest.fixture(scope="module")
def project(trained_project: TrainedProject, tmp_path_factory: pytest.TempPathFactory) -> TrainedProject:
    """A copy of the trained project for this module's servers and logs."""
    return trained_project.copy(Path(tmp_path_factory.mktemp("project")) / "project")
