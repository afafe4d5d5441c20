"""Code versions of steps: normalised source plus the user code and constants they use.

Each test writes real modules into a tmp folder and imports them. Two versions
of "the same" module are written to two folders and imported under the same
module name, as happens when a user edits a file between two runs.
"""

import json

import pandas as pd

from shipyard import step
from shipyard.engine.hashing import code_hash, code_parts, is_user_object, stable_hash

STEP_V1 = """
import json
from shipyard import step

@step
def train(rows: int = 3) -> int:
    total = 0
    for i in range(rows):
        total += i
    return total
"""

# Same code: comments, blank lines, formatting, docstring and decorator differ.
STEP_V1_REFORMATTED = '''
import json
from shipyard import step


@step(cache=False)
def train(rows: int = 3) -> int:
    """Sum the first rows.

    A docstring is documentation, not behaviour.
    """
    # a comment
    total = (
        0
    )

    for i in range( rows ):   # another comment
        total += i
    return total
'''

STEP_V2_BODY = """
import json
from shipyard import step

@step
def train(rows: int = 3) -> int:
    total = 1
    for i in range(rows):
        total += i
    return total
"""


def _keys(parts: dict[str, str], module: str) -> set[str]:
    return {name.removeprefix(module + ".") for name in parts}


# -- the step itself ---------------------------------------------------------


def test_parts_name_the_step_by_module_and_qualname(load_module, uid):
    mod = load_module(f"steps_{uid}", STEP_V1)
    parts = code_parts(mod.train)
    assert list(parts) == [f"steps_{uid}.train"]
    (digest,) = parts.values()
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert code_parts(mod.train.func) == parts  # a Step and its function agree
    assert code_hash(mod.train) == stable_hash(sorted(parts.values()))


def test_comments_whitespace_docstring_and_decorator_do_not_change_the_hash(
    load_module, uid
):
    name = f"steps_{uid}"
    v1 = load_module(name, STEP_V1)
    before = code_hash(v1.train)
    v2 = load_module(name, STEP_V1_REFORMATTED, version="v2")
    assert v2.train.func is not v1.train.func
    assert code_parts(v2.train) == code_parts(v1.train)
    assert code_hash(v2.train) == before


def test_changing_the_step_body_changes_the_hash(load_module, uid):
    name = f"steps_{uid}"
    before = code_hash(load_module(name, STEP_V1).train)
    after = code_hash(load_module(name, STEP_V2_BODY, version="v2").train)
    assert after != before


def test_changing_a_default_or_annotation_changes_the_hash(load_module, uid):
    name = f"steps_{uid}"
    before = code_hash(load_module(name, STEP_V1).train)
    changed = STEP_V1.replace("rows: int = 3", "rows: int = 4")
    assert code_hash(load_module(name, changed, version="v2").train) != before


def test_hash_is_stable_across_calls(load_module, uid):
    mod = load_module(f"steps_{uid}", STEP_V1)
    assert code_hash(mod.train) == code_hash(mod.train)


# -- helpers in the same module ----------------------------------------------

HELPERS_SAME_MODULE = """
from shipyard import step

def normalise(x):
    return scale(x) - 1

def scale(x):
    return x * {factor}

def unused(x):
    return x

@step
def features(x: int = 1) -> int:
    return normalise(x)
"""


def test_transitive_helpers_are_parts(load_module, uid):
    name = f"feat_{uid}"
    mod = load_module(name, HELPERS_SAME_MODULE.format(factor=2))
    assert _keys(code_parts(mod.features), name) == {"features", "normalise", "scale"}


def test_changing_a_helper_two_calls_away_changes_the_hash(load_module, uid):
    name = f"feat_{uid}"
    v1 = load_module(name, HELPERS_SAME_MODULE.format(factor=2))
    parts1, before = code_parts(v1.features), code_hash(v1.features)
    v2 = load_module(name, HELPERS_SAME_MODULE.format(factor=3), version="v2")
    parts2 = code_parts(v2.features)
    assert code_hash(v2.features) != before
    changed = {key for key in parts1 if parts1[key] != parts2[key]}
    assert changed == {f"{name}.scale"}


def test_changing_an_unused_function_does_not_change_the_hash(load_module, uid):
    name = f"feat_{uid}"
    source = HELPERS_SAME_MODULE.format(factor=2)
    before = code_hash(load_module(name, source).features)
    edited = source.replace(
        "def unused(x):\n    return x", "def unused(x):\n    return x + 100"
    )
    assert edited != source
    v2 = load_module(name, edited, version="v2")
    assert code_hash(v2.features) == before


