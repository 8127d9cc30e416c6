"""Tiered social graphs for the fan-out study, deterministic from a seed.

**Tiers** are the study's (murmur.socialgraph.TIERS): 85% regular users with 10–100
followers, 14% influencers with 100–50K, 1% celebrities with 50K–500K, each range capped
at users − 1. Within a tier, follower counts follow a truncated power law (density ∝ x⁻²):
most users sit near the bottom of their range and a few far above it, as in measured
follower distributions.

**Fitting to the population.** Taken literally, the ranges give 100K users about 390
follows each (39M edges; every celebrity of a 25K graph is followed by everyone). So by
default the follower axis [10, 500K] is compressed on a log scale, as the demo seed does,
just enough that the expected mean degree is `mean_degree` (35, as Twitter measured in Kwak
et al., WWW 2010). The tiers keep their shares, their order and their heavy tails;
the fitted ranges are part of the generated world and of every report. `literal=True`
keeps the ranges as written (capped at users − 1).

**One star.** The compressed axis caps how far a celebrity reaches, so every graph also
holds one account followed by everyone (`star_username`): a post that must reach the whole
population, the case push cannot keep up with.

**Who follows whom.** Followers are drawn in proportion to an activity weight that grows
with the follower's own follower count (√followers, with log-normal noise), so users with
many followers also follow more, the positive follower/following correlation of real
networks (`follower_following_correlation` measures it).

**Posts** are spread uniformly over `history_days`, at a rate per tier (POSTS_PER_DAY).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

import numpy as np
import numpy.typing as npt

from murmur.domain import EPOCH_MS, NODE_BITS, SEQUENCE_BITS
from murmur.socialgraph import LARGEST, SMALLEST, TIERS, Tier

IntArray = npt.NDArray[np.int64]

TIER_CODES = {spec.tier: code for code, spec in enumerate(TIERS)}
STAR_CODE = len(TIERS)  # the star's tier code, apart from the three
POSTS_PER_DAY = {Tier.REGULAR: 0.5, Tier.INFLUENCER: 2.0, Tier.CELEBRITY: 4.0}
STAR_POSTS_PER_DAY = 4.0
POWER = 2.0  # the exponent of the within-tier power law
# draws per wanted follower for ordinary followees: a few are the followee itself or repeats
_OVERDRAW = 1.15
# bits per packed field when sorting edges: up to 2**20 users
_FIELD_BITS = 20
# generated ids use the top id nodes, which no running process derives for itself by default
USER_NODE, POST_NODE = (1 << NODE_BITS) - 1, (1 << NODE_BITS) - 2


@dataclass(frozen=True, slots=True)
class GraphSpec:
    users: int
    seed: int = 7
    mean_degree: float = 35.0
    literal: bool = False
    history_days: float = 3.0
    star: bool = True
    # "now" for the history: fixed by default, so a spec always generates the same world
    now: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))

    def __post_init__(self) -> None:
        if self.users < 20:
            raise ValueError("a generated graph needs at least 20 users (one celebrity per hundred)")
        if self.users > 1 << _FIELD_BITS:
            raise ValueError(f"a generated graph holds at most {1 << _FIELD_BITS} users")
        if self.mean_degree < SMALLEST:
            raise ValueError(f"mean_degree must be at least {SMALLEST}")


@dataclass(frozen=True, slots=True)
class TierRange:
    tier: Tier
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class Fit:
    """How the follower axis was fitted: `top` is where LARGEST landed (LARGEST: untouched)."""

    top: float
    ranges: tuple[TierRange, ...]
    expected_mean_degree: float


def fit(users: int, *, mean_degree: float, literal: bool) -> Fit:
    """The tier ranges for this population: literal, or compressed until the expected
    mean degree is at most `mean_degree` (bisection on the compressed top)."""
    if literal:
        return _fit_at(users, LARGEST)
    if _fit_at(users, LARGEST).expected_mean_degree <= mean_degree:
        return _fit_at(users, LARGEST)
    low, high = float(SMALLEST) * 1.01, float(LARGEST)
    for _ in range(60):
        middle = math.sqrt(low * high)
        if _fit_at(users, middle).expected_mean_degree > mean_degree:
            high = middle
        else:
            low = middle
    return _fit_at(users, low)


def _fit_at(users: int, top: float) -> Fit:
    def squeeze(followers: float) -> int:
        if top >= LARGEST:
            value = followers
        else:
            position = math.log(followers / SMALLEST) / math.log(LARGEST / SMALLEST)
            value = SMALLEST * (top / SMALLEST) ** position
        return max(1, min(users - 1, round(value)))

    ranges = tuple(
        TierRange(spec.tier, squeeze(spec.min_followers), squeeze(spec.max_followers)) for spec in TIERS
    )
    expected = sum(
        spec.share * truncated_power_mean(r.low, r.high) for spec, r in zip(TIERS, ranges, strict=True)
    )
    return Fit(top=top, ranges=ranges, expected_mean_degree=expected)


def truncated_power_mean(low: float, high: float) -> float:
    """The mean of the density ∝ x⁻² on [low, high]."""
    if high <= low:
        return low
    return math.log(high / low) / (1 / low - 1 / high)


def _draw_power(low: float, high: float, size: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Inverse-CDF draws from the density ∝ x⁻² on [low, high]."""
    if high <= low:
        return np.full(size, float(low))
    u = rng.random(size)
    return 1.0 / (1.0 / low - u * (1.0 / low - 1.0 / high))


