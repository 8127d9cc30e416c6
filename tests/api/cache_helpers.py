"""The DocumentCache a schema's validation extension serves from (api/schema.py binds it
to CachedValidation with functools.partial)."""

from __future__ import annotations

from functools import partial

import strawberry

from api.validation import DocumentCache


def document_cache(schema: strawberry.Schema) -> DocumentCache:
    found = [
        e.keywords["cache"] for e in schema.extensions if isinstance(e, partial) and "cache" in e.keywords
    ]
    assert len(found) == 1
    cache = found[0]
    assert isinstance(cache, DocumentCache)
    return cache
