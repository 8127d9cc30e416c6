"""Materialised home timelines in DynamoDB.

Table (on-demand): partition key `owner` (S), sort key `post` (N). Post ids are time-ordered
53-bit numbers, so a Query with ScanIndexForward=False reads a timeline newest first. An
entry item is (owner, post, author); each owner also has a size item at post = 0, below
every id, holding `size`. Queries for entries start at post 1, so they never see it.

A write (fan-out, backfill) runs in four steps, each batched or bounded-concurrent:

1. BatchGetItem (strongly consistent) finds the entries already there: a redelivered task
   writes nothing and counts nothing.
2. BatchWriteItem puts the new entries, 25 a call, several calls in flight; unprocessed
   items are resent with exponential backoff and jitter.
3. UpdateItem `ADD size :n` per owner returns the new size: no owner is read to be counted.
4. An owner now past the cap is trimmed: a Query (Limit = excess) finds its oldest entries,
   each goes by DeleteItem with ReturnValues=ALL_OLD, and the size drops by the deletions
   that really happened, so two workers trimming one timeline at once never count the same
   entry twice; it repeats until the size is back at the cap.

Why a size item: without it every push would Query the whole timeline to learn its size
(cap items of ~60 bytes: ~12 RCU strongly consistent at cap 800; moto scans the whole table per Query),
while the counter costs one small UpdateItem and a Query only for full timelines.

Why not TransactWriteItems (entry put + size update, conditional on the entry being new):
it would close the one gap left here — a worker killed between steps 2 and 3 leaves that
owner's size one low (its entry is found on redelivery, so it is not counted again) — but
each item in a transaction costs two write units (a push to a full timeline: 6 WCU against
4 WCU + 2 RCU here), a transaction over several owners is cancelled whole by one redelivered
entry or full timeline, and moto's implementation deep-copies every table per call and
restores the copy on cancellation (O(table), not isolated from concurrent calls), so it
could not be tested at fan-out scale. `replace` sets a size afresh.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, TypeVar, cast

from murmur.domain import InvalidInput, PermanentStoreError, PostId, TimelineEntry, UserId
from murmur.settings import AwsSettings
from murmur.storage.aws import Backoff, call, chunks, drain, error_code, gather_bounded, open_client
from murmur.storage.counting import counted

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

T = TypeVar("T")
Item = dict[str, Any]  # DynamoDB's attribute-value JSON
Row = tuple[str, int, str]  # owner, post, author

_SIZE_ITEM = 0  # the size item's sort key: below every post id
_MAX_DIGITS = 18
_ABOVE_EVERY_ID = 1 << 62
_NAMES = {"#o": "owner", "#p": "post", "#a": "author", "#s": "size"}  # `owner` and `size` are reserved words
_BATCH_GET = 100  # DynamoDB's limits per call
_BATCH_WRITE = 25
_TABLE_READY_SECONDS = 60.0


def _number(value: str) -> int | None:
    """The positive number a canonical decimal id stands for; None for anything else."""
    if not (0 < len(value) <= _MAX_DIGITS and value.isascii() and value.isdigit()) or value[0] == "0":
        return None
    return int(value)


def _require(value: str) -> str:
    """An id the caller vouches for (it names an item being written)."""
    if _number(value) is None:
        raise PermanentStoreError(f"malformed id {value!r}")
    return value


def _key(owner: str, post: int) -> Item:
    return {"owner": {"S": owner}, "post": {"N": str(post)}}


def _entry(item: Item) -> TimelineEntry:
    return TimelineEntry(post_id=PostId(item["post"]["N"]), author_id=UserId(item["author"]["S"]))


@counted("timelines")
class DynamoTimelineStore:
    def __init__(
        self,
        *,
        client: DynamoDBClient,
        table: str,
        cap: int,
        stack: AsyncExitStack,
        backoff: Backoff,
        concurrency: int,
    ) -> None:
        if cap < 1:
            raise ValueError("a timeline cap must be at least 1")
        self.client = client  # public for instrumentation: tests inject faults through its event hooks
        self.cap = cap
        self._table = table
        self._stack = stack
        self._backoff = backoff
        self._concurrency = concurrency

    @classmethod
    async def open(
        cls,
        settings: AwsSettings,
        *,
        cap: int,
        create_missing: bool,
        backoff: Backoff | None = None,
        concurrency: int = 16,
    ) -> DynamoTimelineStore:
        """Connect; create the table (on-demand) if it is missing and create_missing is set."""
        stack = AsyncExitStack()
        try:
            client = await open_client("dynamodb", settings, stack, pool=concurrency)
            store = cls(
                client=client,
                table=settings.timelines_table,
                cap=cap,
                stack=stack,
                backoff=backoff or Backoff(),
                concurrency=concurrency,
            )
            await store._ensure_table(create_missing)
        except BaseException:
            await stack.aclose()
            raise
        return store

    async def close(self) -> None:
        await self._stack.aclose()

    async def ping(self) -> None:
        await self._call(lambda: self.client.describe_table(TableName=self._table), "ping")

    # --- the TimelineStore protocol ---------------------------------------------------------

    async def add_to_timelines(self, *, owners: Sequence[UserId], entry: TimelineEntry) -> None:
        post = int(_require(entry.post_id))
        author = _require(entry.author_id)
        await self._insert([(_require(owner), post, author) for owner in dict.fromkeys(owners)])

    async def add_entries(self, *, owner: UserId, entries: Sequence[TimelineEntry]) -> None:
        key = _require(owner)
        await self._insert([(key, post, author) for post, author in self._newest(entries)])

    async def remove_post(self, *, owners: Sequence[UserId], post_id: PostId) -> list[UserId]:
        post = _number(post_id)
        keys = [owner for owner in dict.fromkeys(owners) if _number(owner) is not None]
        if post is None or not keys:
            return []
        removed = await self._delete_counted([(owner, post) for owner in keys])
        await self._grow({owner: -1 for owner, _ in removed})
        return [UserId(owner) for owner, _ in removed]

    async def remove_author(self, *, owner: UserId, author_id: UserId) -> int:
        if _number(owner) is None or _number(author_id) is None:
            return 0
        items = await self._query_all(
            owner, filter_expression="#a = :a", values={":a": {"S": author_id}}, projection="#p"
        )
        removed = await self._delete_counted([(owner, int(item["post"]["N"])) for item in items])
        await self._grow({owner: -len(removed)})
        return len(removed)

    async def timeline(self, *, owner: UserId, before: PostId | None, limit: int) -> list[TimelineEntry]:
        below = _cursor_bound(before)
        if _number(owner) is None or limit <= 0 or below <= 1:
            return []
        entries: list[TimelineEntry] = []
        start: Item | None = None
        while len(entries) < limit:
            page = await self._query(
                owner, low=1, high=below - 1, newest_first=True, limit=limit - len(entries), start=start
            )
            entries.extend(_entry(item) for item in page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if start is None:
                break
        return entries

    async def timeline_sizes(self, *, owners: Sequence[UserId]) -> dict[UserId, int]:
        valid = [owner for owner in dict.fromkeys(owners) if _number(owner) is not None]
        items = await self._batch_get([_key(owner, _SIZE_ITEM) for owner in valid], projection="#o, #s")
        sizes = {item["owner"]["S"]: int(item.get("size", {}).get("N", "0")) for item in items}
        return {owner: sizes.get(owner, 0) for owner in owners}

    async def replace(self, *, owner: UserId, entries: Sequence[TimelineEntry]) -> None:
        key = _require(owner)
        newest = self._newest(entries)
        kept = {post for post, _ in newest}
        old = [int(item["post"]["N"]) for item in await self._query_all(key, projection="#p")]
        await self._batch_write([{"DeleteRequest": {"Key": _key(key, p)}} for p in old if p not in kept])
        await self._put([(key, post, author) for post, author in newest])
        await self._call(
            lambda: self.client.update_item(
                TableName=self._table,
                Key=_key(key, _SIZE_ITEM),
                UpdateExpression="SET #s = :n",
                ExpressionAttributeNames={"#s": "size"},
                ExpressionAttributeValues={":n": {"N": str(len(newest))}},
            ),
            "replace",
        )

    # --- writing and counting -----------------------------------------------------------------

    def _newest(self, entries: Iterable[TimelineEntry]) -> list[tuple[int, str]]:
        """(post, author) of the newest `cap` distinct posts: only they can survive the trim."""
        authors = {int(_require(e.post_id)): _require(e.author_id) for e in entries}
        return sorted(authors.items(), reverse=True)[: self.cap]

    async def _insert(self, rows: list[Row]) -> None:
        """Write the entries not there yet, count them, trim whoever went past the cap."""
        if not rows:
            return
        present = {
            (item["owner"]["S"], int(item["post"]["N"]))
            for item in await self._batch_get([_key(o, p) for o, p, _ in rows], projection="#o, #p")
        }
        new = [row for row in rows if (row[0], row[1]) not in present]
        await self._put(new)
        added: dict[str, int] = {}
        for owner, _, _ in new:
            added[owner] = added.get(owner, 0) + 1
        await self._grow(added)

    async def _grow(self, deltas: Mapping[str, int]) -> None:
        """Add to owners' sizes; trim every timeline that went past the cap."""
        changed = [(owner, delta) for owner, delta in deltas.items() if delta]
        sizes = await gather_bounded(
            (self._add_to_size(owner, delta) for owner, delta in changed), limit=self._concurrency
        )
        over = [(owner, size - self.cap) for (owner, _), size in zip(changed, sizes, strict=True)]
        await gather_bounded(
            (self._trim(owner, excess) for owner, excess in over if excess > 0), limit=self._concurrency
        )

    async def _add_to_size(self, owner: str, delta: int) -> int:
        response = await self._call(
            lambda: self.client.update_item(
                TableName=self._table,
                Key=_key(owner, _SIZE_ITEM),
                UpdateExpression="ADD #s :d",
                ExpressionAttributeNames={"#s": "size"},
                ExpressionAttributeValues={":d": {"N": str(delta)}},
                ReturnValues="UPDATED_NEW",
            ),
            "count",
        )
        return int(response["Attributes"]["size"]["N"])

    async def _trim(self, owner: str, excess: int) -> None:
        """Delete the oldest entries until the size is back at the cap."""
        while excess > 0:
            page = await self._query(owner, low=1, high=_ABOVE_EVERY_ID, newest_first=False, limit=excess)
            oldest = [(owner, int(item["post"]["N"])) for item in page.get("Items", [])]
            if not oldest:
                return  # nothing left to trim (the size ran ahead of the entries)
            removed = await self._delete_counted(oldest)
            excess = await self._add_to_size(owner, -len(removed)) - self.cap

    async def _delete_counted(self, keys: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """Delete items one by one, returning those that were there: each deletion is counted
        by exactly one caller, however many delete the same item at once."""

        async def delete(owner: str, post: int) -> bool:
            response = await self._call(
                lambda: self.client.delete_item(
                    TableName=self._table, Key=_key(owner, post), ReturnValues="ALL_OLD"
                ),
                "delete",
            )
            return bool(response.get("Attributes"))

        existed = await gather_bounded((delete(o, p) for o, p in keys), limit=self._concurrency)
        return [key for key, was_there in zip(keys, existed, strict=True) if was_there]

    async def _put(self, rows: list[Row]) -> None:
        await self._batch_write(
            [
                {"PutRequest": {"Item": {**_key(owner, post), "author": {"S": author}}}}
                for owner, post, author in rows
            ]
        )

    # --- batched and paged calls ---------------------------------------------------------------

    async def _batch_write(self, requests: list[Item]) -> None:
        """BatchWriteItem, 25 requests a call, several in flight; unprocessed ones resent."""

        async def send(pending: list[Item]) -> list[Item]:
            response = await self._call(
                lambda: self.client.batch_write_item(RequestItems={self._table: pending}),  # type: ignore[dict-item]
                "batch write",
            )
            return cast(list[Item], response.get("UnprocessedItems", {}).get(self._table, []))

        await gather_bounded(
            (
                drain(send, list(chunk), backoff=self._backoff, what="batch write")
                for chunk in chunks(requests, _BATCH_WRITE)
            ),
            limit=self._concurrency,
        )

    async def _batch_get(self, keys: list[Item], *, projection: str) -> list[Item]:
        """BatchGetItem (strongly consistent), 100 keys a call; unprocessed keys asked again."""
        found: list[Item] = []
        names = {name: _NAMES[name] for name in _NAMES if name in projection}

        async def send(pending: list[Item]) -> list[Item]:
            request = {
                "Keys": pending,
                "ConsistentRead": True,
                "ProjectionExpression": projection,
                "ExpressionAttributeNames": names,
            }
            response: Item = cast(
                Item,
                await self._call(
                    lambda: self.client.batch_get_item(RequestItems={self._table: request}),  # type: ignore[dict-item]
                    "batch get",
                ),
            )
            found.extend(response.get("Responses", {}).get(self._table, []))
            return list(response.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", []))

        await gather_bounded(
            (
                drain(send, list(chunk), backoff=self._backoff, what="batch get")
                for chunk in chunks(keys, _BATCH_GET)
            ),
            limit=self._concurrency,
        )
        return found

    async def _query(
        self,
        owner: str,
        *,
        low: int,
        high: int,
        newest_first: bool,
        limit: int | None = None,
        start: Item | None = None,
        filter_expression: str | None = None,
        values: Item | None = None,
        projection: str | None = None,
    ) -> Item:
        """One page of one owner's entries with low <= post <= high (strongly consistent)."""
        request: Item = {
            "TableName": self._table,
            "KeyConditionExpression": "#o = :o AND #p BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":o": {"S": owner},
                ":low": {"N": str(low)},
                ":high": {"N": str(high)},
                **(values or {}),
            },
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        expressions = " ".join(
            filter(None, [request["KeyConditionExpression"], filter_expression, projection])
        )
        request["ExpressionAttributeNames"] = {n: v for n, v in _NAMES.items() if n in expressions}
        if limit is not None:
            request["Limit"] = limit
        if start is not None:
            request["ExclusiveStartKey"] = start
        if filter_expression is not None:
            request["FilterExpression"] = filter_expression
        if projection is not None:
            request["ProjectionExpression"] = projection
        return cast(Item, await self._call(lambda: self.client.query(**request), "query"))

    async def _query_all(
        self, owner: str, *, projection: str, filter_expression: str | None = None, values: Item | None = None
    ) -> list[Item]:
        """Every entry of one owner's timeline (at most a little over cap), following pages."""
        items: list[Item] = []
        start: Item | None = None
        while True:
            page = await self._query(
                owner,
                low=1,
                high=_ABOVE_EVERY_ID,
                newest_first=True,
                start=start,
                filter_expression=filter_expression,
                values=values,
                projection=projection,
            )
            items.extend(page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if start is None:
                return items

    async def _call(self, operation: Callable[[], Awaitable[T]], what: str) -> T:
        return await call(operation, backoff=self._backoff, what=f"DynamoDB {self._table} {what}")

    # --- the table -----------------------------------------------------------------------------

    async def _ensure_table(self, create_missing: bool) -> None:
        try:
            await self._describe()
            return
        except PermanentStoreError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
        if not create_missing:
            raise PermanentStoreError(f"DynamoDB table {self._table!r} does not exist (run `murmur init`)")
        try:
            await self._call(
                lambda: self.client.create_table(
                    TableName=self._table,
                    KeySchema=[
                        {"AttributeName": "owner", "KeyType": "HASH"},
                        {"AttributeName": "post", "KeyType": "RANGE"},
                    ],
                    AttributeDefinitions=[
                        {"AttributeName": "owner", "AttributeType": "S"},
                        {"AttributeName": "post", "AttributeType": "N"},
                    ],
                    BillingMode="PAY_PER_REQUEST",
                ),
                "create table",
            )
        except PermanentStoreError as exc:
            if error_code(exc) != "ResourceInUseException":  # created meanwhile by another process
                raise
        deadline = time.monotonic() + _TABLE_READY_SECONDS
        while (await self._describe()) != "ACTIVE":
            if time.monotonic() > deadline:
                raise PermanentStoreError(f"DynamoDB table {self._table!r} did not become ACTIVE")
            await asyncio.sleep(0.5)

    async def _describe(self) -> str:
        """The table's status; PermanentStoreError (from ResourceNotFoundException) if there is none."""
        response = await self._call(lambda: self.client.describe_table(TableName=self._table), "describe")
        return str(response["Table"].get("TableStatus", ""))


def _cursor_bound(value: str | None) -> int:
    """The exclusive upper bound a paging cursor sets; a malformed one (from a client) is invalid input."""
    if value is None:
        return _ABOVE_EVERY_ID
    bound = _number(value)
    if bound is None:
        raise InvalidInput("Invalid cursor.", field="before")
    return bound
