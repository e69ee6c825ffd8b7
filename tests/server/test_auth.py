"""Accounts and auth, contract §3: register, login, refresh rotation, logout, me, tokens."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from server.auth.guards import learner_only, teacher_only
from server.auth.tokens import InvalidToken, decode_access_token, issue_access_token
from storage.database import Database
from storage.models import User
from tests.backends import SECRET_KEY
from tests.helpers import PASSWORD, bearer, error_of, login, register, signed_in, unique_email
from tests.live import served

Client = AsyncTestClient[Litestar]


async def test_register_returns_the_user(client: Client) -> None:
    email = unique_email("Mixed.Case")
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "name": "Grace", "role": "teacher"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    user = body["data"]
    assert set(user) == {"id", "email", "name", "role", "created_at"}
    assert uuid.UUID(user["id"])
    assert user["email"] == email.lower()
    assert (user["name"], user["role"]) == ("Grace", "teacher")
    assert user["created_at"].endswith("Z")
    assert "." in user["created_at"]


async def test_duplicate_email_is_409_whatever_the_case(client: Client) -> None:
    user = await register(client)
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": user["email"].upper(), "password": PASSWORD, "name": "B", "role": "learner"},
    )
    error_of(response, 409, "EMAIL_TAKEN")


async def test_concurrent_registrations_of_one_email_make_one_account(app: Litestar) -> None:
    email = unique_email()
    body = {"email": email, "password": PASSWORD, "name": "Twin", "role": "learner"}
    async with served(app) as client:
        responses = await asyncio.gather(
            *(client.post("/api/v1/auth/register", json=body) for _ in range(5))
        )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"email": "a@b.c", "password": "short", "name": "A", "role": "learner"}, {"password"}),
        ({"email": "a@b.c", "password": PASSWORD, "name": "A", "role": "admin"}, {"role"}),
        (
            {"email": "not-an-email", "password": PASSWORD, "name": "A", "role": "learner"},
            {"email"},
        ),
        (
            {"email": "a@b.c", "password": PASSWORD, "name": "A", "role": "learner", "id": "x"},
            {"id"},
        ),
        ({"email": 7, "password": 12345678, "role": "learner"}, {"email", "password", "name"}),
    ],
)
async def test_register_validation_names_each_bad_field(
    client: Client, body: dict[str, Any], fields: set[str]
) -> None:
    error = error_of(await client.post("/api/v1/auth/register", json=body), 400, "VALIDATION_ERROR")
    assert {f["field"] for f in error["details"]["fields"]} == fields


async def test_login_answers_the_token_pair(client: Client) -> None:
    user = await register(client, role="teacher", name="Lin")
    tokens = await login(client, user["email"].upper())
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 900
    assert tokens["user"] == user
    claims = jwt.decode(
        tokens["access_token"], SECRET_KEY.encode(), algorithms=["HS256"], audience="tandem-api"
    )
    assert claims["sub"] == user["id"]
    assert (claims["iss"], claims["role"]) == ("tandem", "teacher")
    assert claims["exp"] - claims["iat"] == 900


async def test_unknown_email_and_wrong_password_answer_alike(client: Client) -> None:
    user = await register(client)
    wrong_password = await client.post(
        "/api/v1/auth/login", json={"email": user["email"], "password": "not the password"}
    )
    unknown_email = await client.post(
        "/api/v1/auth/login", json={"email": unique_email(), "password": PASSWORD}
    )
    first = error_of(wrong_password, 401, "INVALID_CREDENTIALS")
    second = error_of(unknown_email, 401, "INVALID_CREDENTIALS")
    assert first == second


async def test_ten_failed_logins_lock_the_email_out(client: Client) -> None:
    user = await register(client)
    for _ in range(10):
        wrong = {"email": user["email"], "password": "wrong password"}
        error_of(await client.post("/api/v1/auth/login", json=wrong), 401, "INVALID_CREDENTIALS")
    right = {"email": user["email"], "password": PASSWORD}
    response = await client.post("/api/v1/auth/login", json=right)
    error = error_of(response, 429, "RATE_LIMITED")
    retry_after = int(response.headers["retry-after"])
    # Within the 15-minute window, and the same figure in the body as in the header.
    assert 1 <= retry_after <= 15 * 60
    assert error["details"] == {"retry_after": retry_after}
    # Another email is not affected.
    await login(client, (await register(client))["email"])


async def test_failed_logins_for_unknown_emails_lock_out_too(client: Client) -> None:
    email = unique_email("ghost")
    for _ in range(10):
        body = {"email": email, "password": "whatever1"}
        error_of(await client.post("/api/v1/auth/login", json=body), 401, "INVALID_CREDENTIALS")
    body = {"email": email, "password": "whatever1"}
    error_of(await client.post("/api/v1/auth/login", json=body), 429, "RATE_LIMITED")


async def test_me_returns_the_current_user(client: Client) -> None:
    tokens = await signed_in(client, role="learner", name="Kim")
    response = await client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    assert response.json()["data"] == tokens["user"]


async def test_me_without_token_is_401(client: Client) -> None:
    error_of(await client.get("/api/v1/auth/me"), 401, "UNAUTHORIZED")


async def test_refresh_rotates_the_pair(client: Client) -> None:
    tokens = await signed_in(client)
    response = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert response.status_code == 200
    fresh = response.json()["data"]
    assert fresh["refresh_token"] != tokens["refresh_token"]
    me = await client.get("/api/v1/auth/me", headers=bearer(fresh["access_token"]))
    assert me.status_code == 200
    # The old refresh token stopped working.
    again = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    error_of(again, 401, "UNAUTHORIZED")


async def test_reusing_a_rotated_token_revokes_the_whole_family(client: Client) -> None:
    tokens = await signed_in(client)
    first = tokens["refresh_token"]
    second = (await client.post("/api/v1/auth/refresh", json={"refresh_token": first})).json()[
        "data"
    ]["refresh_token"]
    # An attacker replays the first token: refused, and the family is revoked ...
    error_of(
        await client.post("/api/v1/auth/refresh", json={"refresh_token": first}),
        401,
        "UNAUTHORIZED",
    )
    # ... so the legitimate holder's current token stops working as well.
    error_of(
        await client.post("/api/v1/auth/refresh", json={"refresh_token": second}),
        401,
        "UNAUTHORIZED",
    )


async def test_other_logins_survive_a_revoked_family(client: Client) -> None:
    user = await register(client)
    phone = await login(client, user["email"])
    laptop = await login(client, user["email"])
    rotated = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]}
    )
    assert rotated.status_code == 200
    await client.post("/api/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    response = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": laptop["refresh_token"]}
    )
    assert response.status_code == 200


async def test_concurrent_refreshes_with_one_token_let_one_through(app: Litestar) -> None:
    async with served(app) as client:
        tokens = await signed_in(client)
        body = {"refresh_token": tokens["refresh_token"]}
        responses = await asyncio.gather(
            *(client.post("/api/v1/auth/refresh", json=body) for _ in range(4))
        )
    assert [r.status_code for r in responses].count(200) == 1


async def test_logout_needs_no_access_token_and_ends_the_refresh_token(client: Client) -> None:
    tokens = await signed_in(client)
    body = {"refresh_token": tokens["refresh_token"]}
    response = await client.post("/api/v1/auth/logout", json=body)
    assert response.status_code == 200
    assert response.json()["success"] is True
    error_of(await client.post("/api/v1/auth/refresh", json=body), 401, "UNAUTHORIZED")


async def test_unknown_refresh_token_is_401(client: Client) -> None:
    body = {"refresh_token": "made-up"}
    error_of(await client.post("/api/v1/auth/refresh", json=body), 401, "UNAUTHORIZED")


def _forge(claims: dict[str, Any], *, key: str = SECRET_KEY, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key.encode() if algorithm != "none" else None, algorithm=algorithm)


def _claims(user_id: str, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": "tandem",
        "aud": "tandem-api",
        "sub": user_id,
        "role": "learner",
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _bad_token(case: str, user_id: str, refresh_token: str) -> str:
    past = datetime.now(UTC) - timedelta(minutes=10)
    match case:
        case "alg_none":
            return _forge(_claims(user_id), algorithm="none")
        case "wrong_key":
            return _forge(_claims(user_id), key="another-key-of-the-same-good-length-x")
        case "expired":
            return _forge(_claims(user_id, iat=past, exp=past + timedelta(minutes=1)))
        case "missing_exp" | "missing_iat" | "missing_sub":
            return _forge(_claims(user_id, **{case.removeprefix("missing_"): None}))
        case "wrong_audience":
            return _forge(_claims(user_id, aud="someone-else"))
        case "wrong_issuer":
            return _forge(_claims(user_id, iss="evil"))
        case "refresh_token":
            return refresh_token
        case _:
            return "not.a.jwt"


@pytest.mark.parametrize(
    "case",
    [
        "alg_none",
        "wrong_key",
        "expired",
        "missing_exp",
        "missing_iat",
        "missing_sub",
        "wrong_audience",
        "wrong_issuer",
        "refresh_token",
        "garbage",
    ],
)
async def test_bad_access_tokens_are_401(client: Client, case: str) -> None:
    tokens = await signed_in(client)
    user_id = tokens["user"]["id"]
    token = _bad_token(case, user_id, tokens["refresh_token"])
    error_of(await client.get("/api/v1/auth/me", headers=bearer(token)), 401, "UNAUTHORIZED")


async def test_a_well_forged_token_with_the_right_key_is_accepted(client: Client) -> None:
    """The control for the cases above: the same claims, correctly signed, do work."""
    tokens = await signed_in(client)
    token = _forge(_claims(tokens["user"]["id"]))
    assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 200


def test_a_token_verified_before_is_refused_once_it_expires() -> None:
    """Verified tokens are remembered (server/auth/tokens.py); their expiry is not."""
    user_id = uuid.uuid4()
    issued = datetime.now(UTC)
    token = issue_access_token(
        secret_key=SECRET_KEY, user_id=user_id, role="teacher", name="Grace", ttl_seconds=60
    )
    principal = decode_access_token(token, secret_key=SECRET_KEY)
    assert (principal.user_id, principal.role, principal.name) == (user_id, "teacher", "Grace")
    just_before = principal.expires_at - timedelta(microseconds=1)
    assert just_before > issued
    assert decode_access_token(token, secret_key=SECRET_KEY, now=just_before) == principal
    for later in (principal.expires_at, principal.expires_at + timedelta(days=1)):
        with pytest.raises(InvalidToken, match="expired"):
            decode_access_token(token, secret_key=SECRET_KEY, now=later)


def test_a_token_verified_under_one_key_is_not_valid_under_another() -> None:
    token = issue_access_token(
        secret_key=SECRET_KEY, user_id=uuid.uuid4(), role="learner", name="Lin", ttl_seconds=60
    )
    assert decode_access_token(token, secret_key=SECRET_KEY).role == "learner"
    with pytest.raises(InvalidToken, match="not valid"):
        decode_access_token(token, secret_key="another-key-of-the-same-good-length-x")


@pytest.mark.parametrize("exp", ["soon", 10**20, [1], None])
def test_an_exp_that_is_not_a_time_is_refused(exp: Any) -> None:
    claims = _claims(str(uuid.uuid4()))
    claims["exp"] = exp
    with pytest.raises(InvalidToken, match="not valid"):
        decode_access_token(_forge(claims), secret_key=SECRET_KEY)


@get("/api/test/teachers-only", guards=[teacher_only], sync_to_thread=False)
def teachers_only() -> dict[str, bool]:
    return {"ok": True}


@get("/api/test/learners-only", guards=[learner_only], sync_to_thread=False)
def learners_only() -> dict[str, bool]:
    return {"ok": True}


async def test_role_guards(app: Litestar, client: Client) -> None:
    app.register(teachers_only)
    app.register(learners_only)
    learner = await signed_in(client, role="learner")
    teacher = await signed_in(client, role="teacher")
    as_learner, as_teacher = bearer(learner["access_token"]), bearer(teacher["access_token"])
    error_of(await client.get("/api/test/teachers-only", headers=as_learner), 403, "FORBIDDEN")
    error_of(await client.get("/api/test/learners-only", headers=as_teacher), 403, "FORBIDDEN")
    assert (await client.get("/api/test/teachers-only", headers=as_teacher)).status_code == 200
    assert (await client.get("/api/test/learners-only", headers=as_learner)).status_code == 200
    error_of(await client.get("/api/test/teachers-only"), 401, "UNAUTHORIZED")


async def test_passwords_are_stored_as_argon2id(app: Litestar, client: Client) -> None:
    user = await register(client)
    database = Database(app.state.settings.database_url)
    try:
        async with database.reader() as session:
            stored = (
                await session.execute(select(User.password_hash).where(User.email == user["email"]))
            ).scalar_one()
    finally:
        await database.dispose()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
