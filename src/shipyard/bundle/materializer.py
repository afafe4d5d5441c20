"""``shipyard.bundle.materializer`` provides the materializers for bundles and scikit-learn objects.

Both are registered through the ``shipyard.materializers`` entry point, so a
plain Python pipeline can return a fitted scikit-learn estimator and have it
stored without pickle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shipyard.materializers.base import Materializer


class SklearnMaterializer(Materializer):
    """A scikit-learn estimator or transformer, stored with skops (no pickle)."""

    NAME = "sklearn-skops"
    VERSION = 1
    TYPES = ("sklearn.base.BaseEstimator",)
    FORMAT = "skops"

    def save(self, value: Any, folder: Path) -> None:
        from shipyard.bundle.io import save_sklearn

        save_sklearn(value, folder / "object.skops")

    def load(self, folder: Path) -> Any:
        from shipyard.bundle.io import load_sklearn

        return load_sklearn(folder / "object.skops", trust=self.trust)

    def describe(self, folder: Path) -> dict[str, Any]:
        return {"bytes": (folder / "object.skops").stat().st_size}


class ModelBundleMaterializer(Materializer):
    """A :class:`~shipyard.bundle.bundle.ModelBundle` as a folder (see ``shipyard.bundle.io``)."""

    NAME = "model-bundle"
    VERSION = 1
    TYPES = ("shipyard.bundle.bundle.ModelBundle",)
    FORMAT = "model bundle (bundle.json + skops / native model)"

    def save(self, value: Any, folder: Path) -> None:
        from shipyard.bundle.io import save_bundle

        save_bundle(value, folder)

    def load(self, folder: Path) -> Any:
        from shipyard.bundle.io import load_bundle_folder

        return load_bundle_folder(folder, trust=self.trust)

    def describe(self, folder: Path) -> dict[str, Any]:
        from shipyard.bundle.io import read_metadata

        meta = read_metadata(folder)
        return {
            "model": meta.get("model_class"),
            "task": meta["label"]["task"],
            "label": meta["label"]["name"],
            "features": len(meta["features"]),
            "run_id": meta.get("run_id"),
            "data_version": meta.get("data_version"),
            "metrics": meta.get("metrics"),
        }


__all__ = ["ModelBundleMaterializer", "SklearnMaterializer"]
