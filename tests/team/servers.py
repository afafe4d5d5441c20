"""Throwaway servers for the shared-store tests: PostgreSQL and an S3-compatible one.

Both listen on 127.0.0.1 on a free port, live in a temporary folder, are
waited for with bounded timeouts, and are stopped (and their folder removed)
by :meth:`stop`. Nothing here is mocked: the PostgreSQL server is the real
``postgres`` of the machine, started with ``initdb``/``pg_ctl``; the S3 server
is moto's standalone server in its own process.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
PASSWORD_ROLE = "shipyard_pw"
PASSWORD = "p@ss/w:rd%1"  # characters that would break a URL if pasted into one


class ServerUnavailable(Exception):
    """The server cannot be started here; the message says why."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- PostgreSQL -------------------------------------------------------------------


def find_postgres_bin() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``: on PATH, else Debian's layout.

    Raises:
        ServerUnavailable: when PostgreSQL's server programs are not installed.
    """
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(os.path.realpath(initdb)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0,
    )
    for path in reversed(candidates):
        folder = Path(path).parent
        if (folder / "pg_ctl").exists():
            return folder
    raise ServerUnavailable(
        "initdb/pg_ctl not found on PATH or in /usr/lib/postgresql/*/bin "
        "(install PostgreSQL's server, e.g. the Debian package postgresql)"
    )


def _server_user() -> tuple[int, int] | None:
    """``(uid, gid)`` to run PostgreSQL as: it refuses to run as root."""
    if os.geteuid() != 0:
        return None
    import pwd

    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    raise ServerUnavailable("running as root and there is no 'postgres' or 'nobody' user to run it as")


def _reachable_temp(user: tuple[int, int] | None) -> str | None:
    """A temp folder the server's user can reach (the default one may be private to root)."""
    if user is None:
        return None
    base = Path(tempfile.gettempdir()).resolve()
    if all(folder.stat().st_mode & 0o001 for folder in (base, *base.parents)):
        return None
    return "/tmp"


