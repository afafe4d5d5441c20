"""``shipyard.data.datasets`` provides named, versioned datasets.

``shipyard data add taxi data/*.csv`` snapshots the files as a Parquet
artifact (content-addressed: adding identical content again returns the
existing version) with its statistics, as the next version of ``taxi``.
Pipelines name a version as ``taxi@3`` or ``taxi@latest``; the run records the
exact version, and the dataset's lineage shows which runs used it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.data.refs import NAME, is_dataset_ref, parse_ref
from shipyard.data.sources import DataError, read_table, resolve_files
from shipyard.data.statistics import Statistics, compute_statistics
from shipyard.engine.artifacts import load_value, save_value
from shipyard.errors import ShipyardError
from shipyard.stores.metadata.records import DatasetVersionRecord

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.stores.artifacts import ArtifactStore
    from shipyard.stores.metadata import MetadataStore

@dataclass(frozen=True)
class DatasetStores:
    """The two stores datasets live in."""

    artifacts: ArtifactStore
    metadata: MetadataStore

    def resolve(self, ref: str) -> DatasetVersionRecord:
        """The exact version a reference names."""
        name, version = parse_ref(ref)
        return self.metadata.get_dataset_version(name, version)

    def add(
        self,
        name: str,
        source: str | Path,
        *,
        message: str | None = None,
        user: str | None = None,
        base: Path | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> tuple[DatasetVersionRecord, bool]:
        """Snapshot a file or glob as the next version of a dataset.

        Returns:
            ``(version, created)``; ``created`` is False when the content is
            already a version of this dataset (that version is returned).

        Raises:
            ShipyardError: for an invalid name.
            DataError: when no file matches or a file cannot be read.
        """
        if not NAME.match(name):
            raise ShipyardError(
                f"Dataset name {name!r} is not valid: use letters, digits, '_', '-' and '.'."
            )
        files = resolve_files(str(source), base or Path.cwd())
        say = progress or (lambda _: None)
        say(f"reading {len(files)} file(s)")
        frame = read_table(files)
        say(f"storing {len(frame):,} rows as Parquet")
        artifact = save_value(frame, self.artifacts)
        say("computing statistics")
        stats = compute_statistics(frame)
        stats_artifact = save_value(stats.to_json(), self.artifacts)
        return self.metadata.add_dataset_version(
            name,
            artifact=artifact,
            statistics=stats_artifact,
            rows=len(frame),
            columns=[str(c) for c in frame.columns],
            message=message,
            source=str(source),
            user=user,
        )

    def frame(self, version: DatasetVersionRecord) -> pd.DataFrame:
        """A version's rows."""
        record = self.metadata.get_artifacts([version.artifact_id]).get(version.artifact_id)
        if record is None:
            raise DataError(f"The data of {version.ref} is missing from the metadata store.")
        return load_value(record, self.artifacts)

    def statistics(self, version: DatasetVersionRecord) -> Statistics:
        """A version's statistics (computed when it was added)."""
        if version.statistics_id:
            record = self.metadata.get_artifacts([version.statistics_id]).get(version.statistics_id)
            if record is not None:
                return Statistics.from_json(load_value(record, self.artifacts))
        return compute_statistics(self.frame(version))

    def runs_using(self, version: DatasetVersionRecord) -> list[str]:
        """Ids of the runs whose steps read or passed on this version's data."""
        edges = self.metadata.artifact_edges(version.artifact_id, kind="inputs")
        edges += self.metadata.artifact_edges(version.artifact_id, kind="outputs")
        return sorted({step_run.run_id for step_run, _ in edges})


def diff(a: Statistics, b: Statistics, frame_a: pd.DataFrame | None = None, frame_b: pd.DataFrame | None = None) -> dict[str, Any]:
    """What changed between two versions: rows, columns, statistics.

    Rows added and removed are counted by comparing whole rows (over the
    columns both share) when the frames are given.
    """
    from shipyard.data.drift import compare

    columns_a, columns_b = set(a.columns), set(b.columns)
    shared = [c for c in a.columns if c in columns_b]
    changed_types = {
        c: [a[c].type, b[c].type] for c in shared if a[c].type != b[c].type
    }
    out: dict[str, Any] = {
        "rows": [a.rows, b.rows],
        "columns_added": sorted(columns_b - columns_a),
        "columns_removed": sorted(columns_a - columns_b),
        "type_changed": changed_types,
    }
    if frame_a is not None and frame_b is not None:
        out |= _row_changes(frame_a, frame_b, shared)
    shifts = {}
    for column in shared:
        if column in changed_types:
            continue
        sa, sb = a[column].summary(), b[column].summary()
        entry: dict[str, Any] = {"null_fraction": [sa["null_fraction"], sb["null_fraction"]]}
        for key in ("mean", "std", "min", "max", "distinct", "true_ratio"):
            if key in sa and sa[key] != sb.get(key):
                entry[key] = [sa[key], sb.get(key)]
        shifts[column] = entry
    drift = compare(a, b)
    for column in drift.columns:
        shifts.setdefault(column.column, {})["drift"] = {
            "method": column.method, "score": column.score, "drifted": column.drifted,
        }
    out["statistics"] = shifts
    out["drifted"] = drift.drifted
    return out


def _row_changes(a: pd.DataFrame, b: pd.DataFrame, shared: list[str]) -> dict[str, int]:
    import pandas as pd

    if not shared:
        return {"rows_added": len(b), "rows_removed": len(a), "rows_kept": 0}
    hashes_a = pd.util.hash_pandas_object(a[shared], index=False).value_counts()
    hashes_b = pd.util.hash_pandas_object(b[shared], index=False).value_counts()
    both = hashes_a.index.intersection(hashes_b.index)
    kept = int(pd.concat([hashes_a[both], hashes_b[both]], axis=1).min(axis=1).sum())
    return {"rows_added": len(b) - kept, "rows_removed": len(a) - kept, "rows_kept": kept}


__all__ = ["NAME", "DatasetStores", "diff", "is_dataset_ref", "parse_ref"]
