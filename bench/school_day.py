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
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import common, script, stacks
from bench.clients import Command, WorkerProcess, call_all, worker_pool
from bench.school_seats import BELL_RECONNECT_WITHIN, Worker
from bench.school_setup import School
from bench.server_probe import Probe, histogram_quantile, metric_sum
from server.words.catalog import shipped

BELL_SHARE = 1 / 3
P99_LIMIT_MS = 250.0
TARGET_LEARNERS = 2000
TARGET_PUT_P99_MS = 100.0
TARGET_CARD_P99_MS = 300.0


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
    server_resets = metric_sum(a, "tandem_resets_sent_total") - metric_sum(
        b, "tandem_resets_sent_total"
    )
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
        "pool_in_use": metric_sum(a, "tandem_db_pool_in_use"),
        "websockets": metric_sum(a, "tandem_websocket_connections"),
        "subscriptions": metric_sum(a, "tandem_subscriptions"),
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
                "websockets": metric_sum(probe.scrapes, "tandem_websocket_connections"),
                "subscriptions": metric_sum(probe.scrapes, "tandem_subscriptions"),
                "pool_in_use": metric_sum(probe.scrapes, "tandem_db_pool_in_use"),
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
