"""``shipyard.orchestrators.local`` provides the in-process orchestrator.

Steps execute one after another in dependency order. After a failure the
steps that do not depend on it still run, so a re-run has more to reuse.
"""

from __future__ import annotations

from shipyard.engine.runner import RunSession, execute_step
from shipyard.orchestrators.base import Orchestrator


class LocalOrchestrator(Orchestrator):
    """Runs each step in the current process, in dependency order."""

    TYPE = "local"

    def _execute(self, session: RunSession) -> None:
        for node in session.pipeline.nodes:
            task = session.plan(node)
            if task is not None:
                session.complete(task, execute_step(task, session.artifact_store))
