"""Finding 3b: production seeded 300 accounts sharing a public password, and logged it."""

from __future__ import annotations

import subprocess

import pytest
from hostile_server import FAST_HASHING, Served, server_env

from devstack.cloud import HOST, MURMUR
from murmur.settings import DEFAULT_DEMO_PASSWORD
from tests.hostile.conftest import ServerFactory
from tests.servers._process import free_port

LOGIN = 'mutation($p: String!) { login(username: "demo", password: $p) { __typename } }'


def test_production_seeds_nothing_by_default(start_server: ServerFactory) -> None:
    served = start_server({"MURMUR_SEED__ENABLED": None}, production=True)  # the default
    assert (
        served.post(LOGIN, p=DEFAULT_DEMO_PASSWORD).json()["data"]["login"]["__typename"]
        == "InvalidCredentials"
    )
    assert DEFAULT_DEMO_PASSWORD not in served.log(lines=500)
    assert "demo world" not in served.log(lines=500)


@pytest.mark.parametrize(
    ("password", "says"),
    [
        (
            None,
            "MURMUR_SEED__DEMO_PASSWORD must be set to a password of your own to seed a demo world in production",
        ),
        ("password", "MURMUR_SEED__DEMO_PASSWORD will not do in production: This password is too common"),
    ],
    ids=["the-public-default", "a-common-one"],
)
def test_production_refuses_to_seed_with_a_guessable_password(
    tmp_path: object, password: str | None, says: str
) -> None:
    env = server_env(
        {"MURMUR_SEED__ENABLED": "true", "MURMUR_SEED__DEMO_PASSWORD": password}, production=True
    )
    done = subprocess.run(
        [MURMUR, "serve", "--host", HOST, "--port", str(free_port()), "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"murmur: invalid configuration: {says}"), line


def test_a_seeded_password_is_never_logged(start_server: ServerFactory) -> None:
    password = "a-demo-password-of-our-own"
    served: Served = start_server(
        {
            "MURMUR_SEED__ENABLED": "true",
            "MURMUR_SEED__USERS": "5",
            "MURMUR_SEED__DEMO_PASSWORD": password,
            **FAST_HASHING,
        },
        production=True,
    )
    assert served.post(LOGIN, p=password).json()["data"]["login"]["__typename"] == "AuthPayload"
    log = served.log(lines=500)
    assert "demo world ready" in log
    assert password not in log
    assert "MURMUR_SEED__DEMO_PASSWORD" in log  # it says where the password comes from
