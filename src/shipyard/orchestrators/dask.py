"""``shipyard.orchestrators.dask`` provides running steps on a Dask cluster (the ``dask`` extra).

What runs where:

* **the client** (this process) plans and records: it starts the run,
  computes each step's cache key, answers cache hits, skips steps whose
  upstream failed and records every finished step, all through the same
  :class:`~shipyard.engine.runner.RunSession` as the local orchestrator. So
  caching, lineage, failures and resuming are the same code, and the
  metadata store (SQLite included) is only ever written by the client;
* **the workers** execute: each step that is not a cache hit becomes one Dask
  task that loads the step's inputs from the artifact store, calls the step
  and writes its outputs there, then returns the artifact records (a
  :class:`~shipyard.engine.runner.StepOutcome`).

A step is submitted as soon as every step it reads from is done (its cache
key needs their outputs' content hashes, which only exist then), so
independent branches run at the same time on different workers. Results do
not flow between tasks through Dask: they go through the artifact store, so
a worker that dies never makes the scheduler re-run a step that already
finished.

The step's code travels in the task by reference (module and name): the
project's modules it uses (its own, helpers, classes, constants) are
imported on the worker from the same files, checked by content hash, so a
worker never runs code that differs from what the cache key covers. A worker that cannot see those files (another machine without
the project folder), or a client whose module no longer matches its file
(edited after the import), gets the modules pickled by value instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import importlib
import importlib.util
import io
import os
import pickle
import sys
import threading
import time
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from shipyard.engine.cluster import (
    LOCAL,
    check_store_for_cluster,
    connect,
    normalize_address,
    shared_store_marker,
)
from shipyard.engine.graph import OutputRef, Pipeline
from shipyard.engine.hashing import is_user_file
from shipyard.engine.runner import (
    RunResult,
    RunSession,
    StepOutcome,
    StepTask,
    execute_step,
)
from shipyard.engine.tracebacks import user_traceback
from shipyard.errors import ShipyardError
from shipyard.orchestrators.base import Orchestrator
from shipyard.stores.artifacts import ArtifactStore


class DaskOrchestrator(Orchestrator):
    """Runs each step as a task on a Dask cluster; independent steps run in parallel.

    Args:
        address: ``tcp://HOST:PORT`` of a running scheduler, or ``local`` (the
            default) to start a cluster of worker processes on this machine for
            the run.
        n_workers: worker processes of a local cluster (default: the CPU
            count, at most 4); only for ``local``.

    Raises:
        ShipyardError: for an address that is not one, or ``n_workers`` with
            a remote address.
    """

    TYPE = "dask"

    def __init__(self, address: str | None = None, n_workers: int | None = None) -> None:
        self.address = normalize_address(address or LOCAL)
        if n_workers is not None:
            if n_workers < 1:
                raise ShipyardError(f"A local cluster needs at least one worker; got {n_workers}.")
            if self.address != LOCAL:
                raise ShipyardError(
                    f"The number of workers is for a local cluster (--address local); the "
                    f"cluster at {self.address} has the workers started for it.",
                )
        self.n_workers = n_workers
        self._client: Any = None
        self._marker: str | None = None

    def run(
        self,
        pipeline: Pipeline,
        *,
        artifact_store: ArtifactStore,
        config: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> RunResult:
        """Connect to the cluster, then run ``pipeline`` on it (see :meth:`Orchestrator.run`).

        The artifact store is checked first: a folder on this machine with a
        scheduler elsewhere is refused before connecting, and when the store
        is a folder, every connected worker must see it before the run starts.
        The run's config records the address.

        Raises:
            ShipyardError: when the workers could not reach the artifact store,
                the scheduler cannot be reached, or the extra is missing.
            KeyboardInterrupt: after recording the run as crashed and
                cancelling its tasks.
        """
        check_store_for_cluster(artifact_store, self.address)
        with (
            connect(self.address, n_workers=self.n_workers, quiet=True) as client,
            self._shared_folder_marker(client, artifact_store) as marker,
        ):
            self._client, self._marker = client, marker
            try:
                return super().run(
                    pipeline,
                    artifact_store=artifact_store,
                    config={**dict(config or {}), "dask": {"address": self.address}},
                    **options,
                )
            finally:
                self._client = self._marker = None

    @contextlib.contextmanager
    def _shared_folder_marker(self, client: Any, store: ArtifactStore) -> Iterator[str | None]:
        """For a folder store on a cluster we did not start: a marker every worker must see."""
        with shared_store_marker(client, store, self.address) as marker:
            yield marker

    def _execute(self, session: RunSession) -> None:
        import distributed

        client = self._client
        if client is None:
            raise RuntimeError("DaskOrchestrator executes only from its run() method")
        upstream = {
            node.name: {ref.node for ref in node.inputs.values() if isinstance(ref, OutputRef)}
            for node in session.pipeline.nodes
        }
        waiting = list(session.pipeline.nodes)  # in dependency order
        running: dict[Any, tuple[StepTask, float]] = {}
        finished = distributed.as_completed()
        packer = _Packer()
        store = session.artifact_store
        # A folder by its absolute path: a relative one would resolve from the
        # worker's working directory.
        store_url = store.root if store.is_local else store.url
        by_value = False

        def submit(task: StepTask) -> None:
            try:
                payload, modules = packer.pack(task, by_value=by_value)
            except Exception as exc:
                session.complete(task, _unpicklable(task, exc))
                return
            future = client.submit(
                _run_on_worker,
                payload,
                modules,
                store_url,
                self._marker,
                by_value,
                # A step sent again with its code inside gets a key of its own.
                key=f"shipyard-step-{task.node.name}-{task.step_run_id}{'-by-value' if by_value else ''}",
                pure=False,
            )
            running[future] = (task, time.time())
            finished.add(future)

        try:
            while True:
                # Plan every step whose upstream steps are all done; a cache
                # hit or a skip is recorded at once and may free the next one.
                still_waiting = []
                for node in waiting:
                    if upstream[node.name] <= session.results.keys():
                        task = session.plan(node)
                        if task is not None:
                            submit(task)
                    else:
                        still_waiting.append(node)
                waiting = still_waiting
                if not running:
                    break
                future = next(finished)
                task, submitted = running.pop(future)
                result = _result(future, task, submitted)
                future.release()
                if isinstance(result, _MissingCode):
                    # This worker cannot import the project's modules from their
                    # files: send the code itself, for this step and the rest.
                    by_value = True
                    submit(task)
                    continue
                session.complete(task, result)
            if waiting:
                raise RuntimeError(f"steps never became ready: {[n.name for n in waiting]}")
        except BaseException:
            # Ctrl-C or an internal error: nothing more may run for this run.
            with contextlib.suppress(Exception):
                client.cancel(list(running), force=True)
            raise


# -- results ------------------------------------------------------------------------


def _result(future: Any, task: StepTask, submitted: float) -> StepOutcome | _MissingCode:
    """What a finished task returned, or a failed outcome that names the step and the cause."""
    from distributed import KilledWorker

    name = task.node.name
    try:
        return future.result()
    except KilledWorker as exc:
        deaths = exc.allowed_failures + 1
        last = getattr(exc.last_worker, "address", exc.last_worker)
        return StepOutcome(
            submitted,
            time.time(),
            error=(
                f"step {name!r} was lost: its worker died {deaths} time{'s' if deaths > 1 else ''} "
                f"while running it (last on {last}); the scheduler gives a step "
                f"{deaths} attempt{'s' if deaths > 1 else ''} (its allowed-failures is "
                f"{exc.allowed_failures}). Out of memory is the usual cause: see the worker's log."
            ),
        )
    except (concurrent.futures.CancelledError, asyncio.CancelledError):
        return StepOutcome(
            submitted,
            time.time(),
            error=f"step {name!r} was cancelled on the cluster (the scheduler restarted or "
            "dropped this client).",
        )
    except Exception as exc:
        text, where = user_traceback(exc)
        detail = f"{type(exc).__name__}: {exc}" + (f" (at {where})" if where else "")
        return StepOutcome(
            submitted,
            time.time(),
            error=f"step {name!r} could not run on the cluster: {detail}",
            traceback=text,
        )


def _unpicklable(task: StepTask, exc: Exception) -> StepOutcome:
    now = time.time()
    return StepOutcome(
        now,
        now,
        error=(
            f"step {task.node.name!r} cannot be sent to the Dask workers: its function, params "
            f"or a value they use cannot be pickled ({type(exc).__name__}: {exc}). Define it at "
            "module level and pass data as inputs."
        ),
    )


# -- the code a task carries (client side) ----------------------------------------------


@dataclass(frozen=True)
class ModuleFile:
    """One of the project's modules a step uses, as the client has it.

    Attributes:
        name: the module's name in ``sys.modules``.
        path: the real path of its file.
        digest: sha256 of the file when the task was made; empty when the
            client could not read it, or when its module no longer runs what
            the file holds (edited after the import).
        root: the folder to put on ``sys.path`` to import it by name, or None
            when it can only be loaded from its file (a file the pipeline
            loader imported under another name).
    """

    name: str
    path: str
    digest: str
    root: str | None


@dataclass(frozen=True)
class _MissingCode:
    """A worker's answer when it cannot import these modules from the client's files."""

    modules: tuple[str, ...]


_DIGESTS: dict[str, tuple[tuple[int, int], str]] = {}


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _file_digest(path: str) -> str | None:
    """sha256 of a file's bytes (remembered while its mtime and size stay the same)."""
    stamp = _stamp(path)
    if stamp is None:
        return None
    known = _DIGESTS.get(path)
    if known is not None and known[0] == stamp:
        return known[1]
    try:
        with open(path, "rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return None
    _DIGESTS[path] = (stamp, digest)
    return digest


@lru_cache(maxsize=8192)
def _real(path: str) -> str:
    return os.path.realpath(path)


def _project_module(name: str) -> Any:
    """The module if it is the project's own code (not stdlib, installed or Shipyard), else None."""
    if name in ("__main__", "__mp_main__"):
        return None  # pickled by value anyway: it cannot be imported elsewhere
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None)
    if not isinstance(file, str) or not file.endswith(".py") or not is_user_file(file):
        return None
    return module


