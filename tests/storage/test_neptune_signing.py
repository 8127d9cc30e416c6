"""Neptune's IAM token, checked against references outside the project.

The FalkorDB stand-in cannot judge the token: the other tests connect without auth, and it
checks Bolt credentials against its own Redis users, refusing an IAM token however it is
signed. So nothing there would notice a token Neptune refuses. Here the project's token is
held against:

* AWS's documented recipe for Neptune IAM over Bolt (the Python example of "Using the Bolt
  protocol to make openCypher queries to Neptune"): botocore's SigV4Auth over
  `GET https://<host>:<port>/opencypher` for the service "neptune-db", Host from the URL,
  and the JSON of Authorization, X-Amz-Date, X-Amz-Security-Token, Host and HttpMethod as
  the password of the user "username" in the realm "realm", under the scheme "basic";
* Neptune's side of the check: the token's request rebuilt from its own fields and signed
  again, by botocore and by SigV4 written out from its specification, itself held against
  AWS's published Signature Version 4 test suite;
* the bytes the driver sends: the LOGON (or HELLO) message read off the wire on its way to
  a real Bolt server.

The clock is frozen (botocore's, the only one the signature reads), so every field is
known in advance, the date included.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.auth
import neo4j
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from neo4j._codec.packstream import v1 as _packstream

from murmur.domain import PermanentStoreError
from murmur.settings import NeptuneSettings
from murmur.storage.neptune.auth import signed_auth_token
from murmur.storage.neptune.bolt import BoltClient
from tests.servers import BoltServer

# AWS's documented example keys; a session token in the shape of an STS one
KEY_ID, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCWV1LXdlc3QtMSJHMEUCIQD+example/token=="
REGION = "eu-west-1"
# The last second of a leap day: a date taken from the wrong clock or zone lands on another day.
FROZEN = datetime(2024, 2, 29, 23, 59, 59)
AMZ_DATE = "20240229T235959Z"
# A writer on Neptune's port and a reader on another: the port must come from the endpoint.
ENDPOINTS = [
    ("murmur.cluster-abc123.eu-west-1.neptune.amazonaws.com", 8182),
    ("murmur.cluster-ro-abc123.eu-west-1.neptune.amazonaws.com", 8183),
]


def freeze_botocore_clock(monkeypatch: pytest.MonkeyPatch, at: datetime) -> None:
    """SigV4Auth reads the time through this name alone (naive UTC, as botocore's own)."""

    def frozen(remove_tzinfo: bool = True) -> datetime:
        return at

    monkeypatch.setattr(botocore.auth, "get_current_datetime", frozen)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    freeze_botocore_clock(monkeypatch, FROZEN)


# --- SigV4 from its specification, and AWS's test suite for it ------------------------------


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def spec_signature(
    *, method: str, path: str, headers: Mapping[str, str], amz_date: str, region: str, service: str
) -> tuple[str, str]:
    """(signed headers, signature) of a request without query or body, every header signed,
    computed as AWS's Signature Version 4 specification spells it out (not by botocore)."""
    canonical = {name.lower(): " ".join(value.split()) for name, value in headers.items()}
    names = sorted(canonical)
    signed = ";".join(names)
    header_lines = "".join(f"{name}:{canonical[name]}\n" for name in names)
    empty_payload = hashlib.sha256(b"").hexdigest()
    request = f"{method}\n{path}\n\n{header_lines}\n{signed}\n{empty_payload}"
    day = amz_date[:8]
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(request.encode()).hexdigest()}"
    key = f"AWS4{SECRET}".encode()
    for part in (day, region, service, "aws4_request"):
        key = _hmac(key, part)
    return signed, hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Vector:
    """One case of AWS's Signature Version 4 test suite (example.amazonaws.com, us-east-1,
    service "service", 2015-08-30T12:36:00Z, the example keys): its published signature."""

    method: str
    token: str | None
    signed_headers: str
    signature: str


