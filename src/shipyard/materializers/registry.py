"""``shipyard.materializers.registry`` maps Python types to materializers.

Lookup walks the value type's MRO, most specific first, and at each class
tries the materializers registered for it in ``PRIORITY`` order. Built-ins
are registered on first use; third-party packages join through the
``shipyard.materializers`` entry-point group. Pickle is never chosen unless
the caller allows it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Any

from shipyard.errors import MaterializerError
from shipyard.materializers.base import Materializer, qualified_name, type_names

logger = logging.getLogger(__name__)

_BY_NAME: dict[str, type[Materializer]] = {}
_BY_TYPE: dict[str, list[type[Materializer]]] = {}
_state = {"loaded": False}

SUPPORTED = (
    "pandas.DataFrame, pyarrow.Table, numpy.ndarray, dict/list/tuple/str/int/float/"
    "bool/None (JSON), bytes, pathlib.Path"
)


def register_materializer(cls: type[Materializer]) -> type[Materializer]:
    """Register a materializer class (usable as a decorator).

    A class registered under an existing ``NAME`` replaces the earlier one.

    Raises:
        MaterializerError: when the class is not a Materializer or lacks NAME/TYPES.
    """
    if not (isinstance(cls, type) and issubclass(cls, Materializer)):
        raise MaterializerError(
            f"register_materializer expects a Materializer subclass, got {cls!r}."
        )
    if not getattr(cls, "NAME", None) or not cls.TYPES:
        raise MaterializerError(f"Materializer {cls.__qualname__} must set NAME and TYPES.")
    previous = _BY_NAME.get(cls.NAME)
    if previous is not None:
        for bucket in _BY_TYPE.values():
            if previous in bucket:
                bucket.remove(previous)
    _BY_NAME[cls.NAME] = cls
    for name in cls.TYPES:
        bucket = _BY_TYPE.setdefault(name, [])
        bucket.append(cls)
        bucket.sort(key=lambda m: m.PRIORITY)
    return cls


def _ensure_loaded() -> None:
    if _state["loaded"]:
        return
    _state["loaded"] = True
    from shipyard.materializers import builtin, parts, tabular

    for cls in (
        builtin.JsonMaterializer,
        builtin.BytesMaterializer,
        builtin.PathMaterializer,
        builtin.PickleMaterializer,
        tabular.DataFrameMaterializer,
        tabular.ArrowTableMaterializer,
        tabular.NumpyMaterializer,
        parts.PartitionedTableMaterializer,
    ):
        if cls.NAME not in _BY_NAME:
            register_materializer(cls)
    for ep in entry_points(group="shipyard.materializers"):
        try:
            register_materializer(ep.load())
        except Exception as exc:  # a broken plugin must not break Shipyard
            logger.warning("Materializer plugin %s failed to load: %s", ep.name, exc)


def materializer_for_value(value: Any, *, allow_pickle: bool = False) -> type[Materializer]:
    """The materializer that will store ``value``.

    Raises:
        MaterializerError: when no materializer handles the value's type.
    """
    for cls in _candidates(type(value)):
        if cls.NAME == "pickle" and not allow_pickle:
            continue
        if cls.can_save(value):
            return cls
    raise MaterializerError(_unsupported_message(value))


def _candidates(tp: type) -> Iterator[type[Materializer]]:
    """Materializers registered for ``tp``'s classes, most specific class first."""
    _ensure_loaded()
    for name in type_names(tp):
        yield from _BY_TYPE.get(name, ())


def _unsupported_message(value: Any) -> str:
    kind = qualified_name(type(value))
    if isinstance(value, (dict, list, tuple)):
        return (
            f"A {type(value).__name__} is stored as JSON, so every key must be a str and "
            "every value a JSON value (dict, list, str, int, float, bool, None); this one "
            "holds something else. Return a DataFrame or array separately, or register a "
            "materializer."
        )
    if kind.startswith("numpy.") and getattr(value, "dtype", None) is not None:
        return (
            f"numpy array of dtype {value.dtype} holds Python objects and would need pickle; "
            "convert it to a numeric or string dtype."
        )
    return (
        f"No materializer stores values of type {kind!r}. Supported: {SUPPORTED}. "
        "Register one with @shipyard.register_materializer (see docs/materializers.md), "
        "or allow pickle for this step with @step(allow_pickle=True)."
    )


def materializer_for_type(tp: Any) -> type[Materializer] | None:
    """The materializer for a declared type, or None when it is not a class or unknown.

    Generic aliases count as their origin: ``list[int]`` is a ``list``.
    """
    import typing

    tp = typing.get_origin(tp) or tp
    if not isinstance(tp, type):
        return None
    return next((cls for cls in _candidates(tp) if cls.NAME != "pickle"), None)


def get_materializer(name: str) -> type[Materializer]:
    """The materializer registered under ``name``.

    Raises:
        MaterializerError: when none is.
    """
    _ensure_loaded()
    try:
        return _BY_NAME[name]
    except KeyError:
        raise MaterializerError(
            f"No materializer named {name!r} is registered (known: {sorted(_BY_NAME)}). "
            "Import the module that registers it before loading this artifact."
        ) from None


def registered() -> dict[str, type[Materializer]]:
    """All registered materializers by name."""
    _ensure_loaded()
    return dict(_BY_NAME)


__all__ = [
    "get_materializer",
    "materializer_for_type",
    "materializer_for_value",
    "register_materializer",
    "registered",
]