def _import_root(name: str, path: str) -> str | None:
    """The folder from which ``import name`` finds ``path``, if there is one."""
    tail = os.path.join(*name.split("."))
    for suffix in (tail + ".py", os.path.join(tail, "__init__.py")):
        if path.endswith(os.sep + suffix):
            return path[: -len(suffix) - 1] or os.sep
    return None


def _describe(name: str) -> ModuleFile | None:
    module = _project_module(name)
    if module is None:
        return None
    path = _real(module.__file__)
    digest = _file_digest(path)
    if digest is None or not _runs_its_file(module, path, digest):
        # The file is gone, or was edited after this process imported it: a
        # worker importing it would run other code than the cache key covers.
        # An empty digest matches no file, so the worker asks for the code itself.
        digest = ""
    return ModuleFile(name, path, digest, _import_root(name, path))


@lru_cache(maxsize=256)
def _compiled(path: str, digest: str) -> dict[str, types.CodeType] | None:
    """The code objects a file compiles to now, by qualified name."""
    try:
        with open(path, "rb") as fh:
            top = compile(fh.read(), path, "exec", dont_inherit=True)
    except (OSError, SyntaxError, ValueError):
        return None
    found: dict[str, types.CodeType] = {}
    pending = [top]
    while pending:
        code = pending.pop()
        found[code.co_qualname] = code
        pending.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return found


