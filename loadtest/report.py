"""The study's report: one self-contained HTML page, every plot inline (SVG), no CDN."""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from loadtest.findings import STRATEGY_ORDER, cell, mean_ms, percentile

COLOURS = {"push": "#d62728", "pull": "#1f77b4", "hybrid": "#2ca02c", "cost-model": "#9467bd"}
SECTIONS = (
    "Headline",
    "Findings",
    "Graphs",
    "Latency",
    "Throughput and storage",
    "Store operations",
    "Fan-out and consistency",
    "Cache",
    "Processes",
    "Method",
)


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _strategies(study: dict[str, Any]) -> list[str]:
    have = {r["cell"]["strategy"] for r in study["cells"]}
    return [s for s in STRATEGY_ORDER if s in have]


def _sizes(study: dict[str, Any]) -> list[int]:
    return sorted({r["cell"]["users"] for r in study["cells"]})


def _grouped_bars(
    study: dict[str, Any],
    title: str,
    ylabel: str,
    value: Callable[[dict[str, Any] | None], float | None],
    cache: bool = True,
) -> str:
    sizes, strategies = _sizes(study), _strategies(study)
    figure, axes = plt.subplots(figsize=(7, 3.2))
    width = 0.8 / max(1, len(strategies))
    for i, strategy in enumerate(strategies):
        values = [value(cell(study, strategy, size, cache)) or 0.0 for size in sizes]
        positions = [x + i * width for x in range(len(sizes))]
        axes.bar(positions, values, width, label=strategy, color=COLOURS[strategy])
    axes.set_xticks([x + width * (len(strategies) - 1) / 2 for x in range(len(sizes))])
    axes.set_xticklabels([f"{size:,} users" for size in sizes])
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(fontsize=8)
    return _svg(figure)


def _percentile_curves(study: dict[str, Any], operation: str, users: int) -> str:
    figure, axes = plt.subplots(figsize=(7, 3.2))
    for strategy in _strategies(study):
        result = cell(study, strategy, users, True)
        if result is None or operation not in result["requests"]:
            continue
        points = result["requests"][operation]["percentiles_ms"]
        xs = [min(float(p.rstrip("%")) / 100, 0.99999) for p in points]
        axes.plot(
            xs, list(points.values()), marker="o", markersize=3, label=strategy, color=COLOURS[strategy]
        )
    axes.set_xscale("logit")
    axes.set_xlabel("percentile")
    axes.set_ylabel("ms")
    axes.set_yscale("log")
    axes.set_title(f"{operation}: latency by percentile, {users:,} users, cache on")
    axes.legend(fontsize=8)
    return _svg(figure)


def _lines_by_size(
    study: dict[str, Any], title: str, ylabel: str, value: Callable[[dict[str, Any] | None], float | None]
) -> str:
    sizes = _sizes(study)
    figure, axes = plt.subplots(figsize=(7, 3.2))
    for strategy in _strategies(study):
        ys = [value(cell(study, strategy, size, True)) for size in sizes]
        axes.plot(sizes, [y or 0.0 for y in ys], marker="o", label=strategy, color=COLOURS[strategy])
    axes.set_xlabel("users")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(fontsize=8)
    return _svg(figure)


def _store_operations(study: dict[str, Any], users: int) -> str:
    strategies = _strategies(study)
    stores = sorted({key.split(".")[0] for r in study["cells"] for key in r["store_operations"]})
    figure, axes = plt.subplots(figsize=(7, 3.2))
    bottoms = [0.0] * len(strategies)
    for store in stores:
        values = []
        for strategy in strategies:
            result = cell(study, strategy, users, True)
            if result is None or not result["http_requests"]:
                values.append(0.0)
                continue
            ops = sum(v for k, v in result["store_operations"].items() if k.split(".")[0] == store)
            values.append(ops / result["http_requests"])
        axes.bar(strategies, values, bottom=bottoms, label=store)
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    axes.set_ylabel("store operations per request")
    axes.set_title(f"Store operations per request, by store, {users:,} users, cache on")
    axes.legend(fontsize=8)
    return _svg(figure)


def _convergence(study: dict[str, Any]) -> str:
    figure, axes = plt.subplots(figsize=(7, 3.2))
    for strategy, result in study["consistency"].items():
        samples = [v for values in result["visibility_ms"].values() for v in values]
        if samples:
            axes.hist(samples, bins=30, alpha=0.5, label=strategy, color=COLOURS.get(strategy))
    axes.set_xlabel("post → visible in a follower's timeline (ms)")
    axes.set_ylabel("posts × followers")
    axes.set_title("Convergence: post-to-visibility times, every tier")
    axes.legend(fontsize=8)
    return _svg(figure)


