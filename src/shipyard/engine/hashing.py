"""``shipyard.engine.hashing`` provides the code version of a step and stable JSON hashes.

A step's code version covers its own normalised source and, transitively, the
source of the project's functions and classes it uses, plus simple module
constants (numbers, strings) it reads. "The project's" means defined in a
module that is not part of the standard library, an installed package or
Shipyard itself: those are versioned by their package versions instead.

Normalisation parses the source and dumps its AST without the docstring and
decorators, so comments, blank lines and formatting do not change the hash,
while any change to what the code does does.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import inspect
import json
import os
import sys
import sysconfig
import textwrap
import types
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

_CONSTANT_TYPES = (int, float, str, bytes, bool, type(None), complex)
_MAX_OBJECTS = 500
_MAX_CONSTANT_ITEMS = 1000


def stable_hash(value: Any) -> str:
    """sha256 of the canonical JSON form of ``value`` (sorted keys)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


@lru_cache(maxsize=1)
def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    roots.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    roots.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # shipyard itself
    roots.update({sys.prefix, sys.base_prefix, sys.exec_prefix})
    return tuple(sorted(os.path.realpath(r) + os.sep for r in roots if r))


@lru_cache(maxsize=4096)
def _is_user_file(filename: str) -> bool:
    real = os.path.realpath(filename)
    roots = _library_roots()
    # A virtual environment inside the project lies under sys.prefix, which is
    # a library root; a project file never lies under one.
    return not any(real.startswith(root) for root in roots)


def is_user_object(obj: Any) -> bool:
    """True for functions and classes defined in the user's own code."""
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    if module is None:
        return False
    if module.__name__ == "__main__":
        return True
    filename = getattr(module, "__file__", None)
    return bool(filename) and _is_user_file(filename)


