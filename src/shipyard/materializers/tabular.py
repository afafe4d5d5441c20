"""``shipyard.materializers.tabular`` provides Parquet and ``.npy`` materializers.

pandas DataFrames and pyarrow Tables are stored as Parquet, numpy arrays as
``.npy`` without pickle. The libraries are imported only when used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shipyard.errors import MaterializerError
from shipyard.materializers.base import Materializer

_PREVIEW_ROWS = 5


def _parquet_describe(path: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    meta = pq.read_metadata(path)
    schema = meta.schema.to_arrow_schema()
    head = pq.ParquetFile(path).iter_batches(batch_size=_PREVIEW_ROWS)
    first = next(head, None)
    rows = first.to_pylist()[:_PREVIEW_ROWS] if first is not None else []
    return {
        "rows": meta.num_rows,
        "columns": {field.name: str(field.type) for field in schema if field.name != "__index_level_0__"},
        "head": [{k: _short(v) for k, v in row.items()} for row in rows],
    }


def _short(value: Any) -> Any:
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


class DataFrameMaterializer(Materializer):
    """pandas DataFrame as Parquet (pyarrow engine; the index is kept)."""

    NAME = "pandas-parquet"
    VERSION = 1
    TYPES = ("pandas.DataFrame",)
    FORMAT = "Parquet"

    def save(self, value: Any, folder: Path) -> None:
        bad = [c for c in value.columns if not isinstance(c, str)]
        if bad:
            raise MaterializerError(
                f"DataFrame column names must be strings to be stored as Parquet; "
                f"found {bad[:5]!r}.",
                hint="Rename them, e.g. df.columns = df.columns.astype(str).",
            )
        try:
            value.to_parquet(folder / "data.parquet", engine="pyarrow")
        except (TypeError, ValueError) as exc:
            raise MaterializerError(f"DataFrame cannot be written as Parquet: {exc}") from exc

    def load(self, folder: Path) -> Any:
        import pandas as pd

        return pd.read_parquet(folder / "data.parquet", engine="pyarrow")

    def describe(self, folder: Path) -> dict[str, Any]:
        return _parquet_describe(folder / "data.parquet")


class ArrowTableMaterializer(Materializer):
    """pyarrow Table as Parquet."""

    NAME = "arrow-parquet"
    VERSION = 1
    TYPES = ("pyarrow.Table",)
    FORMAT = "Parquet"

    def save(self, value: Any, folder: Path) -> None:
        import pyarrow.parquet as pq

        try:
            pq.write_table(value, folder / "data.parquet")
        except Exception as exc:  # pyarrow raises several unrelated types here
            raise MaterializerError(f"Table cannot be written as Parquet: {exc}") from exc

    def load(self, folder: Path) -> Any:
        import pyarrow.parquet as pq

        return pq.read_table(folder / "data.parquet")

    def describe(self, folder: Path) -> dict[str, Any]:
        return _parquet_describe(folder / "data.parquet")


class NumpyMaterializer(Materializer):
    """numpy ndarray as ``.npy`` (object arrays are refused: they would need pickle)."""

    NAME = "npy"
    VERSION = 1
    TYPES = ("numpy.ndarray",)
    FORMAT = "NumPy .npy"

    @classmethod
    def can_save(cls, value: Any) -> bool:
        return not value.dtype.hasobject

    def save(self, value: Any, folder: Path) -> None:
        import numpy as np

        np.save(folder / "array.npy", value, allow_pickle=False)

    def load(self, folder: Path) -> Any:
        import numpy as np

        return np.load(folder / "array.npy", allow_pickle=False)

    def describe(self, folder: Path) -> dict[str, Any]:
        import numpy as np

        arr = np.load(folder / "array.npy", mmap_mode="r", allow_pickle=False)
        return {"shape": list(arr.shape), "dtype": str(arr.dtype)}


__all__ = ["ArrowTableMaterializer", "DataFrameMaterializer", "NumpyMaterializer"]
