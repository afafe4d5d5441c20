"""``shipyard.serving`` provides the HTTP prediction service, its prediction log and monitoring."""

from shipyard._lazy import lazy_exports

_EXPORTS = {
    "build_app": ".app",
    "ServiceInfo": ".app",
    "ServiceOptions": ".app",
    "PredictionLog": ".log",
    "serve": ".server",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
