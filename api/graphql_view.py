"""The /graphql endpoint: Strawberry's ASGI view with orjson, our Context and graphql-transport-ws only."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    import strawberry

    from murmur.platform import Platform


GRAPHQL_RESPONSE = "application/graphql-response+json"
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
    def __init__(self, schema: strawberry.Schema, *, graphiql: bool) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            # the legacy graphql-ws protocol is refused: one protocol to secure and test
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        )
        self.platform: Platform | None = None  # set by the app's lifespan

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        if self.platform is None:
            raise RuntimeError("the platform is not open: the app's lifespan has not run")
        return Context(platform=self.platform, request=request)

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
        return orjson.dumps(data).decode()

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)
