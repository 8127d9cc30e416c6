"""Contract-suite fixtures for the neptune backends (see tests/contract/conftest.py).

The Bolt server (FalkorDB behind the test relay) is shared by the whole session and
its one graph cannot be chosen per test over Bolt. Tests stay apart by their ids: the
contract tests mint fresh snowflake ids, so no test sees another's users or edges.

Followers come in blocks of 3 here (production: 1000), so pages, spans and unfollows in
the contract cross block boundaries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from murmur.settings import NeptuneSettings
from murmur.storage.neptune import NeptuneFollowGraph
from tests.servers import BoltServer


@pytest.fixture
async def neptune_graph(bolt_server: BoltServer) -> AsyncIterator[NeptuneFollowGraph]:
    # per test: an async driver belongs to the event loop that opened it
    graph = await NeptuneFollowGraph.open(NeptuneSettings(uri=bolt_server.uri), follower_block_size=3)
    yield graph
    await graph.close()