def test_recursive_helpers_terminate(load_module, uid):
    name = f"rec_{uid}"
    mod = load_module(
        name,
        """
        from shipyard import step

        def ping(n):
            return 0 if n <= 0 else pong(n - 1)

        def pong(n):
            return ping(n - 1)

        @step
        def bounce(n: int = 3) -> int:
            return ping(n) + bounce_again(n)

        def bounce_again(n):
            return bounce_again(n - 1) if n > 0 else 0
        """,
    )
    assert _keys(code_parts(mod.bounce), name) == {
        "bounce",
        "ping",
        "pong",
        "bounce_again",
    }


def test_decorated_helper_is_followed_through_the_wrapper(load_module, uid):
    name = f"wrapped_{uid}"
    source = """
        import functools
        from shipyard import step

        @functools.lru_cache(maxsize=None)
        def lookup(x):
            return x * {k}

        @step
        def use(x: int = 1) -> int:
            return lookup(x)
        """
    v1 = load_module(name, source.format(k=2))
    assert _keys(code_parts(v1.use), name) == {"use", "lookup"}
    before = code_hash(v1.use)
    v2 = load_module(name, source.format(k=5), version="v2")
    assert code_hash(v2.use) != before


# -- helpers in another user module ------------------------------------------

HELPERS_MODULE = """
def clean(x):
    return _strip(x) * {factor}

def _strip(x):
    return x
"""

STEPS_USING_MODULE = """
import {helpers}
from shipyard import step

@step
def prepare(x: int = 1) -> int:
    return {helpers}.clean(x)
"""


def test_helper_in_another_module_used_as_module_attribute_is_a_part(load_module, uid):
    helpers = f"helpers_{uid}"
    load_module(helpers, HELPERS_MODULE.format(factor=2))
    steps = load_module(f"steps_{uid}", STEPS_USING_MODULE.format(helpers=helpers))
    parts = code_parts(steps.prepare)
    assert set(parts) == {
        f"steps_{uid}.prepare",
        f"{helpers}.clean",
        f"{helpers}._strip",
    }


def test_changing_a_helper_in_another_module_changes_the_hash(load_module, uid):
    helpers, steps = f"helpers_{uid}", f"steps_{uid}"
    steps_source = STEPS_USING_MODULE.format(helpers=helpers)
    load_module(helpers, HELPERS_MODULE.format(factor=2))
    v1 = load_module(steps, steps_source)
    before = code_hash(v1.prepare)

    # Reloading identical code keeps the hash ...
    load_module(helpers, HELPERS_MODULE.format(factor=2), version="v1b")
    same = load_module(steps, steps_source, version="v1b")
    assert code_hash(same.prepare) == before

    # ... editing the helper module changes it, though the step file is unchanged.
    load_module(helpers, HELPERS_MODULE.format(factor=3), version="v2")
    v2 = load_module(steps, steps_source, version="v2")
    assert code_hash(v2.prepare) != before


def test_helper_imported_by_name_from_another_module(load_module, uid):
    helpers, steps = f"helpers_{uid}", f"steps_{uid}"
    source = f"""
        from {helpers} import clean as tidy
        from shipyard import step

        @step
        def prepare(x: int = 1) -> int:
            return tidy(x)
        """
    load_module(helpers, HELPERS_MODULE.format(factor=2))
    v1 = load_module(steps, source)
    assert f"{helpers}.clean" in code_parts(v1.prepare)
    before = code_hash(v1.prepare)
    load_module(helpers, HELPERS_MODULE.format(factor=3), version="v2")
    v2 = load_module(steps, source, version="v2")
    assert code_hash(v2.prepare) != before


def test_helper_of_an_aliased_module_is_a_part(load_module, uid):
    helpers = f"helpers_{uid}"
    load_module(helpers, HELPERS_MODULE.format(factor=2))
    steps = load_module(
        f"steps_{uid}",
        f"""
        import {helpers} as h
        from shipyard import step

        @step
        def prepare(x: int = 1) -> int:
            return h.clean(x)
        """,
    )
    assert f"{helpers}.clean" in code_parts(steps.prepare)


# -- module constants --------------------------------------------------------

CONSTANT_STEP = """
from shipyard import step

THRESHOLD = {threshold}
LABEL = "spam"

@step
def flag(x: float = 0.0) -> bool:
    return x > THRESHOLD
"""


def test_module_constant_read_by_the_step_is_a_part(load_module, uid):
    name = f"const_{uid}"
    mod = load_module(name, CONSTANT_STEP.format(threshold=0.5))
    assert _keys(code_parts(mod.flag), name) == {
        "flag",
        "THRESHOLD",
    }  # LABEL is not read


