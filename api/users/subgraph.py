from api.subgraph import Subgraph
from api.users.mutations import UsersMutation
from api.users.queries import UsersQuery

USERS = Subgraph(name="users", query=UsersQuery, mutation=UsersMutation)
