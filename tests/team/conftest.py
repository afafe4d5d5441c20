"""Fixtures for shared (team) stores: a real PostgreSQL server and a real S3 server.

* ``postgres_server`` (session): a throwaway PostgreSQL cluster on 127.0.0.1;
  ``postgres_url`` (per test): the URL of a new, empty database on it.
* ``s3_server`` (session): moto's S3-compatible server on 127.0.0.1;
  ``s3_url`` (per test): ``s3://<new bucket>/artifacts``, with the test's
  environment pointing Shipyard at the server (``SHIPYARD_S3_ENDPOINT_URL``
  and credentials), so ``ArtifactStore(s3_url)`` and ``Client`` just work.

When a server cannot be started here, the tests that need it are skipped
with the reason (``make test`` installs PostgreSQL when it can).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shipyard.stores.metadata import MetadataStore
from tests.team.servers import PostgresServer, S3Server, ServerUnavailable


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session (skips the test when none can be started)."""
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"PostgreSQL server not available: psycopg is not installed ({exc})")
    try:
        server = PostgresServer.start()
    except ServerUnavailable as exc:
        pytest.skip(f"PostgreSQL server not available: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL of a new empty database (``postgresql://shipyard@127.0.0.1:PORT/t_...``).

    The database is dropped after the test.
    """
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture
def meta(postgres_url: str) -> Iterator[MetadataStore]:
    """A metadata store on a new PostgreSQL database (the store tests of tests/unit take it)."""
    store = MetadataStore(postgres_url)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """An S3-compatible server for the session (skips the test when none can be started)."""
    try:
        import s3fs  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"S3 server not usable: s3fs is not installed ({exc})")
    try:
        server = S3Server.start()
    except ServerUnavailable as exc:
        pytest.skip(f"S3 server not available: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_url(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """``s3://<new bucket>/artifacts`` on the test server; this process's env points at it."""
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    return f"s3://{s3_server.create_bucket()}/artifacts"
