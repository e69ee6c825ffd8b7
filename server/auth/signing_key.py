"""Where the JWT signing key comes from (contract §1: never a key written in the code).

``TANDEM_SECRET_KEY`` wins. Without it, an embedded SQLite install generates a random key
once and keeps it beside the database file (mode 0600), so restarts keep sessions valid.
Any other database means several processes may share it, and they must share one key:
then starting is refused with a message that says what to set.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

import msgspec
from sqlalchemy.engine import make_url

from server.settings import Settings, SettingsError

log = logging.getLogger(__name__)


def key_file_for(database_url: str) -> Path | None:
    """The key file beside a SQLite database, or None for an in-memory database."""
    database = make_url(database_url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database).with_name(Path(database).name + ".secret-key")


def resolve_secret_key(settings: Settings) -> Settings:
    """Return ``settings`` with ``secret_key`` set, or raise :class:`SettingsError`."""
    if settings.secret_key:
        return settings
    if not settings.is_sqlite:
        raise SettingsError(
            "TANDEM_SECRET_KEY is not set. With a database other than SQLite several "
            "processes may serve together and must sign tokens with one shared key: set "
            "TANDEM_SECRET_KEY to a long random string (e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`)."
        )
    path = key_file_for(settings.database_url)
    if path is None:
        log.warning("TANDEM_SECRET_KEY is not set: using a throwaway key for this process")
        return msgspec.structs.replace(settings, secret_key=secrets.token_urlsafe(48))
    return msgspec.structs.replace(settings, secret_key=_read_or_create(path))


def _read_or_create(path: Path) -> str:
    try:
        key = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    else:
        if key:
            return key
        raise SettingsError(f"the key file {path} is empty; delete it or set TANDEM_SECRET_KEY")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Write a private temporary file, then hard-link it into place: the link either
    # appears whole or fails because another process won the race, in which case we use
    # the key that process wrote. Never a half-written key file.
    temporary = path.with_name(f"{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _read_or_create(path)
    finally:
        temporary.unlink(missing_ok=True)
    log.warning(
        "TANDEM_SECRET_KEY is not set: generated a signing key and kept it in %s (mode 0600)",
        path,
    )
    return key
