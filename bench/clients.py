"""Websocket clients that record what they receive, and the client worker processes.

A :class:`Client` is one socket: it authenticates, subscribes to ``progress`` (optionally
``since`` a seq) and records every event's seq and its delivery latency (receipt time minus
the append start time the writer put in the event's data). Frames are parsed with one
msgspec decoder that reads only the fields the bench needs.

One Python process cannot drive thousands of busy sockets on top of the servers, so each
scenario runs its clients in ``--client-worker`` subprocesses of its own script. The parent
talks to a worker with one JSON line per command on the worker's stdin and one JSON line per
answer on its stdout (:class:`WorkerProcess` on the parent's side, :func:`serve_commands` on
the worker's).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, cast

import msgspec
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import WebSocketURI, parse_uri

from bench.common import self_cpu_seconds, split

LINE_LIMIT = 1 << 28  # answers carry every latency sample
OPEN_CONCURRENCY = 200  # handshakes in flight per worker
OPEN_TIMEOUT = 60.0

Command = dict[str, Any]
Handler = Callable[[Command], Awaitable[Command]]


class _Data(msgspec.Struct):
    t: float = 0.0


class _Frame(msgspec.Struct):
    type: str
    seq: int = 0
    data: _Data | None = None
    code: str | None = None
    at: datetime | None = None  # an event's time: its transaction's, before the commit


_decode = msgspec.json.Decoder(_Frame).decode
_encode = msgspec.json.encode


class Client:
    """One subscribed socket and what it received.

    The socket is the ``websockets`` package's sans-I/O client protocol under a plain
    asyncio :class:`asyncio.Protocol` (:class:`_Wire`): frames are handled in
    ``data_received`` as they arrive, with no reader task woken per frame. The asyncio
    ``connect()`` client costs about 29 µs of CPU per frame (measured in
    docs/benchmarks.md), which on this 2-core machine is CPU the servers under test then do
    not get; the measurement is the servers' delivery, not the client's overhead.
    """

    def __init__(
        self, url: str, token: str, *, since: int | None = None, channel: str = "progress"
    ) -> None:
        self.url = url
        self.token = token
        self.since = since
        self.channel = channel
        self.subscribed_seq: int | None = None
        self.seqs: list[int] = []
        self.latencies: list[float] = []  # seconds, one per entry of ``seqs``
        self.resets = 0
        self.errors: list[str] = []
        self.closed = False
        self.close_reason = ""
        self.ready = asyncio.Event()
        self.target: float = float("inf")
        self.reached = asyncio.Event()
        self.reached_at: float | None = None
        self._wire: _Wire | None = None

    @property
    def last_seq(self) -> int:
        """The seq up to which this client has everything (what it would reconnect ``since``).

        Subscribing without ``since`` starts at the ``subscribed`` seq; with ``since``, the
        replay after ``subscribed`` brings the client from ``since`` up to it.
        """
        if self.seqs:
            return self.seqs[-1]
        if self.since is not None:
            return self.since
        return self.subscribed_seq or 0

    async def open(self) -> None:
        """Connect, authenticate and subscribe (pipelined), then read as frames arrive."""
        uri = parse_uri(self.url)
        loop = asyncio.get_running_loop()
        subscribe: dict[str, Any] = {"type": "subscribe", "channel": self.channel}
        if self.since is not None:
            subscribe["since"] = self.since
        first = [_encode({"type": "auth", "token": self.token}), _encode(subscribe)]
        async with asyncio.timeout(OPEN_TIMEOUT):
            _, wire = await loop.create_connection(
                lambda: _Wire(self, uri, first), uri.host, uri.port
            )
            self._wire = wire
            await self.ready.wait()
        if self.subscribed_seq is None:
            raise ConnectionError(f"closed before subscribed: {self.close_reason}")

    def expect(self, seq: int) -> None:
        """Set :attr:`reached` (and :attr:`reached_at`) once ``seq`` has been received, or
        the client can no longer get there (a reset, a close): see :attr:`caught_up`."""
        self.target = seq
        if self.last_seq >= seq:
            self._reach(time.time())

    def _reach(self, now: float) -> None:
        if not self.reached.is_set():
            self.reached_at = now
            self.reached.set()

    def received(self, raw: bytes | bytearray | memoryview, now: float) -> None:
        """One text frame from the server."""
        frame = _decode(raw)
        match frame.type:
            case "event":
                self.seqs.append(frame.seq)
                # From the writer's stamp in the data, else from the event's own time (a
                # server's events: ``at`` is taken when their transaction starts, so this
                # is commit to socket plus the transaction's own time, an upper bound).
                if frame.data is not None and frame.data.t:
                    self.latencies.append(now - frame.data.t)
                elif frame.at is not None:
                    self.latencies.append(now - frame.at.timestamp())
                else:
                    self.latencies.append(float("nan"))
                if frame.seq >= self.target:
                    self._reach(now)
            case "subscribed":
                self.subscribed_seq = frame.seq
                self.ready.set()
                if self.last_seq >= self.target:
                    self._reach(now)
            case "reset":
                self.resets += 1
                self._reach(now)  # it will never get there: stop waiting
            case "error":
                self.errors.append(frame.code or "?")

    def lost(self, reason: str) -> None:
        """The connection ended (closed by either side, or dropped)."""
        self.closed = True
        self.close_reason = reason  # "received 4500 (private use) …", say
        self.ready.set()  # stop waiting: ``open`` sees no ``subscribed_seq``
        self._reach(time.time())

    @property
    def caught_up(self) -> bool:
        """Whether every event up to the expected seq arrived (no reset, no close)."""
        return self.last_seq >= self.target and not self.resets

    async def drop(self) -> None:
        """Drop the connection without a closing handshake, as a network failure would."""
        if self._wire is not None:
            self._wire.abort()
            await self._wire.gone.wait()

    async def close(self) -> None:
        if self._wire is not None:
            self._wire.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wire.gone.wait(), 5)
            self._wire.abort()


class _Wire(asyncio.Protocol):
    """The bytes side of a :class:`Client`: handshake, frames in, frames out."""

    def __init__(self, client: Client, uri: WebSocketURI, first: list[bytes]) -> None:
        self.client = client
        self.protocol = ClientProtocol(uri, max_size=None)
        self.first = first  # sent as soon as the handshake is accepted
        self.transport: asyncio.Transport | None = None
        self.gone = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        now = time.time()
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT:
                    self.client.received(event.data, now)  # msgspec reads any buffer
            elif isinstance(event, Response):
                if protocol.handshake_exc is not None:
                    self.client.lost(f"handshake failed: {protocol.handshake_exc}")
                    self.abort()
                    return
                for payload in self.first:
                    protocol.send_text(payload)
        self._flush()  # pongs, the first frames, close replies

    def _flush(self) -> None:
        assert self.transport is not None
        out = self.protocol.data_to_send()
        if out:
            self.transport.write(b"".join(out))
        if self.protocol.close_rcvd is not None and self.protocol.close_expected():
            self.transport.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            if self.protocol.state is State.OPEN:
                self.protocol.send_close()
                self._flush()
            else:
                self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        rcvd = self.protocol.close_rcvd
        self.client.lost(
            f"received {rcvd.code} {rcvd.reason}".strip() if rcvd else f"lost: {exc!r}"
        )
        self.gone.set()


async def open_clients(
    clients: Sequence[Client], concurrency: int = OPEN_CONCURRENCY
) -> list[BaseException]:
    """Open every client, ``concurrency`` handshakes at a time; the failures, if any."""
    gate = asyncio.Semaphore(concurrency)

    async def one(client: Client) -> None:
        async with gate:
            await client.open()

    outcomes = await asyncio.gather(*(one(client) for client in clients), return_exceptions=True)
    return [outcome for outcome in outcomes if isinstance(outcome, BaseException)]


async def wait_reached(clients: Sequence[Client], seq: int, seconds: float) -> int:
    """Wait (bounded) until every client has received ``seq``; how many did not."""
    for client in clients:
        client.expect(seq)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            for client in clients:
                await client.reached.wait()
    return sum(1 for client in clients if not client.caught_up)


def tally(received: Sequence[int], expected: range) -> tuple[int, int, int]:
    """Lost, duplicated and reordered events of one socket, against the seqs appended."""
    seen: set[int] = set()
    duplicated = reordered = 0
    highest = -1
    for seq in received:
        if seq not in expected:
            continue
        if seq in seen:
            duplicated += 1
            continue
        seen.add(seq)
        if seq < highest:
            reordered += 1
        highest = max(highest, seq)
    return len(expected) - len(seen), duplicated, reordered


def tally_many(received: Iterable[Sequence[int]], expected: range) -> dict[str, int]:
    """:func:`tally` summed over many sockets."""
    totals = {"lost": 0, "duplicated": 0, "reordered": 0}
    for seqs in received:
        lost, duplicated, reordered = tally(seqs, expected)
        totals["lost"] += lost
        totals["duplicated"] += duplicated
        totals["reordered"] += reordered
    return totals


# -- client worker processes ------------------------------------------------------------


class ClientWorker:
    """A worker's clients and the commands every scenario uses: ``connect`` and ``close``.

    A scenario subclasses it and answers its own commands in :meth:`handle_more`.
    """

    def __init__(self) -> None:
        self.clients: list[Client] = []

    async def handle(self, command: Command) -> Command:
        match command["op"]:
            case "connect":
                added = [
                    Client(url, command["token"], channel=command.get("channel", "progress"))
                    for url, count in command["targets"]
                    for _ in range(count)
                ]
                failures = await open_clients(added)
                self.clients.extend(added)
                if failures:
                    raise RuntimeError(f"{len(failures)} sockets did not open: {failures[0]!r}")
                # Keep the clients' own collector pauses out of the latencies: what exists
                # now is never collected, and the run creates little else.
                gc.collect()
                gc.freeze()
                return {"opened": len(self.clients), "cpu": self_cpu_seconds()}
            case "close":
                await asyncio.gather(*(client.close() for client in self.clients))
                closed, self.clients = len(self.clients), []
                return {"closed": closed}
        return await self.handle_more(command)

    async def handle_more(self, command: Command) -> Command:
        raise ValueError(f"unknown command {command['op']!r}")


def connect_commands(
    token: str, urls: Sequence[str], sockets: int, workers: int, channel: str = "progress"
) -> list[Command]:
    """``connect`` commands spreading ``sockets`` evenly over servers, then over workers."""
    per_server = [split(share, workers) for share in split(sockets, len(urls))]
    return [
        {
            "op": "connect",
            "token": token,
            "channel": channel,
            "targets": [[url, per_server[i][w]] for i, url in enumerate(urls) if per_server[i][w]],
        }
        for w in range(workers)
    ]


class WorkerProcess:
    """The parent's handle on one ``--client-worker`` subprocess of a bench script."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def spawn(cls, module: str) -> WorkerProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", module, "--client-worker"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=LINE_LIMIT,
        )
        return cls(process)

    async def call(self, command: Command, seconds: float) -> Command:
        """Send one command and wait (bounded) for its answer."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(_encode(command) + b"\n")
        await self.process.stdin.drain()
        line = await asyncio.wait_for(self.process.stdout.readline(), seconds)
        if not line:
            raise RuntimeError(f"client worker {self.process.pid} exited")
        answer: Command = msgspec.json.decode(line)
        if "failed" in answer:
            raise RuntimeError(f"client worker {self.process.pid}: {answer['failed']}")
        return answer

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(Exception):
                await self.call({"op": "exit"}, 30)
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def call_all(
    workers: Sequence[WorkerProcess], commands: Sequence[Command], seconds: float
) -> list[Command]:
    """Send each worker its command at once and gather the answers, in order."""
    return list(
        await asyncio.gather(
            *(
                worker.call(command, seconds)
                for worker, command in zip(workers, commands, strict=True)
            )
        )
    )


@contextlib.asynccontextmanager
async def worker_pool(module: str, count: int) -> AsyncIterator[list[WorkerProcess]]:
    """``count`` client workers running ``python -m module --client-worker``."""
    workers: list[WorkerProcess] = []
    try:
        for _ in range(count):
            workers.append(await WorkerProcess.spawn(module))
        yield workers
    finally:
        await asyncio.gather(*(worker.stop() for worker in workers))


async def serve_commands(handle: Handler) -> None:
    """The worker's side: answer each command line until ``exit`` or end of input."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command: Command = msgspec.json.decode(line)
        if command["op"] == "exit":
            _answer({"op": "exit"})
            return
        try:
            answer = await handle(command)
        except Exception as exc:
            answer = {"failed": f"{type(exc).__name__}: {exc}"}
        _answer(answer)


def _answer(answer: Command) -> None:
    sys.stdout.buffer.write(_encode(answer) + b"\n")
    sys.stdout.buffer.flush()
