"""``shipyard.engine.graph`` provides ``Pipeline`` (a DAG of steps) and ``@pipeline``.

A pipeline is a list of :class:`StepNode`: a step under a unique name, its
inputs (references to other nodes' outputs) and its validated params. The
constructor checks the whole graph at once and raises one error listing every
problem: duplicate names, unknown or missing inputs, unknown arguments, cycles
and type mismatches between connected steps.

``@pipeline`` turns a function that calls steps into a pipeline factory: the
function runs once per build, each step call adds a node and returns handles
to its outputs. YAML pipelines compile to the same ``StepNode`` list.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, overload

from shipyard.engine.step import (
    SINGLE_OUTPUT,
    Step,
    arguments_of,
    class_of,
    union_members,
)
from shipyard.engine.tracebacks import user_traceback
from shipyard.errors import ParamsError, PipelineDefinitionError, ShipyardError
from shipyard.stores.metadata.records import ArtifactRecord


@dataclass(frozen=True)
class OutputRef:
    """A reference to one output of one node: ``node.output``."""

    node: str
    output: str = SINGLE_OUTPUT

    def __str__(self) -> str:
        return f"{self.node}.{self.output}"


@dataclass(frozen=True)
class ArtifactInput:
    """An input fed by an existing artifact (a dataset version) rather than a step."""

    artifact_id: str

    def __str__(self) -> str:
        return f"artifact:{self.artifact_id}"


class StepOutput:
    """A placeholder for a step's output while a pipeline is being built.

    It only stands for a value: pass it to another step. Its value exists when
    the pipeline runs, inside the steps.
    """

    __slots__ = ("annotation", "ref")

    def __init__(self, ref: OutputRef, annotation: Any) -> None:
        self.ref = ref
        self.annotation = annotation

    def __repr__(self) -> str:
        return f"StepOutput({self.ref})"

    def __bool__(self) -> bool:
        raise PipelineDefinitionError(
            f"The output {self.ref} has no value while the pipeline is built, so it "
            "cannot be used in an if/while; branch inside a step instead."
        )

    def __iter__(self) -> Iterator[Any]:
        raise PipelineDefinitionError(
            f"The output {self.ref} cannot be unpacked while the pipeline is built; "
            "declare several outputs with a NamedTuple return type."
        )


@dataclass(frozen=True, eq=False)
class StepNode:
    """A step placed in a pipeline under a unique name.

    Attributes:
        name: unique name in the pipeline.
        step: the step.
        inputs: argument name -> the output feeding it.
        params: argument name -> validated value passed to the function.
        params_json: the same params as JSON values (recorded and hashed).
    """

    name: str
    step: Step
    inputs: Mapping[str, OutputRef | ArtifactInput] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    params_json: Mapping[str, Any] = field(default_factory=dict)

    @property
    def outputs(self) -> dict[str, Any]:
        """Output names and declared types."""
        return self.step.outputs


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return repr(tp).replace("typing.", "")


def types_compatible(produced: Any, expected: Any) -> bool:
    """True when a value declared as ``produced`` may feed an input declared ``expected``.

    Unknown or non-class annotations are compatible with anything; an int may
    feed a float.
    """
    if produced is Any or expected is Any or ArtifactRecord in (produced, expected):
        return True  # a reference to an artifact stands for its value
    wanted = [class_of(e) for e in union_members(expected)]
    if any(w is None or w is object for w in wanted):
        return True
    for option in union_members(produced):
        klass = class_of(option)
        if klass is None:
            return True
        if any(issubclass(klass, w) or (klass is int and w is float) for w in wanted if w):
            return True
    return False


@lru_cache(maxsize=512)
def _params_model(step: Step, names: tuple[str, ...]) -> Any:
    from pydantic import ConfigDict, Field, create_model

    fields: dict[str, Any] = {}
    for name in names:
        arg = step.arguments[name]
        default = ... if arg.required else arg.default
        # pydantic keeps names starting with "_" private: validate them under an alias.
        fields[f"p{name}" if name.startswith("_") else name] = (
            arg.annotation, Field(default, alias=name)
        )
    return create_model(
        f"{step.name}_params",
        __config__=ConfigDict(arbitrary_types_allowed=True, extra="forbid", populate_by_name=False),
        **fields,
    )


def _canonical(value: Any, as_json: Any) -> Any:
    """JSON of a param with sets sorted: their order must not change the cache key."""
    if isinstance(value, (set, frozenset)) and isinstance(as_json, list):
        return sorted(as_json, key=lambda v: json.dumps(v, sort_keys=True, default=str))
    return as_json


def validate_params(
    step: Step, values: Mapping[str, Any], *, names: Sequence[str], owner: str = "step"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate a step's params against its type hints with pydantic.

    Args:
        step: the step.
        values: the params given (the rest take their defaults).
        names: every argument that is a param (not an input).
        owner: what the params belong to in messages ("step" or "pipeline").

    Returns:
        ``(python_values, json_values)``.

    Raises:
        ParamsError: naming each invalid param, the value and what was expected.
    """
    from pydantic import ValidationError
    from pydantic_core import PydanticSerializationError

    model = _params_model(step, tuple(names))
    try:
        validated = model(**values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "params"
            given = err.get("input")
            problems.append(
                f"param {where!r} of {owner} {step.name!r}: {err['msg']} (got {given!r})"
            )
        raise ParamsError("; ".join(problems)) from exc
    python = {name: getattr(validated, f"p{name}" if name.startswith("_") else name) for name in names}
    try:
        dumped = validated.model_dump(mode="json", by_alias=True)
        as_json = {name: _canonical(python[name], dumped[name]) for name in names}
    except PydanticSerializationError as exc:
        raise ParamsError(
            f"params of {owner} {step.name!r} must be JSON values to be recorded and "
            f"hashed: {exc}"
        ) from exc
    return python, as_json


class Pipeline:
    """A validated DAG of step nodes, in dependency order.

    Args:
        name: the pipeline's name (runs are grouped by it).
        nodes: the step nodes.
        params: the pipeline-level params it was built with (recorded on runs).
        source: where it came from, e.g. ``pipelines.py:training`` or a YAML path.
        problems: problems found while building, reported with the graph's own.

    Raises:
        PipelineDefinitionError: listing every problem of the graph.
    """

    def __init__(
        self,
        name: str,
        nodes: Sequence[StepNode],
        *,
        params: Mapping[str, Any] | None = None,
        source: str | None = None,
        problems: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.params = dict(params or {})
        self.source = source
        found = sorted(set(problems) | set(_check_graph(name, nodes)))
        if found:
            listing = "\n".join(f"- {p}" for p in found)
            raise PipelineDefinitionError(
                f"{len(found)} problem(s) in pipeline {name!r}:\n{listing}"
            )
        self.nodes: tuple[StepNode, ...] = _topological(nodes)
        self._by_name = {node.name: node for node in self.nodes}

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[StepNode]:
        return iter(self.nodes)

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, steps={[n.name for n in self.nodes]})"

    def node(self, name: str) -> StepNode:
        """The node called ``name``.

        Raises:
            PipelineDefinitionError: when there is none.
        """
        try:
            return self._by_name[name]
        except KeyError:
            raise PipelineDefinitionError(
                f"Pipeline {self.name!r} has no step {name!r}; steps: {list(self._by_name)}."
            ) from None

    def upstream(self, name: str) -> set[str]:
        """Names of the nodes whose outputs ``name`` reads directly."""
        return {ref.node for ref in self.node(name).inputs.values() if isinstance(ref, OutputRef)}

    def to_dict(self) -> dict[str, Any]:
        """The graph as JSON: steps with their function, inputs, params and outputs."""
        return {
            "name": self.name,
            "source": self.source,
            "params": self.params,
            "steps": [
                {
                    "name": node.name,
                    "function": node.step.qualname,
                    "inputs": {arg: str(ref) for arg, ref in node.inputs.items()},
                    "params": dict(node.params_json),
                    "outputs": {k: _type_name(v) for k, v in node.outputs.items()},
                    "tags": sorted(node.step.tags),
                }
                for node in self.nodes
            ],
        }


def _check_graph(name: str, nodes: Sequence[StepNode]) -> list[str]:
    problems: list[str] = []
    if not name or not isinstance(name, str):
        problems.append(f"pipeline name {name!r} must be a non-empty string")
    if not nodes:
        problems.append("it has no steps")
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node.name] = counts.get(node.name, 0) + 1
    problems += [
        f"duplicate step name {dup!r} ({n} steps); rename one with step.named('...')"
        for dup, n in counts.items()
        if n > 1
    ]
    by_name = {node.name: node for node in nodes}
    for node in nodes:
        problems += _check_node(node, by_name)
    problems += _check_cycles(nodes, by_name)
    return problems


