"""``compose.yaml`` stays in step with the code: services, healthchecks and settings.

No Docker engine runs the tests, so this reads the file: the three services, their
healthchecks and start order, and that every ``TANDEM_*`` variable the app is given is a real
setting that :meth:`Settings.from_env` accepts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
import pytest
import yaml
from sqlalchemy.engine import make_url

from server.settings import Settings

COMPOSE_FILE = Path(__file__).resolve().parent.parent / "compose.yaml"
SECRET = "compose-test-signing-key-0123456789abcdef"

# Compose interpolation: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ...;
# "$$" is a literal "$".
_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
)


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Substitute ``${...}`` as ``docker compose`` does; a missing required one raises."""

    def substitute(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        name, op, arg = match["name"], match["op"] or "", match["arg"] or ""
        current = variables.get(name)
        # With a colon, an empty value counts as unset; without one, only a missing one does.
        is_set = current is not None and not (op.startswith(":") and current == "")
        value = current or ""
        if op.endswith("-"):
            return value if is_set else arg
        if op.endswith("?"):
            if not is_set:
                raise KeyError(f"{name}: {arg}")
            return value
        if op.endswith("+"):
            return arg if is_set else ""
        return value

    return _VARIABLE.sub(substitute, value)


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's ``environment``, in either of compose's forms (mapping or ``K=V`` list)."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return dict(str(item).partition("=")[::2] for item in raw)
    return {str(key): "" if value is None else str(value) for key, value in raw.items()}


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    found = document["services"]
    assert isinstance(found, dict)
    return found


@pytest.fixture(scope="module")
def app_env(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The app's environment as the container sees it, with the secret supplied."""
    return {
        name: interpolate(value, {"TANDEM_SECRET_KEY": SECRET})
        for name, value in environment(services["app"]).items()
    }


def test_the_three_services(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {"app", "postgres", "redis"}
    assert services["app"]["build"]["dockerfile"] == "Dockerfile"
    assert (COMPOSE_FILE.parent / "Dockerfile").is_file()


def test_app_points_at_the_other_services(app_env: dict[str, str]) -> None:
    database = make_url(app_env["TANDEM_DATABASE_URL"])
    assert database.drivername == "postgresql+asyncpg"
    assert database.host == "postgres"
    redis = urlsplit(app_env["TANDEM_REDIS_URL"])
    assert redis.scheme == "redis"
    assert redis.hostname == "redis"
    assert app_env["TANDEM_SECRET_KEY"] == SECRET


def test_secret_key_is_required_not_written_in_the_file(
    services: dict[str, dict[str, Any]],
) -> None:
    raw = environment(services["app"])["TANDEM_SECRET_KEY"]
    assert raw.startswith("${TANDEM_SECRET_KEY:?")
    with pytest.raises(KeyError, match="TANDEM_SECRET_KEY"):
        interpolate(raw, {})
    with pytest.raises(KeyError, match="TANDEM_SECRET_KEY"):
        interpolate(raw, {"TANDEM_SECRET_KEY": ""})


@pytest.mark.parametrize("name", ["app", "postgres", "redis"])
def test_every_service_has_a_healthcheck(services: dict[str, dict[str, Any]], name: str) -> None:
    healthcheck = services[name].get("healthcheck")
    assert isinstance(healthcheck, dict)
    assert not healthcheck.get("disable", False)
    assert healthcheck["test"]
    assert healthcheck["test"] != ["NONE"]


def test_app_healthcheck_asks_ready(services: dict[str, dict[str, Any]]) -> None:
    assert any("/ready" in str(part) for part in services["app"]["healthcheck"]["test"])


def test_app_starts_after_its_dependencies_are_healthy(
    services: dict[str, dict[str, Any]],
) -> None:
    depends_on = services["app"]["depends_on"]
    assert isinstance(depends_on, dict)
    assert {name: spec["condition"] for name, spec in depends_on.items()} == {
        "postgres": "service_healthy",
        "redis": "service_healthy",
    }


def test_several_workers_have_redis(
    services: dict[str, dict[str, Any]], app_env: dict[str, str]
) -> None:
    command = [str(part) for part in services["app"]["command"]]
    assert command[:2] == ["tandem", "serve"]
    workers = int(command[command.index("--workers") + 1])
    assert workers > 1
    assert app_env["TANDEM_REDIS_URL"]  # the CLI refuses --workers > 1 without it


def test_every_app_variable_is_a_setting(app_env: dict[str, str]) -> None:
    fields = {field.name for field in msgspec.structs.fields(Settings)}
    tandem_names = [name for name in app_env if name.startswith("TANDEM_")]
    assert tandem_names
    unknown = [name for name in tandem_names if name.removeprefix("TANDEM_").lower() not in fields]
    assert unknown == []


def test_settings_accept_the_app_environment(app_env: dict[str, str]) -> None:
    settings = Settings.from_env(environ=app_env, env_file=None)
    assert settings.database_url == app_env["TANDEM_DATABASE_URL"]
    assert settings.redis_url == app_env["TANDEM_REDIS_URL"]
    assert settings.secret_key == SECRET
    assert not settings.is_sqlite
