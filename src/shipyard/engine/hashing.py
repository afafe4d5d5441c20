"""``shipyard.engine.hashing`` provides the code version of a step and stable JSON hashes.

A step's code version covers its own normalised source and, transitively, the
project's functions and classes it uses (called directly, through a module,
imported inside its body, or held in a module-level list or dict), plus the
module constants it reads (numbers, strings, and containers of them). "The
project's" means defined in a module that is not part of the standard
library, an installed package or Shipyard itself.

A function's part is its source with comments, formatting, docstring and the
``@step`` decorator normalised away — but only when that source is what the
running code was compiled from; a file edited after it was imported falls
back to the running bytecode, so results are never stored under the key of
code that did not produce them. A class's part is the bytecode of its methods
and its constant attributes, which is always what runs.
"""

from __future__ import annotations

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
_MAX_CONSTANT_ITEMS = 1000
_SHIPYARD_DECORATORS = {"step", "pipeline"}
_CLASS_NOISE = {
    "__dict__", "__weakref__", "__module__", "__qualname__", "__doc__", "__annotations__",
    "__firstlineno__", "__static_attributes__", "__orig_bases__", "__parameters__",
}


def stable_hash(value: Any) -> str:
    """sha256 of the canonical JSON form of ``value`` (sorted keys)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- what is the user's code ------------------------------------------------------------


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
    if not filename or filename.startswith("<frozen"):
        return False
    real = os.path.realpath(filename)
    return not any(real.startswith(root) for root in _library_roots())


def _is_user_module(module: Any) -> bool:
    if not isinstance(module, types.ModuleType):
        return False
    if module.__name__ == "__main__":
        return True
    return is_user_file(getattr(module, "__file__", None) or "")


def is_user_object(obj: Any) -> bool:
    """True for functions and classes defined in the user's own code."""
    return _is_user_module(sys.modules.get(getattr(obj, "__module__", None) or ""))


def _module_label(module_name: str) -> str:
    """A module's name, or its file's stem when it runs as ``__main__`` or was
    loaded from a path: the same code gets the same name however it is started."""
    if module_name == "__main__" or module_name.startswith("shipyard_user_"):
        filename = getattr(sys.modules.get(module_name), "__file__", None)
        if filename:
            return os.path.splitext(os.path.basename(filename))[0]
    return module_name


def _unwrap(obj: Any) -> Any:
    step_func = getattr(obj, "__shipyard_func__", None)
    if step_func is not None:
        return step_func
    if isinstance(obj, (staticmethod, classmethod)):
        return obj.__func__
    return inspect.unwrap(obj) if callable(obj) else obj


# -- fingerprints -----------------------------------------------------------------------


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


def _function_fingerprint(func: types.FunctionType) -> str:
    defaults = _constant_repr((func.__defaults__, func.__kwdefaults__), collect=None)
    return _code_fingerprint(func.__code__) + (defaults if defaults is not None else "<defaults>")


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


def _has_docstring(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> bool:
    first = node.body[0] if node.body else None
    return (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )


def _decorator_name(node: ast.expr) -> str | None:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return None


def _normalised(tree: ast.Module) -> str:
    """The AST without docstrings and without Shipyard's own decorators.

    Other decorators stay: ``@times(3)`` instead of ``@times(2)`` changes
    what a helper does.
    """
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node is tree.body[0]:
                node.decorator_list = [
                    d for d in node.decorator_list if _decorator_name(d) not in _SHIPYARD_DECORATORS
                ]
            if _has_docstring(node):
                node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def _constant_repr(value: Any, *, collect: list[Any] | None, depth: int = 0) -> str | None:
    """A stable text of a module constant, or None when it is not one.

    Constants are numbers, strings, bytes, bools, None and containers of them
    (sets sorted, so hash randomisation does not matter). User functions and
    classes inside containers are named in the text and added to ``collect``.
    """
    if depth > 5:
        return None
    if isinstance(value, _CONSTANT_TYPES):
        return repr(value)
    if isinstance(value, (types.FunctionType, type)) and collect is not None and is_user_object(value):
        collect.append(value)
        return f"<{value.__module__}.{value.__qualname__}>"
    size = len(value) if isinstance(value, (list, tuple, set, frozenset, dict)) else 0
    if size > _MAX_CONSTANT_ITEMS:
        return None
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_constant_repr(v, collect=collect, depth=depth + 1) for v in value]
        if None in items:
            return None
        texts: list[str] = items  # type: ignore[assignment]
        if isinstance(value, (set, frozenset)):
            texts = sorted(texts)
        return f"{type(value).__name__}({', '.join(texts)})"
    if isinstance(value, dict):
        pairs = [
            (_constant_repr(k, collect=collect, depth=depth + 1),
             _constant_repr(v, collect=collect, depth=depth + 1))
            for k, v in value.items()
        ]
        if any(k is None or v is None for k, v in pairs):
            return None
        return "dict(" + ", ".join(f"{k}: {v}" for k, v in pairs) + ")"
    return None


