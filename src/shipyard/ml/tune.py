"""``shipyard.ml.tune`` provides hyperparameter search: spaces, samplers, trials, executors.

A search (the ``tune`` block of a YAML pipeline) proposes sets of values for
the model's params, fits the model on the train split with each (a *trial*),
scores it on the eval split, and picks the best set. Three ways to propose:

* ``grid``: every combination of the ``choice`` and ``int`` values, in order,
  up to ``trials``;
* ``random``: trial *i* draws its values from a generator seeded with
  ``(seed, i)``, so a trial's values depend on nothing but the seed and its
  number;
* ``optuna``: Optuna's TPE sampler, seeded, asked for ``batch`` trials at a
  time and told their results in trial order.

The proposals never depend on how many trials run at once, and ties go to the
lowest trial number, so one config picks the same best values whatever runs
the trials. They run on the Dask cluster when there is one (inside a Dask
worker, through ``worker_client``; else at ``SHIPYARD_DASK_ADDRESS``), else in
a pool of local processes, or in the current process for a single worker.

A trial that raises is recorded as failed with its error; the search goes on.
Optuna and Dask are imported only when used.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.config.spec import MAXIMIZED_METRICS
from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: Trials of ``random`` and ``optuna`` searches when ``trials`` is not given.
DEFAULT_TRIALS = 20
#: The most combinations a grid without ``trials`` may have.
MAX_GRID = 10_000
#: Where trials ran, recorded on each trial.
INLINE, PROCESSES, DASK = "inline", "processes", "dask"


class TuneError(ShipyardError):
    """The hyperparameter search cannot run or found nothing."""

    headline = "Search failed"


def direction_of(metric: str, given: str | None = None) -> str:
    """``max`` or ``min``: ``given`` when set, else what suits the metric."""
    if given is not None:
        return given
    return "max" if metric in MAXIMIZED_METRICS else "min"


def default_metric(task: str, has_proba: bool) -> str:
    """The metric a search optimises when none is named."""
    if task == "regression":
        return "rmse"
    return "roc_auc" if has_proba else "accuracy"


# -- spaces ----------------------------------------------------------------------


@dataclass(frozen=True)
class Dimension:
    """One param's search space: ``form`` (choice, uniform, loguniform, int) and its values."""

    name: str
    form: str
    values: tuple[Any, ...]

    @property
    def discrete(self) -> bool:
        """True for the forms a grid can enumerate (choice, int)."""
        return self.form in ("choice", "int")

    def size(self) -> int | None:
        """How many values a grid takes (None for a continuous range)."""
        if self.form == "choice":
            return len(self.values)
        if self.form == "int":
            return int(self.values[1]) - int(self.values[0]) + 1
        return None

    def grid(self) -> Iterator[Any]:
        """Every value, in order (choice and int only)."""
        if self.form == "choice":
            return iter(self.values)
        return iter(range(int(self.values[0]), int(self.values[1]) + 1))

    def value_at(self, index: int) -> Any:
        """The ``index``-th value of :meth:`grid` (choice and int only), without listing them."""
        if self.form == "choice":
            return self.values[index]
        return int(self.values[0]) + index

    def sample(self, rng: np.random.Generator) -> Any:
        """One value drawn with ``rng``."""
        if self.form == "choice":
            return self.values[int(rng.integers(len(self.values)))]
        lo, hi = self.values
        if self.form == "int":
            return int(rng.integers(int(lo), int(hi) + 1))
        if self.form == "uniform":
            return _tidy(float(rng.uniform(lo, hi)), lo, hi)
        return _tidy(math.exp(float(rng.uniform(math.log(lo), math.log(hi)))), lo, hi)


def _tidy(value: float, lo: float, hi: float) -> float:
    """A drawn float to 6 significant digits (readable in tables), kept in range."""
    return min(max(float(f"{value:.6g}"), lo), hi)


