from api.graph.mutations import GraphMutation
from api.graph.types import User
from api.subgraph import Subgraph

GRAPH = Subgraph(name="graph", mutation=GraphMutation, types=(User,))
