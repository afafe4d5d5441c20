"""``shipyard.registry.refs`` provides references to model versions: ``NAME@REF``.

``REF`` is a stage (``production``, ``staging``, ``archived``: the newest
version in it), ``latest`` (the newest version), a version number (``3`` or
``v3``) or an alias (``champion``). ``NAME`` alone means ``NAME@production``.
"""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.config.spec import ALIAS_NAME, MODEL_STAGES, model_name_problem
from shipyard.errors import RegistryError


@dataclass(frozen=True)
class ModelRef:
    """A parsed ``NAME@REF``.

    Attributes:
        name: the model's name.
        ref: ``production``, ``staging``, ``archived``, ``latest``, a version
            number as text, or an alias.
    """

    name: str
    ref: str = "production"

    @property
    def kind(self) -> str:
        """``stage``, ``latest``, ``version`` or ``alias``."""
        if self.ref in MODEL_STAGES:
            return "stage"
        if self.ref == "latest":
            return "latest"
        if self.ref.isdigit():
            return "version"
        return "alias"

    @property
    def version(self) -> int | None:
        """The version number for a ``version`` reference, else None."""
        return int(self.ref) if self.kind == "version" else None

    def __str__(self) -> str:
        return f"{self.name}@{self.ref}"


def ref_problem(ref: str) -> str | None:
    """Why ``ref`` (the part after ``@``) names no version, or None when it can."""
    if ref in MODEL_STAGES or ref == "latest" or ref.isdigit() or ALIAS_NAME.fullmatch(ref):
        return None
    return (
        f"{ref!r} names no version: use a stage ({', '.join(MODEL_STAGES)}), latest, a version "
        "number or an alias"
    )


def parse_model_ref(text: str, *, default: str = "production") -> ModelRef:
    """``NAME@REF`` (or ``NAME``, meaning ``NAME@default``) as a :class:`ModelRef`.

    ``v3`` is read as version 3.

    Raises:
        RegistryError: when the name or the reference is not valid.
    """
    name, at, ref = text.strip().rpartition("@")
    if not at:
        name, ref = text.strip(), default
    if len(ref) > 1 and ref[0] == "v" and ref[1:].isdigit():
        ref = ref[1:]
    if ref.isdigit():
        ref = str(int(ref))
    problem = model_name_problem(name) or ref_problem(ref)
    if problem is not None:
        raise RegistryError(
            f"{text!r} is not a model reference: {problem}.",
            hint="Write NAME@production, NAME@staging, NAME@3, NAME@latest or NAME@ALIAS.",
        )
    return ModelRef(name, ref)


def is_model_ref(text: str) -> bool:
    """True for text of the form ``NAME@REF`` (a model reference, not a run or bundle id)."""
    if "@" not in text:
        return False
    try:
        parse_model_ref(text)
    except RegistryError:
        return False
    return True


__all__ = ["ModelRef", "is_model_ref", "parse_model_ref", "ref_problem"]