@dataclass(frozen=True)
class World:
    """A generated graph: users 0..n-1, edges as (follower, followee) index arrays sorted by
    follower then followee, posts as author index and time (ms since the Unix epoch),
    oldest first. Ids are minted from the times (see user_ids, post_ids)."""

    spec: GraphSpec
    fit: Fit
    tiers: IntArray  # TIER_CODES per user; STAR_CODE for the star
    follower: IntArray
    followee: IntArray
    post_author: IntArray
    post_ms: IntArray
    joined_ms: IntArray

    @property
    def users(self) -> int:
        return self.spec.users

    @property
    def edges(self) -> int:
        return int(self.follower.size)

    @property
    def posts(self) -> int:
        return int(self.post_author.size)

    @cached_property
    def followers_count(self) -> IntArray:
        return np.bincount(self.followee, minlength=self.users).astype(np.int64)

    @cached_property
    def following_count(self) -> IntArray:
        return np.bincount(self.follower, minlength=self.users).astype(np.int64)

    @cached_property
    def user_ids(self) -> list[str]:
        return minted_ids(self.joined_ms, node=USER_NODE)

    @cached_property
    def post_ids(self) -> list[str]:
        return minted_ids(self.post_ms, node=POST_NODE)

    def username(self, index: int) -> str:
        return username_of(int(self.tiers[index]), index)

    @cached_property
    def usernames(self) -> list[str]:
        return [username_of(int(code), i) for i, code in enumerate(self.tiers)]

    def tier_name(self, index: int) -> str:
        return tier_name(int(self.tiers[index]))

    def follower_following_correlation(self) -> float:
        """Spearman's rank correlation of followers and following over all users."""
        ranks_a = np.argsort(np.argsort(self.followers_count)).astype(np.float64)
        ranks_b = np.argsort(np.argsort(self.following_count)).astype(np.float64)
        return float(np.corrcoef(ranks_a, ranks_b)[0, 1])

    def star_index(self) -> int | None:
        stars = np.flatnonzero(self.tiers == STAR_CODE)
        return int(stars[0]) if stars.size else None

    def followees_of(self) -> Iterator[tuple[int, IntArray]]:
        """(user, the users they follow) for every user who follows anyone."""
        starts = np.searchsorted(self.follower, np.arange(self.users + 1))
        for user in range(self.users):
            if starts[user] < starts[user + 1]:
                yield user, self.followee[starts[user] : starts[user + 1]]


def tier_name(code: int) -> str:
    return "star" if code == STAR_CODE else TIERS[code].tier.value


def username_of(code: int, index: int) -> str:
    return f"{tier_name(code)}_{index}"


def minted_ids(times_ms: IntArray, *, node: int) -> list[str]:
    """Murmur ids (murmur.domain.IdGenerator's layout) for strictly increasing times."""
    ms = times_ms - EPOCH_MS
    return [str(v) for v in ((ms << (NODE_BITS + SEQUENCE_BITS)) | (node << SEQUENCE_BITS)).tolist()]


def generate(spec: GraphSpec) -> World:
    rng = np.random.default_rng(spec.seed)
    n = spec.users
    fitted = fit(n, mean_degree=spec.mean_degree, literal=spec.literal)
    tiers = _assign_tiers(n, rng)
    targets = np.zeros(n, dtype=np.int64)
    for code, (spec_tier, tier_range) in enumerate(zip(TIERS, fitted.ranges, strict=True)):
        members = np.flatnonzero(tiers == code)
        drawn = _draw_power(tier_range.low, tier_range.high, members.size, rng)
        targets[members] = np.clip(np.rint(drawn), 1, n - 1).astype(np.int64)
        del spec_tier
    if spec.star:
        star = int(rng.integers(n))
        tiers[star] = STAR_CODE
        targets[star] = n - 1
    follower, followee = _edges(targets, rng)
    post_author, post_ms = _posts(tiers, spec, rng)
    history_start = _now_ms(spec) - int(spec.history_days * 86_400_000)
    # everyone joined in the week before the history began, one millisecond apart at least
    joined = np.sort(history_start - 7 * 86_400_000 + rng.integers(0, 6 * 86_400_000, n))
    joined = _strictly_increasing(joined)
    return World(
        spec=spec,
        fit=fitted,
        tiers=tiers,
        follower=follower,
        followee=followee,
        post_author=post_author,
        post_ms=post_ms,
        joined_ms=joined,
    )


