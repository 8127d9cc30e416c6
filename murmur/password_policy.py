"""Which new passwords `register` accepts (NIST SP 800-63B: length, plus a blocklist of common
and context-specific values; no composition rules).

A password is refused when it is outside the length limits, draws nothing (all spaces or
invisible characters), is one of the 20,000 passwords seen most often in breaches (compared
case-insensitively; see murmur/wordlists/PROVENANCE.md), or is the username (or the
username backwards) with a few characters added: the username is public, so what is left once every copy of it is taken out
must on its own be long enough and not common. Login never applies this policy, so accounts
made before it keep working.
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources

from murmur.domain import InvalidInput, Limits
from murmur.text import has_visible

COMMON_PASSWORDS = "wordlists/common-passwords.txt.gz"


@functools.cache
def common_passwords() -> frozenset[str]:
    """The blocklist, lowercased; read once, on the first registration."""
    data = resources.files("murmur").joinpath(COMMON_PASSWORDS).read_bytes()
    return frozenset(line for line in gzip.decompress(data).decode("utf-8").splitlines() if line)


def check_new_password(password: str, *, username: str, limits: Limits) -> None:
    """Raise InvalidInput (field `password`) when `password` may not be chosen by `username`."""
    if not (limits.password_min <= len(password) <= limits.password_max):
        raise _refused(f"A password is {limits.password_min}-{limits.password_max} characters long.")
    if not has_visible(password):
        raise _refused("A password needs at least one visible character, not only spaces.")
    if _is_common(password):
        raise _refused("This password is too common: it is among the first that attackers try.")
    lowered, name = password.casefold(), username.casefold()
    for spelled in (name, name[::-1]):  # forwards or backwards
        rest = lowered.replace(spelled, "")
        if rest != lowered and (len(rest.strip()) < limits.password_min or _is_common(rest)):
            raise _refused(
                "A password must not be your username (or it backwards), or it with a few characters added."
            )


def _is_common(password: str) -> bool:
    return password.strip().lower() in common_passwords()


def _refused(message: str) -> InvalidInput:
    return InvalidInput(message, field="password")
