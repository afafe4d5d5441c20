"""``shipyard.engine`` provides steps, pipelines, caching and the run session.

``@step`` itself is public as ``shipyard.step`` (``shipyard.engine.step`` is its module).

Names are imported on first use, so defining steps does not load the stores.
"""

from shipyard._lazy import lazy_exports

_EXPORTS = {
    "StepContext": ".context",
    "get_step_context": ".context",
    "log_metrics": ".context",
    "OutputRef": ".graph",
    "Pipeline": ".graph",
    "PipelineDefinition": ".graph",
    "StepNode": ".graph",
    "StepOutput": ".graph",
    "pipeline": ".graph",
    "NO_HOOKS": ".runner",
    "RunHooks": ".runner",
    "RunResult": ".runner",
    "RunSession": ".runner",
    "StepOutcome": ".runner",
    "StepResult": ".runner",
    "StepTask": ".runner",
    "execute_step": ".runner",
    "Step": ".step",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
