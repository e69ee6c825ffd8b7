"""``tandem serve --lan`` (issue 17): a real process answers on the machine's network address,
with that address's origin in join links and among the allowed origins, and refuses to open
to the network without rate limits.

These tests need a network address (not only loopback): where the machine has none they are
deselected, and pytest's header says so (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import sys
from urllib.parse import urlsplit

import httpx
import pytest

from tests.backends import SECRET_KEY
from tests.helpers import PASSWORD, signed_in
from tests.servers import ServeProcess

pytestmark = pytest.mark.needs_network_address


def _environment(database_url: str, redis_url: str | None) -> dict[str, str]:
    return {
        "TANDEM_DATABASE_URL": database_url,
        "TANDEM_SECRET_KEY": SECRET_KEY,
        "TANDEM_REDIS_URL": redis_url or "",
        "TANDEM_PUBLIC_URL": "",
        "TANDEM_ALLOWED_ORIGINS": "",
    }


async def test_serve_lan_answers_on_the_network_address(
    database_url: str, redis_url: str | None
) -> None:
    process = ServeProcess(_environment(database_url, redis_url), ["--lan"])
    await process.start()
    try:
        said = next(line for line in process.log if "serving the network at" in line)
        origin = re.search(r"http://\S+", said)[0]  # type: ignore[index]
        parts = urlsplit(origin)
        assert parts.hostname is not None
        assert not ipaddress.ip_address(parts.hostname).is_loopback
        assert parts.port == process.server.port

        async with httpx.AsyncClient(base_url=origin, timeout=10) as client:
            assert (await client.get("/health")).status_code == 200
            # Join links name the network address, whatever address the teacher browses at.
            data = (await client.get("/api/v1/join-origin")).json()["data"]
            assert data == {"origin": origin, "join_url": f"{origin}/join?code="}
            # Its origin is an allowed one: a page served from it may call the API.
            preflight = await client.options(
                "/api/v1/auth/login",
                headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            )
            assert preflight.headers.get("access-control-allow-origin") == origin
            # Rate limits stay on: the anonymous ones answer with their headers.
            learner = await signed_in(client, role="learner", name="Lena")
            assert learner["user"]["role"] == "learner"
            response = await client.post(
                "/api/v1/auth/login",
                json={"email": learner["user"]["email"], "password": PASSWORD},
            )
            assert response.status_code == 200
            assert "x-ratelimit-limit" in {name.lower() for name in response.headers}
        # Only the network address: nothing listens on loopback.
        async with httpx.AsyncClient(timeout=5) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"{process.server.url}/health")
    finally:
        await process.stop()


async def test_serve_lan_refuses_without_rate_limits(database_url: str) -> None:
    environment = {**_environment(database_url, None), "TANDEM_RATE_LIMITS": "off"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "serve",
        "--lan",
        env={**os.environ, **environment},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        _, stderr = await process.communicate()
    assert process.returncode == 1
    assert "--lan needs rate limits on" in stderr.decode()
