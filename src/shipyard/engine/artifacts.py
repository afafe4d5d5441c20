"""``shipyard.engine.artifacts`` provides saving and loading values through the stores.

It joins a materializer (value <-> files) and the artifact store (files <->
content-addressed folder) and returns the record the metadata store keeps.
"""

from __future__ import annotations

import time
from typing import Any

from shipyard.errors import UnsafeArtifactError
from shipyard.materializers import get_materializer, materializer_for_value
from shipyard.materializers.base import Materializer, qualified_name
from shipyard.stores.artifacts import ArtifactStore, StoredArtifact
from shipyard.stores.metadata.records import ArtifactRecord


def save_value(
    value: Any,
    store: ArtifactStore,
    *,
    allow_pickle: bool = False,
    producer: str | None = None,
) -> ArtifactRecord:
    """Materialize ``value`` into the artifact store.

    Raises:
        MaterializerError: when no materializer handles the value.
    """
    cls = materializer_for_value(value, allow_pickle=allow_pickle)
    with store.staging() as folder:
        cls().save(value, folder)
        stored = store.commit(folder, cls.tag())
    return stored_record(stored, cls, qualified_name(type(value)), producer=producer)


def stored_record(
    stored: StoredArtifact, materializer: type[Materializer], data_type: str, *, producer: str | None = None
) -> ArtifactRecord:
    """The metadata record of an artifact just committed with ``materializer``'s files.

    Args:
        data_type: what loading it gives (a qualified type name).
    """
    return ArtifactRecord(
        id=stored.id,
        data_type=data_type,
        materializer=materializer.NAME,
        materializer_version=materializer.VERSION,
        uri=stored.uri,
        size=stored.size,
        files=stored.files,
        created_at=time.time(),
        producer=producer,
    )


def load_value(
    record: ArtifactRecord,
    store: ArtifactStore,
    *,
    allow_pickle: bool = False,
    trust: bool | None = None,
) -> Any:
    """Load an artifact's value with the materializer recorded on it.

    Args:
        record: the artifact.
        store: the artifact store holding it.
        allow_pickle: allow a pickle artifact (its loading runs code).
        trust: let formats that can name arbitrary types (skops) load types
            outside their trusted list; default: ``allow_pickle``.

    Raises:
        UnsafeArtifactError: for a pickle artifact without ``allow_pickle``.
        ArtifactNotFound: when its files are missing from the store.
    """
    if record.materializer == "pickle" and not allow_pickle:
        raise UnsafeArtifactError(
            f"Artifact {record.id[:12]} ({record.data_type}) is a pickle; loading it runs "
            "code from the file.",
            hint="Load it only if you trust who wrote it: "
            "Client().load_artifact(id, allow_pickle=True).",
        )
    cls = get_materializer(record.materializer)
    return cls(trust=allow_pickle if trust is None else trust).load(store.local_path(record.id))


def describe_value(record: ArtifactRecord, store: ArtifactStore) -> dict[str, Any]:
    """A short summary of an artifact's content (shape, columns, a preview)."""
    cls = get_materializer(record.materializer)
    return cls().describe(store.local_path(record.id))


__all__ = ["describe_value", "load_value", "save_value"]
