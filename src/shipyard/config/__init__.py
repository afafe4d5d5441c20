"""``shipyard.config`` provides ``PipelineSpec`` and YAML loading with file:line errors."""

from shipyard._lazy import lazy_exports

_EXPORTS = {
    "PipelineSpec": ".spec",
    "ConfigError": ".yamlio",
    "load_spec": ".loader",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