def _check_node(node: StepNode, by_name: Mapping[str, StepNode]) -> list[str]:
    problems: list[str] = []
    known = node.step.arguments
    for arg in [*node.inputs, *node.params]:
        if arg not in known:
            problems.append(
                f"step {node.name!r}: no argument {arg!r}; its arguments: {list(known)}"
            )
    for arg in known.values():
        if arg.required and arg.name not in node.inputs and arg.name not in node.params:
            problems.append(
                f"step {node.name!r}: input {arg.name!r} is missing; pass it the output "
                "of another step, or give the argument a default"
            )
    for arg, ref in node.inputs.items():
        if isinstance(ref, ArtifactInput):
            continue
        producer = by_name.get(ref.node)
        if producer is None:
            problems.append(
                f"step {node.name!r}: input {arg!r} reads {ref}, but no step is named "
                f"{ref.node!r}"
            )
            continue
        if ref.output not in producer.outputs:
            problems.append(
                f"step {node.name!r}: input {arg!r} reads {ref}, but {ref.node!r} has "
                f"outputs {list(producer.outputs) or 'none'}"
            )
            continue
        produced = producer.outputs[ref.output]
        expected = known[arg].annotation if arg in known else Any
        if not types_compatible(produced, expected):
            problems.append(
                f"step {node.name!r}: input {arg!r} expects {_type_name(expected)}, but "
                f"{ref} is {_type_name(produced)}"
            )
    return problems


