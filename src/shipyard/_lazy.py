"""``shipyard._lazy`` provides lazy re-exports for package ``__init__`` modules.

Packages re-export their public names without importing heavy modules until
a name is used, so ``import shipyard`` and ``shipyard --help`` stay fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, names: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Build ``__getattr__`` and ``__dir__`` for a package.

    Args:
        package: the package's ``__name__``.
        names: public name -> module (relative to the package, e.g. ``.graph``).
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        importlib.import_module(package).__dict__[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
