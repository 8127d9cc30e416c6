"""Whether the original study's four findings hold here, and where the cost model lands.

Each finding is judged from the cells at the largest size with the cache on (the cache's
own finding compares on and off), and states the numbers it rests on. "holds",
"does not hold" or "partly" is decided by the rule written next to each; the report
shows the numbers, so a reader can disagree with the rule.
"""

from __future__ import annotations

from typing import Any

STRATEGY_ORDER = ("push", "pull", "hybrid", "cost-model")


def cell(study: dict[str, Any], strategy: str, users: int, cache: bool) -> dict[str, Any] | None:
    for result in study["cells"]:
        c = result["cell"]
        if (c["strategy"], c["users"], c["cache"]) == (strategy, users, cache):
            found: dict[str, Any] = result
            return found
    return None


def percentile(result: dict[str, Any] | None, operation: str, p: str) -> float | None:
    if result is None or operation not in result["requests"]:
        return None
    value = result["requests"][operation]["percentiles_ms"].get(p)
    return None if value is None else float(value)


def mean_ms(result: dict[str, Any] | None, operation: str) -> float | None:
    if result is None or operation not in result["requests"]:
        return None
    return float(result["requests"][operation]["mean_ms"])


def _fmt(value: float | None, unit: str = " ms") -> str:
    return "n/a" if value is None else f"{value:,.1f}{unit}"


def findings(study: dict[str, Any]) -> list[dict[str, str]]:
    sizes = sorted({r["cell"]["users"] for r in study["cells"]})
    if not sizes:
        return []
    largest, smallest = sizes[-1], sizes[0]
    at = {s: cell(study, s, largest, True) for s in STRATEGY_ORDER}
    present = {s: r for s, r in at.items() if r is not None}
    return [
        _hybrid_best(present, largest),
        _pull(study, present, smallest, largest),
        _push(present, largest),
        _cache(study, largest),
        _cost_model(present, largest),
    ]