def _cache_effect(study: dict[str, Any], users: int) -> str:
    strategies = _strategies(study)
    figure, axes = plt.subplots(figsize=(7, 3.2))
    on = [mean_ms(cell(study, s, users, True), "homeTimeline") or 0.0 for s in strategies]
    off = [mean_ms(cell(study, s, users, False), "homeTimeline") or 0.0 for s in strategies]
    xs = range(len(strategies))
    axes.bar([x - 0.2 for x in xs], on, 0.4, label="cache on", color="#555")
    axes.bar([x + 0.2 for x in xs], off, 0.4, label="cache off", color="#bbb")
    axes.set_xticks(list(xs))
    axes.set_xticklabels(strategies)
    axes.set_ylabel("mean home timeline (ms)")
    axes.set_title(f"The cache's effect on reads, {users:,} users")
    axes.legend(fontsize=8)
    return _svg(figure)


def _throughput_over_time(study: dict[str, Any], users: int) -> str:
    figure, axes = plt.subplots(figsize=(7, 3.2))
    for strategy in _strategies(study):
        result = cell(study, strategy, users, True)
        if result is None:
            continue
        history = result["history"]
        axes.plot(
            [h["at"] for h in history], [h["rps"] for h in history], label=strategy, color=COLOURS[strategy]
        )
    axes.set_xlabel("seconds (warm-up, steady, burst)")
    axes.set_ylabel("requests/s")
    axes.set_title(f"Throughput over the run, {users:,} users, cache on")
    axes.legend(fontsize=8)
    return _svg(figure)


