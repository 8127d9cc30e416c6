"""PostStore contract: posts, newest-first reads by author, and the transactional outbox."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from contract_helpers import created_message, deleted_message, new_id, new_post

from murmur.domain import Delivery, IdTaken, PostId, UserId
from murmur.storage.base import OutboxMessage, PostStore
from tests.support.polling import Window, until


async def pending(
    post_store: PostStore, *, older_than_seconds: float = 0, limit: int = 10
) -> list[OutboxMessage]:
    """What a relay would publish now (claimed only for an instant, so the next look sees it again)."""
    return await post_store.claim_outbox(older_than_seconds=older_than_seconds, limit=limit, lease_seconds=0)


def author() -> UserId:
    return UserId(new_id())


async def test_a_created_post_reads_back_by_id(post_store: PostStore) -> None:
    post = new_post(author(), delivery=Delivery.PULLED)
    await post_store.create_post(post=post, outbox=created_message(post))

    assert await post_store.posts_by_id(ids=[post.id]) == {post.id: post}
    assert await post_store.posts_by_id(ids=[PostId(new_id()), PostId("junk")]) == {}
    assert await post_store.count_posts() == 1


async def test_creating_a_post_saves_its_outbox_message(post_store: PostStore) -> None:
    post = new_post(author())
    message = created_message(post)
    await post_store.create_post(post=post, outbox=message)

    assert await pending(post_store) == [message]
    # too recent for a relay that waits for the first publish to happen
    assert await pending(post_store, older_than_seconds=3600) == []


async def test_published_outbox_messages_are_no_longer_pending(post_store: PostStore) -> None:
    posts = [new_post(author()) for _ in range(3)]
    for post in posts:
        await post_store.create_post(post=post, outbox=created_message(post))

    await post_store.outbox_published(ids=[f"{posts[0].id}:created", f"{posts[2].id}:created"])
    assert await pending(post_store) == [created_message(posts[1])]
    await post_store.outbox_published(ids=[])
    await post_store.outbox_published(ids=["never-saved"])
    assert len(await pending(post_store)) == 1


async def test_outbox_claims_come_oldest_first_and_limited(post_store: PostStore) -> None:
    posts = [new_post(author()) for _ in range(5)]
    for post in posts:
        await post_store.create_post(post=post, outbox=created_message(post))

    claimed = await pending(post_store, limit=3)
    assert claimed == [created_message(p) for p in posts[:3]]


async def test_outbox_claims_wait_for_the_grace_period(post_store: PostStore) -> None:
    post = new_post(author())
    grace = Window(0.3)  # before the message exists: its age counts from later
    await post_store.create_post(post=post, outbox=created_message(post))

    early = await pending(post_store, older_than_seconds=0.3)
    assert early == [] or not grace.open(), "claimed inside the grace period"
    await until(
        lambda: pending(post_store, older_than_seconds=0.3),
        lambda claimed: claimed == [created_message(post)],
        what="the message claimable once the grace period is over",
    )


async def test_a_refused_post_leaves_no_outbox_message(post_store: PostStore) -> None:
    post = new_post(author())
    await post_store.create_post(post=post, outbox=created_message(post))
    await post_store.outbox_published(ids=[created_message(post).id])

    duplicate = replace(new_post(author()), id=post.id, body="same id, other post")
    with pytest.raises(IdTaken):
        await post_store.create_post(post=duplicate, outbox=deleted_message("other"))
    assert await pending(post_store) == []
    assert await post_store.posts_by_id(ids=[post.id]) == {post.id: post}


async def test_deleting_a_post_returns_it_and_saves_the_outbox_message(post_store: PostStore) -> None:
    post = new_post(author())
    await post_store.create_post(post=post, outbox=created_message(post))
    await post_store.outbox_published(ids=[created_message(post).id])

    deleted = await post_store.delete_post(post_id=post.id, outbox=deleted_message(post.id))
    assert deleted == post
    assert await post_store.posts_by_id(ids=[post.id]) == {}
    assert await pending(post_store) == [deleted_message(post.id)]
    assert await post_store.count_posts() == 0


async def test_deleting_a_missing_post_is_none_and_saves_nothing(post_store: PostStore) -> None:
    missing = PostId(new_id())
    assert await post_store.delete_post(post_id=missing, outbox=deleted_message(missing)) is None
    assert await post_store.delete_post(post_id=PostId("junk"), outbox=deleted_message("junk")) is None
    assert await pending(post_store) == []


async def test_a_claimed_message_is_held_from_other_relays_until_its_lease_ends(
    post_store: PostStore,
) -> None:
    posts = [new_post(author()) for _ in range(3)]
    for post in posts:
        await post_store.create_post(post=post, outbox=created_message(post))

    # the first relay's lease outlasts the test; the second's runs out, as its relay dies
    first = await post_store.claim_outbox(older_than_seconds=0, limit=2, lease_seconds=60)
    lease = Window(0.5)
    second = await post_store.claim_outbox(older_than_seconds=0, limit=10, lease_seconds=0.5)
    assert first == [created_message(p) for p in posts[:2]]
    assert second == [created_message(posts[2])]
    third = await post_store.claim_outbox(older_than_seconds=0, limit=10, lease_seconds=0.5)
    assert third == [] or not lease.open(), "claimed again inside another relay's lease"

    await post_store.outbox_published(ids=[m.id for m in first])
    await until(
        lambda: pending(post_store),
        lambda claimed: claimed == second,
        what="the dead relay's message claimable again (and the published ones gone)",
    )


async def test_relays_racing_never_claim_one_message_twice(post_store: PostStore) -> None:
    posts = [new_post(author()) for _ in range(12)]
    for post in posts:
        await post_store.create_post(post=post, outbox=created_message(post))

    claims = await asyncio.gather(
        *(post_store.claim_outbox(older_than_seconds=0, limit=4, lease_seconds=30) for _ in range(5))
    )
    claimed = [message.id for claim in claims for message in claim]
    assert sorted(claimed) == sorted(created_message(p).id for p in posts)


async def test_an_outbox_message_saved_on_its_own_is_pending(post_store: PostStore) -> None:
    message = OutboxMessage(id="follow:abc", body=b"follow task")
    await post_store.save_outbox(message=message)

    assert await pending(post_store) == [message]
    await post_store.outbox_published(ids=[message.id])
    assert await pending(post_store) == []


async def test_a_message_saved_held_waits_for_its_saver_not_for_relays(post_store: PostStore) -> None:
    """A follow's task is held while its graph write may still be in flight: relays leave
    it alone for the hold, and the saver publishes it (or a relay does, after the hold)."""
    held = OutboxMessage(id="follow:held", body=b"follow task")
    free = OutboxMessage(id="follow:free", body=b"another follow task")
    await post_store.save_outbox(message=held, held_seconds=30)
    await post_store.save_outbox(message=free)

    assert await post_store.claim_outbox(older_than_seconds=0, limit=10, lease_seconds=30) == [free]
    await post_store.outbox_published(ids=[held.id])  # the saver published it
    await post_store.outbox_published(ids=[free.id])
    assert await pending(post_store) == []


async def test_pulled_authors_are_those_with_a_pulled_post(post_store: PostStore) -> None:
    pulled, pushed, silent = author(), author(), author()
    for who, delivery in ((pulled, Delivery.PUSHED), (pulled, Delivery.PULLED), (pushed, Delivery.PUSHED)):
        post = new_post(who, delivery=delivery)
        await post_store.create_post(post=post, outbox=created_message(post))

    assert await post_store.pulled_authors(author_ids=[pulled, pushed, silent, UserId("junk")]) == {pulled}
    assert await post_store.pulled_authors(author_ids=[]) == set()


# --- recent_posts ----------------------------------------------------------------------


async def make_posts(post_store: PostStore, authors: list[UserId], per_author: int) -> list[str]:
    """Posts by the authors, interleaved; their ids newest first."""
    ids: list[str] = []
    for _ in range(per_author):
        for who in authors:
            post = new_post(who, delivery=Delivery.PULLED if len(ids) % 3 == 0 else Delivery.PUSHED)
            await post_store.create_post(post=post, outbox=created_message(post))
            ids.append(post.id)
    return ids[::-1]


async def test_recent_posts_are_newest_first_across_authors(post_store: PostStore) -> None:
    authors = [author() for _ in range(3)]
    others = [author()]
    newest_first = await make_posts(post_store, authors, 4)
    await make_posts(post_store, others, 4)

    posts = await post_store.recent_posts(author_ids=authors, before=None, limit=5)
    assert [p.id for p in posts] == newest_first[:5]
    everything = await post_store.recent_posts(author_ids=authors, before=None, limit=100)
    assert [p.id for p in everything] == newest_first


async def test_recent_posts_page_by_the_last_post_seen(post_store: PostStore) -> None:
    authors = [author() for _ in range(4)]
    newest_first = await make_posts(post_store, authors, 5)

    seen: list[str] = []
    before: PostId | None = None
    while page := await post_store.recent_posts(author_ids=authors, before=before, limit=3):
        seen.extend(p.id for p in page)
        before = page[-1].id
        # a post written meanwhile lands ahead of every page: it never shifts the next one
        fresh = new_post(authors[0])
        await post_store.create_post(post=fresh, outbox=created_message(fresh))
    assert seen == newest_first


async def test_recent_posts_filter_by_delivery(post_store: PostStore) -> None:
    authors = [author() for _ in range(2)]
    await make_posts(post_store, authors, 6)

    all_posts = await post_store.recent_posts(author_ids=authors, before=None, limit=100)
    for delivery in Delivery:
        chosen = await post_store.recent_posts(author_ids=authors, before=None, limit=100, delivery=delivery)
        assert chosen == [p for p in all_posts if p.delivery is delivery]
        assert chosen
    first_pulled = await post_store.recent_posts(
        author_ids=authors, before=None, limit=2, delivery=Delivery.PULLED
    )
    assert first_pulled == [p for p in all_posts if p.delivery is Delivery.PULLED][:2]


async def test_recent_posts_respect_limit_per_prolific_author(post_store: PostStore) -> None:
    # one author with many recent posts must not crowd out the merge: the limit is global
    prolific, quiet = author(), author()
    old = new_post(quiet, at=datetime.now(UTC) - timedelta(days=1))
    await post_store.create_post(post=old, outbox=created_message(old))
    newest_first = await make_posts(post_store, [prolific], 30)

    posts = await post_store.recent_posts(author_ids=[quiet, prolific], before=None, limit=10)
    assert [p.id for p in posts] == newest_first[:10]
    tail = await post_store.recent_posts(
        author_ids=[quiet, prolific], before=PostId(newest_first[-1]), limit=10
    )
    assert tail == [old]


async def test_recent_posts_of_many_authors(post_store: PostStore) -> None:
    authors = [author() for _ in range(2000)]
    newest_first = await make_posts(post_store, authors[::50], 3)  # 40 of them posted

    posts = await post_store.recent_posts(author_ids=authors, before=None, limit=21)
    assert [p.id for p in posts] == newest_first[:21]


async def test_recent_posts_edge_cases(post_store: PostStore) -> None:
    who = author()
    newest_first = await make_posts(post_store, [who], 3)

    assert await post_store.recent_posts(author_ids=[], before=None, limit=10) == []
    assert await post_store.recent_posts(author_ids=[who], before=None, limit=0) == []
    assert await post_store.recent_posts(author_ids=[UserId(new_id())], before=None, limit=10) == []
    repeated = await post_store.recent_posts(author_ids=[who, who], before=None, limit=10)
    assert [p.id for p in repeated] == newest_first
    oldest = PostId(newest_first[-1])
    assert await post_store.recent_posts(author_ids=[who], before=oldest, limit=10) == []


async def test_imported_posts_read_back_with_no_outbox_message(post_store: PostStore) -> None:
    author = UserId(new_id())
    imported = [new_post(author, delivery=Delivery.PULLED if i % 2 else Delivery.PUSHED) for i in range(40)]
    await post_store.import_posts(posts=imported)

    assert await post_store.count_posts() == 40
    assert await post_store.posts_by_id(ids=[p.id for p in imported]) == {p.id: p for p in imported}
    newest = await post_store.recent_posts(
        author_ids=[author], before=None, limit=5, delivery=Delivery.PULLED
    )
    assert [p.id for p in newest] == [p.id for p in reversed(imported) if p.delivery is Delivery.PULLED][:5]
    assert await post_store.pulled_authors(author_ids=[author]) == {author}
    assert await post_store.claim_outbox(older_than_seconds=0, limit=10, lease_seconds=30) == []
