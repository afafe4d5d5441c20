"""Pipelines: building with @pipeline, graph validation, params, order and export."""

from typing import Any, NamedTuple, Optional, Union

import pandas as pd
import pytest

from shipyard import Pipeline, PipelineDefinition, pipeline, step
from shipyard.engine.graph import (
    OutputRef,
    StepNode,
    StepOutput,
    current_builder,
    types_compatible,
    validate_params,
)
from shipyard.errors import ParamsError, PipelineDefinitionError


class Halves(NamedTuple):
    first: list
    second: list


@step
def load(rows: int = 4) -> list:
    return list(range(rows))


@step
def halve(values: list) -> Halves:
    mid = len(values) // 2
    return Halves(values[:mid], values[mid:])


@step
def total(values: list, scale: float = 1.0) -> float:
    return sum(values) * scale


@step
def describe(values: list) -> str:
    return str(values)


@step
def fit(df: pd.DataFrame, lr: float = 0.1) -> int:
    return 0


@step
def count(n: int) -> int:
    return n


@step
def combine(a: float, b: float) -> float:
    return a + b


@step
def sink(x: Any) -> None:
    return None


@pipeline
def numbers(rows: int = 4, scale: float = 1.0):
    parts = halve(load(rows=rows))
    left = total.named("total_first")(parts.first, scale=scale)
    right = total.named("total_second")(parts.second)
    combine(left, right)


def _problems(exc: pytest.ExceptionInfo[PipelineDefinitionError]) -> list[str]:
    return [line[2:] for line in str(exc.value).splitlines()[1:]]


# -- building ----------------------------------------------------------------


def test_pipeline_decorator_returns_a_definition():
    assert isinstance(numbers, PipelineDefinition)
    assert numbers.name == "numbers"
    assert repr(numbers) == "PipelineDefinition('numbers')"

    @pipeline(name="custom-name")
    def other():
        load()

    assert other.name == "custom-name"
    assert other.build().name == "custom-name"


def test_build_records_nodes_inputs_and_params():
    built = numbers.build(rows=6, scale=2.0)
    assert isinstance(built, Pipeline)
    assert len(built) == 5
    assert built.params == {"rows": 6, "scale": 2.0}
    assert built.source == f"{__name__}:numbers"
    assert dict(built.node("load").params) == {"rows": 6}
    assert built.node("halve").inputs == {"values": OutputRef("load", "output")}
    first = built.node("total_first")
    assert first.inputs == {"values": OutputRef("halve", "first")}
    assert dict(first.params) == {"scale": 2.0}
    second = built.node("total_second")
    assert dict(second.params) == {"scale": 1.0}  # the default is recorded
    assert built.node("combine").inputs == {
        "a": OutputRef("total_first"),
        "b": OutputRef("total_second"),
    }
    assert built.upstream("combine") == {"total_first", "total_second"}


def test_build_uses_pipeline_defaults():
    built = numbers.build()
    assert built.params == {"rows": 4, "scale": 1.0}
    assert dict(built.node("load").params) == {"rows": 4}


def test_each_build_is_a_new_independent_pipeline():
    a, b = numbers.build(rows=1), numbers.build(rows=2)
    assert a is not b
    assert dict(a.node("load").params) == {"rows": 1}
    assert dict(b.node("load").params) == {"rows": 2}
    assert current_builder() is None  # the build context does not leak


def test_step_calls_in_a_pipeline_return_output_handles():
    seen: dict[str, Any] = {}

    @pipeline
    def probe():
        seen["single"] = load()
        seen["multi"] = halve(seen["single"])
        seen["none"] = sink(seen["single"])

    probe.build()
    single = seen["single"]
    assert isinstance(single, StepOutput)
    assert single.ref == OutputRef("load", "output")
    assert str(single.ref) == "load.output"
    assert single.annotation is list
    assert isinstance(seen["multi"], Halves)
    assert seen["multi"].second.ref == OutputRef("halve", "second")
    assert seen["none"] is None


