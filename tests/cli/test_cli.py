import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from tests.servers._process import free_port

runner = CliRunner()


def test_serve_help_lists_its_options() -> None:
    result = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--host", "--port", "--data-dir", "--strategy", "--no-seed", "--workers"):
        assert option in result.output
    assert "push" in result.output and "pull" in result.output and "hybrid" in result.output


def test_init_creates_the_embedded_store_and_reports_it(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init"], env={"MURMUR_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "murmur.db").exists()
    # each store role and whether it answers (roles, not class names: see Backends.ping)
    assert re.search(r"^ledger +ready$", result.output, re.MULTILINE), result.output
    assert "SqliteDatabase" not in result.output
    again = runner.invoke(app, ["init"], env={"MURMUR_DATA_DIR": str(tmp_path)})
    assert again.exit_code == 0  # idempotent


def test_an_unsafe_configuration_is_refused(tmp_path: Path) -> None:
    result = _murmur(["init"], MURMUR_DATA_DIR=str(tmp_path), MURMUR_ENVIRONMENT="production")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "murmur: invalid configuration: MURMUR_AUTH__JWT_SECRET must be set outside the embedded development profile"
    ]


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"MURMUR_FANOUT": "bogus"},
            "murmur: invalid setting MURMUR_FANOUT='bogus': Input should be 'push', 'pull', 'hybrid' or 'cost-model'",
        ),
        (
            {"MURMUR_WORKERS__IN_PROCESS": "-1"},
            "murmur: invalid setting MURMUR_WORKERS__IN_PROCESS='-1': Input should be greater than or equal to 0",
        ),
        (
            {"MURMUR_AWS__FANOUT_QUEUE": "plain"},
            "murmur: invalid setting MURMUR_AWS__FANOUT_QUEUE='plain': Murmur's fan-out queues are SQS FIFO queues:"
            " the name must end in .fifo",
        ),
        (
            {"MURMUR_AUTH__JWT_SECRET": "short"},
            "murmur: invalid configuration: MURMUR_AUTH__JWT_SECRET must be at least 32 characters",
        ),
        (
            {"MURMUR_MONGO__URI": "42", "MURMUR_API__PORT": "x"},
            "murmur: invalid setting MURMUR_API__PORT='x': Input should be a valid integer, unable to parse string as an integer",
        ),
    ],
)
def test_a_configuration_mistake_is_one_line_and_exit_code_2(
    tmp_path: Path, env: dict[str, str], line: str
) -> None:
    for command in (["serve"], ["init"]):
        result = _murmur(command, MURMUR_DATA_DIR=str(tmp_path), **env)
        assert (result.returncode, result.stderr.splitlines()) == (2, [line]), command


def test_a_secret_is_never_echoed(tmp_path: Path) -> None:
    result = _murmur(
        ["serve"],
        MURMUR_DATA_DIR=str(tmp_path),
        MURMUR_AUTH__JWT_SECRET="x" * 40,
        MURMUR_AUTH__TOKEN_TTL_SECONDS="soon",
    )
    assert result.returncode == 2
    assert "x" * 40 not in result.stderr and "MURMUR_AUTH__TOKEN_TTL_SECONDS=(hidden)" in result.stderr


def test_version_and_help_show_defaults_and_variables() -> None:
    assert _murmur(["--version"]).stdout.startswith("murmur ")
    help_text = " ".join(_murmur(["serve", "--help"]).stdout.split())
    for shown in (
        "[env: MURMUR_API__PORT; default: 8000]",
        "[env: MURMUR_FANOUT; default: hybrid]",
        "MURMUR_WORKERS__IN_PROCESS; default: 2",
    ):
        assert shown in help_text
    assert "--no-seed Do not seed" in help_text  # a flag, not an option taking a value


def _murmur(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """The installed `murmur` command as a user runs it (a real process: no traceback may leak)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MURMUR_")}
    return subprocess.run(
        [str(Path(sys.executable).with_name("murmur")), *args],
        env={**clean, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_store_that_cannot_be_reached_is_one_line_naming_it(tmp_path: Path) -> None:
    closed = [free_port() for _ in range(4)]  # bound once, then closed: nothing listens
    result = _murmur(
        ["init"],
        MURMUR_DATA_DIR=str(tmp_path),
        MURMUR_PROFILE="cloud",
        MURMUR_AUTH__JWT_SECRET="Zt0e7-QkQ1pWbq4nVhS9xLr2cMu8GdYfAj3oKi5Ts6E",
        MURMUR_MONGO__URI=f"mongodb://admin:hunter2@127.0.0.1:{closed[0]}/",
        MURMUR_NEPTUNE__URI=f"bolt://127.0.0.1:{closed[1]}",
        MURMUR_REDIS__URL=f"redis://:hunter2@127.0.0.1:{closed[2]}/0",
        MURMUR_AWS__ENDPOINT_URL=f"http://127.0.0.1:{closed[3]}",
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"murmur: cannot reach MongoDB (users, posts) at mongodb://***@127.0.0.1:{closed[0]}/: connection refused",
        f"murmur: cannot reach Neptune (the follow graph, Bolt) at bolt://127.0.0.1:{closed[1]}: connection refused",
        f"murmur: cannot reach Redis (cache, live events) at redis://***@127.0.0.1:{closed[2]}/0: connection refused",
        "murmur: cannot reach the AWS endpoint (DynamoDB timelines, SQS queues)"
        f" at http://127.0.0.1:{closed[3]}: connection refused",
    ]
