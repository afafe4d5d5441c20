"""Serving speed: ``shipyard serve`` against a hand-written FastAPI server and MLflow.

Run: ``.venv/bin/python benchmarks/serving.py [--quick] [--json] [--peers mlflow]``

The taxi example is trained in a fresh project (``shipyard init``, ``shipyard
run pipeline.yaml``) and its model bundle is served, one service at a time,
each as its own process on a free port of 127.0.0.1:

* **shipyard**: ``shipyard serve <run> --port P`` (the default, with the
  prediction log), **shipyard-nolog**: the same with ``--no-log``, and
  **shipyard-onnx**: ``--onnx --no-log`` (the model on ONNX Runtime);
* **reference**: the server users write by hand — a minimal FastAPI app run
  with uvicorn in the same venv that loads the bundle's fitted scikit-learn
  objects as one ``Pipeline(preprocessor, model)`` (joblib) and answers
  ``POST /predict`` with ``predict_proba`` on a one-row DataFrame (one pass
  through the pipeline gives the prediction and the probabilities), and
  **reference-1thread**: the same with ``OMP_NUM_THREADS=1`` (the naive
  server's OpenMP threads fight over the 2 shared cores, which is most of its
  latency under load; ours calls ``threadpool_limits(1)`` at start-up, but
  OpenMP's limit is per thread and requests run in worker threads);
* **mlflow** (with ``--peers mlflow``): ``mlflow models serve --env-manager
  local`` of the same pipeline saved with ``mlflow.sklearn.save_model``
  (``pyfunc_predict_fn="predict_proba"``, a signature inferred from the
  records, Shipyard's transformer module shipped with ``code_paths``), in its
  own venv under ``benchmarks/.venvs/mlflow`` with the same scikit-learn,
  NumPy and pandas versions as ours; the body is ``{"dataframe_records":
  [record]}`` on ``/invocations``.

Figures per service:

* cold start: from process start to the first successful prediction (median
  of several starts);
* resident memory (VmRSS of the server process and its children) after the
  warm-up and latency run, and after the throughput runs;
* latency at concurrency 1 (client side, p50/p99, after a warm-up);
* throughput (req/s) at concurrency 8 and 32 over a fixed duration, with the
  client-side p50/p99 there, and the server's CPU time per request.

Every request is one real record (a few hundred rows of the taxi data, cycled).
The load generator is a small asyncio HTTP/1.1 client on keep-alive
connections in this process (pre-built request bytes, no HTTP library on the
hot path), so it takes little of the 2 cores; its own CPU share is printed.
Ratios are computed within the same run: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EXAMPLE = ROOT / "examples" / "taxi"
SRC = ROOT / "src"
SHIPYARD = str(Path(sys.executable).with_name("shipyard"))
HOST = "127.0.0.1"
N_RECORDS = 300
CLK_TCK = os.sysconf("SC_CLK_TCK")

REFERENCE_APP = '''
"""The naive hand-written server: the fitted pipeline on a one-row DataFrame."""
import json
import os

import joblib
import pandas as pd
from fastapi import FastAPI

PIPELINE = joblib.load(os.environ["REFERENCE_PIPELINE"])
CLASSES = json.loads(os.environ["REFERENCE_CLASSES"])
app = FastAPI()


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/predict")
def predict(record: dict):
    proba = PIPELINE.predict_proba(pd.DataFrame([record]))[0]
    return {
        "prediction": CLASSES[int(proba.argmax())],
        "probabilities": {str(c): float(p) for c, p in zip(CLASSES, proba)},
    }
'''

MLFLOW_SAVE = '''
import json, sys
sys.path.insert(0, sys.argv[4])  # Shipyard's transformers, to unpickle the pipeline
import joblib, pandas as pd
import mlflow.sklearn
from mlflow.models import infer_signature

pipeline = joblib.load(sys.argv[1])
sample = pd.DataFrame(json.loads(open(sys.argv[2]).read()))
signature = infer_signature(sample, pipeline.predict_proba(sample))
mlflow.sklearn.save_model(
    pipeline, sys.argv[3], serialization_format="cloudpickle", signature=signature,
    pyfunc_predict_fn="predict_proba", code_paths=[sys.argv[4] + "/shipyard"],
)
print("MLFLOW_VERSION", mlflow.__version__)
'''


# -- the model and the records ----------------------------------------------------------


def train_taxi(work: Path) -> tuple[Path, str, float]:
    """A fresh project with the taxi example trained; its run id and the run's wall time."""
    project = work / "taxi"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".shipyard"))
    subprocess.run([SHIPYARD, "init"], cwd=project, capture_output=True, check=True)
    start = time.perf_counter()
    out = subprocess.run([SHIPYARD, "run", "pipeline.yaml"], cwd=project, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"shipyard run pipeline.yaml failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    import shipyard

    predictor = shipyard.load_bundle("latest", project=project)
    run_id = predictor.bundle.run_id
    assert run_id, "the bundle names no run"
    return project, run_id, took


def export_pipeline(project: Path, work: Path) -> tuple[Path, list[Any]]:
    """The bundle's fitted preprocessor and model as one scikit-learn Pipeline (joblib)."""
    import joblib
    from sklearn.pipeline import Pipeline

    import shipyard

    bundle = shipyard.load_bundle("latest", project=project).bundle
    pipeline = Pipeline([("preprocess", bundle.preprocessor), ("model", bundle.model)])
    path = work / "pipeline.joblib"
    joblib.dump(pipeline, path)
    return path, list(bundle.label["classes"])


def load_records(n: int) -> list[dict[str, Any]]:
    """``n`` real taxi trips (fixed sample), features only, missing values as null."""
    import pandas as pd

    frame = pd.read_csv(EXAMPLE / "data" / "chicago_taxi_trips.csv")
    frame = frame.drop(columns=["tips", "big_tipper"]).sample(n=n, random_state=0)
    return json.loads(frame.to_json(orient="records"))


# -- a light HTTP/1.1 keep-alive client -------------------------------------------------


def _request_bytes(path: str, port: int, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Connection:
    """One keep-alive connection; ``send`` returns (status, body)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def send(self, data: bytes) -> tuple[int, bytes]:
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, chunked = None, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            body = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
            return status, body
        return status, await self.reader.readexactly(length or 0)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def _sequential(port: int, requests: list[bytes], n: int, warmup: int) -> tuple[list[float], list[str]]:
    conn = await Connection.open(port)
    latencies, errors = [], []
    try:
        for i in range(warmup + n):
            start = time.perf_counter()
            status, body = await conn.send(requests[i % len(requests)])
            took = time.perf_counter() - start
            if status != 200:
                errors.append(f"{status}: {body[:300]!r}")
            elif i >= warmup:
                latencies.append(took)
    finally:
        await conn.close()
    return latencies, errors


async def _load(port: int, requests: list[bytes], concurrency: int, seconds: float) -> tuple[int, list[float], list[str], float]:
    conns = [await Connection.open(port) for _ in range(concurrency)]
    latencies: list[float] = []
    errors: list[str] = []
    ok = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def worker(k: int) -> None:
        nonlocal ok
        conn, i = conns[k], k * 37
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            status, body = await conn.send(requests[i % len(requests)])
            latencies.append(time.perf_counter() - start)
            i += 1
            if status == 200:
                ok += 1
            else:
                errors.append(f"{status}: {body[:300]!r}")

    try:
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
    finally:
        elapsed = time.perf_counter() - started
        for conn in conns:
            await conn.close()
    return ok, latencies, errors, elapsed


def post_once(port: int, path: str, body: bytes, timeout: float = 5.0) -> tuple[int, bytes]:
    """One blocking request on a new connection (for start-up polling and parity checks)."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(_request_bytes(path, port, body).replace(b"HTTP/1.1\r\n", b"HTTP/1.1\r\nConnection: close\r\n", 1))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head[9:12]), rest


# -- processes --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, in MiB."""
    total = 0
    for p in _tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants."""
    total = 0
    for p in _tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


@dataclass
class Service:
    """How to start one service and ask it for a prediction."""

    name: str
    argv: list[str]
    path: str
    wrap: Any  # record -> JSON-able body
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    starts: int | None = None  # cold starts measured (None: --starts)

    def body(self, record: dict[str, Any]) -> bytes:
        return json.dumps(self.wrap(record)).encode()


class Running:
    """A started service: its process, port and log file."""

    def __init__(self, service: Service, port: int, log: Path) -> None:
        self.service, self.port, self.log = service, port, log
        self.handle = log.open("wb")
        argv = [a.replace("{port}", str(port)) for a in service.argv]
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            argv, cwd=service.cwd, env={**os.environ, **service.env}, stdout=self.handle,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )

    def wait_ready(self, body: bytes, timeout: float) -> float:
        """Seconds from process start to the first 200 from the prediction endpoint."""
        deadline = self.started + timeout
        last = ""
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.service.name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                status, reply = post_once(self.port, self.service.path, body)
                if status == 200:
                    return time.perf_counter() - self.started
                last = f"{status}: {reply[:300]!r}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.01)
        raise RuntimeError(f"{self.service.name} not ready after {timeout:.0f} s ({last}):\n{self.tail()}")

    def tail(self) -> str:
        self.handle.flush()
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.handle.close()


def measure_service(service: Service, records: list[dict[str, Any]], work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Cold starts, memory, latency at c=1 and throughput at c=8 and c=32 of one service."""
    bodies = [service.body(r) for r in records]
    cold: list[float] = []
    running: Running | None = None
    starts = service.starts or args.starts
    for i in range(starts):
        running = Running(service, free_port(), work / f"{service.name}-{i}.log")
        try:
            cold.append(running.wait_ready(bodies[0], args.start_timeout))
        except Exception:
            running.stop()
            raise
        if i < starts - 1:
            running.stop()
    assert running is not None
    try:
        port, pid = running.port, running.proc.pid
        requests = [_request_bytes(service.path, port, b) for b in bodies]
        figures: dict[str, Any] = {"cold_start_s": statistics.median(cold), "cold_starts_s": cold}
        latencies, errors = asyncio.run(_sequential(port, requests, args.requests, args.warmup))
        figures["rss_mb"] = rss_mb(pid)
        figures["c1_p50_ms"] = _percentile(latencies, 50) * 1000
        figures["c1_p99_ms"] = _percentile(latencies, 99) * 1000
        figures["c1_mean_ms"] = statistics.fmean(latencies) * 1000 if latencies else float("nan")
        all_errors = list(errors)
        for c in (8, 32):
            cpu_before, client_before = cpu_seconds(pid), time.process_time()
            ok, lat, errs, elapsed = asyncio.run(_load(port, requests, c, args.duration))
            server_cpu, client_cpu = cpu_seconds(pid) - cpu_before, time.process_time() - client_before
            figures[f"c{c}_rps"] = ok / elapsed
            figures[f"c{c}_p50_ms"] = _percentile(lat, 50) * 1000
            figures[f"c{c}_p99_ms"] = _percentile(lat, 99) * 1000
            figures[f"c{c}_server_cpu_ms_per_req"] = server_cpu / max(ok, 1) * 1000
            figures[f"c{c}_client_cpu_share"] = client_cpu / elapsed
            all_errors += errs
        figures["rss_after_load_mb"] = rss_mb(pid)
        figures["errors"] = len(all_errors)
        if all_errors:
            figures["first_error"] = all_errors[0]
        # The first few answers, for a parity check between services.
        figures["answers"] = [post_once(port, service.path, b)[1].decode() for b in bodies[:20]]
    finally:
        running.stop()
    return figures


# -- peers ------------------------------------------------------------------------------


def _peer_venv(name: str, requirements: list[str]) -> tuple[Path, float]:
    """The peer's venv (created on first use) and the seconds its install took (0: already there)."""
    venv = HERE / ".venvs" / name
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    wanted = " ".join(requirements)
    if marker.exists() and marker.read_text() == wanted:
        return venv, 0.0
    print(f"installing {wanted} into {venv.relative_to(ROOT)} (first time only)...", file=sys.stderr)
    start = time.perf_counter()
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    out = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements],
        capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"pip install {wanted} failed:\n{out.stderr[-3000:]}")
    marker.write_text(wanted)
    return venv, time.perf_counter() - start


