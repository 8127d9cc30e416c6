"""Materialised home timelines in DynamoDB.

Table (on-demand): partition key `owner` (S), sort key `post` (N). Post ids are time-ordered
53-bit numbers, so a Query with ScanIndexForward=False reads a timeline newest first. An entry
item is (owner, post, author). Each owner also has a META item at post = 0, below every id,
holding the timeline's `floor` (see TimelineStore; absent = 0) and an `epoch` that every
removal bumps. Queries for entries start at post 1, so they never see it. There is no size
counter: a counter is read-modify-write, and two identical pushes racing each other would both
count (and both trim) one entry.

A push (`add_to_timelines`) is BatchWriteItem puts, 25 a call, several calls in flight,
unprocessed items resent with backoff; nothing is read. Puts without conditions are safe here
because they are idempotent: an entry's key is (owner, post) and its one attribute, the author,
is the same in every copy, so a redelivered or racing push rewrites the same item. A timeline
holds more than the cap between trims; a reader from the top never sees past the cap.

A push trims the timelines of about one owner in `trim_every` (100), chosen by a hash of owner
and post (trims.chosen_for_trim: racing copies of one push choose the same owners). A trim
reads META (epoch e, floor f) and then every key of the timeline, newest first; b is the cap-th
entry. If b >= f, the entries older than b go in TransactWriteItems, 99 deletes and one update
of META (`SET floor = b`, on condition that the epoch is still e and the floor is at most b) per
transaction, so deletes and the floor move together or not at all. The epoch is what makes
this safe: a removal that lands between the trim's Query and its deletes makes an entry older
than b part of the window; removals bump the epoch after deleting, so either the trim's
transaction fails (and the trim starts over from a fresh read) or it committed first and the
removal's caller, asking `shortfall` after the removal, sees the trimmed state and refills.
A floor at most b (not only equal to f) lets identical racing trims, and a trim's own later
transactions, all commit; a floor moved above b (a backfill) fails it. If b < f, the window
dips below the floor (a removal left the timeline short, a refill is pending): the entries
older than b can never be shown, so they go by plain BatchWriteItem deletes, floor unchanged.
A trim that keeps failing its condition gives up after a few tries: storage is a little
larger until the next one.

Costs per delivery, amortised (one post pushed to 100,000 timelines; bench/fanout_dynamodb.py):
- requests: 1/25 BatchWriteItem (0.04) + 1/100 trim. Below the cap a trim is a GetItem and one
  Query page (0.02: 0.06 in all). At the cap a timeline gains about 100 entries between trims,
  so a trim adds one or two transactions (99 deletes each): about 0.075 in all. The design
  before this one sent 1 to 4 (a BatchGetItem check per 100, an ADD to a size counter per
  owner, and at the cap a Query, a DeleteItem and another ADD).
- write units: 1 WCU per put (items < 1 KB). At the cap, each put's entry is later deleted
  inside a transaction, at 2 WCU per item: about 3 WCU per delivery (4 before: put, counter
  up, delete, counter down). The transaction is the price of deleting and moving the floor
  atomically.
- read units: per trim, a strongly consistent GetItem (1 RCU) and a keys-only Query (1 RCU
  below the cap; about (800 + 100) × 30 bytes, 7 RCU, at cap 800): 0.02 to 0.08 RCU.
Removals cost more (BatchGetItem to find holders, deletes, one UpdateItem per holder for the
epoch); they are much rarer than pushes. Reads: `timeline` is a Query page; `shortfall` a
BatchGetItem of META items and a COUNT Query per owner with a floor; `timeline_sizes` (tests,
storage studies) a COUNT Query per owner, or one Scan when the whole table reads less.

moto's TransactWriteItems deep-copies the table once per item and restores the copy when a
transaction is cancelled, so there a cancelled trim can undo writes made meanwhile by other
requests; DynamoDB isolates transactions. moto's ConsumedCapacity figures are nominal, not what
DynamoDB would bill (see bench/fanout_dynamodb.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from murmur.domain import InvalidInput, PermanentStoreError, PostId, TimelineEntry, UserId
from murmur.metrics import DYNAMODB_CAPACITY
from murmur.settings import AwsSettings
from murmur.storage.aws import Backoff, call, chunks, drain, error_code, gather_bounded, open_client
from murmur.storage.base import Shortfall
from murmur.storage.counting import counted
from murmur.storage.trims import chosen_for_trim

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

T = TypeVar("T")
Item = dict[str, Any]  # DynamoDB's attribute-value JSON

DEFAULT_TRIM_EVERY = 100
_META = 0  # the META item's sort key: below every post id
_MAX_DIGITS = 18
_ABOVE_EVERY_ID = 1 << 62
# `owner` is a reserved word; the others are named for uniformity
_NAMES = {"#o": "owner", "#p": "post", "#a": "author", "#f": "floor", "#e": "epoch"}
_BATCH_GET = 100  # DynamoDB's limits per call
_BATCH_WRITE = 25
_TRANSACTION_DELETES = 99  # a transaction takes 100 actions: 99 deletes and the META update
_TRIM_ATTEMPTS = 4
_TABLE_READY_SECONDS = 60.0
_READ_UNIT_BYTES = 4096  # what one strongly consistent read unit reads
_ITEM_BYTES = 64  # about an entry item's size (owner and author ids, post number, overhead)
_READS = DYNAMODB_CAPACITY.labels("read")
_WRITES = DYNAMODB_CAPACITY.labels("write")


def _number(value: str) -> int | None:
    """The positive number a canonical decimal id stands for; None for anything else (0 is
    META's key, never an id)."""
    if not (0 < len(value) <= _MAX_DIGITS and value.isascii() and value.isdigit()) or value[0] == "0":
        return None
    return int(value)


def _require(value: str) -> int:
    """An id the caller vouches for (it names an item being written)."""
    number = _number(value)
    if number is None:
        raise PermanentStoreError(f"malformed id {value!r}")
    return number


def _known(values: Iterable[str]) -> list[str]:
    """The well-formed ids among values, without repeats (a malformed one names no item)."""
    return [value for value in dict.fromkeys(values) if _number(value) is not None]


def _rows(entries: Iterable[TimelineEntry]) -> list[tuple[int, str]]:
    """(post, author) pairs, without repeats, newest first."""
    authors = {_require(e.post_id): str(_require(e.author_id)) for e in entries}
    return sorted(authors.items(), reverse=True)


def _key(owner: str, post: int) -> Item:
    return {"owner": {"S": owner}, "post": {"N": str(post)}}


def _names(*expressions: str | None) -> dict[str, str]:
    """The attribute-name placeholders these expressions use."""
    text = " ".join(filter(None, expressions))
    return {name: value for name, value in _NAMES.items() if name in text}


def _entry(item: Item) -> TimelineEntry:
    return TimelineEntry(post_id=PostId(item["post"]["N"]), author_id=UserId(item["author"]["S"]))


@dataclass(frozen=True, slots=True)
class _Meta:
    """A timeline's META item as read; None for an attribute it does not hold."""

    floor: int | None
    epoch: int | None

    @classmethod
    def of(cls, item: Item | None) -> _Meta:
        item = item or {}
        floor, epoch = item.get("floor"), item.get("epoch")
        return cls(
            floor=int(floor["N"]) if floor else None,
            epoch=int(epoch["N"]) if epoch else None,
        )


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
        trim_every: int = DEFAULT_TRIM_EVERY,
    ) -> None:
        if cap < 1:
            raise ValueError("a timeline cap must be at least 1")
        if trim_every < 1:
            raise ValueError("trim_every must be at least 1")
        self.client = client  # public for instrumentation: tests inject faults through its event hooks
        self.cap = cap
        self.trim_every = trim_every
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
        trim_every: int = DEFAULT_TRIM_EVERY,
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
                trim_every=trim_every,
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

    # --- writes -------------------------------------------------------------------------------

    async def add_to_timelines(self, *, owners: Sequence[UserId], entry: TimelineEntry) -> None:
        post, author = _require(entry.post_id), str(_require(entry.author_id))
        keys = list(dict.fromkeys(_require(owner) for owner in owners))
        if not keys:
            return
        await self._batch_write([_put(str(owner), post, author) for owner in keys])
        await gather_bounded(
            (self._trim(str(owner)) for owner in chosen_for_trim(keys, post, self.trim_every)),
            limit=self._concurrency,
        )

    async def backfill(
        self, *, owner: UserId, entries: Sequence[TimelineEntry], complete_above: PostId | None
    ) -> None:
        key = str(_require(owner))
        rows = _rows(entries)
        above = None if complete_above is None else _require(complete_above)
        await self._batch_write([_put(key, post, author) for post, author in rows])
        if above is not None:
            # only ever raised here: a floor already higher stays (the condition fails)
            await self._update_meta(
                key,
                "SET #f = :c",
                condition="attribute_not_exists(#f) OR #f < :c",
                values={":c": {"N": str(above)}},
            )
        await self._trim(key)

    async def remove_post(self, *, owners: Sequence[UserId], post_id: PostId) -> list[UserId]:
        post = _number(post_id)
        keys = _known(owners)
        if post is None or not keys:
            return []
        found = await self._batch_get([_key(owner, post) for owner in keys], projection="#o")
        holding = {item["owner"]["S"] for item in found}
        holders = [owner for owner in keys if owner in holding]
        await self._batch_write([{"DeleteRequest": {"Key": _key(owner, post)}} for owner in holders])
        # after the deletes, never before: see the module docstring
        await gather_bounded((self._bump_epoch(owner) for owner in holders), limit=self._concurrency)
        return [UserId(owner) for owner in holders]

    async def remove_author(self, *, owner: UserId, author_id: UserId) -> int:
        if _number(owner) is None or _number(author_id) is None:
            return 0
        items = await self._query_all(
            owner, projection="#p", filter_expression="#a = :a", values={":a": {"S": author_id}}
        )
        posts = [int(item["post"]["N"]) for item in items]
        if not posts:
            return 0
        await self._batch_write([{"DeleteRequest": {"Key": _key(owner, post)}} for post in posts])
        await self._bump_epoch(owner)
        return len(posts)

    async def refill(
        self, *, owner: UserId, entries: Sequence[TimelineEntry], below: PostId, wanted: int
    ) -> bool:
        key, below_key = str(_require(owner)), _require(below)
        rows = _rows(entries)
        # true posts of the owner's sources: worth keeping even if the floor moved
        await self._batch_write([_put(key, post, author) for post, author in rows])
        floor = rows[-1][0] if rows and len(rows) >= wanted else 0
        return await self._update_meta(
            key,
            "SET #f = :new",
            condition="#f = :below",
            values={":new": {"N": str(floor)}, ":below": {"N": str(below_key)}},
        )

    async def rebuild(self, *, owner: UserId, entries: Sequence[TimelineEntry]) -> None:
        key = str(_require(owner))
        rows = _rows(entries)
        await self._batch_write([_put(key, post, author) for post, author in rows])
        floor = rows[-1][0] if len(rows) >= self.cap else 0
        # a new epoch too: a trim that read the old floor must not commit over this one
        await self._update_meta(
            key, "SET #f = :f ADD #e :one", values={":f": {"N": str(floor)}, ":one": {"N": "1"}}
        )
        await self._trim(key)

    # --- reads --------------------------------------------------------------------------------

    async def shortfall(self, *, owners: Sequence[UserId]) -> dict[UserId, Shortfall]:
        keys = _known(owners)
        metas = await self._batch_get([_key(owner, _META) for owner in keys], projection="#o, #f")
        floors = {item["owner"]["S"]: _Meta.of(item).floor or 0 for item in metas}
        exact = [(owner, floors[owner]) for owner in keys if floors.get(owner, 0) > 0]
        held = await gather_bounded(
            (self._count(owner, low=floor, at_most=self.cap) for owner, floor in exact),
            limit=self._concurrency,
        )
        return {
            UserId(owner): Shortfall(missing=self.cap - count, below=PostId(str(floor)))
            for (owner, floor), count in zip(exact, held, strict=True)
            if count < self.cap
        }

    async def timeline(self, *, owner: UserId, before: PostId | None, limit: int) -> list[TimelineEntry]:
        below = _cursor_bound(before)
        if before is None:
            limit = min(limit, self.cap)  # entries kept past the cap are not part of the timeline
        if _number(owner) is None or limit <= 0 or below <= 1:
            return []
        entries: list[TimelineEntry] = []
        start: Item | None = None
        while len(entries) < limit:
            page = await self._query(
                owner,
                low=1,
                high=below - 1,
                newest_first=True,
                limit=limit - len(entries),
                start=start,
                projection="#p, #a",
            )
            entries.extend(_entry(item) for item in page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if start is None:
                break
        return entries

    async def timeline_sizes(self, *, owners: Sequence[UserId]) -> dict[UserId, int]:
        keys = _known(owners)
        if keys and await self._scan_reads_less(len(keys)):
            sizes = await self._scan_counts(set(keys))
        else:
            counts = await gather_bounded(
                (self._count(owner, low=1) for owner in keys), limit=self._concurrency
            )
            sizes = dict(zip(keys, counts, strict=True))
        return {owner: sizes.get(owner, 0) for owner in owners}

    # --- trimming -----------------------------------------------------------------------------

    async def _trim(self, owner: str) -> None:
        """Cut a timeline back to the cap and raise its floor to the cap-th entry (see the
        module docstring for why it is safe against removals racing it)."""
        for attempt in range(_TRIM_ATTEMPTS):
            meta = await self._meta(owner)  # first: the epoch must predate what the Query sees
            posts = [int(item["post"]["N"]) for item in await self._query_all(owner, projection="#p")]
            if len(posts) <= self.cap:
                return
            bound, older = posts[self.cap - 1], posts[self.cap :]
            if bound < (meta.floor or 0):  # short, a refill pending: entries older than b are garbage
                await self._batch_write([{"DeleteRequest": {"Key": _key(owner, post)}} for post in older])
                return
            try:
                for chunk in chunks(older, _TRANSACTION_DELETES):
                    await self._delete_below_floor(owner, chunk, bound, meta)
                return
            except PermanentStoreError as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
            await asyncio.sleep(self._backoff.delay(attempt))
        log.info("gave up trimming timeline %s after %d attempts: it stays larger", owner, _TRIM_ATTEMPTS)

    async def _delete_below_floor(self, owner: str, posts: Sequence[int], floor: int, meta: _Meta) -> None:
        """Delete entries and set the floor in one transaction, if no removal (epoch) and no
        higher floor came since `meta` was read."""
        epoch = "attribute_not_exists(#e)" if meta.epoch is None else "#e = :e"
        condition = f"{epoch} AND (attribute_not_exists(#f) OR #f <= :b)"
        values: Item = {":b": {"N": str(floor)}}
        if meta.epoch is not None:
            values[":e"] = {"N": str(meta.epoch)}
        items: list[Item] = [
            {"Delete": {"TableName": self._table, "Key": _key(owner, post)}} for post in posts
        ]
        items.append(
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _key(owner, _META),
                    "UpdateExpression": "SET #f = :b",
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": _names(condition),
                    "ExpressionAttributeValues": values,
                }
            }
        )
        await self._call(
            lambda: self.client.transact_write_items(
                TransactItems=items,  # type: ignore[arg-type]
                ReturnConsumedCapacity="TOTAL",
            ),
            "trim",
            "write",
        )

    # --- META ---------------------------------------------------------------------------------

    async def _meta(self, owner: str) -> _Meta:
        response = await self._call(
            lambda: self.client.get_item(
                TableName=self._table,
                Key=_key(owner, _META),
                ConsistentRead=True,
                ProjectionExpression="#f, #e",
                ExpressionAttributeNames=_names("#f, #e"),
                ReturnConsumedCapacity="TOTAL",
            ),
            "meta",
            "read",
        )
        return _Meta.of(cast(Item | None, response.get("Item")))

    async def _bump_epoch(self, owner: str) -> None:
        await self._update_meta(owner, "ADD #e :one", values={":one": {"N": "1"}})

    async def _update_meta(
        self, owner: str, expression: str, *, values: Item, condition: str | None = None
    ) -> bool:
        """Update one META item; False if the condition failed."""
        request: Item = {
            "TableName": self._table,
            "Key": _key(owner, _META),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": _names(expression, condition),
            "ExpressionAttributeValues": values,
            "ReturnConsumedCapacity": "TOTAL",
        }
        if condition is not None:
            request["ConditionExpression"] = condition
        try:
            await self._call(lambda: self.client.update_item(**request), "meta update", "write")
        except PermanentStoreError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # --- batched and paged calls ---------------------------------------------------------------

    async def _batch_write(self, requests: list[Item]) -> None:
        """BatchWriteItem, 25 requests a call, several in flight; unprocessed ones resent."""
        if not requests:
            return

        async def send(pending: list[Item]) -> list[Item]:
            response = await self._call(
                lambda: self.client.batch_write_item(
                    RequestItems={self._table: pending},  # type: ignore[dict-item]
                    ReturnConsumedCapacity="TOTAL",
                ),
                "batch write",
                "write",
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

        async def send(pending: list[Item]) -> list[Item]:
            request = {
                "Keys": pending,
                "ConsistentRead": True,
                "ProjectionExpression": projection,
                "ExpressionAttributeNames": _names(projection),
            }
            response: Item = cast(
                Item,
                await self._call(
                    lambda: self.client.batch_get_item(
                        RequestItems={self._table: request},  # type: ignore[dict-item]
                        ReturnConsumedCapacity="TOTAL",
                    ),
                    "batch get",
                    "read",
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
        high: int = _ABOVE_EVERY_ID,
        newest_first: bool = True,
        limit: int | None = None,
        start: Item | None = None,
        filter_expression: str | None = None,
        values: Item | None = None,
        projection: str | None = None,
        count: bool = False,
    ) -> Item:
        """One page of one owner's items with low <= post <= high (strongly consistent)."""
        key_condition = "#o = :o AND #p BETWEEN :low AND :high"
        request: Item = {
            "TableName": self._table,
            "KeyConditionExpression": key_condition,
            "ExpressionAttributeNames": _names(key_condition, filter_expression, projection),
            "ExpressionAttributeValues": {
                ":o": {"S": owner},
                ":low": {"N": str(low)},
                ":high": {"N": str(high)},
                **(values or {}),
            },
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
            "ReturnConsumedCapacity": "TOTAL",
        }
        if limit is not None:
            request["Limit"] = limit
        if start is not None:
            request["ExclusiveStartKey"] = start
        if filter_expression is not None:
            request["FilterExpression"] = filter_expression
        if projection is not None:
            request["ProjectionExpression"] = projection
        if count:
            request["Select"] = "COUNT"
        return cast(Item, await self._call(lambda: self.client.query(**request), "query", "read"))

    async def _query_all(
        self, owner: str, *, projection: str, filter_expression: str | None = None, values: Item | None = None
    ) -> list[Item]:
        """Every entry of one owner's timeline, newest first, following pages."""
        items: list[Item] = []
        start: Item | None = None
        while True:
            page = await self._query(
                owner,
                low=1,
                start=start,
                filter_expression=filter_expression,
                values=values,
                projection=projection,
            )
            items.extend(page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if start is None:
                return items

    async def _count(self, owner: str, *, low: int, at_most: int | None = None) -> int:
        """How many entries with post >= low the owner holds (counting stops at `at_most`)."""
        total = 0
        start: Item | None = None
        while at_most is None or total < at_most:
            page = await self._query(
                owner,
                low=low,
                start=start,
                limit=None if at_most is None else at_most - total,
                count=True,
            )
            total += int(page.get("Count", 0))
            start = page.get("LastEvaluatedKey")
            if start is None:
                break
        return total

    async def _scan_reads_less(self, owners: int) -> bool:
        """Whether one Scan of the whole table reads fewer units than a Query per owner (each
        at least one). True for many owners of a small table (tests, seeding checks; moto, whose
        every Query sorts the whole table, most of all); never for a sample of a large one.
        DynamoDB refreshes the table's size and item count about every six hours; moto reports
        no size, only the count."""
        response = await self._call(lambda: self.client.describe_table(TableName=self._table), "describe")
        table = response["Table"]
        size = max(int(table.get("TableSizeBytes", 0)), _ITEM_BYTES * int(table.get("ItemCount", 0)))
        return size <= _READ_UNIT_BYTES * owners

    async def _scan_counts(self, owners: set[str]) -> dict[str, int]:
        """Entries per owner among `owners`, from one strongly consistent Scan."""
        request: Item = {
            "TableName": self._table,
            "ProjectionExpression": "#o",
            "FilterExpression": "#p >= :one",  # entries, not META
            "ExpressionAttributeNames": _names("#o #p"),
            "ExpressionAttributeValues": {":one": {"N": "1"}},
            "ConsistentRead": True,
            "ReturnConsumedCapacity": "TOTAL",
        }
        counts: dict[str, int] = {}
        while True:
            page = cast(Item, await self._call(lambda: self.client.scan(**request), "scan", "read"))
            for item in page.get("Items", []):
                owner = item["owner"]["S"]
                if owner in owners:
                    counts[owner] = counts.get(owner, 0) + 1
            if "LastEvaluatedKey" not in page:
                return counts
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    async def _call(
        self,
        operation: Callable[[], Awaitable[T]],
        what: str,
        capacity: Literal["read", "write"] | None = None,
    ) -> T:
        response = await call(operation, backoff=self._backoff, what=f"DynamoDB {self._table} {what}")
        if capacity is not None:
            _record_capacity(cast(Mapping[str, Any], response), capacity)
        return response

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


def _put(owner: str, post: int, author: str) -> Item:
    return {"PutRequest": {"Item": {**_key(owner, post), "author": {"S": author}}}}


def _record_capacity(response: Mapping[str, Any], kind: Literal["read", "write"]) -> None:
    """Add the capacity a response reports (one entry, or one per table for batches); moto
    leaves it out of some answers, which then count nothing."""
    consumed = response.get("ConsumedCapacity") or []
    units = sum(
        float(c.get("CapacityUnits", 0)) for c in (consumed if isinstance(consumed, list) else [consumed])
    )
    if units:
        (_READS if kind == "read" else _WRITES).inc(units)


def _cursor_bound(value: str | None) -> int:
    """The exclusive upper bound a paging cursor sets; a malformed one (from a client) is invalid input."""
    if value is None:
        return _ABOVE_EVERY_ID
    bound = _number(value)
    if bound is None:
        raise InvalidInput("Invalid cursor.", field="before")
    return bound
