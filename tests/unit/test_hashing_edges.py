"""Code hashing edge cases: decorators, stale files, name collisions, containers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from shipyard.engine.hashing import code_hash, code_parts

HELPERS_DECO = """
def times(k):
    def wrap(f):
        def inner(x):
            return f(x) * k
        return inner
    return wrap

@times({k})
def scale(x):
    return x
"""

STEP_USES_SCALE = """
import {helpers}
from shipyard import step

@step
def s() -> int:
    return {helpers}.scale(10)
"""


def test_decorator_arguments_of_a_helper_are_part_of_the_hash(load_module, uid):
    helpers = f"deco_{uid}"
    load_module(helpers, HELPERS_DECO.format(k=2))
    v1 = load_module(f"st_{uid}", STEP_USES_SCALE.format(helpers=helpers))
    before = code_hash(v1.s)
    load_module(helpers, HELPERS_DECO.format(k=3), version="v2")
    v2 = load_module(f"st_{uid}", STEP_USES_SCALE.format(helpers=helpers), version="v2")
    assert code_hash(v2.s) != before


def test_the_step_decorator_itself_does_not_change_the_hash(load_module, uid):
    plain = load_module(f"a_{uid}", "from shipyard import step\n@step\ndef f() -> int:\n    return 1\n")
    named = load_module(
        f"a_{uid}", "from shipyard import step\n@step(cache=True)\ndef f() -> int:\n    return 1\n",
        version="v2",
    )
    assert code_hash(plain.f) == code_hash(named.f)


def test_a_class_edited_on_disk_after_import_is_hashed_as_it_runs(load_module, uid, tmp_path):
    helpers = f"cfg_{uid}"
    mod = load_module(helpers, "class Cfg:\n    K = 1\n")
    steps = load_module(
        f"st_{uid}",
        f"import {helpers}\nfrom shipyard import step\n@step\ndef s() -> int:\n    return {helpers}.Cfg.K\n",
    )
    before = code_hash(steps.s)
    Path(mod.__file__).write_text("class Cfg:\n    K = 2\n")  # edited, not re-imported
    os.utime(mod.__file__, None)
    assert code_hash(steps.s) == before


def test_a_function_edited_on_disk_after_import_is_not_hashed_as_the_new_code(load_module, uid):
    from shipyard.engine import hashing

    one = "from shipyard import step\n@step\ndef s() -> int:\n    return 1\n"
    two = "from shipyard import step\n@step\ndef s() -> int:\n    return 2\n"
    stale = load_module(f"f_{uid}", one)
    hashing._object_info.cache_clear()
    Path(stale.__file__).write_text(two)  # edited after import: the old code still runs
    stale_hash = code_hash(stale.s)
    fresh = load_module(f"f_{uid}", two, version="v2")
    assert stale_hash != code_hash(fresh.s)


def test_same_constant_name_in_two_modules_is_two_parts(load_module, uid):
    cfg = f"cfg_{uid}"
    load_module(cfg, "K = 5\n")
    source = textwrap.dedent(f"""
        from shipyard import step
        K = {{k}}
        def h():
            from {cfg} import K
            return K
        @step
        def s() -> int:
            return K * 100 + h()
    """)
    v1 = load_module(f"st_{uid}", source.format(k=1))
    parts = code_parts(v1.s)
    assert f"st_{uid}.K" in parts and f"{cfg}.K" in parts
    v2 = load_module(f"st_{uid}", source.format(k=2), version="v2")
    assert code_hash(v2.s) != code_hash(v1.s)


def test_lambdas_are_distinct_parts(load_module, uid):
    source = textwrap.dedent("""
        from shipyard import step
        clean = lambda s: s.strip()
        shout = lambda s: {body}
        @step
        def s() -> str:
            return shout(clean(" hi "))
    """)
    v1 = load_module(f"lam_{uid}", source.format(body="s.upper()"))
    assert len([p for p in code_parts(v1.s) if "<lambda>" in p]) == 2
    v2 = load_module(f"lam_{uid}", source.format(body="s.lower()"), version="v2")
    assert code_hash(v2.s) != code_hash(v1.s)


def test_functions_held_in_a_module_list_are_followed(load_module, uid):
    source = textwrap.dedent("""
        from shipyard import step
        def double(x):
            return 2 * x
        def square(x):
            return {body}
        TRANSFORMS = [double, square]
        @step
        def s() -> int:
            value = 3
            for f in TRANSFORMS:
                value = f(value)
            return value
    """)
    v1 = load_module(f"reg_{uid}", source.format(body="x * x"))
    assert any(name.endswith(".square") for name in code_parts(v1.s))
    v2 = load_module(f"reg_{uid}", source.format(body="x * x * x"), version="v2")
    assert code_hash(v2.s) != code_hash(v1.s)


def test_hash_does_not_depend_on_hash_randomisation(tmp_path):
    (tmp_path / "cfg_a.py").write_text("K = 1\n")
    (tmp_path / "cfg_b.py").write_text("K = 2\n")
    (tmp_path / "mod.py").write_text(textwrap.dedent("""
        from shipyard import step
        TAGS = {"x", "y", "z", "w"}
        def h1():
            from cfg_a import K
            return K
        def h2():
            from cfg_b import K
            return K
        @step
        def s() -> int:
            return h1() + h2() + len(TAGS)
    """))
    code = "import mod; from shipyard.engine.hashing import code_hash; print(code_hash(mod.s))"
    hashes = {
        subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
            env={**os.environ, "PYTHONHASHSEED": str(seed)}, check=True,
        ).stdout.strip()
        for seed in (1, 2, 3, 4)
    }
    assert len(hashes) == 1


def test_the_same_file_as_main_or_imported_has_the_same_hash(tmp_path):
    (tmp_path / "p.py").write_text(textwrap.dedent("""
        from shipyard import step
        LIMIT = 3
        def helper(x):
            return min(x, LIMIT)
        @step
        def s() -> int:
            return helper(10)
        if __name__ == "__main__":
            from shipyard.engine.hashing import code_hash
            print(code_hash(s))
    """))
    as_main = subprocess.run([sys.executable, "p.py"], cwd=tmp_path, capture_output=True, text=True, check=True)
    imported = subprocess.run(
        [sys.executable, "-c", "import p; from shipyard.engine.hashing import code_hash; print(code_hash(p.s))"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )
    assert as_main.stdout.strip() == imported.stdout.strip()


def test_library_imports_inside_a_step_are_not_imported_to_hash_it(tmp_path):
    (tmp_path / "q.py").write_text(textwrap.dedent("""
        from shipyard import step
        @step
        def s() -> int:
            from xml.dom import minidom
            return 1
    """))
    code = (
        "import sys, q; from shipyard.engine.hashing import code_parts; code_parts(q.s); "
        "print('xml.dom.minidom' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
