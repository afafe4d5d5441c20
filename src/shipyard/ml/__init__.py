"""``shipyard.ml`` provides the standard ML steps and the YAML pipeline compiler."""

from shipyard._lazy import lazy_exports

_EXPORTS = {
    "compile_spec": ".compile",
    "load_yaml_pipeline": ".compile",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
