"""Home timelines: timeline, and timelineEvents (the live timeline over websockets)."""
