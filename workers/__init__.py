"""Fan-out workers: consume the queue, apply the strategy, ack, retry or dead-letter."""
