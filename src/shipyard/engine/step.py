"""``shipyard.engine.step`` provides ``@step`` and the ``Step`` value object.

A step is a plain typed function. Its arguments become inputs (when a
pipeline passes another step's output) or params (when it passes a literal,
or leaves the default); its return annotation names its outputs: one output
called ``output``, several from a ``NamedTuple``, none for ``None``.

Called outside a pipeline, a step is just its function. Called while a
``@pipeline`` function is being built, it records a node and returns handles
to its outputs.
"""

from __future__ import annotations

import inspect
import numbers
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, overload

from shipyard.errors import StepDefinitionError

SINGLE_OUTPUT = "output"
_EMPTY = inspect.Parameter.empty


@dataclass(frozen=True)
class Argument:
    """One argument of a step function."""

    name: str
    annotation: Any = Any
    default: Any = _EMPTY

    @property
    def required(self) -> bool:
        """True when the argument has no default."""
        return self.default is _EMPTY


def _is_namedtuple(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, tuple) and hasattr(tp, "_fields")


def _hints(obj: Any) -> dict[str, Any]:
    """Type hints of a function or class; unresolvable ones become ``Any``."""
    try:
        return typing.get_type_hints(obj)
    except Exception:
        # Names imported under TYPE_CHECKING cannot be resolved: treat those
        # annotations as unknown (Any) rather than failing.
        raw = inspect.get_annotations(obj)
        namespace = getattr(obj, "__globals__", None)
        if namespace is None:
            module = sys.modules.get(getattr(obj, "__module__", "") or "")
            namespace = vars(module) if module is not None else {}
        resolved: dict[str, Any] = {}
        for name, value in raw.items():
            if isinstance(value, typing.ForwardRef):
                value = value.__forward_arg__
            if isinstance(value, str):
                try:
                    resolved[name] = eval(value, dict(namespace))
                except Exception:
                    resolved[name] = Any
            else:
                resolved[name] = value
        return resolved


def _outputs(func: Callable[..., Any], hints: dict[str, Any]) -> tuple[dict[str, Any], type | None]:
    if "return" not in hints:
        return {SINGLE_OUTPUT: Any}, None
    ret = hints["return"]
    if ret is None or ret is type(None):
        return {}, None
    if _is_namedtuple(ret):
        field_hints = _hints(ret) if getattr(ret, "__annotations__", None) else {}
        return {name: field_hints.get(name, Any) for name in ret._fields}, ret
    return {SINGLE_OUTPUT: ret}, None


@dataclass(frozen=True, eq=False)
class Step:
    """A function with typed inputs, typed outputs and validated params.

    Build one with :func:`step`. Steps are immutable; :meth:`named` and
    :meth:`with_options` return copies.

    Attributes:
        func: the user's function.
        name: the step's name in a pipeline (default: the function's name).
        arguments: the function's arguments by name.
        outputs: output names and their declared types.
        output_type: the NamedTuple class when the step has several outputs.
        cache: False to always run the step.
        allow_pickle: True lets outputs that no safe materializer handles be pickled.
    """

    func: Callable[..., Any]
    name: str
    arguments: dict[str, Argument]
    outputs: dict[str, Any]
    output_type: type | None = None
    cache: bool = True
    allow_pickle: bool = False
    tags: frozenset[str] = frozenset()
    description: str = field(default="", compare=False)

    @property
    def __shipyard_func__(self) -> Callable[..., Any]:
        return self.func

    @property
    def qualname(self) -> str:
        """``module:function`` of the step function."""
        return f"{self.func.__module__}:{self.func.__qualname__}"

    def named(self, name: str) -> Step:
        """A copy of the step under another name (to use a step twice in a pipeline)."""
        _check_name(name, self.func)
        return replace(self, name=name)

    def with_options(
        self, *, cache: bool | None = None, allow_pickle: bool | None = None
    ) -> Step:
        """A copy with other options."""
        return replace(
            self,
            cache=self.cache if cache is None else cache,
            allow_pickle=self.allow_pickle if allow_pickle is None else allow_pickle,
        )

    def tagged(self, *tags: str) -> Step:
        """A copy with more tags (``data`` marks a step whose output is a data version)."""
        return replace(self, tags=self.tags | frozenset(tags))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from shipyard.engine.graph import current_builder

        builder = current_builder()
        if builder is None:
            return self.func(*args, **kwargs)
        return builder.add(self, args, kwargs)

    def __repr__(self) -> str:
        return f"Step({self.name!r}, func={self.qualname})"


def _check_name(name: str, func: Callable[..., Any]) -> None:
    if not isinstance(name, str) or not name or not name.replace("-", "_").isidentifier():
        raise StepDefinitionError(
            f"Step name {name!r} for {func.__qualname__} is not valid; use letters, digits, "
            "'_' and '-', starting with a letter or '_'."
        )


