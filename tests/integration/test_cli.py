"""The ``shipyard`` command end to end, in subprocesses, on real stores in tmp folders.

One project (``runs``) is built once per module by four runs of a small
pipeline; the tests that only read it share it. Tests of user mistakes use
their own project (``err``) so the failed runs they record do not disturb it.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import run_cli, write_module
from tests.integration.support import (
    TRACEBACK,
    assert_user_error,
    cli_env,
    cli_json,
)

pytestmark = pytest.mark.slow

PIPELINE = """
import pandas as pd

from shipyard import log_metrics, pipeline, step


@step
def make(n: int = 100) -> pd.DataFrame:
    return pd.DataFrame({"x": list(range(n)), "y": [i * 0.5 for i in range(n)]})


@step
def summarize(frame: pd.DataFrame) -> dict:
    log_metrics(rows=len(frame), mean_x=float(frame["x"].mean()))
    return {"rows": len(frame), "total": int(frame["x"].sum())}


@step
def report(summary: dict) -> str:
    return f"{summary['rows']} rows, total {summary['total']}"


@pipeline
def p(n: int = 100):
    report(summarize(make(n=n)))
"""
STEPS = ["make", "summarize", "report"]
RUN_LINE = re.compile(r"Run ([0-9a-f]{16}) of pipeline p")


def expected_frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": list(range(n)), "y": [i * 0.5 for i in range(n)]})


def line_of(source: str, needle: str) -> int:
    """1-based line number of the first line of ``source`` containing ``needle``."""
    for number, line in enumerate(textwrap.dedent(source).splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in source")


@dataclass
class Runs:
    """The shared project and what its four runs printed."""

    root: Path
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]
    no_cache: dict
    param: dict
    ids: list[str]  # oldest first


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    root = tmp_path_factory.mktemp("runs")
    write_module(root, "pipe", PIPELINE)
    init = run_cli("init", cwd=root)
    assert init.returncode == 0, init.stderr
    first = run_cli("run", "pipe.py:p", cwd=root)
    assert first.returncode == 0, first.stderr
    second = run_cli("run", "pipe.py:p", cwd=root)
    assert second.returncode == 0, second.stderr
    no_cache = cli_json("run", "pipe.py:p", "--no-cache", cwd=root)
    param = cli_json(
        "run", "pipe.py:p", "-p", "n=50", cwd=root, env={"SHIPYARD_USER": "alice"}
    )
    ids = [
        RUN_LINE.search(first.stdout).group(1),  # type: ignore[union-attr]
        RUN_LINE.search(second.stdout).group(1),  # type: ignore[union-attr]
        no_cache["run_id"],
        param["run_id"],
    ]
    return Runs(root, first, second, no_cache, param, ids)


@pytest.fixture(scope="module")
def err(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project for user mistakes, with the working pipeline in pipe.py."""
    root = tmp_path_factory.mktemp("err")
    write_module(root, "pipe", PIPELINE)
    assert run_cli("init", cwd=root).returncode == 0
    return root


def step_lines(stdout: str) -> dict[str, str]:
    """The progress line printed for each step, by step name."""
    found = {}
    for line in stdout.splitlines():
        words = line.split()
        for name in STEPS:
            if len(words) > 2 and words[2] == name:
                found[name] = line
    return found


# -- init, run, cache ---------------------------------------------------------------


