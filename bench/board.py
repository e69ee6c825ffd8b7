"""The teacher's progress board: reads (uncached, cached, 304) and move latency under reads.

A classroom of ``--students`` (30) students x ``--lessons`` (100) lessons, one card each
(3,000 cards), created through the API on a fresh PostgreSQL database; two ``tandem serve``
processes share it and one Redis (the board cache). Rate limits are off. Four measurements of
``GET /api/teacher/progress-board?classroom_id=...``, alternating between the servers:

``uncached``
    Every request builds the board. The cache key is (classroom, board seq, roster counts,
    filters), so a plain repeated GET is a hit; instead of writing between reads (which would
    add a write per read), this run starts the two servers as a *patched build* (the
    ``program`` hook of :class:`bench.common.Server`): ``RedisBoardCache.get`` still looks
    the body up (in the process's copy, then Redis) but reports a miss, so each request pays
    the access check, the stamp, the lookup, the build, the encoding and the Redis SET, as
    a real miss does. Target: >= 300 requests/s.
``cached``
    Repeated GETs with no change: each is served from the cache (Redis, and the copy each
    process keeps of what it fetched), after the access check and the board's stamp (one
    Redis GET; see server/board/stamps.py). Target: >= 1,500/s.

Reads send ``Accept-Encoding: gzip`` as browsers do (``--encoding identity`` for the plain
JSON), so the cached and uncached answers are the gzip-encoded board.
``not-modified``
    Repeated GETs with ``If-None-Match`` set to the current ETag: 304 after the access check
    and the board's stamp, without the database. Target: >= 5,000/s.
``moves``
    Open loop: ``--move-rate`` (200) single moves a second, each due at ``start + i / rate``
    and timed from its due time, while ``--readers`` (1) closed-loop clients read the board
    back to back (each move changes the seq, so most of those reads are rebuilds). Cards are
    taken in a shuffled order and moved between ``not_started`` and ``in_progress`` (to the
    end of the other column) with the ``updated_at`` the API last returned as their version;
    a card comes round again only after every other card did. Target: p99 <= 20 ms.

The throughput runs are closed loops (``--concurrency`` requests in flight in all) driven
by ``--procs`` client processes, each with the lean keep-alive client of :mod:`bench.http`
(httpx cost the readers about 2 ms of CPU a request, CPU the servers then lacked); the
moves use it too. Everything (PostgreSQL, Redis, the two
servers and the load generator) shares this machine's CPUs, and the figures show how busy
each party was.

    uv run python -m bench.board [--scenarios uncached,cached,not-modified,moves] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import multiprocessing
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench import common
from bench.http import RawClient

SCENARIOS = ("uncached", "cached", "not-modified", "moves")
TARGETS = {"uncached": 300.0, "cached": 1500.0, "not-modified": 5000.0}  # requests/s
MOVE_P99_TARGET_MS = 20.0
BOARD = "/api/teacher/progress-board"
HOST = "127.0.0.1"
CATEGORIES = ("grammar", "vocabulary", "listening", "reading", "speaking")
END_OF_COLUMN = 1_000_000  # new_position past the end: the card goes last

# The patched build of the "uncached" run: the servers' Redis board cache always misses
# (it still looks the body up, then rebuilds and SETs as on a real miss). Run with ``python -c``,
# then ``serve --host ... --port ...`` as Server.start appends.
UNCACHED_SERVER = """\
import sys
from server.board import cache
_get = cache.RedisBoardCache.get
async def _miss(self, key):
    await _get(self, key)
    return None
