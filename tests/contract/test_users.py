"""UserStore contract."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from contract_helpers import new_id, new_user

from murmur.domain import IdTaken, NotFound, ProfileUpdate, UserId, UsernameTaken
from murmur.storage.base import UserStore


async def test_a_created_user_reads_back_by_id_and_by_username(users_store: UserStore) -> None:
    user = new_user("Alice")
    await users_store.create_user(user=user, password_hash="hash-a")

    assert await users_store.users_by_id(ids=[user.id]) == {user.id: user}
    assert await users_store.user_by_username(username="Alice") == user
    credentials = await users_store.credentials(username="Alice")
    assert credentials is not None
    assert (credentials.user, credentials.password_hash) == (user, "hash-a")


async def test_usernames_match_case_insensitively(users_store: UserStore) -> None:
    user = new_user("MixedCase")
    await users_store.create_user(user=user, password_hash="h")

    assert await users_store.user_by_username(username="mixedcase") == user
    found = await users_store.credentials(username="MIXEDCASE")
    assert found is not None and found.user == user
    assert found.user.username == "MixedCase"  # stored as typed


async def test_a_taken_username_is_refused_whatever_its_case(users_store: UserStore) -> None:
    await users_store.create_user(user=new_user("taken"), password_hash="h")

    with pytest.raises(UsernameTaken):
        await users_store.create_user(user=new_user("TAKEN"), password_hash="h")
    assert await users_store.count_users() == 1


async def test_unknown_users_are_absent(users_store: UserStore) -> None:
    user = new_user()
    await users_store.create_user(user=user, password_hash="h")

    found = await users_store.users_by_id(ids=[user.id, UserId(new_id()), UserId("not-an-id"), UserId("")])
    assert found == {user.id: user}
    assert await users_store.users_by_id(ids=[]) == {}
    assert await users_store.user_by_username(username="nobody") is None
    assert await users_store.credentials(username="nobody") is None


async def test_users_by_id_answers_many_at_once(users_store: UserStore) -> None:
    users = [new_user() for _ in range(300)]
    for user in users:
        await users_store.create_user(user=user, password_hash="h")

    found = await users_store.users_by_id(ids=[u.id for u in users])
    assert found == {u.id: u for u in users}
    assert await users_store.count_users() == 300


async def test_created_at_keeps_millisecond_precision(users_store: UserStore) -> None:
    at = datetime(2026, 5, 4, 3, 2, 1, 123_456, tzinfo=UTC)
    user = replace(new_user(), created_at=at)
    await users_store.create_user(user=user, password_hash="h")

    stored = (await users_store.users_by_id(ids=[user.id]))[user.id]
    assert stored.created_at == datetime(2026, 5, 4, 3, 2, 1, 123_000, tzinfo=UTC)


async def test_update_profile_sets_only_the_fields_given(users_store: UserStore) -> None:
    user = new_user()
    await users_store.create_user(user=user, password_hash="h")

    renamed = await users_store.update_profile(user_id=user.id, update=ProfileUpdate(display_name="New Name"))
    assert (renamed.display_name, renamed.bio) == ("New Name", "")
    bio_set = await users_store.update_profile(user_id=user.id, update=ProfileUpdate(bio="Hello"))
    assert (bio_set.display_name, bio_set.bio) == ("New Name", "Hello")
    cleared = await users_store.update_profile(user_id=user.id, update=ProfileUpdate(bio=""))
    assert cleared.bio == ""
    assert await users_store.users_by_id(ids=[user.id]) == {user.id: cleared}
    assert cleared == replace(user, display_name="New Name", bio="")


async def test_update_profile_of_an_unknown_user_is_not_found(users_store: UserStore) -> None:
    with pytest.raises(NotFound):
        await users_store.update_profile(user_id=UserId(new_id()), update=ProfileUpdate(bio="x"))
    with pytest.raises(NotFound):
        await users_store.update_profile(user_id=UserId("nonsense"), update=ProfileUpdate(bio="x"))


async def test_count_users_starts_at_zero(users_store: UserStore) -> None:
    assert await users_store.count_users() == 0


async def test_a_taken_id_is_refused_as_such(users_store: UserStore) -> None:
    first = new_user()
    await users_store.create_user(user=first, password_hash="h")

    with pytest.raises(IdTaken):
        await users_store.create_user(user=replace(new_user(), id=first.id), password_hash="h")
    assert await users_store.users_by_id(ids=[first.id]) == {first.id: first}


async def test_activity_is_recorded_and_answers_who_was_active(users_store: UserStore) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    lapsed, regular, fresh = new_user(), new_user(), new_user()
    for user in (lapsed, regular, fresh):
        await users_store.create_user(
            user=replace(user, created_at=now - timedelta(days=60)), password_hash="h"
        )
    assert await users_store.record_activity(
        user_id=lapsed.id, at=now - timedelta(days=40)
    ) == now - timedelta(days=60)  # never recorded: active when registered
    assert await users_store.record_activity(user_id=regular.id, at=now - timedelta(days=1)) is not None
    await users_store.record_activity(user_id=regular.id, at=now - timedelta(days=5))  # never moves back

    since = now - timedelta(days=30)
    everyone = [lapsed.id, regular.id, fresh.id, UserId(new_id())]
    assert await users_store.active_among(user_ids=everyone, since=since) == {regular.id}
    assert await users_store.record_activity(user_id=lapsed.id, at=now) == now - timedelta(days=40)
    assert await users_store.active_among(user_ids=everyone, since=since) == {regular.id, lapsed.id}
    assert await users_store.record_activity(user_id=UserId(new_id()), at=now) is None


async def test_imported_users_read_back_like_created_ones(users_store: UserStore) -> None:
    imported = [new_user(f"bulk{i}") for i in range(50)]
    await users_store.import_users(users=[(user, f"hash-{user.id}") for user in imported])

    assert await users_store.count_users() == 50
    assert await users_store.users_by_id(ids=[u.id for u in imported]) == {u.id: u for u in imported}
    credentials = await users_store.credentials(username="BULK7")
    assert credentials is not None and credentials.password_hash == f"hash-{imported[7].id}"
    with pytest.raises(UsernameTaken):  # the unique username still holds afterwards
        await users_store.create_user(user=new_user("bulk3"), password_hash="h")


async def test_revoking_tokens_bumps_the_version_that_login_and_checks_read(users_store: UserStore) -> None:
    user = new_user("revoker")
    await users_store.create_user(user=user, password_hash="h")
    assert await users_store.token_version(user_id=user.id) == 0
    credentials = await users_store.credentials(username="revoker")
    assert credentials is not None and credentials.token_version == 0

    assert await users_store.revoke_tokens(user_id=user.id) == 1
    assert await users_store.revoke_tokens(user_id=user.id) == 2
    assert await users_store.token_version(user_id=user.id) == 2
    credentials = await users_store.credentials(username="REVOKER")
    assert credentials is not None and credentials.token_version == 2


async def test_token_versions_of_unknown_users(users_store: UserStore) -> None:
    assert await users_store.token_version(user_id=UserId(new_id())) is None
    assert await users_store.token_version(user_id=UserId("not-an-id")) is None
    with pytest.raises(NotFound):
        await users_store.revoke_tokens(user_id=UserId(new_id()))
    with pytest.raises(NotFound):
        await users_store.revoke_tokens(user_id=UserId("not-an-id"))
