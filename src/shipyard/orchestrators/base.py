"""``shipyard.orchestrators.base`` provides the orchestrator interface.

An orchestrator decides where and when each step executes. The scheduling
loop, caching and recording live in :class:`~shipyard.engine.runner.RunSession`;
a subclass only implements :meth:`Orchestrator._execute`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from shipyard.engine.graph import Pipeline
from shipyard.engine.runner import NO_HOOKS, RunHooks, RunResult, RunSession
from shipyard.stores.artifacts import ArtifactStore
from shipyard.stores.metadata import MetadataStore


class Orchestrator(ABC):
    """Executes the steps of a run.

    Subclasses set ``TYPE`` (the name used in stacks and on the command line)
    and implement :meth:`_execute`.
    """

    TYPE: ClassVar[str]

    def run(
        self,
        pipeline: Pipeline,
        *,
        artifact_store: ArtifactStore,
        metadata_store: MetadataStore,
        cache: bool = True,
        config: Mapping[str, Any] | None = None,
        hooks: RunHooks = NO_HOOKS,
        project_dir: Path | None = None,
        reproduces: str | None = None,
    ) -> RunResult:
        """Run ``pipeline`` and return how it ended (a failed step does not raise).

        ``reproduces`` names the run this one reproduces (recorded on the run).

        Raises:
            KeyboardInterrupt: after recording the run as crashed.
        """
        session = RunSession(
            pipeline,
            artifact_store,
            metadata_store,
            cache=cache,
            config=config,
            orchestrator=self.TYPE,
            hooks=hooks,
            project_dir=project_dir,
            reproduces=reproduces,
        )
        session.start()
        try:
            self._execute(session)
        except BaseException as exc:
            session.abort(exc)
            raise
        return session.finish()

    @abstractmethod
    def _execute(self, session: RunSession) -> None:
        """Execute every step of ``session.pipeline`` through the session."""
