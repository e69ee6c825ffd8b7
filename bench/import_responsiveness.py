"""Does a process keep answering while one request does heavy work? (issue 12, contract §6)

One ``tandem serve`` process, on a fresh SQLite file by default (``--backend postgresql``: a
fresh PostgreSQL database and Redis, with the ``--admin-url`` and ``--redis-url`` the other
benches take). While each request below runs, a second connection asks ``GET /health`` of
the same process every ``--interval`` (10 ms) and times each answer. A request that holds the
event loop shows up as one long ``/health``: the p100 is the longest stall. Target: p100 < 1 s.

``import-json``
    ``POST /api/v1/progress/import`` of ``--words`` (20,000, the limit) new words as the old
    app's localStorage JSON, for a fresh learner.
``import-csv``
    The same words as CSV, for another fresh learner.
``list``
    ``GET /api/v1/progress`` of the first learner's 20,000 records.
``batch``
    ``POST /api/v1/progress/batch`` raising 1,000 of them.

Both connections use the lean client of :mod:`bench.http`, so the poller takes little CPU
from the server on a 2-core machine. Rate limits are off.

    uv run python -m bench.import_responsiveness [--backend sqlite|postgresql] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from bench import common
from bench.http import Answer, RawClient
from bench.progress import batch_server

HEALTH_P100_TARGET_MS = 1000.0
PHASES = ("import-json", "import-csv", "list", "batch")
DAY_MS = 86_400_000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--words", type=int, default=20_000, help="per import")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=0.01, help="seconds between polls")
    parser.add_argument("--admin-url", default=common.ADMIN_URL)
    parser.add_argument("--redis-url", default=common.REDIS_URL)
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    return parser.parse_args()


def old_records(words: int) -> dict[str, dict[str, Any]]:
    """The old app's localStorage value: varied counts, studied 0 to 99 days ago."""
    now_ms = int(time.time() * 1000)
    records: dict[str, dict[str, Any]] = {}
    for index in range(words):
        study = 1 + index % 20
        records[f"w{index:05d}"] = {
            "studyCount": study,
            "correctCount": study // 2 + index % 2,
            "confidence": index % 6,
            "lastStudied": now_ms - (index % 100) * DAY_MS,
            "mastered": index % 10 == 0,
        }
    return records


def as_csv(records: dict[str, dict[str, Any]]) -> bytes:
    lines = ["wordId,studyCount,correctCount,confidence,lastStudied,mastered"]
    lines.extend(
        f"{word},{r['studyCount']},{r['correctCount']},{r['confidence']},{r['lastStudied']},"
        f"{str(r['mastered']).lower()}"
        for word, r in records.items()
    )
    return ("\n".join(lines) + "\n").encode()


class Poller:
    """``GET /health`` every ``interval`` on its own connection, each answer timed."""

    def __init__(self, port: int, interval: float) -> None:
        self.client = RawClient([port], 1)
        self.interval = interval
        self.latencies: list[float] = []
        self.failures = 0

    async def run(self, stop: asyncio.Event) -> None:
        due = time.monotonic()
        while not stop.is_set():
            started = time.monotonic()
            answer = await self.client.request(0, "GET", "/health", {})
            self.latencies.append(time.monotonic() - started)
            self.failures += answer.status != 200
            due = max(due + self.interval, time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), due - time.monotonic())


@contextlib.asynccontextmanager
async def polling(poller: Poller) -> AsyncIterator[None]:
    """Poll while the block runs (and until the poll in flight at its end is answered)."""
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def phase(
    port: int, interval: float, request: Awaitable[Answer], expect: int = 200
) -> dict[str, Any]:
    poller = Poller(port, interval)
    await poller.client.open()
    try:
        async with polling(poller):
            started = time.monotonic()
            answer = await request
            seconds = time.monotonic() - started
    finally:
        await poller.client.aclose()
    if answer.status != expect:
        raise RuntimeError(f"expected {expect}, got {answer.status}: {answer.body[:300]!r}")
    ordered = sorted(poller.latencies)
    p100 = ordered[-1] * 1000
    return {
        "request_seconds": round(seconds, 3),
        "response_bytes": len(answer.body),
        "health_polls": len(ordered),
        "health_failures": poller.failures,
        "health_ms": {
            "p50": round(common.percentile(ordered, 50) * 1000, 1),
            "p99": round(common.percentile(ordered, 99) * 1000, 1),
            "p100": round(p100, 1),
        },
        "passed": p100 < HEALTH_P100_TARGET_MS and poller.failures == 0,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    records = old_records(args.words)
    bodies = {
        "import-json": (json.dumps(records).encode(), "application/json"),
        "import-csv": (as_csv(records), "text/csv"),
    }
    raise_some = {
        "updates": [
            {
                "wordId": word,
                "studyCount": r["studyCount"] + 1,
                "correctCount": r["correctCount"],
                "confidence": 4,
            }
            for word, r in list(records.items())[: args.batch_size]
        ]
    }
    result: dict[str, Any] = {
        "scenario": "import-responsiveness",
        "backend": args.backend,
        "words": args.words,
        "poll_interval_ms": args.interval * 1000,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    async with batch_server(args, args.backend) as server:
        client = await RawClient([server.port], 1).open()
        try:
            tokens = [(await common.learner(server.base_url))[0] for _ in bodies]
            await common.quiet_machine()
            for (name, (body, content_type)), token in zip(bodies.items(), tokens, strict=True):
                headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
                request = client.request(0, "POST", "/api/v1/progress/import", headers, body)
                result[name] = await phase(server.port, args.interval, request)
                result[name]["request_bytes"] = len(body)
            auth = {"Authorization": f"Bearer {tokens[0]}", "Content-Type": "application/json"}
            listing = client.request(0, "GET", "/api/v1/progress", auth)
            result["list"] = await phase(server.port, args.interval, listing)
            batch = json.dumps(raise_some).encode()
            posting = client.request(0, "POST", "/api/v1/progress/batch", auth, batch)
            result["batch"] = await phase(server.port, args.interval, posting)
        finally:
            await client.aclose()
        result["server_errors_logged"] = server.errors_logged
    result["machine"] = common.machine()
    result["passed"] = all(result[name]["passed"] for name in PHASES)
    return result


def report(result: dict[str, Any]) -> None:
    print(
        f"import responsiveness on {result['backend']}: {result['words']} words, "
        f"/health every {result['poll_interval_ms']:g} ms on the same process"
    )
    for name in PHASES:
        r = result[name]
        health = r["health_ms"]
        print(
            f"  {name:<12} {r['request_seconds']:>7.3f} s  ({r['response_bytes']:,} bytes back)  "
            f"/health p50 {health['p50']} ms  p99 {health['p99']} ms  p100 {health['p100']} ms  "
            f"({r['health_polls']} polls)  {'PASS' if r['passed'] else 'FAIL'}"
        )
    print(f"  target        /health p100 < {HEALTH_P100_TARGET_MS:g} ms")
    print(f"  result        {'PASS' if result['passed'] else 'FAIL'}")


def main() -> None:
    args = parse_args()
    result = common.run_loop(run(args))
    report(result)
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