@dataclass
class PostgresServer:
    """A PostgreSQL cluster of its own: ``initdb`` in a temp folder, ``pg_ctl start``."""

    bin: Path
    folder: Path
    port: int
    user: tuple[int, int] | None
    superuser: str = "shipyard"

    @classmethod
    def start(cls) -> PostgresServer:
        """Create and start a cluster.

        Raises:
            ServerUnavailable: when it cannot be set up here (the reason included).
        """
        bin_dir = find_postgres_bin()
        user = _server_user()
        folder = Path(tempfile.mkdtemp(prefix="shipyard-pg-", dir=_reachable_temp(user)))
        server = cls(bin_dir, folder, free_port(), user)
        try:
            if user is not None:
                os.chown(folder, *user)
                os.chmod(folder, 0o700)
            server._run(
                "initdb", "-D", str(folder / "data"), "-U", server.superuser,
                "--auth=trust", "--encoding=UTF8", "--no-sync", timeout=START_TIMEOUT,
            )
            hba = folder / "data" / "pg_hba.conf"
            # One role must log in with its password (the others are trusted).
            hba.write_text(
                f"host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n" + hba.read_text()
            )
            server._launch()
        except BaseException:
            server.stop()
            raise
        return server

    def _run(self, program: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            kwargs = {"user": self.user[0], "group": self.user[1], "extra_groups": []}
        try:
            result = subprocess.run(
                [str(self.bin / program), *args],
                capture_output=True, text=True, timeout=timeout, check=False,
                cwd=self.folder, env={**os.environ, "LC_ALL": "C", "TZ": "UTC"}, **kwargs,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ServerUnavailable(f"{program} failed: {exc}") from exc
        if result.returncode != 0:
            raise ServerUnavailable(
                f"{program} exited {result.returncode}: {(result.stderr or result.stdout).strip()[-800:]}"
            )
        return result

    def _launch(self) -> None:
        for attempt in range(3):
            options = (
                f"-h 127.0.0.1 -p {self.port} -k {self.folder} -F "
                "-c max_connections=300 -c shared_buffers=32MB"
            )
            try:
                self._run(
                    "pg_ctl", "-D", str(self.folder / "data"), "-l", str(self.folder / "server.log"),
                    "-w", "-t", str(int(START_TIMEOUT)), "-o", options, "start",
                    timeout=START_TIMEOUT + 10,
                )
                return
            except ServerUnavailable:
                log = self.folder / "server.log"
                text = log.read_text(errors="replace") if log.exists() else ""
                if attempt < 2 and "could not bind" in text:
                    self.port = free_port()  # someone took the port meanwhile
                    continue
                raise ServerUnavailable(f"pg_ctl start failed; server log:\n{text[-1500:]}") from None

    def url(self, database: str = "postgres", *, driver: bool = False) -> str:
        """SQLAlchemy URL of a database (``postgresql://``; with ``driver``, ``+psycopg``)."""
        scheme = "postgresql+psycopg" if driver else "postgresql"
        return f"{scheme}://{self.superuser}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> Any:
        """A psycopg connection (autocommit) to a database, independent of Shipyard."""
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.superuser, dbname=database,
            autocommit=True, connect_timeout=10,
        )

    def create_database(self, prefix: str = "t") -> str:
        """Create an empty database and return its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with self.connect() as conn:
            # A plain file copy of the template: quick with fsync off.
            conn.execute(f'CREATE DATABASE "{name}" STRATEGY FILE_COPY')
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, ending its connections (so that few files are left to remove)."""
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def password_login(self, database: str) -> tuple[str, str]:
        """``(role, password)`` of a role that must give its password, owning ``database``."""
        with self.connect() as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PASSWORD_ROLE,)).fetchall():
                conn.execute(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{PASSWORD}'")
            conn.execute(f'ALTER DATABASE "{database}" OWNER TO {PASSWORD_ROLE}')
        with self.connect(database) as conn:
            conn.execute(f"ALTER SCHEMA public OWNER TO {PASSWORD_ROLE}")
        return PASSWORD_ROLE, PASSWORD

    def query(self, database: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a query on a database, read with psycopg directly."""
        with self.connect(database) as conn:
            return list(conn.execute(sql, params).fetchall())

    def stop(self) -> None:
        """Stop the server at once and remove its folder."""
        data = self.folder / "data"
        if (data / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "-t",
                          str(int(STOP_TIMEOUT)), "stop", timeout=STOP_TIMEOUT + 10)
            except ServerUnavailable:
                _kill_postmaster(data / "postmaster.pid")
        shutil.rmtree(self.folder, ignore_errors=True)


def _kill_postmaster(pid_file: Path) -> None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, signal.SIGKILL)


# -- S3 (moto's server) -------------------------------------------------------------

#: Credentials the S3 server accepts (any are; these keep real AWS settings out).
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "shipyard-test",
    "AWS_SECRET_ACCESS_KEY": "shipyard-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass
class S3Server:
    """moto's standalone S3-compatible server in a process of its own."""

    endpoint: str
    process: subprocess.Popen[bytes]
    folder: Path

    @classmethod
    def start(cls) -> S3Server:
        """Start the server and wait until it answers.

        Raises:
            ServerUnavailable: when moto's server is not installed or does not come up.
        """
        try:
            import moto.server  # noqa: F401
        except ImportError as exc:
            raise ServerUnavailable(f"moto's server is not installed ({exc}; pip install 'moto[server]')") from exc
        folder = Path(tempfile.mkdtemp(prefix="shipyard-s3-"))
        last = ""
        for _attempt in range(3):
            port = free_port()
            log = (folder / "server.log").open("wb")
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=log, stderr=subprocess.STDOUT, cwd=folder, env={**os.environ, **S3_ENV},
            )
            log.close()
            server = cls(f"http://127.0.0.1:{port}", process, folder)
            if server._wait_ready():
                return server
            last = (folder / "server.log").read_text(errors="replace")[-1500:]
            server._terminate()
        shutil.rmtree(folder, ignore_errors=True)
        raise ServerUnavailable(f"moto's S3 server did not start:\n{last}")

    def _wait_ready(self) -> bool:
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2):
                    return True
            except urllib.error.HTTPError:
                return True  # it answers
            except OSError:
                time.sleep(0.1)
        return False

    @property
    def env(self) -> dict[str, str]:
        """Environment for a process that uses this server through Shipyard."""
        return {**S3_ENV, "SHIPYARD_S3_ENDPOINT_URL": self.endpoint}

    def filesystem(self) -> Any:
        """An s3fs filesystem on this server (no listing cache), to check things directly."""
        import s3fs

        return s3fs.S3FileSystem(
            key=S3_ENV["AWS_ACCESS_KEY_ID"], secret=S3_ENV["AWS_SECRET_ACCESS_KEY"],
            endpoint_url=self.endpoint, use_listings_cache=False, skip_instance_cache=True,
        )

    def create_bucket(self, prefix: str = "shipyard") -> str:
        """Create an empty bucket and return its name."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.filesystem().mkdir(name)
        return name

    def _terminate(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        self._terminate()
        shutil.rmtree(self.folder, ignore_errors=True)
