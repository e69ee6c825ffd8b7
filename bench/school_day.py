"""A school day under load (issue 16): how many learners and teachers one box carries.

A simulated school on a fresh PostgreSQL database with Redis and two ``tandem serve``
processes (``TANDEM_METRICS=on``), the load generator on the same machine:

* classrooms of ``--class-size`` learners (25) and two teachers (the owner and a co-teacher
  who joined with the teacher code), ``--lessons`` lessons (2) of ``--lesson-words`` words
  (20), a card for every learner on every lesson, auto-advance on (the default);
* each learner: a websocket on ``progress``, an answer (a PUT raising one word's counts) every
  ``--answer-every`` seconds on average (Poisson), and now and then (once per
  ``--offline-every`` simulated minutes on average) a simulated offline minute followed by a
  batch of 20 answers;
* each teacher: a websocket on the classroom's board, a board read on connect and after a
  ``reset``, a move (a reorder in the card's column, with its version) or a lock (released
  a few seconds later) every ``--teacher-every`` seconds on average;
* a bell every ``--bell-minutes`` simulated minutes: a third of the learners drop their
  socket and reconnect within 5 s, resuming with ``since``. ``--compress K`` runs simulated
  time K times faster than real time (bells and offline minutes only: answers and moves keep
  their real rates), so a 10-minute bell comes every 30 s with ``--compress 20``.

Learner ``i`` of a classroom talks to server ``i % 2`` (HTTP and socket); a request that
fails to reach its server is retried on the other one (a PUT is idempotent), one answered
503 is sent again a second later (at most 5 times: a device keeps an answer until it is
stored), a socket that closes reconnects to the other one with ``since``. A request
lost is one that never got an answer other than 503.

Client-side figures: each request's time (PUT, batch, move), and commit to socket for
``progress.updated`` (learners' sockets) and ``card.progress`` (teachers'), from the event's
``at``: taken when its transaction starts, so an upper bound; live events only (a replay
after ``since`` is as old as the time away). Events lost: a gap in the seqs
a seat (a learner's or teacher's socket, over its reconnections) received, and at the end
any seat short of its channel's head read over REST. Server-side figures come from each
server's ``/metrics`` (the same series an operator watches): request durations, delivery
lag, pool in use, resets sent, open websockets. CPU and RSS of each server from ``/proc``,
PostgreSQL CPU from ``/proc`` of the backends serving the bench's database.

Accounts are made directly in the database with one shared password hash and tokens signed
with the run's key: Argon2 costs 150 ms a hash here, and registering and logging in 2,160
accounts would be eleven minutes of set-up. Everything else (classrooms, joins, lessons,
cards) goes over HTTP.

Modes:

``(default)`` ramp: ``--start`` learners, then ``--step`` more each ``--step-seconds`` until
    PUT p99 passes ``--p99-limit`` ms or an event is lost (or ``--max``); prints the capacity,
    the largest load held.
``--soak MINUTES`` at ``--learners``: RSS, open sockets, subscriptions, file descriptors and
    pool before and after each bell, and the RSS drift over the run.
``--rolling-restart`` at ``--learners``: restart server 1 halfway; requests and events lost.

``--profile DIR`` runs py-spy (``--py-spy PATH``, 50 samples a second, not stopping the
process) on both servers during each ramp step (or the soak's first minute), writing raw
collapsed stacks into DIR (``server-<n>-<learners>.txt``).

    uv run python -m bench.school_day --redis-url redis://127.0.0.1:6379/N [--start 100
        --step 100 --max 2000 --step-seconds 30 --compress 20] [--soak 10 --learners 400]
        [--rolling-restart --learners 400]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
from prometheus_client.parser import text_string_to_metric_families

from bench import common, script, stacks
from bench.clients import Client, ClientWorker, Command, WorkerProcess, call_all, worker_pool
from bench.http import RawClient
from server.auth.passwords import hash_password
from server.auth.tokens import issue_access_token
from server.words.catalog import shipped
from storage.database import Database
from storage.repositories import users

TOKEN_TTL = 6 * 3600
TEACHERS_PER_CLASS = 2
BATCH_SIZE = 20
BELL_SHARE = 1 / 3
BELL_RECONNECT_WITHIN = 5.0
LOCK_HELD = (1.0, 4.0)  # seconds a teacher holds a lock before releasing it
POOL_PER_SERVER = 48  # keep-alive connections per server per client process
P99_LIMIT_MS = 250.0
TARGET_LEARNERS = 2000
TARGET_PUT_P99_MS = 100.0
TARGET_CARD_P99_MS = 300.0
RETRY_DOWN_SECONDS = 2.0  # a server that refused a request is skipped this long
SETUP_CONCURRENCY = 6  # classrooms set up at once
UNAVAILABLE_RETRIES = 5  # a 503 is sent again this many times, a second apart
UNAVAILABLE_BACKOFF = 1.0


def parse_args() -> argparse.Namespace:
    parser = script.parser(__doc__)
    add = parser.add_argument
    add("--class-size", type=int, default=25)
    add("--lessons", type=int, default=2, help="lessons per classroom")
    add("--lesson-words", type=int, default=20)
    add("--answer-every", type=float, default=4.0, help="seconds between answers (mean)")
    add("--teacher-every", type=float, default=20.0, help="seconds between moves/locks (mean)")
    add("--offline-every", type=float, default=10.0, help="minutes between offline minutes")
    add("--bell-minutes", type=float, default=10.0, help="simulated minutes between bells")
    add("--compress", type=float, default=20.0, help="simulated time runs this much faster")
    add("--start", type=int, default=100, help="ramp: learners of the first step")
    add("--step", type=int, default=100, help="ramp: learners added each step")
    add("--max", type=int, default=TARGET_LEARNERS, help="ramp: stop after this many")
    add("--step-seconds", type=float, default=30.0, help="ramp: measured seconds per step")
    add("--warm-up", type=float, default=8.0, help="seconds after adding load, not measured")
    add("--p99-limit", type=float, default=P99_LIMIT_MS, help="ramp stops past this PUT p99")
    add("--soak", type=float, default=0.0, help="minutes at --learners (soak mode)")
    add("--rolling-restart", action="store_true", help="restart server 1 halfway")
    add("--restart-seconds", type=float, default=60.0, help="rolling restart: run length")
    add("--learners", type=int, default=400, help="soak / rolling restart load")
    add("--profile", type=Path, help="py-spy both servers in the last step, stacks here")
    add("--py-spy", default="py-spy", help="the py-spy program for --profile")
    add("--seed", type=int, default=16)
    return parser.parse_args()


def bell_seconds(args: argparse.Namespace) -> float:
    return float(args.bell_minutes) * 60 / float(args.compress)


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


# -- set-up: the school ----------------------------------------------------------------------


@dataclass
class School:
    """Accounts and classrooms made so far; each classroom's seats as worker specs."""

    database_url: str
    base_url: str
    classrooms: int = 0
    words: list[str] = field(default_factory=list)
    password_hash: str = ""

    async def accounts(self, role: str, count: int) -> list[tuple[str, uuid.UUID]]:
        """``count`` accounts made in the database; their tokens (see the module docstring)."""
        if not self.password_hash:
            self.password_hash = await asyncio.to_thread(hash_password, secrets.token_hex(8))
        database = Database(self.database_url, pool_size=1, max_overflow=0)
        try:
            async with database.transaction() as session:
                made = [
                    await users.add(
                        session,
                        email=f"{role}-{secrets.token_hex(6)}@bench.example",
                        name=f"{role.title()} {n}",
                        role=role,
                        password_hash=self.password_hash,
                    )
                    for n in range(count)
                ]
                await session.flush()
                ids = [(user.id, user.name) for user in made]
        finally:
            await database.dispose()
        return [
            (
                issue_access_token(
                    secret_key=common.SECRET_KEY,
                    user_id=user_id,
                    role=role,
                    name=name,
                    ttl_seconds=TOKEN_TTL,
                ),
                user_id,
            )
            for user_id, name in ids
        ]

    async def add(
        self, args: argparse.Namespace, rooms: int
    ) -> tuple[list[Command], list[Command]]:
        """``rooms`` more classrooms: (learner specs, teacher specs)."""
        learners = await self.accounts("learner", rooms * args.class_size)
        teachers = await self.accounts("teacher", rooms * TEACHERS_PER_CLASS)
        gate = asyncio.Semaphore(SETUP_CONCURRENCY)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=120) as http:

            async def room(n: int) -> tuple[list[Command], list[Command]]:
                async with gate:
                    return await self._room(
                        http,
                        args,
                        [t for t, _ in learners[n * args.class_size : (n + 1) * args.class_size]],
                        [t for t, _ in teachers[n * 2 : n * 2 + 2]],
                    )

            made = await asyncio.gather(*(room(n) for n in range(rooms)))
        self.classrooms += rooms
        return [s for m in made for s in m[0]], [s for m in made for s in m[1]]

    async def _room(
        self,
        http: httpx.AsyncClient,
        args: argparse.Namespace,
        learners: Sequence[str],
        teachers: Sequence[str],
    ) -> tuple[list[Command], list[Command]]:
        owner, co_teacher = teachers
        number = self.classrooms + random.randrange(1 << 30)
        room = await _data(
            http.post(
                "/api/teacher/classrooms", json={"name": f"Room {number}"}, headers=_auth(owner)
            )
        )
        await _data(
            http.post(
                "/api/teacher/classrooms/join",
                json={"join_code": room["teacher_join_code"]},
                headers=_auth(co_teacher),
            )
        )
        lessons = []
        words: list[str] = []
        for index in range(args.lessons):
            chosen = self.words[index * args.lesson_words : (index + 1) * args.lesson_words]
            words += chosen
            body = {
                "classroom_id": room["id"],
                "title": f"Lesson {index}",
                "category": "Spanish",
                "word_ids": chosen,
            }
            lessons.append(
                await _data(http.post("/api/teacher/lessons", json=body, headers=_auth(owner)))
            )
        specs: list[Command] = []
        for seat, token in enumerate(learners):
            joined = await _data(
                http.post(
                    "/api/v1/classrooms/join",
                    json={"join_code": room["student_join_code"]},
                    headers=_auth(token),
                )
            )
            for lesson in lessons:
                body = {"lesson_id": lesson["id"], "student_id": joined["student"]["id"]}
                await _data(
                    http.post("/api/teacher/progress-board/cards", json=body, headers=_auth(owner))
                )
            specs.append(
                {"token": token, "server": seat % 2, "channel": "progress", "words": words}
            )
        teacher_specs: list[Command] = [
            {
                "token": token,
                "server": seat % 2,
                "channel": f"board:{room['id']}",
                "classroom": room["id"],
            }
            for seat, token in enumerate(teachers)
        ]
        return specs, teacher_specs


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _data(request: Any) -> Any:
    response = await request
    if response.status_code >= 300:
        raise RuntimeError(f"set-up: {response.status_code} {response.text[:300]}")
    return response.json()["data"]