def mlflow_service(pipeline: Path, records: list[dict[str, Any]], work: Path) -> tuple[Service, dict[str, Any]]:
    """Install MLflow (same scikit-learn, NumPy and pandas as ours), save the model, the service."""
    import numpy
    import pandas
    import sklearn

    venv, install_s = _peer_venv(
        "mlflow",
        ["mlflow-skinny", f"scikit-learn=={sklearn.__version__}", f"numpy=={numpy.__version__}", f"pandas=={pandas.__version__}"],
    )
    script, sample, model = work / "mlflow_save.py", work / "records.json", work / "mlflow-model"
    script.write_text(MLFLOW_SAVE)
    sample.write_text(json.dumps(records))
    env = {**os.environ, "MLFLOW_TRACKING_URI": (work / "mlruns").as_uri()}
    out = subprocess.run(
        [str(venv / "bin" / "python"), str(script), str(pipeline), str(sample), str(model), str(SRC)],
        cwd=work, env=env, capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"saving the MLflow model failed:\n{out.stdout[-1500:]}\n{out.stderr[-3000:]}")
    version = out.stdout.split("MLFLOW_VERSION")[-1].split()[0]
    service = Service(
        name="mlflow",
        argv=[str(venv / "bin" / "mlflow"), "models", "serve", "-m", str(model), "-h", HOST, "-p", "{port}",
              "-w", "1", "--env-manager", "local"],
        path="/invocations",
        wrap=lambda r: {"dataframe_records": [r]},
        cwd=work,
        # It starts `uvicorn` by name: the venv's bin must come first on PATH.
        env={
            "MLFLOW_TRACKING_URI": (work / "mlruns").as_uri(),
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        },
    )
    return service, {"mlflow_version": version, "install_s": install_s}


