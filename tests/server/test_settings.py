"""Settings from the environment and the signing-key rule (contract §1)."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

import pytest

from server.ratelimit.base import Window
from server.settings import Settings, SettingsError
from server.signing_key import resolve_secret_key


def test_defaults_match_the_contract() -> None:
    settings = Settings.from_env(environ={}, env_file=None)
    assert settings.database_url == "sqlite+aiosqlite:///./tandem.db"
    assert settings.redis_url is None
    assert settings.secret_key is None
    assert settings.rate_limits == (Window(100, 60), Window(20, 10))
    assert settings.anonymous_rate_limits == (Window(1000, 60), Window(200, 10))
    assert settings.trusted_proxies == ("127.0.0.1",)
    assert settings.lock_ttl_seconds == 300
    assert settings.event_retention_days == 7
    assert settings.access_token_ttl_seconds == 900
    assert settings.refresh_token_ttl_seconds == 2_592_000
    assert settings.allowed_origins == ()


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        environ={
            "TANDEM_DATABASE_URL": "postgresql+asyncpg://u@h/db",
            "TANDEM_REDIS_URL": "redis://r:6379/1",
            "TANDEM_SECRET_KEY": "k" * 40,
            "TANDEM_RATE_LIMITS": "5/second;50/hour",
            "TANDEM_LOCK_TTL_SECONDS": "30",
            "TANDEM_EVENT_RETENTION_DAYS": "2",
            "TANDEM_ACCESS_TOKEN_TTL_SECONDS": "60",
            "TANDEM_REFRESH_TOKEN_TTL_SECONDS": "3600",
            "TANDEM_ALLOWED_ORIGINS": "https://a.example, https://b.example/",
            "TANDEM_ANONYMOUS_RATE_LIMITS": "7/minute",
            "TANDEM_TRUSTED_PROXIES": "10.0.0.1, 172.16.0.0/12",
        },
        env_file=None,
    )
    assert settings.database_url == "postgresql+asyncpg://u@h/db"
    assert settings.redis_url == "redis://r:6379/1"
    assert settings.secret_key == "k" * 40
    assert settings.rate_limits == (Window(5, 1), Window(50, 3600))
    assert (settings.lock_ttl_seconds, settings.event_retention_days) == (30, 2)
    assert (settings.access_token_ttl_seconds, settings.refresh_token_ttl_seconds) == (60, 3600)
    assert settings.allowed_origins == ("https://a.example", "https://b.example")
    assert settings.anonymous_rate_limits == (Window(7, 60),)
    assert settings.trusted_proxies == ("10.0.0.1", "172.16.0.0/12")


def test_rate_limits_off() -> None:
    settings = Settings.from_env(environ={"TANDEM_RATE_LIMITS": "off"}, env_file=None)
    assert settings.rate_limits == ()
    assert settings.anonymous_rate_limits == (Window(1000, 60), Window(200, 10))
    settings = Settings.from_env(environ={"TANDEM_ANONYMOUS_RATE_LIMITS": "Off"}, env_file=None)
    assert settings.anonymous_rate_limits == ()
    assert settings.rate_limits == (Window(100, 60), Window(20, 10))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TANDEM_LOCK_TTL_SECONDS", "soon"),
        ("TANDEM_EVENT_RETENTION_DAYS", "0"),
        ("TANDEM_RATE_LIMITS", "lots"),
        ("TANDEM_ANONYMOUS_RATE_LIMITS", "0/minute"),
        ("TANDEM_TRUSTED_PROXIES", "the proxy"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(environ={name: value}, env_file=None)


def test_a_dotenv_file_supplies_settings_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("TANDEM_LOCK_TTL_SECONDS=42\nTANDEM_EVENT_RETENTION_DAYS=3\n")
    settings = Settings.from_env(environ={"TANDEM_EVENT_RETENTION_DAYS": "9"}, env_file=env_file)
    assert (settings.lock_ttl_seconds, settings.event_retention_days) == (42, 9)


def test_sqlite_without_a_key_generates_one_kept_beside_the_database(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/tandem.db")
    first = resolve_secret_key(settings).secret_key
    key_file = tmp_path / "tandem.db.secret-key"
    assert first is not None
    assert len(first) >= 32
    assert key_file.read_text().strip() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert resolve_secret_key(settings).secret_key == first  # kept across restarts


def test_an_explicit_key_wins(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db", secret_key="s" * 40)
    assert resolve_secret_key(settings).secret_key == "s" * 40
    assert not (tmp_path / "t.db.secret-key").exists()


def test_other_databases_refuse_to_start_without_a_key() -> None:
    settings = Settings(database_url="postgresql+asyncpg://postgres@127.0.0.1/test")
    with pytest.raises(SettingsError, match="TANDEM_SECRET_KEY"):
        resolve_secret_key(settings)


async def test_tandem_serve_refuses_without_a_key_on_postgresql() -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    environment["TANDEM_DATABASE_URL"] = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "serve",
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode != 0
    assert b"TANDEM_SECRET_KEY is not set" in stderr


async def test_several_workers_need_redis() -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "serve",
        "--workers",
        "2",
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode != 0
    assert b"TANDEM_REDIS_URL" in stderr
