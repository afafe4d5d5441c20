"""``shipyard.serving.log`` provides the prediction log.

Every prediction (input features, prediction, model version, time, request
id) is appended to an in-memory buffer — a list append under a lock, off the
request's critical work — and a background thread writes the buffer as a
Parquet chunk every few seconds, on shutdown, and when it grows large. Each
chunk is written whole (to a temporary name, then moved into place), so a
crash loses at most the last unflushed interval and never damages earlier
chunks. Chunks live in the artifact store under
``prediction-logs/<bundle id>/<YYYY-MM-DD>/<time>-<id>.parquet``.

The statistics of flushed chunks are merged as the log goes, so the service
can compare the traffic of its window with the training statistics at once.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.data.statistics import Statistics
    from shipyard.stores.artifacts import ArtifactStore

logger = logging.getLogger(__name__)
LOG_PREFIX = "prediction-logs"
MAX_BUFFER = 50_000


def log_folder(bundle_id: str) -> str:
    """The log's folder (relative to the artifact store root) for a bundle."""
    return f"{LOG_PREFIX}/{bundle_id[:16]}"


class PredictionLog:
    """A buffered, chunked Parquet log of predictions.

    Args:
        store: the artifact store to write chunks into.
        bundle_id: the served bundle (names the log's folder).
        features: the bundle's feature types (for the window's statistics).
        interval: seconds between flushes.
    """

    def __init__(
        self,
        store: ArtifactStore,
        bundle_id: str,
        features: Mapping[str, str],
        *,
        interval: float = 5.0,
    ) -> None:
        self.store = store
        self.folder = log_folder(bundle_id)
        self.features = dict(features)
        self.interval = interval
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.window: Statistics | None = None
        self.chunks = 0
        self.rows_written = 0

    def start(self) -> None:
        """Start the background flusher."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="shipyard-prediction-log", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:  # keep serving; the next flush retries the rows
                logger.exception("prediction log flush failed")

    def append(self, records: list[Mapping[str, Any]], predictions: list[Any], *, version: str, request_id: str) -> None:
        """Queue predictions for the log (cheap: no I/O on the request path)."""
        now = time.time()
        rows = [
            {**{k: r.get(k) for k in self.features}, "prediction": p, "model_version": version, "timestamp": now, "request_id": request_id}
            for r, p in zip(records, predictions, strict=True)
        ]
        with self._lock:
            self._rows.extend(rows)
            full = len(self._rows) >= MAX_BUFFER
        if full:
            threading.Thread(target=self.flush, daemon=True).start()

    def pending(self) -> list[dict[str, Any]]:
        """A copy of the rows not yet written."""
        with self._lock:
            return list(self._rows)

    def flush(self) -> int:
        """Write the buffered rows as one Parquet chunk; returns how many."""
        with self._flush_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return 0
            frame = _frame(rows, self.features)
            stamp = datetime.now(UTC)
            name = f"{self.folder}/{stamp:%Y-%m-%d}/{stamp:%H%M%S%f}-{uuid.uuid4().hex[:8]}.parquet"
            try:
                self.store.write_file(name, _parquet_bytes(frame))
            except Exception:
                with self._lock:  # put them back for the next attempt
                    self._rows[:0] = rows
                raise
            self._merge_window(frame)
            self.chunks += 1
            self.rows_written += len(rows)
            return len(rows)

    def _merge_window(self, frame: pd.DataFrame) -> None:
        from shipyard.data.statistics import compute_statistics

        part = compute_statistics(frame[list(self.features)], types=self.features)
        self.window = part if self.window is None else self.window.merge(part)

    def current_statistics(self) -> Statistics | None:
        """Statistics of every logged input since the service started (flushed or not)."""
        from shipyard.data.statistics import compute_statistics

        pending = self.pending()
        if not pending:
            return self.window
        part = compute_statistics(_frame(pending, self.features)[list(self.features)], types=self.features)
        return part if self.window is None else self.window.merge(part)

    def close(self) -> None:
        """Stop the flusher and write what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()


def _frame(rows: list[dict[str, Any]], features: Mapping[str, str]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(rows)

    def text(value: Any) -> str | None:
        return None if value is None or (isinstance(value, float) and value != value) else str(value)

    for column, kind in features.items():
        if kind == "numeric" and column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
        elif kind in ("categorical", "text", "boolean", "datetime") and column in frame:
            # Missing values stay missing (pandas turns None into NaN in mixed columns).
            frame[column] = pd.Series([text(v) for v in frame[column]], index=frame.index, dtype=object)
    frame["prediction"] = pd.Series([text(v) for v in frame["prediction"]], index=frame.index, dtype=object)
    return frame


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def read_log(store: ArtifactStore, bundle_id: str, *, since: float | None = None) -> Iterator[pd.DataFrame]:
    """The log's chunks (oldest first), only rows at or after ``since`` (epoch seconds)."""
    import io

    import pandas as pd

    for name in store.list_files(log_folder(bundle_id)):
        if not name.endswith(".parquet"):
            continue
        frame = pd.read_parquet(io.BytesIO(store.read_file(name)))
        if since is not None:
            frame = frame[frame["timestamp"] >= since]
        if len(frame):
            yield frame


__all__ = ["LOG_PREFIX", "PredictionLog", "log_folder", "read_log"]