# -- report -----------------------------------------------------------------------------


def _probability(answer: str) -> float | None:
    """P(class 1) from any service's answer to one record."""
    try:
        data = json.loads(answer)
    except ValueError:
        return None
    if isinstance(data, dict) and "probabilities" in data:
        return float(list(data["probabilities"].values())[-1])
    if isinstance(data, dict) and "predictions" in data:
        first = data["predictions"][0]
        if isinstance(first, dict):
            return float(list(first.values())[-1])
        return float(first[-1])
    return None


def parity(figures: dict[str, Any]) -> dict[str, float]:
    """Largest difference in P(class 1) from the reference's, over the same records."""
    out = {}
    base = [_probability(a) for a in figures["reference"]["answers"]]
    for name, fig in figures.items():
        if name == "reference" or not isinstance(fig, dict) or "answers" not in fig:
            continue
        theirs = [_probability(a) for a in fig["answers"]]
        diffs = [abs(a - b) for a, b in zip(base, theirs, strict=False) if a is not None and b is not None]
        out[name] = max(diffs) if len(diffs) == len(base) else float("nan")
    return out


SERVICES = ("shipyard", "shipyard-nolog", "shipyard-onnx", "reference", "reference-1thread", "mlflow")
ROWS = [
    ("cold_start_s", "cold start", "s"),
    ("rss_mb", "memory after warm-up (RSS)", "MiB"),
    ("rss_after_load_mb", "memory after the load runs", "MiB"),
    ("c1_p50_ms", "latency c=1, p50", "ms"),
    ("c1_p99_ms", "latency c=1, p99", "ms"),
    ("c8_rps", "throughput c=8", "req/s"),
    ("c8_p50_ms", "latency c=8, p50", "ms"),
    ("c8_p99_ms", "latency c=8, p99", "ms"),
    ("c8_server_cpu_ms_per_req", "server CPU per request, c=8", "ms"),
    ("c32_rps", "throughput c=32", "req/s"),
    ("c32_p50_ms", "latency c=32, p50", "ms"),
    ("c32_p99_ms", "latency c=32, p99", "ms"),
    ("c32_server_cpu_ms_per_req", "server CPU per request, c=32", "ms"),
    ("c8_client_cpu_share", "load generator CPU (cores), c=8", ""),
    ("errors", "non-200 answers", ""),
]


