"""``shipyard.registry`` provides the model registry: named models, their versions, stages and aliases.

See :class:`~shipyard.registry.registry.ModelRegistry` (``Client().models``)
and :func:`~shipyard.registry.refs.parse_model_ref` (``NAME@REF``).
"""

from shipyard._lazy import lazy_exports

_EXPORTS = {
    "ModelRef": ".refs",
    "ModelRegistry": ".registry",
    "REPLACED_STAGE": ".registry",
    "is_model_ref": ".refs",
    "parse_model_ref": ".refs",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
