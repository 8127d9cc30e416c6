from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Delivery(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DELIVERY_UNSPECIFIED: _ClassVar[Delivery]
    DELIVERY_PUSHED: _ClassVar[Delivery]
    DELIVERY_PULLED: _ClassVar[Delivery]
DELIVERY_UNSPECIFIED: Delivery
DELIVERY_PUSHED: Delivery
DELIVERY_PULLED: Delivery

class FanoutTask(_message.Message):
    __slots__ = ("post_created", "post_deleted", "follow_changed")
    POST_CREATED_FIELD_NUMBER: _ClassVar[int]
    POST_DELETED_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_CHANGED_FIELD_NUMBER: _ClassVar[int]
    post_created: PostCreated
    post_deleted: PostDeleted
    follow_changed: FollowChanged
    def __init__(self, post_created: _Optional[_Union[PostCreated, _Mapping]] = ..., post_deleted: _Optional[_Union[PostDeleted, _Mapping]] = ..., follow_changed: _Optional[_Union[FollowChanged, _Mapping]] = ...) -> None: ...

class PostCreated(_message.Message):
    __slots__ = ("post_id", "author_id", "followers_cursor", "delivery")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOWERS_CURSOR_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    post_id: str
    author_id: str
    followers_cursor: str
    delivery: Delivery
    def __init__(self, post_id: _Optional[str] = ..., author_id: _Optional[str] = ..., followers_cursor: _Optional[str] = ..., delivery: _Optional[_Union[Delivery, str]] = ...) -> None: ...

class PostDeleted(_message.Message):
    __slots__ = ("post_id", "author_id", "followers_cursor", "delivery")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOWERS_CURSOR_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    post_id: str
    author_id: str
    followers_cursor: str
    delivery: Delivery
    def __init__(self, post_id: _Optional[str] = ..., author_id: _Optional[str] = ..., followers_cursor: _Optional[str] = ..., delivery: _Optional[_Union[Delivery, str]] = ...) -> None: ...

class FollowChanged(_message.Message):
    __slots__ = ("follower_id", "followee_id")
    FOLLOWER_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOWEE_ID_FIELD_NUMBER: _ClassVar[int]
    follower_id: str
    followee_id: str
    def __init__(self, follower_id: _Optional[str] = ..., followee_id: _Optional[str] = ...) -> None: ...

class TimelineEvent(_message.Message):
    __slots__ = ("kind", "post_id", "author_id")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[TimelineEvent.Kind]
        KIND_ADDED: _ClassVar[TimelineEvent.Kind]
        KIND_REMOVED: _ClassVar[TimelineEvent.Kind]
    KIND_UNSPECIFIED: TimelineEvent.Kind
    KIND_ADDED: TimelineEvent.Kind
    KIND_REMOVED: TimelineEvent.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    kind: TimelineEvent.Kind
    post_id: str
    author_id: str
    def __init__(self, kind: _Optional[_Union[TimelineEvent.Kind, str]] = ..., post_id: _Optional[str] = ..., author_id: _Optional[str] = ...) -> None: ...

class FollowingChanged(_message.Message):
    __slots__ = ("follower_id",)
    FOLLOWER_ID_FIELD_NUMBER: _ClassVar[int]
    follower_id: str
    def __init__(self, follower_id: _Optional[str] = ...) -> None: ...
