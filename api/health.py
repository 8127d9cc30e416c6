"""/healthz (the process is up), /readyz (it can serve: stores answer, seeding done), /metrics."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.runtime import Runtime


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        return JSONResponse({"ready": False, "waiting_for": ["startup"]}, status_code=503)
    stores = await runtime.platform.backends.ping()
    waiting_for = [name for name, answers in stores.items() if not answers]
    if not runtime.seeded:
        waiting_for.append("seed")
    body = {
        "ready": not waiting_for,
        "waiting_for": waiting_for,
        "stores": stores,
        "seed": runtime.seed.value,
    }
    return JSONResponse(body, status_code=503 if waiting_for else 200)


async def metrics(request: Request) -> Response:
    # prometheus_client's default registry: the core's metrics and the API's
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
