"""The workers' own view: messages in hand and messages done, from each pod's /metrics."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from murmur_operator.kube import Pod

# the names murmur/metrics.py gives them (tests/operator checks they still match)
IN_FLIGHT = "murmur_worker_in_flight_messages"
MESSAGES = "murmur_queue_messages_total"
DONE_OUTCOMES = frozenset({"done", "dead_lettered"})
SCRAPE_TIMEOUT = aiohttp.ClientTimeout(total=2)


@dataclass(frozen=True, slots=True)
class WorkerSample:
    pod: str
    in_flight: int
    done: float  # messages settled since the process started (a counter)


async def scrape(pods: list[Pod], *, port_name: str, path: str) -> list[WorkerSample]:
    """Every ready pod that answers; a pod that does not is left out (its cost is unknown)."""
    targets = [p for p in pods if p.ip and port_name in p.ports and not p.terminating]
    async with aiohttp.ClientSession(timeout=SCRAPE_TIMEOUT) as session:
        samples = await asyncio.gather(
            *(_one(session, p, f"http://{p.ip}:{p.ports[port_name]}{path}") for p in targets)
        )
    return [s for s in samples if s is not None]


async def _one(session: aiohttp.ClientSession, pod: Pod, url: str) -> WorkerSample | None:
    try:
        async with session.get(url) as response:
            if response.status != 200:
                return None
            text = await response.text()
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None
    return parse(pod.name, text)


def parse(pod: str, text: str) -> WorkerSample:
    in_flight, done = 0.0, 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == IN_FLIGHT:
                in_flight += sample.value
            elif sample.name == MESSAGES and sample.labels.get("outcome") in DONE_OUTCOMES:
                done += sample.value
    return WorkerSample(pod=pod, in_flight=int(in_flight), done=done)


def completed_per_second(before: dict[str, float], now: list[WorkerSample], seconds: float) -> float | None:
    """Messages settled per second by the pods scraped both times (a restarted pod, whose
    counter fell, counts from zero); None when no pod was."""
    if seconds <= 0:
        return None
    both = [s for s in now if s.pod in before]
    if not both:
        return None
    total = sum(s.done - before[s.pod] if s.done >= before[s.pod] else s.done for s in both)
    return total / seconds
