"""Users and posts in MongoDB or Amazon DocumentDB, through pymongo's asyncio client.

Ids are stored as 64-bit integers (`_id: int(id)`), so "newest first" is a numeric
sort on `_id` and every lookup by id walks the primary index. Usernames are unique
case-insensitively through a folded copy under a unique index, not a collation:
DocumentDB has no collations. A post (or its deletion) and its outbox message are
written in one multi-document transaction, which needs a replica set (DocumentDB
clusters are one; so is SecantusDB in the tests). Everything stays within the
operators DocumentDB 5.0 supports: no collations, no pipeline updates, no $$NOW.

Driver errors become the domain's store errors: lost connections, timeouts, elections
and write conflicts are RetryableStoreError, everything else PermanentStoreError.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import string
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure, PyMongoError

from murmur.domain import (
    Credentials,
    Delivery,
    IdTaken,
    InvalidInput,
    NotFound,
    PermanentStoreError,
    Post,
    PostId,
    ProfileUpdate,
    RetryableStoreError,
    User,
    UserId,
    UsernameTaken,
)
from murmur.settings import MongoSettings
from murmur.storage.base import OutboxMessage
from murmur.storage.counting import counted
from murmur.storage.ids import known_ids, parse_id, require_id

Document = dict[str, Any]
T = TypeVar("T")
C = TypeVar("C", bound=type)

# --- errors -----------------------------------------------------------------------------

# Server codes worth retrying that pymongo raises as a plain OperationFailure: the node is
# shutting down, stepping down or not primary, the network failed server-side, a time
# limit hit, or two transactions wrote one document (WriteConflict).
_RETRYABLE_CODES = frozenset({6, 7, 89, 91, 112, 189, 262, 9001, 10058, 10107, 11600, 11602, 13435, 13436})


def _retryable(exc: PyMongoError) -> bool:
    return (
        isinstance(exc, ConnectionFailure)  # AutoReconnect, NotPrimaryError, server selection timeouts
        or exc.timeout
        or exc.has_error_label("TransientTransactionError")
        or exc.has_error_label("RetryableWriteError")
        or (isinstance(exc, OperationFailure) and exc.code in _RETRYABLE_CODES)
    )


@contextlib.contextmanager
def driver_errors() -> Iterator[None]:
    """Raise driver errors as the domain's store errors (domain errors pass untouched)."""
    try:
        yield
    except PyMongoError as exc:
        error = RetryableStoreError if _retryable(exc) else PermanentStoreError
        raise error(f"MongoDB: {exc}") from exc