# -- server-side figures: /metrics and /proc -------------------------------------------------


Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(http: httpx.AsyncClient, server: common.Server) -> Scrape:
    """Every sample of one server's ``/metrics``, keyed by (name, sorted labels)."""
    answer = await http.get(f"{server.base_url}/metrics")
    answer.raise_for_status()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def _sum(scrapes: Sequence[Scrape], name: str, **labels: str) -> float:
    return sum(
        value
        for scraped in scrapes
        for (sample, keys), value in scraped.items()
        if sample == name and all(dict(keys).get(k, "") == v for k, v in labels.items())
    )


def _buckets(scrapes: Sequence[Scrape], name: str, match: dict[str, str]) -> dict[float, float]:
    """Cumulative bucket counts (``le`` -> count), summed over servers and matching series."""
    out: dict[float, float] = {}
    for scraped in scrapes:
        for (sample, keys), value in scraped.items():
            labels = dict(keys)
            if sample != f"{name}_bucket":
                continue
            if not all(v in labels.get(k, "") for k, v in match.items()):
                continue
            le = float(labels["le"])
            out[le] = out.get(le, 0.0) + value
    return out


def histogram_quantile(
    q: float, before: Sequence[Scrape], after: Sequence[Scrape], name: str, **match: str
) -> float:
    """Prometheus' ``histogram_quantile`` over the counts added between two scrapes, in ms."""
    start, end = _buckets(before, name, match), _buckets(after, name, match)
    edges = sorted(end)
    counts = [end[le] - start.get(le, 0.0) for le in edges]
    if not counts or counts[-1] <= 0:
        return math.nan
    rank = q * counts[-1]
    lower_edge, lower_count = 0.0, 0.0
    for le, count in zip(edges, counts, strict=True):
        if count >= rank:
            if math.isinf(le):
                return 1000 * lower_edge
            inside = count - lower_count
            share = (rank - lower_count) / inside if inside else 0.0
            return 1000 * (lower_edge + (le - lower_edge) * share)
        lower_edge, lower_count = le, count
    return math.nan