def _same_code(a: types.CodeType, b: types.CodeType) -> bool:
    if a.co_code != b.co_code or a.co_names != b.co_names or len(a.co_consts) != len(b.co_consts):
        return False
    return all(
        _same_code(x, y) if isinstance(x, types.CodeType) and isinstance(y, types.CodeType)
        else type(x) is type(y) and x == y
        for x, y in zip(a.co_consts, b.co_consts, strict=True)
    )


def _runs_its_file(module: Any, path: str, digest: str) -> bool:
    """True when the module's functions and methods are what its file compiles to now."""
    compiled = _compiled(path, digest)
    if compiled is None:
        return False
    for value in list(vars(module).values()):
        owner = getattr(value, "__shipyard_func__", value)
        members = vars(owner).values() if isinstance(owner, type) else (owner,)
        for member in members:
            func = getattr(member, "__func__", member)  # staticmethod, classmethod
            code = getattr(func, "__code__", None)
            if not isinstance(code, types.CodeType) or code.co_filename != module.__file__:
                continue  # defined elsewhere (imported), or not a function
            twin = compiled.get(code.co_qualname)
            if twin is None or not _same_code(code, twin):
                return False
    return True


def _step_function(module_name: str, qualname: str) -> Any:
    """On the worker: the function of the ``@step`` named ``module:qualname``."""
    found: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found.__shipyard_func__


