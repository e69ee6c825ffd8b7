"""Contract §10: ``TANDEM_LOG_FORMAT=json`` on a real ``tandem serve``, and no secret logged.

The server is driven through sign-up, logins (one failing), a refresh, joining a classroom,
progress, the board and websocket authentication, good and bad; then every line it wrote
must be one JSON object, the requests must be there with their fields, and none of the
passwords, tokens, join codes or the signing key may appear anywhere in the log.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from tests.helpers import PASSWORD, bearer, unique_email
from tests.servers import ServeProcess

WAIT_SECONDS = 20.0


def _environment(database_url: str, redis_url: str | None, secret_key: str) -> dict[str, str]:
    environment = {
        "TANDEM_DATABASE_URL": database_url,
        "TANDEM_SECRET_KEY": secret_key,
        "TANDEM_LOG_FORMAT": "json",
        "TANDEM_METRICS": "on",
        "TANDEM_RATE_LIMITS": "off",
        "TANDEM_ANONYMOUS_RATE_LIMITS": "off",
    }
    if redis_url:
        environment["TANDEM_REDIS_URL"] = redis_url
    return environment


def _parsed(log: list[str]) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log if line.strip()]
    for line in lines:
        assert {"ts", "level", "logger", "message"} <= set(line), line
    return lines


async def _classroom_traffic(http: httpx.AsyncClient, address: str) -> list[str]:
    """A day's requests in miniature; the secrets they used."""
    teacher_email, learner_email = unique_email("teacher"), unique_email("learner")
    wrong_password = "wrong-" + secrets.token_urlsafe(12)
    used = [PASSWORD, wrong_password]
    for email, role in ((teacher_email, "teacher"), (learner_email, "learner")):
        body = {"email": email, "password": PASSWORD, "name": "Ada", "role": role}
        assert (await http.post("/api/v1/auth/register", json=body)).status_code == 201
    failed = await http.post(
        "/api/v1/auth/login", json={"email": teacher_email, "password": wrong_password}
    )
    assert failed.status_code == 401
    tokens = {}
    for email in (teacher_email, learner_email):
        response = await http.post(
            "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
        )
        tokens[email] = response.json()["data"]
        used += [tokens[email]["access_token"], tokens[email]["refresh_token"]]
    refreshed = await http.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens[learner_email]["refresh_token"]}
    )
    learner = refreshed.json()["data"]
    used += [learner["access_token"], learner["refresh_token"]]
    teacher = bearer(tokens[teacher_email]["access_token"])
    classroom = (
        await http.post("/api/teacher/classrooms", json={"name": "Room 9"}, headers=teacher)
    ).json()["data"]
    used += [classroom["teacher_join_code"], classroom["student_join_code"]]
    joined = await http.post(
        "/api/v1/classrooms/join",
        json={"join_code": classroom["student_join_code"]},
        headers=bearer(learner["access_token"]),
    )
    assert joined.status_code == 200, joined.text
    counts = {"studyCount": 2, "correctCount": 1, "confidence": 3}
    put = await http.put(
        "/api/v1/progress/es:hola", json=counts, headers=bearer(learner["access_token"])
    )
    assert put.is_success, put.text
    board = await http.get(
        "/api/teacher/progress-board", params={"classroom_id": classroom["id"]}, headers=teacher
    )
    assert board.status_code == 200
    # Tokens where a careless client puts them: a query string, a bad bearer, a bad frame.
    await http.get("/api/v1/auth/me", params={"token": learner["access_token"]})
    await http.get("/api/v1/auth/me", headers=bearer(learner["refresh_token"]))
    url = f"ws://{address}/api/v1/ws?token={learner['access_token']}"
    async with connect(url) as socket:
        await socket.send(json.dumps({"type": "auth", "token": learner["access_token"]}))
        assert json.loads(await socket.recv())["type"] == "auth_ok"
    async with connect(f"ws://{address}/api/v1/ws") as socket:
        await socket.send(json.dumps({"type": "auth", "token": learner["refresh_token"]}))
        with pytest.raises(ConnectionClosedError, match="4401"):
            await socket.recv()
    return used


async def test_json_logs_carry_requests_and_no_secret(
    database_url: str, redis_url: str | None
) -> None:
    secret_key = secrets.token_urlsafe(48)
    process = ServeProcess(_environment(database_url, redis_url, secret_key), ["--access-log"])
    await process.start()
    try:
        address = process.server.address
        async with httpx.AsyncClient(base_url=process.server.url) as http:
            used = await _classroom_traffic(http, address)
            sent = await http.get("/health", headers={"X-Request-ID": "probe-1234"})
            assert sent.headers["x-request-id"] == "probe-1234"
    finally:
        await process.stop()
    log = list(process.log)
    lines = _parsed(log)
    requests = [line for line in lines if line["logger"] == "tandem.access"]
    assert {"request_id", "method", "route", "status", "duration_ms", "user_id"} <= set(requests[0])
    failed = [line for line in requests if line["status"] == 401]
    assert any(line["route"] == "/api/v1/auth/login" for line in failed)
    put = next(line for line in requests if line["method"] == "PUT")
    assert put["route"] == "/api/v1/progress/{word_id}"
    assert re.fullmatch(r"[0-9a-f-]{36}", put["user_id"])
    assert any(line["request_id"] == "probe-1234" for line in requests)
    assert any(line["user_id"] is None for line in requests)
    whole = "".join(log)
    for secret in [*used, secret_key]:
        assert secret not in whole
    assert "es:hola" not in whole


@pytest.mark.needs_redis
async def test_two_workers_share_one_scrape_and_log_json(
    database_url: str, redis_url: str | None
) -> None:
    assert redis_url is not None
    process = ServeProcess(
        _environment(database_url, redis_url, secrets.token_urlsafe(48)),
        ["--workers", "2", "--access-log"],
    )
    await process.start()
    pattern = re.compile(
        r'^tandem_http_requests_total\{method="GET",route="/health",status="200"\} (\S+)$',
        re.MULTILINE,
    )
    answered = 0
    counted: float | None = None
    try:
        # New connections until both workers have answered (the kernel picks the worker).
        async with asyncio.timeout(WAIT_SECONDS):
            while len(_health_pids(process.log)) < 2:
                async with httpx.AsyncClient(base_url=process.server.url) as http:
                    assert (await http.get("/health")).status_code == 200
                answered += 1
            # A request is counted as it ends, just after its answer: scrape until the count
            # arrives (one scrape, whichever worker takes it, sums both workers).
            while counted != answered:
                async with httpx.AsyncClient(base_url=process.server.url) as http:
                    found = pattern.search((await http.get("/metrics")).text)
                counted = None if found is None else float(found.group(1))
    finally:
        await process.stop()
    assert counted == answered
    lines = _parsed(list(process.log))
    assert len({line["pid"] for line in lines if line["logger"].startswith("uvicorn")}) >= 2


def _health_pids(log: Any) -> dict[int, int]:
    """``{pid: /health requests it logged}`` so far."""
    counts: dict[int, int] = {}
    for raw in list(log):
        line = json.loads(raw)
        if line["logger"] == "tandem.access" and line["route"] == "/health":
            counts[line["pid"]] = counts.get(line["pid"], 0) + 1
    return counts