def _check_cycles(nodes: Sequence[StepNode], by_name: Mapping[str, StepNode]) -> list[str]:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for ref in by_name[name].inputs.values():
            if not isinstance(ref, OutputRef) or ref.node not in by_name:
                continue
            if state.get(ref.node) == 1:
                return [*path[path.index(ref.node) :], ref.node]
            if ref.node not in state and (cycle := visit(ref.node)):
                return cycle
        state[name] = 2
        path.pop()
        return None

    for node in nodes:
        if node.name not in state and (cycle := visit(node.name)):
            chain = " <- ".join(repr(c) for c in cycle)
            return [f"cycle between steps: {chain} (each reads the next one's output)"]
    return []


def _topological(nodes: Sequence[StepNode]) -> tuple[StepNode, ...]:
    order: list[StepNode] = []
    done: set[str] = set()
    pending = list(nodes)
    while pending:
        ready = [
            n for n in pending
            if all(r.node in done for r in n.inputs.values() if isinstance(r, OutputRef))
        ]
        if not ready:  # unreachable: _check_cycles rejects cycles first
            raise PipelineDefinitionError(f"cycle among steps {[n.name for n in pending]}")
        for node in ready:
            order.append(node)
            done.add(node.name)
        pending = [n for n in pending if n.name not in done]
    return tuple(order)


# -- building pipelines from Python -------------------------------------------

_BUILDER: ContextVar[_Builder | None] = ContextVar("shipyard_pipeline_builder", default=None)


def current_builder() -> _Builder | None:
    """The pipeline being built in this context, if any."""
    return _BUILDER.get()


def _holds_output(value: Any) -> bool:
    if isinstance(value, StepOutput):
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_holds_output(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_output(v) for v in value.values())
    return False


