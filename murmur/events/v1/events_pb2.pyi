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

class ChunkOperation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHUNK_OPERATION_UNSPECIFIED: _ClassVar[ChunkOperation]
    CHUNK_OPERATION_ADD: _ClassVar[ChunkOperation]
    CHUNK_OPERATION_REMOVE: _ClassVar[ChunkOperation]
DELIVERY_UNSPECIFIED: Delivery
DELIVERY_PUSHED: Delivery
DELIVERY_PULLED: Delivery
CHUNK_OPERATION_UNSPECIFIED: ChunkOperation
CHUNK_OPERATION_ADD: ChunkOperation
CHUNK_OPERATION_REMOVE: ChunkOperation

class FanoutTask(_message.Message):
    __slots__ = ("post_created", "post_deleted", "follow_changed", "chunk")
    POST_CREATED_FIELD_NUMBER: _ClassVar[int]
    POST_DELETED_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_CHANGED_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    post_created: PostCreated
    post_deleted: PostDeleted
    follow_changed: FollowChanged
    chunk: FanoutChunk
    def __init__(self, post_created: _Optional[_Union[PostCreated, _Mapping]] = ..., post_deleted: _Optional[_Union[PostDeleted, _Mapping]] = ..., follow_changed: _Optional[_Union[FollowChanged, _Mapping]] = ..., chunk: _Optional[_Union[FanoutChunk, _Mapping]] = ...) -> None: ...

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

class FanoutChunk(_message.Message):
    __slots__ = ("post_id", "author_id", "operation", "index", "count", "span")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SPAN_FIELD_NUMBER: _ClassVar[int]
    post_id: str
    author_id: str
    operation: ChunkOperation
    index: int
    count: int
    span: str
    def __init__(self, post_id: _Optional[str] = ..., author_id: _Optional[str] = ..., operation: _Optional[_Union[ChunkOperation, str]] = ..., index: _Optional[int] = ..., count: _Optional[int] = ..., span: _Optional[str] = ...) -> None: ...

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