def _class_fingerprint(cls: type) -> str:
    """A class's bases, methods (bytecode) and constant attributes."""
    items: list[str] = [f"bases={[f'{b.__module__}.{b.__qualname__}' for b in cls.__bases__]}"]
    for name in sorted(vars(cls)):
        if name in _CLASS_NOISE:
            continue
        value = vars(cls)[name]
        if isinstance(value, property):
            funcs = [f for f in (value.fget, value.fset, value.fdel) if f is not None]
            items.append(f"{name}=property({[_function_fingerprint(f) for f in funcs]})")
            continue
        inner = _unwrap(value) if isinstance(value, (staticmethod, classmethod)) else value
        if isinstance(inner, types.FunctionType):
            items.append(f"{name}={_function_fingerprint(inner)}")
        else:
            text = _constant_repr(value, collect=None)
            items.append(f"{name}={text if text is not None else type(value).__qualname__}")
    return "\n".join(items)


# -- names a body refers to -------------------------------------------------------------


def _parse_source(obj: Any) -> ast.Module | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(obj)))
    except (OSError, TypeError, SyntaxError):
        return None


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


# -- per object -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Info:
    name: str
    digest: str
    names: tuple[tuple[str, ...], ...]
    imports: tuple[tuple[str, str, str | None], ...]


def _part_name(obj: Any) -> str:
    qualname = getattr(obj, "__qualname__", getattr(obj, "__name__", "?"))
    name = f"{_module_label(getattr(obj, '__module__', '') or '')}.{qualname}"
    if "<lambda>" in qualname and isinstance(obj, types.FunctionType):
        name += f"#{obj.__code__.co_firstlineno}"
    return name


@lru_cache(maxsize=4096)
def _object_info(obj: Any) -> _Info:
    """Name, code hash, referenced names and body imports of one function or class.

    Cached per object: an object's code never changes; what its names resolve
    to may (a notebook redefines a helper), so resolution is not cached.
    """
    name = _part_name(obj)
    tree = _parse_source(obj)
    if isinstance(obj, type):
        names = tuple(sorted(set(_names(tree)))) if tree is not None else ()
        return _Info(name, _sha(_class_fingerprint(obj)), names, ())
    if tree is not None and not _source_is_live(obj):
        tree = None
    if tree is None:
        digest = _sha("bytecode:" + _function_fingerprint(obj))
        return _Info(name, digest, tuple(sorted(set(_code_names(obj.__code__)))), ())
    return _Info(
        name,
        _sha(_normalised(tree)),
        tuple(sorted(set(_names(tree)))),
        tuple(_imports(tree)),
    )


def _import_bindings(obj: Any, imports: tuple[tuple[str, str, str | None], ...]) -> dict[str, tuple[Any, str]]:
    """Objects bound by imports inside a body, from the project's own modules only.

    Returns:
        ``{local name: (object, the module it comes from)}``. Library modules
        are never imported here, so a cached run does not load them.
    """
    bound: dict[str, tuple[Any, str]] = {}
    package = getattr(sys.modules.get(getattr(obj, "__module__", "") or ""), "__package__", None)
    for local, module, attr in imports:
        try:
            resolved = importlib.util.resolve_name(module, package) if module.startswith(".") else module
            target = sys.modules.get(resolved)
            if target is None:
                top = importlib.util.find_spec(resolved.split(".")[0])
                if top is None or not is_user_file(top.origin or ""):
                    continue
                target = importlib.import_module(resolved)
            if not _is_user_module(target):
                continue
            if attr is not None:
                if hasattr(target, attr):
                    target = getattr(target, attr)
                else:
                    target = importlib.import_module(f"{resolved}.{attr}")
        except Exception:  # an import that fails here fails when the step runs
            continue
        bound[local] = (target, _module_label(resolved))
    return bound


