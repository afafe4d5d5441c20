"""``shipyard.stores.metadata`` provides the SQL metadata store and its records."""

from shipyard.stores.metadata.records import (
    ArtifactRecord,
    ChildRun,
    DatasetVersionRecord,
    RunRecord,
    StepRunRecord,
)
from shipyard.stores.metadata.store import HEAD, REVISIONS, MetadataStore, masked_url

__all__ = [
    "HEAD",
    "REVISIONS",
    "ArtifactRecord",
    "ChildRun",
    "DatasetVersionRecord",
    "MetadataStore",
    "RunRecord",
    "StepRunRecord",
    "masked_url",
]
