"""``shipyard.orchestrators`` provides the orchestrators that execute runs.

Built in: ``local`` (in process) and ``dask`` (on a Dask cluster; the
``dask`` extra). Others join through the
``shipyard.orchestrators`` entry-point group and are imported only when used.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from shipyard.orchestrators.base import Orchestrator

_BUILTIN = {
    "local": "shipyard.orchestrators.local:LocalOrchestrator",
    "dask": "shipyard.orchestrators.dask:DaskOrchestrator",
}


def _known() -> dict[str, str]:
    plugins = {ep.name: ep.value for ep in entry_points(group="shipyard.orchestrators")}
    return {**plugins, **_BUILTIN}


def get_orchestrator(name: str, **options: Any) -> Orchestrator:
    """An orchestrator instance by name.

    Raises:
        ShipyardError: for an unknown name, listing the known ones.
    """
    known = _known()
    if name not in known:
        raise ShipyardError(f"No orchestrator {name!r}; available: {sorted(known)}.")
    module, _, attr = known[name].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    return cls(**options)


__all__ = ["get_orchestrator"]
