"""``shipyard.stores`` provides the two stores: artifact bytes and run metadata.

They never import the engine; the engine hands them records and folders.
"""

from shipyard.stores.artifacts import ArtifactStore, StoredArtifact
from shipyard.stores.metadata import (
    ArtifactRecord,
    MetadataStore,
    RunRecord,
    StepRunRecord,
)

__all__ = [
    "ArtifactRecord",
    "ArtifactStore",
    "MetadataStore",
    "RunRecord",
    "StepRunRecord",
    "StoredArtifact",
]
