"""``shipyard.config.loader`` provides loading a ``PipelineSpec`` from a YAML file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.config.spec import PipelineSpec
from shipyard.config.yamlio import LineMap, apply_overrides, load_yaml, validate


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec with where it came from.

    Attributes:
        spec: the validated pipeline spec.
        path: the YAML file.
        raw: the mapping that was validated (after ``--set`` overrides).
        overrides: the ``--set`` items applied.
        lines: line numbers of the file's keys, for later errors.
    """

    spec: PipelineSpec
    path: Path
    raw: dict[str, Any]
    overrides: tuple[str, ...]
    lines: LineMap

    def where(self, *loc: str | int) -> str:
        """``file:line`` of a key path such as ``("split", "column")``."""
        return self.lines.where(tuple(loc))


def load_spec(path: str | Path, overrides: Sequence[str] = ()) -> LoadedSpec:
    """Load, override and validate a pipeline YAML file.

    Raises:
        ConfigError: naming the file and line of every problem.
    """
    file = Path(path)
    data, lines = load_yaml(file)
    if isinstance(data, dict) and overrides:
        data = apply_overrides(data, overrides, lines)
    spec = validate(PipelineSpec, data, lines)
    return LoadedSpec(spec, file, data, tuple(overrides), lines)


__all__ = ["LoadedSpec", "load_spec"]
