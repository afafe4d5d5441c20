"""``shipyard.materializers`` provides the conversions between values and artifact files.

Built in: pandas DataFrame and pyarrow Table (Parquet), numpy arrays (.npy),
JSON values, bytes, paths to files or folders, and pickle for steps that opt in.
"""

from shipyard.materializers.base import Materializer
from shipyard.materializers.registry import (
    get_materializer,
    materializer_for_type,
    materializer_for_value,
    register_materializer,
    registered,
)

__all__ = [
    "Materializer",
    "get_materializer",
    "materializer_for_type",
    "materializer_for_value",
    "register_materializer",
    "registered",
]
