"""Helpers of the serving tests: trained projects, a real ``shipyard serve`` process, HTTP calls.

Everything is real: YAML pipelines trained on small cuts of the example data
(or seeded synthetic tables) in tmp project folders, the service started with
the ``shipyard serve`` command on a free loopback port, and requests sent with
httpx. Every wait is a bounded loop.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
TAXI = REPO / "examples" / "taxi"
TAXI_CSV = TAXI / "data" / "chicago_taxi_trips.csv"
BIKES_CSV = REPO / "examples" / "bikes" / "data" / "bike_sharing_hourly.csv"
TAXI_ROWS = 3000
HOST = "127.0.0.1"


# -- the environment of the subprocesses ---------------------------------------------------


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``shipyard`` subprocess: no developer settings, one native thread."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update({
        "SHIPYARD_USER": "tester", "COLUMNS": "200", "NO_COLOR": "1",
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra or {})
    return env


def cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python -m shipyard ARGS`` in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "shipyard", *args],
        cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=timeout, check=False,
    )


# -- training data and pipelines -----------------------------------------------------------


def copy_taxi_csv(folder: Path, rows: int = TAXI_ROWS) -> Path:
    """The first ``rows`` trips of the taxi example, byte for byte, in ``folder/data``."""
    target = folder / "data" / TAXI_CSV.name
    target.parent.mkdir(parents=True, exist_ok=True)
    with TAXI_CSV.open(encoding="utf-8") as src, target.open("w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i > rows:
                break
            dst.write(line)
    return target


TAXI_YAML = """\
name: taxi-tips
data: data/chicago_taxi_trips.csv
label: big_tipper
drop: [tips]
split: {by: time, column: trip_start_timestamp, ratios: {train: 0.7, eval: 0.15, test: 0.15}}
train: {model: sklearn.ensemble.HistGradientBoostingClassifier, params: {max_iter: 30}}
"""

#: The same model with a schema that makes unseen categories and out-of-range numbers errors.
STRICT_TAXI_YAML = """\
name: taxi-strict
data: data/chicago_taxi_trips.csv
label: big_tipper
drop: [tips]
schema: schema.yaml
split: {by: time, column: trip_start_timestamp, ratios: {train: 0.7, eval: 0.15, test: 0.15}}
train: {model: sklearn.ensemble.HistGradientBoostingClassifier, params: {max_iter: 20}}
"""

BIKES_YAML = """\
name: bike-rentals
data: data/bikes.csv
label: cnt
drop: [instant, casual, registered]
features: {dteday: datetime}
split: {by: time, column: dteday, ratios: {train: 0.7, eval: 0.15, test: 0.15}}
preprocess: {datetime: [{datetime: [month, dayofweek]}]}
train: {model: sklearn.ensemble.HistGradientBoostingRegressor, params: {max_iter: 30}}
"""

#: Every preprocessing method the YAML offers, one column each.
MANY_YAML = """\
name: many-methods
data: data/many.csv
label: tier
features: {when: datetime, notes: text, flag: boolean, member: boolean}
split: {by: random, seed: 3}
preprocess:
  columns:
    amount: [{impute: median}, log1p, standard]
    score: [{impute: mean}, {clip: {min: -1.5, max: 1.5}}]
    age: [{impute: median}, {bucketize: {bins: 4}}]
    load: [{bucketize: {edges: [0.25, 0.5, 0.75]}}]
    ratio: [{impute: median}, minmax]
    spread: [{impute: median}, robust]
    size: [ordinal]
    city: [{hash: 8}]
    color: [{impute: most_frequent}, {onehot: {max_categories: 4}}]
    when: [{datetime: [year, month, day, hour, minute, dayofweek, dayofyear, weekofyear, quarter]}]
    notes: [{tfidf: {max_features: 40, ngram_max: 2}}]
    flag: [{impute: most_frequent}, boolean]
    member: [{onehot: 3}]