def test_an_output_cannot_be_used_in_an_if():
    @pipeline
    def branching():
        if load():
            pass

    with pytest.raises(
        PipelineDefinitionError, match=r"load.output has no value.*if/while"
    ):
        branching.build()


def test_a_single_output_cannot_be_unpacked():
    @pipeline
    def unpacking():
        _a, _b = load()

    with pytest.raises(
        PipelineDefinitionError, match=r"load.output cannot be unpacked.*NamedTuple"
    ):
        unpacking.build()


def test_positional_and_keyword_literals_become_validated_params():
    @pipeline
    def literals():
        count("3")  # a required argument given a literal is a param
        load.named("load_pos")(5)

    built = literals.build()
    assert dict(built.node("count").params) == {"n": 3}
    assert dict(built.node("count").params_json) == {"n": 3}
    assert built.node("count").inputs == {}
    assert dict(built.node("load_pos").params) == {"rows": 5}


# -- problems found at build time --------------------------------------------


def test_missing_input_names_step_and_input():
    @pipeline
    def missing():
        load()
        total()

    with pytest.raises(
        PipelineDefinitionError,
        match=r"1 problem\(s\) in pipeline 'missing':\n- step 'total': input 'values' is missing",
    ):
        missing.build()


def test_duplicate_step_names_are_reported_with_a_fix():
    @pipeline
    def twice():
        load()
        load()

    with pytest.raises(
        PipelineDefinitionError,
        match=r"duplicate step name 'load' \(2 steps\); rename one with step.named",
    ):
        twice.build()


def test_unknown_argument_names_the_step_and_argument():
    @pipeline
    def unknown():
        total(load(), bogus=3)

    with pytest.raises(PipelineDefinitionError, match=r"step 'total': .*'bogus'"):
        unknown.build()


def test_unknown_argument_on_a_node_lists_known_arguments():
    node = StepNode("load", load, params={"rows": 1, "colour": "red"})
    with pytest.raises(
        PipelineDefinitionError,
        match=r"step 'load': no argument 'colour'; its arguments: \['rows'\]",
    ):
        Pipeline("direct", [node])


def test_reading_an_output_that_does_not_exist():
    nodes = [
        StepNode("load", load, params={"rows": 1}),
        StepNode("total", total, inputs={"values": OutputRef("load", "nope")}),
    ]
    with pytest.raises(
        PipelineDefinitionError,
        match=r"step 'total': input 'values' reads load.nope, but 'load' has outputs \['output'\]",
    ):
        Pipeline("p", nodes)


def test_reading_an_output_of_a_step_without_outputs():
    nodes = [
        StepNode("sink", sink, params={"x": 1}),
        StepNode("total", total, inputs={"values": OutputRef("sink")}),
    ]
    with pytest.raises(PipelineDefinitionError, match=r"but 'sink' has outputs none"):
        Pipeline("p", nodes)


def test_reading_a_step_that_does_not_exist():
    node = StepNode("total", total, inputs={"values": OutputRef("ghost")})
    with pytest.raises(
        PipelineDefinitionError,
        match=r"step 'total': input 'values' reads ghost.output, but no step is named 'ghost'",
    ):
        Pipeline("p", [node])


def test_str_output_feeding_a_dataframe_input_is_a_type_mismatch():
    @pipeline
    def mismatch():
        fit(describe(load()))

    with pytest.raises(
        PipelineDefinitionError,
        match=r"step 'fit': input 'df' expects DataFrame, but describe.output is str",
    ):
        mismatch.build()


def test_str_output_feeding_an_int_input_is_a_type_mismatch():
    @pipeline
    def mismatch():
        count(describe(load()))

    with pytest.raises(
        PipelineDefinitionError,
        match=r"step 'count': input 'n' expects int, but describe.output is str",
    ):
        mismatch.build()


def test_int_output_feeds_a_float_input():
    @pipeline
    def widening():
        n = count(3)
        combine(n, n)

    built = widening.build()
    assert built.node("combine").inputs == {
        "a": OutputRef("count"),
        "b": OutputRef("count"),
    }