def print_report(figures: dict[str, Any]) -> None:
    services = [n for n in SERVICES if isinstance(figures.get(n), dict) and "c8_rps" in figures[n]]
    print(f"machine: {figures['machine']}")
    print(f"taxi run: {figures['train_s']:.1f} s; {figures['settings']}")
    if "mlflow_info" in figures:
        print(f"mlflow: {figures['mlflow_info']}")
    print(f"\n{'figure':34}" + "".join(f"{n:>18}" for n in services))
    for key, label, unit in ROWS:
        cells = []
        for n in services:
            value = figures[n].get(key)
            cells.append(f"{value:18.2f}" if isinstance(value, float) else f"{value!s:>18}")
        print(f"{label + (f' ({unit})' if unit else ''):34}" + "".join(cells))
    for n in SERVICES:
        if isinstance(figures.get(n), dict) and figures[n].get("error"):
            print(f"{n}: not measured: {figures[n]['error'].strip().splitlines()[-1]}")
    for n in services:
        if figures[n].get("first_error"):
            print(f"{n}: first error: {figures[n]['first_error']}")
    print("\nmax |P(class 1) - reference's| over 20 records: " + ", ".join(f"{k} {v:.2g}" for k, v in figures["parity"].items()))
    print("\nratios (same run)")
    for label, value, target, ok in figures["ratios"]:
        verdict = "" if target == "-" else f"target {target:9} {'ok' if ok else 'MISSED'}"
        print(f"  {label:48} {value:10.2f}   {verdict}")