def dimensions(space: Mapping[str, Mapping[str, Sequence[Any]]]) -> list[Dimension]:
    """The search space of the YAML form ``{param: {form: values}}``, in its order."""
    out = []
    for name, spec in space.items():
        ((form, values),) = spec.items()
        out.append(Dimension(name, form, tuple(values)))
    return out


def grid_size(dims: Sequence[Dimension]) -> int | None:
    """How many combinations a grid has (None when a range is continuous)."""
    sizes = [d.size() for d in dims]
    if any(s is None for s in sizes):
        return None
    return math.prod(s for s in sizes if s is not None)


def grid_candidates(dims: Sequence[Dimension], limit: int | None = None) -> list[dict[str, Any]]:
    """Combinations in order (the last param varies fastest), at most ``limit``.

    Raises:
        TuneError: when a range is continuous.
    """
    continuous = [d.name for d in dims if not d.discrete]
    if continuous:
        raise TuneError(
            f"A grid needs choice or int values; {', '.join(continuous)} "
            f"{'is' if len(continuous) == 1 else 'are'} continuous."
        )
    return list(itertools.islice(iter_grid(dims), limit))


def iter_grid(dims: Sequence[Dimension]) -> Iterator[dict[str, Any]]:
    """Every combination in grid order (the last param varies fastest), one at a time.

    The i-th combination is computed from i (each param's index is a digit of
    i in mixed radix), so no range is ever listed: a grid over ``int: [1,
    1000000000]`` costs only the combinations taken.
    """
    sizes = [d.size() for d in dims]
    if any(size is None for size in sizes):
        raise TuneError("A grid needs choice or int values.")
    if any(size is not None and size <= 0 for size in sizes):
        return
    total = math.prod(s for s in sizes if s is not None)
    for number in range(total):
        values: list[Any] = []
        rest = number
        for dim, size in zip(reversed(dims), reversed(sizes), strict=True):
            rest, index = divmod(rest, size)  # type: ignore[arg-type]
            values.append(dim.value_at(index))
        yield dict(zip([d.name for d in dims], reversed(values), strict=True))


