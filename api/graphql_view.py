"""The /graphql endpoint: Strawberry's ASGI view with orjson, our Context and graphql-transport-ws only.

An answer is never larger than `max_response_bytes`: past it, its data is replaced by one
error (code RESPONSE_TOO_LARGE), over HTTP and on websockets alike. The cost limit keeps
operations small; this is the backstop for what it cannot see (long texts in many nodes).
"""

from __future__ import annotations

from collections import Counter
from contextvars import ContextVar
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from api import graphiql
from api.context import Context
from api.websocket import MurmurTransportWSHandler

if TYPE_CHECKING:
    import strawberry

    from api.rate_limit import RateLimits
    from murmur.platform import Platform
    from murmur.settings import ApiSettings


GRAPHQL_RESPONSE = "application/graphql-response+json"
OPERATIONS_PER_SOCKET = 20
JSON = "application/json"
# what process_result decided for this request, read back by create_response
_ANSWER: ContextVar[tuple[str, int]] = ContextVar("graphql_answer", default=(JSON, 200))


def negotiate(accept: str) -> str:
    """GraphQL over HTTP: application/graphql-response+json when the client asks for it at
    least as much as application/json; application/json otherwise (older clients, no Accept)."""
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        weights[media.lower()] = max(quality, weights.get(media.lower(), 0.0))
    wanted = weights.get(GRAPHQL_RESPONSE, 0.0)
    return GRAPHQL_RESPONSE if wanted > 0 and wanted >= weights.get(JSON, 0.0) else JSON


class GraphQLView(GraphQL[Context, None]):
    def __init__(
        self, schema: strawberry.Schema, *, graphiql: bool, api: ApiSettings, limits: RateLimits | None
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            # the legacy graphql-ws protocol is refused: one protocol to secure and test
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=api.ws_init_timeout_seconds),
            # operations in flight on one socket (subscriptions run on every event)
            max_subscriptions_per_connection=OPERATIONS_PER_SOCKET,
        )
        self.platform: Platform | None = None  # set by the app's lifespan
        self.limits = limits
        self.max_response_bytes = api.max_response_bytes
        # a handler class of this view's own, carrying its limits
        self.graphql_transport_ws_handler_class = type(
            "ViewTransportWSHandler",
            (MurmurTransportWSHandler,),
            {
                "limits": limits,
                "anonymous_seconds": api.ws_anonymous_seconds,
                "recheck_seconds": api.ws_token_recheck_seconds,
                "per_user": api.ws_per_user,
                "per_client": api.ws_per_client,
                "open_by_user": Counter(),
                "open_by_client": Counter(),
            },
        )

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        if self.platform is None:
            raise RuntimeError("the platform is not open: the app's lifespan has not run")
        return Context(
            platform=self.platform,
            request=request,
            response=response if isinstance(response, Response) else None,
            limits=self.limits,
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql.page()  # Murmur's own page and assets, not Strawberry's CDN one

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        answer = await super().process_result(request, result)
        media = negotiate(request.headers.get("accept", ""))
        # a request that failed before execution (parse, validation, variable coercion: errors
        # without a path) has no `data` entry and is a 400 under the newer media type
        errors = result.errors or []
        failed_early = result.data is None and bool(errors) and all(e.path is None for e in errors)
        if media == GRAPHQL_RESPONSE and failed_early:
            answer.pop("data", None)
        _ANSWER.set((media, 400 if media == GRAPHQL_RESPONSE and failed_early else 200))
        return answer

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        media, status = _ANSWER.get()
        response.headers["content-type"] = f"{media}; charset=utf-8"
        if status != 200 and not sub_response.status_code:
            response.status_code = status
        return response

    def encode_json(self, data: object) -> str:
        # text, not bytes: websocket frames must be text for graphql-transport-ws clients
        encoded = orjson.dumps(data)
        if len(encoded) > self.max_response_bytes and isinstance(data, dict):
            encoded = orjson.dumps(_too_large(data, self.max_response_bytes))
        return encoded.decode()

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)


RESPONSE_TOO_LARGE = "RESPONSE_TOO_LARGE"


def _too_large(answer: dict[str, Any], limit: int) -> dict[str, Any]:
    """The answer with its result replaced by one error: an HTTP body, or the payload of a
    websocket `next` message."""
    error = {
        "message": f"The answer is over {limit} bytes: ask for fewer or smaller items.",
        "extensions": {"code": RESPONSE_TOO_LARGE, "maxBytes": limit},
    }
    if "payload" in answer:  # graphql-transport-ws: {"id", "type": "next", "payload": {...}}
        return {**answer, "payload": {"data": None, "errors": [error]}}
    return {"data": None, "errors": [error]}
