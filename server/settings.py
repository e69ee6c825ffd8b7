"""Settings read from the environment (contract §1), with an optional ``.env`` file.

Nothing is read at import time: :meth:`Settings.from_env` is called by the CLI or by the
ASGI factory, and tests build :class:`Settings` directly.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path

import msgspec
from dotenv import dotenv_values

from server.http.client_address import DEFAULT_TRUSTED_PROXIES, parse_trusted_proxies
from server.logs import LOG_FORMATS
from server.ratelimit.base import Window, parse_windows

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./tandem.db"
DEFAULT_RATE_LIMITS = "100/minute;20/10 seconds"
DEFAULT_ANONYMOUS_RATE_LIMITS = "1000/minute;200/10 seconds"
DEFAULT_METRICS_ALLOW = "127.0.0.1"
_ORIGIN = re.compile(r"https?://[^/?#\s]+")
_SWITCH = {"on": True, "true": True, "1": True, "off": False, "false": False, "0": False}


def parse_allow(text: str) -> tuple[str, ...]:
    """``"127.0.0.1, 10.0.0.0/8"`` as normalised networks; ValueError names a bad entry."""
    networks = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise ValueError(f"{entry!r} is neither an IP address nor a network") from None
    return tuple(networks)


class SettingsError(ValueError):
    """A setting has a value Tandem cannot use; the message names the variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Every knob of a Tandem process. Field names mirror the ``TANDEM_*`` variables."""

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    secret_key: str | None = None
    rate_limits: tuple[Window, ...] = parse_windows(DEFAULT_RATE_LIMITS)
    lock_ttl_seconds: int = 300
    event_retention_days: int = 7
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 2_592_000
    allowed_origins: tuple[str, ...] = ()
    # The address learners reach this server at, for join links and their QR codes
    # (``tandem serve --lan`` sets it); unset: the origin each request came to.
    public_url: str | None = None
    anonymous_rate_limits: tuple[Window, ...] = parse_windows(DEFAULT_ANONYMOUS_RATE_LIMITS)
    trusted_proxies: tuple[str, ...] = parse_trusted_proxies(DEFAULT_TRUSTED_PROXIES)
    metrics: bool = False
    metrics_allow: tuple[str, ...] = parse_allow(DEFAULT_METRICS_ALLOW)
    log_format: str = "text"
    # One log line per request (``tandem serve --access-log`` sets TANDEM_ACCESS_LOG=on).
    access_log: bool = False
    # Not in the contract's table: operational extras with safe defaults.
    max_body_bytes: int = 1024 * 1024
    import_max_body_bytes: int = 10 * 1024 * 1024
    # Failed logins for one email from one client address, and from all addresses together,
    # within the window (contract §3).
    login_failure_limit: int = 10
    login_failure_limit_all_addresses: int = 50
    login_failure_minutes: int = 15
    ws_auth_timeout_seconds: float = 10.0
    ws_outbox_limit: int = 512

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
    ) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``) over an optional ``.env``.

        Real environment variables win over the file, as with every twelve-factor tool.
        """
        values: dict[str, str] = {}
        if env_file is not None and env_file.is_file():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            raw = values.get(f"TANDEM_{name}")
            if raw is None or raw.strip() == "":
                return None
            return raw.strip()

        def get_int(name: str, default: int, minimum: int) -> int:
            raw = get(name)
            if raw is None:
                return default
            try:
                number = int(raw)
            except ValueError:
                raise SettingsError(f"TANDEM_{name} must be a whole number, got {raw!r}") from None
            if number < minimum:
                raise SettingsError(f"TANDEM_{name} must be at least {minimum}, got {number}")
            return number

        def get_windows(name: str, default: str) -> tuple[Window, ...]:
            try:
                return parse_windows(get(name) or default)
            except ValueError as exc:
                raise SettingsError(f"TANDEM_{name}: {exc}") from None

        def get_switch(name: str) -> bool:
            raw = (get(name) or "off").lower()
            if raw not in _SWITCH:
                raise SettingsError(f"TANDEM_{name} must be on or off, got {raw!r}")
            return _SWITCH[raw]

        try:
            metrics_allow = parse_allow(get("METRICS_ALLOW") or DEFAULT_METRICS_ALLOW)
        except ValueError as exc:
            raise SettingsError(f"TANDEM_METRICS_ALLOW: {exc}") from None
        log_format = (get("LOG_FORMAT") or "text").lower()
        if log_format not in LOG_FORMATS:
            raise SettingsError(f"TANDEM_LOG_FORMAT must be text or json, got {log_format!r}")
        try:
            trusted_proxies = parse_trusted_proxies(
                get("TRUSTED_PROXIES") or DEFAULT_TRUSTED_PROXIES
            )
        except ValueError as exc:
            raise SettingsError(f"TANDEM_TRUSTED_PROXIES: {exc}") from None
        origins = tuple(
            o.strip().rstrip("/") for o in (get("ALLOWED_ORIGINS") or "").split(",") if o.strip()
        )
        public_url = get("PUBLIC_URL")
        if public_url is not None:
            public_url = public_url.rstrip("/")
            if not _ORIGIN.fullmatch(public_url):
                raise SettingsError(
                    "TANDEM_PUBLIC_URL must be an origin like http://192.168.1.20:8000 "
                    f"(scheme, host and port, no path), got {public_url!r}"
                )
        return cls(
            database_url=get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            redis_url=get("REDIS_URL"),
            secret_key=get("SECRET_KEY"),
            rate_limits=get_windows("RATE_LIMITS", DEFAULT_RATE_LIMITS),
            anonymous_rate_limits=get_windows(
                "ANONYMOUS_RATE_LIMITS", DEFAULT_ANONYMOUS_RATE_LIMITS
            ),
            trusted_proxies=trusted_proxies,
            lock_ttl_seconds=get_int("LOCK_TTL_SECONDS", 300, 1),
            event_retention_days=get_int("EVENT_RETENTION_DAYS", 7, 1),
            access_token_ttl_seconds=get_int("ACCESS_TOKEN_TTL_SECONDS", 900, 1),
            refresh_token_ttl_seconds=get_int("REFRESH_TOKEN_TTL_SECONDS", 2_592_000, 1),
            allowed_origins=origins,
            public_url=public_url,
            metrics=get_switch("METRICS"),
            metrics_allow=metrics_allow,
            log_format=log_format,
            access_log=get_switch("ACCESS_LOG"),
        )
