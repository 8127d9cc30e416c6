"""ElastiCache Redis: the read-through cache, live events and hot timelines, over one connection.

    connection.py  RedisConnection: the client (TLS, AUTH token), and the shared rule that
                   Redis failures never fail a request
    cache.py       RedisCache: values with a TTL (MGET, pipelined SET EX, UNLINK)
    bus.py         RedisEventBus: PUBLISH, and a PubSub connection per subscription
    timelines.py   RedisHotTimelines: capped sorted sets in front of a durable TimelineStore

This package shares its name with the redis library: modules here import it absolutely
(`from redis.asyncio import ...`), which always means the library.
"""

from murmur.storage.redis.bus import RedisEventBus
from murmur.storage.redis.cache import RedisCache
from murmur.storage.redis.connection import RedisConnection
from murmur.storage.redis.timelines import RedisHotTimelines

__all__ = ["RedisCache", "RedisConnection", "RedisEventBus", "RedisHotTimelines"]
