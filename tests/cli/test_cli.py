from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app

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
    assert "SqliteDatabase" in result.output and "ready" in result.output
    again = runner.invoke(app, ["init"], env={"MURMUR_DATA_DIR": str(tmp_path)})
    assert again.exit_code == 0  # idempotent


def test_an_unsafe_configuration_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["init"], env={"MURMUR_DATA_DIR": str(tmp_path), "MURMUR_ENVIRONMENT": "production"}
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, Exception)
    with pytest.raises(Exception, match="JWT_SECRET"):
        raise result.exception