cache.RedisBoardCache.get = _miss
from server.cli import main
sys.exit(main(sys.argv[1:]))
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--lessons", type=int, default=100)
    parser.add_argument("--procs", type=int, default=2, help="client processes per run")
    parser.add_argument(
        "--concurrency",
        default="uncached=8,cached=16,not-modified=32",
        help="requests in flight per scenario, in all: name=count,...",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--move-rate", type=float, default=200.0, help="moves a second")
    parser.add_argument("--readers", type=int, default=1, help="board readers during moves")
    parser.add_argument("--setup-concurrency", type=int, default=16, help="card creations")
    parser.add_argument(
        "--encoding",
        default="gzip",
        help="Accept-Encoding of the board reads: gzip, as browsers send, or identity",
    )
    parser.add_argument("--admin-url", default=common.ADMIN_URL)
    parser.add_argument(
        "--redis-url", default=common.REDIS_URL, help="the servers' Redis (board cache, stamps)"
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    concurrency = {"uncached": 8, "cached": 16, "not-modified": 32}
    for item in args.concurrency.split(","):
        name, _, count = item.partition("=")
        if name.strip() not in concurrency or not count.strip().isdigit():
            parser.error(f"--concurrency: cannot read {item!r}")
        concurrency[name.strip()] = int(count)
    args.concurrency = concurrency
    return args


# -- the classroom ----------------------------------------------------------------------------


@dataclass
class Card:
    id: str
    status: str
    version: str  # updated_at exactly as the API returned it


@dataclass
class Classroom:
    id: str
    token: str
    cards: list[Card] = field(default_factory=list)
    login: dict[str, Any] = field(default_factory=dict)  # the teacher's login answer
    teacher_join_code: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def board_path(self) -> str:
        return f"{BOARD}?classroom_id={self.id}"


def _data(answer: httpx.Response) -> Any:
    if answer.status_code >= 300:
        raise RuntimeError(f"{answer.request.url}: {answer.status_code} {answer.text[:300]}")
    return answer.json()["data"]


async def create_classroom(
    servers: Sequence[common.Server], students: int, lessons: int, concurrency: int
) -> Classroom:
    """A teacher, a classroom, its students and lessons, and one card per pair, via the API."""
    clients = [httpx.AsyncClient(base_url=s.base_url, timeout=60) for s in servers]
    try:
        api = clients[0]
        email = f"teacher-{random.getrandbits(48):x}@example.com"
        account = {"email": email, "password": "bench-password"}
        register = {**account, "name": "Grace", "role": "teacher"}
        _data(await api.post("/api/v1/auth/register", json=register))
        login = _data(await api.post("/api/v1/auth/login", json=account))
        room = Classroom(id="", token=str(login["access_token"]), login=login)
        auth = room.headers
        made_room = _data(
            await api.post("/api/teacher/classrooms", json={"name": "Room 1"}, headers=auth)
        )
        room.id = str(made_room["id"])
        room.teacher_join_code = str(made_room["teacher_join_code"])
        limit = asyncio.Semaphore(concurrency)

        async def post(index: int, path: str, body: dict[str, Any]) -> Any:
            async with limit:
                return _data(
                    await clients[index % len(clients)].post(path, json=body, headers=auth)
                )

        student_ids = [
            str(s["id"])
            for s in await asyncio.gather(
                *(
                    post(i, "/api/teacher/students", {"classroom_id": room.id, "name": f"S{i}"})
                    for i in range(students)
                )
            )
        ]
        lesson_ids = [
            str(lesson["id"])
            for lesson in await asyncio.gather(
                *(
                    post(
                        i,
                        "/api/teacher/lessons",
                        {
                            "classroom_id": room.id,
                            "title": f"Lesson {i}",
                            "category": CATEGORIES[i % len(CATEGORIES)],
                        },
                    )
                    for i in range(lessons)
                )
            )
        ]
        made = await asyncio.gather(
            *(
                post(i, f"{BOARD}/cards", {"lesson_id": lesson, "student_id": student})
                for i, (lesson, student) in enumerate(
                    (lesson, student) for lesson in lesson_ids for student in student_ids
                )
            )
        )
        room.cards = [Card(str(c["id"]), str(c["status"]), str(c["updated_at"])) for c in made]
        return room
    finally:
        for client in clients:
            await client.aclose()


# -- closed-loop readers, in client processes ------------------------------------------------


@dataclass(frozen=True)
class ReadJob:
    """What one client process does: ``concurrency`` back-to-back GETs of ``path``."""

    ports: tuple[int, ...]
    path: str
    headers: tuple[tuple[str, str], ...]
    concurrency: int
    start_at: float  # time.time() at which the measured window opens (after the warm-up)
    seconds: float


@dataclass
class ReadResult:
    statuses: dict[int, int] = field(default_factory=dict)
    failures: int = 0
    latencies: list[float] = field(default_factory=list)  # of the answers in the window
    cpu_seconds: float = 0.0
    body_bytes: int = 0


def ready_worker(pause: float) -> int:
    """Makes the pool spawn (and import) its processes before anything is measured."""
    time.sleep(pause)
    return 0


def read_worker(job: ReadJob) -> ReadResult:
    """Entry point of a client process."""
    return common.run_loop(_read_loop(job))


async def _read_loop(job: ReadJob) -> ReadResult:
    result = ReadResult()
    client = await RawClient(job.ports, job.concurrency).open()
    headers = dict(job.headers)
    end = job.start_at + job.seconds

    async def reader(first: int) -> None:
        turn = first
        while (now := time.time()) < end:
            server = turn % len(job.ports)
            turn += 1
            try:
                answer = await client.request(server, "GET", job.path, headers)
            except (OSError, asyncio.IncompleteReadError, RuntimeError):
                result.failures += 1
                continue
            if now >= job.start_at:
                result.latencies.append(time.time() - now)
                result.statuses[answer.status] = result.statuses.get(answer.status, 0) + 1
                result.body_bytes = len(answer.body)

    began = common.self_cpu_seconds()
    try:
        await asyncio.gather(*(reader(i) for i in range(job.concurrency)))
    finally:
        await client.aclose()
    result.cpu_seconds = common.self_cpu_seconds() - began
    return result


@dataclass
class Usage:
    """CPU used by the servers and the whole machine over a window, in % of one CPU."""

    servers: Sequence[common.Server]

    def start(self) -> None:
        self.began = time.monotonic()
        self.cpu = [server.cpu_seconds() for server in self.servers]
        self.busy = common.machine_busy_seconds()

    def stop(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.began
        return {
            "servers_cpu_pct": [
                round(100 * (server.cpu_seconds() - cpu) / elapsed)
                for server, cpu in zip(self.servers, self.cpu, strict=True)
            ],
            "machine_cpu_pct": round(100 * (common.machine_busy_seconds() - self.busy) / elapsed),
        }


def summary(results: Sequence[ReadResult], seconds: float) -> dict[str, Any]:
    statuses: dict[int, int] = {}
    for result in results:
        for status, count in result.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    latencies = sorted(x for result in results for x in result.latencies)
    good = statuses.get(200, 0) + statuses.get(304, 0)
    return {
        "requests_per_s": round(good / seconds, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "failures": sum(result.failures for result in results),
        "p50_ms": round(1000 * common.percentile(latencies, 50), 2),
        "p99_ms": round(1000 * common.percentile(latencies, 99), 2),
        "body_bytes": max((result.body_bytes for result in results), default=0),
        "clients_cpu_pct": round(100 * sum(r.cpu_seconds for r in results) / seconds),
    }


async def closed_loop(
    pool: concurrent.futures.Executor,
    servers: Sequence[common.Server],
    path: str,
    headers: dict[str, str],
    concurrency: int,
    procs: int,
    warmup: float,
    seconds: float,
) -> tuple[list[asyncio.Future[ReadResult]], float]:
    """Start the client processes; their futures and the time the window opens."""
    loop = asyncio.get_running_loop()
    start_at = time.time() + 1.0 + warmup  # a second for the processes to get going
    jobs = [
        ReadJob(
            ports=tuple(s.port for s in servers),
            path=path,
            headers=tuple(headers.items()),
            concurrency=share,
            start_at=start_at,
            seconds=seconds,
        )
        for share in common.split(concurrency, procs)
        if share > 0
    ]
    return [loop.run_in_executor(pool, read_worker, job) for job in jobs], start_at


async def throughput(
    pool: concurrent.futures.Executor,
    servers: Sequence[common.Server],
    room: Classroom,
    name: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    headers = room.headers | {"Accept-Encoding": args.encoding}
    if name == "not-modified":
        async with httpx.AsyncClient(base_url=servers[0].base_url, timeout=60) as client:
            answer = await client.get(room.board_path, headers=headers)
        headers = headers | {"If-None-Match": answer.headers["etag"]}
    usage = Usage(servers)
    futures, start_at = await closed_loop(
        pool,
        servers,
        room.board_path,
        headers,
        args.concurrency[name],
        args.procs,
        args.warmup,
        args.duration,
    )
    await asyncio.sleep(max(0.0, start_at - time.time()))
    usage.start()
    await asyncio.sleep(args.duration)
    used = usage.stop()
    figures = summary(await asyncio.gather(*futures), args.duration) | used
    figures["concurrency"] = args.concurrency[name]
    figures["accept_encoding"] = args.encoding
    figures["procs"] = args.procs
    figures["target_per_s"] = TARGETS[name]
    figures["pass"] = figures["requests_per_s"] >= TARGETS[name]
    return figures


# -- moves while the board is read ------------------------------------------------------------


async def moves(
    pool: concurrent.futures.Executor,
    servers: Sequence[common.Server],
    room: Classroom,
    args: argparse.Namespace,
) -> dict[str, Any]:
    order = room.cards[:]
    random.Random(7).shuffle(order)
    client = await RawClient([s.port for s in servers], 64).open()
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    failures = 0

    async def move(number: int, due: float) -> None:
        nonlocal failures
        card = order[number % len(order)]
        target = "in_progress" if card.status == "not_started" else "not_started"
        body = {"new_status": target, "new_position": END_OF_COLUMN, "version": card.version}
        try:
            status, raw = await client.send(
                number % len(servers),
                "PATCH",
                f"{BOARD}/cards/{card.id}/move",
                room.token,
                json.dumps(body).encode(),
            )
        except (OSError, asyncio.IncompleteReadError, RuntimeError):
            failures += 1
            return
        latencies.append(time.monotonic() - due)
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
            data = json.loads(raw)["data"]
            card.status, card.version = str(data["status"]), str(data["updated_at"])

    reading = room.headers | {"Accept-Encoding": args.encoding}
    readers, start_at = await closed_loop(
        pool, servers, room.board_path, reading, args.readers, 1, 0.0, args.duration
    )
    await asyncio.sleep(max(0.0, start_at - time.time()))
    usage = Usage(servers)
    usage.start()
    count = round(args.move_rate * args.duration)
    start = time.monotonic()
    pending: set[asyncio.Task[None]] = set()
    worst_lag = 0.0
    for number in range(count):
        due = start + number / args.move_rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            worst_lag = max(worst_lag, -delay)
        task = asyncio.create_task(move(number, due))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    used = usage.stop()
    read = summary(await asyncio.gather(*readers), args.duration)
    await client.aclose()
    latencies.sort()
    p99 = 1000 * common.percentile(latencies, 99)
    return {
        "moves": len(latencies),
        "rate_per_s": args.move_rate,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "failures": failures,
        "p50_ms": round(1000 * common.percentile(latencies, 50), 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(1000 * latencies[-1], 2) if latencies else float("nan"),
        "generator_worst_lag_ms": round(1000 * worst_lag, 2),
        "reads_per_s": read["requests_per_s"],
        "read_p50_ms": read["p50_ms"],
        "read_p99_ms": read["p99_ms"],
        "readers": args.readers,
        "target_p99_ms": MOVE_P99_TARGET_MS,
        "pass": p99 <= MOVE_P99_TARGET_MS and statuses.get(200, 0) == len(latencies),
    } | used


# -- the run -----------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> dict[str, Any]:
    common.raise_open_file_limit()
    report: dict[str, Any] = {"machine": common.machine(), "scenarios": {}}
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max(args.procs, 1), mp_context=context) as pool:
        loop = asyncio.get_running_loop()
        spawned = [loop.run_in_executor(pool, ready_worker, 1.0) for _ in range(args.procs)]
        await asyncio.gather(*spawned)
        async with common.fresh_database(args.admin_url) as database_url:
            async with common.servers(2, database_url, redis_url=args.redis_url) as normal:
                began = time.monotonic()
                room = await create_classroom(
                    normal, args.students, args.lessons, args.setup_concurrency
                )
                report["setup_s"] = round(time.monotonic() - began, 1)
                report["cards"] = len(room.cards)
                print(f"setup: {len(room.cards)} cards in {report['setup_s']} s", flush=True)
                for name in ("cached", "not-modified"):
                    if name in args.scenarios:
                        report[f"{name}_busy_before"] = await common.quiet_machine(at_most=60)
                        report["scenarios"][name] = await throughput(pool, normal, room, name, args)
                        print(name, report["scenarios"][name], flush=True)
                if "moves" in args.scenarios:
                    report["scenarios"]["moves"] = await moves(pool, normal, room, args)
                    print("moves", report["scenarios"]["moves"], flush=True)
            if "uncached" in args.scenarios:
                uncached = [
                    common.Server(
                        database_url,
                        redis_url=args.redis_url,
                        program=(sys.executable, "-c", UNCACHED_SERVER),
                    )
                    for _ in range(2)
                ]
                try:
                    for server in uncached:
                        await server.start()
                    report["uncached_busy_before"] = await common.quiet_machine(at_most=60)
                    scenario = await throughput(pool, uncached, room, "uncached", args)
                    report["scenarios"]["uncached"] = scenario
                    print("uncached", scenario, flush=True)
                finally:
                    await asyncio.gather(*(server.stop() for server in uncached))
    return report


def run() -> None:
    args = parse_args()
    report = common.run_loop(main(args))
    print()
    for name in SCENARIOS:
        figures = report["scenarios"].get(name)
        if figures is None:
            continue
        verdict = "PASS" if figures["pass"] else "FAIL"
        if name == "moves":
            print(
                f"moves at {figures['rate_per_s']:.0f}/s: p50 {figures['p50_ms']} ms, "
                f"p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms "
                f"(target p99 <= {MOVE_P99_TARGET_MS:.0f} ms) {verdict}; "
                f"board reads meanwhile {figures['reads_per_s']}/s"
            )
        else:
            print(
                f"{name}: {figures['requests_per_s']} requests/s, p50 {figures['p50_ms']} ms, "
                f"p99 {figures['p99_ms']} ms (target >= {TARGETS[name]:.0f}/s) {verdict}"
            )
    if args.json:
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    run()
