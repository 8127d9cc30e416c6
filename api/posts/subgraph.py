from api.posts.mutations import PostsMutation
from api.posts.queries import PostsQuery
from api.posts.types import User
from api.subgraph import Subgraph

# User is listed: its `posts` field is reachable only through `_entities`
POSTS = Subgraph(name="posts", query=PostsQuery, mutation=PostsMutation, types=(User,))