def postgres_cpu_seconds(database: str) -> float:
    """CPU time of the PostgreSQL backends serving ``database`` (from ``/proc``)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            if f" {database} " not in (entry / "cmdline").read_bytes().decode(errors="replace"):
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / common.CLOCK_TICKS
    return total


def open_fds(server: common.Server) -> int:
    return len(os.listdir(f"/proc/{server.pid}/fd"))


@dataclass
class Probe:
    """Server-side state at one instant: /metrics of both servers and /proc counters."""

    at: float
    scrapes: list[Scrape]
    cpu: list[float]
    rss_mib: list[float]
    fds: list[int]
    postgres: float

    @classmethod
    async def take(
        cls, http: httpx.AsyncClient, servers: Sequence[common.Server], database: str
    ) -> Probe:
        scrapes = list(await asyncio.gather(*(scrape(http, s) for s in servers)))
        return cls(
            time.monotonic(),
            scrapes,
            [s.cpu_seconds() for s in servers],
            [round(s.rss_kib() / 1024, 1) for s in servers],
            [open_fds(s) for s in servers],
            postgres_cpu_seconds(database),
        )


# -- the run ----------------------------------------------------------------------------------

OnBell = Callable[[], Awaitable[None]]  # what a soak does after each bell


@dataclass
class Run:
    args: argparse.Namespace
    school: School
    servers: list[common.Server]
    workers: list[WorkerProcess]
    http: httpx.AsyncClient
    database: str
    learners: int = 0
    teachers: int = 0
    next_bell: float = 0.0

    def params(self) -> dict[str, float]:
        args = self.args
        return {
            "answer_every": args.answer_every,
            "teacher_every": args.teacher_every,
            "offline_every_seconds": args.offline_every * 60,
            "offline_seconds": 60 / args.compress,
        }

    async def grow(self, learners: int) -> None:
        """Add classrooms until there are at least ``learners`` learners."""
        rooms = math.ceil((learners - self.learners) / self.args.class_size)
        if rooms <= 0:
            return
        if not self.next_bell:  # the first bell a whole period after the load starts
            self.next_bell = time.monotonic() + bell_seconds(self.args)
        learner_specs, teacher_specs = await self.school.add(self.args, rooms)
        count = len(self.workers)
        commands = [
            {
                "op": "add",
                "learners": learner_specs[w::count],
                "teachers": teacher_specs[w::count],
                "ports": [s.port for s in self.servers],
                "ws_urls": [s.ws_url for s in self.servers],
                "params": self.params(),
                "seed": self.args.seed * 1000 + self.school.classrooms * 10 + w,
            }
            for w in range(count)
        ]
        answers = await call_all(self.workers, commands, seconds=300)
        subscribed = sum(answer["subscribed"] for answer in answers)
        if subscribed < len(learner_specs) + len(teacher_specs):
            # Not fatal (each keeps trying), but the first window then starts short.
            print(f"  {len(learner_specs) + len(teacher_specs) - subscribed} sockets not yet in")
        self.learners += len(learner_specs)
        self.teachers += len(teacher_specs)

    async def collect(self) -> list[Command]:
        return await call_all(self.workers, [{"op": "collect"}] * len(self.workers), 120)

    async def ring_if_due(self) -> bool:
        if time.monotonic() < self.next_bell:
            return False
        self.next_bell = time.monotonic() + bell_seconds(self.args)
        await call_all(self.workers, [{"op": "bell", "share": BELL_SHARE}] * len(self.workers), 60)
        return True

    async def hold(self, seconds: float, on_bell: OnBell | None = None) -> int:
        """Keep the load for ``seconds``, ringing bells when due; how many rang."""
        rang = 0
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if await self.ring_if_due():
                rang += 1
                if on_bell is not None:
                    await on_bell()
            await asyncio.sleep(min(0.25, left))
        return rang

    async def measure(self, seconds: float, on_bell: OnBell | None = None) -> dict[str, Any]:
        """One measured window: client samples and server figures."""
        first = await self.collect()  # drop what came before the window
        load = os.getloadavg()[0]
        busy = common.machine_busy_seconds()
        before = await Probe.take(self.http, self.servers, self.database)
        bells = await self.hold(seconds, on_bell)
        answers = await self.collect()
        after = await Probe.take(self.http, self.servers, self.database)
        elapsed = after.at - before.at
        machine = 100 * (common.machine_busy_seconds() - busy) / elapsed
        clients = 100 * sum(b["cpu"] - a["cpu"] for a, b in zip(first, answers, strict=True))
        return summarise(self, answers, before, after, elapsed, load, machine, bells, clients)


def _p(values: list[float], q: float) -> float:
    return round(common.percentile(sorted(values), q), 1)


def summarise(
    run: Run,
    answers: list[Command],
    before: Probe,
    after: Probe,
    elapsed: float,
    load: float,
    machine: float,
    bells: int,
    clients: float,
) -> dict[str, Any]:
    def merged(name: str) -> list[float]:
        return [x for answer in answers for x in answer[name]]

    statuses: dict[str, int] = {}
    for answer in answers:
        for key, count in answer["statuses"].items():
            statuses[key] = statuses.get(key, 0) + count
    puts = merged("put_ms")
    put_ok = sum(v for k, v in statuses.items() if k.startswith("put 2"))
    b, a = before.scrapes, after.scrapes
    server_resets = _sum(a, "tandem_resets_sent_total") - _sum(b, "tandem_resets_sent_total")
    errors_5xx = sum(v for k, v in statuses.items() if k.split()[1].startswith("5"))
    figures: dict[str, Any] = {
        "learners": run.learners,
        "teachers": run.teachers,
        "seconds": round(elapsed, 1),
        "put_per_s": round(put_ok / elapsed, 1),
        "put_p50_ms": _p(puts, 50),
        "put_p99_ms": _p(puts, 99),
        "put_p99_server_ms": round(
            histogram_quantile(
                0.99, b, a, "tandem_http_request_duration_seconds", method="PUT", route="progress"
            ),
            1,
        ),
        "batch_p99_ms": _p(merged("batch_ms"), 99),
        "move_p99_ms": _p(merged("move_ms"), 99),
        "move_p99_server_ms": round(
            histogram_quantile(
                0.99, b, a, "tandem_http_request_duration_seconds", method="PATCH", route="move"
            ),
            1,
        ),
        "progress_p99_ms": _p(merged("progress_ms"), 99),
        "card_p99_ms": _p(merged("card_ms"), 99),
        "lag_p99_server_ms": round(
            histogram_quantile(0.99, b, a, "tandem_event_delivery_lag_seconds"), 1
        ),
        "moves": len(merged("move_ms")),
        "locks": len(merged("lock_ms")),
        "batches": len(merged("batch_ms")),
        "board_reads": len(merged("board_ms")),
        "conflicts": sum(answer["conflicts"] for answer in answers),
        "statuses": statuses,
        "errors_5xx": errors_5xx,
        "lost": sum(answer["lost"] for answer in answers),
        "duplicated": sum(answer["duplicated"] for answer in answers),
        "resets_seen": sum(answer["resets"] for answer in answers),
        "resets_sent": int(server_resets),
        "retried": sum(answer["retried"] for answer in answers),
        "stale": sum(answer["stale"] for answer in answers),
        "unreached": sum(answer["unreached"] for answer in answers),
        "reconnects": sum(answer["reconnects"] for answer in answers),
        "bells": bells,
        "bell_drops": sum(answer["bell_drops"] for answer in answers),
        "server_cpu_percent": [
            round(100 * (y - x) / elapsed) for x, y in zip(before.cpu, after.cpu, strict=True)
        ],
        "server_rss_mib": after.rss_mib,
        "server_fds": after.fds,
        "postgres_cpu_percent": round(100 * (after.postgres - before.postgres) / elapsed),
        "pool_in_use": _sum(a, "tandem_db_pool_in_use"),
        "websockets": _sum(a, "tandem_websocket_connections"),
        "subscriptions": _sum(a, "tandem_subscriptions"),
        "client_cpu_percent": round(clients / elapsed),
        "open_sockets": sum(answer["open_sockets"] for answer in answers),
        "client_tasks": sum(answer["tasks"] for answer in answers),
        "load_before": round(load, 2),
        "machine_percent": round(machine),
    }
    # CPU the machine spent on anything but this bench (other work on a shared box).
    figures["others_cpu_percent"] = round(
        machine
        - sum(figures["server_cpu_percent"])
        - figures["postgres_cpu_percent"]
        - figures["client_cpu_percent"]
    )
    return figures


def held(step: dict[str, Any], limit: float) -> bool:
    return bool(step["put_p99_ms"] <= limit and step["lost"] == 0 and step["unreached"] == 0)


async def finish(run: Run) -> dict[str, Any]:
    """Stop the load and check every seat against its channel's head."""
    await call_all(run.workers, [{"op": "stop"}] * len(run.workers), 60)
    finals = await call_all(run.workers, [{"op": "final", "wait": 60}] * len(run.workers), 300)
    return {
        "short": sum(f["short"] for f in finals),
        "lost": sum(f["lost"] for f in finals),
        "resets": sum(f["resets"] for f in finals),
        "duplicated": sum(f["duplicated"] for f in finals),
    }


