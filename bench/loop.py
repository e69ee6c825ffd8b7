"""The learning loop (contract §9): what a learner's answer costs, and how fast teachers see it.

Two scenarios, each on a fresh PostgreSQL database with Redis, set up over HTTP as a
classroom would be: one teacher, two classrooms; ``--learners`` learners, each a student
of both; lessons of deck words.

``put``
    One ``tandem serve``. Each learner has three cards (two lessons in the first classroom,
    one in the second) whose lessons all hold the same ten *assigned* words; ten other words
    are in no lesson. Every word has a record first (a batch), so the PUTs measured are
    updates. Then closed-loop PUTs (``--concurrency`` clients, round robin over learners,
    each raising a word's ``studyCount`` by one), alternating ``--rounds`` phases of
    ``--phase`` seconds: assigned words (each PUT changes three cards' progress: three
    ``card.progress``, two board channels) and unassigned words (none), back to back in one
    run. Target: assigned throughput >= 80 % of unassigned.
``live``
    Two ``tandem serve`` processes. ``--sockets`` teacher sockets (the teacher's token),
    half on each process, subscribe to the first classroom's board. Learners answer at
    ``--rate`` PUTs a second for ``--duration`` seconds, open loop, alternating between the
    processes; each PUT changes one card's progress (its word is in one lesson). Each
    socket records every ``card.progress`` and its latency from the event's ``at`` (taken
    when the write's transaction starts, so it is commit to socket plus the transaction's
    own few milliseconds: an upper bound). Target: p99 <= 200 ms.

The servers, the clients, PostgreSQL and Redis share this machine (2 cores, shared with
other work: the load is printed with the figures).

    uv run python -m bench.loop [--scenarios put,live] [--redis-url redis://…/N] [--json]
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bench import common, script
from bench.clients import (
    ClientWorker,
    Command,
    call_all,
    connect_commands,
    wait_reached,
    worker_pool,
)
from bench.http import RawClient
from server.words.catalog import shipped

PUT_RATIO_TARGET = 0.8
P99_TARGET_MS = 200.0
PASSWORD = "bench-password-1"  # noqa: S105


def parse_args() -> Any:
    parser = script.parser(__doc__)
    parser.add_argument("--scenarios", default="put,live")
    parser.add_argument("--learners", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--phase", type=float, default=5.0, help="seconds per put phase")
    parser.add_argument("--rounds", type=int, default=3, help="put phases of each kind")
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--rate", type=float, default=100.0, help="live: answers a second")
    parser.add_argument("--duration", type=float, default=20.0, help="live: seconds")
    args = parser.parse_args()
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    return args


# -- set-up over HTTP ---------------------------------------------------------------------


@dataclass
class Loop:
    teacher: str
    classrooms: list[str]
    learners: list[str]  # tokens
    assigned: list[str]
    unassigned: list[str]


async def _account(http: httpx.AsyncClient, role: str, n: int) -> str:
    email = f"{role}{n}-{os.urandom(4).hex()}@bench.example"
    body = {"email": email, "password": PASSWORD, "name": f"{role} {n}", "role": role}
    (await http.post("/api/v1/auth/register", json=body)).raise_for_status()
    login = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    login.raise_for_status()
    return str(login.json()["data"]["access_token"])


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _data(response: Any) -> Any:
    response.raise_for_status()
    return response.json()["data"]


async def set_up(base_url: str, learners: int, lessons: list[tuple[int, list[str]]]) -> Loop:
    """Two classrooms; ``lessons`` as (classroom index, words); every learner a student of
    both with a card on every lesson."""
    words = [word.id for deck in shipped().decks for word in deck.words]
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        teacher = await _account(http, "teacher", 0)
        rooms = [
            await _data(
                await http.post(
                    "/api/teacher/classrooms", json={"name": f"Room {n}"}, headers=_auth(teacher)
                )
            )
            for n in range(2)
        ]
        made = []
        for index, (room, chosen) in enumerate(lessons):
            body = {
                "classroom_id": rooms[room]["id"],
                "title": f"Lesson {index}",
                "category": "Spanish",
                "word_ids": chosen,
            }
            made.append(
                (
                    room,
                    await _data(
                        await http.post("/api/teacher/lessons", json=body, headers=_auth(teacher))
                    ),
                )
            )
        tokens = []
        for n in range(learners):
            token = await _account(http, "learner", n)
            tokens.append(token)
            for room in rooms:
                joined = await _data(
                    await http.post(
                        "/api/v1/classrooms/join",
                        json={"join_code": room["student_join_code"]},
                        headers=_auth(token),
                    )
                )
                student = joined["student"]["id"]
                for room_index, lesson in made:
                    if rooms[room_index]["id"] == room["id"]:
                        body = {"lesson_id": lesson["id"], "student_id": student}
                        await _data(
                            await http.post(
                                "/api/teacher/progress-board/cards",
                                json=body,
                                headers=_auth(teacher),
                            )
                        )
        used = {w for _, chosen in lessons for w in chosen}
        free = [w for w in words if w not in used]
        return Loop(teacher, [r["id"] for r in rooms], tokens, sorted(used), free)


async def seed_records(base_url: str, loop: Loop, words: list[str]) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        for token in loop.learners:
            updates = [
                {"wordId": w, "studyCount": 1, "correctCount": 1, "confidence": 3} for w in words
            ]
            await _data(
                await http.post(
                    "/api/v1/progress/batch", json={"updates": updates}, headers=_auth(token)
                )
            )


class Answers:
    """Whose word to raise next: round robin over learners, then words; each a change."""

    def __init__(self, loop: Loop, words: list[str]) -> None:
        self.keys = [(learner, word) for word in words for learner in range(len(loop.learners))]
        self.tokens = loop.learners
        self.studies = dict.fromkeys(self.keys, 1)
        self.sent = 0

    def next(self) -> tuple[int, str, str, bytes]:
        key = self.keys[self.sent % len(self.keys)]
        self.sent += 1
        self.studies[key] += 1
        study = self.studies[key]
        body = b'{"studyCount":%d,"correctCount":%d,"confidence":%d}' % (study, 1, study % 6)
        return self.sent, f"/api/v1/progress/{key[1]}", self.tokens[key[0]], body


# -- put: assigned against unassigned -------------------------------------------------------


async def put_phase(
    client: RawClient, answers: Answers, concurrency: int, seconds: float
) -> tuple[int, list[float], dict[int, int]]:
    done = 0
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            _, path, token, body = answers.next()
            began = time.monotonic()
            status, _ = await client.send(0, "PUT", path, token, body)
            latencies.append(1000 * (time.monotonic() - began))
            statuses[status] = statuses.get(status, 0) + 1
            done += status == 200

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, latencies, statuses


async def run_put(args: Any) -> dict[str, Any]:
    deck = [word.id for deck in shipped().decks for word in deck.words]
    assigned = deck[:10]
    lessons = [(0, assigned + deck[20:25]), (0, assigned[::-1]), (1, assigned + deck[25:28])]
    async with (
        common.fresh_database(args.admin_url) as url,
        common.servers(1, url, args.server_logs, args.redis_url) as servers,
    ):
        base = servers[0].base_url
        loop = await set_up(base, args.learners, lessons)
        unassigned = loop.unassigned[:10]
        await seed_records(base, loop, assigned + unassigned)
        client = await RawClient([servers[0].port], args.concurrency).open()
        try:
            kinds = {"assigned": Answers(loop, assigned), "unassigned": Answers(loop, unassigned)}
            await put_phase(client, kinds["assigned"], args.concurrency, 2.0)  # warm up
            await put_phase(client, kinds["unassigned"], args.concurrency, 2.0)
            figures: dict[str, dict[str, Any]] = {
                kind: {"done": 0, "seconds": 0.0, "latencies": [], "statuses": {}} for kind in kinds
            }
            load_before = os.getloadavg()[0]
            busy = common.machine_busy_seconds()
            began = time.monotonic()
            for _ in range(args.rounds):
                for kind, answers in kinds.items():
                    done, latencies, statuses = await put_phase(
                        client, answers, args.concurrency, args.phase
                    )
                    figure = figures[kind]
                    figure["done"] += done
                    figure["seconds"] += args.phase
                    figure["latencies"] += latencies
                    for status, count in statuses.items():
                        figure["statuses"][status] = figure["statuses"].get(status, 0) + count
            machine = 100 * (common.machine_busy_seconds() - busy) / (time.monotonic() - began)
        finally:
            await client.aclose()
        errors = sum(server.errors_logged for server in servers)
    result: dict[str, Any] = {"scenario": "put", "learners": args.learners}
    for kind, figure in figures.items():
        ordered = sorted(figure["latencies"])
        result[kind] = {
            "per_second": round(figure["done"] / figure["seconds"], 1),
            "p50_ms": round(common.percentile(ordered, 50), 2),
            "p99_ms": round(common.percentile(ordered, 99), 2),
            "statuses": figure["statuses"],
        }
    ratio = result["assigned"]["per_second"] / result["unassigned"]["per_second"]
    result.update(
        ratio=round(ratio, 3),
        machine_percent=round(machine),
        load_before=round(load_before, 2),
        server_errors_logged=errors,
        passed=ratio >= PUT_RATIO_TARGET,
    )
    return result


# -- live: commit to teachers' sockets ------------------------------------------------------


class Worker(ClientWorker):
    async def handle_more(self, command: Command) -> Command:
        if command["op"] != "collect":
            return await super().handle_more(command)
        await wait_reached(self.clients, command["last"], command["wait"])
        latencies = [
            round(1000 * latency, 3)
            for client in self.clients
            for seq, latency in zip(client.seqs, client.latencies, strict=True)
            if command["first"] <= seq <= command["last"]
        ]
        return {
            "latencies_ms": latencies,
            "short": sum(c.last_seq < command["last"] for c in self.clients),
            "resets": sum(c.resets for c in self.clients),
            "cpu": common.self_cpu_seconds(),
        }


async def board_seq(base_url: str, token: str, classroom: str) -> int:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        board = await _data(
            await http.get(
                "/api/teacher/progress-board",
                params={"classroom_id": classroom},
                headers=_auth(token),
            )
        )
    return int(board["seq"])


async def run_live(args: Any) -> dict[str, Any]:
    deck = [word.id for deck in shipped().decks for word in deck.words]
    lessons = [(0, deck[:10]), (0, deck[10:20]), (1, deck[20:30])]
    async with (
        common.fresh_database(args.admin_url) as url,
        common.servers(2, url, args.server_logs, args.redis_url) as servers,
        worker_pool("bench.loop", args.client_processes) as workers,
    ):
        base = servers[0].base_url
        loop = await set_up(base, args.learners, lessons)
        words = deck[:20]  # each in one lesson of the watched board
        await seed_records(base, loop, words)
        channel = f"board:{loop.classrooms[0]}"
        urls = [server.ws_url for server in servers]
        await call_all(
            workers,
            connect_commands(loop.teacher, urls, args.sockets, len(workers), channel),
            seconds=300,
        )
        first = await board_seq(base, loop.teacher, loop.classrooms[0]) + 1
        client = await RawClient([s.port for s in servers], 16).open()
        answers = Answers(loop, words)
        statuses: dict[int, int] = {}
        pending: set[asyncio.Task[None]] = set()

        async def answer() -> None:
            turn, path, token, body = answers.next()
            status, _ = await client.send(turn % 2, "PUT", path, token, body)
            statuses[status] = statuses.get(status, 0) + 1

        await common.quiet_machine()
        load_before = os.getloadavg()[0]
        busy = common.machine_busy_seconds()
        count = math.ceil(args.rate * args.duration)
        start = time.monotonic()
        for number in range(count):
            delay = start + number / args.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(answer())
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        elapsed = time.monotonic() - start
        machine = 100 * (common.machine_busy_seconds() - busy) / elapsed
        last = await board_seq(base, loop.teacher, loop.classrooms[0])
        await client.aclose()
        collected = await call_all(
            workers,
            [{"op": "collect", "first": first, "last": last, "wait": 15}] * len(workers),
            seconds=200,
        )
        await call_all(workers, [{"op": "close"}] * len(workers), seconds=60)
        errors = sum(server.errors_logged for server in servers)
    latencies = sorted(x for answer in collected for x in answer["latencies_ms"])
    events = last - first + 1
    result = {
        "scenario": "live",
        "sockets": args.sockets,
        "servers": 2,
        "answers": count,
        "rate": args.rate,
        "events": events,
        "deliveries": len(latencies),
        "expected_deliveries": events * args.sockets,
        "latency_ms": {
            "p50": round(common.percentile(latencies, 50), 2),
            "p99": round(common.percentile(latencies, 99), 2),
            "max": round(latencies[-1], 2) if latencies else math.nan,
            "mean": round(statistics.fmean(latencies), 2) if latencies else math.nan,
        },
        "short_sockets": sum(a["short"] for a in collected),
        "resets": sum(a["resets"] for a in collected),
        "statuses": statuses,
        "machine_percent": round(machine),
        "load_before": round(load_before, 2),
        "server_errors_logged": errors,
    }
    result["passed"] = (
        result["latency_ms"]["p99"] <= P99_TARGET_MS
        and result["deliveries"] == result["expected_deliveries"]
    )
    return result


async def run(args: Any) -> dict[str, Any]:
    results: dict[str, Any] = {}
    if "put" in args.scenarios:
        results["put"] = await run_put(args)
    if "live" in args.scenarios:
        results["live"] = await run_live(args)
    results["passed"] = all(r["passed"] for r in results.values() if isinstance(r, dict))
    results["server_errors_logged"] = sum(
        r["server_errors_logged"] for r in results.values() if isinstance(r, dict)
    )
    results["machine"] = common.machine()
    return results


def report(result: dict[str, Any]) -> None:
    if "put" in result:
        put = result["put"]
        print(
            f"put: {put['learners']} learners, closed loop; load before {put['load_before']}, "
            f"machine {put['machine_percent']} % of one CPU"
        )
        for kind in ("assigned", "unassigned"):
            f = put[kind]
            print(
                f"  {kind:<10} {f['per_second']}/s  p50 {f['p50_ms']} ms  p99 {f['p99_ms']} ms"
                f"  {f['statuses']}"
            )
        print(f"  ratio      {put['ratio']} (target >= {PUT_RATIO_TARGET})")
    if "live" in result:
        live = result["live"]
        latency = live["latency_ms"]
        print(
            f"live: {live['sockets']} board sockets on {live['servers']} servers, "
            f"{live['answers']} answers at {live['rate']:g}/s -> {live['events']} events; "
            f"load before {live['load_before']}, machine {live['machine_percent']} % of one CPU"
        )
        print(
            f"  deliveries {live['deliveries']} of {live['expected_deliveries']}; "
            f"latency ms p50 {latency['p50']} p99 {latency['p99']} max {latency['max']} "
            f"(target p99 <= {P99_TARGET_MS:g}); answers {live['statuses']}"
        )
    script.verdict(result)


def main() -> None:
    args = parse_args()
    script.main(args, Worker, run, report)


if __name__ == "__main__":
    main()
