"""``shipyard.config.yamlio`` provides YAML loading with line numbers in every error.

A YAML file is composed into nodes (which know their lines), turned into plain
Python values, then validated by a pydantic model. Any problem — bad YAML, a
duplicate key, an unknown or misspelled key, a wrong type, an invalid value —
becomes one :class:`ConfigError` whose lines read
``pipeline.yaml:LINE: key 'tran' is not allowed here; did you mean 'train'? ...``.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shipyard.errors import ShipyardError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]


class ConfigError(ShipyardError):
    """A configuration file (or override) has problems; each names its line."""

    headline = "Invalid configuration"

    def __init__(self, problems: Sequence[str], *, hint: str | None = None) -> None:
        self.problems = list(problems)
        message = self.problems[0] if len(self.problems) == 1 else (
            f"{len(self.problems)} problems:\n" + "\n".join(f"  {p}" for p in self.problems)
        )
        super().__init__(message, hint=hint)


class LineMap:
    """Line numbers (1-based) of the keys and values of a YAML document."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[Loc, int] = {}

    def line(self, loc: Loc) -> int | None:
        """The line of ``loc``, or of its nearest parent that has one."""
        for end in range(len(loc), -1, -1):
            found = self.lines.get(tuple(loc[:end]))
            if found is not None:
                return found
        return None

    def where(self, loc: Loc) -> str:
        """``file:line`` of ``loc``; ``--set`` when an override set it; ``file`` when unknown."""
        line = self.line(loc)
        if line == 0:
            return "--set"
        return f"{self.source}:{line}" if line else self.source


def _construct(node: Any, loc: Loc, lines: LineMap, problems: list[str]) -> Any:
    import yaml

    lines.lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node)) if not isinstance(
                key_node, yaml.ScalarNode
            ) else _scalar(key_node)
            key = str(key)
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(
                    f"{lines.source}:{line}: key {key!r} appears twice (also on line "
                    f"{seen[key]}); keep one"
                )
            seen[key] = line
            lines.lines[(*loc, key)] = line
            out[key] = _construct(value_node, (*loc, key), lines, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(item, (*loc, i), lines, problems) for i, item in enumerate(node.value)
        ]
    return _scalar(node)


def _scalar(node: Any) -> Any:
    import yaml

    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def parse_yaml(text: str, source: str) -> tuple[Any, LineMap]:
    """Parse YAML text into Python values and a :class:`LineMap`.

    Raises:
        ConfigError: for invalid YAML or duplicate keys, naming the line.
    """
    import yaml

    lines = LineMap(source)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError([f"{source}{line}: invalid YAML: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: invalid YAML: {exc}"]) from None
    if node is None:
        return {}, lines
    problems: list[str] = []
    data = _construct(node, (), lines, problems)
    if problems:
        raise ConfigError(problems)
    return data, lines


def load_yaml(path: Path) -> tuple[Any, LineMap]:
    """Read and parse a YAML file.

    Raises:
        ConfigError: when it cannot be read or parsed.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read it: {exc}"]) from None
    return parse_yaml(text, str(path))


# -- overrides ---------------------------------------------------------------------


def parse_override(item: str) -> tuple[tuple[str, ...], Any]:
    """``train.params.max_iter=300`` -> ``(("train", "params", "max_iter"), 300)``.

    The value is read as YAML, so numbers, booleans, lists and mappings work.

    Raises:
        ConfigError: when the item is not ``KEY.PATH=VALUE``.
    """
    import yaml

    key, sep, raw = item.partition("=")
    path = tuple(part.strip() for part in key.split("."))
    if not sep or not all(path):
        raise ConfigError(
            [f"--set {item!r}: expected KEY.PATH=VALUE, e.g. --set train.params.max_iter=300"]
        )
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return path, value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str], lines: LineMap) -> dict[str, Any]:
    """A copy of ``data`` with each ``--set`` override applied.

    Overridden locations are reported as ``--set`` in later errors.
    """
    import copy

    out = copy.deepcopy(data)
    for item in overrides:
        path, value = parse_override(item)
        target = out
        for depth, part in enumerate(path[:-1]):
            nxt = target.get(part)
            if not isinstance(nxt, dict):
                if nxt is not None:
                    where = ".".join(path[: depth + 1])
                    raise ConfigError([f"--set {item!r}: {where} is not a mapping"])
                nxt = target[part] = {}
            target = nxt
        target[path[-1]] = value
        # The override owns its path: errors below it name --set, not a file line.
        for key in [k for k in lines.lines if k[: len(path)] == path]:
            del lines.lines[key]
        for depth in range(1, len(path) + 1):
            if path[:depth] not in lines.lines:
                lines.lines[path[:depth]] = 0
        lines.lines[path] = 0
    return out


# -- validation ----------------------------------------------------------------------


def _unwrap(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    return [annotation]


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The pydantic model class that validates the mapping at ``loc``."""
    current: list[Any] = [model]
    for part in loc:
        following: list[Any] = []
        for candidate in current:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                field = next(
                    (f for n, f in candidate.model_fields.items() if (f.alias or n) == str(part)),
                    None,
                )
                if field is not None:
                    following.extend(_unwrap(field.annotation))
            else:
                origin = typing.get_origin(candidate)
                args = typing.get_args(candidate)
                if origin in (list, tuple, Sequence) and args and isinstance(part, int):
                    following.extend(_unwrap(args[0]))
                elif origin in (dict, Mapping) and len(args) == 2:
                    following.extend(_unwrap(args[1]))
        current = following
    for candidate in current:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _dotted(loc: Loc) -> str:
    return ".".join(str(p) for p in loc if not str(p).startswith("function-"))


