"""``shipyard.stores.secrets`` keeps secrets out of store settings: ``${VAR}`` references.

A database password or an access key is never written into a stack file or
the metadata store. A setting refers to an environment variable instead, e.g.
``postgresql://ml:${PGPASSWORD}@db.example.com/shipyard``: the text is kept
as it is, and the reference is replaced by the variable's value only when the
store is opened.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

from shipyard.errors import StoreError

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ONLY_REFERENCES = re.compile(r"(?:\$\{[A-Za-z_][A-Za-z0-9_]*\})+")
# Option and query-parameter names whose values are secrets.
_SECRET_NAME = re.compile(
    r"(password|passwd|pwd|secret|token|credential|private|api_?key|access_?key|session_?key)",
    re.IGNORECASE,
)
_SECRET_LEAF = {"key", "secret", "token", "pass"}


def references(text: str) -> list[str]:
    """Names of the environment variables ``text`` refers to (``${NAME}``)."""
    return _REFERENCE.findall(text)


def is_reference(text: str) -> bool:
    """True when ``text`` is nothing but ``${VAR}`` references."""
    return bool(_ONLY_REFERENCES.fullmatch(text))


def expand(text: str, *, what: str) -> str:
    """``text`` with each ``${NAME}`` replaced by the environment variable's value.

    Args:
        text: a URL or option value.
        what: how to name the setting in an error (e.g. ``"The metadata store URL 'x'"``).

    Raises:
        StoreError: when a variable it refers to is not set.
    """

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        found = os.environ.get(name)
        if found is None:
            raise StoreError(
                f"{what} refers to ${{{name}}}, which is not set in the environment.",
                hint=f"Set it before running Shipyard (export {name}=...); secrets are read "
                "from the environment, never stored.",
            )
        return found

    return _REFERENCE.sub(value, text) if "${" in text else text


def secret_name(name: str) -> bool:
    """True when an option or URL parameter of this name holds a secret."""
    leaf = name.rsplit(".", 1)[-1].lower()
    return leaf in _SECRET_LEAF or bool(_SECRET_NAME.search(leaf))


def literal_secrets(url: str) -> list[str]:
    """What in a store URL is a secret written out instead of a ``${VAR}`` reference.

    Returns:
        Descriptions such as ``"the password"`` or ``"the parameter 'sslpassword'"``;
        empty when the URL holds no literal secret.
    """
    found: list[str] = []
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return found
    if password and not is_reference(password):
        found.append("the password")
    found += [
        f"the parameter {key!r}"
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if secret_name(key) and value and not is_reference(value)
    ]
    return found


def masked(url: str) -> str:
    """A URL for display: written-out secrets (password, secret parameters) as ``***``.

    ``${VAR}`` references are kept: they name a variable, not its value.
    """
    from urllib.parse import urlencode

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    changed = False
    if password and not is_reference(password):
        user, _, host = parts.netloc.rpartition("@")
        parts = parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}")
        changed = True
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(secret_name(k) and v and not is_reference(v) for k, v in query):
        hidden = [(k, "***" if secret_name(k) and v and not is_reference(v) else v) for k, v in query]
        parts = parts._replace(query=urlencode(hidden, safe="${}*:/"))
        changed = True
    # Rebuilt only when masked: a round trip would lose sqlite:////'s empty host.
    return parts.geturl() if changed else url


def literal_secret_options(options: Iterable[tuple[str, str]]) -> list[str]:
    """Names of options that hold a secret written out instead of a ``${VAR}`` reference."""
    return [
        key
        for key, value in options
        if secret_name(key) and isinstance(value, str) and value and not is_reference(value)
    ]


__all__ = [
    "expand",
    "is_reference",
    "literal_secret_options",
    "literal_secrets",
    "masked",
    "references",
    "secret_name",
]
