"""Realistic follow graphs: most users have a few followers, a few have very many.

The tiers follow the shape Murmur studies: 85% regular users (10–100
followers), 14% influencers (100–50K), 1% celebrities (50K–500K). For a
population too small for a 500K-follower celebrity, counts are compressed on a
log scale so the largest fits in half the population: a few hundred users keep
the same shape, with the tiers in the same order.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum


class Tier(StrEnum):
    REGULAR = "regular"
    INFLUENCER = "influencer"
    CELEBRITY = "celebrity"


@dataclass(frozen=True, slots=True)
class TierSpec:
    tier: Tier
    share: float
    min_followers: int
    max_followers: int


TIERS = (
    TierSpec(Tier.REGULAR, 0.85, 10, 100),
    TierSpec(Tier.INFLUENCER, 0.14, 100, 50_000),
    TierSpec(Tier.CELEBRITY, 0.01, 50_000, 500_000),
)
SMALLEST = TIERS[0].min_followers
LARGEST = TIERS[-1].max_followers


def assign_tiers(n_users: int, rng: random.Random) -> list[Tier]:
    """Each user's tier, in the tiers' proportions (at least one celebrity and influencer
    once there are enough users)."""
    counts = {spec.tier: math.floor(spec.share * n_users) for spec in TIERS}
    if n_users >= 20:
        counts[Tier.CELEBRITY] = max(1, counts[Tier.CELEBRITY])
        counts[Tier.INFLUENCER] = max(1, counts[Tier.INFLUENCER])
    counts[Tier.REGULAR] = n_users - counts[Tier.INFLUENCER] - counts[Tier.CELEBRITY]
    tiers = [tier for tier, count in counts.items() for _ in range(count)]
    rng.shuffle(tiers)
    return tiers


def follower_target(spec: TierSpec, n_users: int, rng: random.Random) -> int:
    """A follower count drawn log-uniformly from the tier's range, fitted to the population."""
    drawn = math.exp(rng.uniform(math.log(spec.min_followers), math.log(spec.max_followers)))
    return min(n_users - 1, max(1, round(compress(drawn, n_users))))


def compress(followers: float, n_users: int) -> float:
    """Map [SMALLEST, LARGEST] onto [SMALLEST, n_users / 2] on a log scale when the
    population is too small for the full range; identity otherwise."""
    top = n_users / 2
    if top >= LARGEST or followers <= SMALLEST:
        return followers
    if top <= SMALLEST:
        return min(followers, top)
    position = math.log(followers / SMALLEST) / math.log(LARGEST / SMALLEST)
    return float(SMALLEST * (top / SMALLEST) ** position)


def follow_edges(n_users: int, *, seed: int = 7) -> Iterator[tuple[int, int]]:
    """(follower, followee) pairs over users 0..n_users-1, no self-follows, no repeats.

    Each followee draws its follower count from its tier, then that many
    distinct followers uniformly, so memory stays O(largest follower count).
    """
    rng = random.Random(seed)
    specs = {spec.tier: spec for spec in TIERS}
    for followee, tier in enumerate(assign_tiers(n_users, rng)):
        count = follower_target(specs[tier], n_users, rng)
        for follower in _sample_excluding(n_users, count, followee, rng):
            yield follower, followee


def tiers_of(n_users: int, *, seed: int = 7) -> list[Tier]:
    """The tiers follow_edges(n_users, seed=seed) assigns."""
    return assign_tiers(n_users, random.Random(seed))


def _sample_excluding(n: int, k: int, excluded: int, rng: random.Random) -> list[int]:
    picks = rng.sample(range(n - 1), k)
    return [p if p < excluded else p + 1 for p in picks]