def _step_reference(func: types.FunctionType) -> tuple[str, str] | None:
    """``(module, qualname)`` when ``func`` is what a ``@step`` at that name wraps."""
    module, qualname = sys.modules.get(func.__module__), func.__qualname__
    if module is None or "<locals>" in qualname or func.__module__ in ("__main__", "__mp_main__"):
        return None  # a script's functions cannot be imported elsewhere: cloudpickle copies them
    found: Any = module
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if getattr(found, "__shipyard_func__", None) is not func:
        return None
    return func.__module__, qualname


@lru_cache(maxsize=1)
def _pickler_class() -> type:
    import collections

    import cloudpickle
    from cloudpickle import cloudpickle as internals

    def code_keeping_filename(code: types.CodeType) -> Any:
        # cloudpickle names the file of code it pickles by value "<dynamic-code>";
        # keep the real one, so tracebacks from the workers point at the user's file.
        rebuild, args = internals._code_reduce(code)
        return rebuild, tuple(code.co_filename if a == "<dynamic-code>" else a for a in args)

    class Pickler(cloudpickle.Pickler):  # type: ignore[misc, valid-type]
        """cloudpickle's pickler, noting the modules of the functions and classes it meets.

        A ``@step``'s module holds the Step, not the function, so cloudpickle
        would copy the function and every global it reads. It is sent by name
        instead, like any other function of an importable module: the worker
        imports the module (checked to be the same file) and its globals stay
        there. With ``by_value``, the project's functions are copied after all.
        """

        dispatch_table = collections.ChainMap(
            {types.CodeType: code_keeping_filename}, cloudpickle.Pickler.dispatch_table
        )

        def __init__(self, file: Any, protocol: int, *, by_value: bool) -> None:
            super().__init__(file, protocol=protocol)
            self.by_value = by_value
            self.module_names: set[str] = set()

        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, types.ModuleType):
                self.module_names.add(obj.__name__)
            elif isinstance(obj, type) or callable(obj):
                module = getattr(obj, "__module__", None)
                if isinstance(module, str):
                    self.module_names.add(module)
                    if isinstance(obj, types.FunctionType) and not (
                        self.by_value and _project_module(module) is not None
                    ):
                        reference = _step_reference(obj)
                        if reference is not None:
                            return _step_function, reference
            return super().reducer_override(obj)

    return Pickler


