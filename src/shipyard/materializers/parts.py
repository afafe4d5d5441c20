"""``shipyard.materializers.parts`` provides the manifest of a table stored as Parquet parts.

A partitioned dataset version (``shipyard data add NAME 'files/*.csv'``) is
stored as one Parquet artifact per part and a small manifest artifact
(``parquet-parts/1``, ``parts.json``) listing the parts' ids and row counts in
order, and the columns. The manifest's materializer is a built-in, registered
with the others, so any process (a Dask worker, a fresh ``shipyard`` command)
can load a partitioned version as a value: the whole table, one DataFrame.

The parts themselves are written by :mod:`shipyard.data.datasets`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import MaterializerError
from shipyard.materializers.base import Materializer

if TYPE_CHECKING:
    import pandas as pd

#: The materializer of a partitioned version's manifest.
PARTS_MATERIALIZER = "parquet-parts"
#: The file of a Parquet artifact (a single-file version or a part).
PART_FILE = "data.parquet"
MANIFEST_FILE = "parts.json"
#: The file an artifact store writes last into an artifact's folder
#: (``shipyard.stores.artifacts.MANIFEST``; materializers do not import the stores).
_ARTIFACT_DONE = ".manifest.json"


@dataclass(frozen=True)
class Part:
    """One Parquet part of a partitioned version.

    Attributes:
        id: the part's artifact id.
        rows: its row count.
        size: its bytes.
        uri: where it is, for artifact stores on object storage (on a local
            store a part sits next to the manifest).
    """

    id: str
    rows: int
    size: int = 0
    uri: str | None = None


@dataclass(frozen=True)
class PartitionedTable:
    """A table stored as Parquet part artifacts, in order: what a partitioned version's manifest holds."""

    columns: tuple[tuple[str, str], ...]
    parts: tuple[Part, ...]

    @property
    def rows(self) -> int:
        """Rows of all parts."""
        return sum(part.rows for part in self.parts)

    @property
    def names(self) -> list[str]:
        """Column names, in order."""
        return [name for name, _ in self.columns]

    def to_json(self) -> dict[str, Any]:
        """JSON form (the manifest file)."""
        parts = []
        for part in self.parts:
            entry: dict[str, Any] = {"id": part.id, "rows": part.rows, "size": part.size}
            if part.uri:
                entry["uri"] = part.uri
            parts.append(entry)
        return {"format": 1, "rows": self.rows, "columns": [list(c) for c in self.columns], "parts": parts}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartitionedTable:
        """Read the JSON form."""
        return cls(
            tuple((str(n), str(t)) for n, t in data["columns"]),
            tuple(Part(p["id"], int(p["rows"]), int(p.get("size", 0)), p.get("uri")) for p in data["parts"]),
        )


def part_in_store(folder: Path, part: Part) -> str:
    """Where a part's Parquet file is, seen from its manifest's folder."""
    candidates = (
        folder.parent.parent / part.id[:2] / part.id,  # a local store: <root>/<id[:2]>/<id>
        folder.parent / part.id,  # the download cache of a remote store: <cache>/<id>
    )
    for candidate in candidates:
        if (candidate / _ARTIFACT_DONE).exists():
            return str(candidate / PART_FILE)
    if part.uri:
        return f"{part.uri}/{PART_FILE}"
    raise MaterializerError(
        f"Part {part.id[:12]} of the partitioned table in {folder} is missing from the artifact store."
    )


def read_parts(files: Sequence[str | Path], columns: Sequence[str] = ()) -> pd.DataFrame:
    """The parts' rows as one DataFrame, in order (local paths or fsspec URLs).

    ``columns`` name the columns of an empty table (no part).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for path in files:
        text = str(path)
        if "://" in text and not text.startswith("file://"):
            import fsspec

            with fsspec.open(text, "rb") as fh:
                tables.append(pq.read_table(fh))
        else:
            tables.append(pq.read_table(text[len("file://"):] if text.startswith("file://") else text))
    if not tables:
        import pandas as pd

        return pd.DataFrame(columns=list(columns))
    return pa.concat_tables(tables).to_pandas()


class PartitionedTableMaterializer(Materializer):
    """The manifest of a partitioned dataset version: ``parts.json``.

    Loading gives the whole table as one pandas DataFrame (the parts
    concatenated in order), which is what a pipeline step reading the version
    receives. Commands that need less (statistics, an export, a row diff) read
    the parts one at a time (see :class:`shipyard.data.datasets.DatasetStores`).
    """

    NAME = PARTS_MATERIALIZER
    VERSION = 1
    TYPES = ("shipyard.materializers.parts.PartitionedTable",)
    FORMAT = "Parquet parts (a manifest of part artifacts)"

    def save(self, value: Any, folder: Path) -> None:
        text = json.dumps(value.to_json(), sort_keys=True, separators=(",", ":"))
        (folder / MANIFEST_FILE).write_text(text, encoding="utf-8")

    def load(self, folder: Path) -> Any:
        table = self.read(folder)
        return read_parts([part_in_store(folder, part) for part in table.parts], table.names)

    @staticmethod
    def read(folder: Path) -> PartitionedTable:
        """The manifest itself."""
        return PartitionedTable.from_json(json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8")))

    def describe(self, folder: Path) -> dict[str, Any]:
        table = self.read(folder)
        return {
            "rows": table.rows,
            "columns": dict(table.columns),
            "parts": len(table.parts),
            "bytes": sum(p.size for p in table.parts),
        }


__all__ = [
    "PARTS_MATERIALIZER",
    "PART_FILE",
    "Part",
    "PartitionedTable",
    "PartitionedTableMaterializer",
    "part_in_store",
    "read_parts",
]