@contextlib.asynccontextmanager
async def profiling(
    args: argparse.Namespace, servers: Sequence[common.Server], seconds: float, label: str
) -> Any:
    """py-spy on each server for ``seconds`` (raw collapsed stacks), if ``--profile``."""
    if args.profile is None or seconds <= 0:
        yield
        return
    args.profile.mkdir(parents=True, exist_ok=True)
    spies = [
        await asyncio.create_subprocess_exec(
            args.py_spy,
            *("record", "--format", "raw", "--rate", "50", "--nonblocking"),
            *("--duration", str(int(seconds)), "--pid", str(server.pid)),
            *("--output", str(args.profile / f"server-{n}-{label}.txt")),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for n, server in enumerate(servers)
    ]
    try:
        yield
    finally:
        await asyncio.gather(*(spy.wait() for spy in spies))
        files = sorted(args.profile.glob(f"server-*-{label}.txt"))
        args.profiles[label] = stacks.shares(files)


async def ramp(run: Run) -> dict[str, Any]:
    args = run.args
    steps: list[dict[str, Any]] = []
    capacity: dict[str, Any] | None = None
    target = args.start
    while target <= args.max:
        await run.grow(target)
        await run.hold(args.warm_up)
        async with profiling(args, run.servers, args.step_seconds, str(target)):
            step = await run.measure(args.step_seconds)
        steps.append(step)
        print_step(step, header=len(steps) == 1)
        if not held(step, args.p99_limit):
            break
        capacity = step
        target += args.step
    final = await finish(run)
    return {"mode": "ramp", "steps": steps, "capacity": capacity, "final": final}


async def soak(run: Run) -> dict[str, Any]:
    args = run.args
    await run.grow(args.learners)
    await run.hold(args.warm_up)
    snapshots: list[dict[str, Any]] = []

    async def snapshot(label: str) -> None:
        probe = await Probe.take(run.http, run.servers, run.database)
        answers = await call_all(run.workers, [{"op": "status"}] * len(run.workers), 120)
        snapshots.append(
            {
                "label": label,
                "t": round(probe.at - began, 1),
                "rss_mib": probe.rss_mib,
                "fds": probe.fds,
                "websockets": _sum(probe.scrapes, "tandem_websocket_connections"),
                "subscriptions": _sum(probe.scrapes, "tandem_subscriptions"),
                "pool_in_use": _sum(probe.scrapes, "tandem_db_pool_in_use"),
                "lost": sum(a["lost"] for a in answers),
                "client_tasks": sum(a["tasks"] for a in answers),
            }
        )

    began = time.monotonic()
    run.next_bell = began + bell_seconds(args)  # the first bell after a whole period
    await snapshot("start")

    async def after_bell() -> None:
        await asyncio.sleep(BELL_RECONNECT_WITHIN + 3)  # every dropped socket is back
        await snapshot(f"after bell {len(snapshots)}")

    async with profiling(args, run.servers, min(60.0, args.soak * 60), "soak"):
        measured = await run.measure(args.soak * 60, after_bell)
    await snapshot("end")
    final = await finish(run)
    first, last = snapshots[0], snapshots[-1]
    drift = [
        round(100 * (b - a) / a, 1) for a, b in zip(first["rss_mib"], last["rss_mib"], strict=True)
    ]
    return {
        "mode": "soak",
        "minutes": args.soak,
        "window": measured,
        "snapshots": snapshots,
        "rss_drift_percent": drift,
        "final": final,
    }


async def rolling_restart(run: Run) -> dict[str, Any]:
    args = run.args
    await run.grow(args.learners)
    await run.hold(args.warm_up)
    await run.collect()
    half = args.restart_seconds / 2
    run.next_bell = time.monotonic() + 10 * args.restart_seconds  # no bell: one thing at a time
    await run.hold(half)
    began = time.monotonic()
    restarted = run.servers[1]
    await restarted.stop()
    if restarted.log_path is not None:  # keep the first process's log
        restarted.log_path = restarted.log_path.with_name("server-1-restarted.log")
    await restarted.start()
    restart_seconds = time.monotonic() - began
    await run.hold(half)
    answers = await run.collect()
    final = await finish(run)
    statuses: dict[str, int] = {}
    for answer in answers:
        for key, count in answer["statuses"].items():
            statuses[key] = statuses.get(key, 0) + count
    return {
        "mode": "rolling-restart",
        "learners": run.learners,
        "teachers": run.teachers,
        "restart_seconds": round(restart_seconds, 1),
        "retried": sum(a["retried"] for a in answers),
        "stale": sum(a["stale"] for a in answers),
        "requests_lost": sum(a["unreached"] for a in answers),
        "unreached_errors": [a["errors"] for a in answers],
        "errors_5xx": sum(v for k, v in statuses.items() if k.split()[1].startswith("5")),
        "reconnects": sum(a["reconnects"] for a in answers),
        "put_p99_ms": _p([x for a in answers for x in a["put_ms"]], 99),
        "put_max_ms": _p([x for a in answers for x in a["put_ms"]], 100),
        "statuses": statuses,
        "final": final,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    random.seed(args.seed)
    args.profiles = {}  # label: where the servers' CPU went (--profile)
    # Read by each ``tandem serve`` (common.Server passes the environment on).
    os.environ["TANDEM_METRICS"] = "on"
    words = [word.id for deck in shipped().decks for word in deck.words]
    async with (
        common.fresh_database(args.admin_url) as url,
        common.servers(2, url, args.server_logs, args.redis_url) as servers,
        worker_pool("bench.school_day", args.client_processes) as workers,
        httpx.AsyncClient(timeout=30) as http,
    ):
        school = School(url, servers[0].base_url, words=words[: args.lessons * args.lesson_words])
        the_run = Run(args, school, servers, workers, http, url.rsplit("/", 1)[1])
        load = os.getloadavg()
        if args.soak:
            result = await soak(the_run)
        elif args.rolling_restart:
            result = await rolling_restart(the_run)
        else:
            result = await ramp(the_run)
        await call_all(workers, [{"op": "halt"}] * len(workers), 120)
        result["server_errors_logged"] = sum(s.errors_logged for s in servers)
    result["load_at_start"] = [round(x, 2) for x in load]
    result["profiles"] = args.profiles
    result["machine"] = common.machine()
    result["passed"] = passed(result)
    return result


def passed(result: dict[str, Any]) -> bool:
    final = result["final"]
    clean = final["short"] == 0 and final["lost"] == 0
    if result["mode"] == "rolling-restart":
        return bool(clean and result["requests_lost"] == 0)
    if result["mode"] == "soak":
        return bool(clean and all(d <= 5 for d in result["rss_drift_percent"]))
    capacity = result["capacity"]
    return bool(
        clean
        and capacity is not None
        and capacity["learners"] >= TARGET_LEARNERS
        and capacity["put_p99_ms"] <= TARGET_PUT_P99_MS
        and capacity["card_p99_ms"] <= TARGET_CARD_P99_MS
    )


# -- output -------------------------------------------------------------------------------------


COLUMNS = (
    ("learners", "learners"),
    ("teachers", "teach"),
    ("put_per_s", "PUT/s"),
    ("put_p50_ms", "PUT p50"),
    ("put_p99_ms", "PUT p99"),
    ("put_p99_server_ms", "(srv)"),
    ("move_p99_ms", "move p99"),
    ("progress_p99_ms", "prog.upd p99"),
    ("card_p99_ms", "card.prog p99"),
    ("lag_p99_server_ms", "lag p99 srv"),
    ("lost", "lost"),
    ("resets_sent", "resets"),
    ("server_cpu_percent", "srv CPU %"),
    ("server_rss_mib", "srv RSS MiB"),
    ("postgres_cpu_percent", "PG CPU %"),
    ("pool_in_use", "pool"),
    ("client_cpu_percent", "clients CPU %"),
    ("others_cpu_percent", "others CPU %"),
    ("load_before", "load"),
)


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return "/".join(_cell(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def print_step(step: dict[str, Any], *, header: bool) -> None:
    if header:
        print("| " + " | ".join(title for _, title in COLUMNS) + " |")
        print("|" + "---|" * len(COLUMNS))
    print("| " + " | ".join(_cell(step[key]) for key, _ in COLUMNS) + " |", flush=True)


def report(result: dict[str, Any]) -> None:
    print(f"load average at start {result['load_at_start']}; machine {result['machine']}")
    final = result["final"]
    if result["mode"] == "ramp":
        capacity = result["capacity"]
        if capacity is None:
            print("capacity: not even the first step held")
        else:
            print(
                f"capacity: {capacity['learners']} learners + {capacity['teachers']} teachers"
                f" (PUT p99 {capacity['put_p99_ms']} ms, card.progress p99"
                f" {capacity['card_p99_ms']} ms, lost {capacity['lost']})"
            )
    elif result["mode"] == "soak":
        for snap in result["snapshots"]:
            print(f"  {snap}")
        print(f"  RSS drift {result['rss_drift_percent']} % (target <= 5)")
    else:
        keys = ("restart_seconds", "retried", "requests_lost", "errors_5xx", "reconnects")
        print("  " + ", ".join(f"{k} {result[k]}" for k in keys))
        print(f"  PUT p99 {result['put_p99_ms']} ms, max {result['put_max_ms']} ms")
    print(
        f"  at the end: {final['short']} events short of the heads, {final['lost']} gaps,"
        f" {final['duplicated']} duplicated, {final['resets']} resets"
    )
    for label, profile in result["profiles"].items():
        print(f"  profile at {label}: {profile['samples']} samples of both servers")
        for kind in ("packages", "work"):
            shares = ", ".join(f"{name} {share} %" for name, share in profile[kind].items())
            print(f"    {kind}: {shares}")
    script.verdict(result)


def main() -> None:
    args = parse_args()
    script.main(args, Worker, run, report)


if __name__ == "__main__":
    main()
