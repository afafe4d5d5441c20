"""``shipyard.stores.metadata.annotations`` provides tags and notes on runs.

A tag is a short word on a run (``baseline``, ``paper-v2``); runs are listed by
tag. A note is a line of text appended to a run with who wrote it and when;
notes are never edited. Each change is one transaction of the metadata store.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select

from shipyard.errors import ShipyardError
from shipyard.stores.metadata import schema as t

if TYPE_CHECKING:
    from shipyard.stores.metadata.store import MetadataStore

#: What a tag may look like: no spaces or commas, at most 200 characters.
TAG = re.compile(r"^[^\s,]{1,200}$")
#: The longest note kept.
MAX_NOTE = 10_000


@dataclass(frozen=True)
class RunNote:
    """A note appended to a run."""

    run_id: str
    text: str
    user: str | None
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the note."""
        return asdict(self)


def check_tags(tags: Iterable[str]) -> list[str]:
    """The tags, each checked, without repeats.

    Raises:
        ShipyardError: for an empty list or a tag with spaces or commas.
    """
    out = list(dict.fromkeys(tags))
    if not out:
        raise ShipyardError("Give at least one tag.")
    for tag in out:
        if not TAG.match(tag):
            raise ShipyardError(
                f"Tag {tag!r} is not valid: a tag is 1 to 200 characters without spaces or "
                "commas (e.g. baseline, paper-v2)."
            )
    return out


def add_tags(store: MetadataStore, run_id: str, tags: Iterable[str], *, user: str | None) -> list[str]:
    """Put tags on a run (tags it has already are kept as they are).

    Returns:
        Every tag of the run afterwards, sorted.
    """
    wanted = check_tags(tags)
    now = time.time()
    with store._write() as conn:
        store._insert_missing(
            conn,
            t.run_tags,
            [{"run_id": run_id, "tag": tag, "user": user, "created_at": now} for tag in wanted],
        )
        return _tags_of(conn, run_id)


def remove_tags(store: MetadataStore, run_id: str, tags: Iterable[str]) -> list[str]:
    """Take tags off a run.

    Returns:
        Every tag of the run afterwards, sorted.

    Raises:
        ShipyardError: when the run lacks one of the tags (nothing is removed then).
    """
    wanted = check_tags(tags)
    with store._write() as conn:
        have = _tags_of(conn, run_id)
        missing = [tag for tag in wanted if tag not in have]
        if missing:
            raise ShipyardError(
                f"Run {run_id} has no tag {', '.join(map(repr, missing))}; its tags: "
                f"{', '.join(have) or 'none'}."
            )
        conn.execute(
            delete(t.run_tags).where(t.run_tags.c.run_id == run_id, t.run_tags.c.tag.in_(wanted))
        )
        return [tag for tag in have if tag not in wanted]


def run_tags(store: MetadataStore, run_ids: Iterable[str]) -> dict[str, list[str]]:
    """The tags of each run (sorted); runs without tags are left out."""
    ids = list(dict.fromkeys(run_ids))
    if not ids:
        return {}
    out: dict[str, list[str]] = {}
    with store._read() as conn:
        rows = conn.execute(
            select(t.run_tags.c.run_id, t.run_tags.c.tag)
            .where(t.run_tags.c.run_id.in_(ids))
            .order_by(t.run_tags.c.run_id, t.run_tags.c.tag)
        )
        for row in rows:
            out.setdefault(row.run_id, []).append(row.tag)
    return out


def add_note(store: MetadataStore, run_id: str, text: str, *, user: str | None) -> RunNote:
    """Append a note to a run.

    Raises:
        ShipyardError: for an empty note or one longer than ``MAX_NOTE`` characters.
    """
    text = text.strip()
    if not text:
        raise ShipyardError("The note is empty; give its text, e.g. shipyard runs note RUN \"why\".")
    if len(text) > MAX_NOTE:
        raise ShipyardError(f"The note has {len(text):,} characters; a note holds at most {MAX_NOTE:,}.")
    note = RunNote(run_id, text, user, time.time())
    with store._write() as conn:
        conn.execute(insert(t.run_notes).values(**note.to_dict()))
    return note


def run_notes(store: MetadataStore, run_id: str) -> list[RunNote]:
    """The notes of a run, oldest first."""
    with store._read() as conn:
        rows = conn.execute(
            select(t.run_notes)
            .where(t.run_notes.c.run_id == run_id)
            .order_by(t.run_notes.c.created_at, t.run_notes.c.id)
        ).all()
    return [RunNote(row.run_id, row.text, row.user, row.created_at) for row in rows]


def _tags_of(conn: Any, run_id: str) -> list[str]:
    return list(
        conn.execute(
            select(t.run_tags.c.tag).where(t.run_tags.c.run_id == run_id).order_by(t.run_tags.c.tag)
        ).scalars()
    )


__all__ = [
    "MAX_NOTE",
    "TAG",
    "RunNote",
    "add_note",
    "add_tags",
    "check_tags",
    "remove_tags",
    "run_notes",
    "run_tags",
]