def _get(result: dict[str, Any] | None, group: str, key: str) -> float | None:
    return None if result is None else float(result[group][key])


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _n(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def headline_rows(study: dict[str, Any]) -> list[list[str]]:
    rows = []
    for result in study["cells"]:
        c = result["cell"]
        rows.append(
            [
                c["strategy"],
                f"{c['users']:,}",
                "on" if c["cache"] else "off",
                _n(percentile(result, "homeTimeline", "50%"), 0),
                _n(percentile(result, "homeTimeline", "99%"), 0),
                _n(percentile(result, "createPost", "50%"), 0),
                _n(percentile(result, "createPost", "99%"), 0),
                _n(result["fanout"]["completion_ms"]["p99"], 0),
                _n(percentile(result, "post→ADDED (star)", "50%"), 0),
                _n(result["store_operations_per_request"]),
                _n(result["throughput"]["rps"]),
                f"{result['storage']['timeline_entries']:,}",
                _n(result["storage"]["timeline_bytes"] / 2**20),
            ]
        )
    return rows


HEADLINE_HEADER = (
    "strategy",
    "users",
    "cache",
    "read p50 ms",
    "read p99 ms",
    "post p50 ms",
    "post p99 ms",
    "fan-out p99 ms",
    "star→ADDED p50 ms",
    "store ops/req",
    "req/s",
    "timeline entries",
    "timeline MiB",
)


def markdown_headline(study: dict[str, Any]) -> str:
    """The headline table as Markdown (for READMEs and notes)."""
    lines = ["| " + " | ".join(HEADLINE_HEADER) + " |", "|" + "---|" * len(HEADLINE_HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in headline_rows(study)]
    return "\n".join(lines) + "\n"


def write_report(study: dict[str, Any], path: Path) -> None:
    sizes = _sizes(study)
    largest = sizes[-1] if sizes else 0
    meta = study["meta"]
    parts = [
        f"<h1>Murmur fan-out study</h1><p>{html.escape(meta['started'])} · murmur {html.escape(meta['murmur'])} · "
        f"{meta['machine']['cpus']} CPUs · profile {html.escape(meta['profile'])} · {meta['seconds'] / 60:.1f} minutes</p>",
        "<nav>"
        + " · ".join(f"<a href='#{s.lower().replace(' ', '-')}'>{s}</a>" for s in SECTIONS)
        + "</nav>",
    ]
    if meta["profile"] != "embedded":
        parts.append(
            "<p class='note'>These stores are local stand-ins for AWS: their latency is not AWS's. "
            "Read the store operations per request first; the milliseconds only compare strategies with each other.</p>"
        )
    header, rows = list(HEADLINE_HEADER), headline_rows(study)
    if meta["profile"] != "embedded":  # lead with what does not depend on the stand-ins' speed
        ops = header.index("store ops/req")
        header.insert(3, header.pop(ops))
        rows = [[*row[:3], row[ops], *row[3:ops], *row[ops + 1 :]] for row in rows]
    parts.append(_section("Headline", _table(header, rows)))
    findings_html = "".join(
        f"<div class='finding'><h3>{html.escape(f['original'])} <span class='verdict'>{html.escape(f['verdict'])}</span></h3>"
        f"<p>{html.escape(f['evidence'])}</p></div>"
        for f in study["findings"]
    )
    parts.append(_section("Findings", findings_html))
    graph_rows = [
        [
            f"{int(users):,}",
            f"{g['edges']:,}",
            f"{g['posts']:,}",
            _n(g["mean_degree"]),
            ", ".join(f"{r['tier']} {r['low']:,}–{r['high']:,}" for r in g["fit"]["ranges"]),
            _n(g["follower_following_correlation"], 2),
            g["hybrid_threshold"],
            "–"
            if not g["load"]
            else f"{sum(g['load']['seconds'].values()):.1f} s ({g['load']['edges_per_second']:,.0f} edges/s)",
        ]
        for users, g in study["graphs"].items()
    ]
    parts.append(
        _section(
            "Graphs",
            _table(
                (
                    "users",
                    "follows",
                    "posts",
                    "mean degree",
                    "follower ranges",
                    "followers/following ρ",
                    "hybrid threshold",
                    "load (pull)",
                ),
                graph_rows,
            ),
        )
    )
    parts.append(
        _section(
            "Latency",
            _grouped_bars(
                study, "Home timeline p95 (client side)", "ms", lambda r: percentile(r, "homeTimeline", "95%")
            )
            + _grouped_bars(
                study, "Post p95 (client side)", "ms", lambda r: percentile(r, "createPost", "95%")
            )
            + _percentile_curves(study, "homeTimeline", largest)
            + _percentile_curves(study, "createPost", largest),
        )
    )
    parts.append(
        _section(
            "Throughput and storage",
            _lines_by_size(
                study, "Throughput reached (whole run)", "requests/s", lambda r: _get(r, "throughput", "rps")
            )
            + _throughput_over_time(study, largest)
            + _lines_by_size(
                study,
                "Timeline storage",
                "MiB",
                lambda r: (_get(r, "storage", "timeline_bytes") or 0.0) / 2**20,
            ),
        )
    )
    parts.append(_section("Store operations", _store_operations(study, largest) + _ops_table(study, largest)))
    parts.append(_section("Fan-out and consistency", _fanout(study)))
    parts.append(_section("Cache", _cache_effect(study, largest)))
    parts.append(_section("Processes", _processes(study)))
    parts.append(_section("Method", _method(study)))
    path.write_text(_page("\n".join(parts)))


def _section(title: str, body: str) -> str:
    return f"<section id='{title.lower().replace(' ', '-')}'><h2>{html.escape(title)}</h2>{body}</section>"


def _ops_table(study: dict[str, Any], users: int) -> str:
    rows = []
    for strategy in _strategies(study):
        result = cell(study, strategy, users, True)
        if result is None or not result["http_requests"]:
            continue
        top = sorted(result["store_operations"].items(), key=lambda kv: -kv[1])[:6]
        rows.append(
            [
                strategy,
                _n(result["store_operations_per_request"]),
                "; ".join(f"{k} {v / result['http_requests']:.2f}" for k, v in top),
            ]
        )
    return _table(("strategy", "ops/request", "largest, per request"), rows)


def _fanout(study: dict[str, Any]) -> str:
    rows = []
    for result in study["cells"]:
        c, f = result["cell"], result["fanout"]
        rows.append(
            [
                c["name"],
                _n(f["completion_ms"]["p50"], 0),
                _n(f["completion_ms"]["p99"], 0),
                _n(f["delivery_ms"]["p99"], 0),
                f"{f['deliveries']:,.0f}",
                _n(result["drain_seconds"]),
                " / ".join(
                    _n(percentile(result, f"post→ADDED ({t})", "50%"), 0)
                    for t in ("regular", "influencer", "celebrity", "star")
                ),
            ]
        )
    table = _table(
        (
            "cell",
            "completion p50 ms",
            "completion p99 ms",
            "chunk landed p99 ms",
            "deliveries",
            "drain s",
            "post→ADDED p50 ms (regular/influencer/celebrity/star)",
        ),
        rows,
    )
    consistency_rows = []
    anomalies = []
    for strategy, result in study["consistency"].items():
        samples = sorted(v for values in result["visibility_ms"].values() for v in values)
        consistency_rows.append(
            [
                strategy,
                len(samples),
                _n(samples[len(samples) // 2] if samples else None, 0),
                _n(samples[int(len(samples) * 0.95)] if samples else None, 0),
                sum(result["missed"].values()),
                result["rounds"],
                result["transient"],
                result["permanent"],
            ]
        )
        anomalies += [
            [strategy, a["kind"], a["what"], a["round"], _n(a["seconds"] * 1000, 0), a["explanation"]]
            for a in result["anomalies"]
        ]
    agreement = study["agreement"]
    verdict = (
        "Every strategy ended the scripted operations with the same timelines."
        if agreement["equal"]
        else f"Timelines differ under: {', '.join(agreement['differing'])}."
    )
    return (
        table
        + _convergence(study)
        + _table(
            (
                "strategy",
                "sightings",
                "visible p50 ms",
                "visible p95 ms",
                "never seen",
                "race rounds",
                "transient anomalies",
                "permanent anomalies",
            ),
            consistency_rows,
        )
        + (
            "<h3>Every anomaly</h3>"
            + _table(("strategy", "kind", "what", "round", "lasted up to ms", "why"), anomalies)
            if anomalies
            else "<p>No anomalies.</p>"
        )
        + f"<p><strong>Agreement.</strong> {html.escape(verdict)}</p>"
    )


def _processes(study: dict[str, Any]) -> str:
    rows = []
    for result in study["cells"]:
        for name, usage in result["processes"].items():
            rows.append(
                [
                    result["cell"]["name"],
                    name,
                    _n(usage["cpu_mean_percent"], 0),
                    _n(usage["cpu_max_percent"], 0),
                    _n(usage["rss_max_mb"], 0),
                ]
            )
    return _table(("cell", "process", "CPU mean %", "CPU max %", "RSS max MiB"), rows)


def _method(study: dict[str, Any]) -> str:
    meta, costs = study["meta"], study["costs"]
    plan = meta["plan"]
    reached = [
        f"{r['cell']['name']}: {r['throughput']['peak_users']:.0f} simulated users at peak, {r['throughput']['rps']:.1f} req/s, reads:writes {_n(r['read_write_ratio'])}:1"
        for r in study["cells"]
    ]
    return (
        f"<p>Each cell: a fresh copy of the generated store, <code>murmur serve</code> (embedded: API and two in-process "
        f"fan-out workers, one SQLite file), a {plan['warmup_seconds']:.0f} s warm-up, then {meta['steady_seconds']:.0f} s "
        f"steady and {meta['burst_seconds']:.0f} s of burst at {plan['burst_factor']:g}× the users: the original's 25 and 5 minutes "
        f"scaled by {plan['time_scale']:.4f}. Concurrency {plan['concurrency']:.0%} of the users, scaled by {plan['active_scale']:.4f} "
        f"(two cores cannot drive thousands of simulated users), with a think time of {plan['think_seconds']} s. "
        "Latency is measured by Locust (client side) except where marked server side; store operations, fan-out lag and "
        "deliveries come from the server's /metrics, counted over the measured phases only.</p>"
        f"<p>Cost model weights (measured in this run): push {costs['push_cost']} s per delivery, pull {costs['pull_cost']} s "
        f"per author merged. {html.escape(costs['how'])}</p>"
        "<h3>Concurrency and request rate reached</h3><ul>"
        + "".join(f"<li>{html.escape(r)}</li>" for r in reached)
        + "</ul>"
    )


def _page(body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Murmur fan-out study</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 12px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 6px; text-align: right; }}
th {{ background: #f3f3f3; }} td:first-child {{ text-align: left; }}
.finding {{ border-left: 4px solid #888; padding: 0 1em; margin: 1em 0; }}
.verdict {{ font-weight: normal; background: #eee; padding: 1px 6px; border-radius: 4px; }}
.note {{ background: #fff6d5; padding: 0.5em 1em; }}
svg {{ max-width: 100%; height: auto; display: block; margin: 1em 0; }}
</style></head><body>
{body}
</body></html>
"""
