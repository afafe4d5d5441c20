"""``shipyard.engine.loader`` provides loading a pipeline from ``path.py:name``.

The target may be a file path or an importable module, followed by ``:`` and
the name of a ``@pipeline`` definition or a ``Pipeline`` in it. Without a
name, the file must define exactly one pipeline.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from shipyard.engine.graph import Pipeline, PipelineDefinition
from shipyard.engine.tracebacks import user_traceback
from shipyard.errors import ImportPathError

_LOADED: dict[str, tuple[int, int]] = {}


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def _module_name(path: Path) -> str:
    """The file's stem, unless that would shadow another module (``copy.py``)."""
    stem = path.stem
    existing = sys.modules.get(stem)
    own = existing is not None and Path(getattr(existing, "__file__", "") or "").resolve() == path.resolve()
    if stem.isidentifier() and stem not in sys.stdlib_module_names and (existing is None or own):
        return stem
    return "shipyard_user_" + "".join(ch if ch.isalnum() else "_" for ch in stem)


def _import_file(path: Path) -> Any:
    folder = str(path.parent.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_name = _module_name(path)
    existing = sys.modules.get(module_name)
    stamp = _stamp(path)
    if (
        existing is not None
        and Path(getattr(existing, "__file__", "") or "").resolve() == path.resolve()
        and _LOADED.get(str(path.resolve())) == stamp
    ):
        return existing
    # A file edited since it was imported is imported again: running the old
    # module would run code that no longer matches the file.
    _LOADED[str(path.resolve())] = stamp
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportPathError(f"{path} is not a Python file that can be imported.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise _import_error(str(path), exc) from exc
    return module


def _import_error(what: str, exc: Exception) -> ImportPathError:
    if isinstance(exc, SyntaxError):
        return ImportPathError(f"{exc.filename}:{exc.lineno}: syntax error: {exc.msg}.")
    _, where = user_traceback(exc)
    at = f" (at {where})" if where else ""
    return ImportPathError(f"{what} failed to import{at}: {type(exc).__name__}: {exc}")


def _import_target(source: str) -> Any:
    path = Path(source)
    if source.endswith(".py") or path.is_file():
        if not path.is_file():
            raise ImportPathError(
                f"File {source!r} does not exist.", hint="Give a path like pipelines.py:training."
            )
        return _import_file(path)
    if not source or source.startswith(".") or not all(p.isidentifier() for p in source.split(".")):
        raise ImportPathError(
            f"{source!r} is neither a Python file nor a module name.",
            hint="Give a file path (pipelines.py:training) or a module (mypkg.pipelines:training).",
        )
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # as `python -m` does
    try:
        return importlib.import_module(source)
    except ModuleNotFoundError as exc:
        if exc.name and source.startswith(exc.name):
            raise ImportPathError(
                f"Cannot import module {source!r}: {exc}.",
                hint="Give a file path (pipelines.py:training) or an importable module "
                "(mypkg.pipelines:training).",
            ) from exc
        raise _import_error(source, exc) from exc
    except Exception as exc:
        raise _import_error(source, exc) from exc


def load_pipeline_object(target: str) -> PipelineDefinition | Pipeline:
    """The pipeline definition or pipeline named by ``target``.

    Raises:
        ImportPathError: when the file, module or name does not exist or is not a pipeline.
    """
    source, _, attr = target.partition(":")
    module = _import_target(source)
    found = {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, (PipelineDefinition, Pipeline))
    }
    if not attr:
        if len(found) == 1:
            return next(iter(found.values()))
        raise ImportPathError(
            f"{source} defines {len(found)} pipelines ({', '.join(sorted(found)) or 'none'}); "
            f"name one: {source}:NAME."
        )
    if not hasattr(module, attr):
        raise ImportPathError(
            f"{source} has no {attr!r}; pipelines it defines: {sorted(found) or 'none'}."
        )
    value = getattr(module, attr)
    if not isinstance(value, (PipelineDefinition, Pipeline)):
        raise ImportPathError(
            f"{target} is a {type(value).__name__}, not a pipeline; decorate the function "
            "with @pipeline."
        )
    return value


def load_pipeline(target: str, params: dict[str, Any] | None = None) -> Pipeline:
    """Load and build the pipeline named by ``target`` with ``params``."""
    obj = load_pipeline_object(target)
    if isinstance(obj, Pipeline):
        if params:
            raise ImportPathError(
                f"{target} is an already built Pipeline; it takes no params. Define it with "
                "@pipeline to pass params."
            )
        return obj
    return obj.build(**(params or {}))


__all__ = ["load_pipeline", "load_pipeline_object"]