def _clean_loc(loc: tuple[Any, ...], data: Any) -> Loc:
    """Drop pydantic's union-branch labels (``str``, ``function-after[...]``) from a loc."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if (isinstance(node, dict) and part in node) or (isinstance(node, list) and isinstance(part, int) and part < len(node)):
            out.append(part)
            node = node[part]
    return tuple(out)


def _describe(err: Mapping[str, Any], model: type[BaseModel], loc: Loc, raw_loc: tuple[Any, ...]) -> str:
    kind = err["type"]
    given = err.get("input")
    if kind == "extra_forbidden":
        key = str(raw_loc[-1])
        owner = _model_at(model, loc[:-1]) if loc and str(loc[-1]) == key else _model_at(model, loc)
        if owner is None:  # a key the model moved (gate thresholds): follow pydantic's own path
            owner = _model_at(model, tuple(raw_loc[:-1]))
        allowed = _keys_of(owner) if owner is not None else []
        guess = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        text = f"key {key!r} is not allowed here"
        text += f"; did you mean {guess[0]!r}?" if guess else ";"
        return text + (f" allowed: {', '.join(allowed)}" if allowed else "")
    if kind == "missing":
        return f"key {str(raw_loc[-1])!r} is required" + (
            f" in {_dotted(loc)}" if loc else ""
        )
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if kind in ("literal_error", "enum"):
        expected = err.get("ctx", {}).get("expected", "")
        options = [o.strip(" '\"") for o in expected.replace(" or ", ",").split(",") if o.strip()]
        guess = difflib.get_close_matches(str(given), options, n=1, cutoff=0.6)
        message = f"{given!r} is not one of {', '.join(options)}"
        if guess:
            message += f"; did you mean {guess[0]!r}?"
        given = None
    prefix = f"{_dotted(loc)}: " if loc else ""
    hidden = given is None or isinstance(given, (dict, list)) or repr(given) in message
    shown = "" if hidden else f" (got {given!r})"
    return f"{prefix}{message}{shown}"


def _without_rejected_alternatives(errors: list[Any], data: Any) -> list[Any]:
    """Drop "wrong container" errors of a field whose other form has a deeper error.

    ``features`` may be a list or a mapping: a bad type inside the mapping also
    fails the list form, and only the mapping's error helps the user.
    """
    locs = [_clean_loc(err["loc"], data) for err in errors]
    kept = []
    for err, loc in zip(errors, locs, strict=True):
        deeper = any(other[: len(loc)] == loc and len(other) > len(loc) for other in locs)
        if deeper and str(err["type"]).endswith("_type"):
            continue
        kept.append(err)
    return kept


def validate(model: type[M], data: Any, lines: LineMap) -> M:
    """Validate ``data`` with ``model``; every error names its file and line.

    Raises:
        ConfigError: listing each problem as ``file:line: ...``.
    """
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{lines.where(())}: the file must be a mapping of keys (name:, data:, ...), "
             f"not a {type(data).__name__}"]
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = _without_rejected_alternatives(exc.errors(), data)
        found: list[tuple[int, str]] = []
        for err in errors:
            loc = _clean_loc(err["loc"], data)
            line = lines.line(loc)
            found.append((line or 0, f"{lines.where(loc)}: {_describe(err, model, loc, err['loc'])}"))
        problems = [text for _, text in sorted(found, key=lambda item: item[0])]
        raise ConfigError(list(dict.fromkeys(problems))) from None


__all__ = ["ConfigError", "LineMap", "apply_overrides", "load_yaml", "parse_override", "parse_yaml", "validate"]
