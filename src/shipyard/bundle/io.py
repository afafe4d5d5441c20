"""``shipyard.bundle.io`` provides saving and loading model bundles and scikit-learn objects.

Nothing is pickled. scikit-learn objects are stored with skops, and loading
accepts only a fixed list of trusted types (scikit-learn's own, NumPy's and
Shipyard's transformers); anything else is refused unless the caller says
``trust=True``. XGBoost and LightGBM models use their native formats.

A bundle folder holds ``bundle.json`` (schema, label, metrics, ids),
``preprocessor.skops`` and the model file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shipyard.bundle.bundle import BUNDLE_FORMAT, ModelBundle
from shipyard.errors import ShipyardError, UnsafeArtifactError

#: Shipyard's own transformers (names only: importing them needs scikit-learn).
OWN_TRANSFORMERS = (
    "ToFloat", "AsCategory", "BooleanToNumber", "SignedLog1p", "Clip", "Bucketize",
    "DatetimeParts", "TextColumn", "HashEncoder",
)

#: Types a bundle may contain beyond those skops trusts by default.
TRUSTED_TYPES: frozenset[str] = frozenset(
    [
        *(f"shipyard.bundle.transformers.{name}" for name in OWN_TRANSFORMERS),
        "numpy.dtype",
        "builtins.slice",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.common.Histograms",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn._loss.loss.AbsoluteError",
        "sklearn._loss.loss.HalfPoissonLoss",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.link.LogLink",
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss._loss.CyHalfMultinomialLoss",
        "sklearn._loss._loss.CyHalfSquaredError",
        "sklearn._loss._loss.CyAbsoluteError",
        "sklearn._loss._loss.CyHalfPoissonLoss",
        "sklearn.tree._tree.Tree",
        "sklearn.utils._bunch.Bunch",
        "sklearn.ensemble._gb.GradientBoostingClassifier",
        "sklearn.ensemble._gb.GradientBoostingRegressor",
        "sklearn.dummy.DummyClassifier",
        "sklearn.dummy.DummyRegressor",
        "collections.OrderedDict",
    ]
)

#: Model files of the libraries stored in their own formats.
_NATIVE = {"xgboost": "model.xgb.json", "lightgbm": "model.lgb.txt"}


def _untrusted(path: Path) -> list[str]:
    """Types in a skops file outside the trusted list.

    Trusted: scikit-learn's own classes (any ``sklearn.`` type: building them
    runs no code of the file's choosing), NumPy's dtype, and Shipyard's
    transformers. Anything else needs ``trust=True``.
    """
    import skops.io as sio

    return sorted(
        t for t in set(sio.get_untrusted_types(file=path)) - TRUSTED_TYPES if not t.startswith("sklearn.")
    )


def save_sklearn(obj: Any, path: Path) -> None:
    """Write a scikit-learn object with skops (no pickle)."""
    import skops.io as sio

    try:
        sio.dump(obj, path)
    except Exception as exc:  # skops raises several types for what it cannot store
        raise ShipyardError(
            f"Cannot store {type(obj).__qualname__} without pickle: {exc}"
        ) from exc
    _make_reproducible(path)


_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _make_reproducible(path: Path) -> None:
    """Rewrite a skops file so that the same fitted object gives the same bytes.

    skops names the arrays' files and the schema's ``__id__`` fields after
    Python object ids and stamps the zip entries with the time: every save of
    an identical model would differ, and so would its content-addressed id.
    Ids are renumbered in the order the schema lists them (the order of the
    object's own state, which is deterministic) and times are fixed.
    """
    import zipfile

    with zipfile.ZipFile(path) as source:
        schema = json.loads(source.read("schema.json"))
        members = {info.filename: (info, source.read(info)) for info in source.infolist()}
    ids: dict[int, int] = {}
    files: dict[str, str] = {}

    def renumber(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "__id__" and isinstance(value, int):
                    out[key] = ids.setdefault(value, len(ids) + 1)
                elif key == "file" and isinstance(value, str) and value in members:
                    out[key] = files.setdefault(value, f"{len(files) + 1}{Path(value).suffix}")
                else:
                    out[key] = renumber(value)
            return out
        if isinstance(node, list):
            return [renumber(v) for v in node]
        return node

    canonical = renumber(schema)
    if set(files) != set(members) - {"schema.json"}:
        return  # a layout this does not know: leave the file as skops wrote it
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as target:
        info, _ = members["schema.json"]
        entries = [("schema.json", info, json.dumps(canonical, indent=2).encode())]
        entries += [(files[name], members[name][0], members[name][1]) for name in files]
        for name, original, data in entries:
            fixed = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            fixed.compress_type = original.compress_type
            fixed.external_attr = 0o644 << 16
            target.writestr(fixed, data)
    tmp.replace(path)


def load_sklearn(path: Path, *, trust: bool = False) -> Any:
    """Read a skops file, refusing types outside the trusted list unless ``trust``.

    Raises:
        UnsafeArtifactError: when the file holds untrusted types and ``trust`` is False.
    """
    import skops.io as sio

    untrusted = _untrusted(path)
    if untrusted and not trust:
        raise UnsafeArtifactError(
            f"{path.name} holds types outside the trusted list: {', '.join(untrusted)}. "
            "Loading them could run their code.",
            hint="If you trust who made it, load with trust=True (or --trust).",
        )
    return sio.load(path, trusted=sorted(set(sio.get_untrusted_types(file=path))))


def _native_family(model: Any) -> str | None:
    if isinstance(model, _LightGBMModel):
        return "lightgbm"
    root = type(model).__module__.split(".", 1)[0]
    return root if root in _NATIVE else None


def save_bundle(bundle: ModelBundle, folder: Path) -> None:
    """Write a bundle into an empty folder."""
    save_sklearn(bundle.preprocessor, folder / "preprocessor.skops")
    family = _native_family(bundle.model)
    if family == "xgboost":
        bundle.model.save_model(folder / _NATIVE["xgboost"])
        model_file = _NATIVE["xgboost"]
    elif family == "lightgbm":
        booster = getattr(bundle.model, "booster", None) or bundle.model.booster_
        booster.save_model(str(folder / _NATIVE["lightgbm"]))
        model_file = _NATIVE["lightgbm"]
    else:
        save_sklearn(bundle.model, folder / "model.skops")
        model_file = "model.skops"
    meta = bundle.metadata() | {"model_file": model_file}
    (folder / "bundle.json").write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    for name, part in (("statistics.json", bundle.statistics), ("schema.json", bundle.data_schema)):
        if part is not None:
            (folder / name).write_text(json.dumps(part, default=str), encoding="utf-8")


def read_metadata(folder: Path) -> dict[str, Any]:
    """The ``bundle.json`` of a bundle folder.

    Raises:
        ShipyardError: when the folder is not a bundle or is from a newer Shipyard.
    """
    try:
        meta = json.loads((folder / "bundle.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ShipyardError(f"{folder} is not a model bundle (no readable bundle.json).") from exc
    if meta.get("format", 0) > BUNDLE_FORMAT:
        raise ShipyardError(
            f"{folder} is a bundle of format {meta['format']}, newer than this Shipyard "
            f"reads ({BUNDLE_FORMAT}); upgrade Shipyard."
        )
    return meta


def _load_model(folder: Path, meta: dict[str, Any], trust: bool) -> Any:
    model_file = meta["model_file"]
    if model_file == _NATIVE["xgboost"]:
        import xgboost

        cls_name = str(meta["model_class"]).rsplit(".", 1)[-1]
        model = getattr(xgboost, cls_name, xgboost.XGBModel)()
        model.load_model(folder / model_file)
        return model
    if model_file == _NATIVE["lightgbm"]:
        import lightgbm

        return _LightGBMModel(lightgbm.Booster(model_file=str(folder / model_file)), meta)
    return load_sklearn(folder / model_file, trust=trust)


class _LightGBMModel:
    """predict / predict_proba over a LightGBM Booster loaded from its text format."""

    def __init__(self, booster: Any, meta: dict[str, Any]) -> None:
        self.booster = booster
        self.task = meta["label"]["task"]

    def predict_proba(self, X: Any) -> Any:
        import numpy as np

        raw = np.asarray(self.booster.predict(X))
        return np.column_stack([1 - raw, raw]) if raw.ndim == 1 else raw

    def predict(self, X: Any) -> Any:
        import numpy as np

        if self.task == "regression":
            return np.asarray(self.booster.predict(X))
        return self.predict_proba(X).argmax(axis=1)


def load_bundle_folder(folder: Path, *, trust: bool = False) -> ModelBundle:
    """Read a bundle folder written by :func:`save_bundle`.

    Raises:
        UnsafeArtifactError: when it holds untrusted types and ``trust`` is False.
    """
    meta = read_metadata(folder)
    preprocessor = load_sklearn(folder / "preprocessor.skops", trust=trust)
    model = _load_model(folder, meta, trust)
    return ModelBundle(
        preprocessor=preprocessor,
        model=model,
        features=meta["features"],
        schema=meta["schema"],
        label=meta["label"],
        transforms=tuple(meta.get("transforms") or ()),
        metrics=meta.get("metrics") or {},
        run_id=meta.get("run_id"),
        data_version=meta.get("data_version"),
        model_class=meta.get("model_class", ""),
        statistics=_optional_json(folder / "statistics.json"),
        data_schema=_optional_json(folder / "schema.json"),
    )


def _optional_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


__all__ = [
    "TRUSTED_TYPES",
    "load_bundle_folder",
    "load_sklearn",
    "read_metadata",
    "save_bundle",
    "save_sklearn",
]