train: {model: sklearn.ensemble.HistGradientBoostingClassifier, params: {max_iter: 15}}
"""


def bikes_frame(step: int = 8) -> pd.DataFrame:
    """Every ``step``-th hour of the bike-sharing example (all of 2011-2012, ~2,200 rows)."""
    return pd.read_csv(BIKES_CSV).iloc[::step].reset_index(drop=True)


WORDS = ["cash", "card", "late", "early", "rain", "sun", "airport", "downtown", "quiet", "busy", "tip", "fare"]


def many_frame(n: int = 1200, seed: int = 7) -> pd.DataFrame:
    """A seeded table for the many-methods pipeline: numbers with gaps, categories, dates, text, flags."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3, 1, n)
    score = rng.normal(size=n)
    age = rng.integers(18, 80, n).astype(float)
    load = rng.uniform(0, 1, n)
    ratio = rng.uniform(-5, 5, n)
    spread = rng.standard_t(3, n) * 10
    size = rng.choice(["S", "M", "L", "XL"], n)
    city = rng.choice([f"city-{i}" for i in range(30)], n)
    color = rng.choice(["red", "green", "blue", "black", "white", "pink", "teal"], n, p=[0.3, 0.25, 0.2, 0.1, 0.07, 0.05, 0.03])
    when = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 2 * 365 * 24 * 60, n), unit="min")
    notes = [" ".join(rng.choice(WORDS, 8)) + f" order {i}" for i in range(n)]
    flag = rng.choice(["yes", "no"], n)
    member = rng.choice(["true", "false"], n, p=[0.3, 0.7])
    signal_ = np.log1p(amount) - 3 + score + (size == "XL") + 0.5 * (flag == "yes") + (load > 0.5) - (color == "red")
    tier = np.where(signal_ > 1.0, "high", np.where(signal_ > -0.3, "mid", "low"))
    frame = pd.DataFrame({
        "amount": amount.round(2), "score": score.round(4), "age": age, "load": load.round(4),
        "ratio": ratio.round(3), "spread": spread.round(3), "size": size, "city": city, "color": color,
        "when": when.strftime("%Y-%m-%d %H:%M:%S"), "notes": notes, "flag": flag, "member": member,
        "tier": tier,
    })
    # Gaps in most columns (not in the label).
    for column, share in [("amount", 0.05), ("score", 0.05), ("age", 0.05), ("load", 0.05), ("ratio", 0.03),
                          ("spread", 0.03), ("size", 0.05), ("city", 0.05), ("color", 0.05), ("flag", 0.05)]:
        frame.loc[rng.random(n) < share, column] = np.nan
    return frame


@dataclass
class Trained:
    """One trained YAML pipeline in a project."""

    name: str
    run_id: str
    bundle_id: str


@dataclass
class TrainedProject:
    """A project folder holding the serving tests' trained bundles."""

    folder: Path
    bundles: dict[str, Trained] = field(default_factory=dict)

    def copy(self, target: Path) -> TrainedProject:
        """The same project in another folder (its own prediction logs)."""
        shutil.copytree(self.folder, target, ignore=shutil.ignore_patterns("prediction-logs"))
        return TrainedProject(target, dict(self.bundles))


def _train(client: Any, yaml: Path, name: str) -> Trained:
    result = client.run(str(yaml))
    assert result.ok, f"{name}: {result.error}"
    return Trained(name, result.run_id, result.steps["bundle"].outputs["output"].id)


def strict_schema(folder: Path) -> str:
    """``shipyard data schema`` of the taxi data, edited: unseen categories and out-of-range are errors."""
    import yaml

    made = cli("data", "schema", "data/chicago_taxi_trips.csv", "--label", "big_tipper", cwd=folder)
    assert made.returncode == 0, made.stderr
    schema = yaml.safe_load(made.stdout)
    # The first rows have no pickup census tract at all: the inferred schema calls the
    # empty column categorical; the pipeline's feature is numeric.
    schema["columns"]["pickup_census_tract"] = {"type": "numeric", "max_null_fraction": 1.0}
    schema["severity"]["unseen_categories"] = "error"
    schema["severity"]["out_of_range"] = "error"
    return made.stdout.split("columns:")[0] + yaml.safe_dump(schema, sort_keys=False)


def train_project(folder: Path, which: tuple[str, ...] = ("taxi", "bikes", "many", "strict")) -> TrainedProject:
    """Train the serving tests' pipelines in a new project in ``folder``."""
    from shipyard.client import Client

    folder.mkdir(parents=True, exist_ok=True)
    copy_taxi_csv(folder)
    (folder / "data").mkdir(exist_ok=True)
    project = TrainedProject(folder)
    client = Client(folder, create=True)
    try:
        if "taxi" in which:
            (folder / "taxi.yaml").write_text(TAXI_YAML)
            project.bundles["taxi"] = _train(client, folder / "taxi.yaml", "taxi")
        if "bikes" in which:
            bikes_frame().to_csv(folder / "data" / "bikes.csv", index=False)
            (folder / "bikes.yaml").write_text(BIKES_YAML)
            project.bundles["bikes"] = _train(client, folder / "bikes.yaml", "bikes")
        if "many" in which:
            many_frame().to_csv(folder / "data" / "many.csv", index=False)
            (folder / "many.yaml").write_text(MANY_YAML)
            project.bundles["many"] = _train(client, folder / "many.yaml", "many")
        if "strict" in which:
            (folder / "schema.yaml").write_text(strict_schema(folder))
            (folder / "strict.yaml").write_text(STRICT_TAXI_YAML)
            project.bundles["strict"] = _train(client, folder / "strict.yaml", "strict")
    finally:
        client.close()
    return project


