"""Amazon Neptune (openCypher over Bolt) backends: the follow graph.

auth.py      IAM: the SigV4-signed Bolt auth token, re-signed before it expires
messages.py  Bolt message sizes: UNWIND batches that fit the server's limit
bolt.py      the driver: auto-commit queries, error mapping, retries
graph.py     NeptuneFollowGraph
"""

from murmur.storage.neptune.graph import NeptuneFollowGraph

__all__ = ["NeptuneFollowGraph"]
