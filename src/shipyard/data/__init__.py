"""``shipyard.data`` provides statistics, schemas, validation, drift and data reports."""

from shipyard._lazy import lazy_exports

_EXPORTS = {
    "Statistics": ".statistics",
    "ColumnStatistics": ".statistics",
    "compute_statistics": ".statistics",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
