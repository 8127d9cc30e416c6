"""Each real-server fixture starts a server that does real work (see tests/servers)."""

from __future__ import annotations

import uuid

import boto3  # type: ignore[import-untyped]
import redis.asyncio as aioredis
from neo4j import AsyncDriver
from pymongo import AsyncMongoClient

from tests.servers import MongoServer, MotoServer, RedisServer


def _unique(prefix: str) -> str:
    # the servers live for the whole session: every test keeps to its own names
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def test_redis_set_get(redis_server: RedisServer) -> None:
    client = aioredis.from_url(redis_server.url)
    try:
        key = _unique("smoke")
        await client.set(key, "value", ex=60)
        assert await client.get(key) == b"value"
    finally:
        await client.aclose()


def test_moto_dynamodb_put_query(moto_server: MotoServer) -> None:
    dynamodb = boto3.client("dynamodb", **moto_server.client_kwargs())
    table = _unique("timelines")
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for sk in ("001", "002", "003"):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "user-1"}, "sk": {"S": sk}})
    page = dynamodb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "user-1"}},
        ScanIndexForward=False,
        Limit=2,
    )
    assert [item["sk"]["S"] for item in page["Items"]] == ["003", "002"]
    assert "LastEvaluatedKey" in page


def test_moto_sqs_send_receive(moto_server: MotoServer) -> None:
    sqs = boto3.client("sqs", **moto_server.client_kwargs())
    queue_url = sqs.create_queue(QueueName=_unique("fanout"))["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="post-1")
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in messages] == ["post-1"]
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])


async def test_mongo_insert_find(mongo_server: MongoServer) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_server.uri)
    try:
        posts = client[_unique("smoke")]["posts"]
        await posts.insert_many([{"_id": i, "body": f"post {i}"} for i in range(3)])
        assert await posts.find_one({"_id": 1}) == {"_id": 1, "body": "post 1"}
    finally:
        await client.close()


async def test_bolt_merge_and_count(bolt_driver: AsyncDriver) -> None:
    a, b = _unique("u"), _unique("u")
    follow = "MERGE (a:User {id: $a}) MERGE (b:User {id: $b}) MERGE (a)-[:FOLLOWS]->(b)"
    for _ in range(2):  # MERGE twice: still one edge
        await bolt_driver.execute_query(follow, a=a, b=b)
    records, _, _ = await bolt_driver.execute_query(
        "MATCH (:User {id: $a})-[f:FOLLOWS]->(:User {id: $b}) RETURN count(f) AS n", a=a, b=b
    )
    assert records[0]["n"] == 1
