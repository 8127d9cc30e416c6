from collections import Counter

import pytest

from murmur.socialgraph import TIERS, Tier, compress, follow_edges, tiers_of


@pytest.mark.parametrize("n", [300, 4000])
def test_tiers_keep_their_shares_and_order(n: int) -> None:
    tiers = tiers_of(n)
    counts = Counter(tiers)
    for spec in TIERS:
        assert abs(counts[spec.tier] / n - spec.share) < 0.01 + 1 / n
    followers = Counter(followee for _, followee in follow_edges(n))
    median = {
        tier: sorted(followers[i] for i in range(n) if tiers[i] is tier)[counts[tier] // 2] for tier in Tier
    }
    assert median[Tier.REGULAR] < median[Tier.INFLUENCER] < median[Tier.CELEBRITY]
    assert min(followers[i] for i in range(n) if tiers[i] is Tier.REGULAR) >= 10


def test_edges_are_distinct_and_never_self_follows() -> None:
    edges = list(follow_edges(1000, seed=3))
    assert len(edges) == len(set(edges))
    assert all(a != b for a, b in edges)
    assert all(0 <= a < 1000 and 0 <= b < 1000 for a, b in edges)


def test_full_scale_ranges_are_untouched_and_small_ones_fit() -> None:
    assert compress(500_000, 2_000_000) == 500_000
    assert compress(500_000, 300) == pytest.approx(150)
    assert compress(10, 300) == 10