def arguments_of(
    func: Callable[..., Any], hints: dict[str, Any] | None = None
) -> dict[str, Argument]:
    """The arguments of a function with their type hints and defaults.

    Raises:
        StepDefinitionError: for ``*args`` or ``**kwargs``.
    """
    hints = _hints(func) if hints is None else hints
    arguments: dict[str, Argument] = {}
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise StepDefinitionError(
                f"{func.__qualname__}: *args and **kwargs are not supported (found "
                f"{param}); declare each input and param by name."
            )
        arguments[param.name] = Argument(param.name, hints.get(param.name, Any), param.default)
    return arguments


def _make_step(
    func: Callable[..., Any],
    *,
    name: str | None,
    cache: bool,
    allow_pickle: bool,
    tags: tuple[str, ...] = (),
) -> Step:
    if isinstance(func, Step):
        return func
    if not callable(func) or not inspect.isfunction(func):
        raise StepDefinitionError(f"@step needs a function, got {func!r}.")
    name = name or func.__name__
    _check_name(name, func)
    hints = _hints(func)
    outputs, output_type = _outputs(func, hints)
    return Step(
        func=func,
        name=name,
        arguments=arguments_of(func, hints),
        outputs=outputs,
        output_type=output_type,
        cache=cache,
        allow_pickle=allow_pickle,
        tags=frozenset(tags),
        description=inspect.getdoc(func) or "",
    )


@overload
def step(func: Callable[..., Any], /) -> Step: ...
@overload
def step(
    *,
    name: str | None = None,
    cache: bool = True,
    allow_pickle: bool = False,
    tags: tuple[str, ...] = (),
) -> Callable[[Callable[..., Any]], Step]: ...


def step(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    cache: bool = True,
    allow_pickle: bool = False,
    tags: tuple[str, ...] = (),
) -> Step | Callable[[Callable[..., Any]], Step]:
    """Turn a typed function into a :class:`Step`.

    Args:
        func: the function (when used as ``@step`` without parentheses).
        name: the step's name; default the function's name.
        cache: False to run the step on every run (e.g. it reads a live source).
        allow_pickle: True to let outputs without a safe materializer be pickled.
        tags: labels for the step; ``data`` marks a step whose output is the
            run's data version.

    Returns:
        The step, or a decorator that makes one.

    Raises:
        StepDefinitionError: for ``*args``/``**kwargs`` or an invalid name.

    Example:
        >>> @step
        ... def double(x: int = 1) -> int:
        ...     return 2 * x
        >>> double(4)
        8
    """
    options = {"name": name, "cache": cache, "allow_pickle": allow_pickle, "tags": tuple(tags)}
    if func is not None:
        return _make_step(func, **options)

    def decorate(f: Callable[..., Any]) -> Step:
        return _make_step(f, **options)

    return decorate


def split_outputs(step_: Step, result: Any) -> dict[str, Any]:
    """Map a step function's return value to its named outputs.

    Raises:
        StepDefinitionError: when a multi-output step returns the wrong shape.
    """
    if not step_.outputs:
        return {}
    if step_.output_type is None:
        return {SINGLE_OUTPUT: result}
    names = list(step_.outputs)
    if not isinstance(result, tuple) or len(result) != len(names):
        raise StepDefinitionError(
            f"Step {step_.name!r} must return a {step_.output_type.__name__} with "
            f"{len(names)} fields {names}; it returned {type(result).__name__}."
        )
    return dict(zip(names, result, strict=True))


def union_members(tp: Any) -> list[Any]:
    """The members of ``A | B`` / ``Optional[A]``; ``[tp]`` for anything else."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return list(typing.get_args(tp))
    return [tp]


def class_of(tp: Any) -> type | None:
    """The class behind an annotation (``list`` for ``list[int]``), or None."""
    origin = typing.get_origin(tp) or tp
    return origin if isinstance(origin, type) else None


def check_output_type(step_: Step, output: str, value: Any) -> None:
    """Raise when a returned value contradicts the declared output type."""
    declared = step_.outputs.get(output, Any)
    if declared is Any:
        return
    options = [class_of(o) for o in union_members(declared)]
    classes = [o for o in options if o is not None]
    if len(classes) != len(options):
        return
    options_t = tuple(classes)
    if isinstance(value, options_t):
        return
    # numpy scalars are numbers too: np.int64 for int, np.float32 for float.
    if int in options_t and isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return
    if float in options_t and isinstance(value, numbers.Real) and not isinstance(value, bool):
        return
    label = output if output != SINGLE_OUTPUT else "its output"
    expected = " | ".join(getattr(o, "__name__", str(o)) for o in options_t)
    raise StepDefinitionError(
        f"Step {step_.name!r} returned {type(value).__name__} for {label}, but its "
        f"return annotation says {expected}."
    )


__all__ = [
    "SINGLE_OUTPUT",
    "Argument",
    "Step",
    "arguments_of",
    "check_output_type",
    "split_outputs",
    "step",
]
