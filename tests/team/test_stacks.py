"""Named stacks: ``shipyard stack ...``, choosing a stack per command, secrets, ``stack migrate``.

The commands run in subprocesses on real project folders; the stores behind
the stacks are real (SQLite files, local folders, and the session's
PostgreSQL server for the shared-store behaviour).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml

from shipyard.client import Client
from shipyard.errors import ShipyardError, StackError, StoreError
from shipyard.stackfile import (
    StackEntry,
    load_stacks,
    parse_options,
    register_stack,
    remove_stack,
    use_stack,
    validate_entry,
)
from shipyard.stores.metadata import HEAD
from tests.helpers import run_cli, write_module
from tests.integration.support import assert_user_error, cli_json
from tests.team.support import old_store

pytestmark = pytest.mark.slow

PIPELINE = """
from shipyard import pipeline, step


@step
def numbers(n: int = 3) -> list:
    return list(range(n))


@step
def total(values: list) -> int:
    return sum(values)


@pipeline
def p(n: int = 3):
    total(numbers(n=n))
"""


def ok(result) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def register(root: Path, name: str, artifacts: str, metadata: str, *extra: str, env=None):
    return run_cli(
        "stack", "register", name, "--artifacts", artifacts, "--metadata", metadata, *extra,
        cwd=root, env=env,
    )


@pytest.fixture
def root(project: Path) -> Path:
    write_module(project, "pipe", PIPELINE)
    return project


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def run_ids(db: Path) -> list[str]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM runs ORDER BY started_at")]


# -- register, list, use, show, remove ---------------------------------------------


def test_register_list_use_show_remove(root: Path) -> None:
    other = root / "elsewhere"
    out = ok(register(
        root, "team", str(other / "artifacts"), sqlite_url(other / "meta.db"),
        "--orchestrator", "dask", "--option", "address=tcp://127.0.0.1:8786",
        "--option", "n_workers=2", "--option", "artifacts.auto_mkdir=true",
    ))
    assert "Registered the stack 'team'" in out
    assert "shipyard stack use team" in out

    saved = yaml.safe_load((root / ".shipyard" / "stacks.yaml").read_text())
    assert saved == {
        "stacks": {
            "team": {
                "artifacts": str(other / "artifacts"),
                "metadata": sqlite_url(other / "meta.db"),
                "orchestrator": "dask",
                "options": {"address": "tcp://127.0.0.1:8786", "n_workers": 2, "artifacts.auto_mkdir": True},
            }
        }
    }
    # The stack file is shared through git; the stores and the active stack are not.
    ignore = (root / ".shipyard" / ".gitignore").read_text().splitlines()
    assert "*" in ignore and "!stacks.yaml" in ignore and "!.gitignore" in ignore

    listed = cli_json("stack", "list", cwd=root)
    assert [(s["name"], s["in_use"]) for s in listed] == [("default", True), ("team", False)]
    assert listed[1]["options"] == {"address": "tcp://127.0.0.1:8786", "n_workers": 2, "artifacts.auto_mkdir": True}

    assert "Now using the stack 'team'" in ok(run_cli("stack", "use", "team", cwd=root))
    assert (root / ".shipyard" / "active-stack").read_text().strip() == "team"
    text = ok(run_cli("stack", "list", cwd=root))
    assert [line.split()[:2] for line in text.splitlines() if line.startswith("*")] == [["*", "team"]]
    shown = cli_json("stack", "show", cwd=root)
    assert (shown["name"], shown["orchestrator"], shown["chosen_by"]) == ("team", "dask", ".shipyard/active-stack")
    assert shown["metadata"] == sqlite_url(other / "meta.db")
    assert "chosen by .shipyard/active-stack" in ok(run_cli("stack", "show", cwd=root))
    default = cli_json("stack", "show", "default", cwd=root)
    assert default["in_use"] is False
    assert default["metadata"] == sqlite_url(root / ".shipyard" / "metadata.db")

    out = ok(run_cli("stack", "remove", "team", cwd=root))
    assert "It was the active stack here; commands now use 'default'" in out
    assert not (root / ".shipyard" / "active-stack").exists()
    assert [s["name"] for s in cli_json("stack", "list", cwd=root)] == ["default"]
    assert other.exists() is False  # never opened, never created


def test_register_refuses_duplicates_and_bad_input(root: Path) -> None:
    ok(register(root, "team", "shared/artifacts", sqlite_url(root / "t.db")))
    assert_user_error(
        register(root, "team", "x", sqlite_url(root / "u.db")),
        "A stack named 'team' exists already", "--force",
    )
    ok(register(root, "team", "x", sqlite_url(root / "u.db"), "--force"))
    assert load_stacks(root)["team"].artifacts == "x"
    assert_user_error(
        register(root, "t2", "x", "sqlite:///y.db", "--orchestrator", "spark"),
        "--orchestrator 'spark' is not an orchestrator", "dask", "local",
    )
    assert_user_error(run_cli("stack", "use", "t9", cwd=root), "No stack named 't9'", "stacks: default, team")

    def refused(entry: StackEntry, match: str) -> None:
        with pytest.raises(StackError, match=match):
            validate_entry(entry, known_orchestrators=["local", "dask"])

    refused(StackEntry("default", "x", "sqlite:///y.db"), "'default' is the project's embedded one")
    refused(StackEntry("a b", "x", "sqlite:///y.db"), "'a b' is not a valid stack name")
    refused(StackEntry("t2", "x", "not a url"), "--metadata 'not a url' is not a database URL")
    refused(StackEntry("t2", "nope://b/x", "sqlite:///y.db"), "nope:// is not a filesystem")
    with pytest.raises(StackError, match="expected KEY=VALUE"):
        parse_options(["address"])
    with pytest.raises(StackError, match="given twice"):
        parse_options(["a=1", "a=2"])
    assert parse_options(["n=2", "flag=true", "x=${N}", "url=tcp://h:1"]) == {
        "n": 2, "flag": True, "x": "${N}", "url": "tcp://h:1"
    }
    with pytest.raises(StackError, match="cannot be removed"):
        remove_stack(root, "default")
    with pytest.raises(StackError, match="No stack named 't9'"):
        remove_stack(root, "t9")
    (root / ".shipyard" / "stacks.yaml").write_text("stacks:\n  team: [1, 2]\n")
    with pytest.raises(StackError, match=r"stacks.yaml: stacks.team: expected a mapping"):
        load_stacks(root)
    (root / ".shipyard" / "stacks.yaml").write_text("stacks:\n  team: {artifacts: x, metadata: y, colour: z}\n")
    with pytest.raises(StackError, match=r"stacks.team: unknown key\(s\) \['colour'\]"):
        load_stacks(root)


def test_stack_commands_need_a_project(tmp_path: Path) -> None:
    assert_user_error(run_cli("stack", "list", cwd=tmp_path), "No .shipyard/ folder", "shipyard init")


# -- secrets --------------------------------------------------------------------------


def test_secrets_are_never_written_into_the_stack_file(root: Path) -> None:
    flat = assert_user_error(
        register(root, "team", "s3://bucket/x", "postgresql://ml:hunter2@db.example.com/shipyard"),
        "--metadata 'postgresql://ml:***@db.example.com/shipyard' contains the password written out",
        "postgresql://user:${PGPASSWORD}@host/db",
    )
    assert "hunter2" not in flat

    def refused(entry: StackEntry, *needles: str) -> None:
        with pytest.raises(StackError) as exc:
            validate_entry(entry)
        for needle in needles:
            assert needle in str(exc.value)
        assert "s3cret" not in str(exc.value)

    refused(StackEntry("team", "s3://key:s3cret@bucket/x", "sqlite:///y.db"), "--artifacts", "the password written out")
    refused(
        StackEntry("team", "x", "postgresql://ml@db/shipyard?sslpassword=s3cret"),
        "contains the parameter 'sslpassword' written out",
    )
    refused(
        StackEntry("team", "x", "sqlite:///y.db", options={"artifacts.secret": "s3cret"}),
        "--option artifacts.secret holds a secret written out", "'artifacts.secret=${MY_SECRET}'",
    )
    refused(StackEntry("team", "x", "sqlite:///y.db", options={"api_token": "s3cret"}), "--option api_token")
    assert not (root / ".shipyard" / "stacks.yaml").exists()

    ok(register(
        root, "team", "s3://bucket/x", "postgresql://ml:${PGPASSWORD}@db.example.com/shipyard",
        "--option", "artifacts.key=${AWS_ACCESS_KEY_ID}", "--option", "artifacts.secret=${AWS_SECRET_ACCESS_KEY}",
    ))
    text = (root / ".shipyard" / "stacks.yaml").read_text()
    assert "postgresql://ml:${PGPASSWORD}@db.example.com/shipyard" in text  # kept as a reference
    assert "artifacts.secret: ${AWS_SECRET_ACCESS_KEY}" in text
    shown = cli_json("stack", "show", "team", cwd=root)
    assert shown["metadata"] == "postgresql://ml:${PGPASSWORD}@db.example.com/shipyard"


def test_a_reference_to_an_unset_variable_fails_when_the_store_opens(root: Path) -> None:
    register_stack(root, StackEntry("team", "shared", "postgresql://ml:${SHIPYARD_TEST_NO_SUCH_VAR}@127.0.0.1:1/db"))
    flat = assert_user_error(
        run_cli("--stack", "team", "runs", "list", cwd=root),
        "refers to ${SHIPYARD_TEST_NO_SUCH_VAR}, which is not set in the environment",
    )
    assert "Store unavailable" in flat


def test_an_orchestrator_option_may_refer_to_a_variable(root: Path, monkeypatch) -> None:
    register_stack(root, StackEntry("team", "shared", sqlite_url(root / "t.db"), options={"flavour": "${SHIPYARD_TEST_FLAVOUR}"}))
    with Client(root, stack="team") as client:
        assert client.stack.orchestrator_options == {"flavour": "${SHIPYARD_TEST_FLAVOUR}"}
        with pytest.raises(StoreError, match=r"option 'flavour' refers to \$\{SHIPYARD_TEST_FLAVOUR\}"):
            client.run("pipe.py:p")
        monkeypatch.setenv("SHIPYARD_TEST_FLAVOUR", "mild")
        with pytest.raises(ShipyardError, match=r"does not take the option\(s\) \['flavour'\]"):
            client.run("pipe.py:p")  # expanded, then handed to the orchestrator


# -- which stack a command uses ----------------------------------------------------------


def test_precedence_env_urls_over_flag_over_active_over_default(root: Path, monkeypatch) -> None:
    register_stack(root, StackEntry("a", "store-a", sqlite_url(root / "a.db")))
    register_stack(root, StackEntry("b", "store-b", sqlite_url(root / "b.db")))

    def used(**kwargs) -> tuple[str, str, str]:
        with Client(root, **kwargs) as client:
            return client.stack.name, client.stack.metadata, client.stack.artifacts

    assert used() == ("default", sqlite_url(root / ".shipyard" / "metadata.db"), str(root / ".shipyard" / "artifacts"))
    use_stack(root, "a")
    assert used() == ("a", sqlite_url(root / "a.db"), str(root / "store-a"))  # relative to the project
    monkeypatch.setenv("SHIPYARD_STACK", "b")
    assert used()[0] == "b"
    assert used(stack="default")[0] == "default"  # an explicit name beats SHIPYARD_STACK
    monkeypatch.setenv("SHIPYARD_METADATA", sqlite_url(root / "env.db"))
    assert used(stack="a") == ("env", sqlite_url(root / "env.db"), str(root / "store-a"))
    monkeypatch.setenv("SHIPYARD_ARTIFACTS", str(root / "env-artifacts"))
    assert used(stack="a")[2] == str(root / "env-artifacts")

    with pytest.raises(StackError, match=r"No stack named 'zz'.*stacks: default, a, b"):
        Client(root, stack="zz")


def test_runs_go_to_the_chosen_stack(root: Path) -> None:
    register_stack(root, StackEntry("a", "store-a", sqlite_url(root / "a.db")))
    first = cli_json("--stack", "a", "run", "pipe.py:p", cwd=root)
    assert run_ids(root / "a.db") == [first["run_id"]]
    assert run_ids(root / ".shipyard" / "metadata.db") == []
    assert (root / "store-a").is_dir()

    second = cli_json("run", "pipe.py:p", cwd=root, env={"SHIPYARD_STACK": "a"})
    assert run_ids(root / "a.db") == [first["run_id"], second["run_id"]]

    use_stack(root, "a")
    listed = cli_json("runs", "list", cwd=root)
    assert [r["id"] for r in listed] == [second["run_id"], first["run_id"]]
    assert cli_json("--stack", "default", "runs", "list", cwd=root) == []

    assert_user_error(
        run_cli("--stack", "nope", "runs", "list", cwd=root), "No stack named 'nope'", "stacks: default, a"
    )
    (root / ".shipyard" / "active-stack").write_text("gone\n")
    assert_user_error(
        run_cli("runs", "list", cwd=root),
        "No stack named 'gone'", "this working copy's active stack (.shipyard/active-stack)", "shipyard stack use",
    )


# -- migrate -----------------------------------------------------------------------


def test_an_older_sqlite_store_is_upgraded_when_opened(root: Path) -> None:
    db = root / "old.db"
    old_store(sqlite_url(db), "0002")
    register_stack(root, StackEntry("old", "store-old", sqlite_url(db)))
    listed = cli_json("--stack", "old", "runs", "list", cwd=root)
    assert [r["id"] for r in listed] == ["r1"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD,)]
    out = ok(run_cli("stack", "migrate", "old", cwd=root))
    assert f"is at schema {HEAD} already" in out


def test_stack_migrate_upgrades_a_shared_store_that_is_refused_until_then(root: Path, postgres_url, postgres_server) -> None:
    old_store(postgres_url, "0002")
    register_stack(root, StackEntry("team", "shared", postgres_url))
    database = postgres_url.rsplit("/", 1)[1]

    flat = assert_user_error(
        run_cli("--stack", "team", "runs", "list", cwd=root),
        "is at schema revision '0002'; this version of Shipyard needs", "shipyard stack migrate",
    )
    assert "Store needs migrating" in flat
    assert postgres_server.query(database, "SELECT version_num FROM alembic_version") == [("0002",)]

    out = ok(run_cli("stack", "migrate", "team", cwd=root))
    assert f"schema 0002 -> {HEAD}" in out
    assert postgres_server.query(database, "SELECT version_num FROM alembic_version") == [(HEAD,)]
    assert [r["id"] for r in cli_json("--stack", "team", "runs", "list", cwd=root)] == ["r1"]
    use_stack(root, "team")
    assert f"at schema {HEAD} already" in ok(run_cli("stack", "migrate", cwd=root))


def test_a_store_of_a_newer_shipyard_is_refused_by_every_command(root: Path, postgres_url, postgres_server) -> None:
    from shipyard.stores.metadata import MetadataStore

    MetadataStore(postgres_url).close()
    with postgres_server.connect(postgres_url.rsplit("/", 1)[1]) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0999'")
    register_stack(root, StackEntry("team", "shared", postgres_url))
    for args in (("runs", "list"), ("stack", "migrate")):
        assert_user_error(
            run_cli("--stack", "team", *args, cwd=root),
            "is at schema revision '0999', written by a newer Shipyard", "Upgrade Shipyard",
        )


def test_stack_list_json_marks_the_stack_in_use(root: Path) -> None:
    register_stack(root, StackEntry("a", "store-a", sqlite_url(root / "a.db")))
    rows = cli_json("--stack", "a", "stack", "list", cwd=root)
    assert [(r["name"], r["in_use"], r["chosen_by"]) for r in rows] == [
        ("default", False, None),
        ("a", True, "--stack"),
    ]
    assert json.loads(json.dumps(rows))  # plain JSON


def test_git_shares_the_stack_file_and_nothing_else_of_dot_shipyard(root: Path) -> None:
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    register_stack(root, StackEntry("a", "store-a", sqlite_url(root / "a.db")))
    use_stack(root, "a")
    (root / ".shipyard" / "artifacts" / "ab").mkdir()
    (root / ".shipyard" / "artifacts" / "ab" / "file").write_text("x")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True, timeout=30)
    subprocess.run(["git", "add", "-A", ".shipyard"], cwd=root, check=True, timeout=30)
    staged = subprocess.run(
        ["git", "diff", "--cached", "--name-only"], cwd=root, check=True, timeout=30, capture_output=True, text=True
    ).stdout.split()
    assert sorted(staged) == [".shipyard/.gitignore", ".shipyard/stacks.yaml"]


def test_an_older_gitignore_is_updated_to_share_the_stack_file(root: Path) -> None:
    ignore = root / ".shipyard" / ".gitignore"
    ignore.write_text("# Shipyard's local stores: not for version control\n*\n")
    register_stack(root, StackEntry("a", "store-a", sqlite_url(root / "a.db")))
    assert "!stacks.yaml" in ignore.read_text().splitlines()
    ignore.write_text("# mine\n*\n")  # one the user wrote is theirs
    register_stack(root, StackEntry("b", "store-b", sqlite_url(root / "b.db")))
    assert ignore.read_text() == "# mine\n*\n"
