"""Configuration mistakes as one line each, naming the variable, the value and what is allowed.

A pydantic ValidationError names fields by their path in the settings model; people set
them as MURMUR_* variables (or the command-line flags that stand for them), so that is
the name shown. Values of secrets, passwords and connection strings are never echoed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

_SECRET_PARTS = ("secret", "password", "token", "uri", "auth")


def variable(location: Sequence[int | str]) -> str:
    """The MURMUR_* variable of a field path: ("workers", "in_process") -> MURMUR_WORKERS__IN_PROCESS."""
    return "MURMUR_" + "__".join(str(part).upper() for part in location)


def _shown(location: Sequence[int | str], value: Any) -> str:
    if any(part in str(step).lower() for step in location for part in _SECRET_PARTS):
        return "(hidden)"
    return repr(value)


def describe(error: ValidationError) -> list[str]:
    """One line per mistake."""
    lines = []
    for problem in error.errors(include_url=False):
        location = [step for step in problem["loc"] if not str(step).startswith("function-")]
        message = str(problem["msg"]).removeprefix("Value error, ")
        if not location:  # a rule across fields: its message names the variables
            lines.append(f"invalid configuration: {message}")
        elif problem["type"] == "extra_forbidden":
            lines.append(f"unknown setting {variable(location)}")
        else:
            value = _shown(location, problem.get("input"))
            lines.append(f"invalid setting {variable(location)}={value}: {message}")
    return lines