def test_cycle_between_nodes_is_reported():
    nodes = [
        StepNode("a", count, inputs={"n": OutputRef("b")}),
        StepNode("b", count, inputs={"n": OutputRef("a")}),
    ]
    with pytest.raises(
        PipelineDefinitionError, match=r"cycle between steps: 'a' <- 'b' <- 'a'"
    ):
        Pipeline("loop", nodes)


def test_a_step_reading_its_own_output_is_a_cycle():
    node = StepNode("self_loop", count, inputs={"n": OutputRef("self_loop")})
    with pytest.raises(
        PipelineDefinitionError,
        match=r"cycle between steps: 'self_loop' <- 'self_loop'",
    ):
        Pipeline("loop", [node])


def test_longer_cycle_behind_an_entry_node():
    nodes = [
        StepNode("entry", count, inputs={"n": OutputRef("x")}),
        StepNode("x", count, inputs={"n": OutputRef("y")}),
        StepNode("y", count, inputs={"n": OutputRef("z")}),
        StepNode("z", count, inputs={"n": OutputRef("x")}),
    ]
    with pytest.raises(
        PipelineDefinitionError, match=r"cycle between steps: 'x' <- 'y' <- 'z' <- 'x'"
    ):
        Pipeline("loop", nodes)


def test_several_problems_are_reported_together():
    @pipeline
    def broken():
        count(describe(load()))
        total()
        total.named("extra")(load.named("load2")(nope=1))
        load()

    with pytest.raises(PipelineDefinitionError) as exc:
        broken.build()
    problems = _problems(exc)
    assert str(exc.value).startswith(
        f"{len(problems)} problem(s) in pipeline 'broken':"
    )
    assert len(problems) == 4
    joined = "\n".join(problems)
    assert "duplicate step name 'load'" in joined
    assert "step 'count': input 'n' expects int, but describe.output is str" in joined
    assert "step 'total': input 'values' is missing" in joined
    assert "step 'load2':" in joined and "'nope'" in joined
    assert problems == sorted(problems)


def test_unknown_argument_does_not_make_passed_inputs_look_missing():
    @pipeline
    def unknown():
        total(load(), bogus=3)

    with pytest.raises(PipelineDefinitionError) as exc:
        unknown.build()
    problems = _problems(exc)
    assert len(problems) == 1, problems
    assert "'bogus'" in problems[0]


def test_empty_pipeline_and_bad_name_are_problems():
    with pytest.raises(PipelineDefinitionError, match=r"- it has no steps"):
        Pipeline("empty", [])
    with pytest.raises(
        PipelineDefinitionError, match=r"pipeline name '' must be a non-empty string"
    ):
        Pipeline("", [StepNode("load", load)])


def test_outputs_inside_a_list_are_an_error():
    @pipeline
    def listed():
        total([load(), load.named("other")()])

    with pytest.raises(
        PipelineDefinitionError,
        match=r"step 'total': argument 'values' holds step outputs inside a list; pass each "
        r"output as its own argument",
    ):
        listed.build()


def test_outputs_inside_a_dict_are_an_error():
    @pipeline
    def mapped():
        sink({"data": load()})

    with pytest.raises(
        PipelineDefinitionError, match=r"argument 'x' holds step outputs inside a dict"
    ):
        mapped.build()


# -- params ------------------------------------------------------------------


def test_step_param_of_wrong_type_is_reported_with_step_and_param():
    @pipeline
    def wrong():
        total(load(), scale="fast")

    with pytest.raises(
        PipelineDefinitionError,
        match=r"param 'scale' of step 'total': .*valid number.*\(got 'fast'\)",
    ):
        wrong.build()


def test_pipeline_param_of_wrong_type_raises_params_error_naming_the_param():
    with pytest.raises(
        ParamsError, match=r"param 'rows' .*valid integer.*\(got 'many'\)"
    ):
        numbers.build(rows="many")


def test_pipeline_param_string_is_coerced_to_int():
    built = numbers.build(rows="3")
    assert built.params["rows"] == 3
    assert built.node("load").params["rows"] == 3


