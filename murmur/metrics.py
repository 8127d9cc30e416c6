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
TIMELINES_HEALED = Counter(
    "murmur_timelines_healed_total",
    "Materialised timelines a read found wrong and repaired (fan-out should leave none)",
    ["reason"],
)
_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
FANOUT_LAG = Histogram(
    "murmur_fanout_lag_seconds",
    "From post creation to the end of its fan-out (its last chunk delivered)",
    buckets=_LAG_BUCKETS,
)
DELIVERY_LAG = Histogram(
    "murmur_delivery_lag_seconds",
    "From post creation to a chunk of its fan-out landing in the followers' timelines",
    buckets=_LAG_BUCKETS,
)
CHUNK_SECONDS = Histogram(
    "murmur_fanout_chunk_seconds",
    "Time to apply one chunk of a fan-out (read its followers, write, re-check)",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
QUEUE_MESSAGES = Counter(
    "murmur_queue_messages_total",
    "Queue messages handled by workers, per lane and outcome",
    ["lane", "outcome"],
)
REDELIVERIES = Counter(
    "murmur_queue_redeliveries_total",
    "Messages received again (a released message, a lapsed lease or a retry), per lane",
    ["lane"],
)
QUEUE_WAIT = Histogram(
    "murmur_queue_wait_seconds",
    "From a message's enqueue to its receive, per lane",
    ["lane"],
    buckets=_LAG_BUCKETS,
)
IN_FLIGHT = Gauge("murmur_worker_in_flight_messages", "Messages this process holds (received, not settled)")
QUEUE_DEPTH = Gauge(
    "murmur_queue_depth", "Messages in the fan-out queue, per lane and state", ["lane", "state"]
)
QUEUE_OLDEST_AGE = Gauge(
    "murmur_queue_oldest_age_seconds",
    "Age of the oldest message in each lane, waiting or in flight (SQLite; on SQS it is CloudWatch's"
    " ApproximateAgeOfOldestMessage and this is not set)",
    ["lane"],
)
SETTLE_FAILURES = Counter(
    "murmur_queue_settle_failures_total",
    "Queue operations on messages in hand that failed, per lane and action (ack, retry, dead_letter,"
    " release, extend); the message comes back when its lease ends",
    ["lane", "action"],
)
OUTBOX_RELAYED = Counter("murmur_outbox_relayed_total", "Outbox messages published to the queue")


def queue_message_counts() -> dict[str, float]:
    """This process's totals: messages by outcome, plus `redelivered` (for its last log line)."""
    counts: dict[str, float] = {}
    for metric in (QUEUE_MESSAGES, REDELIVERIES):
        for family in metric.collect():
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    key = sample.labels.get("outcome", "redelivered")
                    counts[key] = counts.get(key, 0.0) + sample.value
    return counts


def store_operation_counts() -> dict[tuple[str, str], float]:
    """Current totals as {(store, operation): count}, for studies and tests."""
    counts: dict[tuple[str, str], float] = {}
    for metric in STORE_OPERATIONS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                counts[(sample.labels["store"], sample.labels["operation"])] = sample.value
    return counts


AWS_REQUESTS = Counter(
    "murmur_aws_requests_total",
    "AWS API requests sent (every attempt, retries included), per service and operation",
    ["service", "operation"],
)
DYNAMODB_CAPACITY = Counter(
    "murmur_dynamodb_capacity_units_total",
    "DynamoDB capacity units consumed, as the service reports them (ReturnConsumedCapacity=TOTAL)",
    ["kind"],
)