# -- the service --------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on the loopback address right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class ServerError(AssertionError):
    """The service did not start (its output is in the message)."""


class Server:
    """``shipyard serve REF ARGS`` in a subprocess on a free loopback port.

    Use as a context manager (or call :meth:`start` and :meth:`kill`): the
    process is always killed on exit. Output goes to files in ``folder``.
    """

    def __init__(self, folder: Path, ref: str, *args: str, name: str = "server") -> None:
        self.folder = folder
        self.ref = ref
        self.args = list(args)
        self.name = name
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.out_path = folder / f"{name}.out"
        self.err_path = folder / f"{name}.err"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def output(self) -> str:
        """What the process printed so far."""
        parts = []
        for path in (self.out_path, self.err_path):
            with contextlib.suppress(OSError):
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    def launch(self) -> Server:
        """Start the process on a free port (without waiting)."""
        self.port = free_port()
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "shipyard", "serve", self.ref, "--port", str(self.port), *self.args],
                cwd=self.folder, env=cli_env(), stdout=out, stderr=err, stdin=subprocess.DEVNULL,
            )
        return self

    def start(self, *, timeout: float = 60.0) -> Server:
        """Start the process (unless launched) and wait (bounded) until ``/ready`` answers 200."""
        if self.proc is None:
            self.launch()
        for _attempt in range(3):  # another process may take the free port first
            if self._wait_ready(timeout):
                return self
            if "address already in use" not in self.output().lower():
                break
            self.kill()
            self.launch()
        self.kill()
        raise ServerError(f"shipyard serve {self.ref} did not become ready:\n{self.output()}")

    def _wait_ready(self, timeout: float) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return True
            time.sleep(0.1)
        return False

    def client(self, token: str | None = None, timeout: float = 30.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def stop(self, sig: int = signal.SIGINT, *, timeout: float = 40.0) -> int:
        """Send ``sig`` and wait (bounded) for the process to end; returns its exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"the server did not stop within {timeout}s:\n{self.output()}") from None
        return int(self.proc.returncode)

    def kill(self) -> None:
        """SIGKILL (idempotent)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)

    def __enter__(self) -> Server:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def start_all(*servers: Server, timeout: float = 90.0) -> None:
    """Start several servers at once (they load their bundles in parallel); kill all on failure."""
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server.start(timeout=timeout)
    except BaseException:
        for server in servers:
            server.kill()
        raise


# -- rows and records ---------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A cell as a JSON value (NaN -> null, NumPy scalars -> Python)."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def records(frame: pd.DataFrame, features: Mapping[str, str] | list[str]) -> list[dict[str, Any]]:
    """The rows of ``frame`` as JSON records of the feature columns."""
    return [{c: plain(row[c]) for c in features} for _, row in frame.iterrows()]


def servable(frame: pd.DataFrame, predictor: Any) -> pd.DataFrame:
    """The rows whose empty cells are all in columns that may be empty (those that had gaps in training)."""
    columns = predictor.bundle.schema.get("columns", {})
    required = [c for c in predictor.bundle.features if float(columns.get(c, {}).get("null_fraction", 0.0)) == 0]
    return frame[frame[required].notna().all(axis=1)]


def metric_value(text: str, name: str, **labels: str) -> float:
    """A sample's value in a Prometheus text exposition (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    series = f"{name}{{{wanted}}}" if labels else name
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == series:
            return float(value)
    return 0.0


# -- in-process service -------------------------------------------------------------------


class ThreadServer:
    """A FastAPI app served by uvicorn in a thread of this process (for in-process cases)."""

    def __init__(self, app: Any) -> None:
        import threading

        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(app, host=HOST, port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.thread.is_alive():
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return self
            time.sleep(0.05)
        self.__exit__()
        raise ServerError("the in-process server did not become ready")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def taxi_training_rows(n: int = TAXI_ROWS) -> pd.DataFrame:
    """The raw taxi rows the pipelines were trained on (the first ``n`` of the example), as read from CSV."""
    return pd.read_csv(TAXI_CSV, nrows=n, low_memory=False)
