from api.feed.queries import FeedQuery
from api.feed.subscriptions import FeedSubscription
from api.subgraph import Subgraph

FEED = Subgraph(name="feed", query=FeedQuery, subscription=FeedSubscription)
