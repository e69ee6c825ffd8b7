"""The error envelope on every /api answer, including what the framework raises (§2)."""

from __future__ import annotations

import logging

import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from tests.helpers import PASSWORD, bearer, error_of, signed_in, unique_email

Client = AsyncTestClient[Litestar]


async def test_unknown_route_is_404_not_found(client: Client) -> None:
    error_of(await client.get("/api/v1/no-such-thing"), 404, "NOT_FOUND")


async def test_wrong_method_is_405_with_allow(client: Client) -> None:
    response = await client.delete("/api/v1/auth/login")
    error_of(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in response.headers["allow"]


async def test_malformed_json_is_400(client: Client) -> None:
    response = await client.post(
        "/api/v1/auth/login",
        content=b'{"email": "a@b.c", "password": ',
        headers={"content-type": "application/json"},
    )
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert error["details"]["fields"][0]["field"] == "body"


async def test_wrong_types_and_unknown_fields_are_400_naming_each_field(client: Client) -> None:
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": ["a@b.c"], "password": True, "remember_me": True, "role": "teacher"},
    )
    error = error_of(response, 400, "VALIDATION_ERROR")
    named = {f["field"]: f["message"] for f in error["details"]["fields"]}
    assert set(named) == {"email", "password", "remember_me", "role"}
    assert named["remember_me"] == "unknown field"


async def test_a_string_where_a_number_belongs_is_400(client: Client) -> None:
    """Types are strict: no coercion of "1" into 1 or "true" into True."""
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": "a@b.c", "password": PASSWORD, "name": "A", "role": "learner"},
    )
    assert response.status_code == 201
    response = await client.post("/api/v1/auth/login", json={"email": 5, "password": PASSWORD})
    error_of(response, 400, "VALIDATION_ERROR")


async def test_text_with_a_nul_character_is_400_naming_the_field(client: Client) -> None:
    """PostgreSQL cannot store U+0000; both backends refuse it the same way, and write nothing."""
    email = unique_email("nul")
    body = {"email": email, "password": PASSWORD, "name": "Ad\u0000a", "role": "learner"}
    error = error_of(await client.post("/api/v1/auth/register", json=body), 400, "VALIDATION_ERROR")
    assert error["details"]["fields"] == [
        {"field": "name", "message": "must not contain the NUL character"}
    ]
    login = {"email": email, "password": PASSWORD}
    error_of(await client.post("/api/v1/auth/login", json=login), 401, "INVALID_CREDENTIALS")

    teacher = await signed_in(client, role="teacher")
    response = await client.post(
        "/api/teacher/classrooms",
        json={"name": "7b\u0000"},
        headers=bearer(teacher["access_token"]),
    )
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert error["details"]["fields"] == [
        {"field": "name", "message": "must not contain the NUL character"}
    ]
    listed = await client.get("/api/teacher/classrooms", headers=bearer(teacher["access_token"]))
    assert listed.json()["data"] == []


async def test_an_escaped_backslash_before_u0000_is_ordinary_text(client: Client) -> None:
    body = {
        "email": unique_email("slash"),
        "password": PASSWORD,
        "name": "\\u0000",
        "role": "learner",
    }
    response = await client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["data"]["name"] == "\\u0000"


async def test_body_over_one_mebibyte_is_413(client: Client) -> None:
    padding = "x" * (1024 * 1024 + 1)
    response = await client.post("/api/v1/auth/login", json={"email": "a@b.c", "password": padding})
    error_of(response, 413, "PAYLOAD_TOO_LARGE")


@get("/api/test/crash", sync_to_thread=False)
def crash() -> None:
    raise RuntimeError("secret internals: /etc/passwd line 3")


async def test_unexpected_errors_are_500_without_internals(
    app: Litestar, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    app.register(crash)
    with caplog.at_level(logging.ERROR, logger="tandem.errors"):
        response = await client.get("/api/test/crash")
    error = error_of(response, 500, "INTERNAL_ERROR")
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
    request_id = error["details"]["request_id"]
    assert request_id == response.headers["x-request-id"]
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged
    assert logged[0].exc_info is not None


async def test_every_api_answer_has_a_request_id(client: Client) -> None:
    for response in (
        await client.get("/api/nowhere"),
        await client.post("/api/v1/auth/login", json={}),
    ):
        assert len(response.headers["x-request-id"]) == 32
