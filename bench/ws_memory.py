"""Websocket memory: resident memory of one server process per idle subscribed connection.

One ``tandem serve`` process (PostgreSQL + Redis). After start-up and a warm-up (a batch of
sockets connected, subscribed and closed again, so lazily built state exists), its RSS
(``VmRSS`` in ``/proc/<pid>/status``) with no connection is RSS_0. Then sockets connect,
authenticate and subscribe to ``progress`` and stay idle, in steps of 1,000 up to 5,000
(by default); after each step the server is left to settle (RSS read every second until
two consecutive readings agree, bounded) and RSS_N is read. Prints (RSS_N - RSS_0) / N in
KiB for each N, and each step's marginal cost per added connection: memory grows linearly
when those agree.

Target: ≤ 32 KiB per connection.

    uv run python -m bench.ws_memory [--steps 1000,2000,3000,4000,5000 --client-processes 2 --json]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from typing import Any

from bench import common, script
from bench.clients import ClientWorker, call_all, connect_commands, worker_pool

TARGET_KIB = 32.0
LINEAR_TOLERANCE = 0.15  # each step's cost per added connection within 15 % of the median


def parse_args() -> argparse.Namespace:
    parser = script.parser(__doc__)
    parser.add_argument(
        "--steps", default="1000,2000,3000,4000,5000", help="connection counts, ascending"
    )
    parser.add_argument("--warmup-sockets", type=int, default=200, help="opened, closed first")
    parser.add_argument("--settle-interval", type=float, default=1.0, help="seconds")
    parser.add_argument("--settle-tolerance", type=int, default=0, help="KiB")
    parser.add_argument("--settle-readings", type=int, default=60, help="at most")
    return parser.parse_args()


async def settled_rss(server: common.Server, args: argparse.Namespace) -> tuple[int, bool]:
    """RSS once two consecutive readings agree (within the tolerance); whether they did."""
    previous = server.rss_kib()
    for _ in range(args.settle_readings):
        await asyncio.sleep(args.settle_interval)
        current = server.rss_kib()
        if abs(current - previous) <= args.settle_tolerance:
            return current, True
        previous = current
    return previous, False


async def run(args: argparse.Namespace) -> dict[str, Any]:
    steps = [int(step) for step in args.steps.split(",")]
    rows: list[dict[str, Any]] = []
    async with (
        common.fresh_database(args.admin_url) as database_url,
        common.servers(1, database_url, args.server_logs, args.redis_url) as (server,),
        worker_pool("bench.ws_memory", args.client_processes) as workers,
    ):
        token, _ = await common.learner(server.base_url)
        urls = [server.ws_url]
        count = len(workers)
        warm = connect_commands(token, urls, args.warmup_sockets, count)
        await call_all(workers, warm, seconds=300)
        await call_all(workers, [{"op": "close"}] * count, seconds=120)
        baseline, baseline_settled = await settled_rss(server, args)
        connected = 0
        for step in steps:
            started = time.monotonic()
            commands = connect_commands(token, urls, step - connected, count)
            await call_all(workers, commands, seconds=600)
            connect_seconds = time.monotonic() - started
            connected = step
            rss, settled = await settled_rss(server, args)
            rows.append(
                {
                    "connections": step,
                    "rss_kib": rss,
                    "per_connection_kib": round((rss - baseline) / step, 2),
                    "settled": settled,
                    "connect_seconds": round(connect_seconds, 2),
                }
            )
        await call_all(workers, [{"op": "close"}] * count, seconds=120)

    for before, after in itertools.pairwise(rows):
        after["marginal_kib"] = round(
            (after["rss_kib"] - before["rss_kib"]) / (after["connections"] - before["connections"]),
            2,
        )
    # The first step's cost is lowered by memory the warm-up freed and the heap kept, so
    # linearity is judged on the later steps: a constant cost per added connection.
    slopes = sorted(row["marginal_kib"] for row in rows[1:])
    median = slopes[len(slopes) // 2] if slopes else 0.0
    linear = bool(slopes) and all(
        abs(slope - median) <= LINEAR_TOLERANCE * median for slope in slopes
    )
    return {
        "scenario": "ws_memory",
        "client_processes": len(workers),
        "rss0_kib": baseline,
        "rss0_settled": baseline_settled,
        "steps": rows,
        "linear": linear,
        "marginal_median_kib": median,
        "passed": all(row["per_connection_kib"] <= TARGET_KIB for row in rows),
        "server_errors_logged": server.errors_logged,
        "machine": common.machine(),
    }


def report(result: dict[str, Any]) -> None:
    print(
        f"ws_memory: one server, idle subscribed sockets "
        f"({result['client_processes']} client processes)"
    )
    print(f"  N=0      RSS {result['rss0_kib']} KiB  settled {result['rss0_settled']}")
    for row in result["steps"]:
        marginal = f"  marginal {row['marginal_kib']} KiB" if "marginal_kib" in row else ""
        print(
            f"  N={row['connections']:<6} RSS {row['rss_kib']} KiB  "
            f"(RSS_N - RSS_0)/N {row['per_connection_kib']} KiB{marginal}  "
            f"settled {row['settled']}  connect {row['connect_seconds']} s"
        )
    print(
        f"  linear growth   {'yes' if result['linear'] else 'no'} (median cost per added "
        f"connection after the first step: {result['marginal_median_kib']} KiB)"
    )
    print(f"  target          <= {TARGET_KIB:g} KiB per connection")
    script.verdict(result)


def main() -> None:
    script.main(parse_args(), ClientWorker, run, report)


if __name__ == "__main__":
    main()
