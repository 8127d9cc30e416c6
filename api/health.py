"""/healthz (the process is up), /readyz (it can serve: stores answer, seeding done), /metrics."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.runtime import Runtime

# Store roles, never classes (Backends.ping). The cache and live events (Redis, with the hot
# timelines, which look through to the durable timelines when it is down): without them every
# answer still comes from the stores (slower, and subscriptions wait), so the API stays in
# service, degraded.
OPTIONAL = frozenset({"cache", "bus"})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        return JSONResponse({"ready": False, "waiting_for": ["startup"]}, status_code=503)
    stores = await runtime.platform.backends.ping()
    waiting_for = [name for name, answers in stores.items() if not answers and name not in OPTIONAL]
    degraded = [name for name, answers in stores.items() if not answers and name in OPTIONAL]
    if not runtime.seeded:
        waiting_for.append("seed")
    body = {
        "ready": not waiting_for,
        "waiting_for": waiting_for,
        "degraded": degraded,
        "stores": {name: "up" if answers else "down" for name, answers in stores.items()},
        "seed": runtime.seed.value,
    }
    return JSONResponse(body, status_code=503 if waiting_for else 200)


async def metrics(request: Request) -> Response:
    # prometheus_client's default registry: the core's metrics and the API's
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
# on the API port only when no metrics port is set (development): see Settings.metrics_port
METRICS_ROUTE = Route("/metrics", metrics, methods=["GET"])
