"""``shipyard.bundle`` provides ``ModelBundle`` (fitted preprocessing + model + schema) and ``Predictor``."""

from shipyard._lazy import lazy_exports

_EXPORTS = {
    "ModelBundle": ".bundle",
    "Predictor": ".bundle",
    "InputError": ".bundle",
    "PredictionReport": ".bundle",
    "load_bundle_folder": ".io",
    "save_bundle": ".io",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
