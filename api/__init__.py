"""Murmur's GraphQL API: FastAPI + Strawberry over the core (murmur/).

Layout:
    app.py           create_app(settings): lifespan (platform, seeding, in-process workers),
                     /graphql, /healthz, /readyz, /metrics, the body size limit
    schema.py        the gateway: the four subgraphs merged into one schema, plus its extensions
    users/ posts/ graph/ feed/
                     one Apollo Federation v2 subgraph each, owning its slice of User and Post
    entities.py      what every User/Post slice shares (federation references, domain roots)
    relay.py         Connection/Edge/PageInfo, opaque cursors, page sizes
    errors.py        the Error interface, the error types of the domain errors, masking
    context.py       the per-request Context (viewer, platform, DataLoaders from loaders.py)
    validation.py    cached parse + validation, with the depth/alias/token/introspection limits
    observability.py request latency per operation
"""