def _dump(task: StepTask, *, by_value: bool = False) -> tuple[bytes, set[str]]:
    buffer = io.BytesIO()
    pickler = _pickler_class()(buffer, pickle.HIGHEST_PROTOCOL, by_value=by_value)
    pickler.dump(task)
    return buffer.getvalue(), pickler.module_names


class _Packer:
    """Pickles step tasks for the workers and lists the project modules they need."""

    def pack(self, task: StepTask, *, by_value: bool) -> tuple[bytes, tuple[ModuleFile, ...]]:
        payload, seen = _dump(task)
        names = _with_imports(seen)
        modules = tuple(m for m in map(_describe, names) if m is not None)
        if not by_value:
            return payload, modules
        return _dumps_by_value(task, names), modules


def _with_imports(names: set[str]) -> list[str]:
    """The project modules among ``names``, with the project modules they import, transitively.

    Importing a module on a worker imports those too, so they are checked
    (and, by value, sent) as well. Found from the modules' globals: modules,
    functions and classes of other project modules.
    """
    found: set[str] = set()
    pending = [n for n in names if _project_module(n) is not None]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        parent = name.rpartition(".")[0]
        if parent and _project_module(parent) is not None:
            pending.append(parent)
        for value in list(vars(sys.modules[name]).values()):
            if isinstance(value, types.ModuleType):
                other: Any = value.__name__
            elif isinstance(value, (type, types.FunctionType)):
                other = getattr(value, "__module__", None)
            else:
                continue
            if isinstance(other, str) and other not in found and _project_module(other) is not None:
                pending.append(other)
    return sorted(found)


def _dumps_by_value(task: StepTask, names: list[str]) -> bytes:
    """The task pickled with the project's modules' functions and classes inside it."""
    import cloudpickle

    registered = []
    try:
        for name in names:
            module = sys.modules[name]
            cloudpickle.register_pickle_by_value(module)
            registered.append(module)
        return _dump(task, by_value=True)[0]
    finally:
        for module in registered:
            with contextlib.suppress(ValueError):
                cloudpickle.unregister_pickle_by_value(module)


# -- on the worker --------------------------------------------------------------------

_LOCK = threading.Lock()
#: Folders holding client code this worker was told about (put on sys.path).
_CODE_FOLDERS: set[str] = set()
#: Client-code modules present in this process -> (file, stamp when first seen).
_SEEN: dict[str, tuple[str, tuple[int, int] | None]] = {}
_STORES: dict[str, ArtifactStore] = {}
_CLEANED: dict[str, float] = {}
_CLEAN_EVERY = 300.0  # seconds between two clean-ups of a store's staging area


def _client_code() -> dict[str, str]:
    """Modules of this process that are client code: name -> real path of the file."""
    folders = tuple(f.rstrip(os.sep) + os.sep for f in _CODE_FOLDERS)
    found: dict[str, str] = {}
    if not folders:
        return found
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if name in ("__main__", "__mp_main__") or not isinstance(file, str):
            continue
        real = _real(file)
        if real.startswith(folders) and is_user_file(real):
            found[name] = real
    return found


def _note_code_folders(modules: tuple[ModuleFile, ...]) -> None:
    """Put the client's module folders first on sys.path (those that exist here)."""
    roots = [m.root for m in modules if m.root is not None]
    for root in reversed(list(dict.fromkeys(roots))):
        if os.path.isdir(root):
            with contextlib.suppress(ValueError):
                sys.path.remove(root)
            sys.path.insert(0, root)
            _CODE_FOLDERS.add(root)
    _CODE_FOLDERS.update(os.path.dirname(m.path) for m in modules if m.root is None)


def _see() -> None:
    for name, path in _client_code().items():
        _SEEN.setdefault(name, (path, _stamp(path)))