def _translating_driver_errors(cls: C) -> C:
    """Class decorator: run every public coroutine method under driver_errors()."""

    def translated(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(method)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            with driver_errors():
                return await method(*args, **kwargs)

        return wrapper

    for name, method in list(vars(cls).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(method):
            setattr(cls, name, translated(method))
    return cls


# --- ids --------------------------------------------------------------------------------


def _before_key(before: PostId) -> int:
    """A paging cursor comes from a client: a malformed one is invalid input."""
    key = parse_id(before)
    if key is None:
        raise InvalidInput("Invalid cursor.", field="before")
    return key


# --- the database -----------------------------------------------------------------------


def client_options(settings: MongoSettings) -> dict[str, Any]:
    """AsyncMongoClient keyword arguments. DocumentDB needs TLS with Amazon's CA bundle
    and refuses retryable writes (retry_writes=false)."""
    options: dict[str, Any] = {
        "appname": "murmur",
        "retryWrites": settings.retry_writes,
        "tz_aware": True,  # BSON dates come back as aware UTC datetimes, like the domain's
        "tzinfo": UTC,
    }
    if settings.tls_ca_file is not None:
        options |= {"tls": True, "tlsCAFile": str(settings.tls_ca_file)}
    return options


_INDEXES: Mapping[str, Sequence[IndexModel]] = {
    "users": [IndexModel([("username_lower", ASCENDING)], name="username_lower", unique=True)],
    "posts": [
        IndexModel([("author_id", ASCENDING), ("_id", ASCENDING)], name="posts_by_author"),
        # pull reads ask only for pulled posts, a small minority. Its _id runs the other
        # way so the two never share a key pattern, which servers before MongoDB 5.0 refuse.
        IndexModel(
            [("author_id", ASCENDING), ("_id", DESCENDING)],
            name="pulled_posts_by_author",
            partialFilterExpression={"delivery": Delivery.PULLED.value},
        ),
    ],
    # claim_outbox walks this oldest first; with claimed_until in the keys the server can skip
    # messages other relays hold without reading them. A new name, not outbox_by_age with new
    # keys: reusing a name with other keys makes create_indexes fail on an existing database.
    "outbox": [
        IndexModel(
            [("saved_at", ASCENDING), ("_id", ASCENDING), ("claimed_until", ASCENDING)],
            name="outbox_claims",
        )
    ],
    # a fan-out finishes in minutes; its plan is kept a week for a late redelivery, then dropped
    "fanout_plans": [
        IndexModel(
            [("planned_at", ASCENDING)],
            name="fanout_plans_expiry",
            expireAfterSeconds=int(timedelta(days=7).total_seconds()),
        )
    ],
}


_TRANSACTION_ATTEMPTS = 3


class MongoDatabase:
    """One client (and its connection pool) and the database of users, posts, the outbox
    and the fan-out ledger."""

    def __init__(self, client: AsyncMongoClient[Document], database: str) -> None:
        self.client = client
        self.db: AsyncDatabase[Document] = client[database]
        self.users: AsyncCollection[Document] = self.db["users"]
        self.posts: AsyncCollection[Document] = self.db["posts"]
        self.outbox: AsyncCollection[Document] = self.db["outbox"]
        self.fanout_plans: AsyncCollection[Document] = self.db["fanout_plans"]

    @classmethod
    async def open(cls, settings: MongoSettings, *, create_indexes: bool) -> MongoDatabase:
        """A client for settings (it connects on first use); with create_indexes, make
        sure the indexes exist (creating an existing one is a no-op)."""
        with driver_errors():  # a malformed URI or option is a PermanentStoreError
            client: AsyncMongoClient[Document] = AsyncMongoClient(
                settings.uri.get_secret_value(), **client_options(settings)
            )
        database = cls(client, settings.database)
        if create_indexes:
            try:
                await database.create_indexes()
            except BaseException:
                await client.close()
                raise
        return database

    async def create_indexes(self) -> None:
        with driver_errors():
            for collection, indexes in _INDEXES.items():
                await self.db[collection].create_indexes(list(indexes))

    async def transaction(self, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """Run work in one multi-document transaction, again on a transient error (a write
        conflict, a failover) but at most _TRANSACTION_ATTEMPTS times in all.

        Not the driver's with_transaction: it retries for two minutes, so a write during an
        outage would hang its API request that long. Here the caller gets a
        RetryableStoreError and decides about waiting.
        """
        async with self.client.start_session() as session:
            attempt = 1
            while True:
                try:
                    async with await session.start_transaction():
                        return await work(session)  # commits on leaving the block
                except PyMongoError as exc:
                    if attempt == _TRANSACTION_ATTEMPTS or not exc.has_error_label(
                        "TransientTransactionError"
                    ):
                        raise
                    attempt += 1

    async def ping(self) -> None:
        with driver_errors():
            await self.client.admin.command("ping")

    async def close(self) -> None:
        await self.client.close()


# --- users ------------------------------------------------------------------------------

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_USER_FIELDS = {"username": True, "display_name": True, "bio": True, "created_at": True}


def _folded(username: str) -> str:
    """The username as the unique index compares it: ASCII letters folded, like SQLite's NOCASE."""
    return username.translate(_ASCII_LOWER)


def _in_index(exc: DuplicateKeyError, index: str) -> bool:
    """Whether the duplicate is in that index: by keyPattern where the server sends it,
    else by the index name the message always carries."""
    return index in (exc.details or {}).get("keyPattern", {}) or f"index: {index}" in str(exc)


def _user(doc: Document) -> User:
    return User(
        id=UserId(str(doc["_id"])),
        username=doc["username"],
        display_name=doc["display_name"],
        bio=doc["bio"],
        created_at=doc["created_at"],
    )


def _user_document(user: User, password_hash: str) -> dict[str, Any]:
    return {
        "_id": require_id(user.id),
        "username": user.username,
        "username_lower": _folded(user.username),
        "display_name": user.display_name,
        "bio": user.bio,
        "created_at": user.created_at,
        "password_hash": password_hash,
    }


@counted("users")
@_translating_driver_errors
class MongoUserStore:
    def __init__(self, *, db: MongoDatabase) -> None:
        self._users = db.users

    async def create_user(self, *, user: User, password_hash: str) -> None:
        try:
            await self._users.insert_one(_user_document(user, password_hash))
        except DuplicateKeyError as exc:
            if _in_index(exc, "username_lower"):
                raise UsernameTaken(user.username) from None
            if _in_index(exc, "_id"):
                raise IdTaken(f"user id {user.id} is in use") from exc
            raise

    async def import_users(self, *, users: Sequence[tuple[User, str]]) -> None:
        if users:
            await self._users.insert_many(
                [_user_document(user, password_hash) for user, password_hash in users], ordered=False
            )

    async def users_by_id(self, *, ids: Sequence[UserId]) -> dict[UserId, User]:
        keys = known_ids(ids)
        if not keys:
            return {}
        users = [_user(doc) async for doc in self._users.find({"_id": {"$in": keys}}, _USER_FIELDS)]
        return {user.id: user for user in users}

    async def credentials(self, *, username: str) -> Credentials | None:
        doc = await self._users.find_one(
            {"username_lower": _folded(username)},
            {**_USER_FIELDS, "password_hash": True, "token_version": True},
        )
        if doc is None:
            return None
        return Credentials(
            user=_user(doc), password_hash=doc["password_hash"], token_version=doc.get("token_version", 0)
        )

    async def user_by_username(self, *, username: str) -> User | None:
        doc = await self._users.find_one({"username_lower": _folded(username)}, _USER_FIELDS)
        return _user(doc) if doc else None

    async def update_profile(self, *, user_id: UserId, update: ProfileUpdate) -> User:
        key = parse_id(user_id)
        changes = {
            field: value
            for field, value in (("display_name", update.display_name), ("bio", update.bio))
            if value is not None
        }
        doc = None
        if key is not None and changes:
            doc = await self._users.find_one_and_update(
                {"_id": key}, {"$set": changes}, _USER_FIELDS, return_document=ReturnDocument.AFTER
            )
        elif key is not None:  # nothing to set ($set refuses an empty document)
            doc = await self._users.find_one({"_id": key}, _USER_FIELDS)
        if doc is None:
            raise NotFound("user", user_id)
        return _user(doc)

    async def count_users(self) -> int:
        return await self._users.count_documents({})

    # last_active is absent until the first record_activity: a user never recorded counts as
    # active since created_at (as SQLite's coalesce), so registering costs no extra field.

    async def token_version(self, *, user_id: UserId) -> int | None:
        key = parse_id(user_id)
        doc = await self._users.find_one({"_id": key}, {"token_version": True}) if key is not None else None
        return int(doc.get("token_version", 0)) if doc else None  # absent: never revoked

    async def revoke_tokens(self, *, user_id: UserId) -> int:
        key = parse_id(user_id)
        doc = None
        if key is not None:
            doc = await self._users.find_one_and_update(
                {"_id": key},
                {"$inc": {"token_version": 1}},
                {"token_version": True},
                return_document=ReturnDocument.AFTER,
            )
        if doc is None:
            raise NotFound("user", user_id)
        return int(doc["token_version"])

    async def record_activity(self, *, user_id: UserId, at: datetime) -> datetime | None:
        key = parse_id(user_id)
        if key is None:
            return None
        # $max never moves it back, and one atomic write answers the value it replaced
        before = await self._users.find_one_and_update(
            {"_id": key},
            {"$max": {"last_active": at}},
            {"last_active": True, "created_at": True},
            return_document=ReturnDocument.BEFORE,
        )
        if before is None:
            return None
        recorded: datetime | None = before.get("last_active")
        if recorded is not None:
            return recorded
        created_at: datetime = before["created_at"]
        if at < created_at:  # the first record predates registration: keep created_at, as SQLite does
            await self._users.update_one({"_id": key}, {"$max": {"last_active": created_at}})
        return created_at

    async def active_among(self, *, user_ids: Sequence[UserId], since: datetime) -> set[UserId]:
        keys = known_ids(dict.fromkeys(user_ids))
        if not keys:
            return set()
        query = {
            "_id": {"$in": keys},
            "$or": [
                {"last_active": {"$gte": since}},
                {"last_active": {"$exists": False}, "created_at": {"$gte": since}},
            ],
        }
        return {UserId(str(doc["_id"])) async for doc in self._users.find(query, {"_id": True})}


# --- posts and the outbox -----------------------------------------------------------------


def _post(doc: Document) -> Post:
    return Post(
        id=PostId(str(doc["_id"])),
        author_id=UserId(str(doc["author_id"])),
        body=doc["body"],
        created_at=doc["created_at"],
        delivery=Delivery(doc["delivery"]),
    )


def _outbox_document(message: OutboxMessage, held_seconds: float = 0.0) -> Document:
    # saved_at and claimed_until are this process's clock in float seconds, as claim_outbox
    # compares them; 0 means no relay holds it
    now = time.time()
    held = now + held_seconds if held_seconds > 0 else 0.0
    return {"_id": message.id, "body": message.body, "saved_at": now, "claimed_until": held}


def _claimable(now: float) -> Document:
    """Not held by a relay at `now`. $not also matches a message saved before leases existed."""
    return {"claimed_until": {"$not": {"$gt": now}}}


_OUTBOX_ORDER = [("saved_at", ASCENDING), ("_id", ASCENDING)]
_CLAIMED_FIELDS = {"body": True, "saved_at": True}


def _post_document(post: Post) -> dict[str, Any]:
    return {
        "_id": require_id(post.id),
        "author_id": require_id(post.author_id),
        "body": post.body,
        "created_at": post.created_at,
        "delivery": post.delivery.value,
    }


@counted("posts")
@_translating_driver_errors
class MongoPostStore:
    def __init__(self, *, db: MongoDatabase) -> None:
        self._db = db
        self._posts = db.posts
        self._outbox = db.outbox

    async def create_post(self, *, post: Post, outbox: OutboxMessage) -> None:
        doc = _post_document(post)
        message = _outbox_document(outbox)

        async def write(session: AsyncClientSession) -> None:
            try:
                await self._posts.insert_one(doc, session=session)
            except DuplicateKeyError as exc:  # posts have no other unique index
                raise IdTaken(f"post id {post.id} is in use") from exc
            await self._outbox.insert_one(message, session=session)

        await self._db.transaction(write)

    async def import_posts(self, *, posts: Sequence[Post]) -> None:
        if posts:
            await self._posts.insert_many([_post_document(post) for post in posts], ordered=False)

    async def delete_post(self, *, post_id: PostId, outbox: OutboxMessage) -> Post | None:
        key = parse_id(post_id)
        if key is None:
            return None

        async def delete(session: AsyncClientSession) -> Document | None:
            doc = await self._posts.find_one_and_delete({"_id": key}, session=session)
            if doc is not None:  # nothing deleted, nothing to announce
                await self._outbox.insert_one(_outbox_document(outbox), session=session)
            return doc

        deleted = await self._db.transaction(delete)
        return _post(deleted) if deleted is not None else None

    async def save_outbox(self, *, message: OutboxMessage, held_seconds: float = 0.0) -> None:
        await self._outbox.insert_one(_outbox_document(message, held_seconds))

    async def posts_by_id(self, *, ids: Sequence[PostId]) -> dict[PostId, Post]:
        keys = known_ids(ids)
        if not keys:
            return {}
        posts = [_post(doc) async for doc in self._posts.find({"_id": {"$in": keys}})]
        return {post.id: post for post in posts}

    async def recent_posts(
        self,
        *,
        author_ids: Sequence[UserId],
        before: PostId | None,
        limit: int,
        delivery: Delivery | None = None,
    ) -> list[Post]:
        authors = known_ids(dict.fromkeys(author_ids))
        if limit <= 0 or not authors:  # a limit of 0 would mean "no limit" to the server
            return []
        query: Document = {"author_id": {"$in": authors}}
        if before is not None:
            query["_id"] = {"$lt": _before_key(before)}
        if delivery is not None:
            query["delivery"] = delivery.value  # a literal, so the partial index of pulled posts can serve
        cursor = self._posts.find(query).sort("_id", DESCENDING).limit(limit)
        return [_post(doc) async for doc in cursor]

    async def pulled_authors(self, *, author_ids: Sequence[UserId]) -> set[UserId]:
        authors = known_ids(dict.fromkeys(author_ids))
        if not authors:
            return set()
        # One round trip whatever the number of authors. The literal delivery test lets the
        # partial index of pulled posts serve it, and author_id leads that index: each author
        # who never wrote a pulled post costs one empty index seek, and pushed posts (nearly
        # all of them) are never read; what is read beyond that is the index entries of the
        # pulled posts of the few pull-delivered authors among them (MongoDB may also fetch
        # those documents to test delivery). sources.py caches the answer.
        found = await self._posts.distinct(
            "author_id", {"author_id": {"$in": authors}, "delivery": Delivery.PULLED.value}
        )
        return {UserId(str(author)) for author in found}

    async def count_posts(self) -> int:
        return await self._posts.count_documents({})

    async def claim_outbox(
        self, *, older_than_seconds: float, limit: int, lease_seconds: float
    ) -> list[OutboxMessage]:
        if limit <= 0:
            return []
        now = time.time()
        ready = {"saved_at": {"$lte": now - older_than_seconds}, **_claimable(now)}
        token = uuid.uuid4().hex
        claim = {"$set": {"claimed_until": now + lease_seconds, "claim": token}}
        candidates = [
            doc["_id"]
            async for doc in self._outbox.find(ready, {"_id": True}).sort(_OUTBOX_ORDER).limit(limit)
        ]
        if not candidates:
            return []
        # Each document is updated atomically and the filter repeats the lease test, so of
        # relays racing for one message exactly one sets it; the fresh token then tells which
        # of the candidates this call won.
        won = await self._outbox.update_many({"_id": {"$in": candidates}, **ready}, claim)
        claimed: list[Document] = []
        if won.modified_count:
            claimed = [
                doc
                async for doc in self._outbox.find(
                    {"_id": {"$in": candidates}, "claim": token}, _CLAIMED_FIELDS
                )
            ]
        if won.modified_count < len(candidates):
            # Another relay took some: racing relays all start from the same oldest messages, so
            # another batch could lose again. One at a time, each call takes the oldest left or
            # finds none, so this ends within `limit` round trips however many relays race.
            while len(claimed) < limit and (
                doc := await self._outbox.find_one_and_update(
                    ready, claim, _CLAIMED_FIELDS, sort=_OUTBOX_ORDER, return_document=ReturnDocument.AFTER
                )
            ):
                claimed.append(doc)
        claimed.sort(key=lambda doc: (doc["saved_at"], doc["_id"]))
        return [OutboxMessage(id=doc["_id"], body=bytes(doc["body"])) for doc in claimed]

    async def outbox_published(self, *, ids: Sequence[str]) -> None:
        # Deleted, as SQLite does: the outbox holds only what is still to be sent.
        if ids:
            await self._outbox.delete_many({"_id": {"$in": list(ids)}})


# --- the fan-out ledger ---------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)  # a BSON date: the TTL index expires only dates


@counted("ledger")
@_translating_driver_errors
class MongoFanoutLedger:
    """One document per fan-out: {_id: task, spans, chunks, done: [chunk], done_count,
    planned_at}.

    chunks is len(spans), done_count mirrors len(done): a chunk's lookup asks the server
    whether its index is in `done` and gets back the id alone, and finish gets back the two
    counts, so no call sends the done list either way. A TTL index on planned_at drops the
    document after a week.
    """

    def __init__(self, *, db: MongoDatabase) -> None:
        self._plans = db.fanout_plans

    async def plan(self, *, task: str, spans: Sequence[str]) -> list[str]:
        try:
            await self._plans.insert_one(
                {
                    "_id": task,
                    "spans": list(spans),
                    "chunks": len(spans),
                    "done": [],
                    "done_count": 0,
                    "planned_at": _now(),
                }
            )
            return list(spans)
        except DuplicateKeyError:
            pass
        # The task's document exists: planned already, or a finish came first and wrote no
        # spans, and then these become the plan unless another planner's are set first.
        recorded = await self._plans.find_one_and_update(
            {"_id": task, "spans": {"$exists": False}},
            {"$set": {"spans": list(spans), "chunks": len(spans)}},
            {"spans": True},
            return_document=ReturnDocument.AFTER,
        ) or await self._plans.find_one({"_id": task}, {"spans": True})
        if recorded is None:  # expired between the two reads, a week after planning
            raise PermanentStoreError(f"the fan-out plan of {task} vanished while it was read")
        return [str(span) for span in recorded["spans"]]

    async def recorded(self, *, task: str) -> list[str] | None:
        doc = await self._plans.find_one({"_id": task}, {"spans": True})
        return [str(span) for span in doc["spans"]] if doc and "spans" in doc else None

    async def is_done(self, *, task: str, chunk: int) -> bool:
        return await self._plans.find_one({"_id": task, "done": chunk}, {"_id": True}) is not None

    async def finish(self, *, task: str, chunk: int, spans: Sequence[str] | None = None) -> bool:
        # When the chunk is done already, the filter matches nothing and the upsert's insert
        # fails on _id. It fails the same way when another finish created the task's document
        # a moment ago: a second try tells the two apart, as the document exists by then.
        try:
            counts = await self._add_chunk(task, chunk, spans)
        except DuplicateKeyError:
            try:
                counts = await self._add_chunk(task, chunk, spans)
            except DuplicateKeyError:
                return False
        if "chunks" not in counts:
            if "spans" not in counts:
                return False  # no plan yet: the finish that completes it comes after one
            counts["chunks"] = len(counts["spans"])  # a document planned before chunks was kept
        return int(counts["done_count"]) == int(counts["chunks"])

    async def _add_chunk(self, task: str, chunk: int, spans: Sequence[str] | None) -> dict[str, Any]:
        # matches only while the chunk is absent, and one document's update is atomic: of
        # workers racing on one chunk, exactly one adds it
        on_insert: dict[str, Any] = {"planned_at": _now()}  # so the TTL applies with no plan too
        if spans is not None:
            on_insert |= {"spans": list(spans), "chunks": len(spans)}
        after = await self._plans.find_one_and_update(
            {"_id": task, "done": {"$ne": chunk}},
            {"$push": {"done": chunk}, "$inc": {"done_count": 1}, "$setOnInsert": on_insert},
            {"done_count": True, "chunks": True},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert after is not None  # an upsert returning the document AFTER always has one
        if "chunks" not in after:
            after = {**after, **(await self._plans.find_one({"_id": task}, {"spans": True}) or {})}
        return dict(after)

    async def done(self, *, task: str) -> set[int]:
        doc = await self._plans.find_one({"_id": task}, {"done": True})
        return {int(chunk) for chunk in doc.get("done", [])} if doc else set()
