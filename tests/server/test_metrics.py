"""Contract §10: ``TANDEM_METRICS``, ``GET /metrics`` and who may read it, and the series."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.ratelimit.base import parse_windows
from server.settings import Settings, SettingsError
from tests.helpers import bearer, error_of, signed_in
from tests.live import FRAME_TIMEOUT_SECONDS, frame_where, live, websocket

PROGRESS = "/api/v1/progress"


def test_metrics_settings_are_read_from_the_environment() -> None:
    default = Settings.from_env({}, env_file=None)
    assert (default.metrics, default.metrics_allow, default.log_format) == (
        False,
        ("127.0.0.1/32",),
        "text",
    )
    chosen = Settings.from_env(
        {
            "TANDEM_METRICS": "on",
            "TANDEM_METRICS_ALLOW": "127.0.0.1, 10.1.2.3/8 ,::1",
            "TANDEM_LOG_FORMAT": "JSON",
        },
        env_file=None,
    )
    assert chosen.metrics is True
    assert chosen.metrics_allow == ("127.0.0.1/32", "10.0.0.0/8", "::1/128")
    assert chosen.log_format == "json"
    for name, value in (
        ("TANDEM_METRICS", "maybe"),
        ("TANDEM_METRICS_ALLOW", "localhost"),
        ("TANDEM_LOG_FORMAT", "xml"),
    ):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: value}, env_file=None)


@pytest.fixture
def metered(settings: Settings) -> Litestar:
    return create_app(msgspec.structs.replace(settings, metrics=True))


@pytest.fixture
async def local(metered: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """A client at 127.0.0.1 (the test client's own address is ``testclient``)."""
    async with live(metered) as address, httpx.AsyncClient(base_url=f"http://{address}") as client:
        yield client


def _samples(text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of the series ``name`` in a Prometheus text exposition."""
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(\{{.*\}})? (\S+)", line)
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


async def test_metrics_are_off_by_default(client: AsyncTestClient[Litestar]) -> None:
    error_of(await client.get("/metrics"), 404, "NOT_FOUND")


async def test_metrics_answer_only_the_allowed_addresses(
    settings: Settings, local: httpx.AsyncClient
) -> None:
    response = await local.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    for name in ("tandem_http_requests_total", "tandem_db_pool_in_use"):
        assert f"# TYPE {name.removesuffix('_total')}" in response.text
    # Another address, or the same one when only a network it is not in is allowed: 403.
    async with AsyncTestClient(
        app=create_app(msgspec.structs.replace(settings, metrics=True))
    ) as other:
        error_of(await other.get("/metrics"), 403, "FORBIDDEN")
    narrow = create_app(
        msgspec.structs.replace(settings, metrics=True, metrics_allow=("10.0.0.0/8",))
    )
    async with live(narrow) as address, httpx.AsyncClient(base_url=f"http://{address}") as client:
        error_of(await client.get("/metrics"), 403, "FORBIDDEN")


async def test_requests_are_counted_under_their_route_template(local: httpx.AsyncClient) -> None:
    tokens = await signed_in(local)
    body = {"studyCount": 1, "correctCount": 1, "confidence": 3}
    for word in ("es:hola", "es:adios"):
        response = await local.put(
            f"{PROGRESS}/{word}", json=body, headers=bearer(tokens["access_token"])
        )
        assert response.status_code in (200, 201), response.text
    await local.get("/no/such/page?token=sekrit")
    text = (await local.get("/metrics")).text
    requests = _samples(text, "tandem_http_requests_total")
    put = '{method="PUT",route="/api/v1/progress/{word_id}",status="201"}'
    assert requests[put] == 2
    assert requests['{method="GET",route="unmatched",status="404"}'] == 1
    for raw in ("hola", "no/such", "sekrit"):
        assert raw not in text
    durations = _samples(text, "tandem_http_request_duration_seconds_count")
    assert durations['{method="PUT",route="/api/v1/progress/{word_id}"}'] == 2
    # Each PUT committed one event on the learner's progress channel.
    assert _samples(text, "tandem_events_appended_total")[""] == 2
    assert _samples(text, "tandem_db_pool_in_use")[""] == 0


async def test_rate_limited_requests_are_counted(settings: Settings) -> None:
    app = create_app(
        msgspec.structs.replace(
            settings, metrics=True, anonymous_rate_limits=parse_windows("2/minute")
        )
    )
    async with live(app) as address, httpx.AsyncClient(base_url=f"http://{address}") as client:
        statuses = [(await client.get("/api/nowhere")).status_code for _ in range(4)]
        assert statuses == [404, 404, 429, 429]
        text = (await client.get("/metrics")).text  # not rate-limited itself
    assert _samples(text, "tandem_rate_limited_total")[""] == 2


async def _scrape_until(
    client: httpx.AsyncClient, name: str, labels: str, wanted: float
) -> dict[str, float]:
    """Scrape until ``name{labels}`` is ``wanted`` (the server side of a close is async)."""
    async with asyncio.timeout(FRAME_TIMEOUT_SECONDS):
        while True:
            found = _samples((await client.get("/metrics")).text, name)
            if found.get(labels) == wanted:
                return found
            await asyncio.sleep(0.02)


async def test_websockets_subscriptions_and_deliveries_are_counted(metered: Litestar) -> None:
    async with live(metered) as address, httpx.AsyncClient(base_url=f"http://{address}") as http:
        tokens = await signed_in(http)
        async with websocket(address, token=tokens["access_token"]) as socket:
            await socket.send(json.dumps({"type": "subscribe", "channel": "progress"}))
            await frame_where(socket, lambda frame: frame["type"] == "subscribed")
            text = (await http.get("/metrics")).text
            assert _samples(text, "tandem_websocket_connections")[""] == 1
            assert _samples(text, "tandem_subscriptions")[""] == 1
            body = {"studyCount": 1, "correctCount": 1, "confidence": 3}
            headers = bearer(tokens["access_token"])
            assert (await http.put(f"{PROGRESS}/es:hola", json=body, headers=headers)).is_success
            await frame_where(socket, lambda frame: frame["type"] == "event")
            text = (await http.get("/metrics")).text
            assert _samples(text, "tandem_events_delivered_total")[""] == 1
            lag = _samples(text, "tandem_event_delivery_lag_seconds_count")
            assert lag[""] == 1
            assert 0 <= _samples(text, "tandem_event_delivery_lag_seconds_sum")[""] < 5
        await _scrape_until(http, "tandem_websocket_connections", "", 0)
        await _scrape_until(http, "tandem_subscriptions", "", 0)