def test_changing_a_module_constant_changes_the_hash(load_module, uid):
    name = f"const_{uid}"
    before = code_hash(load_module(name, CONSTANT_STEP.format(threshold=0.5)).flag)
    same = code_hash(
        load_module(name, CONSTANT_STEP.format(threshold=0.5), version="v1b").flag
    )
    after = code_hash(
        load_module(name, CONSTANT_STEP.format(threshold=0.6), version="v2").flag
    )
    assert same == before
    assert after != before


def test_constant_read_by_a_helper_in_another_module_is_a_part(load_module, uid):
    helpers = f"helpers_{uid}"
    source = """
        LIMIT = {limit}

        def capped(x):
            return min(x, LIMIT)
        """
    steps_source = f"""
        import {helpers}
        from shipyard import step

        @step
        def cap(x: int = 1) -> int:
            return {helpers}.capped(x)
        """
    load_module(helpers, source.format(limit=10))
    v1 = load_module(f"steps_{uid}", steps_source)
    assert f"{helpers}.LIMIT" in code_parts(v1.cap)
    before = code_hash(v1.cap)
    load_module(helpers, source.format(limit=20), version="v2")
    v2 = load_module(f"steps_{uid}", steps_source, version="v2")
    assert code_hash(v2.cap) != before


def test_constant_of_another_module_read_as_attribute_changes_the_hash(
    load_module, uid
):
    helpers = f"helpers_{uid}"
    steps_source = f"""
        import {helpers}
        from shipyard import step

        @step
        def cap(x: int = 1) -> int:
            return min(x, {helpers}.LIMIT)
        """
    load_module(helpers, "LIMIT = 10\n")
    v1 = load_module(f"steps_{uid}", steps_source)
    before = code_hash(v1.cap)
    load_module(helpers, "LIMIT = 20\n", version="v2")
    v2 = load_module(f"steps_{uid}", steps_source, version="v2")
    assert code_hash(v2.cap) != before


# -- libraries and classes ---------------------------------------------------


def test_library_functions_are_not_parts(load_module, uid):
    name = f"libs_{uid}"
    mod = load_module(
        name,
        """
        import json
        import math
        import os.path
        import numpy as np
        import pandas as pd
        from json import dumps
        from shipyard import step, log_metrics

        def helper(values):
            return float(np.mean(values)) + math.sqrt(4)

        @step
        def summarise(n: int = 3) -> str:
            arr = np.arange(n)
            df = pd.DataFrame({"a": arr})
            path = os.path.join("a", "b")
            return json.dumps({"m": helper(arr), "rows": len(df), "p": path}) + dumps(1)
        """,
    )
    parts = code_parts(mod.summarise)
    assert _keys(parts, name) == {"summarise", "helper"}
    assert not any(
        key.startswith(("numpy", "pandas", "json", "math", "os", "shipyard"))
        for key in parts
    )


def test_classes_used_by_the_step_are_parts_with_their_methods(load_module, uid):
    name = f"model_{uid}"
    source = """
        from shipyard import step

        class Scaler:
            factor = 2

            def transform(self, x):
                return self._apply(x)

            def _apply(self, x):
                return x * self.factor + {offset}

            @staticmethod
            def make():
                return Scaler()

        @step
        def scale(x: int = 1) -> int:
            return Scaler.make().transform(x)
        """
    v1 = load_module(name, source.format(offset=0))
    parts1 = code_parts(v1.scale)
    keys = _keys(parts1, name)
    assert {
        "scale",
        "Scaler",
        "Scaler.transform",
        "Scaler._apply",
        "Scaler.make",
    } <= keys
    v2 = load_module(name, source.format(offset=1), version="v2")
    parts2 = code_parts(v2.scale)
    assert stable_hash(parts2) != stable_hash(parts1)
    changed = {key for key in parts1 if parts1[key] != parts2[key]}
    assert changed == {f"{name}.Scaler", f"{name}.Scaler._apply"}


def test_closure_variables_are_followed(load_module, uid):
    name = f"helpers_{uid}"
    mod = load_module(name, "def double(x):\n    return 2 * x\n")
    fn = mod.double

    @step
    def closing(x: int = 1) -> int:
        return fn(x)

    parts = code_parts(closing)
    assert f"{name}.double" in parts
    assert any(key.endswith("closing") for key in parts)


# -- helpers -----------------------------------------------------------------


def test_is_user_object():
    assert is_user_object(test_is_user_object)
    assert not is_user_object(json.dumps)
    assert not is_user_object(pd.DataFrame)
    assert not is_user_object(step)
    assert not is_user_object(42)


def test_stable_hash_ignores_key_order_and_sees_values():
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})
    assert len(stable_hash(None)) == 64
