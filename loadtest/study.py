"""The whole study: every cell, the consistency study, the findings, the JSON and the report."""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

from loadtest.consistency import Personas, run_consistency
from loadtest.experiment import (
    PASSWORD,
    Cell,
    Costs,
    Say,
    StudyPlan,
    Templates,
    cell_env,
    fresh_deployment,
    graph_summary,
    measure_costs,
    run_cell,
    threshold,
    wait_drained,
)
from loadtest.findings import findings
from loadtest.report import markdown_headline, write_report
from murmur.settings import Strategy


def cells_in_order(plan: StudyPlan) -> list[Cell]:
    """Push and pull first at each size (the cost model's weights come from them), cache on
    before off."""
    order = sorted(plan.strategies, key=lambda s: s is Strategy.COST_MODEL)
    return [
        Cell(strategy, users, cache) for users in plan.sizes for strategy in order for cache in plan.caches
    ]


async def run_study(
    plan: StudyPlan, say: Say, *, cell_done: Any = None, cloud: bool = False
) -> dict[str, Any]:
    """Every cell, the consistency study, the findings; writes study.json and report.html.
    `cloud`: on the cloud profile's local stand-ins, started here and stopped at the end."""
    if not cloud:
        return await _run_study(plan, say, cell_done, servers=None)
    from devstack.cloud import running_servers

    say("starting the cloud stand-ins (redis-server, moto, SecantusDB, FalkorDB)")
    with running_servers(say) as servers:
        return await _run_study(plan, say, cell_done, servers=servers)


async def _run_study(plan: StudyPlan, say: Say, cell_done: Any, servers: Any) -> dict[str, Any]:
    started = time.monotonic()
    plan.out.mkdir(parents=True, exist_ok=True)
    templates = Templates(plan.out / "templates")
    costs = Costs()
    results: list[dict[str, Any]] = []
    for cell in cells_in_order(plan):
        if cell.strategy is Strategy.COST_MODEL and costs.push_cost is None:
            measured = [r for r in results if r["cell"]["users"] == plan.sizes[0]]
            costs = measure_costs(measured, templates.world(plan, plan.sizes[0]))
            say(f"cost model weights: push {costs.push_cost} s, pull {costs.pull_cost} s ({costs.how})")
        results.append(await run_cell(plan, cell, templates, costs, say, servers))
        if cell_done is not None:
            cell_done(cell)
    consistency = {}
    smallest = plan.sizes[0]
    for strategy in plan.strategies:
        say(f"consistency: {strategy.value} on {smallest:,} users")
        consistency[strategy.value] = await consistency_of(
            plan, strategy, smallest, templates, costs, servers
        )
    study = {
        "meta": {
            "murmur": version("murmur"),
            "started": datetime.now(UTC).isoformat(),
            "seconds": time.monotonic() - started,
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "system": platform.platform(),
            },
            "profile": "embedded" if servers is None else "cloud",
            "plan": {**asdict(plan), "out": str(plan.out), "strategies": [s.value for s in plan.strategies]},
            "steady_seconds": plan.steady_seconds,
            "burst_seconds": plan.burst_seconds,
        },
        "graphs": {
            str(users): {
                **graph_summary(templates.world(plan, users), templates.loads.get((users, "pull"))),
                "hybrid_threshold": threshold(plan, templates.world(plan, users)),
            }
            for users in plan.sizes
        },
        "costs": asdict(costs),
        "cells": results,
        "consistency": consistency,
        "agreement": agreement_of(consistency),
    }
    study["findings"] = findings(study)
    (plan.out / "study.json").write_text(json.dumps(study, indent=1, default=str))
    write_report(study, plan.out / "report.html")
    (plan.out / "headline.md").write_text(markdown_headline(study))
    return study


async def consistency_of(
    plan: StudyPlan, strategy: Strategy, users: int, templates: Templates, costs: Costs, servers: Any
) -> dict[str, Any]:
    workdir = plan.out / "consistency" / strategy.value
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    world = templates.world(plan, users)
    deployment = await fresh_deployment(plan, strategy, users, templates, workdir, servers)
    try:
        deployment.start(cell_env(plan, Cell(strategy, users, cache=True), costs, world))
        people = json.loads(templates.personas(users).read_text())["personas"]
        result = await run_consistency(
            deployment.url,
            Personas(people["username"], people["id"], people["tier"]),
            PASSWORD,
            seed=plan.seed,
            rounds=plan.consistency_rounds,
            posts_per_tier=max(1, plan.consistency_rounds // 2),
            drained=lambda: wait_drained(deployment.metrics),
        )
    finally:
        deployment.stop()
    return {
        "visibility_ms": result.visibility_ms,
        "missed": result.missed,
        "anomalies": [asdict(a) for a in result.anomalies],
        "transient": sum(1 for a in result.anomalies if a.kind == "transient"),
        "permanent": sum(1 for a in result.anomalies if a.kind == "permanent"),
        "rounds": result.rounds,
        "convergence_ms": result.convergence_ms,
        "timelines": result.agreement,
    }


def agreement_of(consistency: dict[str, Any]) -> dict[str, Any]:
    """Whether every strategy ended the scripted operations with the same timelines."""
    views = {name: result["timelines"] for name, result in consistency.items()}
    reference = next(iter(views.values()), None)
    differing = [name for name, view in views.items() if view != reference]
    return {"strategies": list(views), "equal": not differing, "differing": differing}
