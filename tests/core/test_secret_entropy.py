"""Security review, issue 16, finding 10: outside the embedded development profile the JWT
secret must be hard to guess, and the embedded dev secret is private from its first byte."""

from __future__ import annotations

import os
import random
import secrets
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from murmur import jwt_secret
from murmur.jwt_secret import MIN_SECRET_BITS, secret_entropy_bits
from murmur.settings import Profile, Settings

WEAK = ["a" * 32, "password" * 4, "abcd" * 8, "s" * 32, "p" * 48, "change-me-change-me-change-me-ok"]


@pytest.mark.parametrize("weak", WEAK)
def test_a_weak_secret_scores_under_the_threshold(weak: str) -> None:
    assert secret_entropy_bits(weak) < MIN_SECRET_BITS


def test_random_secrets_pass_with_room() -> None:
    # token_hex(16) is 128 random bits; a seeded generator makes this run the same every time
    draw = random.Random(16)
    hex_scores = [secret_entropy_bits(draw.getrandbits(128).to_bytes(16).hex()) for _ in range(20_000)]
    assert min(hex_scores) >= MIN_SECRET_BITS + 5
    assert 110 < sum(hex_scores) / len(hex_scores) < 120  # the estimate undercounts: 128 real bits
    for _ in range(200):
        assert secret_entropy_bits(secrets.token_urlsafe(36)) > 3 * MIN_SECRET_BITS
        assert secret_entropy_bits(secrets.token_hex(16)) >= MIN_SECRET_BITS


def test_repeats_count_once() -> None:
    assert secret_entropy_bits("password" * 4) == pytest.approx(secret_entropy_bits("password"))
    assert secret_entropy_bits("") == 0.0 and secret_entropy_bits("a" * 10_000) == 0.0


@pytest.mark.parametrize(
    "where",
    [{"environment": "production"}, {"profile": Profile.CLOUD}],
    ids=["production", "cloud"],
)
@pytest.mark.parametrize("weak", WEAK)
def test_a_weak_secret_is_refused_outside_development(weak: str, where: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(auth={"jwt_secret": weak}, **where)
    (error,) = refused.value.errors(include_url=False)
    message = str(error["msg"])
    assert message.startswith("Value error, MURMUR_AUTH__JWT_SECRET is too easy to guess")
    assert "\n" not in message and weak not in message


def test_a_strong_secret_is_taken_and_development_keeps_any() -> None:
    strong = secrets.token_urlsafe(36)
    assert Settings(environment="production", auth={"jwt_secret": strong}).jwt_secret() == strong
    assert Settings(environment="production", auth={"jwt_secret": secrets.token_hex(16)}).production
    assert Settings(auth={"jwt_secret": "a" * 32}).jwt_secret() == "a" * 32  # embedded development


# --- the embedded dev secret file ----------------------------------------------------------------


def test_the_dev_secret_is_0600_without_a_chmod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Created 0600 by open(2) itself: a write-then-chmod leaves it readable for a moment."""
    monkeypatch.setattr(Path, "chmod", lambda *a, **k: None)
    monkeypatch.setattr(os, "chmod", lambda *a, **k: None)
    old = os.umask(0o022)
    try:
        secret = Settings(data_dir=tmp_path / "data").jwt_secret()
    finally:
        os.umask(old)
    path = tmp_path / "data" / "dev-jwt-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text() == secret and len(secret) >= 48
    assert Settings(data_dir=tmp_path / "data").jwt_secret() == secret  # kept


def test_the_loser_of_a_race_reads_the_winners_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process creates the file between our look and our create: we take its secret."""
    path = tmp_path / "dev-jwt-secret"
    real = secrets.token_urlsafe

    def meanwhile_the_winner_writes(n: int | None = None) -> str:
        if not path.exists():
            _private(path, "the-winners-secret")
        return real(n)

    monkeypatch.setattr(secrets, "token_urlsafe", meanwhile_the_winner_writes)
    assert Settings(data_dir=tmp_path).jwt_secret() == "the-winners-secret"
    assert path.read_text() == "the-winners-secret"


def test_the_loser_waits_for_the_winner_to_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "dev-jwt-secret"
    path.touch(mode=0o600)  # created, not yet written
    timer = threading.Timer(0.2, lambda: _private(path, "written-late"))
    timer.start()
    try:
        assert Settings(data_dir=tmp_path).jwt_secret() == "written-late"
    finally:
        timer.join()
    path.write_text("")  # a winner that died before writing: a clear error, not an empty key
    monkeypatch.setattr(jwt_secret, "DEV_SECRET_WAIT_SECONDS", 0.05)
    with pytest.raises(RuntimeError, match="is empty: delete it"):
        Settings(data_dir=tmp_path).jwt_secret()


def test_processes_starting_together_share_one_secret(tmp_path: Path) -> None:
    results: list[str] = []
    start = threading.Barrier(8)

    def start_up() -> None:
        start.wait()
        results.append(Settings(data_dir=tmp_path / "data").jwt_secret())

    threads = [threading.Thread(target=start_up) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and len(set(results)) == 1
    assert (tmp_path / "data" / "dev-jwt-secret").read_text() == results[0]


def _private(path: Path, text: str) -> None:
    """What a winning process writes: a 0600 file (write_text would leave it 0644)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)


def test_a_dev_secret_others_can_read_is_replaced(tmp_path: Path) -> None:
    """Review: an old 0644 dev-jwt-secret stayed 0644 (and was used): anyone on the machine
    could sign tokens with it. It is replaced by a new private one."""
    path = tmp_path / "dev-jwt-secret"
    path.write_text("known-to-everyone-on-this-machine")
    path.chmod(0o644)
    secret = Settings(data_dir=tmp_path).jwt_secret()
    assert secret != "known-to-everyone-on-this-machine" and len(secret) >= 48
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == secret


def test_a_dev_secret_another_user_owns_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review: in a shared folder another user planted dev-jwt-secret, and Murmur signed its
    tokens with it. A secret this process's user does not own is refused (here the process
    takes another uid, so the file it made is someone else's)."""
    path = tmp_path / "dev-jwt-secret"
    _private(path, "planted")
    monkeypatch.setattr(os, "geteuid", lambda: path.stat().st_uid + 1)
    with pytest.raises(RuntimeError, match="belongs to another user"):
        Settings(data_dir=tmp_path).jwt_secret()


@pytest.mark.parametrize(
    "placeholder",
    [
        "your-256-bit-secret-your-256-bit-secret",  # jwt.io's example
        "my-super-secret-jwt-key-for-production",
        "REPLACE_ME_WITH_A_REAL_SECRET_VALUE",
        "0123456789abcdefghijklmnopqrstuvwxyz",  # counts up: few bits
    ],
)
def test_examples_and_placeholders_are_refused_in_production(placeholder: str) -> None:
    with pytest.raises(ValidationError, match="MURMUR_AUTH__JWT_SECRET"):
        Settings(environment="production", auth={"jwt_secret": placeholder})
