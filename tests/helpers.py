"""Small helpers the tests share: accounts, tokens, envelope checks and the statements a
request runs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import Engine, event

from server.settings import Settings
from storage import events
from storage.database import Database
from storage.events import StoredEvent

Client = AsyncTestClient[Litestar] | httpx.AsyncClient
PASSWORD = "correct horse battery"


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.org"


async def register(
    client: Client, *, role: str = "learner", email: str | None = None, name: str = "Ada"
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/auth/register",
        json={
            "email": email or unique_email(role),
            "password": PASSWORD,
            "name": name,
            "role": role,
        },
    )
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()["data"]
    return user


async def login(client: Client, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()["data"]
    return tokens


async def signed_in(client: Client, *, role: str = "learner", name: str = "Ada") -> dict[str, Any]:
    """Register and log in; the login answer (tokens and user)."""
    user = await register(client, role=role, name=name)
    return await login(client, user["email"])


async def user_headers(
    client: Client, *, role: str = "learner", name: str = "Ada"
) -> dict[str, str]:
    """A new user's ``Authorization`` header, signed in."""
    tokens = await signed_in(client, role=role, name=name)
    return bearer(tokens["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert the contract's error envelope with ``status`` and ``code``; return the error."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


async def stored_events(settings: Settings, channel: str, after: int = 0) -> list[StoredEvent]:
    """The events ``channel`` holds after seq ``after``, read from the event store: what a
    subscriber resuming with ``since`` gets."""
    database = Database(settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with database.reader() as session:
            return await events.read_since(session, channel, after)
    finally:
        await database.dispose()


@contextmanager
def statements_run() -> Iterator[list[str]]:
    """The SQL statements run meanwhile by the test's task and the tasks started meanwhile
    (a request's, a writer's), in order; not those of tasks already running, the app's
    background jobs (the lock sweeper runs every second)."""
    before = asyncio.all_tasks() - {asyncio.current_task()}
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if asyncio.current_task() not in before:
            statements.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
