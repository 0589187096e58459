"""Settings come from the environment, then `.env`, then the defaults; bad ones stop the start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.core.config import DEFAULT_SECRET_KEY, Settings, describe_validation_error

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_apply_without_env_or_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORT", raising=False)
    settings = Settings(_env_file=None)
    assert settings.PORT == 8000
    assert settings.STATUS == "dev"
    assert settings.api_prefix == "/api/v1"


def test_env_file_beats_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORT", raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=9100\nMAJOR_VERSION=3\n")
    settings = Settings(_env_file=env_file)
    assert settings.PORT == 9100
    assert settings.api_prefix == "/api/v3"


def test_environment_beats_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=9100\n")
    monkeypatch.setenv("PORT", "9200")
    assert Settings(_env_file=env_file).PORT == 9200


def test_lists_accept_comma_separated_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    settings = Settings(_env_file=None)
    assert settings.CORS_ORIGINS == ["https://a.example", "https://b.example"]


def test_log_level_is_case_insensitive() -> None:
    assert Settings(_env_file=None, LEVEL="debug").LEVEL == "DEBUG"


@pytest.mark.parametrize(
    ("field", "value"),
    [("LEVEL", "nonsense"), ("PORT", "99999"), ("STATUS", "staging"), ("COMPRESSION", "rar")],
)
def test_invalid_value_is_named_in_one_line(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, **{field: value})
    line = describe_validation_error(caught.value)
    assert "\n" not in line
    assert field in line
    assert value not in line or field == "STATUS"  # never echo a possibly secret input


def test_sync_database_driver_is_refused() -> None:
    with pytest.raises(ValidationError, match="async driver"):
        Settings(_env_file=None, DATABASE_URL="postgresql://u@h/db")


@pytest.mark.parametrize(
    "url", ["sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite:///file:db?mode=memory&uri=true"]
)
def test_in_memory_sqlite_is_refused_with_a_reason(url: str) -> None:
    with pytest.raises(ValidationError, match="in-memory SQLite"):
        Settings(_env_file=None, DATABASE_URL=url)


def test_prod_refuses_default_secret_key() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(
            _env_file=None,
            STATUS="prod",
            SECRET_KEY=DEFAULT_SECRET_KEY,
            DATABASE_URL="postgresql+asyncpg://u@h/db",
        )


def test_prod_refuses_sqlite_unless_allowed() -> None:
    strong = {"SECRET_KEY": "s" * 40, "FIRST_SUPERUSER_PASSWORD": "a-long-admin-password-42"}
    with pytest.raises(ValidationError, match="ALLOW_SQLITE_IN_PROD"):
        Settings(_env_file=None, STATUS="prod", **strong)
    allowed = Settings(_env_file=None, STATUS="prod", ALLOW_SQLITE_IN_PROD=True, **strong)
    assert allowed.is_prod
    assert not allowed.docs_enabled


def test_prod_names_every_unsafe_setting_in_one_error() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, STATUS="prod", X_TOKEN="short", CORS_ORIGINS="*")
    line = describe_validation_error(caught.value)
    assert "\n" not in line
    for name in ("SECRET_KEY", "ALLOW_SQLITE_IN_PROD", "X_TOKEN", "FIRST_SUPERUSER_PASSWORD"):
        assert name in line
    assert "CORS_ORIGINS" in line
    assert line.count("STATUS=prod") == 4
    assert "short" not in line  # never echo a secret


def test_wildcard_cors_is_refused() -> None:
    with pytest.raises(ValidationError, match="CORS_ORIGINS"):
        Settings(_env_file=None, CORS_ORIGINS="*")


def test_invalid_level_stops_start_with_one_clear_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"LEVEL", "STATUS"}}
    env.update({"STATUS": "prod", "LEVEL": "nonsense", "PYTHONPATH": str(ROOT)})
    result = subprocess.run(
        [sys.executable, "-c", "import app.main"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("invalid configuration: LEVEL")


def test_bad_rate_limit_notation_is_refused_when_limiting_is_on() -> None:
    with pytest.raises(ValidationError, match="RATE_LIMIT_LOGIN: expected the `limits` notation"):
        Settings(_env_file=None, RATE_LIMIT_ENABLED=True, RATE_LIMIT_LOGIN="often")
    off = Settings(_env_file=None, RATE_LIMIT_ENABLED=False, RATE_LIMIT_LOGIN="often")
    assert not off.RATE_LIMIT_ENABLED
