"""How hybrid fan-out decides, per author, whether a new post is pushed or pulled.

`FollowerThreshold` is the classic rule: pull the posts of authors with more followers
than a threshold. `CostModel` is Feeding Frenzy's (Silberstein et al., SIGMOD 2010):
pushing a post to a follower costs one timeline write (`push_cost`) each time the author
writes; pulling costs a merge of the author's posts (`pull_cost`) each time the follower
reads. So push to follower f when φ_f · pull_cost ≥ φ_author · push_cost, where φ are the
measured read and write rates (RateMeter). Murmur decides per author rather than per
(author, follower) pair, so a post is either materialised or merged: the rule is applied
to the author's followers on average (a sample of the most recent ones), i.e. push when
the pull reads a push saves cost at least as much as the pushes. Until the meters have
watched one half-life there are no rates yet, and the threshold rule decides.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from murmur.domain import Delivery, UserId
from murmur.fanout.rates import RateMeter
from murmur.storage.base import FollowGraph


class DeliveryPolicy(Protocol):
    async def decide(self, author_id: UserId) -> Delivery: ...


class FollowerThreshold:
    def __init__(self, *, graph: FollowGraph, threshold: int) -> None:
        self._graph = graph
        self._threshold = threshold

    async def decide(self, author_id: UserId) -> Delivery:
        counts = await self._graph.follow_counts(user_ids=[author_id])
        followers = counts[author_id].followers if author_id in counts else 0
        return Delivery.PULLED if followers > self._threshold else Delivery.PUSHED


@dataclass(frozen=True, slots=True)
class CostWeights:
    push_cost: float  # one post written into one follower's timeline
    pull_cost: float  # one author's posts merged into one timeline read


@dataclass(frozen=True, slots=True)
class CostDecision:
    delivery: Delivery
    followers_read_rate: float  # mean over the sampled followers, reads per second
    author_write_rate: float  # posts per second


class CostModel:
    def __init__(
        self,
        *,
        graph: FollowGraph,
        reads: RateMeter,
        writes: RateMeter,
        weights: CostWeights,
        fallback: FollowerThreshold,
        half_life_seconds: float,
        sample: int,
        remember_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._graph = graph
        self._reads = reads
        self._writes = writes
        self._weights = weights
        self._fallback = fallback
        self._half_life = half_life_seconds
        self._sample = sample
        self._remember = remember_seconds
        self._clock = clock
        self._decided: dict[UserId, tuple[CostDecision, float]] = {}
        self._swept = clock()

    async def decide(self, author_id: UserId) -> Delivery:
        if self._reads.watched_seconds() < self._half_life:
            return await self._fallback.decide(author_id)
        return (await self.explain(author_id)).delivery

    async def explain(self, author_id: UserId) -> CostDecision:
        """The decision with the rates behind it; remembered a while per author, so a
        prolific author does not cost a follower read per post. A decision older than
        `remember_seconds` is never used again: they are dropped, in a sweep at most once
        per `remember_seconds`, so only the authors of the last two such periods are held."""
        now = self._clock()
        if now - self._swept >= self._remember:
            self._forget_expired(now)
        remembered = self._decided.get(author_id)
        if remembered is not None and now - remembered[1] < self._remember:
            return remembered[0]
        page = await self._graph.followers(user_id=author_id, after=None, limit=self._sample)
        read_rate = self._reads.mean_rate(page.items)
        write_rate = self._writes.rate(author_id)
        push = not page.items or read_rate * self._weights.pull_cost >= write_rate * self._weights.push_cost
        decision = CostDecision(Delivery.PUSHED if push else Delivery.PULLED, read_rate, write_rate)
        self._decided[author_id] = (decision, now)
        return decision

    def remembered(self) -> int:
        """Authors whose decision is held."""
        return len(self._decided)

    def _forget_expired(self, now: float) -> None:
        self._swept = now
        expired = [author for author, (_, at) in self._decided.items() if now - at >= self._remember]
        for author in expired:
            del self._decided[author]
