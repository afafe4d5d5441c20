"""``shipyard.materializers.builtin`` provides JSON, bytes and filesystem-path materializers.

These need nothing beyond the standard library.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from shipyard.errors import MaterializerError
from shipyard.materializers.base import Materializer

_JSON_SCALARS = (str, int, float, bool, type(None))
_MAX_DEPTH = 100


def _numpy_scalar(value: Any) -> bool:
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    return kind in ("b", "i", "u", "f") and getattr(value, "shape", None) == ()


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers (for ``json.dumps``)."""
    if _numpy_scalar(value):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _jsonable(value: Any, depth: int = 0) -> bool:
    if depth > _MAX_DEPTH:
        return False
    if isinstance(value, _JSON_SCALARS) or _numpy_scalar(value):
        return True
    if isinstance(value, (list, tuple)):
        return all(_jsonable(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _jsonable(v, depth + 1) for k, v in value.items())
    return False


class JsonMaterializer(Materializer):
    """dict, list, tuple, str, int, float, bool and None as a JSON file.

    Dict keys must be strings (JSON would silently turn other keys into
    strings). Tuples come back as lists, numpy scalars as Python numbers. NaN
    and infinities are kept.
    """

    NAME = "json"
    VERSION = 1
    TYPES = ("builtins.dict", "builtins.list", "builtins.tuple", "builtins.str",
             "builtins.int", "builtins.float", "builtins.bool", "builtins.NoneType",
             "numpy.number", "numpy.bool", "numpy.bool_")
    PRIORITY = 10
    FORMAT = "JSON"

    @classmethod
    def can_save(cls, value: Any) -> bool:
        return _jsonable(value)

    def save(self, value: Any, folder: Path) -> None:
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_plain)
        except (ValueError, TypeError, RecursionError) as exc:
            raise MaterializerError(f"The value cannot be written as JSON: {exc}") from exc
        (folder / "value.json").write_text(text, encoding="utf-8")

    def load(self, folder: Path) -> Any:
        return json.loads((folder / "value.json").read_text(encoding="utf-8"))

    def describe(self, folder: Path) -> dict[str, Any]:
        text = (folder / "value.json").read_text(encoding="utf-8")
        value = json.loads(text)
        summary: dict[str, Any] = {"json_type": type(value).__name__}
        if isinstance(value, (dict, list)):
            summary["length"] = len(value)
        summary["preview"] = text if len(text) <= 2000 else text[:2000] + "..."
        if isinstance(value, float) and not math.isfinite(value):
            summary["preview"] = repr(value)
        return summary


class BytesMaterializer(Materializer):
    """bytes and bytearray as one binary file; loads as bytes."""

    NAME = "bytes"
    VERSION = 1
    TYPES = ("builtins.bytes", "builtins.bytearray")
    PRIORITY = 10
    FORMAT = "raw bytes"

    def save(self, value: Any, folder: Path) -> None:
        (folder / "data.bin").write_bytes(bytes(value))

    def load(self, folder: Path) -> bytes:
        return (folder / "data.bin").read_bytes()

    def describe(self, folder: Path) -> dict[str, Any]:
        head = (folder / "data.bin").read_bytes()[:32]
        return {"bytes": (folder / "data.bin").stat().st_size, "head_hex": head.hex()}


class PathMaterializer(Materializer):
    """A ``pathlib.Path`` to a file or folder: the file or folder is copied.

    Loading returns the path of the stored copy, which must be treated as
    read-only.
    """

    NAME = "path"
    VERSION = 1
    TYPES = ("pathlib.PurePath",)
    PRIORITY = 10
    FORMAT = "file or folder"

    def save(self, value: Any, folder: Path) -> None:
        source = Path(value)
        if source.is_file():
            target = folder / "file"
            target.mkdir()
            shutil.copy2(source, target / source.name)
        elif source.is_dir():
            shutil.copytree(source, folder / "dir", symlinks=False)
        else:
            raise MaterializerError(f"Path {str(source)!r} is neither a file nor a folder.")

    def load(self, folder: Path) -> Path:
        if (folder / "dir").is_dir():
            return folder / "dir"
        (only,) = list((folder / "file").iterdir())
        return only

    def describe(self, folder: Path) -> dict[str, Any]:
        path = self.load(folder)
        if path.is_file():
            return {"kind": "file", "name": path.name, "bytes": path.stat().st_size}
        files = [p for p in path.rglob("*") if p.is_file()]
        return {
            "kind": "folder",
            "files": len(files),
            "bytes": sum(p.stat().st_size for p in files),
            "first": sorted(p.relative_to(path).as_posix() for p in files)[:10],
        }


class PickleMaterializer(Materializer):
    """Any picklable value. Used only by steps that opt in with ``allow_pickle=True``.

    Loading a pickle runs code from the file, so it is refused unless the
    caller opts in too.
    """

    NAME = "pickle"
    VERSION = 1
    TYPES = ("builtins.object",)
    PRIORITY = 10_000
    FORMAT = "pickle (unsafe to load from untrusted sources)"

    def save(self, value: Any, folder: Path) -> None:
        import pickle

        with (folder / "value.pkl").open("wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self, folder: Path) -> Any:
        import pickle

        with (folder / "value.pkl").open("rb") as fh:
            return pickle.load(fh)

    def describe(self, folder: Path) -> dict[str, Any]:
        return {"bytes": (folder / "value.pkl").stat().st_size}


__all__ = ["BytesMaterializer", "JsonMaterializer", "PathMaterializer", "PickleMaterializer"]
