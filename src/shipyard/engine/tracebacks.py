"""``shipyard.engine.tracebacks`` provides tracebacks trimmed to the user's code.

An error raised by a step is shown without Shipyard's own frames, and with
the place in the user's code where it happened.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path

from shipyard.engine.hashing import is_user_file

_ENGINE_DIR = str(Path(__file__).resolve().parent) + os.sep


def _is_engine_frame(filename: str) -> bool:
    return os.path.realpath(filename).startswith(_ENGINE_DIR)


def user_traceback(exc: BaseException) -> tuple[str, str | None]:
    """The traceback without the engine's leading frames, and the deepest user frame.

    Returns:
        ``(traceback text, "file.py:12 in func" or None)``.
    """
    tb = exc.__traceback__
    while tb is not None and _is_engine_frame(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    where = None
    for frame in traceback.extract_tb(tb) if tb is not None else []:
        if is_user_file(frame.filename):
            where = f"{os.path.relpath(frame.filename)}:{frame.lineno} in {frame.name}"
    return text, where


__all__ = ["user_traceback"]