SUITE_TOKEN = (
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfp"
    "SPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQ"
    "DYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+s"
    "cqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
)
SUITE = {
    "get-vanilla": Vector(
        "GET", None, "host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    ),
    "post-vanilla": Vector(
        "POST", None, "host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
    ),
    "post-sts-header-before": Vector(
        "POST",
        SUITE_TOKEN,
        "host;x-amz-date;x-amz-security-token",
        "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
    ),
}


@pytest.mark.parametrize("name", list(SUITE))
def test_both_signers_reproduce_aws_signature_v4_test_suite(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    vector = SUITE[name]
    expected = (
        f"AWS4-HMAC-SHA256 Credential={KEY_ID}/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders={vector.signed_headers}, Signature={vector.signature}"
    )
    headers = {"Host": "example.amazonaws.com", "X-Amz-Date": "20150830T123600Z"}
    if vector.token is not None:
        headers["X-Amz-Security-Token"] = vector.token
    assert spec_signature(
        method=vector.method,
        path="/",
        headers=headers,
        amz_date="20150830T123600Z",
        region="us-east-1",
        service="service",
    ) == (vector.signed_headers, vector.signature)

    # botocore, which the project signs with, on the same request at the suite's time
    freeze_botocore_clock(monkeypatch, datetime(2015, 8, 30, 12, 36, 0))
    request = AWSRequest(method=vector.method, url="https://example.amazonaws.com/")
    SigV4Auth(ReadOnlyCredentials(KEY_ID, SECRET, vector.token), "service", "us-east-1").add_auth(request)
    assert request.headers["Authorization"] == expected
    assert request.headers["X-Amz-Date"] == "20150830T123600Z"


# --- the token against AWS's documented recipe ----------------------------------------------


def documented_token(
    credentials: ReadOnlyCredentials, *, region: str, url: str, service: str = "neptune-db"
) -> neo4j.Auth:
    """The Bolt auth token as AWS's Python example for Neptune IAM over Bolt builds it."""
    request = AWSRequest(method="GET", url=url + "/opencypher")
    request.headers.add_header("Host", _host_from_url(url + "/opencypher"))
    SigV4Auth(credentials, service, region).add_auth(request)
    fields = {
        name: request.headers[name]
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "Host")
    }
    fields["HttpMethod"] = request.method
    return neo4j.Auth("basic", "username", json.dumps(fields), "realm")


def _host_from_url(url: str) -> str:
    """The recipe's Host: botocore's, lower case, the port kept unless it is the scheme's own."""
    host: Callable[[str], str] = botocore.auth._host_from_url  # type: ignore[attr-defined]  # not in the stubs
    return host(url)


def token_fields(auth: neo4j.Auth) -> dict[str, Any]:
    assert (auth.scheme, auth.principal, auth.realm) == ("basic", "username", "realm")
    assert isinstance(auth.credentials, str)
    fields = json.loads(auth.credentials)
    assert isinstance(fields, dict)
    return fields


def expected_fields(credentials: ReadOnlyCredentials, *, host: str, port: int) -> dict[str, Any]:
    """The recipe's fields. Without a session token the recipe sends "X-Amz-Security-Token":
    null; AWS's Java example (Gson drops nulls) leaves it out, which Neptune accepts as well."""
    fields = token_fields(documented_token(credentials, region=REGION, url=f"https://{host}:{port}"))
    return {name: value for name, value in fields.items() if value is not None}


def assert_same_fields(sent: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    """Field by field first, so a failure names the field."""
    for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "Host", "HttpMethod"):
        assert sent.get(name) == expected.get(name), name
    assert dict(sent) == dict(expected)


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize("session_token", [None, SESSION_TOKEN], ids=["keys", "temporary"])
@pytest.mark.parametrize(("host", "port"), ENDPOINTS, ids=["writer", "reader"])
def test_the_token_is_the_one_aws_documents(host: str, port: int, session_token: str | None) -> None:
    credentials = ReadOnlyCredentials(KEY_ID, SECRET, session_token)
    sent = token_fields(signed_auth_token(credentials, region=REGION, host=host, port=port))
    assert_same_fields(sent, expected_fields(credentials, host=host, port=port))
    # what the recipe's fields come to here, spelled out
    assert sent["X-Amz-Date"] == AMZ_DATE
    assert sent["Host"] == f"{host}:{port}"
    assert sent["HttpMethod"] == "GET"
    assert sent.get("X-Amz-Security-Token") == session_token
    assert sent["Authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={KEY_ID}/20240229/{REGION}/neptune-db/"
    )


# --- Neptune's side: the request rebuilt from the token, signed again ------------------------

_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<scope>[^,]+), "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)


