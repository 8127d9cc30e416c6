"""Build and read the protobuf messages of proto/murmur/events/v1 in domain terms."""

from __future__ import annotations

from murmur.domain import Delivery, MurmurError
from murmur.events.v1 import events_pb2 as pb

_DELIVERY_TO_PB = {Delivery.PUSHED: pb.DELIVERY_PUSHED, Delivery.PULLED: pb.DELIVERY_PULLED}
_DELIVERY_FROM_PB = {value: key for key, value in _DELIVERY_TO_PB.items()}


class UndecodableMessage(MurmurError):
    """A message that is not a valid event: poison, never worth retrying."""


def delivery_to_pb(delivery: Delivery) -> pb.Delivery:
    return _DELIVERY_TO_PB[delivery]


def delivery_from_pb(value: pb.Delivery) -> Delivery:
    try:
        return _DELIVERY_FROM_PB[value]
    except KeyError:
        raise UndecodableMessage(f"unknown delivery {value}") from None


def post_created(post_id: str, author_id: str, delivery: Delivery) -> bytes:
    task = pb.FanoutTask(
        post_created=pb.PostCreated(post_id=post_id, author_id=author_id, delivery=delivery_to_pb(delivery))
    )
    return task.SerializeToString()


def post_deleted(post_id: str, author_id: str, delivery: Delivery) -> bytes:
    task = pb.FanoutTask(
        post_deleted=pb.PostDeleted(post_id=post_id, author_id=author_id, delivery=delivery_to_pb(delivery))
    )
    return task.SerializeToString()


def chunk(
    post_id: str, author_id: str, operation: pb.ChunkOperation, *, index: int, count: int, span: str
) -> bytes:
    task = pb.FanoutTask(
        chunk=pb.FanoutChunk(
            post_id=post_id, author_id=author_id, operation=operation, index=index, count=count, span=span
        )
    )
    return task.SerializeToString()


def follow_changed(follower_id: str, followee_id: str) -> bytes:
    task = pb.FanoutTask(follow_changed=pb.FollowChanged(follower_id=follower_id, followee_id=followee_id))
    return task.SerializeToString()


def decode_task(body: bytes) -> pb.FanoutTask:
    task = pb.FanoutTask()
    try:
        task.ParseFromString(body)
    except Exception as error:  # protobuf raises its own DecodeError and sometimes others
        raise UndecodableMessage(str(error)) from error
    if task.WhichOneof("task") is None:
        raise UndecodableMessage("empty fan-out task")
    return task


def timeline_event(kind: pb.TimelineEvent.Kind, post_id: str, author_id: str) -> bytes:
    return pb.TimelineEvent(kind=kind, post_id=post_id, author_id=author_id).SerializeToString()


def decode_timeline_event(body: bytes) -> pb.TimelineEvent:
    event = pb.TimelineEvent()
    event.ParseFromString(body)
    return event


def following_changed(follower_id: str) -> bytes:
    return pb.FollowingChanged(follower_id=follower_id).SerializeToString()


# Bus channels. A viewer listens to its own channel and to each followee's.
def author_channel(user_id: str) -> str:
    return f"author:{user_id}"


def following_channel(user_id: str) -> str:
    return f"following:{user_id}"
