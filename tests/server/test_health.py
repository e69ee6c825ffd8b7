"""``/health``, ``/ready`` and the OpenAPI document (contract §1), and 503 on a dead database."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.settings import Settings
from tests.backends import SECRET_KEY, TEST_DATABASE_URL
from tests.helpers import error_of

Client = AsyncTestClient[Litestar]


async def test_health_answers(client: Client) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": {"status": "ok"}}


async def test_ready_when_everything_answers(client: Client, settings: Settings) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["database"] == "ok"
    assert data["redis"] == ("ok" if settings.redis_url else None)


def _unreachable_database_url(tmp_dir: str) -> str:
    if TEST_DATABASE_URL:
        # Nothing listens on port 1: the connection is refused.
        return "postgresql+asyncpg://postgres@127.0.0.1:1/tandem"
    return f"sqlite+aiosqlite:///{tmp_dir}/missing-directory/tandem.db"


@pytest.fixture
async def dead_client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    url = _unreachable_database_url(str(tmp_path_factory.mktemp("dead")))
    app = create_app(
        Settings(database_url=url, secret_key=SECRET_KEY, rate_limits=(), anonymous_rate_limits=())
    )
    async with AsyncTestClient(app=app) as client:
        yield client


async def test_ready_is_503_when_the_database_is_unreachable(dead_client: Client) -> None:
    started = time.monotonic()
    response = await dead_client.get("/ready")
    error = error_of(response, 503, "SERVICE_UNAVAILABLE")
    assert "database" in error["details"]
    assert time.monotonic() - started < 5


async def test_api_is_503_when_the_database_is_unreachable(dead_client: Client) -> None:
    started = time.monotonic()
    response = await dead_client.post(
        "/api/v1/auth/login", json={"email": "a@b.c", "password": "whatever1"}
    )
    error_of(response, 503, "SERVICE_UNAVAILABLE")
    assert time.monotonic() - started < 5


@pytest.mark.needs_redis
async def test_ready_is_503_when_redis_is_unreachable(settings: Settings) -> None:
    broken = msgspec.structs.replace(settings, redis_url="redis://127.0.0.1:1/0")
    async with AsyncTestClient(app=create_app(broken)) as client:
        error = error_of(await client.get("/ready"), 503, "SERVICE_UNAVAILABLE")
    assert "redis" in error["details"]
    assert "database" not in error["details"]


async def test_openapi_lists_every_route_with_shapes(client: Client) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document = response.json()
    paths = document["paths"]
    for path in (
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/me",
        "/health",
        "/ready",
    ):
        assert path in paths, path
    register = paths["/api/v1/auth/register"]["post"]
    assert "requestBody" in register
    assert "201" in register["responses"]
    schemas = document["components"]["schemas"]
    assert "RegisterIn" in schemas
    assert set(schemas["RegisterIn"]["properties"]) == {"email", "password", "name", "role"}


async def test_openapi_documents_errors_in_the_envelope_the_api_answers_with(
    client: Client,
) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert set(schemas["ErrorEnvelope"]["required"]) == {"success", "error"}
    error = schemas["ErrorDetail"]
    assert set(error["required"]) == {"code", "message", "details"}
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path, operations in document["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            for status in ("400", "401", "404", "429", "500", "503"):
                answer = operation["responses"][status]
                assert answer["content"]["application/json"]["schema"] == envelope, (
                    path,
                    method,
                    status,
                )
    # What a bad request really answers has that shape.
    response = await client.post("/api/v1/auth/login", json={"email": 5})
    body = response.json()
    assert response.status_code == 400
    assert set(body) == set(schemas["ErrorEnvelope"]["properties"])
    assert set(body["error"]) == set(error["properties"])
