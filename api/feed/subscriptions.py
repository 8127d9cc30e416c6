"""timelineEvents: the viewer's home timeline, live, from the event bus.

The fan-out workers publish a TimelineEvent on the author's channel once a post
has reached (or left) the timelines, and a FollowingChanged on the follower's
channel once a follow or unfollow has been applied. A viewer listens to its own
author channel, those of everyone it follows, and its following channel; when
that one fires, it re-reads whom it follows and subscribes again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator

import strawberry

from api.context import UNAUTHORIZED, Info
from api.entities import present
from api.feed.types import Post, TimelineEvent, TimelineEventKind
from murmur.domain import PostId, UserId
from murmur.events import codec
from murmur.events.v1 import events_pb2 as pb
from murmur.fanout.sources import Sources
from murmur.storage.base import EventBus

log = logging.getLogger(__name__)

_KINDS = {
    pb.TimelineEvent.KIND_ADDED: TimelineEventKind.ADDED,
    pb.TimelineEvent.KIND_REMOVED: TimelineEventKind.REMOVED,
}


async def timeline_messages(
    bus: EventBus, sources: Sources, viewer: UserId
) -> AsyncIterator[pb.TimelineEvent]:
    """Timeline events of everyone whose posts make up the viewer's timeline, for as long as it runs."""
    following = codec.following_channel(viewer)
    while True:
        authors = await sources.of(viewer)
        channels = [following, *(codec.author_channel(author) for author in authors)]
        async with bus.subscribe(channels=channels) as subscription:
            async for channel, message in subscription:
                if channel == following:
                    break  # whom the viewer follows changed: subscribe again
                try:
                    event = codec.decode_timeline_event(message)
                except Exception:  # protobuf's DecodeError and kin: skip the message, keep the stream
                    log.warning("undecodable timeline event on %s", channel, exc_info=True)
                    continue
                yield event
            else:
                return  # the bus ended the subscription


async def _events(info: Info, viewer: UserId) -> AsyncGenerator[TimelineEvent, None]:
    context = info.context
    platform = context.platform
    async for message in timeline_messages(platform.backends.bus, platform.sources, viewer):
        kind = _KINDS.get(message.kind)
        if kind is None:
            continue
        # the token may have expired or been revoked since the subscription started
        if await context.verify_viewer() != viewer:
            if context.close_socket is not None:
                reason = context.token_problem.message if context.token_problem else "Log in again."
                await context.close_socket(UNAUTHORIZED, reason)
            return
        post = None
        if kind is TimelineEventKind.ADDED:
            # fresh loaders per event: the connection lives long, cached posts and users go stale
            post = await context.fresh_loaders().posts.load(PostId(message.post_id))
        yield TimelineEvent(
            kind=kind, post_id=strawberry.ID(message.post_id), post=present(Post, post) if post else None
        )


@strawberry.type(name="Subscription")
class FeedSubscription:
    # The viewer's home timeline, live: posts added and removed.
    @strawberry.subscription
    async def timeline_events(self, info: Info) -> AsyncGenerator[TimelineEvent, None]:
        viewer = await info.context.viewer()
        if viewer is None:
            raise info.context.login_required("Log in to follow your timeline.")
        return _events(info, viewer)