def _scope(obj: Any, info: _Info) -> tuple[dict[str, tuple[Any, str]], dict[str, Any]]:
    """Names visible in a body: ``(local bindings with their owner, module globals)``."""
    local: dict[str, tuple[Any, str]] = {}
    if isinstance(obj, types.FunctionType):
        owner = f"{_part_name(obj)}<closure>"
        for var, cell in zip(obj.__code__.co_freevars, obj.__closure__ or (), strict=False):
            try:
                local[var] = (cell.cell_contents, owner)
            except ValueError:
                continue
        namespace = obj.__globals__
    else:
        module = sys.modules.get(getattr(obj, "__module__", "") or "")
        namespace = vars(module) if module is not None else {}
    if info.imports:
        local.update(_import_bindings(obj, info.imports))
    return local, namespace


def _dependencies(obj: Any, info: _Info, parts: dict[str, str]) -> list[Any]:
    deps: list[Any] = []
    local, namespace = _scope(obj, info)
    module_label = _module_label(getattr(obj, "__module__", "") or "")
    for chain in info.names:
        head = chain[0]
        if head in local:
            value, owner = local[head]
        elif head in namespace:
            value, owner = namespace[head], module_label
        else:
            continue  # a builtin, a local variable, or a name defined later
        if head in vars(builtins) and value is vars(builtins)[head]:
            continue
        parent: Any = None
        for depth, part in enumerate(chain):
            if depth:
                if not isinstance(value, (types.ModuleType, type)):
                    break
                parent = value
                try:
                    value = inspect.getattr_static(parent, part)
                except AttributeError:
                    break
                if isinstance(parent, types.ModuleType):
                    owner = _module_label(parent.__name__)
            target = _unwrap(value)
            if isinstance(target, (types.FunctionType, type)):
                if is_user_object(target):
                    deps.append(target)
            elif parent is None or _is_user_module(parent):
                found: list[Any] = []
                text = _constant_repr(target, collect=found)
                if text is not None:
                    parts[f"{owner}.{part}"] = _sha(f"{part}={text}")
                    deps.extend(found)
    if isinstance(obj, type):
        for value in vars(obj).values():
            inner = _unwrap(value) if isinstance(value, (staticmethod, classmethod)) else value
            # Only methods written in the class body: not those a factory such
            # as NamedTuple generates into it.
            if isinstance(inner, types.FunctionType) and inner.__module__ == obj.__module__:
                deps.append(inner)
    return deps


def code_parts(func: Callable[..., Any]) -> dict[str, str]:
    """Hash of every piece of user code ``func`` depends on, by qualified name.

    Args:
        func: the step function.

    Returns:
        ``{"module.qualname": sha256, ...}`` including ``func`` itself; module
        constants appear as ``module.NAME``.
    """
    parts: dict[str, str] = {}
    seen: set[int] = set()
    stack: list[Any] = [_unwrap(func)]
    while stack and len(parts) < _MAX_OBJECTS:
        obj = _unwrap(stack.pop())
        if id(obj) in seen or not isinstance(obj, (types.FunctionType, type)):
            continue
        seen.add(id(obj))
        info = _object_info(obj)
        parts[info.name] = info.digest
        stack.extend(sorted(_dependencies(obj, info, parts), key=_part_name, reverse=True))
    return dict(sorted(parts.items()))


def code_hash(func: Callable[..., Any]) -> str:
    """One hash of the code ``func`` depends on.

    Only the parts' hashes count, not their names: the same code run as
    ``__main__`` or imported as a module has the same hash.
    """
    return stable_hash(sorted(code_parts(func).values()))


__all__ = ["code_hash", "code_parts", "is_user_file", "is_user_object", "stable_hash"]
