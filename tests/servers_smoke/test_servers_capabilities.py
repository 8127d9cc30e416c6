"""What the stand-ins for MongoDB and Neptune support, and the quirks backends must live with.

A test named `..._quirk_...` pins a difference from the real service: if it starts
failing, the stand-in changed, and tests/servers and DESIGN.md should say so.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from neo4j import AsyncDriver, AsyncGraphDatabase
from neo4j.exceptions import ClientError, CypherSyntaxError, Neo4jError
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from tests.servers import BoltServer, MongoServer

Doc = dict[str, object]


@pytest.fixture
async def mongo_db(mongo_server: MongoServer) -> AsyncIterator[AsyncDatabase[Doc]]:
    client: AsyncMongoClient[Doc] = AsyncMongoClient(mongo_server.uri)
    yield client[f"caps-{uuid.uuid4().hex[:12]}"]
    await client.close()


async def test_mongo_ping(mongo_db: AsyncDatabase[Doc]) -> None:
    assert (await mongo_db.command("ping"))["ok"] == 1.0


async def test_mongo_unique_index(mongo_db: AsyncDatabase[Doc]) -> None:
    await mongo_db.users.create_index("username", unique=True)
    await mongo_db.users.insert_one({"username": "ada"})
    with pytest.raises(DuplicateKeyError):
        await mongo_db.users.insert_one({"username": "ada"})


async def test_mongo_transaction_over_two_collections(mongo_db: AsyncDatabase[Doc]) -> None:
    client = mongo_db.client
    async with client.start_session() as session, await session.start_transaction():
        await mongo_db.posts.insert_one({"_id": 1}, session=session)
        await mongo_db.outbox.insert_one({"_id": 1}, session=session)
        # not visible outside the transaction before commit
        assert await mongo_db.posts.find_one({"_id": 1}) is None
    assert await mongo_db.posts.count_documents({}) == 1
    assert await mongo_db.outbox.count_documents({}) == 1

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with client.start_session() as session, await session.start_transaction():
            await mongo_db.posts.insert_one({"_id": 2}, session=session)
            await mongo_db.outbox.insert_one({"_id": 2}, session=session)
            raise Abort
    assert await mongo_db.posts.count_documents({}) == 1
    assert await mongo_db.outbox.count_documents({}) == 1


async def test_mongo_find_sort_skip_limit(mongo_db: AsyncDatabase[Doc]) -> None:
    await mongo_db.posts.create_index([("author", ASCENDING), ("created_at", DESCENDING)])
    await mongo_db.posts.insert_many([{"_id": i, "author": "a", "created_at": i % 4} for i in range(10)])
    cursor = mongo_db.posts.find({"author": "a"}).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
    page = await cursor.skip(1).limit(3).to_list()
    assert [(d["created_at"], d["_id"]) for d in page] == [(3, 3), (2, 6), (2, 2)]


# --- Bolt (FalkorDB through the relay) -----------------------------------------------------


def _ids(n: int) -> list[str]:
    prefix = uuid.uuid4().hex[:8]
    return [f"{prefix}-{i}" for i in range(n)]


async def _count(driver: AsyncDriver, query: str, **params: object) -> int:
    records, _, _ = await driver.execute_query(query, params)
    n: int = records[0]["n"]
    return n


async def test_bolt_merge_with_parameters(bolt_driver: AsyncDriver) -> None:
    a, b = _ids(2)
    query = (
        "MERGE (a:User {id: $a}) MERGE (b:User {id: $b}) "
        "MERGE (a)-[f:FOLLOWS]->(b) ON CREATE SET f.since = $since RETURN f.since AS since"
    )
    first = await bolt_driver.execute_query(query, a=a, b=b, since=1)
    again = await bolt_driver.execute_query(query, a=a, b=b, since=2)
    assert first.summary.counters.relationships_created == 1
    assert again.summary.counters.relationships_created == 0
    assert again.records[0]["since"] == 1
    assert (
        await _count(bolt_driver, "MATCH (u:User) WHERE u.id IN [$a, $b] RETURN count(u) AS n", a=a, b=b) == 2
    )


async def test_bolt_unwind_batch_order_skip_limit(bolt_driver: AsyncDriver) -> None:
    author, *followers = _ids(41)
    rows = [{"id": f, "at": i} for i, f in enumerate(followers)]  # ~1 KiB: under the 4 KiB limit
    summary = (
        await bolt_driver.execute_query(
            "UNWIND $rows AS row MERGE (f:User {id: row.id}) MERGE (a:User {id: $author}) "
            "MERGE (f)-[e:FOLLOWS]->(a) SET e.at = row.at",
            rows=rows,
            author=author,
        )
    ).summary
    assert summary.counters.relationships_created == 40
    records, _, _ = await bolt_driver.execute_query(
        "MATCH (f:User)-[e:FOLLOWS]->(:User {id: $author}) RETURN f.id AS id ORDER BY e.at DESC SKIP 5 LIMIT 3",
        author=author,
    )
    assert [r["id"] for r in records] == [followers[34], followers[33], followers[32]]
    assert (
        await _count(bolt_driver, "MATCH (:User)-[:FOLLOWS]->(:User {id: $a}) RETURN count(*) AS n", a=author)
        == 40
    )


async def test_bolt_syntax_error_raises_with_message(bolt_driver: AsyncDriver) -> None:
    with pytest.raises(CypherSyntaxError, match="Invalid input"):
        await bolt_driver.execute_query("MATCH (n RETURN n")
    # and the connection is usable afterwards
    assert await _count(bolt_driver, "RETURN 1 AS n") == 1


async def test_bolt_quirk_oversized_message_is_refused(bolt_driver: AsyncDriver) -> None:
    # FalkorDB crashes on a message over ~4 KiB; the relay refuses it instead
    with pytest.raises(ClientError, match="send smaller batches"):
        await bolt_driver.execute_query("UNWIND $xs AS x RETURN count(x) AS n", xs=["x" * 50] * 100)
    assert await _count(bolt_driver, "RETURN 2 AS n") == 2


async def test_bolt_quirk_no_datetime(bolt_driver: AsyncDriver) -> None:
    with pytest.raises(CypherSyntaxError, match="datetime"):
        await bolt_driver.execute_query("RETURN datetime() AS t")
    assert await _count(bolt_driver, "RETURN timestamp() AS n") > 1_700_000_000_000  # epoch millis work


async def test_bolt_quirk_no_constraints(bolt_driver: AsyncDriver) -> None:
    with pytest.raises(Neo4jError):
        await bolt_driver.execute_query("CREATE CONSTRAINT FOR (u:User) REQUIRE u.id IS UNIQUE")


async def test_bolt_quirk_rollback_does_not_undo(bolt_driver: AsyncDriver) -> None:
    (marker,) = _ids(1)
    async with bolt_driver.session() as session:
        tx = await session.begin_transaction()
        await (await tx.run("CREATE (:Marker {id: $id})", id=marker)).consume()
        await tx.rollback()
    assert await _count(bolt_driver, "MATCH (m:Marker {id: $id}) RETURN count(m) AS n", id=marker) == 1


async def test_bolt_drivers_can_be_opened_and_closed(bolt_server: BoltServer) -> None:
    # Each close sends GOODBYE, which without the relay hangs the next handshake.
    for i in range(3):
        driver = AsyncGraphDatabase.driver(bolt_server.uri, auth=None)
        try:
            records, _, _ = await asyncio.wait_for(driver.execute_query("RETURN $i AS n", i=i), 10)
            assert records[0]["n"] == i
        finally:
            await driver.close()
