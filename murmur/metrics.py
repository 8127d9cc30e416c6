"""Prometheus metrics the core records. Defined once per process: the API serves them at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

STORE_OPERATIONS = Counter(
    "murmur_store_operations_total", "Store operations, per store and operation", ["store", "operation"]
)
STORE_ERRORS = Counter(
    "murmur_store_errors_total",
    "Store operations that raised, per store and operation",
    ["store", "operation"],
)
DELIVERIES = Counter(
    "murmur_fanout_deliveries_total", "Timeline entries written by fan-out, per strategy", ["strategy"]
)
FANOUT_LAG = Histogram(
    "murmur_fanout_lag_seconds",
    "From post creation to the end of its fan-out (last page delivered)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
QUEUE_MESSAGES = Counter(
    "murmur_queue_messages_total", "Queue messages handled by workers, per outcome", ["outcome"]
)
QUEUE_DEPTH = Gauge("murmur_queue_depth", "Messages waiting in the fan-out queue, per state", ["state"])
OUTBOX_RELAYED = Counter("murmur_outbox_relayed_total", "Outbox messages published to the queue")


def store_operation_counts() -> dict[tuple[str, str], float]:
    """Current totals as {(store, operation): count}, for studies and tests."""
    counts: dict[tuple[str, str], float] = {}
    for metric in STORE_OPERATIONS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                counts[(sample.labels["store"], sample.labels["operation"])] = sample.value
    return counts