def _assign_tiers(n: int, rng: np.random.Generator) -> IntArray:
    counts = [max(1, math.floor(spec.share * n)) for spec in TIERS[1:]]
    codes = np.concatenate(
        [np.full(n - sum(counts), TIER_CODES[Tier.REGULAR])]
        + [np.full(c, TIER_CODES[spec.tier]) for spec, c in zip(TIERS[1:], counts, strict=True)]
    ).astype(np.int64)
    rng.shuffle(codes)
    return codes


def _edges(targets: IntArray, rng: np.random.Generator) -> tuple[IntArray, IntArray]:
    """Each followee gets `targets[i]` distinct followers, drawn by activity weight; returns
    (follower, followee) sorted by follower, then followee."""
    n = targets.size
    weights = np.sqrt(targets.astype(np.float64)) * rng.lognormal(0.0, 0.5, n)
    big = np.flatnonzero(targets > n // 8)
    small = np.flatnonzero(targets <= n // 8)
    keys = [_small_followers(small, targets, weights, rng)]
    log_weights = np.log(weights)
    for star in big.tolist():
        # weighted sampling without replacement: the k largest of log(w) + Gumbel noise
        scores = log_weights + rng.gumbel(size=n)
        scores[star] = -np.inf
        chosen = np.argpartition(-scores, int(targets[star]) - 1)[: int(targets[star])]
        keys.append(np.int64(star) * n + chosen.astype(np.int64))
    by_followee = np.concatenate(keys)
    followees, followers = by_followee // n, by_followee % n
    order = np.lexsort((followees, followers))
    return followers[order], followees[order]


def _small_followers(
    small: IntArray, targets: IntArray, weights: npt.NDArray[np.float64], rng: np.random.Generator
) -> IntArray:
    """Followers of the ordinary followees, all at once: draws with replacement, then the
    followee itself and repeats dropped, then each cut to its target in a random order.
    Returns keys followee * n + follower."""
    n = targets.size
    if small.size == 0:
        return np.empty(0, dtype=np.int64)
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    draws = np.ceil(targets[small] * _OVERDRAW).astype(np.int64) + 4
    owner = np.repeat(small, draws)
    picks = np.minimum(np.searchsorted(cdf, rng.random(owner.size), side="right"), n - 1)
    keep = picks != owner
    keys = np.sort(owner[keep] * n + picks[keep])
    keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    owners, picks = keys // n, keys % n
    # a random order within each followee, in one sort: (owner, random priority, follower)
    priority = rng.integers(0, 1 << _FIELD_BITS, keys.size)
    packed = np.sort((owners << (2 * _FIELD_BITS)) | (priority << _FIELD_BITS) | picks)
    owners, picks = packed >> (2 * _FIELD_BITS), packed & ((1 << _FIELD_BITS) - 1)
    starts = np.flatnonzero(np.concatenate(([True], owners[1:] != owners[:-1])))
    rank = np.arange(owners.size) - np.repeat(starts, np.diff(np.append(starts, owners.size)))
    wanted = rank < targets[owners]
    kept: IntArray = owners[wanted] * n + picks[wanted]
    return kept


def _posts(tiers: IntArray, spec: GraphSpec, rng: np.random.Generator) -> tuple[IntArray, IntArray]:
    rates = np.array([POSTS_PER_DAY[s.tier] for s in TIERS] + [STAR_POSTS_PER_DAY])
    counts = rng.poisson(rates[tiers] * spec.history_days)
    authors = np.repeat(np.arange(tiers.size), counts)
    end = _now_ms(spec) - 60_000
    start = end - int(spec.history_days * 86_400_000)
    times = rng.integers(start, end, authors.size)
    order = np.argsort(times, kind="stable")
    return authors[order], _strictly_increasing(times[order])


def _strictly_increasing(sorted_ms: IntArray) -> IntArray:
    """Nudge equal or out-of-order times forward so each is at least 1 ms after the last
    (one id per millisecond: ids stay unique without a sequence)."""
    return np.maximum.accumulate(sorted_ms - np.arange(sorted_ms.size)) + np.arange(sorted_ms.size)


def _now_ms(spec: GraphSpec) -> int:
    return int(spec.now.timestamp() * 1000)