def _sync_code(modules: tuple[ModuleFile, ...]) -> list[str]:
    """Make the client's modules importable and current; return those this worker cannot load.

    A module counts as current when it comes from the client's file and that
    file has the same content. When any client-code module of this process is
    out of date (its file changed since it was imported, or the client has
    another version or another file under that name), all of them are dropped
    from ``sys.modules`` and imported afresh, as a new process would: modules
    hold references to each other, so dropping only one would leave stale ones.
    """
    _note_code_folders(modules)
    present = _client_code()
    stale = any(
        _SEEN.get(name, (path, _stamp(path))) != (path, _stamp(path))
        for name, path in present.items()
    )
    clashes: set[str] = set()
    for wanted in modules:
        if wanted.name not in sys.modules:
            continue
        if wanted.name not in present:
            clashes.add(wanted.name)  # an installed module of that name: leave it alone
        elif present[wanted.name] != wanted.path or _file_digest(wanted.path) != wanted.digest:
            stale = True
    if stale:
        for name in present:
            sys.modules.pop(name, None)
        _SEEN.clear()
        importlib.invalidate_caches()
    missing = []
    for wanted in sorted(modules, key=lambda m: m.name.count(".")):  # packages first
        if wanted.name in clashes:
            missing.append(wanted.name)
            continue
        if wanted.name in sys.modules:
            continue
        if _file_digest(wanted.path) != wanted.digest:
            missing.append(wanted.name)  # not here, or another version of it
            continue
        module = _import(wanted)
        if _real(getattr(module, "__file__", "") or "") != wanted.path:
            missing.append(wanted.name)
    _see()
    return missing


def _import(wanted: ModuleFile) -> Any:
    if wanted.root is not None:
        return importlib.import_module(wanted.name)
    spec = importlib.util.spec_from_file_location(wanted.name, wanted.path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {wanted.path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[wanted.name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(wanted.name, None)
        raise
    return module


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except Exception:
        import socket

        return socket.gethostname()


def _open_store(url: str) -> ArtifactStore:
    """The artifact store at ``url``, opened once per worker process.

    Now and then it also removes the staging folders that dead processes of
    this host left in it (a worker killed while writing): only this host can
    tell that their writer is gone, and the client may run elsewhere.
    """
    store = _STORES.get(url)
    if store is None:
        store = _STORES[url] = ArtifactStore(url)
    now = time.monotonic()
    if now - _CLEANED.get(url, -_CLEAN_EVERY) >= _CLEAN_EVERY:
        _CLEANED[url] = now
        with contextlib.suppress(OSError):
            store.clean_staging()
    return store


def _run_on_worker(
    payload: bytes,
    modules: tuple[ModuleFile, ...],
    store_url: str,
    marker: str | None,
    by_value: bool,
) -> StepOutcome | _MissingCode:
    """The Dask task of one step: load its code, execute it, return the outcome."""
    started = time.time()
    if marker is not None and not os.path.isdir(marker):
        # Checked before the store is opened: opening would create an empty folder.
        return StepOutcome(
            started,
            time.time(),
            error=f"the Dask worker {_worker_name()} does not see the artifact store folder "
            f"{os.path.dirname(os.path.dirname(marker))}; mount it at the same path on every "
            "worker, or use object storage.",
        )
    with _LOCK:
        try:
            if by_value:
                _note_code_folders(modules)  # for imports inside a step's body
            else:
                missing = _sync_code(modules)
                if missing:
                    return _MissingCode(tuple(missing))
            import cloudpickle

            task: StepTask = cloudpickle.loads(payload)
            store = _open_store(store_url)
        except Exception as exc:
            text, where = user_traceback(exc)
            at = f" (at {where})" if where else ""
            return StepOutcome(
                started,
                time.time(),
                error=f"the Dask worker {_worker_name()} could not load the step: "
                f"{type(exc).__name__}: {exc}{at}",
                traceback=text,
            )
    try:
        return execute_step(task, store)
    finally:
        with _LOCK:
            _see()  # modules the step imported: watch their files from now on


__all__ = ["DaskOrchestrator", "ModuleFile"]
