"""A real Dask cluster for the session: ``dask scheduler`` and two ``dask worker`` processes.

They listen on 127.0.0.1 and run in their own folder (so nothing in this
repository is importable on the workers by accident), with one thread each
and the scheduler's allowed-failures at 1: a step whose worker dies is tried
once more, on another worker, and a second death fails it. Each worker runs
under a nanny, so a worker process a test kills is replaced. Every wait is
bounded; the processes are stopped when the session ends.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

WORKERS = 2
ALLOWED_FAILURES = 1
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


@dataclass
class DaskCluster:
    """The session's cluster: its scheduler address and a client to inspect it."""

    address: str
    folder: Path
    client: Any

    def worker_pids(self) -> dict[str, int]:
        """Worker address -> pid of the worker process (not its nanny), as each reports it."""
        return {address: int(pid) for address, pid in self.client.run(os.getpid).items()}

    def wait_for_workers(self, n: int = WORKERS, timeout: float = START_TIMEOUT) -> None:
        """Block until ``n`` workers are connected (after a kill, the nanny restarts one)."""
        self.client.wait_for_workers(n, timeout=timeout)

    def scheduler_tasks(self) -> list[str]:
        """Keys of the tasks the scheduler knows."""
        # A lambda travels by value: the scheduler cannot import this module.
        keys = self.client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.tasks))
        return [str(k) for k in keys]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """The session's cluster; its logs are in ``<folder>/*.log``."""
    folder = tmp_path_factory.mktemp("dask-cluster")
    address = f"tcp://127.0.0.1:{_free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update({
        "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(ALLOWED_FAILURES),
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    })
    commands = [
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
        *(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
             "--nworkers", "1", "--host", "127.0.0.1", "--no-dashboard", "--name", f"worker-{i}",
             "--death-timeout", "60"]
            for i in range(WORKERS)
        ),
    ]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for i, command in enumerate(commands):
            log = (folder / f"{'scheduler' if i == 0 else f'worker-{i - 1}'}.log").open("wb")
            processes.append(
                subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
            )
            log.close()
        client = distributed.Client(address, timeout=START_TIMEOUT, set_as_default=False)
        try:
            client.wait_for_workers(WORKERS, timeout=START_TIMEOUT)
            yield DaskCluster(address, folder, client)
        finally:
            client.close()
    finally:
        _stop(processes)
