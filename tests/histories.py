"""Recording what many clients saw while faults were injected, for ``tests/replay.py``.

``History`` sorts every answer into acknowledged (2xx), refused as the contract allows
(named 4xx codes), a fault (503 ``SERVICE_UNAVAILABLE`` or a connection error) or a
violation (a 500, a hung request, anything else). ``Follower`` is a websocket subscriber
that survives its server going away by resuming with ``since``. The fault functions touch
only what the test owns: its own database's backends, its own Redis database's clients,
its own ``tandem serve`` processes.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from websockets.exceptions import WebSocketException

from tests.live import subscribe, websocket

REQUEST_TIMEOUT_SECONDS = 10.0  # contract §2: a 503 comes within 5 s; past 10 s it hung
# Between reconnection attempts while a server is down: a retry's pace, not a wait for
# some condition (the condition is "the server answers", which the attempt itself checks).
RECONNECT_PAUSE_SECONDS = 0.05


@dataclass(frozen=True)
class Refused:
    """A 4xx the caller named as possible for its request (a conflict, a lock, a race)."""

    code: str
    details: Any


@dataclass
class History:
    """What the clients of one test were answered."""

    acknowledged: Counter[Hashable] = field(default_factory=Counter)
    present: set[Hashable] = field(default_factory=set)
    reads: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    writes: int = 0
    _progressed: asyncio.Event = field(default_factory=asyncio.Event)

    def summary(self) -> str:
        return (
            f"{self.writes} writes acknowledged, {len(self.reads)} reads, faults felt"
            f" {dict(self.faults)}, refusals {dict(self.refusals)}"
        )

    def ack(self, key: Hashable, *, own_event: bool = True) -> None:
        """Record an acknowledged write; ``own_event`` False when the write may have changed
        nothing and so share the event of an earlier one with the same data."""
        if own_event:
            self.acknowledged[key] += 1
        else:
            self.present.add(key)

    def wrote(self) -> None:
        """Count an acknowledged write request (for pacing the faults)."""
        self.writes += 1
        self._progressed.set()

    async def writes_reach(self, count: int) -> None:
        while self.writes < count:
            self._progressed.clear()
            await self._progressed.wait()

    async def call(self, request: Awaitable[httpx.Response], refusals: set[str]) -> Any:
        """The answer's ``data`` when 2xx; ``Refused`` when refused with one of
        ``refusals``; None for a fault or a violation (both recorded)."""
        try:
            response = await request
        except httpx.TimeoutException as error:
            self.violations.append(f"hung request: {error.request.method} {error.request.url}")
            return None
        except httpx.TransportError:
            self.faults["connection error"] += 1
            return None
        where = f"{response.request.method} {response.request.url.path}"
        try:
            body = response.json()
        except ValueError:
            self.violations.append(f"{where}: {response.status_code} not JSON {response.text!r}")
            return None
        if response.is_success and body.get("success") is True:
            return body["data"]
        code = body.get("error", {}).get("code") if isinstance(body, dict) else None
        if response.status_code == 503 and code == "SERVICE_UNAVAILABLE":
            self.faults["503"] += 1
            return None
        if code in refusals and 400 <= response.status_code < 500:
            self.refusals[code] += 1
            return Refused(code, body["error"]["details"])
        self.violations.append(f"{where}: {response.status_code} {response.text[:300]}")
        return None


class Follower:
    """A subscriber to ``channel`` that follows it across disconnects: on any connection
    loss it reconnects (to the next address) and resumes with ``since`` = the last seq it
    got, as a client should (contract §7). Every event frame it receives is kept."""

    def __init__(
        self, addresses: Sequence[str], token: str, channel: str, since: int, first: int = 0
    ) -> None:
        self.addresses = addresses
        self.token = token
        self.channel = channel
        self.last = since
        self.turn = first
        self.frames: list[dict[str, Any]] = []
        self.unexpected: list[dict[str, Any]] = []  # resets, refusals, errors
        self.reconnects = 0
        self._progressed = asyncio.Event()

    async def run(self) -> None:
        """Follow until cancelled."""
        while True:
            address = self.addresses[self.turn % len(self.addresses)]
            self.turn += 1
            try:
                await self._follow(address)
            except (WebSocketException, OSError, TimeoutError):
                self.reconnects += 1
            await asyncio.sleep(RECONNECT_PAUSE_SECONDS)

    async def _follow(self, address: str) -> None:
        async with websocket(address, token=self.token) as client:
            answer = await subscribe(client, self.channel, since=self.last)
            if answer["type"] != "subscribed":
                # SERVICE_UNAVAILABLE while the database is away: retry (contract §7).
                if answer.get("code") != "SERVICE_UNAVAILABLE":
                    self.unexpected.append(answer)
                self.reconnects += 1
                return
            async for message in client:
                frame = json.loads(message)
                if frame["type"] == "event":
                    self.frames.append(frame)
                    self.last = frame["seq"]
                    self._progressed.set()
                elif frame["type"] not in ("presence", "pong"):
                    self.unexpected.append(frame)

    async def reaches(self, seq: int) -> None:
        while self.last < seq:
            self._progressed.clear()
            await self._progressed.wait()


async def terminate_backends(database_url: str) -> int:
    """End every server process of the test's own database but this one's (its name is
    unique to the test); the number ended."""
    url = make_url(database_url)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        ended: int = await connection.fetchval(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            url.database,
        )
    finally:
        await connection.close()
    return ended


async def kill_redis_clients(redis_url: str) -> Counter[str]:
    """Kill every client connected to the test's own Redis database (by id, never by a
    filter that would reach other databases' clients); how many of each kind."""
    admin = Redis.from_url(redis_url)
    try:
        own = await admin.client_id()
        database = str(admin.connection_pool.connection_kwargs.get("db", 0))
        killed: Counter[str] = Counter()
        for client in await admin.client_list():
            if str(client["db"]) != database or int(client["id"]) == own:
                continue
            kind = "pubsub" if int(client["sub"]) or int(client["psub"]) else "normal"
            if await admin.client_kill_filter(_id=client["id"]):
                killed[kind] += 1
    finally:
        await admin.aclose()
    return killed
