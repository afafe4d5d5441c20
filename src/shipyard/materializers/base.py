"""``shipyard.materializers.base`` provides the materializer interface.

A materializer turns a Python value into files in a folder and back. Each
declares the types it handles (by qualified name, so no heavy library is
imported to check), a ``NAME`` and a ``VERSION``; the pair (``parquet/1``) is
stored on the artifact record, so loading never guesses, and is part of the
cache key, so bumping a version invalidates cached outputs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar


class Materializer(ABC):
    """Saves values of some types to a folder and loads them back.

    Subclasses set ``NAME``, ``VERSION``, ``TYPES`` (qualified names such as
    ``"pandas.DataFrame"``, matched against the value type's MRO; the module
    part may be the top-level package) and optionally ``PRIORITY`` (lower is
    tried first) and ``FORMAT`` (a human name of the file format).

    Example:
        >>> class TextMaterializer(Materializer):
        ...     NAME, VERSION, TYPES, FORMAT = "text", 1, ("mylib.Text",), "UTF-8 text"
        ...     def save(self, value, folder):
        ...         (folder / "text.txt").write_text(str(value))
        ...     def load(self, folder):
        ...         return Text((folder / "text.txt").read_text())
    """

    NAME: ClassVar[str]
    VERSION: ClassVar[int] = 1
    TYPES: ClassVar[tuple[str, ...]] = ()
    PRIORITY: ClassVar[int] = 100
    FORMAT: ClassVar[str] = ""

    def __init__(self, *, trust: bool = False) -> None:
        #: True when the caller vouches for the artifact's origin: materializers
        #: whose format can hold code (pickle, untrusted skops types) may load it.
        self.trust = trust

    @classmethod
    def tag(cls) -> str:
        """``NAME/VERSION``, as recorded on artifacts and in cache keys."""
        return f"{cls.NAME}/{cls.VERSION}"

    @classmethod
    def can_save(cls, value: Any) -> bool:
        """A finer check after the type matched (e.g. JSON-ability). Default: True."""
        return True

    @abstractmethod
    def save(self, value: Any, folder: Path) -> None:
        """Write ``value`` as files into the empty local ``folder``."""

    @abstractmethod
    def load(self, folder: Path) -> Any:
        """Read the value back from a folder this materializer wrote."""

    def describe(self, folder: Path) -> dict[str, Any]:
        """A short, cheap summary of the stored value for ``artifacts show``."""
        return {}


def type_names(tp: type) -> list[str]:
    """Names a type answers to, most specific first: ``pkg.mod.Cls`` and ``pkg.Cls``."""
    names: list[str] = []
    for klass in tp.__mro__:
        full = f"{klass.__module__}.{klass.__qualname__}"
        short = f"{klass.__module__.split('.', 1)[0]}.{klass.__qualname__}"
        names.extend(dict.fromkeys([full, short]))
    return names


def qualified_name(tp: type) -> str:
    """``module.QualName`` of a type."""
    return f"{tp.__module__}.{tp.__qualname__}"


__all__ = ["Materializer", "qualified_name", "type_names"]
