"""timelineEvents over graphql-transport-ws: ADDED for a followee's post, REMOVED on delete."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import websockets
from e2e_client import Murmur, eventually
from gql import GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from live_server import LiveServer

EVENTS = GraphQLRequest("subscription { timelineEvents { kind postId post { body author { id } } } }")


async def test_followee_posts_arrive_live(server: LiveServer) -> None:
    murmur = Murmur(server)
    reader, _, _ = await murmur.register("listener")
    writer, writer_id, _ = await murmur.register("speaker")
    await murmur.follow(reader, writer_id)
    # the follow is applied by a worker; the timeline shows when it has been
    await murmur.post(writer, "already there")
    await eventually(lambda: murmur.timeline(reader), lambda bodies: bodies == ["already there"])

    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def listen() -> None:
        async with murmur.websocket(reader) as session:
            async for result in session.subscribe(EVENTS):
                await events.put(result["timelineEvents"])

    listener = asyncio.create_task(listen())
    try:
        # a subscription has no "ready" message: post until one arrives, then delete that one
        added = None
        for attempt in range(5):
            post_id = await murmur.post(writer, f"live {attempt}")
            try:
                added = await asyncio.wait_for(_next_about(events, post_id), 3)
                break
            except TimeoutError:
                continue
        assert added == {
            "kind": "ADDED",
            "postId": post_id,
            "post": {"body": f"live {attempt}", "author": {"id": writer_id}},
        }

        await murmur.execute("mutation($id: ID!) { deletePost(id: $id) { __typename } }", writer, id=post_id)
        removed = await asyncio.wait_for(_next_about(events, post_id), 10)
        assert removed == {"kind": "REMOVED", "postId": post_id, "post": None}
    finally:
        listener.cancel()
        with pytest.raises(asyncio.CancelledError):
            await listener


async def _next_about(events: asyncio.Queue[dict[str, Any]], post_id: str) -> dict[str, Any]:
    while True:
        event = await events.get()
        if event["postId"] == post_id:
            return event


async def test_subscribing_needs_a_login(server: LiveServer) -> None:
    murmur = Murmur(server)
    for token, message in (
        (None, "Log in to follow your timeline."),
        ("forged", "Your token is not valid: log in again."),
    ):
        async with murmur.websocket(token) as session:
            with pytest.raises(TransportQueryError) as refused:
                async for _ in session.subscribe(EVENTS):
                    pass
        assert refused.value.errors is not None
        assert [(e["message"], e["extensions"]) for e in refused.value.errors] == [
            (message, {"code": "UNAUTHENTICATED"})
        ]


async def test_legacy_graphql_ws_protocol_is_refused(server: LiveServer) -> None:
    async with websockets.connect(server.ws_url, subprotocols=[websockets.Subprotocol("graphql-ws")]) as ws:
        assert ws.subprotocol is None
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4406, "Subprotocol not acceptable")