def _scores(present: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    return {
        s: {
            "read_p95": percentile(r, "homeTimeline", "95%"),
            "write_p95": percentile(r, "createPost", "95%"),
            "completion_p99": r["fanout"]["completion_ms"]["p99"],
            "ops_per_request": r["store_operations_per_request"],
        }
        for s, r in present.items()
    }


def _hybrid_best(present: dict[str, dict[str, Any]], users: int) -> dict[str, str]:
    """Rule: hybrid has the best (lowest) mean rank over read p95, write p95, fan-out
    completion p99 and store operations per request, among push, pull and hybrid."""
    scores = _scores({s: r for s, r in present.items() if s in ("push", "pull", "hybrid")})
    ranks: dict[str, list[int]] = {s: [] for s in scores}
    for metric in ("read_p95", "write_p95", "completion_p99", "ops_per_request"):
        valued = sorted((v, s) for s, m in scores.items() if (v := m[metric]) is not None)
        for rank, (_, s) in enumerate(valued):
            ranks[s].append(rank)
    mean_rank = {s: sum(r) / len(r) for s, r in ranks.items() if r}
    best = min(mean_rank, key=lambda s: mean_rank[s]) if mean_rank else None
    verdict = (
        "holds"
        if best == "hybrid"
        else ("partly" if best and mean_rank.get("hybrid") == mean_rank[best] else "does not hold")
    )
    detail = "; ".join(
        f"{s}: read p95 {_fmt(m['read_p95'])}, write p95 {_fmt(m['write_p95'])}, "
        f"fan-out p99 {_fmt(m['completion_p99'])}, {_fmt(m['ops_per_request'], '')} store ops/request, "
        f"mean rank {mean_rank.get(s, float('nan')):.2f}"
        for s, m in scores.items()
    )
    return {
        "original": "Hybrid is best overall.",
        "verdict": verdict,
        "evidence": f"At {users:,} users (cache on), the best mean rank is {best}. {detail}.",
    }


def _pull(
    study: dict[str, Any], present: dict[str, dict[str, Any]], smallest: int, largest: int
) -> dict[str, str]:
    """Rule: pull has the lowest write p50 among push/pull/hybrid (best at writes), and the
    highest read p95 at the largest size (slow to read at scale), its read p95 growing with
    size. Both: holds; one: partly."""
    writes = {s: percentile(r, "createPost", "50%") for s, r in present.items() if s != "cost-model"}
    reads = {s: percentile(r, "homeTimeline", "95%") for s, r in present.items() if s != "cost-model"}
    best_write = min(
        (s for s in writes if writes[s] is not None), key=lambda s: writes[s] or 0.0, default=None
    )
    slowest_read = max(
        (s for s in reads if reads[s] is not None), key=lambda s: reads[s] or 0.0, default=None
    )
    small = percentile(cell(study, "pull", smallest, True), "homeTimeline", "95%")
    grows = small is not None and reads.get("pull") is not None and (reads["pull"] or 0) > small
    parts = [best_write == "pull", slowest_read == "pull"]
    verdict = "holds" if all(parts) else "partly" if any(parts) else "does not hold"
    return {
        "original": "Pull is best at write throughput but slow to read at scale.",
        "verdict": verdict,
        "evidence": (
            f"Post p50 at {largest:,} users: "
            + ", ".join(f"{s} {_fmt(v)}" for s, v in writes.items())
            + ". Home timeline p95: "
            + ", ".join(f"{s} {_fmt(v)}" for s, v in reads.items())
            + f". Pull's read p95 went from {_fmt(small)} at {smallest:,} users to {_fmt(reads.get('pull'))} "
            f"at {largest:,} ({'grows' if grows else 'does not grow'} with scale)."
        ),
    }


def _push(present: dict[str, dict[str, Any]], users: int) -> dict[str, str]:
    """Rule: push has the lowest read p50 (reads fastest), and its post→ADDED latency for
    the star, or its fan-out drain after the load, is the worst of the three (cannot keep
    up with celebrities). Both: holds; one: partly."""
    reads = {s: percentile(r, "homeTimeline", "50%") for s, r in present.items() if s != "cost-model"}
    star = {s: percentile(r, "post→ADDED (star)", "95%") for s, r in present.items() if s != "cost-model"}
    drain = {s: float(r["drain_seconds"]) for s, r in present.items() if s != "cost-model"}
    fastest = min((s for s in reads if reads[s] is not None), key=lambda s: reads[s] or 0.0, default=None)
    slowest_star = max((s for s in star if star[s] is not None), key=lambda s: star[s] or 0.0, default=None)
    slowest_drain = max(drain, key=lambda s: drain[s], default=None)
    parts = [fastest == "push", "push" in (slowest_star, slowest_drain)]
    verdict = "holds" if all(parts) else "partly" if any(parts) else "does not hold"
    return {
        "original": "Push reads fastest but cannot keep up with celebrities.",
        "verdict": verdict,
        "evidence": (
            f"Home timeline p50 at {users:,} users: "
            + ", ".join(f"{s} {_fmt(v)}" for s, v in reads.items())
            + ". A star post (everyone follows the star) reaching a follower's websocket, p95: "
            + ", ".join(f"{s} {_fmt(v)}" for s, v in star.items())
            + ". Fan-out backlog left when the load stopped, drained in: "
            + ", ".join(f"{s} {v:.1f} s" for s, v in drain.items())
            + "."
        ),
    }


def _cache(study: dict[str, Any], users: int) -> dict[str, str]:
    """Rule: the mean home-timeline latency with the cache is 60-80% lower than without it,
    for the strategies measured both ways: all within: holds; some cut: partly."""
    cuts = {}
    for s in STRATEGY_ORDER:
        on, off = (
            mean_ms(cell(study, s, users, True), "homeTimeline"),
            mean_ms(cell(study, s, users, False), "homeTimeline"),
        )
        if on is not None and off:
            cuts[s] = (off - on) / off * 100
    if not cuts:
        return {
            "original": "Caching cuts read latency by 60–80%.",
            "verdict": "not measured",
            "evidence": "No cache-off cells ran.",
        }
    within = [s for s, c in cuts.items() if 60 <= c <= 80]
    verdict = (
        "holds"
        if len(within) == len(cuts)
        else "partly"
        if any(c > 0 for c in cuts.values())
        else "does not hold"
    )
    return {
        "original": "Caching cuts read latency by 60–80%.",
        "verdict": verdict,
        "evidence": f"Mean home-timeline latency cut by the cache at {users:,} users: "
        + ", ".join(f"{s} {c:+.0f}%" for s, c in cuts.items())
        + " (negative: slower with the cache).",
    }


def _cost_model(present: dict[str, dict[str, Any]], users: int) -> dict[str, str]:
    """Where the cost model lands against the fixed threshold: store operations per request
    at (about) equal read latency."""
    hybrid, model = present.get("hybrid"), present.get("cost-model")
    if hybrid is None or model is None:
        return {
            "original": "(new) The cost-model hybrid against the fixed threshold.",
            "verdict": "not measured",
            "evidence": "",
        }
    h_ops, m_ops = hybrid["store_operations_per_request"], model["store_operations_per_request"]
    h_read, m_read = percentile(hybrid, "homeTimeline", "50%"), percentile(model, "homeTimeline", "50%")
    h_del, m_del = hybrid["fanout"]["deliveries"], model["fanout"]["deliveries"]
    fewer = h_ops is not None and m_ops is not None and m_ops < h_ops
    split = ""
    for name, result in (("cost model", model), ("threshold hybrid", hybrid)):
        new = result.get("new_posts")
        if new:
            split += f" The {name} pushed {new['pushed']:,} of the {new['pushed'] + new['pulled']:,} posts written."
    active = model["shape"]["simulated_users"]
    return {
        "original": "(new) The cost-model hybrid against the fixed threshold.",
        "verdict": "fewer store operations" if fewer else "no fewer store operations",
        "evidence": (
            f"At {users:,} users: cost model {_fmt(m_ops, '')} store ops/request, {m_del:,.0f} push deliveries, "
            f"home timeline p50 {_fmt(m_read)}; threshold hybrid {_fmt(h_ops, '')} ops/request, {h_del:,.0f} "
            f"deliveries, p50 {_fmt(h_read)}.{split} Only {active} simulated users (and the burst's extra) "
            f"of {users:,} read at all, so most followers' measured read rates are zero: the rule pushes an "
            "author only when the followers who do read outweigh the author's writes."
        ),
    }