def _has_docstring(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> bool:
    first = node.body[0] if node.body else None
    return (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )


def _normalised_source(obj: Any) -> str | None:
    try:
        source = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        return None
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node is tree.body[0]:
                node.decorator_list = []
            if _has_docstring(node):
                node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def _bytecode_fingerprint(func: types.FunctionType) -> str:
    code = func.__code__
    return repr((code.co_code, code.co_consts, code.co_names))


def _referenced_names(obj: Any) -> Iterator[tuple[str, ...]]:
    """Dotted names loaded in a function's or class's body (``a``, ``a.b``)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    except (OSError, TypeError, SyntaxError):
        code = getattr(obj, "__code__", None)
        if code is not None:
            yield from ((name,) for name in code.co_names)
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain: list[str] = []
            cur: ast.expr = node
            while isinstance(cur, ast.Attribute):
                chain.append(cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name):
                yield (cur.id, *reversed(chain))
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            yield (node.id,)


def _namespace(obj: Any) -> dict[str, Any]:
    func = obj if isinstance(obj, types.FunctionType) else None
    if func is None:
        module = sys.modules.get(getattr(obj, "__module__", "") or "")
        return dict(vars(module)) if module is not None else {}
    space = dict(func.__globals__)
    if func.__closure__:
        for name, cell in zip(func.__code__.co_freevars, func.__closure__, strict=False):
            try:
                space[name] = cell.cell_contents
            except ValueError:
                continue
    return space


def _resolve(chain: tuple[str, ...], space: dict[str, Any]) -> list[tuple[str, Any]]:
    """Objects a dotted name reaches, e.g. ``helpers.clean`` -> module, function."""
    head = chain[0]
    if head not in space:
        return []
    found = [(head, space[head])]
    obj = space[head]
    for part in chain[1:]:
        if not isinstance(obj, (types.ModuleType, type)):
            break
        try:
            obj = inspect.getattr_static(obj, part)
        except AttributeError:
            break
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        found.append((f"{found[-1][0]}.{part}", obj))
    return found


def _unwrap(obj: Any) -> Any:
    step_func = getattr(obj, "__shipyard_func__", None)
    if step_func is not None:
        return step_func
    return inspect.unwrap(obj) if callable(obj) else obj


def code_parts(func: Callable[..., Any]) -> dict[str, str]:
    """Hash of every piece of user code ``func`` depends on, by qualified name.

    Args:
        func: the step function.

    Returns:
        ``{"module.qualname": sha256, ...}`` including ``func`` itself; module
        constants appear as ``module.NAME`` with the hash of their repr.
    """
    parts: dict[str, str] = {}
    seen: set[int] = set()
    stack: list[Any] = [_unwrap(func)]
    while stack and len(parts) < _MAX_OBJECTS:
        obj = _unwrap(stack.pop())
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        name, digest, chains = _object_info(obj)
        parts[name] = digest
        stack.extend(_dependencies(obj, chains, parts))
    return dict(sorted(parts.items()))


@lru_cache(maxsize=4096)
def _object_info(obj: Any) -> tuple[str, str, frozenset[tuple[str, ...]]]:
    """Name, source hash and referenced names of one function or class.

    Cached per object: an object's code never changes; what its names resolve
    to may (a notebook redefines a helper), so resolution is not cached.
    """
    name = f"{obj.__module__}.{getattr(obj, '__qualname__', getattr(obj, '__name__', '?'))}"
    source = _normalised_source(obj)
    if source is None and isinstance(obj, types.FunctionType):
        source = _bytecode_fingerprint(obj)
    digest = hashlib.sha256((source or name).encode()).hexdigest()
    return name, digest, frozenset(_referenced_names(obj))


def _constant_repr(value: Any, depth: int = 0) -> str | None:
    """A stable text of a module constant, or None when it is not one.

    Constants are numbers, strings, bytes, bools, None and containers of them;
    sets are sorted so the text does not depend on hash randomisation.
    """
    if depth > 5:
        return None
    if isinstance(value, _CONSTANT_TYPES):
        return repr(value)
    if isinstance(value, (list, tuple)) and len(value) <= _MAX_CONSTANT_ITEMS:
        items = [_constant_repr(v, depth + 1) for v in value]
        return None if None in items else f"{type(value).__name__}({', '.join(items)})"  # type: ignore[arg-type]
    if isinstance(value, (set, frozenset)) and len(value) <= _MAX_CONSTANT_ITEMS:
        items = [_constant_repr(v, depth + 1) for v in value]
        return None if None in items else f"set({', '.join(sorted(items))})"  # type: ignore[arg-type]
    if isinstance(value, dict) and len(value) <= _MAX_CONSTANT_ITEMS:
        pairs = [(_constant_repr(k, depth + 1), _constant_repr(v, depth + 1)) for k, v in value.items()]
        if any(k is None or v is None for k, v in pairs):
            return None
        return "dict(" + ", ".join(f"{k}: {v}" for k, v in pairs) + ")"
    return None


def _is_user_module(obj: Any) -> bool:
    filename = getattr(obj, "__file__", None)
    return isinstance(obj, types.ModuleType) and (
        obj.__name__ == "__main__" or (bool(filename) and _is_user_file(filename))
    )


def _dependencies(
    obj: Any, chains: frozenset[tuple[str, ...]], parts: dict[str, str]
) -> list[Any]:
    deps: list[Any] = []
    space = _namespace(obj)
    module_name = getattr(obj, "__module__", "")
    for chain in chains:
        if chain[0] in vars(builtins) and chain[0] not in space:
            continue
        parent: Any = None
        for qual, target in _resolve(chain, space):
            target = _unwrap(target)
            if isinstance(target, (types.FunctionType, type)):
                if is_user_object(target):
                    deps.append(target)
            elif parent is None or _is_user_module(parent):
                text = _constant_repr(target)
                if text is not None:
                    owner = module_name if parent is None else parent.__name__
                    parts[f"{owner}.{qual.rsplit('.', 1)[-1]}"] = stable_hash(text)
            parent = target
    if isinstance(obj, type):
        for value in vars(obj).values():
            inner = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            # Only methods written in the class body: not those a factory such
            # as NamedTuple generates into it.
            if isinstance(inner, types.FunctionType) and inner.__module__ == obj.__module__:
                deps.append(inner)
    return deps


def code_hash(func: Callable[..., Any]) -> str:
    """One hash of :func:`code_parts`."""
    return stable_hash(code_parts(func))


__all__ = ["code_hash", "code_parts", "is_user_object", "stable_hash"]
