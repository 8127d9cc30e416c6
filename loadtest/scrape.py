"""Reading a Murmur process's /metrics: snapshots, differences between two, and quantiles
of histograms (as Prometheus's histogram_quantile estimates them)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Snapshot:
    """Every sample by (sample name, sorted labels)."""

    samples: Mapping[tuple[str, Labels], float]

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
        return cls(samples)

    @classmethod
    def sum(cls, snapshots: list[Snapshot]) -> Snapshot:
        """Several processes' samples added together (counters, histograms and depths alike)."""
        total: dict[tuple[str, Labels], float] = {}
        for snapshot in snapshots:
            for key, value in snapshot.samples.items():
                total[key] = total.get(key, 0.0) + value
        return cls(total)

    def minus(self, earlier: Snapshot) -> Snapshot:
        """What happened between two snapshots (gauges keep their later value)."""
        return Snapshot({key: value - earlier.samples.get(key, 0.0) for key, value in self.samples.items()})

    def total(self, name: str, **labels: str) -> float:
        wanted = set(labels.items())
        return sum(
            value for (sample, have), value in self.samples.items() if sample == name and wanted <= set(have)
        )

    def by_label(self, name: str, *keys: str) -> dict[tuple[str, ...], float]:
        """A sample's values summed by the given labels."""
        found: dict[tuple[str, ...], float] = {}
        for (sample, labels), value in self.samples.items():
            if sample == name:
                have = dict(labels)
                key = tuple(have.get(k, "") for k in keys)
                found[key] = found.get(key, 0.0) + value
        return found

    def histogram(self, name: str, **labels: str) -> Histogram:
        wanted = set(labels.items())
        buckets: dict[float, float] = {}
        for (sample, have), value in self.samples.items():
            if sample == f"{name}_bucket" and wanted <= set(have):
                bound = float(dict(have)["le"])
                buckets[bound] = buckets.get(bound, 0.0) + value
        return Histogram(
            buckets=sorted(buckets.items()),
            count=self.total(f"{name}_count", **labels),
            sum=self.total(f"{name}_sum", **labels),
        )


@dataclass(frozen=True)
class Histogram:
    buckets: list[tuple[float, float]]  # (upper bound, cumulative count), +Inf last
    count: float
    sum: float

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        """Linear interpolation within the bucket holding the q-th observation."""
        if not self.count or not self.buckets:
            return None
        rank = q * self.count
        lower_bound, lower_count = 0.0, 0.0
        for bound, cumulative in self.buckets:
            if cumulative >= rank:
                if math.isinf(bound):
                    return lower_bound  # beyond the largest finite bucket: its bound
                share = (rank - lower_count) / (cumulative - lower_count) if cumulative > lower_count else 0.0
                return lower_bound + (bound - lower_bound) * share
            lower_bound, lower_count = bound, cumulative
        return lower_bound


def scrape(url: str, *, timeout: float = 10.0) -> Snapshot:
    response = httpx.get(url, timeout=timeout)
    response.raise_for_status()
    return Snapshot.parse(response.text)