def test_unknown_pipeline_param_raises_params_error():
    with pytest.raises(
        ParamsError,
        match=r"Pipeline 'numbers' has no param 'colour', 'size'; its params: \['rows', 'scale'\]",
    ):
        numbers.build(size=1, colour="red")


def test_pipeline_without_params_says_none():
    @pipeline
    def plain():
        load()

    with pytest.raises(ParamsError, match=r"its params: none"):
        plain.build(rows=1)


def test_validate_params_returns_python_and_json_values():
    python, as_json = validate_params(load, {"rows": "7"}, names=["rows"])
    assert python == {"rows": 7}
    assert as_json == {"rows": 7}
    python, _ = validate_params(load, {}, names=["rows"])
    assert python == {"rows": 4}


def test_validate_params_rejects_values_that_are_not_json():
    @step
    def raw(blob: object = None) -> int:
        return 0

    with pytest.raises(ParamsError, match=r"params of step 'raw' must be JSON values"):
        validate_params(raw, {"blob": object()}, names=["blob"])


# -- order and export --------------------------------------------------------


def test_nodes_are_in_topological_order():
    built = numbers.build()
    names = [n.name for n in built]
    assert names[0] == "load"
    assert names.index("halve") < names.index("total_first") < names.index("combine")
    assert names.index("total_second") < names.index("combine")


def test_direct_pipeline_sorts_nodes_given_in_reverse():
    nodes = [
        StepNode("c", count, inputs={"n": OutputRef("b")}),
        StepNode("b", count, inputs={"n": OutputRef("a")}),
        StepNode("a", count, params={"n": 1}),
        StepNode("free", count, params={"n": 2}),
    ]
    built = Pipeline("direct", nodes)
    assert [n.name for n in built] == ["a", "free", "b", "c"]
    assert repr(built) == "Pipeline('direct', steps=['a', 'free', 'b', 'c'])"


def test_node_lookup_of_unknown_step():
    built = numbers.build()
    with pytest.raises(
        PipelineDefinitionError, match=r"Pipeline 'numbers' has no step 'nope'; steps:"
    ):
        built.node("nope")


def test_to_dict_describes_the_graph_as_json():
    built = numbers.build(rows=2)
    data = built.to_dict()
    assert data["name"] == "numbers"
    assert data["source"] == f"{__name__}:numbers"
    assert data["params"] == {"rows": 2, "scale": 1.0}
    steps = {s["name"]: s for s in data["steps"]}
    assert [s["name"] for s in data["steps"]] == [n.name for n in built]
    assert steps["load"] == {
        "name": "load",
        "function": f"{__name__}:load",
        "inputs": {},
        "params": {"rows": 2},
        "outputs": {"output": "list"},
        "tags": [],
    }
    assert steps["halve"]["inputs"] == {"values": "load.output"}
    assert steps["halve"]["outputs"] == {"first": "list", "second": "list"}
    assert steps["total_first"]["inputs"] == {"values": "halve.first"}
    assert steps["total_first"]["function"] == f"{__name__}:total"
    import json

    assert json.loads(json.dumps(data)) == data


# -- types_compatible --------------------------------------------------------


@pytest.mark.parametrize(
    ("produced", "expected"),
    [
        (int, int),
        (int, float),
        (bool, int),
        (int, Any),
        (Any, pd.DataFrame),
        (str, object),
        (list[int], list),
        (list, list[str]),
        (int, Optional[int]),  # noqa: UP045
        (Optional[int], int),  # noqa: UP045
        (int, Union[str, int]),  # noqa: UP007
        (str, int | str),
        (int, float | None),
        (pd.DataFrame, pd.DataFrame),
    ],
)
def test_types_compatible(produced, expected):
    assert types_compatible(produced, expected)


@pytest.mark.parametrize(
    ("produced", "expected"),
    [
        (str, int),
        (str, pd.DataFrame),
        (float, int),
        (dict, list),
        (str, Optional[int]),  # noqa: UP045
        (str | bytes, int | float),
    ],
)
def test_types_incompatible(produced, expected):
    assert not types_compatible(produced, expected)
