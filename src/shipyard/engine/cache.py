"""``shipyard.engine.cache`` provides step cache keys and their explanations.

A cache key hashes the step's code version (its source and the user code it
uses), its params, the content hashes of its inputs and the materializer
versions of its inputs and declared outputs. Every part is kept with the step
run, so a later run can say why a step ran again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.engine.graph import StepNode
from shipyard.engine.hashing import code_parts, stable_hash
from shipyard.materializers import materializer_for_type
from shipyard.stores.metadata.records import ArtifactRecord, StepRunRecord

CACHE_FORMAT = 1
_SHOW = 3


@dataclass(frozen=True)
class CacheKey:
    """A cache key and the parts it was computed from."""

    key: str
    parts: dict[str, Any]


def compute_cache_key(node: StepNode, inputs: Mapping[str, ArtifactRecord]) -> CacheKey:
    """The cache key of running ``node`` on these input artifacts."""
    materializers = {f"in:{name}": rec.format for name, rec in sorted(inputs.items())}
    for output, annotation in node.outputs.items():
        cls = materializer_for_type(annotation)
        materializers[f"out:{output}"] = cls.tag() if cls else "by value"
    parts = {
        "format": CACHE_FORMAT,
        "code": code_parts(node.step.func),
        "params": dict(node.params_json),
        "inputs": {name: rec.id for name, rec in sorted(inputs.items())},
        "materializers": materializers,
        "options": {"allow_pickle": node.step.allow_pickle},
    }
    if node.step.func.__module__.split(".", 1)[0] == "shipyard":
        # Shipyard's own steps: their helpers are library code, not hashed, so
        # the library version stands for them.
        parts["library"] = {"shipyard": _shipyard_version()}
    # The key counts the code's hashes, not the names they are kept under: the
    # same code imported under another module name is the same code.
    material = {**parts, "code": sorted(parts["code"].values())}
    return CacheKey(stable_hash(material), parts)


def _shipyard_version() -> str:
    from shipyard import __version__

    return __version__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys: ``{"params": {"lr": 1}}`` -> ``{"params.lr": 1}``.

    Lists and empty mappings are values.
    """
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOW])
    return shown + (f" and {len(items) - _SHOW} more" if len(items) > _SHOW else "")


def changes(current: Mapping[str, Any], previous: Mapping[str, Any]) -> list[str]:
    """What differs between two sets of cache-key parts, as short phrases."""
    found: list[str] = []
    if current.get("format") != previous.get("format"):
        return ["Shipyard's cache format changed"]
    old_code, new_code = previous.get("code", {}), current.get("code", {})
    code = sorted(
        name.rsplit(".", 1)[-1] if "<locals>" not in name else name
        for name in set(old_code) | set(new_code)
        if old_code.get(name) != new_code.get(name)
    )
    if code:
        found.append(f"code changed ({_listing(code)})")
    old_p, new_p = flatten(previous.get("params", {})), flatten(current.get("params", {}))
    params = [
        f"{key} {_short(old_p.get(key))} -> {_short(new_p.get(key))}"
        for key in sorted(set(old_p) | set(new_p))
        if old_p.get(key) != new_p.get(key)
    ]
    if params:
        found.append(f"params changed ({_listing(params)})")
    old_i, new_i = previous.get("inputs", {}), current.get("inputs", {})
    found += [
        f"input {name!r} changed"
        for name in sorted(set(old_i) | set(new_i))
        if old_i.get(name) != new_i.get(name)
    ]
    old_m, new_m = previous.get("materializers", {}), current.get("materializers", {})
    mats = [
        f"{key} {old_m.get(key)} -> {new_m.get(key)}"
        for key in sorted(set(old_m) | set(new_m))
        if old_m.get(key) != new_m.get(key)
    ]
    if mats:
        found.append(f"materializer changed ({_listing(mats)})")
    if current.get("options") != previous.get("options"):
        found.append("step options changed")
    if current.get("library") != previous.get("library"):
        found.append("Shipyard version changed")
    return found


def explain_miss(current: CacheKey, previous: StepRunRecord | None) -> str:
    """Why a step had to run, compared with its previous execution in the pipeline."""
    if previous is None or not previous.cache_parts:
        return "first run"
    found = changes(current.parts, previous.cache_parts)
    if found:
        return "; ".join(found)
    if previous.status == "failed":
        return "previous attempt failed"
    return "no cached result with this key"


__all__ = ["CACHE_FORMAT", "CacheKey", "changes", "compute_cache_key", "explain_miss"]
