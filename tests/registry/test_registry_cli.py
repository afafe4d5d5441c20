"""``shipyard models ...`` in subprocesses, as a user types them, on a real SQLite project.

Every command and its JSON, the history shown with who, when, from/to and
why, the errors (exit 2, one message, no traceback), and concurrent
promotions from several processes that leave exactly one production version.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from shipyard.client import Client
from tests.ml.support import assert_user_error, cli, isolated
from tests.registry.conftest import TwoRuns
from tests.serving.support import cli_env

pytestmark = pytest.mark.slow


def _json(*args: str, two_runs: TwoRuns) -> object:
    done = cli(*args, "--json", cwd=two_runs.folder)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_every_models_command(two_runs: TwoRuns) -> None:
    weak_run, strong_run = two_runs.runs
    folder = two_runs.folder

    registered = cli("models", "register", "cli-model", weak_run[:10], "--reason", "baseline", cwd=folder)
    assert registered.returncode == 0, registered.stderr
    assert "Registered cli-model v1" in registered.stdout
    assert f"run {weak_run}" in registered.stdout
    again = _json("models", "register", "cli-model", two_runs.bundles[0], two_runs=two_runs)
    assert again["version"] == 1 and again["created"] is False  # its bundle: the same version
    second = _json(
        "models", "register", "cli-model", "latest", "--stage", "staging", "--alias", "candidate", two_runs=two_runs
    )
    assert (second["version"], second["stage"], second["aliases"], second["created"]) == (2, "staging", ["candidate"], True)
    assert second["run_id"] == strong_run

    listed = _json("models", "list", two_runs=two_runs)
    mine = next(m for m in listed if m["name"] == "cli-model")
    assert (mine["versions"], mine["latest"], mine["production"], mine["staging"]) == (2, 2, None, [2])
    table = cli("models", "list", cwd=folder).stdout
    assert "cli-model" in table and "candidate=v2" in table

    promoted = cli("models", "promote", "cli-model", "1", "--stage", "production", "-m", "ship it", cwd=folder)
    assert promoted.returncode == 0, promoted.stderr
    assert "cli-model v1: none -> production" in promoted.stdout
    promoted = cli("models", "promote", "cli-model", "candidate", "--stage", "production", "--reason", "better", cwd=folder)
    assert "cli-model v2: staging -> production (v1: production -> archived)" in promoted.stdout

    aliased = cli("models", "alias", "cli-model", "champion", "2", cwd=folder)
    assert "cli-model@champion -> v2" in aliased.stdout
    moved = _json("models", "alias", "cli-model", "champion", "1", two_runs=two_runs)
    assert moved == {"model": "cli-model", "alias": "champion", "version": 1, "previous": 2}
    removed = cli("models", "alias", "cli-model", "champion", "--remove", cwd=folder)
    assert "Removed alias champion of cli-model (it pointed at v1)." in removed.stdout

    rolled = _json("models", "rollback", "cli-model", "--reason", "v2 is slow", two_runs=two_runs)
    assert rolled["version"]["version"] == 1 and rolled["version"]["stage"] == "production"
    assert rolled["replaced"]["version"] == 2 and rolled["replaced"]["stage"] == "archived"

    shown = _json("models", "show", "cli-model", two_runs=two_runs)
    assert [(v["version"], v["stage"]) for v in shown["versions"]] == [(2, "archived"), (1, "production")]
    assert shown["versions"][1]["run_id"] == weak_run
    assert shown["versions"][0]["data_version"] == shown["versions"][1]["data_version"]
    assert "eval.roc_auc" in shown["versions"][0]["metrics"]
    rollback = shown["history"][-1]
    assert (rollback["kind"], rollback["version"], rollback["from_value"], rollback["to_value"]) == (
        "rollback", 1, "archived", "production"
    )
    assert (rollback["user"], rollback["reason"]) == ("tester", "v2 is slow")

    text = cli("models", "show", "cli-model", cwd=folder)
    assert text.returncode == 0, text.stderr
    flat = " ".join(text.stdout.split())
    for needle in (
        "Model cli-model", "production v1", "archived -> production (rollback)", "v2 is slow",
        "staging -> production", "better", "replaced by v2", "registered (run", "eval.roc_auc", "tester",
    ):
        assert needle in flat, f"{needle!r} not in:\n{text.stdout}"
    one = _json("models", "show", "cli-model@production", two_runs=two_runs)
    assert one["version"] == 1 and {e["kind"] for e in one["history"]} >= {"register", "stage", "rollback"}
    version_text = cli("models", "show", "cli-model@2", cwd=folder).stdout
    assert "cli-model v2" in version_text and second["bundle_id"] in version_text


def test_user_mistakes_exit_2_with_one_message(two_runs: TwoRuns) -> None:
    folder = two_runs.folder
    with isolated(folder), Client(folder) as client:
        client.models.register("mistakes", two_runs.runs[0], alias="champion")
    assert_user_error(cli("models", "show", "mistaks", cwd=folder), "No model named 'mistaks'", "did you mean 'mistakes'?")
    assert_user_error(
        cli("models", "promote", "mistakes", "1", "--stage", "prod", cwd=folder),
        "'prod' is not a stage; did you mean 'production'?",
    )
    assert_user_error(cli("models", "rollback", "mistakes", cwd=folder), "no earlier production version")
    assert_user_error(cli("models", "alias", "mistakes", "candidate", cwd=folder), "Give the VERSION")
    assert_user_error(cli("models", "register", "mistakes", "0000dead", cwd=folder), "No model bundle or run matches")
    assert_user_error(cli("serve", "mistakes@staging", cwd=folder), "No version of 'mistakes' is in staging")


PROMOTE = """
import sys, time
from shipyard.client import Client

start, version = float(sys.argv[1]), sys.argv[2]
time.sleep(max(0.0, start - time.time()))
with Client() as client:
    for _ in range(5):
        client.models.promote("racing", version, "production")
        client.models.promote("racing", version, "staging")
    client.models.promote("racing", version, "production")
"""


def test_concurrent_promotions_leave_one_production_version(two_runs: TwoRuns) -> None:
    folder = two_runs.folder
    with isolated(folder), Client(folder) as client:
        for run in two_runs.runs:
            client.models.register("racing", run)
    start = time.time() + 2.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PROMOTE, str(start), version], cwd=folder, env=cli_env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for version in ("1", "2", "1", "2")
    ]
    try:
        outputs = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out + err
    with isolated(folder), Client(folder) as client:
        versions = client.models.versions("racing")
        assert sorted(v.stage for v in versions).count("production") == 1
        # Replaying the history gives the stages the versions are in.
        stages = {v.version: "none" for v in versions}
        for event in client.models.history("racing"):
            if event.kind in ("stage", "rollback"):
                assert stages[event.version] == event.from_value
                stages[event.version] = str(event.to_value)
                assert list(stages.values()).count("production") <= 1
        assert stages == {v.version: v.stage for v in versions}
    shown = cli("models", "list", "--json", cwd=folder)
    assert next(m for m in json.loads(shown.stdout) if m["name"] == "racing")["production"] in (1, 2)
