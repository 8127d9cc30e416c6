"""Contract-suite fixtures for the mongo backends (see tests/contract/conftest.py).

Every test gets a database of its own on the session's SecantusDB, dropped afterwards,
so tests never see each other's users, posts, outbox messages or fan-out plans.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from murmur.settings import MongoSettings
from murmur.storage.mongo import MongoDatabase, MongoFanoutLedger, MongoPostStore, MongoUserStore
from tests.servers import MongoServer


@pytest.fixture
async def mongo_db(mongo_server: MongoServer) -> AsyncIterator[MongoDatabase]:
    settings = MongoSettings(uri=SecretStr(mongo_server.uri), database=f"contract_{uuid.uuid4().hex}")
    db = await MongoDatabase.open(settings, create_indexes=True)
    try:
        yield db
    finally:
        await db.client.drop_database(settings.database)
        await db.close()


@pytest.fixture
def mongo_users_store(mongo_db: MongoDatabase) -> MongoUserStore:
    return MongoUserStore(db=mongo_db)


@pytest.fixture
def mongo_post_store(mongo_db: MongoDatabase) -> MongoPostStore:
    return MongoPostStore(db=mongo_db)


@pytest.fixture
def mongo_ledger(mongo_db: MongoDatabase) -> MongoFanoutLedger:
    return MongoFanoutLedger(db=mongo_db)
