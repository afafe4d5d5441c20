"""``shipyard.data.refs`` provides dataset references: ``taxi``, ``taxi@3``, ``taxi@latest``.

Kept free of heavy imports: the YAML compiler checks references on every run.
"""

from __future__ import annotations

import re

from shipyard.errors import DatasetNotFound

NAME = re.compile(r"^[A-Za-z0-9_][\w.-]{0,199}$")
REF = re.compile(r"^(?P<name>[A-Za-z0-9_][\w.-]*)@(?P<version>latest|\d+)$")


def is_dataset_ref(text: str) -> bool:
    """True for ``name@version`` or ``name@latest``."""
    return bool(REF.match(text))


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``taxi@3`` -> ``("taxi", 3)``; ``taxi@latest`` or ``taxi`` -> ``("taxi", None)``.

    Raises:
        DatasetNotFound: for text that is not a dataset reference.
    """
    match = REF.match(ref)
    if match:
        version = match["version"]
        return match["name"], None if version == "latest" else int(version)
    if NAME.match(ref):
        return ref, None
    raise DatasetNotFound(f"{ref!r} is not a dataset reference; expected NAME, NAME@VERSION or NAME@latest.")


__all__ = ["NAME", "REF", "is_dataset_ref", "parse_ref"]
