"""Learner progress: single PUTs on two servers, and 1,000-word batches on PostgreSQL and SQLite.

Four measurements, each on a fresh database:

``put``
    Maximum throughput of ``PUT /api/v1/progress/{wordId}``. Two ``tandem serve`` processes
    share one PostgreSQL database and one Redis; closed-loop clients send back to back,
    alternating between the servers. Each ``--concurrency`` level (16, 32, 64, 128 clients) is
    measured in turn; the best is the maximum. Target: >= 1,500 requests/s.
``paced``
    Latency of the same PUTs at a fixed offered load of ``--rate`` (1,000) requests/s, open
    loop: request ``i`` is due at ``start + i / rate`` whatever the answers before it did, and
    its latency runs from that due time (so a stall shows up in every request it delays, not in
    one). Target: p99 <= 20 ms. When the servers fall far behind the offered rate, a word can
    come round again while its previous PUT is still queued; if the later one lands first,
    the earlier one is (rightly) a 409, counted under ``statuses``.
``batch-pg`` / ``batch-sqlite``
    ``POST /api/v1/progress/batch`` with 1,000 updates, one request at a time, on one server:
    PostgreSQL (+ Redis), then SQLite (no Redis, as a single-process deployment runs).
    Targets: p50 <= 30 ms on PostgreSQL, <= 15 ms on SQLite.

Every write is a real change. The PUT runs spread over ``--learners`` learners with
``--words`` words each, created up front by batches (so the PUTs measured are updates, the
common case); each PUT raises its word's ``studyCount`` by one (``correctCount`` by 0 or 1,
``confidence`` cycling 0..5), and a word comes round again only after every other word did,
so rows do not contend. Each batch raises all 1,000 words' counts.

The load comes from this process, on the same machine as the servers, PostgreSQL and Redis.
By default it speaks HTTP/1.1 over raw asyncio streams with keep-alive connections and
pre-built requests: on 2 cores the client's CPU is taken from the servers, and an httpx
``AsyncClient`` spent about 2 ms of CPU per PUT against 0.1 ms for this minimal client
(``--client httpx`` runs the same scenarios with httpx, to compare). Rate limits are off.
Besides latency, each window reports the CPU used by the servers, this client, PostgreSQL,
Redis and the whole machine (the box is shared: the rest is someone else's).

    uv run python -m bench.progress [--scenarios put,paced,batch-pg,batch-sqlite] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from bench import common
from bench.http import RawClient

THROUGHPUT_TARGET = 1500.0  # requests/s
PACED_P99_TARGET_MS = 20.0
BATCH_P50_TARGET_MS = {"postgresql": 30.0, "sqlite": 15.0}
SCENARIOS = ("put", "paced", "batch-pg", "batch-sqlite")
HOST = "127.0.0.1"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    parser.add_argument("--servers", type=int, default=2, help="for the PUT scenarios")
    parser.add_argument("--learners", type=int, default=64)
    parser.add_argument("--words", type=int, default=100, help="per learner, at most 1000")
    parser.add_argument(
        "--concurrency",
        default="16,32,64,128",
        help="closed-loop clients, in all; several levels (comma-separated) are run in turn",
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--rate", type=float, default=1000.0, help="paced requests per second")
    parser.add_argument(
        "--connections", type=int, default=64, help="paced: keep-alive connections per server"
    )
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=40, help="batches measured")
    parser.add_argument("--batch-warmup", type=int, default=3, help="first batches not counted")
    parser.add_argument("--admin-url", default=common.ADMIN_URL)
    parser.add_argument("--redis-url", default=common.REDIS_URL)
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    args.concurrency = [int(level) for level in args.concurrency.split(",") if level.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    if not 1 <= args.words <= 1000:
        parser.error("--words must be 1 to 1000 (they are created with one batch per learner)")
    return args


# -- HTTP clients ---------------------------------------------------------------------------


class HttpClient(Protocol):
    """Sends one request to server ``server`` (an index) and returns (status, body)."""

    async def send(
        self, server: int, method: str, path: str, token: str, body: bytes
    ) -> tuple[int, bytes]: ...

    async def aclose(self) -> None: ...


class HttpxClient:
    """One ``httpx.AsyncClient`` per server (HTTP/1.1 keep-alive), pools of ``size``."""

    def __init__(self, ports: Sequence[int], size: int) -> None:
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        self.clients = [
            httpx.AsyncClient(base_url=f"http://{HOST}:{port}", limits=limits, timeout=60)
            for port in ports
        ]

    async def send(
        self, server: int, method: str, path: str, token: str, body: bytes
    ) -> tuple[int, bytes]:
        answer = await self.clients[server].request(
            method,
            path,
            content=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        return answer.status_code, answer.content

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


@contextlib.asynccontextmanager
async def http_client(kind: str, ports: Sequence[int], size: int) -> AsyncIterator[HttpClient]:
    client: HttpClient = (
        await RawClient(ports, size).open() if kind == "raw" else HttpxClient(ports, size)
    )
    try:
        yield client
    finally:
        await client.aclose()


# -- the PUT workload -----------------------------------------------------------------------


def word_id(index: int) -> str:
    return f"w{index:05d}"


def counts(study: int) -> tuple[int, int, int]:
    """(studyCount, correctCount, confidence) of a word's ``study``-th report.

    ``correctCount`` = study - study // 3 never falls and rises by 0 or 1 per study.
    """
    return study, study - study // 3, study % 6


def batch_body(words: range, study: int) -> bytes:
    s, c, confidence = counts(study)
    updates = [
        {"wordId": word_id(w), "studyCount": s, "correctCount": c, "confidence": confidence}
        for w in words
    ]
    return json.dumps({"updates": updates}, separators=(",", ":")).encode()


@dataclass
class PutWorkload:
    """Whose word to raise next: every (learner, word) once, then round again.

    Consecutive PUTs go to different learners (round robin) and each learner's words come in
    a shuffled order. A learner's writes serialise on the row that numbers its events (its
    ``progress`` channel head), as one person's devices should; with more learners than
    requests in flight, no two in-flight PUTs share a learner, so rows do not contend.
    """

    tokens: list[str]
    words: int
    seed: int = 1

    def __post_init__(self) -> None:
        order = list(range(self.words))
        random.Random(self.seed).shuffle(order)
        self.keys = [(learner, w) for w in order for learner in range(len(self.tokens))]
        self.studies = [1] * len(self.keys)  # every word was created at study 1
        self.sent = 0

    def next(self) -> tuple[int, str, str, bytes]:
        """(server choice, path, token, body) of the next PUT; each one a real change."""
        index = self.sent % len(self.keys)
        self.sent += 1
        self.studies[index] += 1
        learner, word = self.keys[index]
        s, c, confidence = counts(self.studies[index])
        body = b'{"studyCount":%d,"correctCount":%d,"confidence":%d}' % (s, c, confidence)
        return self.sent, f"/api/v1/progress/{word_id(word)}", self.tokens[learner], body


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.failures = 0

    def record(self, status: int, seconds: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.latencies.append(seconds * 1000)

    def bad(self) -> int:
        return self.failures + sum(n for status, n in self.statuses.items() if status != 200)

    def figures(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {
            "p50": round(common.percentile(ordered, 50), 2),
            "p90": round(common.percentile(ordered, 90), 2),
            "p99": round(common.percentile(ordered, 99), 2),
            "max": round(ordered[-1], 2) if ordered else math.nan,
        }


async def put_once(
    client: HttpClient, workload: PutWorkload, servers: int, tally: Tally, due: float
) -> None:
    turn, path, token, body = workload.next()
    try:
        status, _ = await client.send(turn % servers, "PUT", path, token, body)
    except (OSError, asyncio.IncompleteReadError, RuntimeError):
        tally.failures += 1
        return
    tally.record(status, time.monotonic() - due)


async def closed_loop(
    client: HttpClient, workload: PutWorkload, servers: int, concurrency: int, seconds: float
) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        while time.monotonic() < deadline:
            await put_once(client, workload, servers, tally, time.monotonic())

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tally


async def open_loop(
    client: HttpClient, workload: PutWorkload, servers: int, rate: float, seconds: float
) -> tuple[Tally, float]:
    """Send ``rate`` PUTs a second on a fixed schedule; latency counts from each due time.

    Also returns the largest delay between a request's due time and its dispatch (the
    generator's own lag, which the latencies already include).
    """
    tally = Tally()
    count = round(rate * seconds)
    start = time.monotonic() + 0.05
    pending: set[asyncio.Task[None]] = set()
    worst_lag = 0.0
    for number in range(count):
        due = start + number / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            worst_lag = max(worst_lag, -delay)
        task = asyncio.create_task(put_once(client, workload, servers, tally, due))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    return tally, worst_lag


def named_cpu_seconds(name: str) -> float:
    """CPU seconds used so far by the processes whose command name is ``name``.

    For a process whose parent has another name (PostgreSQL's postmaster, say), the CPU of
    its children that have ended counts too, so backends that come and go are not lost.
    """
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        command, _, rest = text.partition(" (")[2].rpartition(") ")
        if command != name:
            continue
        fields = rest.split()
        total += int(fields[11]) + int(fields[12])
        try:
            parent = Path(f"/proc/{fields[1]}/comm").read_text().strip()
        except OSError:
            parent = ""
        if parent != name:
            total += int(fields[13]) + int(fields[14])
    return total / common.CLOCK_TICKS


@dataclass
class Usage:
    """CPU used between :meth:`start` and :meth:`stop`, per party, in % of one CPU.

    PostgreSQL and Redis are the machine's own (every ``postgres`` and ``redis-server``
    process), so their figures include whatever else used them meanwhile.
    """

    servers: list[common.Server]

    def _sample(self) -> list[float]:
        return [
            *(server.cpu_seconds() for server in self.servers),
            common.self_cpu_seconds(),
            named_cpu_seconds("postgres"),
            named_cpu_seconds("redis-server"),
            common.machine_busy_seconds(),
        ]

    def start(self) -> None:
        self.began = time.monotonic()
        self.before = self._sample()

    def stop(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.began
        used = [
            round(100 * (after - before) / elapsed)
            for after, before in zip(self._sample(), self.before, strict=True)
        ]
        count = len(self.servers)
        client, postgres, redis, machine = used[count:]
        return {
            "servers": used[:count],
            "client": client,
            "postgres": postgres,
            "redis": redis,
            "machine": machine,
        }


async def prepared_learners(
    client: HttpClient, base_url: str, learners: int, words: int
) -> list[str]:
    """Register ``learners`` learners and create ``words`` words each (study 1) by batch."""
    # A few at a time: each is two Argon2 hashes, deliberately slow.
    gate = asyncio.Semaphore(4)

    async def one() -> str:
        async with gate:
            token, _ = await common.learner(base_url)
            return token

    tokens = list(await asyncio.gather(*(one() for _ in range(learners))))
    for token in tokens:
        status, answer = await client.send(
            0, "POST", "/api/v1/progress/batch", token, batch_body(range(words), 1)
        )
        if status != 200:
            raise RuntimeError(f"creating the words failed: {status} {answer[:300]!r}")
    return tokens


def window(tally: Tally, elapsed: float, cpu: dict[str, Any]) -> dict[str, Any]:
    """The figures of one measured window."""
    return {
        "requests": len(tally.latencies),
        "seconds": round(elapsed, 2),
        "throughput": round(len(tally.latencies) / elapsed, 1),
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "failures": tally.failures,
        "bad": tally.bad(),
        "latency_ms": tally.figures(),
        "cpu_percent": cpu,
    }


async def put_scenario(args: argparse.Namespace, paced: bool) -> dict[str, Any]:
    """Closed loop at each ``--concurrency`` level (the best one is the maximum), or paced."""
    size = args.connections if paced else max(args.concurrency)
    async with (
        common.fresh_database(args.admin_url) as database_url,
        common.servers(args.servers, database_url) as servers,
        http_client(args.client, [s.port for s in servers], size) as client,
    ):
        tokens = await prepared_learners(client, servers[0].base_url, args.learners, args.words)
        workload = PutWorkload(tokens, args.words)
        count = len(servers)
        levels: list[dict[str, Any]] = []
        if paced:
            await common.quiet_machine()
            await open_loop(client, workload, count, args.rate, args.warmup)
            usage = Usage(servers)
            usage.start()
            tally, lag = await open_loop(client, workload, count, args.rate, args.duration)
            result = window(tally, time.monotonic() - usage.began, usage.stop())
        else:
            for concurrency in args.concurrency:
                await common.quiet_machine()
                await closed_loop(client, workload, count, concurrency, args.warmup)
                usage = Usage(servers)
                usage.start()
                tally = await closed_loop(client, workload, count, concurrency, args.duration)
                level = window(tally, time.monotonic() - usage.began, usage.stop())
                levels.append({"concurrency": concurrency, **level})
            result = dict(max(levels, key=lambda level: float(level["throughput"])))
        await check_last(client, workload)
    result["servers"] = count
    if paced:
        result["offered_rate"] = args.rate
        result["connections_per_server"] = args.connections
        result["worst_dispatch_lag_ms"] = round(lag * 1000, 2)
        result["target"] = f"p99 <= {PACED_P99_TARGET_MS:g} ms"
        result["passed"] = result["latency_ms"]["p99"] <= PACED_P99_TARGET_MS and not result["bad"]
    else:
        result["levels"] = levels
        result["target"] = f">= {THROUGHPUT_TARGET:g} requests/s"
        result["passed"] = result["throughput"] >= THROUGHPUT_TARGET and not any(
            level["bad"] for level in levels
        )
    return result


async def check_last(client: HttpClient, workload: PutWorkload) -> None:
    """The last word written holds the counts its last PUT sent: the writes were real."""
    index = (workload.sent - 1) % len(workload.keys)
    learner, word = workload.keys[index]
    status, body = await client.send(
        0, "GET", f"/api/v1/progress/{word_id(word)}", workload.tokens[learner], b""
    )
    stored = json.loads(body)["data"]["studyCount"] if status == 200 else None
    if stored != workload.studies[index]:
        raise RuntimeError(f"expected studyCount {workload.studies[index]}, found {stored}")


# -- the batch scenarios --------------------------------------------------------------------


@contextlib.asynccontextmanager
async def batch_server(args: argparse.Namespace, backend: str) -> AsyncIterator[common.Server]:
    """One server on a fresh PostgreSQL database (with Redis) or SQLite file (without)."""
    async with contextlib.AsyncExitStack() as stack:
        if backend == "postgresql":
            url = await stack.enter_async_context(common.fresh_database(args.admin_url))
            server = common.Server(url, redis_url=args.redis_url)
        else:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-progress-"))
            server = common.Server(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", redis_url="")
        try:
            await server.start()
            yield server
        finally:
            await server.stop()


async def batch_scenario(args: argparse.Namespace, backend: str) -> dict[str, Any]:
    words = range(args.batch_size)
    total = args.batch_warmup + args.batches
    bodies = [batch_body(words, study) for study in range(1, total + 1)]
    async with (
        batch_server(args, backend) as server,
        http_client(args.client, [server.port], 1) as client,
    ):
        token, _ = await common.learner(server.base_url)
        await common.quiet_machine()
        usage = Usage([server])
        tally = Tally()
        answer = b""
        for number, body in enumerate(bodies):
            if number == args.batch_warmup:
                usage.start()
            started = time.monotonic()
            status, answer = await client.send(0, "POST", "/api/v1/progress/batch", token, body)
            if number >= args.batch_warmup:
                tally.record(status, time.monotonic() - started)
            elif status != 200:
                raise RuntimeError(f"batch failed: {status} {answer[:300]!r}")
        cpu = usage.stop()
    items = json.loads(answer)["data"]["items"]
    if len(items) != args.batch_size or items[-1]["studyCount"] != total:
        raise RuntimeError("the last batch did not store what it sent")
    ordered = sorted(tally.latencies)
    target = BATCH_P50_TARGET_MS[backend]
    figures = tally.figures()
    figures["mean"] = round(sum(ordered) / len(ordered), 2)
    figures["min"] = round(ordered[0], 2)
    return {
        "backend": backend,
        "batch_size": args.batch_size,
        "batches": len(ordered),
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "latency_ms": figures,
        "cpu_percent": cpu,
        "target": f"p50 <= {target:g} ms",
        "passed": figures["p50"] <= target and tally.bad() == 0,
    }


# -- the run --------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    steps: dict[str, Callable[[], Any]] = {
        "put": lambda: put_scenario(args, paced=False),
        "paced": lambda: put_scenario(args, paced=True),
        "batch-pg": lambda: batch_scenario(args, "postgresql"),
        "batch-sqlite": lambda: batch_scenario(args, "sqlite"),
    }
    result: dict[str, Any] = {
        "scenario": "progress",
        "client": args.client,
        "learners": args.learners,
        "words_per_learner": args.words,
        "date": time.strftime("%Y-%m-%d"),
    }
    for name in args.scenarios:
        result[name] = await steps[name]()
    result["machine"] = common.machine()
    result["passed"] = all(result[name]["passed"] for name in args.scenarios)
    return result


def cpu_line(cpu: dict[str, Any], result: dict[str, Any]) -> str:
    return (
        f"servers {cpu['servers']}  client {cpu['client']}  postgres {cpu['postgres']}  "
        f"redis {cpu['redis']}  whole machine {cpu['machine']} "
        f"(of {100 * (result['machine']['cpus'] or 1)})"
    )


def report(result: dict[str, Any]) -> None:
    print(
        f"progress: {result['learners']} learners x {result['words_per_learner']} words, "
        f"{result['client']} HTTP/1.1 client"
    )
    for name in ("put", "paced"):
        if name not in result:
            continue
        r = result[name]
        latency, cpu = r["latency_ms"], r["cpu_percent"]
        what = (
            f"PUT max throughput, closed loop, best of {len(r['levels'])} levels: "
            f"{r['concurrency']} clients"
            if name == "put"
            else f"PUT at {r['offered_rate']:g}/s open loop"
        )
        print(f"  {what}, {r['servers']} servers")
        for level in r.get("levels", []):
            print(
                f"    {level['concurrency']:>4} clients  {level['throughput']} requests/s  "
                f"p50 {level['latency_ms']['p50']} ms  p99 {level['latency_ms']['p99']} ms  "
                f"machine cpu {level['cpu_percent']['machine']} %"
            )
        print(
            f"    throughput    {r['throughput']} requests/s "
            f"({r['requests']} in {r['seconds']} s)  statuses {r['statuses']}"
            + (f"  failures {r['failures']}" if r["failures"] else "")
        )
        print(
            f"    latency ms    p50 {latency['p50']}  p90 {latency['p90']}  "
            f"p99 {latency['p99']}  max {latency['max']}"
            + (f"  (worst dispatch lag {r['worst_dispatch_lag_ms']})" if name == "paced" else "")
        )
        print(f"    cpu %         {cpu_line(cpu, result)}")
        print(f"    target        {r['target']}: {'PASS' if r['passed'] else 'FAIL'}")
    for name in ("batch-pg", "batch-sqlite"):
        if name not in result:
            continue
        r = result[name]
        latency, cpu = r["latency_ms"], r["cpu_percent"]
        print(
            f"  batch of {r['batch_size']} on {r['backend']}, {r['batches']} batches one at a time"
        )
        print(
            f"    latency ms    p50 {latency['p50']}  p90 {latency['p90']}  p99 {latency['p99']}  "
            f"mean {latency['mean']}  min {latency['min']}  max {latency['max']}  "
            f"statuses {r['statuses']}"
        )
        print(f"    cpu %         {cpu_line(cpu, result)}")
        print(f"    target        {r['target']}: {'PASS' if r['passed'] else 'FAIL'}")
    print(f"  result          {'PASS' if result['passed'] else 'FAIL'}")


def main() -> None:
    args = parse_args()
    common.raise_open_file_limit()
    result = common.run_loop(run(args))
    report(result)
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
