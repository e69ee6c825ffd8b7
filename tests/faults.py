"""A TCP proxy of the tests' own that can cut a server off from its clients on demand.

Tests put it between the app and PostgreSQL (or anything else spoken over TCP) to make an
outage without touching the shared server, which other people's tests use. It passes
traffic both ways until told to:

- :meth:`FaultProxy.refuse`: stop listening, so new connections are refused
  (``ECONNREFUSED``), as with a database that is down;
- :meth:`FaultProxy.reset`: end every open connection with a TCP RST, as when the server
  or a firewall drops them (the client sees ``ConnectionResetError``);
- :meth:`FaultProxy.stall`: accept new connections and never answer, as with a network
  partition (the client's timeouts must end the wait);
- :meth:`FaultProxy.hold`: stop forwarding on the open connections (bytes wait in the
  proxy), so a request can be caught in flight, then :meth:`reset` or :meth:`release`;
- :meth:`FaultProxy.answer`: answer new connections with a handler of the test's own
  instead of the server, such as :func:`postgres_fatal`, which refuses a login the way
  PostgreSQL does while it starts up, shuts down or has no connection slot left;
- :meth:`FaultProxy.restore`: pass traffic again.

Written here rather than taken from a library: toxiproxy needs its own server binary,
and the few asyncio lines below are all the faults these tests use.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.engine import make_url

CHUNK = 65536

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Mode(enum.Enum):
    PASS = "pass"
    REFUSE = "refuse"
    STALL = "stall"
    ANSWER = "answer"


@dataclass(eq=False)
class _Link:
    """One client connection and its upstream connection."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close with an RST, not a FIN: SO_LINGER with a zero timeout, then abort."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.mode = Mode.PASS
        self.holding = asyncio.Event()  # set once a client's bytes wait in the proxy
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._answer: Handler | None = None

    @property
    def connections(self) -> int:
        return len(self._links)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        await self._close_listener()
        self.reset()

    async def refuse(self) -> None:
        """New connections are refused; open ones are left alone (see :meth:`reset`)."""
        self.mode = Mode.REFUSE
        await self._close_listener()

    def stall(self) -> None:
        """New connections are accepted and never answered."""
        self.mode = Mode.STALL

    def answer(self, handler: Handler) -> None:
        """New connections are served by ``handler``, then closed."""
        self.mode, self._answer = Mode.ANSWER, handler

    def hold(self) -> None:
        """Open connections stop forwarding until :meth:`release` or :meth:`reset`."""
        self.holding.clear()
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    def reset(self) -> None:
        """Every open connection ends with an RST, to the client and upstream alike."""
        links, self._links = self._links, set()
        for link in links:
            for task in link.tasks:
                task.cancel()
            _rst(link.client)
            if link.upstream is not None:
                _rst(link.upstream)

    async def restore(self) -> None:
        """Pass traffic again: listen (on the same port) if refusing, forward if held."""
        self.mode = Mode.PASS
        self._flowing.set()
        if self._server is None:
            await self.start()

    async def _close_listener(self) -> None:
        # close() stops listening at once; wait_closed() would also wait (from Python
        # 3.12) for the open connections, which refusing leaves alone.
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(writer)
        self._links.add(link)
        if self.mode is Mode.ANSWER and self._answer is not None:
            link.tasks.append(asyncio.create_task(self._serve(self._answer, reader, link)))
            return
        if self.mode is not Mode.PASS:
            # Stalled: read and drop whatever comes, answer nothing, until reset or closed.
            link.tasks.append(asyncio.create_task(self._drain(reader, link)))
            return
        try:
            upstream_reader, upstream = await asyncio.open_connection(*self.upstream)
        except OSError:
            self._links.discard(link)
            _rst(writer)
            return
        link.upstream = upstream
        link.tasks += [
            asyncio.create_task(self._pump(reader, upstream, link, count=True)),
            asyncio.create_task(self._pump(upstream_reader, writer, link, count=False)),
        ]

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: _Link,
        *,
        count: bool,
    ) -> None:
        try:
            while data := await reader.read(CHUNK):
                if not self._flowing.is_set():
                    if count:
                        self.holding.set()
                    await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            # One side closed: close the other, as a direct connection would.
            if link in self._links:
                self._links.discard(link)
                for other in link.tasks:
                    if other is not asyncio.current_task():
                        other.cancel()
                link.client.close()
                if link.upstream is not None:
                    link.upstream.close()

    async def _serve(self, handler: Handler, reader: asyncio.StreamReader, link: _Link) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            await handler(reader, link.client)
        self._links.discard(link)
        link.client.close()

    async def _drain(self, reader: asyncio.StreamReader, link: _Link) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while await reader.read(CHUNK):
                pass
        if link in self._links:
            self._links.discard(link)
            link.client.close()


@asynccontextmanager
async def fault_proxy(upstream_host: str, upstream_port: int) -> AsyncIterator[FaultProxy]:
    proxy = FaultProxy(upstream_host, upstream_port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


# PostgreSQL's frontend/backend protocol (its manual, "Message Formats").
_SSL_REQUEST_CODE = 80877103


def postgres_fatal(sqlstate: str, message: str) -> Handler:
    """A handler refusing a login as PostgreSQL does: ``FATAL`` ``sqlstate`` ``message``.

    It declines TLS if asked (``N``), reads the startup message, and answers an
    ErrorResponse: what a client sees from a server starting up (57P03), shutting down
    (57P03) or out of connection slots (53300).
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            (length,) = struct.unpack("!i", await reader.readexactly(4))
            body = await reader.readexactly(length - 4)
            if len(body) == 4 and struct.unpack("!i", body)[0] == _SSL_REQUEST_CODE:
                writer.write(b"N")
                continue
            break
        fields = b"".join(
            kind + value.encode() + b"\0"
            for kind, value in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", message))
        )
        payload = fields + b"\0"
        writer.write(b"E" + struct.pack("!i", len(payload) + 4) + payload)
        await writer.drain()

    return handle


def through(database_url: str, proxy: FaultProxy) -> str:
    """``database_url`` with its host and port replaced by the proxy's."""
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


@asynccontextmanager
async def database_proxy(database_url: str) -> AsyncIterator[FaultProxy]:
    """A proxy in front of the PostgreSQL server of ``database_url``."""
    url = make_url(database_url)
    async with fault_proxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy
