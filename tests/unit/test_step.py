"""``@step``: arguments, outputs, options and output checks."""

from typing import Any, NamedTuple, Optional

import pandas as pd
import pytest

from shipyard import Step, step
from shipyard.engine.step import (
    SINGLE_OUTPUT,
    Argument,
    check_output_type,
    split_outputs,
)
from shipyard.errors import ShipyardError, StepDefinitionError


class Split(NamedTuple):
    train: pd.DataFrame
    test: pd.DataFrame
    rows: int


@step
def load(path: str = "data.csv", rows: int = 10) -> pd.DataFrame:
    """Load the data."""
    return pd.DataFrame({"x": range(rows)})


@step
def split(df: pd.DataFrame, ratio: float = 0.8) -> Split:
    cut = int(len(df) * ratio)
    return Split(df.iloc[:cut], df.iloc[cut:], len(df))


@step
def report(df: pd.DataFrame) -> None:
    return None


@step
def untyped(a, b=2):
    return a + b


# -- arguments ---------------------------------------------------------------


def test_arguments_come_from_the_signature_with_types_and_defaults():
    assert list(load.arguments) == ["path", "rows"]
    assert load.arguments["path"] == Argument("path", str, "data.csv")
    assert load.arguments["rows"].annotation is int
    assert not load.arguments["rows"].required
    assert split.arguments["df"].annotation is pd.DataFrame
    assert split.arguments["df"].required
    assert split.arguments["ratio"].default == 0.8


def test_unannotated_arguments_and_return_are_any():
    assert untyped.arguments["a"].annotation is Any
    assert untyped.arguments["a"].required
    assert untyped.arguments["b"].default == 2
    assert untyped.outputs == {SINGLE_OUTPUT: Any}


def test_docstring_becomes_the_description_and_name_defaults_to_function_name():
    assert isinstance(load, Step)
    assert load.name == "load"
    assert load.description == "Load the data."
    assert load.qualname == f"{__name__}:load"
    assert "load" in repr(load)


# -- outputs -----------------------------------------------------------------


def test_single_return_annotation_gives_one_output_named_output():
    assert load.outputs == {"output": pd.DataFrame}
    assert load.output_type is None


def test_namedtuple_return_gives_one_output_per_field():
    assert split.outputs == {"train": pd.DataFrame, "test": pd.DataFrame, "rows": int}
    assert split.output_type is Split


def test_none_return_gives_no_outputs():
    assert report.outputs == {}
    assert report.output_type is None


def test_optional_return_is_kept_as_declared():
    @step
    def maybe() -> Optional[int]:  # noqa: UP045 - the typing form is what is tested
        return None

    assert maybe.outputs == {"output": Optional[int]}  # noqa: UP045


# -- rejected definitions ----------------------------------------------------


def test_var_positional_arguments_are_rejected():
    with pytest.raises(
        StepDefinitionError, match=r"\*args and \*\*kwargs are not supported.*\*rest"
    ):

        @step
        def bad(x: int, *rest: int) -> int:
            return x


def test_var_keyword_arguments_are_rejected():
    with pytest.raises(
        StepDefinitionError, match=r"bad_kw: \*args and \*\*kwargs.*\*\*options"
    ):

        @step
        def bad_kw(x: int, **options: Any) -> int:
            return x


def test_step_needs_a_function():
    with pytest.raises(StepDefinitionError, match=r"@step needs a function, got 42"):
        step(42)  # type: ignore[arg-type]
    with pytest.raises(StepDefinitionError, match="@step needs a function"):
        step(len)  # a builtin is not a Python function


def test_step_definition_error_is_a_shipyard_error():
    assert issubclass(StepDefinitionError, ShipyardError)
    assert StepDefinitionError.headline == "Invalid step"


def test_invalid_explicit_name_is_rejected():
    with pytest.raises(
        StepDefinitionError, match=r"Step name 'has space' for .*ok is not valid"
    ):

        @step(name="has space")
        def ok() -> int:
            return 1


def test_lambda_has_no_valid_name():
    with pytest.raises(StepDefinitionError, match=r"Step name '<lambda>'"):
        step(lambda: 1)


# -- calling -----------------------------------------------------------------


def test_calling_a_step_outside_a_pipeline_calls_the_function():
    df = load(rows=3)
    assert isinstance(df, pd.DataFrame)
    assert list(df["x"]) == [0, 1, 2]
    parts = split(pd.DataFrame({"x": range(10)}), ratio=0.5)
    assert isinstance(parts, Split)
    assert len(parts.train) == 5 and parts.rows == 10
    assert untyped(1) == 3
    assert report(df) is None


def test_decorating_a_step_again_returns_the_same_step():
    assert step(load) is load


# -- options and copies ------------------------------------------------------


def test_step_with_options_in_decorator():
    @step(cache=False, allow_pickle=True, name="fetch-live")
    def fetch() -> dict:
        return {}

    assert fetch.cache is False
    assert fetch.allow_pickle is True
    assert fetch.name == "fetch-live"


def test_defaults_are_cache_on_and_pickle_off():
    assert load.cache is True
    assert load.allow_pickle is False


def test_named_returns_a_renamed_copy():
    other = load.named("load_test")
    assert other.name == "load_test"
    assert other.func is load.func
    assert other.outputs == load.outputs
    assert load.name == "load"  # the original is untouched
    assert load.named("load-2").name == "load-2"


@pytest.mark.parametrize("bad", ["", "2nd", "a b", "a.b"])
def test_named_rejects_invalid_names(bad):
    with pytest.raises(StepDefinitionError, match="is not valid; use letters, digits"):
        load.named(bad)


def test_with_options_returns_a_copy_and_keeps_unset_options():
    no_cache = load.with_options(cache=False)
    assert no_cache.cache is False and no_cache.allow_pickle is False
    both = no_cache.with_options(allow_pickle=True)
    assert both.cache is False and both.allow_pickle is True
    assert load.cache is True


# -- split_outputs -----------------------------------------------------------


def test_split_outputs_single_output():
    assert split_outputs(load, [1, 2]) == {"output": [1, 2]}


def test_split_outputs_no_output():
    assert split_outputs(report, "ignored") == {}


def test_split_outputs_namedtuple_maps_fields():
    a, b = pd.DataFrame({"x": [1]}), pd.DataFrame({"x": [2]})
    out = split_outputs(split, Split(a, b, 2))
    assert list(out) == ["train", "test", "rows"]
    assert out["train"] is a and out["test"] is b and out["rows"] == 2


def test_split_outputs_accepts_a_plain_tuple_of_the_right_length():
    out = split_outputs(split, (1, 2, 3))
    assert out == {"train": 1, "test": 2, "rows": 3}


def test_split_outputs_wrong_length_names_step_and_fields():
    with pytest.raises(
        StepDefinitionError,
        match=r"Step 'split' must return a Split with 3 fields \['train', 'test', 'rows'\]; "
        r"it returned tuple",
    ):
        split_outputs(split, (1, 2))


def test_split_outputs_non_tuple_names_the_returned_type():
    with pytest.raises(StepDefinitionError, match=r"it returned dict"):
        split_outputs(split, {"train": 1, "test": 2, "rows": 3})


# -- check_output_type -------------------------------------------------------


def test_check_output_type_accepts_matching_values():
    check_output_type(load, "output", pd.DataFrame())
    check_output_type(split, "rows", 3)
    check_output_type(split, "rows", True)  # bool is an int


def test_check_output_type_accepts_anything_for_an_unannotated_output():
    for value in (object(), 1, "text", None):
        check_output_type(untyped, "output", value)


def test_check_output_type_rejects_wrong_type_naming_output():
    with pytest.raises(
        StepDefinitionError,
        match=r"Step 'split' returned str for rows, but its return annotation says int",
    ):
        check_output_type(split, "rows", "three")


def test_check_output_type_single_output_says_its_output():
    with pytest.raises(
        StepDefinitionError,
        match=r"Step 'load' returned dict for its output, but its return annotation says DataFrame",
    ):
        check_output_type(load, "output", {"x": [1]})


def test_check_output_type_int_is_accepted_for_float():
    @step
    def ratio() -> float:
        return 1

    check_output_type(ratio, "output", 1)
    with pytest.raises(StepDefinitionError, match="returned str for its output"):
        check_output_type(ratio, "output", "1.0")


def test_check_output_type_union_and_optional():
    @step
    def maybe() -> int | None:
        return None

    check_output_type(maybe, "output", None)
    check_output_type(maybe, "output", 4)
    with pytest.raises(StepDefinitionError, match=r"says int \| NoneType"):
        check_output_type(maybe, "output", 4.5)


def test_check_output_type_generic_checks_the_origin_class():
    @step
    def values() -> list[int]:
        return []

    check_output_type(values, "output", [1, 2])
    with pytest.raises(
        StepDefinitionError, match=r"returned tuple for its output.*says list"
    ):
        check_output_type(values, "output", (1, 2))


# -- string annotations (from __future__ import annotations) ------------------


def test_string_annotations_are_resolved(load_module, uid):
    mod = load_module(
        f"steps_future_{uid}",
        """
        from __future__ import annotations
        from typing import NamedTuple
        import pandas as pd
        from shipyard import step

        class Pair(NamedTuple):
            left: pd.DataFrame
            n: int

        @step
        def pair(df: pd.DataFrame, n: int = 1) -> Pair:
            return Pair(df, n)
        """,
    )
    assert mod.pair.arguments["df"].annotation is pd.DataFrame
    assert mod.pair.arguments["n"].annotation is int
    assert mod.pair.outputs == {"left": pd.DataFrame, "n": int}
    assert mod.pair.output_type is mod.Pair


def test_names_imported_only_for_type_checking_become_any(load_module, uid):
    mod = load_module(
        f"steps_tc_{uid}",
        """
        from __future__ import annotations
        from typing import TYPE_CHECKING
        from shipyard import step
        if TYPE_CHECKING:
            import pandas as pd

        @step
        def clean(df: pd.DataFrame, rows: int = 3) -> pd.DataFrame:
            return df
        """,
    )
    assert mod.clean.arguments["df"].annotation is Any
    assert mod.clean.arguments["rows"].annotation is int
    assert mod.clean.outputs == {"output": Any}


def test_namedtuple_fields_imported_only_for_type_checking_become_any(load_module, uid):
    mod = load_module(
        f"steps_tc_nt_{uid}",
        """
        from __future__ import annotations
        from typing import TYPE_CHECKING, NamedTuple
        from shipyard import step
        if TYPE_CHECKING:
            import pandas as pd

        class Split(NamedTuple):
            train: pd.DataFrame
            rows: int

        @step
        def split(n: int = 1) -> Split:
            return Split(None, n)
        """,
    )
    assert mod.split.outputs == {"train": Any, "rows": int}