class _Builder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes: list[StepNode] = []
        self.problems: list[str] = []

    def _bind(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        unknown = [name for name in kwargs if name not in step.arguments]
        if unknown:
            self.problems.append(
                f"step {step.name!r}: no argument {', '.join(map(repr, unknown))}; "
                f"its arguments: {list(step.arguments)}"
            )
        known = {k: v for k, v in kwargs.items() if k in step.arguments}
        signature = inspect.signature(step.func)
        try:
            return dict(signature.bind_partial(*args, **known).arguments)
        except TypeError as exc:
            self.problems.append(f"step {step.name!r}: {exc}")
            try:
                return dict(signature.bind_partial(**known).arguments)
            except TypeError:
                return {}

    def add(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        inputs: dict[str, OutputRef] = {}
        literals: dict[str, Any] = {}
        for arg, value in self._bind(step, args, kwargs).items():
            if isinstance(value, StepOutput):
                inputs[arg] = value.ref
            elif _holds_output(value):
                self.problems.append(
                    f"step {step.name!r}: argument {arg!r} holds step outputs inside a "
                    f"{type(value).__name__}; pass each output as its own argument"
                )
            else:
                literals[arg] = value
        names = [
            a.name for a in step.arguments.values() if a.name not in inputs and not a.required
        ] + [a for a in literals if a in step.arguments and step.arguments[a].required]
        params, params_json = {}, {}
        try:
            params, params_json = validate_params(step, literals, names=names)
        except ParamsError as exc:
            self.problems.append(str(exc))
        node = StepNode(step.name, step, inputs, params, params_json)
        self.nodes.append(node)
        handles = [
            StepOutput(OutputRef(node.name, out), ann) for out, ann in step.outputs.items()
        ]
        if step.output_type is not None:
            return step.output_type(*handles)
        return handles[0] if handles else None


class CliText(str):
    """A param value typed on the command line: parsed by the type it is given to."""


def _accepts_text(annotation: Any) -> bool:
    return any(option is str or option is Any for option in union_members(annotation))


def _from_text(value: CliText, annotation: Any) -> Any:
    """The raw text for a ``str`` param (so ``001`` stays ``"001"``); else its YAML value."""
    if _accepts_text(annotation):
        return str(value)
    import yaml

    try:
        return yaml.safe_load(value) if value.strip() else str(value)
    except yaml.YAMLError:
        return str(value)


class PipelineDefinition:
    """A function that calls steps, turned into a pipeline factory by ``@pipeline``.

    Call :meth:`build` to get the :class:`Pipeline`; run it with
    ``shipyard run file.py:name`` or :meth:`shipyard.Client.run`.
    """

    def __init__(self, func: Callable[..., Any], name: str) -> None:
        self.func = func
        self.name = name
        self.__doc__ = func.__doc__
        self.__wrapped__ = func

    def __repr__(self) -> str:
        return f"PipelineDefinition({self.name!r})"

    def build(self, **params: Any) -> Pipeline:
        """Build the pipeline, passing ``params`` to the function.

        Raises:
            ParamsError: when a param is unknown or has the wrong type.
            PipelineDefinitionError: listing every problem of the graph.
        """
        python, as_json = self._validate(params)
        builder = _Builder(self.name)
        token = _BUILDER.set(builder)
        try:
            self.func(**python)
        except ShipyardError:
            raise
        except Exception as exc:
            _, where = user_traceback(exc)
            raise PipelineDefinitionError(
                f"Building pipeline {self.name!r} failed"
                + (f" at {where}" if where else "")
                + f": {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            _BUILDER.reset(token)
        source = f"{self.func.__module__}:{self.func.__qualname__}"
        return Pipeline(
            self.name, builder.nodes, params=as_json, source=source, problems=builder.problems
        )

    def _validate(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        as_step = Step(
            func=self.func, name=self.name, arguments=arguments_of(self.func), outputs={}
        )
        params = {
            name: _from_text(value, as_step.arguments[name].annotation)
            if isinstance(value, CliText) and name in as_step.arguments
            else value
            for name, value in params.items()
        }
        unknown = sorted(set(params) - set(as_step.arguments))
        if unknown:
            raise ParamsError(
                f"Pipeline {self.name!r} has no param {', '.join(map(repr, unknown))}; "
                f"its params: {list(as_step.arguments) or 'none'}."
            )
        return validate_params(as_step, params, names=list(as_step.arguments), owner="pipeline")


@overload
def pipeline(func: Callable[..., Any], /) -> PipelineDefinition: ...
@overload
def pipeline(*, name: str | None = None) -> Callable[[Callable[..., Any]], PipelineDefinition]: ...


def pipeline(
    func: Callable[..., Any] | None = None, /, *, name: str | None = None
) -> PipelineDefinition | Callable[[Callable[..., Any]], PipelineDefinition]:
    """Turn a function that calls steps into a pipeline definition.

    Args:
        func: the function (when used as ``@pipeline`` without parentheses).
        name: the pipeline's name; default the function's name.

    Example:
        >>> from shipyard import step, pipeline
        >>> @step
        ... def load() -> list:
        ...     return [1, 2, 3]
        >>> @step
        ... def total(values: list) -> int:
        ...     return sum(values)
        >>> @pipeline
        ... def numbers():
        ...     total(load())
        >>> [n.name for n in numbers.build()]
        ['load', 'total']
    """

    def decorate(f: Callable[..., Any]) -> PipelineDefinition:
        return PipelineDefinition(f, name or f.__name__)

    return decorate(func) if func is not None else decorate


__all__ = [
    "ArtifactInput",
    "CliText",
    "OutputRef",
    "Pipeline",
    "PipelineDefinition",
    "StepNode",
    "StepOutput",
    "current_builder",
    "pipeline",
    "types_compatible",
    "validate_params",
]
