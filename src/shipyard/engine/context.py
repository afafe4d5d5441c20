"""``shipyard.engine.context`` provides what a running step can ask of Shipyard.

A step never talks to a store. It may log metrics, which the runner records
with the step run in the same transaction as its outputs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import ShipyardError


@dataclass
class StepContext:
    """The run and step a step function is executing in."""

    run_id: str
    pipeline: str
    step: str
    metrics: dict[str, float] = field(default_factory=dict)


_CURRENT: ContextVar[StepContext | None] = ContextVar("shipyard_step_context", default=None)


def get_step_context() -> StepContext:
    """The context of the step being executed.

    Raises:
        ShipyardError: when called outside a running step.
    """
    ctx = _CURRENT.get()
    if ctx is None:
        raise ShipyardError(
            "get_step_context() and log_metrics() only work inside a step while a "
            "pipeline runs."
        )
    return ctx


def log_metrics(values: Mapping[str, Any] | None = None, /, **named: Any) -> None:
    """Record numeric metrics for the current step (and run).

    Args:
        values: a mapping of metric name to number.
        **named: more metrics as keyword arguments.

    Raises:
        ShipyardError: outside a step, or for a value that is not a number.

    Example:
        >>> log_metrics({"accuracy": 0.91}, rows=1200)  # doctest: +SKIP
    """
    ctx = get_step_context()
    for key, value in {**(values or {}), **named}.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ShipyardError(
                f"Metric {key!r} of step {ctx.step!r} must be a number; got "
                f"{type(value).__name__} {value!r}."
            ) from None
        if math.isinf(number):
            raise ShipyardError(f"Metric {key!r} of step {ctx.step!r} is infinite.")
        ctx.metrics[str(key)] = number


def activate(ctx: StepContext) -> Any:
    """Make ``ctx`` current; returns a token for :func:`deactivate`."""
    return _CURRENT.set(ctx)


def deactivate(token: Any) -> None:
    """Restore the context that was current before :func:`activate`."""
    _CURRENT.reset(token)


__all__ = ["StepContext", "activate", "deactivate", "get_step_context", "log_metrics"]
