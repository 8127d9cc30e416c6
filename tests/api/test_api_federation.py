"""The four subgraphs compose under Apollo Federation's own composition, into what the gateway serves.

Runs @apollo/composition (installed from npm into .cache/ on first use); skipped where node or
npm is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from graphql import GraphQLInterfaceType, GraphQLObjectType

from api.schema import SUBGRAPHS, build_schema
from murmur.settings import Settings

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".cache" / "apollo-composition"
PACKAGES = ("@apollo/composition@2.14.4", "graphql@16.15.0")
SCRIPT = Path(__file__).parent / "federation" / "compose.js"


@pytest.fixture(scope="module")
def node_modules() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to run Apollo's composition")
    modules = TOOLS / "node_modules"
    if not (modules / "@apollo" / "composition").is_dir():
        TOOLS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(TOOLS), *PACKAGES],
            check=True,
            timeout=300,
            capture_output=True,
        )
    return modules


async def _subgraph_sdls() -> dict[str, str]:
    sdls = {}
    for subgraph in SUBGRAPHS:
        # async: a subgraph verifies the viewer's token (a store read) as each operation runs
        result = await subgraph.schema().execute("{ _service { sdl } }")
        assert result.errors is None and result.data is not None
        sdls[subgraph.name] = result.data["_service"]["sdl"]
    return sdls


async def test_subgraphs_compose_into_the_gateway_schema(node_modules: Path, settings: Settings) -> None:
    sdls = await _subgraph_sdls()
    run = subprocess.run(  # noqa: ASYNC221 - a test: nothing else runs on its loop
        ["node", str(SCRIPT)],
        input=json.dumps(sdls),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "NODE_PATH": str(node_modules)},
    )
    composed = json.loads(run.stdout)
    assert composed["errors"] == []
    assert composed["hints"] == []

    gateway = build_schema(settings)._schema
    served = {
        name: sorted(graphql_type.fields)
        for name, graphql_type in gateway.type_map.items()
        if not name.startswith("__") and isinstance(graphql_type, (GraphQLObjectType, GraphQLInterfaceType))
    }
    assert served == composed["types"]
