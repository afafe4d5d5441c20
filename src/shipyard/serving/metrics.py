"""``shipyard.serving.metrics`` provides the service's Prometheus metrics.

A few counters and one histogram, kept in plain dicts under a lock and
rendered in the Prometheus text format; no client library is needed.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34)).replace(chr(10), " ")}"'
        for k, v in sorted(labels.items())
    )
    return "{" + inner + "}"


class Metrics:
    """Request counts by endpoint and status, latency, predictions, unseen categories, validation failures."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = defaultdict(int)
        self.latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.predictions: dict[str, int] = defaultdict(int)
        self.unseen: dict[str, int] = defaultdict(int)
        self.validation_failures = 0
        self.records = 0

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        """Count a finished request and its latency."""
        with self._lock:
            self.requests[(endpoint, str(status))] += 1
            index = next((i for i, b in enumerate(LATENCY_BUCKETS) if seconds <= b), len(LATENCY_BUCKETS))
            self.latency_counts[index] += 1
            self.latency_sum += seconds

    def observe_predictions(self, labels: list[str], unseen: Mapping[str, int]) -> None:
        """Count predicted classes (or value bins) and unseen categories."""
        with self._lock:
            self.records += len(labels)
            for label in labels:
                self.predictions[label] += 1
            for column, count in unseen.items():
                self.unseen[column] += count

    def observe_validation_failure(self) -> None:
        """Count a request rejected by input validation."""
        with self._lock:
            self.validation_failures += 1

    def render(self) -> str:
        """The Prometheus text exposition."""
        with self._lock:
            lines = [
                "# HELP shipyard_requests_total Requests by endpoint and HTTP status.",
                "# TYPE shipyard_requests_total counter",
            ]
            for (endpoint, status), n in sorted(self.requests.items()):
                lines.append(f"shipyard_requests_total{_labels({'endpoint': endpoint, 'status': status})} {n}")
            lines += [
                "# HELP shipyard_request_duration_seconds Request latency.",
                "# TYPE shipyard_request_duration_seconds histogram",
            ]
            cumulative = 0
            for bound, count in zip(LATENCY_BUCKETS, self.latency_counts, strict=False):
                cumulative += count
                lines.append(f'shipyard_request_duration_seconds_bucket{{le="{bound}"}} {cumulative}')
            total = cumulative + self.latency_counts[-1]
            lines += [
                f'shipyard_request_duration_seconds_bucket{{le="+Inf"}} {total}',
                f"shipyard_request_duration_seconds_sum {self.latency_sum}",
                f"shipyard_request_duration_seconds_count {total}",
                "# HELP shipyard_predictions_total Predictions by predicted class (or value range).",
                "# TYPE shipyard_predictions_total counter",
            ]
            for label, n in sorted(self.predictions.items()):
                lines.append(f"shipyard_predictions_total{_labels({'prediction': label})} {n}")
            lines += [
                "# HELP shipyard_unseen_categories_total Values not seen in training, by column.",
                "# TYPE shipyard_unseen_categories_total counter",
            ]
            for column, n in sorted(self.unseen.items()):
                lines.append(f"shipyard_unseen_categories_total{_labels({'column': column})} {n}")
            lines += [
                "# HELP shipyard_validation_failures_total Requests rejected because their input was invalid.",
                "# TYPE shipyard_validation_failures_total counter",
                f"shipyard_validation_failures_total {self.validation_failures}",
                "# HELP shipyard_records_total Records predicted.",
                "# TYPE shipyard_records_total counter",
                f"shipyard_records_total {self.records}",
            ]
        return "\n".join(lines) + "\n"


__all__ = ["LATENCY_BUCKETS", "Metrics"]