def _canonical(params: Mapping[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def random_candidates(dims: Sequence[Dimension], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` sets of values drawn at random; trial ``i`` from a generator seeded ``(seed, i)``.

    In a space of choice and int values only, a set is never proposed twice:
    a repeat is drawn again, and at most every combination is proposed.
    """
    import numpy as np

    size = grid_size(dims)
    count = n if size is None else min(n, size)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        candidate = {d.name: d.sample(rng) for d in dims}
        if size is not None:
            for _ in range(100):
                if _canonical(candidate) not in seen:
                    break
                candidate = {d.name: d.sample(rng) for d in dims}
            else:  # nearly exhausted: the first combination not proposed yet
                candidate = next(c for c in iter_grid(dims) if _canonical(c) not in seen)
            seen.add(_canonical(candidate))
        out.append(candidate)
    return out


class OptunaProposer:
    """Optuna's TPE sampler (seeded), asked for trials in batches and told their values.

    Raises:
        TuneError: when Optuna is not installed.
    """

    def __init__(self, dims: Sequence[Dimension], *, seed: int, direction: str) -> None:
        try:
            import optuna
        except ImportError as exc:
            raise TuneError(
                "tune: {method: optuna} needs Optuna.", hint="Install the extra: pip install 'shipyard[optuna]'"
            ) from exc
        import warnings

        self._optuna = optuna
        self.dims = list(dims)
        self._verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant_liar is experimental in older releases
            sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
        self.study = optuna.create_study(
            direction="maximize" if direction == "max" else "minimize", sampler=sampler
        )
        self._pending: dict[int, Any] = {}

    def ask(self, count: int) -> list[tuple[int, dict[str, Any]]]:
        """``count`` new trials: ``(number, params)``."""
        out = []
        for _ in range(count):
            trial = self.study.ask()
            self._pending[trial.number] = trial
            out.append((trial.number, {d.name: self._suggest(trial, d) for d in self.dims}))
        return out

    def _suggest(self, trial: Any, dim: Dimension) -> Any:
        if dim.form == "choice":
            plain = all(v is None or isinstance(v, (bool, int, float, str)) for v in dim.values)
            if plain:
                return trial.suggest_categorical(dim.name, list(dim.values))
            index = trial.suggest_categorical(dim.name, [str(i) for i in range(len(dim.values))])
            return dim.values[int(index)]
        lo, hi = dim.values
        if dim.form == "int":
            return int(trial.suggest_int(dim.name, int(lo), int(hi)))
        value = trial.suggest_float(dim.name, lo, hi, log=dim.form == "loguniform")
        return _tidy(value, lo, hi)

    def tell(self, number: int, value: float | None) -> None:
        """The result of trial ``number``: its metric, or None when it failed."""
        trial = self._pending.pop(number)
        if value is None:
            self.study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, value)

    def close(self) -> None:
        """Restore Optuna's logging level."""
        self._optuna.logging.set_verbosity(self._verbosity)


# -- trials ------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialData:
    """What every trial needs: the preprocessed splits and how to score.

    Attributes:
        model: import path of the estimator class.
        params: params every trial uses (``train.params`` and any fixed seed);
            a trial's own values are applied on top.
        x_train: the preprocessed train split.
        y_train: its encoded label.
        x_eval: the preprocessed eval split.
        truth: the eval split's label column (original values).
        label: the label's name.
        task: ``classification`` or ``regression``.
        classes: the label's classes in code order (classification).
        names: the metrics each trial computes on the eval split.
        metric: the metric the search optimises (one of ``names``).
        paths: import paths the model's module may need on a worker.
    """

    model: str
    params: Mapping[str, Any]
    x_train: Any
    y_train: Any
    x_eval: Any
    truth: pd.DataFrame
    label: str
    task: str
    classes: list[Any] | None
    names: tuple[str, ...]
    metric: str
    paths: tuple[str, ...] = field(default_factory=tuple)


def run_trial(
    data: TrialData, number: int, params: Mapping[str, Any], threads: int | None = None,
    executor: str = INLINE,
) -> dict[str, Any]:
    """Fit and score one set of values; never raises for the trial's own errors.

    Returns:
        ``{"number", "status", "params", "metrics", "value", "error",
        "started_at", "ended_at", "executor"}``; ``value`` is the optimised
        metric on the eval split, ``metrics`` holds ``eval.<name>`` for each
        metric computed.
    """
    out: dict[str, Any] = {
        "number": number, "status": "failed", "params": dict(params), "metrics": {},
        "value": None, "error": None, "executor": executor,
    }
    started = time.time()
    try:
        for path in data.paths:
            if path not in sys.path:
                sys.path.append(path)
        _import_model(data.model)  # a fresh worker's imports are not the trial's time
        started = time.time()
        with _thread_limit(threads):
            metrics = _fit_and_score(data, params)
        out["metrics"] = {f"eval.{k}": v for k, v in metrics.items() if math.isfinite(v)}
        value = out["metrics"].get(f"eval.{data.metric}")
        if value is None:
            why = (
                " (roc_auc needs two classes in the eval split; roc_auc and log_loss need "
                "class probabilities)" if data.task == "classification" else ""
            )
            raise TuneError(f"eval {data.metric} could not be computed for this model{why}.")
        out.update(status="completed", value=value)
    except Exception as exc:
        text = str(exc) if isinstance(exc, ShipyardError) else f"{type(exc).__name__}: {exc}"
        out["error"] = text.strip() or type(exc).__name__
    out["started_at"], out["ended_at"] = started, time.time()
    return out


def _import_model(model: str) -> None:
    import importlib

    from shipyard.ml.train import load_model_class

    for name in ("shipyard.bundle.bundle", "shipyard.ml.metrics", "sklearn.metrics"):
        importlib.import_module(name)
    load_model_class(model)


@contextlib.contextmanager
def _thread_limit(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        yield


def _fit_and_score(data: TrialData, params: Mapping[str, Any]) -> dict[str, float]:
    """The model fitted with these params, scored on the eval split like the evaluate step."""
    import numpy as np
    import pandas as pd

    from shipyard.bundle.bundle import class_codes
    from shipyard.ml.metrics import split_metrics
    from shipyard.ml.train import make_model

    estimator = make_model(data.model, {**data.params, **params})
    estimator.fit(data.x_train, data.y_train)
    raw = estimator.predict(data.x_eval)
    predicted = pd.DataFrame(index=data.truth.index)
    if data.classes is None:
        predicted["prediction"] = np.asarray(raw)
    else:
        predicted["prediction"] = np.asarray(data.classes)[class_codes(raw, len(data.classes))]
        if hasattr(estimator, "predict_proba"):
            proba = estimator.predict_proba(data.x_eval)
            for i, cls in enumerate(data.classes):
                predicted[f"proba_{cls}"] = proba[:, i]
    return split_metrics(
        data.truth, predicted, label=data.label, task=data.task, classes=data.classes,
        names=data.names,
    )


# -- executors -----------------------------------------------------------------------

Job = tuple[int, dict[str, Any]]


class Executor:
    """Runs trials somewhere; :meth:`map` returns their results in the jobs' order."""

    name = INLINE

    def map(self, jobs: Sequence[Job]) -> list[dict[str, Any]]:
        raise NotImplementedError


class InlineExecutor(Executor):
    """Trials one after another in this process."""

    def __init__(self, data: TrialData) -> None:
        self.data = data

    def map(self, jobs: Sequence[Job]) -> list[dict[str, Any]]:
        return [run_trial(self.data, number, params) for number, params in jobs]


_WORKER_DATA: TrialData | None = None


def _init_worker(data: TrialData) -> None:
    global _WORKER_DATA
    _WORKER_DATA = data


def _pool_trial(number: int, params: dict[str, Any], threads: int | None) -> dict[str, Any]:
    assert _WORKER_DATA is not None, "the pool's initializer did not run"
    return run_trial(_WORKER_DATA, number, params, threads, PROCESSES)


def _failed(number: int, params: Mapping[str, Any], exc: BaseException, executor: str) -> dict[str, Any]:
    now = time.time()
    return {
        "number": number, "status": "failed", "params": dict(params), "metrics": {},
        "value": None, "error": f"{type(exc).__name__}: {exc}", "started_at": now,
        "ended_at": now, "executor": executor,
    }


class PoolExecutor(Executor):
    """Trials in a pool of local processes (forkserver, else spawn), the data sent once to each."""

    name = PROCESSES

    def __init__(self, data: TrialData, workers: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        # One native thread per trial for each share of the CPUs, so parallel
        # fits do not fight over the cores.
        self.threads = max(1, cpu_count() // workers)
        self.pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(data,)
        )

    def map(self, jobs: Sequence[Job]) -> list[dict[str, Any]]:
        futures = [self.pool.submit(_pool_trial, n, p, self.threads) for n, p in jobs]
        out = []
        for (number, params), future in zip(jobs, futures, strict=True):
            try:
                out.append(future.result())
            except Exception as exc:  # the worker process died
                out.append(_failed(number, params, exc, self.name))
        return out

    def close(self, *, abort: bool = False) -> None:
        """Shut the pool down: after the running trials end, or (``abort``) at once.

        Aborting (an error or Ctrl-C in the search) cancels the trials not
        started and terminates the processes running the others.
        """
        if not abort:
            self.pool.shutdown(wait=True, cancel_futures=True)
            return
        processes = list((getattr(self.pool, "_processes", None) or {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)


class DaskExecutor(Executor):
    """Trials as tasks on a Dask cluster, the data scattered once."""

    name = DASK

    def __init__(self, client: Any, data: TrialData) -> None:
        self.client = client
        self.data = client.scatter(data, hash=False)
        self.token = uuid.uuid4().hex[:12]

    def map(self, jobs: Sequence[Job]) -> list[dict[str, Any]]:
        futures = [
            self.client.submit(
                run_trial, self.data, number, params, None, DASK,
                key=f"shipyard-trial-{self.token}-{number}", pure=False,
            )
            for number, params in jobs
        ]
        out = []
        for (number, params), future in zip(jobs, futures, strict=True):
            try:
                out.append(future.result())
            except Exception as exc:  # the task was lost (a worker died...)
                out.append(_failed(number, params, exc, self.name))
        return out


def cpu_count() -> int:
    """CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def in_dask_worker() -> bool:
    """True when this code runs inside a Dask worker's task."""
    distributed = sys.modules.get("distributed")  # a worker has it imported already
    if distributed is None:
        return False
    try:
        distributed.get_worker()
    except ValueError:
        return False
    return True


@contextlib.contextmanager
def open_executor(data: TrialData, *, workers: int | None, jobs: int) -> Iterator[Executor]:
    """Where the trials run.

    Inside a Dask worker, on its cluster (the waiting task leaves the
    worker's thread pool); else on the cluster at ``SHIPYARD_DASK_ADDRESS``;
    else in ``workers`` local processes (default: the CPU count), or in this
    process when one worker (or one trial) is enough.
    """
    from shipyard.engine.cluster import ENV_ADDRESS

    if in_dask_worker():
        from distributed import worker_client

        with worker_client() as client:
            yield DaskExecutor(client, data)
        return
    address = os.environ.get(ENV_ADDRESS, "").strip()
    if address:
        from shipyard.engine.cluster import connect

        with connect(address, n_workers=workers) as client:
            yield DaskExecutor(client, data)
        return
    count = min(workers or cpu_count(), jobs)
    if count <= 1:
        yield InlineExecutor(data)
        return
    pool = PoolExecutor(data, count)
    try:
        yield pool
    except BaseException:
        pool.close(abort=True)  # Ctrl-C or an error: do not wait for the running fits
        raise
    pool.close()


# -- the search ---------------------------------------------------------------------


def search(
    data: TrialData,
    space: Mapping[str, Mapping[str, Sequence[Any]]],
    *,
    method: str = "random",
    trials: int | None = None,
    seed: int = 0,
    direction: str = "max",
    workers: int | None = None,
    batch: int = 4,
    executor: Callable[..., contextlib.AbstractContextManager[Executor]] = open_executor,
) -> list[dict[str, Any]]:
    """Run the trials of a search; results in trial order (see :func:`run_trial`).

    Raises:
        TuneError: for an unknown method, a grid over a continuous range, or
            when Optuna is missing.
    """
    dims = dimensions(space)
    if method in ("grid", "random"):
        if method == "grid":
            candidates = grid_candidates(dims, trials)
        else:
            candidates = random_candidates(dims, trials or DEFAULT_TRIALS, seed)
        jobs = list(enumerate(candidates))
        with executor(data, workers=workers, jobs=len(jobs)) as ex:
            return ex.map(jobs)
    if method != "optuna":
        raise TuneError(f"Unknown search method {method!r}; use grid, random or optuna.")
    total = trials or DEFAULT_TRIALS
    proposer = OptunaProposer(dims, seed=seed, direction=direction)
    results: list[dict[str, Any]] = []
    try:
        with executor(data, workers=workers, jobs=min(batch, total)) as ex:
            while len(results) < total:
                jobs = proposer.ask(min(batch, total - len(results)))
                done = ex.map(jobs)
                for result in done:  # in trial order: the sampler sees the same history
                    proposer.tell(result["number"], result["value"])
                results.extend(done)
    finally:
        proposer.close()
    return results


def best_of(results: Sequence[Mapping[str, Any]], direction: str) -> Mapping[str, Any] | None:
    """The completed trial with the best value (ties: the lowest number), or None."""
    done = [r for r in results if r.get("status") == "completed" and r.get("value") is not None]
    if not done:
        return None
    sign = -1.0 if direction == "max" else 1.0
    return min(done, key=lambda r: (sign * float(r["value"]), int(r["number"])))


def prepare(
    train: pd.DataFrame,
    eval_split: pd.DataFrame,
    *,
    preprocessor: Any,
    features: Mapping[str, Any],
    label: str,
    model: str,
    params: Mapping[str, Any],
    space: Mapping[str, Any],
    metric: str | None,
    seed: int,
) -> tuple[TrialData, dict[str, Any]]:
    """The data every trial shares, and the params fixed for all of them.

    The splits are preprocessed once, with the fitted preprocessing, the same
    way the train and evaluate steps do. When the model takes
    ``random_state`` and neither ``train.params`` nor the space sets it, every
    trial (and the refit) uses ``seed``, so a trial's score is repeatable.

    Raises:
        TuneError: for a metric that does not apply to the task.
        ModelError: for a model that does not suit the task.
    """
    from shipyard.ml.metrics import default_metrics
    from shipyard.ml.train import (
        check_task,
        encode_labels,
        make_model,
        regression_target,
    )

    types = {name: str(info["type"]) for name, info in features["columns"].items()}
    task = str(features["task"])
    fixed: dict[str, Any] = {}
    if "random_state" not in params and "random_state" not in space and accepts_random_state(model):
        fixed["random_state"] = seed
    estimator = make_model(model, {**params, **fixed})
    check_task(estimator, task, model)
    names = default_metrics(task)
    metric = metric or default_metric(task, hasattr(estimator, "predict_proba"))
    if metric not in names:
        raise TuneError(
            f"tune.metric {metric!r} does not apply to {task}; use one of {', '.join(names)}."
        )
    if task == "classification":
        target, classes = encode_labels(train[label])
    else:
        target, classes = regression_target(train[label]), None
    data = TrialData(
        model=model,
        params={**params, **fixed},
        x_train=preprocessor.transform(train[list(types)]),
        y_train=target,
        x_eval=preprocessor.transform(eval_split[list(types)]),
        truth=eval_split[[label]].reset_index(drop=True),
        label=label,
        task=task,
        classes=classes,
        names=tuple(names),
        metric=metric,
        paths=model_paths(model),
    )
    return data, fixed


def accepts_random_state(model: str) -> bool:
    """True when the estimator class takes a ``random_state`` argument."""
    import inspect

    from shipyard.ml.train import load_model_class

    try:
        parameters = inspect.signature(load_model_class(model)).parameters
    except (TypeError, ValueError):
        return False
    return "random_state" in parameters


def model_paths(model: str) -> tuple[str, ...]:
    """Folders on this process's path that a worker may need to import the model's module."""
    from shipyard.ml.train import load_model_class

    module = sys.modules.get(load_model_class(model).__module__)
    file = getattr(module, "__file__", None)
    if not file:
        return ()
    return tuple(p for p in sys.path if p and os.path.abspath(file).startswith(os.path.abspath(p) + os.sep))


def describe_failures(results: Sequence[Mapping[str, Any]], *, limit: int = 3) -> str:
    """The distinct errors of failed trials, with the first trial of each."""
    seen: dict[str, int] = {}
    for result in results:
        error = str(result.get("error") or "unknown error")
        seen.setdefault(error, int(result["number"]))
    shown = [f"trial {number}: {error}" for error, number in list(seen.items())[:limit]]
    more = len(seen) - len(shown)
    return "; ".join(shown) + (f"; and {more} other error(s)" if more > 0 else "")


__all__ = [
    "DASK",
    "DEFAULT_TRIALS",
    "INLINE",
    "MAX_GRID",
    "PROCESSES",
    "DaskExecutor",
    "Dimension",
    "Executor",
    "InlineExecutor",
    "OptunaProposer",
    "PoolExecutor",
    "TrialData",
    "TuneError",
    "accepts_random_state",
    "best_of",
    "cpu_count",
    "default_metric",
    "describe_failures",
    "dimensions",
    "direction_of",
    "grid_candidates",
    "grid_size",
    "in_dask_worker",
    "model_paths",
    "open_executor",
    "prepare",
    "random_candidates",
    "run_trial",
    "search",
]