def neptune_accepts(
    fields: Mapping[str, Any], *, host: str, port: int, now: datetime, session_token: str | None
) -> None:
    """What Neptune checks of a token for the cluster endpoint host:port in REGION: a fresh
    date, a scope of neptune-db in its region, the session token that goes with a temporary
    key, and a signature over GET /opencypher with the token's own headers that IAM's copy of
    the secret reproduces (botocore's and the spec's)."""
    assert fields["HttpMethod"] == "GET"
    assert fields["Host"] == f"{host}:{port}"
    signed_at = datetime.strptime(fields["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    assert abs((signed_at - now).total_seconds()) <= 300  # Neptune's five minutes
    match = _AUTHORIZATION.fullmatch(fields["Authorization"])
    assert match is not None, fields["Authorization"]
    assert match["key"] == KEY_ID
    assert match["scope"] == f"{fields['X-Amz-Date'][:8]}/{REGION}/neptune-db/aws4_request"
    token = fields.get("X-Amz-Security-Token")
    assert token == session_token
    headers = {"Host": fields["Host"], "X-Amz-Date": fields["X-Amz-Date"]}
    if token is not None:
        headers["X-Amz-Security-Token"] = token
    # every header the request carries is signed (a temporary key's token included)
    assert match["signed"] == ";".join(sorted(name.lower() for name in headers))

    request = AWSRequest(method="GET", url=f"https://{fields['Host']}/opencypher", headers=headers)
    request.context["timestamp"] = fields["X-Amz-Date"]
    signer = SigV4Auth(ReadOnlyCredentials(KEY_ID, SECRET, token), "neptune-db", REGION)
    canonical = signer.canonical_request(request)
    assert signer.signature(signer.string_to_sign(request, canonical), request) == match["signature"]

    spec = spec_signature(
        method="GET",
        path="/opencypher",
        headers=headers,
        amz_date=fields["X-Amz-Date"],
        region=REGION,
        service="neptune-db",
    )
    assert spec == (match["signed"], match["signature"])


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize("session_token", [None, SESSION_TOKEN], ids=["keys", "temporary"])
@pytest.mark.parametrize(("host", "port"), ENDPOINTS, ids=["writer", "reader"])
def test_neptune_would_accept_the_token(host: str, port: int, session_token: str | None) -> None:
    credentials = ReadOnlyCredentials(KEY_ID, SECRET, session_token)
    fields = token_fields(signed_auth_token(credentials, region=REGION, host=host, port=port))
    neptune_accepts(fields, host=host, port=port, now=FROZEN, session_token=session_token)


def accepted(fields: Mapping[str, Any], *, host: str, port: int, now: datetime) -> bool:
    try:
        neptune_accepts(fields, host=host, port=port, now=now, session_token=SESSION_TOKEN)
    except AssertionError:
        return False
    return True


def test_neptune_refuses_a_token_signed_for_anything_else() -> None:
    """The check above is not a rubber stamp: each wrong token fails it (real time here)."""
    credentials = ReadOnlyCredentials(KEY_ID, SECRET, SESSION_TOKEN)
    host, port = ENDPOINTS[0]
    now = datetime.now(UTC).replace(tzinfo=None)

    def signed(*, url_port: int = port, service: str = "neptune-db", region: str = REGION) -> dict[str, Any]:
        auth = documented_token(credentials, region=region, url=f"https://{host}:{url_port}", service=service)
        return token_fields(auth)

    good = signed()
    assert accepted(good, host=host, port=port, now=now)
    wrong = {
        "service": signed(service="neptune"),
        "region": signed(region="us-east-1"),
        "port": signed(url_port=port + 1),
        "session token dropped": {
            name: value for name, value in good.items() if name != "X-Amz-Security-Token"
        },
        "date": {**good, "X-Amz-Date": "20200101T000000Z"},
        "method": {**good, "HttpMethod": "POST"},
    }
    assert [what for what, fields in wrong.items() if accepted(fields, host=host, port=port, now=now)] == []


# --- on the wire: the token the driver sends to a real Bolt server --------------------------


@dataclass
class Tap:
    """A TCP relay on 127.0.0.1 in front of a Bolt server, keeping what clients sent."""

    port: int
    sent: bytearray


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, keep: bytearray | None) -> None:
    try:
        while data := await reader.read(65536):
            if keep is not None:
                keep += data  # kept before it is forwarded: the server cannot answer what is not yet kept
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def bolt_tap(bolt_server: BoltServer) -> AsyncIterator[Tap]:
    sent = bytearray()
    pipes: set[asyncio.Task[None]] = set()

    async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(bolt_server.host, bolt_server.port)
        for task in (
            asyncio.create_task(_pipe(client_reader, server_writer, sent)),
            asyncio.create_task(_pipe(server_reader, client_writer, None)),
        ):
            pipes.add(task)
            task.add_done_callback(pipes.discard)

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    try:
        yield Tap(port=server.sockets[0].getsockname()[1], sent=sent)
    finally:
        server.close()
        for task in list(pipes):
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)
        await server.wait_closed()


