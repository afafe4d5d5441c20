"""Who ran which code, tags, notes, filters, compare and reproduce, on small Python pipelines.

Everything runs for real: a git repository made in the test's folder (with a
remote whose URL holds credentials), a project with its SQLite file and
artifact folder, the ``shipyard`` command in subprocesses.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

from shipyard.client import Client
from shipyard.engine.provenance import current_user
from shipyard.reproduce import ReproduceError, ReproduceWarning
from tests.helpers import run_cli, write_module
from tests.integration.support import assert_user_error, cli_json, query

SCORED = """
from shipyard import log_metrics, pipeline, step


@step
def load(n: int = 5) -> list:
    return list(range(n))


@step
def score(values: list) -> float:
    accuracy = len(values) / 10
    log_metrics(accuracy=accuracy, loss=1 - accuracy, rows=len(values))
    return accuracy


@pipeline
def scored(n: int = 5):
    score(load(n=n))
"""

FAILING = """
from shipyard import pipeline, step


@step
def boom() -> int:
    raise ValueError("no")


@pipeline
def failing():
    boom()
"""


@pytest.fixture(autouse=True)
def _forget_project_modules(project: Path) -> Iterator[None]:
    yield
    for name, module in list(sys.modules.items()):
        if (getattr(module, "__file__", None) or "").startswith(str(project)):
            del sys.modules[name]
    current_user.cache_clear()


def git(folder: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-c", "user.name=Ann", "-c", "user.email=ann@example.com", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return out.stdout.strip()


def git_project(folder: Path) -> str:
    """Make ``folder`` a git repository with the pipeline committed; returns the commit."""
    write_module(folder, "scored", SCORED)
    (folder / ".gitignore").write_text(".shipyard/\n__pycache__/\n")
    git(folder, "init", "-q", ".")
    git(folder, "remote", "add", "origin", "https://ann:s3cr3t-token@git.example.com/team/scored.git")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "first")
    return git(folder, "rev-parse", "HEAD")


# -- who, what, which code ----------------------------------------------------------------------


def test_a_dirty_tree_is_stored_as_a_diff_artifact_and_the_remote_has_no_credentials(
    project: Path, client: Client
) -> None:
    commit = git_project(project)
    clean = client.run("scored.py:scored").raise_for_status()
    record = client.get_run(clean.run_id)
    assert (record.git_commit, record.git_dirty, record.git_diff_id) == (commit, False, None)
    assert record.git_remote == "https://git.example.com/team/scored.git"
    assert "s3cr3t" not in json.dumps(query(project, "SELECT * FROM runs")[0]["git_remote"])

    # A committed file changes and an untracked one appears.
    source = (project / "scored.py").read_text()
    (project / "scored.py").write_text(source.replace("len(values) / 10", "len(values) / 20"))
    (project / "notes.txt").write_text("scratch\n")
    sys.modules.pop("scored", None)
    dirty = client.run("scored.py:scored").raise_for_status()
    record = client.get_run(dirty.run_id)
    assert record.git_dirty is True and record.git_diff_id
    artifact = client.get_artifact(record.git_diff_id)
    assert artifact.data_type == "builtins.bytes"

    shown = run_cli("runs", "show", dirty.run_id, cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert record.git_diff_id[:16] in shown.stdout and "uncommitted changes" in shown.stdout
    assert "https://git.example.com/team/scored.git" in shown.stdout

    exported = run_cli("artifacts", "export", record.git_diff_id[:12], "changes.diff", cwd=project)
    assert exported.returncode == 0, exported.stderr
    patch = (project / "changes.diff").read_text()
    assert f"against {commit}" in patch
    assert "-    accuracy = len(values) / 10" in patch and "+    accuracy = len(values) / 20" in patch
    assert "#   notes.txt" in patch  # listed, not included
    # It is a real patch: undoing it in the work tree applies cleanly.
    (project / "changes.diff").rename(project.parent / f"{project.name}.diff")
    git(project, "apply", "--check", "-R", str(project.parent / f"{project.name}.diff"))


def test_a_huge_diff_is_cut_with_a_note(project: Path, client: Client) -> None:
    git_project(project)
    big = project / "big.txt"
    big.write_text("x\n")
    git(project, "add", "big.txt")
    git(project, "commit", "-q", "-m", "big")
    big.write_text("line of text that changes\n" * 300_000)  # ~7.8 MB of patch
    run = client.run("scored.py:scored").raise_for_status()
    patch = client.load_artifact(client.get_run(run.run_id).git_diff_id)
    assert len(patch) < 5_100_000
    assert b"cut off there" in patch.split(b"diff --git", 1)[0]


def test_environment_lists_the_installed_main_packages(client: Client) -> None:
    write_module(Path.cwd(), "scored", SCORED)
    run = client.get_run(client.run("scored.py:scored").raise_for_status().run_id)
    packages = run.environment["packages"]
    for name in ("shipyard", "numpy", "pandas", "pyarrow", "scikit-learn"):
        assert packages[name] == version(name)
    for name, recorded in packages.items():  # only what is installed
        assert version(name) == recorded


# -- filters, tags and notes --------------------------------------------------------------------


def test_runs_list_filters_by_pipeline_user_status_tag_and_time(
    project: Path, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module(project, "scored", SCORED)
    write_module(project, "failing", FAILING)
    first = client.run("scored.py:scored").run_id
    monkeypatch.setenv("SHIPYARD_USER", "bea")
    current_user.cache_clear()
    failed = client.run("failing.py:failing").run_id
    time.sleep(0.05)
    between = time.time()
    time.sleep(0.05)
    last = client.run("scored.py:scored", params={"n": 7}).run_id
    client.tag_run(first, "baseline", "paper")
    client.tag_run(last, "paper")

    def ids(**filters: object) -> list[str]:
        return [r.id for r in client.runs(**filters)]  # type: ignore[arg-type]

    assert ids() == [last, failed, first]
    assert ids(pipeline="scored") == [last, first]
    assert ids(user="tester") == [first]
    assert ids(user="bea", status="failed") == [failed]
    assert ids(tags=["paper"]) == [last, first]
    assert ids(tags=["paper", "baseline"]) == [first]  # all must match
    assert ids(tags=["paper"], user="bea") == [last]
    assert ids(since=between) == [last]
    assert ids(until=dt.datetime.fromtimestamp(between)) == [failed, first]
    assert ids(since="1h") == [last, failed, first]
    assert ids(until="1h") == []
    today = dt.date.today()
    assert ids(until=today.isoformat()) == [last, failed, first]  # that day included
    assert ids(since=(today + dt.timedelta(days=1)).isoformat()) == []

    # The command line takes the same filters.
    stamp = dt.datetime.fromtimestamp(between).isoformat()
    listed = cli_json("runs", "list", "--tag", "paper", "--tag", "baseline", "--since", "2d", cwd=project)
    assert [r["id"] for r in listed] == [first] and listed[0]["tags"] == ["baseline", "paper"]
    listed = cli_json("runs", "list", "--until", stamp, "--user", "bea", "--status", "failed", cwd=project)
    assert [r["id"] for r in listed] == [failed]
    listed = cli_json("runs", "list", "--since", stamp, "--pipeline", "scored", cwd=project)
    assert [r["id"] for r in listed] == [last]

    table = run_cli("runs", "list", "--tag", "paper", cwd=project)
    assert "baseline, paper" in table.stdout and failed[:8] not in table.stdout
    none = run_cli("runs", "list", "--user", "nobody", cwd=project)
    assert none.returncode == 0 and "No runs match" in none.stdout
    assert_user_error(run_cli("runs", "list", "--since", "last tuesday", cwd=project), "--since", "3d")


def test_tags_and_notes_on_runs(project: Path, client: Client) -> None:
    write_module(project, "scored", SCORED)
    run_id = client.run("scored.py:scored").run_id
    tagged = cli_json("runs", "tag", run_id[:6], "baseline", "v1", cwd=project)
    assert tagged == {"run_id": run_id, "tags": ["baseline", "v1"]}
    assert cli_json("runs", "tag", "latest", "v1", "--remove", cwd=project)["tags"] == ["baseline"]
    assert_user_error(
        run_cli("runs", "tag", run_id, "v9", "--remove", cwd=project), "has no tag 'v9'", "baseline"
    )
    assert_user_error(run_cli("runs", "tag", run_id, "two words", cwd=project), "'two words'")

    noted = run_cli("runs", "note", run_id, "first try, learning rate too high", cwd=project)
    assert noted.returncode == 0, noted.stderr
    run_cli("runs", "note", run_id, "kept as the baseline", cwd=project, env={"SHIPYARD_USER": "bea"})
    assert_user_error(run_cli("runs", "note", run_id, "  ", cwd=project), "empty")

    shown = cli_json("runs", "show", run_id, cwd=project)
    assert shown["tags"] == ["baseline"]
    assert [(n["user"], n["text"]) for n in shown["notes"]] == [
        ("tester", "first try, learning rate too high"),
        ("bea", "kept as the baseline"),
    ]
    assert shown["notes"][0]["created_at"] <= shown["notes"][1]["created_at"]
    text = run_cli("runs", "show", run_id, cwd=project).stdout
    assert "tags          baseline" in text
    assert "tester: first try, learning rate too high" in text and "bea: kept as the baseline" in text

    # Deleting the run deletes its tags and notes.
    client.metadata_store.delete_run(run_id)
    assert query(project, "SELECT COUNT(*) FROM run_tags")[0][0] == 0
    assert query(project, "SELECT COUNT(*) FROM run_notes")[0][0] == 0


def test_latest_tilde_n_names_earlier_runs(project: Path, client: Client) -> None:
    write_module(project, "scored", SCORED)
    ids = [client.run("scored.py:scored", params={"n": n}).run_id for n in (1, 2, 3)]
    assert [client.get_run(ref).id for ref in ("latest", "latest~1", "latest~2")] == ids[::-1]
    assert_user_error(run_cli("runs", "show", "latest~3", cwd=project), "latest~3")


# -- compare ------------------------------------------------------------------------------------


def test_runs_compare_sorts_by_the_metric_direction(project: Path, client: Client) -> None:
    write_module(project, "scored", SCORED)
    ids = {n: client.run("scored.py:scored", params={"n": n}).run_id for n in (3, 8, 5)}

    by_accuracy = cli_json("runs", "compare", "--pipeline", "scored", "--sort", "accuracy", cwd=project)
    assert [r["id"] for r in by_accuracy["runs"]] == [ids[8], ids[5], ids[3]]  # higher is better
    assert by_accuracy["sort"] == {"metric": "accuracy", "direction": "max"}
    assert by_accuracy["params"] == ["load.n", "n"]  # only what differs: the step's and the pipeline's
    assert by_accuracy["runs"][0]["metrics"]["accuracy"] == pytest.approx(0.8)

    by_loss = cli_json("runs", "compare", ids[3], ids[5], ids[8], "--sort", "loss", cwd=project)
    assert [r["id"] for r in by_loss["runs"]] == [ids[8], ids[5], ids[3]]  # lower is better
    assert by_loss["sort"]["direction"] == "min"

    last_two = client.compare_runs(pipeline="scored", last=2, sort="rows")
    assert [r["id"] for r in last_two["runs"]] == [ids[5], ids[8]]  # the newest two, fewest rows first

    table = run_cli("runs", "compare", "--pipeline", "scored", "--sort", "accuracy", cwd=project)
    assert table.returncode == 0, table.stderr
    lines = [line for line in table.stdout.splitlines() if any(i[:8] in line for i in ids.values())]
    assert [next(i for i in ids.values() if i[:8] in line) for line in lines] == [ids[8], ids[5], ids[3]]
    assert_user_error(
        run_cli("runs", "compare", "--pipeline", "scored", "--sort", "f1", cwd=project),
        "No metric 'f1'", "accuracy",
    )


# -- reproduce ----------------------------------------------------------------------------------


def test_reproduce_a_python_run_records_what_it_reproduces(project: Path, client: Client) -> None:
    git_project(project)
    original = client.run("scored.py:scored", params={"n": 6}).raise_for_status()
    client.run("scored.py:scored", params={"n": 2}).raise_for_status()  # later runs do not matter

    out = cli_json("reproduce", original.run_id[:8], cwd=project)
    assert out["reproduces"] == original.run_id and out["status"] == "completed"
    assert out["same_metrics"] is True and out["metrics_differing"] == [] and out["warnings"] == []
    again = client.get_run(out["run_id"])
    assert again.reproduces == original.run_id
    assert client.params(again) == client.params(original.run_id)
    assert {s.status for s in client.step_runs(again)} == {"completed"}  # no cache by default

    listed = run_cli("runs", "list", cwd=project)
    assert f"(reproduces {original.run_id[:8]})" in " ".join(listed.stdout.split())
    assert f"reproduces    run {original.run_id}" in run_cli("runs", "show", "latest", cwd=project).stdout

    diff = cli_json("runs", "diff", original.run_id, again.id, cwd=project)
    assert diff["config"] == [] and diff["params"] == [] and diff["same_metrics"] is True
    assert diff["b"]["reproduces"] == original.run_id and diff["code"]["same"] is True

    cached = client.reproduce(original.run_id, cache=True)
    assert {s.status for s in cached.steps.values()} == {"cached"}


def test_reproduce_refuses_another_commit_unless_forced(project: Path, client: Client) -> None:
    first = git_project(project)
    original = client.run("scored.py:scored").raise_for_status()
    (project / "README.md").write_text("changed\n")
    git(project, "add", "README.md")
    git(project, "commit", "-q", "-m", "second")
    second = git(project, "rev-parse", "HEAD")

    refused = run_cli("reproduce", original.run_id, cwd=project)
    assert_user_error(refused, f"commit {first}", f"at {second}", "--force")
    with pytest.raises(ReproduceError, match=second):
        client.reproduce(original.run_id)
    assert len(client.runs()) == 1  # nothing ran

    forced = run_cli("reproduce", original.run_id, "--force", cwd=project)
    assert forced.returncode == 0, forced.stderr
    flat = " ".join(forced.stderr.split())
    assert "Warning:" in flat and first in flat and second in flat
    assert "Reproduced: all 3 metrics equal" in " ".join(forced.stdout.split())
    with pytest.warns(ReproduceWarning, match="--force"):
        client.reproduce(original.run_id, force=True)
    assert [r.reproduces for r in client.runs()][:2] == [original.run_id, original.run_id]


def test_reproduce_refuses_what_cannot_be_reproduced(project: Path, client: Client) -> None:
    from shipyard.engine.loader import load_pipeline

    write_module(project, "scored", SCORED)
    built = client.run(load_pipeline("scored.py:scored")).run_id  # a pipeline object: no target
    assert_user_error(run_cli("reproduce", built, cwd=project), "no target")
    assert_user_error(run_cli("reproduce", "nope", cwd=project), "nope")
