"""``/health`` (the process answers) and ``/ready`` (its dependencies answer), contract §1."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol, runtime_checkable

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency

from server.http.envelope import Envelope, ok
from server.http.errors import ServiceUnavailable
from storage.database import Database

CHECK_TIMEOUT_SECONDS = 2.0


@runtime_checkable  # Litestar checks injected values against the signature's types
class Pingable(Protocol):
    """What ``/ready`` asks of the Redis client: named by its shape, so that Litestar reads
    this signature without redis-py, which a process without Redis never imports."""

    async def ping(self) -> Any: ...


class Health(msgspec.Struct, kw_only=True):
    status: str = "ok"


class Readiness(msgspec.Struct, kw_only=True):
    database: str
    redis: str | None = None


@get("/health", tags=["operations"], summary="Liveness: the process serves")
async def health() -> Envelope[Health]:
    return ok(Health())


@get("/ready", tags=["operations"], summary="Readiness: the database (and Redis) answer")
async def ready(
    database: NamedDependency[Database], redis: NamedDependency[Pingable | None]
) -> Response[Envelope[Readiness]]:
    checks = Readiness(database="ok", redis="ok" if redis is not None else None)
    failures: dict[str, str] = {}
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await database.ping()
    except Exception as exc:  # any failure means "not ready"; say which.
        failures["database"] = type(exc).__name__
    if redis is not None:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                await redis.ping()
        except Exception as exc:
            failures["redis"] = type(exc).__name__
    if failures:
        raise ServiceUnavailable(
            "Not ready: " + ", ".join(sorted(failures)) + " unreachable", details=failures
        )
    return Response(ok(checks))
