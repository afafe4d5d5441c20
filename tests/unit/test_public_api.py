"""The public surface: what ``shipyard`` exports, and the import-layer contracts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import shipyard

REPO = Path(__file__).resolve().parents[2]

PUBLIC = {
    "Client",
    "Lineage",
    "Materializer",
    "ModelBundle",
    "Pipeline",
    "PipelineDefinition",
    "Predictor",
    "RunHooks",
    "RunResult",
    "ShipyardError",
    "Step",
    "__version__",
    "get_step_context",
    "load_bundle",
    "log_metrics",
    "pipeline",
    "register_materializer",
    "run",
    "step",
}


def test_exports_exactly_the_public_api() -> None:
    assert set(shipyard.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(shipyard, name) is not None


def test_internals_are_not_exported() -> None:
    for name in ("RunSession", "execute_step", "MetadataStore", "ArtifactStore", "save_value"):
        assert name not in shipyard.__all__
        with pytest.raises(AttributeError):
            getattr(shipyard, name)


def test_step_is_the_decorator_not_its_module() -> None:
    from shipyard.engine.step import Step

    assert callable(shipyard.step)
    assert isinstance(shipyard.step(lambda_free_function), Step)


def lambda_free_function(x: int = 1) -> int:
    return x


def test_import_shipyard_is_light() -> None:
    code = (
        "import sys, shipyard; "
        "heavy = [m for m in ('pandas', 'pyarrow', 'sqlalchemy', 'numpy', 'pydantic', 'typer') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_import_layers_are_kept() -> None:
    """Shells > orchestrators > engine > stores; stores never import the engine."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.fail("lint-imports is missing: install the dev extras (make test does)")
    out = subprocess.run([lint], cwd=REPO, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout
