"""The client address behind proxies (contract §2): only trusted proxies may name it.

Unit tests drive :func:`server.http.client_address.trust_proxies` with fake ASGI scopes; one
test runs real ``tandem serve`` processes, whose peer is always 127.0.0.1, and sees through the
anonymous rate limit which address the server believed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from litestar.types import Receive, Scope, Send

from server.http.client_address import client_address, parse_trusted_proxies, trust_proxies
from server.settings import Settings, SettingsError
from tests.backends import SECRET_KEY
from tests.servers import served


async def address_seen(
    trusted: Sequence[str], peer: str | None, forwarded_for: Sequence[str] = ()
) -> str:
    """The client address the app computes for a request from ``peer`` with those headers."""
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(client_address(scope))

    scope: dict[str, Any] = {
        "type": "http",
        "path": "/api/v1/auth/login",
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded_for],
        "client": (peer, 40000) if peer is not None else None,
    }

    async def receive() -> Any:
        raise AssertionError("the app under test reads no body")

    async def send(message: Any) -> None:
        raise AssertionError("the app under test sends nothing")

    await trust_proxies(app, trusted)(scope, receive, send)  # type: ignore[arg-type]
    return seen[0]


async def test_an_untrusted_peer_cannot_name_its_address() -> None:
    assert await address_seen(["10.0.0.1"], "203.0.113.9", ["1.2.3.4"]) == "203.0.113.9"


async def test_no_trusted_proxies_means_the_header_is_ignored() -> None:
    assert await address_seen([], "127.0.0.1", ["1.2.3.4"]) == "127.0.0.1"


async def test_a_trusted_proxy_names_the_client() -> None:
    assert await address_seen(["10.0.0.1"], "10.0.0.1", ["198.51.100.7"]) == "198.51.100.7"


async def test_what_a_client_wrote_before_the_proxy_is_ignored() -> None:
    # The client sent "X-Forwarded-For: 1.2.3.4"; the proxy appended the address it saw.
    forwarded = ["1.2.3.4, 198.51.100.7"]
    assert await address_seen(["10.0.0.1"], "10.0.0.1", forwarded) == "198.51.100.7"


async def test_a_chain_of_trusted_proxies_and_networks() -> None:
    trusted = parse_trusted_proxies("10.0.0.0/8, 2001:db8::1")
    forwarded = ["1.2.3.4, 198.51.100.7, 10.2.3.4"]
    assert await address_seen(trusted, "2001:db8::1", forwarded) == "198.51.100.7"
    assert await address_seen(trusted, "10.9.9.9", ["[2001:db8::7]:5555"]) == "2001:db8::7"
    assert await address_seen(trusted, "192.168.1.1", forwarded) == "192.168.1.1"


async def test_a_request_without_a_peer_has_an_unknown_address() -> None:
    assert await address_seen(["127.0.0.1"], None, ["1.2.3.4"]) == "unknown"


def test_parse_trusted_proxies() -> None:
    assert parse_trusted_proxies("127.0.0.1") == ("127.0.0.1",)
    assert parse_trusted_proxies(" 10.1.2.3/8 , ::1,") == ("10.0.0.0/8", "::1")
    assert parse_trusted_proxies("none") == ()
    assert parse_trusted_proxies("NONE") == ()


@pytest.mark.parametrize("text", ["*", "proxy.example", "10.0.0.0/33", "127.0.0.1 10.0.0.1"])
def test_trusted_proxies_reject_what_is_not_an_address(text: str) -> None:
    with pytest.raises(SettingsError, match="TANDEM_TRUSTED_PROXIES"):
        Settings.from_env(environ={"TANDEM_TRUSTED_PROXIES": text}, env_file=None)


def test_trusted_proxies_default_to_loopback() -> None:
    assert Settings.from_env(environ={}, env_file=None).trusted_proxies == ("127.0.0.1",)


async def test_tandem_serve_believes_only_trusted_proxies(database_url: str) -> None:
    """The peer is 127.0.0.1; two anonymous requests a minute per address.

    Trusted (the default), a request that names a fresh address gets a fresh budget. Not
    trusted, every request counts against 127.0.0.1, whatever it names.
    """
    environment = {
        "TANDEM_DATABASE_URL": database_url,
        "TANDEM_SECRET_KEY": SECRET_KEY,
        "TANDEM_REDIS_URL": "",
        "TANDEM_ANONYMOUS_RATE_LIMITS": "2/minute",
    }
    untrusting = {**environment, "TANDEM_TRUSTED_PROXIES": "10.0.0.1"}
    async with served(environment) as trusting_server, served(untrusting) as untrusting_server:
        for server, expected in [
            (trusting_server, [404, 404, 429, 404]),
            (untrusting_server, [404, 404, 429, 429]),
        ]:
            async with httpx.AsyncClient(base_url=server.url) as client:
                statuses = [
                    (await client.get("/api/nowhere", headers={"X-Forwarded-For": a})).status_code
                    for a in ["1.2.3.4", "1.2.3.4", "1.2.3.4", "5.6.7.8"]
                ]
            assert statuses == expected, server
