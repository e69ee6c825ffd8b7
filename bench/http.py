"""A lean HTTP/1.1 client for load generation: keep-alive connections over asyncio streams.

The servers under test share this machine's two cores with the load generator, so every
millisecond the client spends is one the servers do not get. httpx costs about 2 ms of CPU
a request (and more on a 1.4 MB board); this client about 0.1 ms. It speaks only what the
benchmarks need: one request at a time per connection, answers with ``Content-Length`` (or
no body: 204, 304).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import NamedTuple

HOST = "127.0.0.1"
NO_BODY = frozenset({204, 304})


class Answer(NamedTuple):
    status: int
    head: bytes  # the status line and headers, as received
    body: bytes

    def header(self, name: str) -> str | None:
        """The value of the first header called ``name`` (any case), if any."""
        wanted = b"\r\n" + name.lower().encode() + b":"
        lowered = self.head.lower()
        at = lowered.find(wanted)
        if at < 0:
            return None
        end = lowered.find(b"\r\n", at + 2)
        return self.head[at + len(wanted) : end].strip().decode()


class _Connection:
    """One keep-alive connection: write a request, read one answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> _Connection:
        # uvicorn binds its socket just after "Application startup complete": retry briefly.
        for _ in range(100):
            try:
                reader, writer = await asyncio.open_connection(HOST, port)
            except ConnectionRefusedError:
                await asyncio.sleep(0.05)
            else:
                return cls(reader, writer)
        raise ConnectionRefusedError(f"nothing listens on port {port}")

    async def exchange(self, request: bytes) -> Answer:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        if status in NO_BODY:
            return Answer(status, head, b"")
        lowered = head.lower()
        at = lowered.find(b"\r\ncontent-length:")
        if at < 0:
            raise RuntimeError(f"answer without Content-Length: {head[:200]!r}")
        end = lowered.index(b"\r\n", at + 2)
        length = int(lowered[at + len(b"\r\ncontent-length:") : end])
        return Answer(status, head, await self.reader.readexactly(length))

    def close(self) -> None:
        self.writer.close()


class RawClient:
    """A pool of ``size`` keep-alive connections per server (given by port), over streams."""

    def __init__(self, ports: Sequence[int], size: int) -> None:
        self.ports = list(ports)
        self.size = size
        # Last in, first out: the connections in use stay warm and the rest idle (a
        # server closes an idle keep-alive connection after a few seconds).
        self.idle: list[asyncio.Queue[_Connection]] = [asyncio.LifoQueue() for _ in self.ports]

    async def open(self) -> RawClient:
        for port, idle in zip(self.ports, self.idle, strict=True):
            for connection in await asyncio.gather(
                *(_Connection.open(port) for _ in range(self.size))
            ):
                idle.put_nowait(connection)
        return self

    async def request(
        self,
        server: int,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes = b"",
    ) -> Answer:
        """Send one request to server number ``server`` and read its answer."""
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        length = f"Content-Length: {len(body)}\r\n" if body or method not in ("GET", "HEAD") else ""
        request = (
            f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{self.ports[server]}\r\n{lines}{length}\r\n"
        ).encode() + body
        idle = self.idle[server]
        connection = await idle.get()
        try:
            return await connection.exchange(request)
        except BaseException:
            connection.close()  # its state is unknown: replace it
            connection = await _Connection.open(self.ports[server])
            raise
        finally:
            idle.put_nowait(connection)

    async def send(
        self, server: int, method: str, path: str, token: str, body: bytes
    ) -> tuple[int, bytes]:
        """A JSON request as ``token``'s user: (status, body)."""
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        answer = await self.request(server, method, path, headers, body)
        return answer.status, answer.body

    async def aclose(self) -> None:
        for idle in self.idle:
            while not idle.empty():
                idle.get_nowait().close()
