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
import __future__

import ast
import builtins
import dis
import hashlib
import importlib
import importlib.util
import inspect
import json
import linecache
import os
import sys
import sysconfig
import textwrap
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_CONSTANT_TYPES = (int, float, str, bytes, bool, type(None), complex)
_MAX_OBJECTS = 500
_FUTURE_FLAGS = 0
for _feature in __future__.all_feature_names:
    _FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag
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
    return tuple(sorted(os.path.realpath(r) + os.sep for r in roots if r))


@lru_cache(maxsize=4096)
def is_user_file(filename: str) -> bool:
    """True for a file of the user's own code (not stdlib, site-packages or Shipyard)."""
    if filename.startswith("<frozen"):
        return False
    real = os.path.realpath(filename)
    return not any(real.startswith(root) for root in _library_roots())


def is_user_object(obj: Any) -> bool:
    """True for functions and classes defined in the user's own code."""
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    if module is None:
        return False
    if module.__name__ == "__main__":
        return True
    filename = getattr(module, "__file__", None)
    return bool(filename) and is_user_file(filename)


def _has_docstring(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> bool:
    first = node.body[0] if node.body else None
    return (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )


def _parse_source(obj: Any) -> ast.Module | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(obj)))
    except (OSError, TypeError, SyntaxError):
        return None


def _normalised(tree: ast.Module) -> str:
    """The AST without the top definition's decorators and without docstrings."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node is tree.body[0]:
                node.decorator_list = []
            if _has_docstring(node):
                node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def _const_text(value: Any) -> str:
    if isinstance(value, types.CodeType):
        return _code_fingerprint(value)
    if isinstance(value, frozenset):
        return "frozenset(" + ",".join(sorted(_const_text(v) for v in value)) + ")"
    if isinstance(value, tuple):
        return "(" + ",".join(_const_text(v) for v in value) + ")"
    return repr(value)


def _code_fingerprint(code: types.CodeType) -> str:
    """What a code object does, without line numbers or file names."""
    return repr(
        (
            code.co_code,
            code.co_names,
            code.co_varnames,
            code.co_freevars,
            code.co_cellvars,
            code.co_argcount,
            code.co_kwonlyargcount,
            tuple(_const_text(c) for c in code.co_consts),
        )
    )


def _find_code(code: types.CodeType, qualname: str) -> types.CodeType | None:
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            if const.co_qualname == qualname:
                return const
            found = _find_code(const, qualname)
            if found is not None:
                return found
    return None


@lru_cache(maxsize=256)
def _compile_file(filename: str, source: str) -> types.CodeType | None:
    try:
        return compile(source, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None


def _source_is_live(func: types.FunctionType) -> bool:
    """True when the function's file, as it is now, compiles to the running code.

    A file edited after it was imported yields source that is not what runs;
    hashing it would store the old code's results under the new code's key.
    The whole file is compiled because the bytecode of a function depends on
    its module (3.11 compiles ``module.f()`` differently from ``obj.f()``).
    """
    code = func.__code__
    lines = linecache.getlines(code.co_filename, func.__globals__)
    if not lines:
        return False
    compiled = _compile_file(code.co_filename, "".join(lines))
    found = _find_code(compiled, code.co_qualname) if compiled is not None else None
    return found is not None and _code_fingerprint(found) == _code_fingerprint(code)


_LOADS = {"LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLASSDEREF"}
_ATTRS = {"LOAD_ATTR", "LOAD_METHOD"}


def _code_names(code: types.CodeType) -> Iterator[tuple[str, ...]]:
    """Dotted names a code object loads, read from its bytecode (``a``, ``a.b``)."""
    chain: list[str] = []
    for ins in dis.get_instructions(code):
        if ins.opname in _LOADS:
            if chain:
                yield tuple(chain)
            chain = [str(ins.argval)]
        elif ins.opname in _ATTRS and chain:
            chain.append(str(ins.argval))
        elif chain:
            yield tuple(chain)
            chain = []
    if chain:
        yield tuple(chain)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_names(const)


def _imports(tree: ast.Module) -> Iterator[tuple[str, str, str | None]]:
    """``(local name, module, attribute)`` bound by imports inside a body."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    yield alias.asname, alias.name, None
                else:
                    top = alias.name.split(".")[0]
                    yield top, top, None
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            for alias in node.names:
                if alias.name != "*":
                    yield alias.asname or alias.name, module, alias.name


def _names(tree: ast.Module) -> Iterator[tuple[str, ...]]:
    """Dotted names loaded in a body (``a``, ``a.b``)."""
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
        info = _object_info(obj)
        parts[info.name] = info.digest
        stack.extend(_dependencies(obj, info, parts))
    return dict(sorted(parts.items()))


@dataclass(frozen=True)
class _Info:
    name: str
    digest: str
    names: frozenset[tuple[str, ...]]
    imports: tuple[tuple[str, str, str | None], ...]


@lru_cache(maxsize=4096)
def _object_info(obj: Any) -> _Info:
    """Name, code hash, referenced names and body imports of one function or class.

    Cached per object: an object's code never changes; what its names resolve
    to may (a notebook redefines a helper), so resolution is not cached.
    """
    name = f"{obj.__module__}.{getattr(obj, '__qualname__', getattr(obj, '__name__', '?'))}"
    tree = _parse_source(obj)
    func = obj if isinstance(obj, types.FunctionType) else None
    if tree is not None and func is not None and not _source_is_live(func):
        tree = None
    if tree is None:
        if func is None:
            return _Info(name, hashlib.sha256(name.encode()).hexdigest(), frozenset(), ())
        digest = hashlib.sha256(b"bytecode:" + _code_fingerprint(func.__code__).encode())
        return _Info(name, digest.hexdigest(), frozenset(_code_names(func.__code__)), ())
    names = frozenset(_names(tree))
    imports = tuple(_imports(tree))
    digest = hashlib.sha256(_normalised(tree).encode()).hexdigest()
    return _Info(name, digest, names, imports)


def _import_bindings(obj: Any, imports: tuple[tuple[str, str, str | None], ...]) -> dict[str, Any]:
    """Objects bound by imports inside a body, for the project's own modules only."""
    bound: dict[str, Any] = {}
    package = getattr(sys.modules.get(getattr(obj, "__module__", "") or ""), "__package__", None)
    for local, module, attr in imports:
        try:
            resolved = importlib.util.resolve_name(module, package) if module.startswith(".") else module
            target = sys.modules.get(resolved)
            if target is None:
                spec = importlib.util.find_spec(resolved)
                if spec is None or not spec.origin or not is_user_file(spec.origin):
                    continue
                target = importlib.import_module(resolved)
            if attr is not None:
                if not hasattr(target, attr):
                    target = importlib.import_module(f"{resolved}.{attr}")
                else:
                    target = getattr(target, attr)
        except Exception:  # an import that fails here fails when the step runs
            continue
        bound[local] = target
    return bound


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
        obj.__name__ == "__main__" or (bool(filename) and is_user_file(filename))
    )


def _dependencies(obj: Any, info: _Info, parts: dict[str, str]) -> list[Any]:
    deps: list[Any] = []
    space = _namespace(obj)
    if info.imports:
        space.update(_import_bindings(obj, info.imports))
    module_name = getattr(obj, "__module__", "")
    for chain in info.names:
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


__all__ = ["code_hash", "code_parts", "is_user_file", "is_user_object", "stable_hash"]
