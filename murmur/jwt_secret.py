"""The key that signs tokens: how strong a configured one must be, and the embedded dev one.

A configured secret (MURMUR_AUTH__JWT_SECRET) outside the embedded development profile must
be hard to guess: whoever guesses it forges a token for any account. The check estimates its
entropy, discounting repeats and runs (abcd, 0123), and in production also refuses the
placeholders people paste from examples ("my-super-secret-jwt-key", "change-me").

The embedded shape keeps a random secret in its data folder, `dev-jwt-secret`: created 0600
by open(2) itself and exclusively (of two processes starting at once, the loser reads the
winner's). One found there that another user owns is refused (whoever planted it can sign
tokens); one that others can read is replaced by a new one (tokens signed with it end).
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import stat
import time
from collections import Counter
from pathlib import Path

log = logging.getLogger(__name__)

DEV_SECRET = "dev-jwt-secret"
# how long a process that lost the race to create the dev secret waits for the winner to write it
DEV_SECRET_WAIT_SECONDS = 2.0

# The least a configured JWT secret must score in secret_entropy_bits outside the embedded
# development profile. The score undercounts random strings (a 32-sample histogram misses
# symbols): secrets.token_hex(16), 128 random bits, scores 115 on average, under 82 once in
# 100,000 draws and never under 73 in a million; token_urlsafe(36) never under 195. Made-up
# and patterned secrets score far lower: 32 x "a" 0, "abcd" x 8 8, "password" x 4 22,
# "change-me-change-me-change-me-ok" 38. 64 sits between the two with room on either side.
MIN_SECRET_BITS = 64
# only this much of a secret is looked at: plenty to pass, and a start-up never stalls on a huge one
SECRET_SAMPLE = 256
# Words of examples and placeholders; each 5+ letters, so a random secret holds one by chance
# about once in 10^6 (a 48-character token_urlsafe and "dummy").
PLACEHOLDER_WORDS = (
    "secret", "change", "replace", "example", "sample", "dummy", "default", "placeholder",
    "password", "production", "development", "insert", "your-",
)  # fmt: skip


def secret_entropy_bits(secret: str) -> float:
    """An estimate of a secret's entropy in bits: the Shannon entropy of its characters
    (bits per character, from their frequencies) times the number of characters that are
    new: not part of a run of 4 or more that repeats an earlier one ("password" x 4 counts
    8 characters, not 32) or that counts up or down ("0123456789abcdef" counts few)."""
    secret = secret[:SECRET_SAMPLE]
    if not secret:
        return 0.0
    counts = Counter(secret)
    per_character = sum(n / len(secret) * math.log2(len(secret) / n) for n in counts.values())
    new, i = 0, 0
    while i < len(secret):
        run = max(_repeated_run(secret, i), _counting_run(secret, i))
        if run >= 4:
            i += run
        else:
            new, i = new + 1, i + 1
    return per_character * new


def _repeated_run(secret: str, i: int) -> int:
    """The longest run starting at i that also starts earlier (it may overlap i: "aaaa")."""
    run = 0
    while i + run < len(secret) and secret.find(secret[i : i + run + 1], 0, i + run) != -1:
        run += 1
    return run


def _counting_run(secret: str, i: int) -> int:
    """How many characters from i count up or down by one: "abcd", "4321"."""
    if i + 1 >= len(secret):
        return 1
    step = ord(secret[i + 1]) - ord(secret[i])
    if abs(step) != 1:
        return 1
    run = 2
    while i + run < len(secret) and ord(secret[i + run]) - ord(secret[i + run - 1]) == step:
        run += 1
    return run


def refuse_guessable_secret(secret: str, *, production: bool) -> None:
    """Raise, in one line naming the variable (never the value), if the JWT secret is too
    predictable: a guessed secret forges a token for any account."""
    advice = "use a random value, such as the output of python -c 'import secrets; print(secrets.token_urlsafe(36))'"
    bits = secret_entropy_bits(secret)
    if bits < MIN_SECRET_BITS:
        raise ValueError(
            f"MURMUR_AUTH__JWT_SECRET is too easy to guess (about {bits:.0f} bits of entropy, "
            f"{MIN_SECRET_BITS} needed): {advice}"
        )
    if production and any(word in secret.lower() for word in PLACEHOLDER_WORDS):
        raise ValueError(f"MURMUR_AUTH__JWT_SECRET looks like an example or a placeholder: {advice}")


def dev_secret(data_dir: Path) -> str:
    """The embedded shape's secret, kept in `data_dir` (see the module docstring)."""
    path = data_dir / DEV_SECRET
    if not path.exists():
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        created = _create(path)
        if created is not None:
            return created
    info = path.stat()
    if info.st_uid != os.geteuid():
        raise RuntimeError(
            f"{path} belongs to another user, who could sign tokens with it: delete it, and keep "
            "the data folder to yourself"
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        log.warning(
            "%s could be read by other users: replaced by a new secret (tokens signed before end)", path
        )
        return _replace(path)
    # the winner of a creation race may not have written yet: its file exists, empty, a moment
    deadline = time.monotonic() + DEV_SECRET_WAIT_SECONDS
    while not (secret := path.read_text().strip()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} is empty: delete it, and a new secret is made on the next start")
        time.sleep(0.01)
    return secret


def _create(path: Path) -> str | None:
    """A new secret in a new 0600 file; None if another process created the file first."""
    secret = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    with os.fdopen(fd, "w") as file:
        file.write(secret)
    return secret


def _replace(path: Path) -> str:
    """A new secret written beside the old one, private from its first byte, then moved over it."""
    fresh = path.with_name(f".{path.name}.{os.getpid()}")
    fresh.unlink(missing_ok=True)
    secret = _create(fresh)
    assert secret is not None  # the name is this process's own, just removed
    os.replace(fresh, path)
    return secret
