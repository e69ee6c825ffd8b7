"""The school day's client side (bench/school_day.py): learners, teachers, client processes.

A *seat* is a learner or a teacher: one websocket at a time (reconnecting, with ``since``,
whenever it closes), every seq it ever received, and its activity (answers and offline
batches; board reads, moves and locks). A :class:`Worker` is one ``--client-worker``
process: its seats, one lean HTTP pool to both servers, and what it measured since the last
``collect``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from bench import common
from bench.clients import Client, ClientWorker, Command
from bench.http import RawClient

BATCH_SIZE = 20
BELL_RECONNECT_WITHIN = 5.0
LOCK_HELD = (1.0, 4.0)  # seconds a teacher holds a lock before releasing it
POOL_PER_SERVER = 48  # keep-alive connections per server per client process
RETRY_DOWN_SECONDS = 2.0  # a server that refused a request is skipped this long
UNAVAILABLE_RETRIES = 5  # a 503 is sent again this many times, a second apart
UNAVAILABLE_BACKOFF = 1.0


# -- frames ------------------------------------------------------------------------------


class _CardRef(msgspec.Struct):
    id: str
    status: str
    updated_at: str


class _EventData(msgspec.Struct):
    card: _CardRef | None = None


class _Event(msgspec.Struct):
    type: str
    seq: int = 0
    event: str = ""
    at: datetime | None = None
    data: _EventData | None = None


_decode_event = msgspec.json.Decoder(_Event).decode


class _Column(msgspec.Struct):
    cards: list[_CardRef]


class _Board(msgspec.Struct):
    seq: int
    columns: list[_Column]


class _BoardAnswer(msgspec.Struct):
    data: _Board


_decode_board = msgspec.json.Decoder(_BoardAnswer).decode


class _SeqOnly(msgspec.Struct):
    seq: int


class _SeqAnswer(msgspec.Struct):
    data: _SeqOnly


_decode_seq = msgspec.json.Decoder(_SeqAnswer).decode


class _Moved(msgspec.Struct):
    updated_at: str


class _MovedAnswer(msgspec.Struct):
    data: _Moved


_decode_moved = msgspec.json.Decoder(_MovedAnswer).decode


# -- the client worker ---------------------------------------------------------------------


@dataclass
class Samples:
    """What a client process measured since the last ``collect``."""

    put_ms: list[float] = field(default_factory=list)
    batch_ms: list[float] = field(default_factory=list)
    move_ms: list[float] = field(default_factory=list)
    lock_ms: list[float] = field(default_factory=list)
    board_ms: list[float] = field(default_factory=list)
    progress_ms: list[float] = field(default_factory=list)  # progress.updated, commit->socket
    card_ms: list[float] = field(default_factory=list)  # card.progress, commit->socket
    statuses: dict[str, int] = field(default_factory=dict)  # "PUT 200": count
    stale: int = 0  # retried on a new connection to the same server
    retried: int = 0  # retried on the other server
    # Requests that reached no server, even when retried ("failed" is the worker protocol's
    # error key).
    unreached: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # the last error of each unreached
    conflicts: int = 0  # moves or locks answered 409 (another teacher, auto-advance)
    reconnects: int = 0  # sockets that closed unasked and came back
    bell_drops: int = 0
    offline_batches: int = 0


class Socket(Client):
    """A :class:`Client` that also reports each event to its seat (kind and latency)."""

    def __init__(self, seat: Seat, url: str, since: int | None) -> None:
        super().__init__(url, seat.token, since=since, channel=seat.channel)
        self.seat = seat
        self.ended = asyncio.Event()

    def received(self, raw: bytes | bytearray | memoryview, now: float) -> None:
        frame = _decode_event(raw)
        if frame.type == "event":
            # Up to the ``subscribed`` seq, events are the replay after ``since`` (a
            # reconnection): their age is the time away, not delivery; they count for loss,
            # not latency.
            live = self.subscribed_seq is not None and frame.seq > self.subscribed_seq
            self.seat.event(frame, now, live=live)
        super().received(raw, now)
        if frame.type == "reset":
            self.seat.reset()
        elif frame.type == "error" and self.subscribed_seq is None:
            # SERVICE_UNAVAILABLE for the subscribe (the database was out of reach): give
            # up on this socket; its seat subscribes again, as the web UI does.
            self.ready.set()

    def lost(self, reason: str) -> None:
        super().lost(reason)
        self.ended.set()


class Seat:
    """A learner or a teacher: one socket at a time, and every seq it ever received."""

    def __init__(self, worker: Worker, spec: Command) -> None:
        self.worker = worker
        self.token: str = spec["token"]
        self.server: int = spec["server"]
        self.channel: str = spec["channel"]
        self.first: int | None = None  # the seq the first subscription started at
        self.seqs: set[int] = set()
        self.duplicates = 0
        self.resets = 0
        self.client: Socket | None = None
        self.bell_delay: float | None = None
        self.subscribed = asyncio.Event()

    @property
    def last(self) -> int:
        """What to resume ``since``: the highest seq up to which nothing is missing."""
        assert self.first is not None
        return max(self.seqs, default=self.first)

    def gaps(self) -> int:
        if self.first is None or not self.seqs:
            return 0
        first = self.first
        return max(self.seqs) - first - sum(1 for seq in self.seqs if seq > first)

    def event(self, frame: _Event, now: float, *, live: bool) -> None:
        assert frame.at is not None
        if not live:
            return
        latency = 1000 * (now - frame.at.timestamp())
        if frame.event == "progress.updated":
            self.worker.samples.progress_ms.append(latency)
        elif frame.event == "card.progress":
            self.worker.samples.card_ms.append(latency)

    def reset(self) -> None:
        self.resets += 1

    async def keep_connected(self) -> None:
        """Connect, and whenever the socket closes, connect again with ``since``."""
        while True:
            since = None if self.first is None else self.last
            client = Socket(self, self.worker.ws_urls[self.server], since)
            try:
                await client.open()
            except (OSError, ConnectionError, TimeoutError):
                await client.drop()
                self.server = 1 - self.server
                await asyncio.sleep(0.5)
                continue
            if self.first is None:
                self.first = client.subscribed_seq
            self.client = client
            self.subscribed.set()
            await self.on_subscribed()
            await client.ended.wait()
            self._keep(client)
            if self.bell_delay is not None:
                await asyncio.sleep(self.bell_delay)
                self.bell_delay = None
            else:  # closed by the server (a restart): try the other one
                self.worker.samples.reconnects += 1
                self.server = 1 - self.server

    def _keep(self, client: Socket) -> None:
        for seq in client.seqs:
            if seq in self.seqs:
                self.duplicates += 1
            self.seqs.add(seq)
        client.seqs = []

    def all_seqs(self) -> None:
        if self.client is not None:
            self._keep(self.client)

    async def on_subscribed(self) -> None:
        pass

    async def bell(self) -> None:
        if self.client is not None and not self.client.closed:
            self.bell_delay = random.uniform(0, BELL_RECONNECT_WITHIN)
            self.worker.samples.bell_drops += 1
            await self.client.drop()


class Learner(Seat):
    def __init__(self, worker: Worker, spec: Command) -> None:
        super().__init__(worker, spec)
        self.words: list[str] = spec["words"]
        self.counts: dict[str, tuple[int, int]] = {}

    def answer(self, word: str) -> bytes:
        study, correct = self.counts.get(word, (0, 0))
        study += 1
        correct += random.random() < 0.8
        self.counts[word] = (study, correct)
        return b'{"studyCount":%d,"correctCount":%d,"confidence":%d}' % (
            study,
            correct,
            1 + study % 5,
        )

    def batch(self) -> bytes:
        items = [
            b'{"wordId":"%s",%s' % (word.encode(), self.answer(word)[1:])
            for word in random.sample(self.words, min(BATCH_SIZE, len(self.words)))
        ]
        return b'{"updates":[' + b",".join(items) + b"]}"

    async def study(self) -> None:
        worker = self.worker
        params = worker.params
        offline_chance = params["answer_every"] / params["offline_every_seconds"]
        await self.subscribed.wait()
        while True:
            await asyncio.sleep(random.expovariate(1 / params["answer_every"]))
            if random.random() < offline_chance:
                await asyncio.sleep(params["offline_seconds"])
                worker.samples.offline_batches += 1
                await worker.send(self, "batch", "POST", "/api/v1/progress/batch", self.batch())
                continue
            word = random.choice(self.words)
            await worker.send(self, "put", "PUT", f"/api/v1/progress/{word}", self.answer(word))


class Teacher(Seat):
    def __init__(self, worker: Worker, spec: Command) -> None:
        super().__init__(worker, spec)
        self.classroom: str = spec["classroom"]
        self.cards: dict[str, tuple[str, str]] = {}  # id: (status, version)
        self.read_needed = True

    def event(self, frame: _Event, now: float, *, live: bool) -> None:
        super().event(frame, now, live=live)
        card = frame.data.card if frame.data is not None else None
        if card is not None:
            self.cards[card.id] = (card.status, card.updated_at)

    def reset(self) -> None:
        super().reset()
        self.read_needed = True

    async def read_board(self) -> None:
        self.read_needed = False
        path = f"/api/teacher/progress-board?classroom_id={self.classroom}"
        status, body = await self.worker.send(self, "board", "GET", path, b"")
        if status == 200:
            board = _decode_board(body).data
            for column in board.columns:
                for card in column.cards:
                    self.cards[card.id] = (card.status, card.updated_at)

    async def on_subscribed(self) -> None:
        if self.read_needed:
            await self.read_board()

    async def teach(self) -> None:
        worker = self.worker
        await self.subscribed.wait()
        while True:
            await asyncio.sleep(random.expovariate(1 / worker.params["teacher_every"]))
            if self.read_needed:
                await self.read_board()
            if not self.cards:
                continue
            card = random.choice(list(self.cards))
            base = f"/api/teacher/progress-board/cards/{card}"
            if random.random() < 0.5:
                column, version = self.cards[card]
                body = msgspec.json.encode(
                    {"new_status": column, "new_position": 0, "version": version}
                )
                status, answer = await worker.send(self, "move", "PATCH", f"{base}/move", body)
                if status == 200:
                    self.cards[card] = (column, _decode_moved(answer).data.updated_at)
            else:
                status, _ = await worker.send(self, "lock", "POST", f"{base}/lock", b"")
                if status == 200:
                    await asyncio.sleep(random.uniform(*LOCK_HELD))
                    await worker.send(self, "unlock", "DELETE", f"{base}/lock", b"")


class Worker(ClientWorker):
    """A client process: its learners and teachers, their sockets and their requests."""

    def __init__(self) -> None:
        super().__init__()
        self.samples = Samples()
        self.seats: list[Seat] = []
        self.tasks: set[asyncio.Task[None]] = set()  # answering, teaching
        self.keepers: set[asyncio.Task[None]] = set()  # one per seat: its socket
        self.http: RawClient | None = None
        self.ws_urls: list[str] = []
        self.params: dict[str, float] = {}
        self.down_until = [0.0, 0.0]
        self.last_error = ""

    async def handle_more(self, command: Command) -> Command:
        match command["op"]:
            case "add":
                return await self._add(command)
            case "collect":
                return self._collect()
            case "status":
                return self._status()
            case "bell":
                learners = [seat for seat in self.seats if isinstance(seat, Learner)]
                chosen = random.sample(learners, round(len(learners) * command["share"]))
                await asyncio.gather(*(seat.bell() for seat in chosen))
                return {"dropped": len(chosen)}
            case "stop":  # the answers and moves; sockets stay, reconnecting if dropped
                await self._cancel(self.tasks)
                return {"stopped": True}
            case "halt":  # the sockets too
                await self._cancel(self.keepers)
                await asyncio.gather(*(s.client.close() for s in self.seats if s.client))
                return {"halted": True}
            case "final":
                return await self._final(command["wait"])
        return await super().handle_more(command)

    async def _add(self, command: Command) -> Command:
        self.params = command["params"]
        random.seed(command["seed"])
        if self.http is None:
            self.ws_urls = command["ws_urls"]
            self.http = await RawClient(command["ports"], POOL_PER_SERVER).open()
        added: list[Seat] = [Learner(self, spec) for spec in command["learners"]]
        added += [Teacher(self, spec) for spec in command["teachers"]]
        self.seats += added
        for seat in added:
            self._spawn(seat.keep_connected(), self.keepers)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(120):
                await asyncio.gather(*(seat.subscribed.wait() for seat in added))
        for seat in added:
            if isinstance(seat, Learner):
                self._spawn(seat.study())
            elif isinstance(seat, Teacher):
                self._spawn(seat.teach())
        return {"subscribed": sum(seat.subscribed.is_set() for seat in added)}

    def _spawn(
        self, work: Coroutine[Any, Any, None], tasks: set[asyncio.Task[None]] | None = None
    ) -> None:
        task: asyncio.Task[None] = asyncio.create_task(work)
        (self.tasks if tasks is None else tasks).add(task)

    @staticmethod
    async def _cancel(tasks: set[asyncio.Task[None]]) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        tasks.clear()

    async def send(
        self, seat: Seat, kind: str, method: str, path: str, body: bytes
    ) -> tuple[int, bytes]:
        """One request of ``seat``'s, timed; on its server, else (down) on the other one."""
        assert self.http is not None
        server = seat.server
        moved = False
        unavailable = 0
        for _ in range(8 + UNAVAILABLE_RETRIES):
            if time.monotonic() < self.down_until[server]:
                server = 1 - server
            began = time.monotonic()
            try:
                status, answer = await self.http.send(server, method, path, seat.token, body)
            except (OSError, asyncio.IncompleteReadError, ConnectionError) as exc:
                self.last_error = repr(exc)
                if not isinstance(exc, ConnectionRefusedError):
                    # A keep-alive connection the server closed while idle (uvicorn's 5 s
                    # timeout), or one cut by a restart: the pool has opened a new one by
                    # now; a browser retries an idempotent request on it the same way.
                    self.samples.stale += 1
                    continue
                self.down_until[server] = time.monotonic() + RETRY_DOWN_SECONDS
                self.samples.retried += not moved
                moved = True
                server = 1 - server
                continue
            elapsed = 1000 * (time.monotonic() - began)
            samples = self.samples  # the window this answer falls in
            key = f"{kind} {status}"
            samples.statuses[key] = samples.statuses.get(key, 0) + 1
            if status == 409:
                samples.conflicts += 1
            {
                "put": samples.put_ms,
                "batch": samples.batch_ms,
                "move": samples.move_ms,
                "lock": samples.lock_ms,
                "board": samples.board_ms,
            }.get(kind, []).append(elapsed)
            if status == 503 and unavailable < UNAVAILABLE_RETRIES:
                # SERVICE_UNAVAILABLE (its pool ran dry, the database is away): the answer
                # is kept and sent again, as contract §9 asks of a device. (The web UI at
                # f12d38c drops it instead: docs/benchmarks.md, the school day.)
                unavailable += 1
                await asyncio.sleep(UNAVAILABLE_BACKOFF)
                continue
            if status != 503:
                return status, answer
            self.last_error = "503 after every retry"
            break
        self.samples.unreached += 1
        self.samples.errors[self.last_error[:80]] = (
            self.samples.errors.get(self.last_error[:80], 0) + 1
        )
        return 0, b""

    def _collect(self) -> Command:
        samples, self.samples = self.samples, Samples()
        answer: Command = dict(vars(samples))
        answer.update(self._status())
        return answer

    def _status(self) -> Command:
        """Counts over the whole run so far (they do not reset)."""
        for seat in self.seats:
            seat.all_seqs()
        return {
            "lost": sum(seat.gaps() for seat in self.seats),
            "duplicated": sum(seat.duplicates for seat in self.seats),
            "resets": sum(seat.resets for seat in self.seats),
            "open_sockets": sum(
                1 for seat in self.seats if seat.client is not None and not seat.client.closed
            ),
            "tasks": len(asyncio.all_tasks()),
            "cpu": common.self_cpu_seconds(),
        }

    async def _final(self, wait: float) -> Command:
        """After ``stop``: each seat's channel head over REST; how many seqs it is short."""
        short = 0
        gate = asyncio.Semaphore(32)

        async def head(seat: Seat) -> int:
            path = (
                f"/api/teacher/progress-board?classroom_id={seat.classroom}"
                if isinstance(seat, Teacher)
                else "/api/v1/progress"
            )
            async with gate:
                status, body = await self.send(seat, "head", "GET", path, b"")
            if status != 200:
                raise RuntimeError(f"head read answered {status} {self.last_error}")
            return _decode_seq(body).data.seq

        heads = await asyncio.gather(*(head(seat) for seat in self.seats))
        deadline = time.monotonic() + wait
        for seat, seq in zip(self.seats, heads, strict=True):
            while time.monotonic() < deadline:
                seat.all_seqs()
                if seat.first is not None and seat.last >= seq:
                    break
                await asyncio.sleep(0.05)
            seat.all_seqs()
            if seat.first is not None and not seat.resets:
                got = len([s for s in seat.seqs if s <= seq])
                short += max(0, seq - seat.first - got)
        return {
            "short": short,
            "lost": sum(seat.gaps() for seat in self.seats),
            "resets": sum(seat.resets for seat in self.seats),
            "duplicated": sum(seat.duplicates for seat in self.seats),
        }
