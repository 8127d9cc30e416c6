"""Queue and live-event messages: protobuf, generated from proto/ (`make proto`)."""
