"""The artifact store on a real S3-compatible server (moto's, on 127.0.0.1).

Artifacts one process writes are read by another; an artifact is visible
only once complete (its manifest is uploaded last), so a writer killed just
before the manifest leaves nothing visible and a re-run completes it; a team
stack (PostgreSQL + S3) runs a pipeline in one process and serves its outputs
to another process with an empty download cache.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shipyard.client import Client
from shipyard.errors import ArtifactNotFound, StoreError
from shipyard.stackfile import StackEntry, register_stack
from shipyard.stores.artifacts import MANIFEST, ArtifactStore
from tests.helpers import write_module
from tests.integration.support import cli_env, cli_json

pytestmark = pytest.mark.slow

TIMEOUT = 120


def python(script: str, *args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a Python script in a fresh process (with Shipyard's test environment + ``env``)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=cwd, env=cli_env(env), capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )


def test_an_artifact_written_by_one_process_is_read_by_another(s3_url, s3_server, tmp_path):
    writer = python(
        """
        import sys
        from shipyard.stores.artifacts import ArtifactStore

        store = ArtifactStore(sys.argv[1])
        stored = store.put_bytes(b"hello from the writer" * 1000, "greeting.txt")
        print(stored.id)
        """,
        s3_url, cwd=tmp_path, env=s3_server.env,
    )
    assert writer.returncode == 0, writer.stderr
    artifact_id = writer.stdout.strip()

    reader = python(
        """
        import sys
        from shipyard.stores.artifacts import ArtifactStore

        store = ArtifactStore(sys.argv[1])
        assert store.exists(sys.argv[2])
        folder = store.local_path(sys.argv[2])
        sys.stdout.write((folder / "greeting.txt").read_text()[:21])
        """,
        s3_url, artifact_id, cwd=tmp_path, env={**s3_server.env, "TMPDIR": str(tmp_path)},
    )
    assert reader.returncode == 0, reader.stderr
    assert reader.stdout == "hello from the writer"
    assert (tmp_path / "shipyard-artifact-cache" / artifact_id / "greeting.txt").is_file()  # downloaded

    bucket_root = s3_url.removeprefix("s3://")
    keys = sorted(p.removeprefix(bucket_root + "/") for p in s3_server.filesystem().find(bucket_root))
    assert keys == [
        f"{artifact_id[:2]}/{artifact_id}/{MANIFEST}",
        f"{artifact_id[:2]}/{artifact_id}/greeting.txt",
    ]


def test_a_write_killed_before_its_manifest_leaves_nothing_visible(s3_url, s3_server, tmp_path):
    # The process dies (SIGKILL) at the moment it would upload the manifest:
    # its data files are in the bucket, the manifest is not.
    killed = python(
        """
        import os
        import signal
        import sys
        from shipyard.stores.artifacts import ArtifactStore

        store = ArtifactStore(sys.argv[1])
        store.fs.pipe_file = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
        store.put_bytes(b"x" * 200_000, "data.bin")
        print("not reached")
        """,
        s3_url, cwd=tmp_path, env=s3_server.env,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "not reached" not in killed.stdout
    bucket_root = s3_url.removeprefix("s3://")
    left = s3_server.filesystem().find(bucket_root)
    assert len(left) == 1 and left[0].endswith("/data.bin")  # the upload got that far
    artifact_id = left[0].split("/")[-2]

    store = ArtifactStore(s3_url)
    assert not store.exists(artifact_id)
    with pytest.raises(ArtifactNotFound, match=rf"Artifact {artifact_id[:12]} is not in the artifact store"):
        store.local_path(artifact_id)

    stored = store.put_bytes(b"x" * 200_000, "data.bin")  # the same content again
    assert stored.id == artifact_id
    assert store.exists(artifact_id)
    assert (store.local_path(artifact_id) / "data.bin").read_bytes() == b"x" * 200_000
    assert sorted(p.rsplit("/", 1)[1] for p in s3_server.filesystem().find(bucket_root)) == [MANIFEST, "data.bin"]


def test_a_missing_bucket_is_a_store_error(s3_url):
    bucket = s3_url.removeprefix("s3://").split("/")[0]
    with pytest.raises(StoreError, match=rf"The bucket 'no-{bucket}' of the artifact store .* does not exist") as exc:
        ArtifactStore(f"s3://no-{bucket}/artifacts")
    assert "SHIPYARD_S3_ENDPOINT_URL" in (exc.value.hint or "")


def test_the_endpoint_can_be_a_stack_option_and_credentials_references(s3_url, s3_server, monkeypatch, tmp_path):
    monkeypatch.delenv("SHIPYARD_S3_ENDPOINT_URL")
    monkeypatch.setenv("MY_KEY", s3_server.env["AWS_ACCESS_KEY_ID"])
    monkeypatch.setenv("MY_SECRET", s3_server.env["AWS_SECRET_ACCESS_KEY"])
    options = {"endpoint_url": s3_server.endpoint, "key": "${MY_KEY}", "secret": "${MY_SECRET}"}
    store = ArtifactStore(s3_url, options=options)
    stored = store.put_bytes(b"configured by the stack")
    assert store.options == options  # kept with the references
    assert ArtifactStore(s3_url, options=options).local_path(stored.id).joinpath("data.bin").read_bytes() == (
        b"configured by the stack"
    )
    monkeypatch.delenv("MY_SECRET")
    with pytest.raises(StoreError, match=r"option 'secret' refers to \$\{MY_SECRET\}, which is not set"):
        ArtifactStore(s3_url, options=options)


PIPELINE = """
import pandas as pd

