"""The generated graphs: deterministic, tiered, heavy-tailed, fitted to the population."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from loadtest.graph import STAR_CODE, TIER_CODES, GraphSpec, fit, generate, truncated_power_mean
from murmur.domain import id_time
from murmur.socialgraph import TIERS, Tier


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return generate(GraphSpec(users=4000, seed=3))


def test_the_same_seed_gives_the_same_world_and_another_seed_another() -> None:
    a, b, c = (generate(GraphSpec(users=500, seed=s)) for s in (1, 1, 2))
    assert np.array_equal(a.follower, b.follower) and np.array_equal(a.followee, b.followee)
    assert a.post_ids == b.post_ids and a.user_ids == b.user_ids
    assert not np.array_equal(a.followers_count, c.followers_count)


def test_tiers_keep_their_shares_and_their_order(world) -> None:  # type: ignore[no-untyped-def]
    counts = Counter(world.tiers.tolist())
    for spec in TIERS:
        assert abs(counts[TIER_CODES[spec.tier]] / world.users - spec.share) < 0.01
    assert counts[STAR_CODE] == 1
    medians = {
        spec.tier: np.median(world.followers_count[world.tiers == TIER_CODES[spec.tier]]) for spec in TIERS
    }
    assert medians[Tier.REGULAR] < medians[Tier.INFLUENCER] < medians[Tier.CELEBRITY]


def test_follower_counts_stay_in_their_fitted_ranges_and_are_heavy_tailed(world) -> None:  # type: ignore[no-untyped-def]
    for code, tier_range in enumerate(world.fit.ranges):
        followers = world.followers_count[world.tiers == code]
        # a few draws of the followers of ordinary followees can fall short of the target
        assert followers.max() <= tier_range.high
        assert np.quantile(followers, 0.05) >= tier_range.low * 0.8
        assert np.mean(followers) > np.median(followers)  # a long right tail


def test_the_star_is_followed_by_everyone_else(world) -> None:  # type: ignore[no-untyped-def]
    star = world.star_index()
    assert star is not None
    assert world.followers_count[star] == world.users - 1


def test_edges_are_distinct_and_never_self_follows(world) -> None:  # type: ignore[no-untyped-def]
    keys = world.follower * world.users + world.followee
    assert np.unique(keys).size == world.edges
    assert not np.any(world.follower == world.followee)
    assert np.all(np.diff(keys) > 0)  # sorted by follower, then followee


def test_users_with_more_followers_follow_more(world) -> None:  # type: ignore[no-untyped-def]
    assert world.follower_following_correlation() > 0.2


def test_the_fit_brings_the_mean_degree_to_the_target() -> None:
    for users in (5_000, 25_000, 100_000):
        fitted = fit(users, mean_degree=35, literal=False)
        assert fitted.expected_mean_degree == pytest.approx(35, rel=0.01)
        highs = [r.high for r in fitted.ranges]
        assert highs == sorted(highs) and fitted.ranges[0].low == 10
    generated = generate(GraphSpec(users=20_000, seed=5))
    assert generated.edges / generated.users == pytest.approx(35, rel=0.15)


def test_literal_ranges_are_as_written_capped_at_the_population() -> None:
    fitted = fit(2_000_000, mean_degree=35, literal=True)
    assert [(r.low, r.high) for r in fitted.ranges] == [(s.min_followers, s.max_followers) for s in TIERS]
    small = fit(1_000, mean_degree=35, literal=True)
    assert [(r.low, r.high) for r in small.ranges] == [(10, 100), (100, 999), (999, 999)]
    assert truncated_power_mean(10, 100) == pytest.approx(25.6, abs=0.1)


def test_posts_follow_the_tiers_rates_with_unique_ids_that_carry_their_times(world) -> None:  # type: ignore[no-untyped-def]
    assert np.all(np.diff(world.post_ms) > 0)
    assert len(set(world.post_ids)) == world.posts
    for index in (0, world.posts // 2, world.posts - 1):
        assert id_time(world.post_ids[index]).timestamp() * 1000 == world.post_ms[index]
    per_user = np.bincount(world.post_author, minlength=world.users)
    regular = per_user[world.tiers == TIER_CODES[Tier.REGULAR]].mean()
    celebrity = per_user[world.tiers == TIER_CODES[Tier.CELEBRITY]].mean()
    assert celebrity > 4 * regular


def test_a_spec_too_small_or_too_large_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 20"):
        GraphSpec(users=5)
    with pytest.raises(ValueError, match="at most"):
        GraphSpec(users=2_000_000)
