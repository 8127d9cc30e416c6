"""The gateway merges the four subgraphs; each subgraph stands on its own for federation."""

from __future__ import annotations

import pytest
import strawberry
from api_helpers import Client
from graphql import GraphQLObjectType

from api.feed.subgraph import FEED
from api.graph.subgraph import GRAPH
from api.posts.subgraph import POSTS
from api.schema import build_schema
from api.subgraph import Subgraph
from api.users.subgraph import USERS
from murmur.settings import Settings

# the fields each subgraph owns on the entities
OWNED = {
    "users": {"User": {"id", "username", "displayName", "bio", "createdAt"}},
    "posts": {"User": {"id", "posts"}, "Post": {"id", "body", "createdAt", "author"}},
    "graph": {"User": {"id", "followerCount", "followingCount", "viewerFollows", "followers", "following"}},
    "feed": {"Post": {"id"}},
}
SUBGRAPHS = {subgraph.name: subgraph for subgraph in (USERS, POSTS, GRAPH, FEED)}


def _fields(schema: strawberry.Schema, type_name: str) -> set[str]:
    graphql_type = schema._schema.get_type(type_name)
    assert isinstance(graphql_type, GraphQLObjectType), type_name
    return set(graphql_type.fields)


def test_gateway_entities_hold_every_slice(settings: Settings) -> None:
    gateway = build_schema(settings)
    for entity in ("User", "Post"):
        expected = set().union(*(owned.get(entity, set()) for owned in OWNED.values()))
        assert _fields(gateway, entity) == expected


def test_gateway_serves_the_contract(settings: Settings) -> None:
    schema = build_schema(settings)._schema
    assert set(schema.query_type.fields) >= {"viewer", "user", "post", "timeline"}
    assert set(schema.mutation_type.fields) == {
        "register", "login", "logOutEverywhere", "createPost", "deletePost", "follow", "unfollow",
        "updateProfile",
    }  # fmt: skip
    assert set(schema.subscription_type.fields) == {"timelineEvents"}
    # a gateway is no subgraph: no federation plumbing leaks into it
    assert "_entities" not in schema.query_type.fields
    assert "_service" not in schema.query_type.fields


@pytest.mark.parametrize("name", sorted(SUBGRAPHS))
async def test_subgraph_sdl_holds_only_its_own_fields(name: str, client: Client) -> None:
    subgraph: Subgraph = SUBGRAPHS[name]
    schema = subgraph.schema()
    result = await schema.execute("{ _service { sdl } }")
    assert result.errors is None
    assert result.data is not None
    sdl = result.data["_service"]["sdl"]
    assert '@link(url: "https://specs.apollo.dev/federation/v2' in sdl
    for entity, owned in OWNED[name].items():
        assert _fields(schema, entity) == owned
        assert f'type {entity} @key(fields: "id")' in sdl
    for entity in {"User", "Post"} - set(OWNED[name]):
        assert f"type {entity} " not in sdl


async def test_entities_resolve_in_each_subgraph(client: Client) -> None:
    token, user_id = await client.register("ada")
    post = await client.data(
        'mutation { createPost(body: "entities") { ... on PostPayload { post { id } } } }', token
    )
    post_id = post["createPost"]["post"]["id"]
    queries = {
        "users": ("User", user_id, "... on User { username }", {"username": "ada"}),
        "posts": ("Post", post_id, "... on Post { body author { id } }", {"body": "entities", "author": {"id": user_id}}),
        "graph": ("User", user_id, "... on User { followerCount viewerFollows }", {"followerCount": 0, "viewerFollows": False}),
        "feed": ("Post", post_id, "... on Post { id }", {"id": post_id}),
    }  # fmt: skip
    for name, (typename, ident, selection, expected) in queries.items():
        schema = SUBGRAPHS[name].schema()
        query = "query($r: [_Any!]!) { _entities(representations: $r) { " + selection + " } }"
        representations = [{"__typename": typename, "id": ident}, {"__typename": typename, "id": "999999"}]
        result = await schema.execute(
            query, variable_values={"r": representations}, context_value=client.context()
        )
        assert result.errors is None, (name, result.errors)
        assert result.data == {"_entities": [expected, None]}, name