from shipyard import log_metrics, pipeline, step


@step
def make(n: int = 50) -> pd.DataFrame:
    return pd.DataFrame({"x": list(range(n)), "y": [i * 0.5 for i in range(n)]})


@step
def summarize(frame: pd.DataFrame) -> dict:
    log_metrics(rows=len(frame))
    return {"rows": len(frame), "total": int(frame["x"].sum())}


@pipeline
def p(n: int = 50):
    summarize(make(n=n))
"""


def test_a_team_stack_runs_in_one_process_and_is_read_in_another(
    s3_url, s3_server, postgres_url, postgres_server, tmp_path, monkeypatch
):
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    for home in (alice, bob):
        home.mkdir()
        write_module(home, "pipe", PIPELINE)
        Client(home, create=True).close()
        register_stack(
            home,
            StackEntry("team", s3_url, postgres_url, options={"artifacts.endpoint_url": s3_server.endpoint}),
        )
    credentials = {k: v for k, v in s3_server.env.items() if k != "SHIPYARD_S3_ENDPOINT_URL"}
    result = cli_json("--stack", "team", "run", "pipe.py:p", "-p", "n=40", cwd=alice, env=credentials)
    assert result["status"] == "completed"
    outputs = {name: step["outputs"]["output"] for name, step in result["steps"].items()}

    reader = python(
        """
        import json
        import sys
        from shipyard import Client

        with Client(stack="team") as client:
            frame = client.load_output(sys.argv[1], "make")
            print(json.dumps({
                "summary": client.load_output(sys.argv[1], "summarize"),
                "rows": len(frame),
                "uri": client.get_artifact(client.step_run(sys.argv[1], "make").outputs["output"]).uri,
            }))
        """,
        result["run_id"], cwd=bob, env={**credentials, "TMPDIR": str(tmp_path)},
    )
    assert reader.returncode == 0, reader.stderr
    seen = json.loads(reader.stdout)
    assert seen["summary"] == {"rows": 40, "total": sum(range(40))}
    assert seen["rows"] == 40
    assert seen["uri"] == f"{s3_url}/{outputs['make'][:2]}/{outputs['make']}"

    # Nothing went to either project's embedded stores; the records are in PostgreSQL
    # and every artifact is complete in the bucket.
    for home in (alice, bob):
        assert not list((home / ".shipyard" / "artifacts").glob("??/*"))
    database = postgres_url.rsplit("/", 1)[1]
    assert postgres_server.query(database, "SELECT id, status FROM runs") == [(result["run_id"], "completed")]
    fs = s3_server.filesystem()
    for artifact_id, uri in postgres_server.query(database, "SELECT id, uri FROM artifacts"):
        assert artifact_id in outputs.values()
        assert fs.exists(f"{uri.removeprefix('s3://')}/{MANIFEST}")
