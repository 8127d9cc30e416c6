"""What the MongoDB backend promises beyond the contract: indexes, DocumentDB client
settings, transactions, claims and ledger updates racing across clients, documents
written before a field existed, and error mapping."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import certifi
import pytest
from pydantic import SecretStr
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import (
    AutoReconnect,
    DuplicateKeyError,
    NotPrimaryError,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from murmur.domain import (
    Delivery,
    IdGenerator,
    IdTaken,
    PermanentStoreError,
    Post,
    PostId,
    RetryableStoreError,
    User,
    UserId,
    UsernameTaken,
    id_time,
)
from murmur.settings import MongoSettings
from murmur.storage.base import OutboxMessage
from murmur.storage.mongo import (
    MongoDatabase,
    MongoFanoutLedger,
    MongoPostStore,
    MongoUserStore,
    driver_errors,
)
from tests.servers import MongoServer
from tests.servers._process import Launch, free_port
from tests.servers.servers import launch_mongo

ids = IdGenerator(node=6)


def settings_for(uri: str, database: str = "murmur", **options: Any) -> MongoSettings:
    return MongoSettings(uri=SecretStr(uri), database=database, **options)


def a_post(post_id: str | None = None) -> Post:
    post_id = post_id or ids.next_id()
    return Post(
        id=PostId(post_id),
        author_id=UserId(ids.next_id()),
        body="hello",
        created_at=id_time(post_id),
        delivery=Delivery.PULLED,
    )


def message(name: str) -> OutboxMessage:
    return OutboxMessage(id=name, body=name.encode())


# --- indexes ------------------------------------------------------------------------------


async def indexes(db: MongoDatabase) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for collection in (db.users, db.posts, db.outbox, db.fanout_plans):
        async for index in await collection.list_indexes():
            found[f"{collection.name}.{index['name']}"] = dict(index)
    return found


async def test_opening_twice_creates_the_indexes_once(
    mongo_server: MongoServer, mongo_db: MongoDatabase
) -> None:
    first = await indexes(mongo_db)
    again = await MongoDatabase.open(settings_for(mongo_server.uri, mongo_db.db.name), create_indexes=True)
    try:
        assert await indexes(again) == first
    finally:
        await again.close()

    assert set(first) == {
        "users._id_",
        "users.username_lower",
        "posts._id_",
        "posts.posts_by_author",
        "posts.pulled_posts_by_author",
        "outbox._id_",
        "outbox.outbox_claims",
        "fanout_plans._id_",
        "fanout_plans.fanout_plans_expiry",
    }
    assert first["users.username_lower"]["unique"] is True
    assert dict(first["posts.pulled_posts_by_author"]["partialFilterExpression"]) == {"delivery": "pulled"}
    assert list(first["outbox.outbox_claims"]["key"]) == ["saved_at", "_id", "claimed_until"]
    assert list(first["fanout_plans.fanout_plans_expiry"]["key"]) == ["planned_at"]
    assert first["fanout_plans.fanout_plans_expiry"]["expireAfterSeconds"] == 7 * 24 * 3600


async def test_opening_without_create_indexes_creates_nothing(mongo_server: MongoServer) -> None:
    name = f"untouched_{ids.next_id()}"
    db = await MongoDatabase.open(settings_for(mongo_server.uri, name), create_indexes=False)
    try:
        await db.ping()
        assert name not in await db.client.list_database_names()
    finally:
        await db.close()


# --- DocumentDB's client settings (no server needed) ----------------------------------------


async def test_documentdb_settings_make_a_tls_client_without_retryable_writes() -> None:
    ca_file = Path(certifi.where())
    settings = settings_for(
        "mongodb://docdb.example.internal:27017/?replicaSet=rs0", tls_ca_file=ca_file, retry_writes=False
    )
    db = await MongoDatabase.open(settings, create_indexes=False)
    try:
        options = db.client.options
        assert options.retry_writes is False
        assert options._options["tls"] is True
        assert options._options["tlscafile"] == str(ca_file)
        context = options.pool_options._ssl_context
        assert isinstance(context, ssl.SSLContext)  # the asyncio client uses the standard library's
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.cert_store_stats()["x509_ca"] > 0  # the CA bundle was loaded
        assert options.codec_options.tz_aware
    finally:
        await db.close()


async def test_default_settings_make_a_plain_client_with_retryable_writes() -> None:
    db = await MongoDatabase.open(settings_for("mongodb://127.0.0.1:27017/"), create_indexes=False)
    try:
        assert db.client.options.retry_writes is True
        assert db.client.options.pool_options._ssl_context is None
    finally:
        await db.close()


# --- documents and transactions -----------------------------------------------------------


async def test_ids_are_stored_as_integers_and_sort_numerically(mongo_db: MongoDatabase) -> None:
    store = MongoPostStore(db=mongo_db)
    nine, ten = replace(a_post("9"), author_id=UserId("1")), replace(a_post("10"), author_id=UserId("1"))
    for post in (nine, ten):
        await store.create_post(post=post, outbox=message(f"{post.id}:created"))

    stored = await mongo_db.posts.find_one({"_id": 10})
    assert stored is not None and stored["author_id"] == 1  # integers, not the domain's strings
    posts = await store.recent_posts(author_ids=[UserId("1")], before=None, limit=10)
    assert [p.id for p in posts] == ["10", "9"]  # as strings "9" would sort first


async def test_a_refused_outbox_message_undoes_the_post_written_before_it(mongo_db: MongoDatabase) -> None:
    store = MongoPostStore(db=mongo_db)
    first, second = a_post(), a_post()
    await store.create_post(post=first, outbox=message("same-id"))

    # the post is inserted first, then the message: only a transaction can take the post back
    with pytest.raises(PermanentStoreError) as refused:
        await store.create_post(post=second, outbox=message("same-id"))
    assert not isinstance(refused.value, IdTaken)  # the post's id is free: minting another won't help
    assert await store.posts_by_id(ids=[first.id, second.id]) == {first.id: first}
    assert await mongo_db.outbox.count_documents({}) == 1


async def test_a_duplicate_post_id_saves_no_outbox_message(mongo_db: MongoDatabase) -> None:
    store = MongoPostStore(db=mongo_db)
    post = a_post()
    await store.create_post(post=post, outbox=message("first"))

    with pytest.raises(IdTaken):
        await store.create_post(post=replace(post, body="other"), outbox=message("second"))
    assert await mongo_db.outbox.distinct("_id") == ["first"]
    assert await store.posts_by_id(ids=[post.id]) == {post.id: post}


async def test_a_refused_outbox_message_undoes_the_delete(mongo_db: MongoDatabase) -> None:
    store = MongoPostStore(db=mongo_db)
    post = a_post()
    await store.create_post(post=post, outbox=message("taken"))

    with pytest.raises(PermanentStoreError):
        await store.delete_post(post_id=post.id, outbox=message("taken"))
    assert await store.posts_by_id(ids=[post.id]) == {post.id: post}


def transient(attempt: int) -> OperationFailure:
    return OperationFailure(
        f"write conflict {attempt}", code=112, details={"errorLabels": ["TransientTransactionError"]}
    )


async def test_a_transient_failure_reruns_the_whole_transaction(mongo_db: MongoDatabase) -> None:
    attempts = 0

    async def work(session: AsyncClientSession) -> str:
        nonlocal attempts
        attempts += 1
        await mongo_db.outbox.insert_one({"_id": f"attempt-{attempts}"}, session=session)
        if attempts == 1:
            raise transient(attempts)
        return "done"

    assert await mongo_db.transaction(work) == "done"
    assert await mongo_db.outbox.distinct("_id") == ["attempt-2"]  # the first attempt was rolled back


async def test_transient_failures_are_retried_a_bounded_number_of_times(mongo_db: MongoDatabase) -> None:
    attempts = 0

    async def work(session: AsyncClientSession) -> None:
        nonlocal attempts
        attempts += 1
        raise transient(attempts)

    with pytest.raises(RetryableStoreError), driver_errors():
        await mongo_db.transaction(work)
    assert attempts == 3


async def test_a_clash_on_the_user_id_is_not_a_taken_username(mongo_db: MongoDatabase) -> None:
    users = MongoUserStore(db=mongo_db)
    user_id = UserId(ids.next_id())
    user = User(id=user_id, username="first", display_name="F", bio="", created_at=id_time(user_id))
    await users.create_user(user=user, password_hash="h")

    with pytest.raises(IdTaken):
        await users.create_user(user=replace(user, username="second"), password_hash="h")
    with pytest.raises(UsernameTaken):
        await users.create_user(
            user=replace(user, id=UserId(ids.next_id()), username="FIRST"), password_hash="h"
        )


async def test_a_malformed_id_is_never_written(mongo_db: MongoDatabase) -> None:
    store = MongoPostStore(db=mongo_db)
    with pytest.raises(PermanentStoreError):
        await store.create_post(post=replace(a_post(), author_id=UserId("1e3")), outbox=message("m"))
    with pytest.raises(PermanentStoreError):  # more than a signed 64-bit integer holds
        await store.create_post(post=replace(a_post(), id=PostId("9" * 19)), outbox=message("m"))
    assert await mongo_db.outbox.count_documents({}) == 0


# --- racing across clients ------------------------------------------------------------------


@pytest.fixture
async def second_client(mongo_server: MongoServer, mongo_db: MongoDatabase) -> AsyncIterator[MongoDatabase]:
    """The same database through another client: its own connection pool, as another process has."""
    db = await MongoDatabase.open(settings_for(mongo_server.uri, mongo_db.db.name), create_indexes=False)
    try:
        yield db
    finally:
        await db.close()


async def test_relays_on_two_clients_never_claim_one_message_twice(
    mongo_db: MongoDatabase, second_client: MongoDatabase
) -> None:
    relays = [MongoPostStore(db=mongo_db), MongoPostStore(db=second_client)]
    saved = [message(f"m{i:02}") for i in range(40)]
    for each in saved:
        await relays[0].save_outbox(message=each)

    claims = await asyncio.gather(
        *(relays[i % 2].claim_outbox(older_than_seconds=0, limit=3, lease_seconds=30) for i in range(16))
    )
    claimed = [m.id for claim in claims for m in claim]
    assert sorted(claimed) == [m.id for m in saved]  # every message once, none twice
    for claim in claims:
        assert claim == sorted(claim, key=saved.index)  # each claim oldest first
    assert await relays[1].claim_outbox(older_than_seconds=0, limit=10, lease_seconds=30) == []


async def test_an_outbox_message_saved_before_leases_existed_is_claimed(mongo_db: MongoDatabase) -> None:
    store = MongoPostStore(db=mongo_db)
    await mongo_db.outbox.insert_one({"_id": "old", "body": b"old", "saved_at": 1.0})  # no claimed_until

    assert await store.claim_outbox(older_than_seconds=0, limit=5, lease_seconds=30) == [message("old")]
    assert await store.claim_outbox(older_than_seconds=0, limit=5, lease_seconds=30) == []


async def test_ledger_finishes_racing_on_two_clients_count_each_chunk_once(
    mongo_db: MongoDatabase, second_client: MongoDatabase
) -> None:
    ledgers = [MongoFanoutLedger(db=mongo_db), MongoFanoutLedger(db=second_client)]
    task = f"{uuid.uuid4().int % 10**15}:add"
    await ledgers[1].plan(task=task, spans=[str(chunk) for chunk in range(8)])

    chunks = [chunk for chunk in range(8) for _ in range(3)]
    results = await asyncio.gather(
        *(ledgers[i % 2].finish(task=task, chunk=chunk) for i, chunk in enumerate(chunks))
    )
    assert results.count(True) == 1  # one worker sees the last
    assert await ledgers[0].done(task=task) == set(range(8))


async def test_a_plan_recorded_after_a_finish_is_kept_with_the_finished_chunk(
    mongo_db: MongoDatabase,
) -> None:
    ledger = MongoFanoutLedger(db=mongo_db)
    assert await ledger.finish(task="1:add", chunk=1) is False  # no plan: nothing to complete

    assert await ledger.plan(task="1:add", spans=["a", "b"]) == ["a", "b"]
    assert await ledger.plan(task="1:add", spans=["c"]) == ["a", "b"]
    assert await ledger.done(task="1:add") == {1}
    assert await ledger.finish(task="1:add", chunk=0) is True
    stored = await mongo_db.fanout_plans.find_one({"_id": "1:add"})
    assert stored is not None and isinstance(stored["planned_at"], datetime)  # the TTL index applies


async def test_activity_recorded_before_registration_leaves_created_at(mongo_db: MongoDatabase) -> None:
    users = MongoUserStore(db=mongo_db)
    user_id = UserId(ids.next_id())
    created = datetime(2026, 1, 10, tzinfo=UTC)
    await users.create_user(
        user=User(id=user_id, username="early", display_name="E", bio="", created_at=created),
        password_hash="h",
    )

    assert await users.record_activity(user_id=user_id, at=created - timedelta(days=1)) == created
    assert await users.record_activity(user_id=user_id, at=created - timedelta(days=2)) == created
    assert await users.active_among(user_ids=[user_id], since=created) == {user_id}


async def test_pulled_authors_of_thousands_answer_in_one_query(mongo_db: MongoDatabase) -> None:
    store = MongoPostStore(db=mongo_db)
    pulled = a_post()
    await store.create_post(post=pulled, outbox=message("m"))

    authors = [UserId(ids.next_id()) for _ in range(5000)] + [pulled.author_id]
    assert await store.pulled_authors(author_ids=authors) == {pulled.author_id}


# --- error mapping ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (AutoReconnect("connection reset"), RetryableStoreError),
        (NotPrimaryError("not primary"), RetryableStoreError),
        (ServerSelectionTimeoutError("no servers"), RetryableStoreError),
        (OperationFailure("write conflict", code=112), RetryableStoreError),
        (OperationFailure("stepped down", code=189), RetryableStoreError),
        (OperationFailure("time limit", code=50), RetryableStoreError),
        (
            OperationFailure("aborted", code=251, details={"errorLabels": ["TransientTransactionError"]}),
            RetryableStoreError,
        ),
        (DuplicateKeyError("E11000", code=11000), PermanentStoreError),
        (OperationFailure("bad value", code=2), PermanentStoreError),
        (OperationFailure("unauthorized", code=13), PermanentStoreError),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, type) else str(value),
)
def test_driver_errors_become_store_errors(error: PyMongoError, expected: type[Exception]) -> None:
    with pytest.raises(expected) as raised, driver_errors():
        raise error
    assert raised.value.__cause__ is error


async def test_a_malformed_uri_is_a_permanent_error() -> None:
    with pytest.raises(PermanentStoreError):
        await MongoDatabase.open(settings_for("postgres://127.0.0.1/"), create_indexes=False)


async def test_an_unreachable_server_is_a_retryable_error() -> None:
    uri = f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=300&connectTimeoutMS=300"
    with pytest.raises(RetryableStoreError):
        await MongoDatabase.open(settings_for(uri), create_indexes=True)

    db = await MongoDatabase.open(settings_for(uri), create_indexes=False)
    try:
        with pytest.raises(RetryableStoreError):
            await MongoUserStore(db=db).users_by_id(ids=[UserId("1")])
        with pytest.raises(RetryableStoreError):
            await MongoPostStore(db=db).create_post(post=a_post(), outbox=message("m"))
        with pytest.raises(RetryableStoreError):
            await db.ping()
    finally:
        await db.close()


@pytest.fixture
def own_mongo() -> Iterator[Launch[MongoServer]]:
    """A SecantusDB of this test's own, to stop under a connected client."""
    launch = launch_mongo()
    launch.watch(60.0)
    try:
        launch.wait_ready()
        yield launch
    finally:
        launch.stop()


async def test_a_server_stopped_under_a_connected_client_is_a_retryable_error(
    own_mongo: Launch[MongoServer],
) -> None:
    uri = f"{own_mongo.info.uri}?serverSelectionTimeoutMS=500&connectTimeoutMS=500"
    db = await MongoDatabase.open(settings_for(uri), create_indexes=True)
    try:
        store = MongoPostStore(db=db)
        post = a_post()
        await store.create_post(post=post, outbox=message("m"))
        own_mongo.stop()

        with pytest.raises(RetryableStoreError):
            await store.posts_by_id(ids=[post.id])
        with pytest.raises(RetryableStoreError):
            await store.delete_post(post_id=post.id, outbox=message("gone"))
    finally:
        await db.close()