def test_init_creates_the_local_stores(tmp_path: Path) -> None:
    result = run_cli("init", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    home = tmp_path / ".shipyard"
    assert (home / "metadata.db").is_file()
    assert (home / "artifacts").is_dir()
    assert "Created" in result.stdout
    with sqlite3.connect(home / "metadata.db") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"runs", "step_runs", "artifacts", "step_inputs", "step_outputs"} <= tables

    again = run_cli("init", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "Using existing" in again.stdout


def test_run_prints_every_step_and_a_summary(runs: Runs) -> None:
    lines = step_lines(runs.first.stdout)

    assert set(lines) == set(STEPS), runs.first.stdout
    for line in lines.values():
        assert "completed" in line and "first run" in line, line
    assert f"shipyard runs show {runs.ids[0]}" in runs.first.stdout
    assert TRACEBACK not in runs.first.stderr


def test_second_run_serves_every_step_from_the_cache(runs: Runs) -> None:
    lines = step_lines(runs.second.stdout)

    assert set(lines) == set(STEPS), runs.second.stdout
    for line in lines.values():
        assert f"cached (same key as run {runs.ids[0]})" in line, line
    assert "3 cached" in runs.second.stdout


def test_no_cache_executes_every_step_with_the_same_outputs(runs: Runs) -> None:
    steps = runs.no_cache["steps"]

    assert runs.no_cache["status"] == "completed"
    assert {name: s["status"] for name, s in steps.items()} == dict.fromkeys(
        STEPS, "completed"
    )
    assert {s["reason"] for s in steps.values()} == {"cache disabled for this run"}
    first = cli_json("runs", "show", runs.ids[0], cwd=runs.root)
    outputs = {s["step"]: s["outputs"]["output"] for s in first["steps"]}
    # Content-addressed: executing again on the same data gives the same artifacts.
    assert {name: s["outputs"]["output"] for name, s in steps.items()} == outputs


def test_param_change_reruns_and_is_explained(runs: Runs) -> None:
    steps = runs.param["steps"]
    assert {name: s["status"] for name, s in steps.items()} == dict.fromkeys(
        STEPS, "completed"
    )
    assert steps["make"]["reason"] == "params changed (n 100 -> 50)"
    assert steps["summarize"]["reason"] == "input 'frame' changed"

    text = run_cli("runs", "show", runs.ids[3], cwd=runs.root)
    assert text.returncode == 0, text.stderr
    assert "params changed (n 100 -> 50)" in text.stdout
    assert "n = 50" in text.stdout


# -- runs list / show -----------------------------------------------------------------


def test_runs_list_json(runs: Runs) -> None:
    listed = cli_json("runs", "list", cwd=runs.root)

    assert [r["id"] for r in listed] == runs.ids[::-1]
    assert {r["status"] for r in listed} == {"completed"}
    assert {r["pipeline"] for r in listed} == {"p"}
    assert [r["user"] for r in listed] == ["alice", "tester", "tester", "tester"]
    assert listed[0]["config"]["params"] == {"n": 50}
    assert listed[1]["config"]["cache"] is False

    text = run_cli("runs", "list", cwd=runs.root)
    assert text.returncode == 0, text.stderr
    for run_id in runs.ids:
        assert run_id[:8] in text.stdout  # the table shows id prefixes, which `runs show` takes


def test_runs_show_json_has_statuses_reasons_metrics_and_params(runs: Runs) -> None:
    first = cli_json("runs", "show", runs.ids[0], cwd=runs.root)
    shown = cli_json("runs", "show", runs.ids[1], cwd=runs.root)

    assert shown["id"] == runs.ids[1]
    assert shown["status"] == "completed"
    steps = {s["step"]: s for s in shown["steps"]}
    assert set(steps) == set(STEPS)
    first_steps = {s["step"]: s for s in first["steps"]}
    for name, record in steps.items():
        assert record["status"] == "cached"
        assert record["reason"] == f"same key as run {runs.ids[0]}"
        assert record["cached_from"] == first_steps[name]["id"]
        assert record["outputs"] == first_steps[name]["outputs"]
    # Metrics of a cached step run are those of the run it reused.
    assert shown["metrics"] == {"summarize": {"rows": 100.0, "mean_x": 49.5}}
    assert first["metrics"] == shown["metrics"]
    assert shown["params"] == {"": {"n": 100}, "make": {"n": 100}}

    changed = cli_json("runs", "show", runs.ids[3], cwd=runs.root)
    assert changed["params"] == {"": {"n": 50}, "make": {"n": 50}}
    assert changed["metrics"] == {"summarize": {"rows": 50.0, "mean_x": 24.5}}


def test_runs_show_latest_and_id_prefix(runs: Runs) -> None:
    latest = run_cli("runs", "show", "latest", cwd=runs.root)
    assert latest.returncode == 0, latest.stderr
    assert f"Run {runs.ids[3]}" in latest.stdout
    for name in STEPS:
        assert name in latest.stdout

    prefix = cli_json("runs", "show", runs.ids[0][:7], cwd=runs.root)
    assert prefix["id"] == runs.ids[0]


# -- artifacts ----------------------------------------------------------------------


def test_artifacts_show_lineage(runs: Runs) -> None:
    make_id = runs.no_cache["steps"]["make"]["outputs"]["output"]

    shown = cli_json("artifacts", "show", make_id[:12], cwd=runs.root)

    assert shown["id"] == make_id
    assert shown["data_type"].endswith("DataFrame")
    assert shown["preview"]["rows"] == 100
    produced = [(p["run_id"], p["step"], p["status"]) for p in shown["produced_by"]]
    assert produced == [
        (runs.ids[0], "make", "completed"),
        (runs.ids[1], "make", "cached"),
        (runs.ids[2], "make", "completed"),
    ]
    consumed = [(c["run_id"], c["step"], c["input"]) for c in shown["consumed_by"]]
    assert consumed == [(run_id, "summarize", "frame") for run_id in runs.ids[:3]]

    text = run_cli("artifacts", "show", make_id, cwd=runs.root)
    assert text.returncode == 0, text.stderr
    assert "Produced by" in text.stdout and "Consumed by" in text.stdout
    assert f"run {runs.ids[0]}  step make (output output, completed)" in text.stdout
    assert f"run {runs.ids[1]}  step make (output output, cached)" in text.stdout
    assert f"run {runs.ids[0]}  step summarize (input frame, completed)" in text.stdout


def test_artifacts_export_writes_the_dataframe_as_parquet(runs: Runs) -> None:
    make_id = runs.param["steps"]["make"]["outputs"]["output"]
    target = runs.root / "exported" / "out.parquet"

    result = run_cli("artifacts", "export", make_id[:10], str(target), cwd=runs.root)

    assert result.returncode == 0, result.stderr
    assert target.is_file()
    pd.testing.assert_frame_equal(pd.read_parquet(target), expected_frame(50))


def test_artifacts_list_json_by_run(runs: Runs) -> None:
    listed = cli_json("artifacts", "list", "--run", runs.ids[3], cwd=runs.root)

    expected = {s["outputs"]["output"] for s in runs.param["steps"].values()}
    assert {a["id"] for a in listed} == expected


# -- help ---------------------------------------------------------------------------


def test_help(tmp_path: Path) -> None:
    top = run_cli("--help", cwd=tmp_path)
    assert top.returncode == 0, top.stderr
    for command in ("init", "run", "runs", "artifacts"):
        assert command in top.stdout

    sub = run_cli("runs", "--help", cwd=tmp_path)
    assert sub.returncode == 0, sub.stderr
    assert "list" in sub.stdout and "show" in sub.stdout


def test_help_imports_no_heavy_module(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import sys
        from shipyard.cli import main
        try:
            main(["--help"])
        except SystemExit:
            pass
        heavy = ("pandas", "pyarrow", "sklearn", "sqlalchemy")
        print("HEAVY=" + ",".join(m for m in heavy if m in sys.modules))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "HEAVY="


# -- user mistakes: exit 2, one message, no traceback --------------------------------


def test_unknown_run_id(err: Path) -> None:
    result = run_cli("runs", "show", "fedcba9876", cwd=err)
    assert_user_error(result, "Run not found", "'fedcba9876'")


def test_unknown_artifact_id(err: Path) -> None:
    result = run_cli("artifacts", "show", "0123456789abcdef", cwd=err)
    assert_user_error(result, "Artifact not found", "'0123456789abcdef'")


def test_missing_pipeline_file(err: Path) -> None:
    result = run_cli("run", "nowhere.py:p", cwd=err)
    assert_user_error(result, "Cannot import", "nowhere.py")


def test_missing_pipeline_attribute(err: Path) -> None:
    result = run_cli("run", "pipe.py:nothing_here", cwd=err)
    assert_user_error(result, "Cannot import", "'nothing_here'", "['p']")


def test_syntax_error_names_file_and_line(err: Path) -> None:
    source = """
    from shipyard import step

    def broken(:
        pass
    """
    write_module(err, "syntax_err", source)
    line = line_of(source, "def broken(")

    result = run_cli("run", "syntax_err.py:p", cwd=err)

    assert_user_error(result, "Cannot import", f"syntax_err.py:{line}")


RAISING = """
from shipyard import pipeline, step


@step
def prepare() -> list:
    return [1, 2, 3]


@step
def explode(values: list) -> int:
    total = sum(values)
    raise ValueError(f"boom at {total}")


@pipeline
def p():
    explode(prepare())
"""


def test_failing_step_names_step_error_and_user_line(err: Path) -> None:
    write_module(err, "raising", RAISING)
    line = line_of(RAISING, "raise ValueError")

    result = run_cli("run", "raising.py:p", cwd=err)

    flat = assert_user_error(
        result,
        "Step failed",
        "'explode'",
        "ValueError: boom at 6",
        f"raising.py:{line}",
    )
    assert "shipyard runs show" in flat


def test_failing_step_verbose_shows_the_traceback(err: Path) -> None:
    write_module(err, "raising_v", RAISING)

    result = run_cli("--verbose", "run", "raising_v.py:p", cwd=err)

    assert result.returncode == 2
    assert TRACEBACK in result.stderr
    assert 'raise ValueError(f"boom at {total}")' in result.stderr


def test_unstorable_output_names_the_type_and_the_way_out(err: Path) -> None:
    write_module(
        err,
        "opaque",
        """
        from shipyard import pipeline, step


        class Opaque:
            pass


        @step
        def build() -> Opaque:
            return Opaque()


        @pipeline
        def p():
            build()
        """,
    )

    result = run_cli("run", "opaque.py:p", cwd=err)

    assert_user_error(
        result,
        "Step failed",
        "'build'",
        "Opaque",
        "register_materializer",
        "allow_pickle=True",
    )


MISWIRED = """
from shipyard import pipeline, step


@step
def number() -> int:
    return 1


@step
def needs_two(text: str, count: int) -> str:
    return text * count


@step
def needs_one(count: int) -> int:
    return count


@pipeline
def missing():
    needs_one()


@pipeline
def mismatch():
    needs_two(number(), number.named("other")())
"""


def test_missing_input_names_step_and_input(err: Path) -> None:
    write_module(err, "miswired", MISWIRED)

    result = run_cli("run", "miswired.py:missing", cwd=err)

    assert_user_error(
        result, "Invalid pipeline", "step 'needs_one'", "input 'count' is missing"
    )


def test_type_mismatch_names_step_and_input(err: Path) -> None:
    write_module(err, "miswired2", MISWIRED)

    result = run_cli("run", "miswired2.py:mismatch", cwd=err)

    assert_user_error(
        result, "Invalid pipeline", "step 'needs_two'", "input 'text' expects str"
    )


def test_bad_param_value(err: Path) -> None:
    result = run_cli("run", "pipe.py:p", "-p", "n=abc", cwd=err)
    assert_user_error(result, "Invalid parameters", "'n'", "'abc'")


def test_unknown_param_and_malformed_param(err: Path) -> None:
    unknown = run_cli("run", "pipe.py:p", "-p", "rows=5", cwd=err)
    assert_user_error(unknown, "Invalid parameters", "'rows'")

    malformed = run_cli("run", "pipe.py:p", "-p", "n", cwd=err)
    assert_user_error(malformed, "Invalid parameters", "KEY=VALUE")


def test_metadata_store_under_a_regular_file(err: Path) -> None:
    blocker = err / "not_a_folder"
    blocker.write_text("a regular file\n")
    url = f"sqlite:///{blocker / 'sub' / 'metadata.db'}"

    result = run_cli("runs", "list", cwd=err, env={"SHIPYARD_METADATA": url})

    assert_user_error(result, "Store unavailable", "not_a_folder")


def test_metadata_store_that_is_not_a_database(err: Path) -> None:
    bogus = err / "bogus.db"
    bogus.write_text(
        "this file is plain text and certainly not an SQLite database\n" * 20
    )

    result = run_cli(
        "runs", "list", cwd=err, env={"SHIPYARD_METADATA": f"sqlite:///{bogus}"}
    )

    assert_user_error(result, "Store unavailable", "bogus.db")


def test_metadata_store_that_cannot_be_reached(err: Path) -> None:
    url = "postgresql://u@127.0.0.1:1/x"

    result = run_cli("runs", "list", cwd=err, env={"SHIPYARD_METADATA": url})

    flat = assert_user_error(
        result, "Store unavailable", "postgresql://u@127.0.0.1:1/x"
    )
    if (
        importlib.util.find_spec("psycopg") is None
        and importlib.util.find_spec("psycopg2") is None
    ):
        assert "driver" in flat and "pip install" in flat


def test_artifact_store_under_a_regular_file(err: Path) -> None:
    blocker = err / "blocker_for_artifacts"
    blocker.write_text("x")

    result = run_cli(
        "run",
        "pipe.py:p",
        cwd=err,
        env={"SHIPYARD_ARTIFACTS": str(blocker / "artifacts")},
    )

    assert_user_error(result, "Store unavailable", "blocker_for_artifacts")


def test_runs_list_outside_a_project(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    if any((folder / ".shipyard").is_dir() for folder in (outside, *outside.parents)):
        pytest.skip("a parent of the tmp folder holds a Shipyard project")

    result = run_cli("runs", "list", cwd=outside)

    assert_user_error(result, "No Shipyard project", "shipyard init")
    assert not (outside / ".shipyard").exists()


def test_error_raised_inside_the_standard_library_points_at_user_code(
    err: Path,
) -> None:
    source = """
    import json

    from shipyard import pipeline, step


    @step
    def parse() -> dict:
        return json.loads("{not json")


    @pipeline
    def p():
        parse()
    """
    write_module(err, "stdlib_err", source)
    line = line_of(source, "json.loads(")

    result = run_cli("run", "stdlib_err.py:p", cwd=err)

    flat = assert_user_error(result, "Step failed", "'parse'", "JSONDecodeError")
    assert f"stdlib_err.py:{line}" in flat


def test_error_in_pipeline_body_is_a_user_error(err: Path) -> None:
    source = """
    from shipyard import pipeline, step


    @step
    def one() -> int:
        return 1


    @pipeline
    def p():
        one(undefined_name)
    """
    write_module(err, "build_err", source)

    result = run_cli("run", "build_err.py:p", cwd=err)

    assert_user_error(
        result, "undefined_name", f"build_err.py:{line_of(source, 'one(undefined')}"
    )


# -- fix and resume -------------------------------------------------------------------

FLAKY = """
from shipyard import pipeline, step


@step
def load(n: int = 4) -> list:
    return list(range(n))


@step
def double(values: list) -> list:
    return [v * 2 for v in values]


@step
def divide(values: list) -> float:
    return sum(values) / DIVISOR


@step
def publish(value: float) -> str:
    return f"value={value}"


DIVISOR = 0


@pipeline
def p():
    publish(divide(double(load())))
"""


def test_fixing_a_failed_step_resumes_from_it(tmp_path: Path) -> None:
    write_module(tmp_path, "flaky", FLAKY)

    failed = run_cli("run", "flaky.py:p", "--json", cwd=tmp_path)

    assert failed.returncode == 2, failed.stderr
    assert TRACEBACK not in failed.stderr
    assert "ZeroDivisionError" in failed.stderr
    first = json.loads(failed.stdout)
    assert first["status"] == "failed" and first["error_step"] == "divide"
    assert {n: s["status"] for n, s in first["steps"].items()} == {
        "load": "completed",
        "double": "completed",
        "divide": "failed",
        "publish": "skipped",
    }

    write_module(tmp_path, "flaky", FLAKY.replace("DIVISOR = 0", "DIVISOR = 4"))
    fixed = run_cli("run", "flaky.py:p", "--json", cwd=tmp_path)

    assert fixed.returncode == 0, fixed.stderr
    second = json.loads(fixed.stdout)
    statuses = {n: s["status"] for n, s in second["steps"].items()}
    assert statuses == {
        "load": "cached",
        "double": "cached",
        "divide": "completed",
        "publish": "completed",
    }
    assert second["steps"]["load"]["reason"] == f"same key as run {first['run_id']}"
    assert second["steps"]["divide"]["reason"] == "code changed (DIVISOR)"

    shown = cli_json("runs", "show", first["run_id"], cwd=tmp_path)
    assert shown["status"] == "failed"
    assert shown["error_step"] == "divide"
    divide = next(s for s in shown["steps"] if s["step"] == "divide")
    assert "ZeroDivisionError" in divide["error"]
    assert "return sum(values) / DIVISOR" in divide["traceback"]