_DRIVER_CODEC: Any = _packstream  # the driver's own PackStream decoder (unannotated)


def client_messages(stream: bytes) -> list[tuple[int, list[Any]]]:
    """(signature, fields) of each message a client sent after its 20-byte handshake."""
    assert stream[:4] == b"\x60\x60\xb0\x17", "not a Bolt handshake"
    messages: list[tuple[int, list[Any]]] = []
    i, body = 20, bytearray()
    while i < len(stream):
        size = int.from_bytes(stream[i : i + 2], "big")
        i += 2
        if size:
            body += stream[i : i + size]
            i += size
        elif body:  # a zero chunk ends a message
            unpacker = _DRIVER_CODEC.Unpacker(_DRIVER_CODEC.UnpackableBuffer(bytes(body)))
            count, signature = unpacker.unpack_structure_header()
            messages.append((signature[0], [unpacker.unpack() for _ in range(count)]))
            body = bytearray()
    return messages


LOGON, HELLO = 0x6A, 0x01


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ReadOnlyCredentials:
    """Temporary credentials in the environment, and nowhere else botocore looks."""
    for name in (
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    return ReadOnlyCredentials(KEY_ID, SECRET, SESSION_TOKEN)


@pytest.mark.usefixtures("frozen_clock")
async def test_the_driver_logs_on_with_the_documented_token(
    bolt_tap: Tap, aws_credentials: ReadOnlyCredentials
) -> None:
    settings = NeptuneSettings(uri=f"bolt://127.0.0.1:{bolt_tap.port}", iam_auth=True, region=REGION)
    client = await BoltClient.open(settings)
    try:
        # The driver logs on before its first query. FalkorDB checks Bolt credentials against
        # its Redis users and refuses these; the token has reached it all the same.
        with contextlib.suppress(PermanentStoreError):
            await client.ping()
    finally:
        await client.close()

    auths = [
        fields[0]
        for signature, fields in client_messages(bytes(bolt_tap.sent))
        if signature in (LOGON, HELLO) and "credentials" in fields[0]
    ]
    assert len(auths) >= 1, "the driver sent no credentials"
    for auth in auths:  # one per connection the driver opened
        assert (auth["scheme"], auth["principal"], auth["realm"]) == ("basic", "username", "realm")
        sent = json.loads(auth["credentials"])
        assert_same_fields(sent, expected_fields(aws_credentials, host="127.0.0.1", port=bolt_tap.port))
        neptune_accepts(sent, host="127.0.0.1", port=bolt_tap.port, now=FROZEN, session_token=SESSION_TOKEN)