def ratios(figures: dict[str, Any]) -> list[tuple[str, float, str, bool]]:
    ours, ref = figures["shipyard"], figures["reference"]
    out = [
        ("throughput c=8, shipyard / reference", ours["c8_rps"] / ref["c8_rps"], ">= 5x", ours["c8_rps"] >= 5 * ref["c8_rps"]),
        ("throughput c=32, shipyard / reference", ours["c32_rps"] / ref["c32_rps"], "-", True),
        ("shipyard p99 latency c=1 (ms)", ours["c1_p99_ms"], "< 10 ms", ours["c1_p99_ms"] < 10),
        ("cold start, shipyard / reference", ours["cold_start_s"] / ref["cold_start_s"], "< 1", ours["cold_start_s"] < ref["cold_start_s"]),
        ("memory, shipyard / reference", ours["rss_mb"] / ref["rss_mb"], "< 1", ours["rss_mb"] < ref["rss_mb"]),
    ]
    if isinstance(figures.get("shipyard-nolog"), dict):
        nolog = figures["shipyard-nolog"]
        out.append(("throughput c=8, shipyard without log / with", nolog["c8_rps"] / ours["c8_rps"], "-", True))
    if isinstance(figures.get("shipyard-onnx"), dict):
        onnx = figures["shipyard-onnx"]
        out.append(("throughput c=8, shipyard --onnx / shipyard", onnx["c8_rps"] / ours["c8_rps"], "-", True))
        if isinstance(figures.get("shipyard-nolog"), dict):
            out.append(("throughput c=8, shipyard --onnx / without log", onnx["c8_rps"] / figures["shipyard-nolog"]["c8_rps"], "-", True))
        out.append(("latency c=1 p50, shipyard / shipyard --onnx", ours["c1_p50_ms"] / onnx["c1_p50_ms"], "-", True))
    if isinstance(figures.get("reference-1thread"), dict):
        tuned = figures["reference-1thread"]
        out.append(("throughput c=8, shipyard / reference-1thread", ours["c8_rps"] / tuned["c8_rps"], "-", True))
        out.append(("latency c=1 p50, reference-1thread / shipyard", tuned["c1_p50_ms"] / ours["c1_p50_ms"], "-", True))
    peer = figures.get("mlflow")
    if isinstance(peer, dict) and "c8_rps" in peer:
        out.append(("throughput c=8, shipyard / mlflow", ours["c8_rps"] / peer["c8_rps"], ">= 10x", ours["c8_rps"] >= 10 * peer["c8_rps"]))
        out.append(("throughput c=32, shipyard / mlflow", ours["c32_rps"] / peer["c32_rps"], "-", True))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (1 s windows, 1 start, 200 requests)")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--peers", nargs="*", default=[], choices=["mlflow"], help="peers to compare")
    parser.add_argument(
        "--no-variants", dest="variants", action="store_false",
        help="skip shipyard --no-log, shipyard --onnx and the reference with one OpenMP thread",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, model)")
    args = parser.parse_args()
    args.duration = 1.0 if args.quick else 5.0
    args.starts = 1 if args.quick else 3
    args.requests = 200 if args.quick else 500
    args.warmup = 50
    args.start_timeout = 180.0

    work = Path(tempfile.mkdtemp(prefix="shipyard-bench-serve-"))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    figures: dict[str, Any] = {
        "machine": machine,
        "settings": f"{args.starts} cold starts (median), c=1: {args.requests} requests after {args.warmup}, "
        f"c=8/c=32: {args.duration:.0f} s each, {N_RECORDS} records",
    }
    try:
        project, run_id, figures["train_s"] = train_taxi(work)
        figures["run_id"] = run_id
        pipeline, classes = export_pipeline(project, work)
        records = load_records(N_RECORDS)
        (work / "reference_app.py").write_text(REFERENCE_APP)
        services = [Service("shipyard", [SHIPYARD, "serve", run_id, "--port", "{port}"], "/predict", lambda r: r, project)]
        if args.variants:
            services.append(Service(
                "shipyard-nolog", [SHIPYARD, "serve", run_id, "--port", "{port}", "--no-log"], "/predict",
                lambda r: r, project, starts=1,
            ))
            services.append(Service(
                "shipyard-onnx", [SHIPYARD, "serve", run_id, "--port", "{port}", "--onnx", "--no-log"], "/predict",
                lambda r: r, project, starts=1,
            ))
        reference_argv = [sys.executable, "-m", "uvicorn", "reference_app:app", "--host", HOST, "--port", "{port}"]
        reference_env = {"REFERENCE_PIPELINE": str(pipeline), "REFERENCE_CLASSES": json.dumps(classes)}
        services.append(Service("reference", reference_argv, "/predict", lambda r: r, work, env=reference_env))
        if args.variants:
            # The same server with OpenMP limited to one thread: what is left of
            # the gap when the naive server's thread pools do not fight.
            services.append(Service(
                "reference-1thread", reference_argv, "/predict", lambda r: r, work,
                env={**reference_env, "OMP_NUM_THREADS": "1"}, starts=1,
            ))
        if "mlflow" in args.peers:
            try:
                service, figures["mlflow_info"] = mlflow_service(pipeline, records, work)
                services.append(service)
            except Exception as exc:
                print(f"mlflow skipped: {exc}", file=sys.stderr)
                figures["mlflow"] = {"error": str(exc)[-2000:]}
        for service in services:
            print(f"measuring {service.name}...", file=sys.stderr)
            try:
                figures[service.name] = measure_service(service, records, work, args)
            except Exception as exc:
                if service.name not in ("mlflow",):
                    raise
                print(f"{service.name} failed: {exc}", file=sys.stderr)
                figures[service.name] = {"error": str(exc)[-2000:]}
        figures["parity"] = parity(figures)
        figures["ratios"] = ratios(figures)
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    for fig in figures.values():
        if isinstance(fig, dict):
            fig.pop("answers", None)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print_report(figures)


if __name__ == "__main__":
    main()
