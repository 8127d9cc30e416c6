"""The /graphql endpoint: Strawberry's ASGI view with orjson, our Context and graphql-transport-ws only."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from api import graphiql
from api.context import Context

if TYPE_CHECKING:
    import strawberry

    from murmur.platform import Platform


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

    def encode_json(self, data: object) -> str:
        # text, not bytes: websocket frames must be text for graphql-transport-ws clients
        return orjson.dumps(data).decode()

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)
