"""Reading /metrics text: differences between snapshots and histogram quantiles."""

from __future__ import annotations

import pytest

from loadtest.scrape import Snapshot

EARLIER = """
# TYPE murmur_store_operations_total counter
murmur_store_operations_total{store="posts",operation="create_post"} 10
murmur_store_operations_total{store="graph",operation="follow"} 4
# TYPE murmur_fanout_lag_seconds histogram
murmur_fanout_lag_seconds_bucket{le="0.1"} 1
murmur_fanout_lag_seconds_bucket{le="1.0"} 2
murmur_fanout_lag_seconds_bucket{le="+Inf"} 2
murmur_fanout_lag_seconds_count 2
murmur_fanout_lag_seconds_sum 0.6
"""
LATER = """
# TYPE murmur_store_operations_total counter
murmur_store_operations_total{store="posts",operation="create_post"} 25
murmur_store_operations_total{store="graph",operation="follow"} 4
murmur_store_operations_total{store="timelines",operation="timeline"} 7
# TYPE murmur_fanout_lag_seconds histogram
murmur_fanout_lag_seconds_bucket{le="0.1"} 11
murmur_fanout_lag_seconds_bucket{le="1.0"} 22
murmur_fanout_lag_seconds_bucket{le="+Inf"} 22
murmur_fanout_lag_seconds_count 22
murmur_fanout_lag_seconds_sum 5.6
"""


def test_a_difference_counts_only_what_happened_between_the_snapshots() -> None:
    between = Snapshot.parse(LATER).minus(Snapshot.parse(EARLIER))
    operations = between.by_label("murmur_store_operations_total", "store")
    assert operations == {("posts",): 15.0, ("graph",): 0.0, ("timelines",): 7.0}
    assert between.total("murmur_store_operations_total", store="posts") == 15.0


def test_histogram_quantiles_interpolate_within_their_bucket() -> None:
    lag = Snapshot.parse(LATER).minus(Snapshot.parse(EARLIER)).histogram("murmur_fanout_lag_seconds")
    assert (lag.count, lag.mean) == (20.0, pytest.approx(0.25))
    assert lag.quantile(0.5) == pytest.approx(0.1)  # the 10th of 20 observations ends the first bucket
    assert lag.quantile(0.75) == pytest.approx(0.1 + 0.9 * 0.5)
    assert Snapshot.parse("").histogram("murmur_fanout_lag_seconds").quantile(0.5) is None
