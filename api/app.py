"""The ASGI app: /graphql (HTTP and graphql-transport-ws), health, readiness and metrics."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from prometheus_client import start_http_server
from starlette.routing import Route, WebSocketRoute

from api import graphiql
from api.body_limit import BodySizeLimit
from api.client_address import ClientAddress
from api.graphql_view import GraphQLView
from api.health import METRICS_ROUTE, ROUTES
from api.rate_limit import RateLimitMiddleware, RateLimits
from api.runtime import Runtime
from api.schema import build_schema
from api.security_headers import SecurityHeaders
from murmur.platform import Platform, open_platform
from murmur.settings import Settings

log = logging.getLogger("murmur.api")


def create_app(settings: Settings, *, platform: Platform | None = None) -> FastAPI:
    """The app; its lifespan opens the platform (unless one is given, which the caller
    keeps open and closes), seeds the demo world and runs the in-process workers."""
    limits = RateLimits(settings) if settings.rate_limit.enabled else None
    view = GraphQLView(
        build_schema(settings), graphiql=settings.graphiql_enabled, api=settings.api, limits=limits
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            opened = (
                platform if platform is not None else await stack.enter_async_context(open_platform(settings))
            )
            runtime = Runtime(opened)
            stack.push_async_callback(runtime.stop)
            await runtime.start()
            view.platform = opened
            app.state.runtime = runtime
            if settings.metrics_port is not None:
                # its own address (loopback by default), not the public API's
                host = settings.api.metrics_host
                server, _ = start_http_server(settings.metrics_port, addr=host)
                stack.callback(server.shutdown)
                log.info("metrics on http://%s:%d/metrics", host, server.server_address[1])
            _log_start(settings)
            yield

    app = FastAPI(title="Murmur", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.router.routes.extend(
        [
            Route("/graphql", view, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", view),
            *ROUTES,
            *([METRICS_ROUTE] if settings.metrics_port is None else []),
            *(graphiql.routes() if settings.graphiql_enabled else []),
        ]
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.api.max_body_bytes)
    if limits is not None:  # outside the body limit: a request over its limit costs nothing more
        app.add_middleware(RateLimitMiddleware, limits=limits)
    # outside the limits, so their 413 and 429 answers carry nosniff, no-store and HSTS too
    app.add_middleware(SecurityHeaders, behind_tls=settings.api.behind_tls)
    if settings.rate_limit.trusted_proxies > 0:
        # outermost of all: everything inside sees the client the trusted proxies saw (with
        # none, the socket peer is the client already: nothing to do on every request)
        app.add_middleware(ClientAddress, trusted_proxies=settings.rate_limit.trusted_proxies)
    return app


def _log_start(settings: Settings) -> None:
    url = f"http://{settings.api.host}:{settings.api.port}/graphql"
    log.info(
        "Murmur GraphQL API on %s (GraphiQL %s), fan-out %s, %d in-process workers",
        url,
        "on: open it in a browser" if settings.graphiql_enabled else "off",
        settings.fanout.value,
        settings.workers.in_process,
    )
