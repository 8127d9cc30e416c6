"""Before a command opens the stores: can each configured server be reached at all?

A store that is down at start-up would otherwise surface as a driver's retry loop and a
long traceback. This opens one TCP connection to every address the settings name and
reports each one that refuses or does not answer, as one line naming the store and its
address (with any credentials masked).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from pymongo.uri_parser import parse_uri

from murmur.settings import Settings

CONNECT_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    store: str  # what it holds, as a person would name it
    address: str  # shown to the user: no credentials
    host: str
    port: int


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.username or parts.password:
        netloc = "***@" + parts.netloc.rpartition("@")[2]
        return parts._replace(netloc=netloc).geturl()
    return url


def endpoints(settings: Settings) -> list[Endpoint]:
    chosen, found = settings.resolved_stores, []
    if "mongo" in (chosen.users, chosen.posts):
        uri = settings.mongo.uri.get_secret_value()
        if not uri.startswith("mongodb+srv://"):  # SRV names resolve in DNS: the driver's job
            for host, port in parse_uri(uri)["nodelist"]:
                found.append(Endpoint("MongoDB (users, posts)", _masked(uri), host, port))
    if chosen.graph == "neptune":
        bolt = urlsplit(settings.neptune.uri)
        found.append(
            Endpoint(
                "Neptune (the follow graph, Bolt)",
                settings.neptune.uri,
                bolt.hostname or "",
                bolt.port or 8182,
            )
        )
    if "redis" in (chosen.cache, chosen.bus):
        redis = urlsplit(settings.redis.url)
        found.append(
            Endpoint(
                "Redis (cache, live events)",
                _masked(settings.redis.url),
                redis.hostname or "",
                redis.port or 6379,
            )
        )
    if settings.aws.endpoint_url and (chosen.timelines == "dynamodb" or chosen.queue == "sqs"):
        aws = urlsplit(settings.aws.endpoint_url)
        port = aws.port or (443 if aws.scheme == "https" else 80)
        found.append(
            Endpoint(
                "the AWS endpoint (DynamoDB timelines, SQS queues)",
                settings.aws.endpoint_url,
                aws.hostname or "",
                port,
            )
        )
    return found


async def _problem(endpoint: Endpoint) -> str | None:
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(endpoint.host, endpoint.port), CONNECT_SECONDS
        )
    except TimeoutError:
        return f"no answer within {CONNECT_SECONDS:g} s"
    except OSError as exc:
        return os.strerror(exc.errno).lower() if exc.errno else str(exc)
    writer.close()
    return None


async def unreachable(settings: Settings) -> list[str]:
    """One line per store that cannot be reached; empty when all can."""
    found = endpoints(settings)
    problems = await asyncio.gather(*(_problem(e) for e in found))
    return [
        f"cannot reach {e.store} at {e.address}: {problem}"
        for e, problem in zip(found, problems, strict=True)
        if problem is not None
    ]
