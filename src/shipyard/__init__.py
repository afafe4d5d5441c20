"""Shipyard: versioned, cached, validated ML pipelines from YAML or plain Python.

The public API, imported on first use so ``import shipyard`` stays light:

* :func:`step`, :func:`pipeline` — define steps and pipelines.
* :class:`Client`, :func:`run` — run pipelines, read runs, artifacts and lineage.
* :func:`load_bundle`, :class:`Predictor` — predict from raw rows with a model bundle.
* :func:`log_metrics`, :func:`get_step_context` — inside a running step.
* :func:`register_materializer`, :class:`Materializer` — store new types.
"""

from shipyard._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "step": "shipyard.engine.step",
    "Step": "shipyard.engine.step",
    "pipeline": "shipyard.engine.graph",
    "Pipeline": "shipyard.engine.graph",
    "PipelineDefinition": "shipyard.engine.graph",
    "log_metrics": "shipyard.engine.context",
    "get_step_context": "shipyard.engine.context",
    "RunHooks": "shipyard.engine.runner",
    "RunResult": "shipyard.engine.runner",
    "Client": "shipyard.client",
    "Lineage": "shipyard.client",
    "run": "shipyard.client",
    "load_bundle": "shipyard.client",
    "ModelBundle": "shipyard.bundle.bundle",
    "Predictor": "shipyard.bundle.bundle",
    "Materializer": "shipyard.materializers.base",
    "register_materializer": "shipyard.materializers.registry",
    "ShipyardError": "shipyard.errors",
}
__all__ = sorted([*_EXPORTS, "__version__"])
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
