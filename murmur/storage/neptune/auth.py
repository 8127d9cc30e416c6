"""Neptune IAM authentication over Bolt: a SigV4-signed request, sent as a basic auth token.

Neptune's documented scheme: sign `GET https://<host>:<port>/opencypher` for the service
"neptune-db", then hand the signed headers, as JSON, to the driver as the password of the
user "username". A signature is only accepted for about five minutes after its
X-Amz-Date, so the auth manager signs afresh before then; botocore refreshes the
underlying (temporary) AWS credentials itself.
"""

from __future__ import annotations

import asyncio
import json

import neo4j
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.session import get_session
from neo4j.auth_management import AsyncAuthManager, AsyncAuthManagers, ExpiringAuth

from murmur.domain import PermanentStoreError

SERVICE = "neptune-db"
SIGNATURE_REFRESH_SECONDS = 240.0  # Neptune accepts a signature for 5 minutes
_SIGNED_HEADERS = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "Host")


def signed_auth_token(credentials: ReadOnlyCredentials, *, region: str, host: str, port: int) -> neo4j.Auth:
    """The Bolt auth token Neptune checks: SigV4 headers of a GET to /opencypher."""
    request = AWSRequest(method="GET", url=f"https://{host}:{port}/opencypher")
    request.headers["Host"] = f"{host}:{port}"  # signed, and what Neptune rebuilds the request from
    SigV4Auth(credentials, SERVICE, region).add_auth(request)
    signed = {name: request.headers[name] for name in _SIGNED_HEADERS if name in request.headers}
    signed["HttpMethod"] = request.method
    return neo4j.Auth("basic", "username", json.dumps(signed), "realm")


def iam_auth_manager(*, region: str, host: str, port: int) -> AsyncAuthManager:
    """Signs with the default botocore credential chain, re-signing before each signature expires."""
    credentials: Credentials | None = get_session().get_credentials()
    if credentials is None:
        raise PermanentStoreError("Neptune IAM auth is on, but botocore found no AWS credentials")

    def sign() -> neo4j.Auth:
        # get_frozen_credentials may refresh temporary credentials over the network
        return signed_auth_token(credentials.get_frozen_credentials(), region=region, host=host, port=port)

    async def provide() -> ExpiringAuth:
        auth = await asyncio.to_thread(sign)
        return ExpiringAuth(auth).expires_in(SIGNATURE_REFRESH_SECONDS)

    # bearer() is the driver's expiry-driven manager; it caches any kind of token
    return AsyncAuthManagers.bearer(provide)
