"""Broadcast: one learner's ``progress`` channel fanned out to 2,000 sockets on two servers.

Two ``tandem serve`` processes share one PostgreSQL database and one Redis. 2,000 sockets
(1,000 on each process, all signed in as the same learner) subscribe to ``progress``. A
writer appends 10 events a second for 30 s through the normal path (``events.append`` in a
transaction, then ``hub.publish`` over its own Redis broker); each event's data carries the
time its append started. Every socket records each event's seq and its delivery latency
(append start to receipt at the client).

Prints p50 / p99 / max latency and, per socket against the seqs appended, the lost,
duplicated and reordered events; plus the CPU each process used, since servers, clients
and writer share the machine, and, per 5 s window, the machine's CPU use and the time in
which every running task waited on the disk (a stall no code of ours can hide).

Target: p99 ≤ 50 ms; 0 lost, 0 duplicated, 0 reordered.

    uv run python -m bench.broadcast [--sockets 2000 --rate 10 --duration 30 --json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import time
from typing import Any

from bench import common, script
from bench.clients import (
    ClientWorker,
    Command,
    call_all,
    connect_commands,
    tally_many,
    wait_reached,
    worker_pool,
)
from storage.events import progress_channel

P99_TARGET_MS = 50.0
WINDOW_SECONDS = 5.0  # the run is also reported in windows: contention is often brief


def parse_args() -> argparse.Namespace:
    parser = script.parser(__doc__)
    parser.add_argument("--servers", type=int, default=2, help="tandem serve processes")
    parser.add_argument("--sockets", type=int, default=2000, help="in all, split over servers")
    parser.add_argument("--rate", type=float, default=10.0, help="events per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of appending")
    parser.add_argument("--warmup-events", type=int, default=5, help="appended first, not counted")
    parser.add_argument("--drain-timeout", type=float, default=15.0, help="seconds, at the end")
    return parser.parse_args()


# -- the client worker ------------------------------------------------------------------


class Worker(ClientWorker):
    async def handle_more(self, command: Command) -> Command:
        if command["op"] != "collect":
            return await super().handle_more(command)
        expected = range(command["first"], command["last"] + 1)
        late = await wait_reached(self.clients, command["last"], command["wait"])
        by_event: list[list[float]] = [[] for _ in expected]  # ms, per event appended
        for client in self.clients:
            for seq, latency in zip(client.seqs, client.latencies, strict=True):
                if seq in expected:
                    by_event[seq - expected.start].append(round(latency * 1000, 3))
        return {
            "late": late,
            **tally_many((client.seqs for client in self.clients), expected),
            "resets": sum(client.resets for client in self.clients),
            "errors": sum(len(client.errors) for client in self.clients),
            "closed": sum(client.closed for client in self.clients),
            "latencies_ms": by_event,
            "cpu": common.self_cpu_seconds(),
        }


# -- the run ----------------------------------------------------------------------------


async def machine_per_window() -> tuple[list[int], list[int | None]]:
    """The whole machine's CPU use (percent) and I/O stall (ms) in each window, until
    cancelled."""
    shares: list[int] = []
    stalls: list[int | None] = []
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            busy, stall = common.machine_busy_seconds(), common.machine_io_stall_seconds()
            await asyncio.sleep(WINDOW_SECONDS)
            shares.append(round(100 * (common.machine_busy_seconds() - busy) / WINDOW_SECONDS))
            now = common.machine_io_stall_seconds()
            stalls.append(None if now is None or stall is None else round(1000 * (now - stall)))
    return shares, stalls


async def run(args: argparse.Namespace) -> dict[str, Any]:
    count = math.ceil(args.rate * args.duration)
    async with (
        common.fresh_database(args.admin_url) as database_url,
        common.servers(args.servers, database_url, args.server_logs, args.redis_url) as servers,
        worker_pool("bench.broadcast", args.client_processes) as workers,
    ):
        token, user_id = await common.learner(servers[0].base_url)
        channel = progress_channel(user_id)
        urls = [server.ws_url for server in servers]
        connect_started = time.monotonic()
        opened = await call_all(
            workers, connect_commands(token, urls, args.sockets, len(workers)), seconds=300
        )
        connect_seconds = time.monotonic() - connect_started
        async with common.Writer(database_url, args.redis_url) as writer:
            await common.quiet_machine()
            await writer.paced(channel, args.rate, args.warmup_events)
            writer.append_seconds.clear()
            server_cpu = [server.cpu_seconds() for server in servers]
            writer_cpu = common.self_cpu_seconds()
            busy = common.machine_busy_seconds()
            faults = [server.major_faults() for server in servers]
            started, started_at = time.monotonic(), time.time()
            sampler = asyncio.create_task(machine_per_window())
            seqs = await writer.paced(channel, args.rate, count)
            elapsed = time.monotonic() - started
            sampler.cancel()
            busy_windows, stall_windows = await sampler
            faults = [
                server.major_faults() - before
                for server, before in zip(servers, faults, strict=True)
            ]
            writer_cpu = common.self_cpu_seconds() - writer_cpu
            busy = common.machine_busy_seconds() - busy
            server_cpu = [
                server.cpu_seconds() - cpu for server, cpu in zip(servers, server_cpu, strict=True)
            ]
            collected = await call_all(
                workers,
                [
                    {
                        "op": "collect",
                        "first": seqs[0],
                        "last": seqs[-1],
                        "wait": args.drain_timeout,
                    }
                ]
                * len(workers),
                seconds=args.drain_timeout + 120,
            )
            append_ms = sorted(s * 1000 for s in writer.append_seconds)
        await call_all(workers, [{"op": "close"}] * len(workers), seconds=60)

    by_event = [
        [x for answer in collected for x in answer["latencies_ms"][index]]
        for index in range(len(seqs))
    ]
    latencies = sorted(x for event in by_event for x in event)
    per_window = max(1, round(args.rate * WINDOW_SECONDS))
    windows = [
        sorted(x for event in by_event[start : start + per_window] for x in event)
        for start in range(0, len(by_event), per_window)
    ]
    totals = {
        key: sum(answer[key] for answer in collected)
        for key in ("late", "lost", "duplicated", "reordered", "resets", "errors", "closed")
    }
    result: dict[str, Any] = {
        "scenario": "broadcast",
        "servers": len(servers),
        "sockets": args.sockets,
        "client_processes": len(workers),
        "events": len(seqs),
        "rate": args.rate,
        "started_at": started_at,
        "append_seconds": round(elapsed, 2),
        "connect_seconds": round(connect_seconds, 2),
        "deliveries": len(latencies),
        "expected_deliveries": len(seqs) * args.sockets,
        "latency_ms": {
            "p50": round(common.percentile(latencies, 50), 2),
            "p90": round(common.percentile(latencies, 90), 2),
            "p99": round(common.percentile(latencies, 99), 2),
            "max": round(latencies[-1], 2) if latencies else math.nan,
        },
        "p99_ms_per_window": [round(common.percentile(w, 99), 1) for w in windows],
        "p99_ms_per_event": [round(common.percentile(sorted(e), 99), 1) for e in by_event],
        "machine_percent_per_window": busy_windows,
        "machine_io_stall_ms_per_window": stall_windows,
        "server_major_faults": faults,
        "append_ms": {
            "p50": round(common.percentile(append_ms, 50), 2),
            "p99": round(common.percentile(append_ms, 99), 2),
        },
        **totals,
        "cpu_percent": {
            "servers": [round(100 * cpu / elapsed) for cpu in server_cpu],
            "clients": [
                round(100 * (done["cpu"] - began["cpu"]) / elapsed)
                for began, done in zip(opened, collected, strict=True)
            ],
            "writer": round(100 * writer_cpu / elapsed),
            "machine": round(100 * busy / elapsed),
        },
        # CPU per delivered frame hardly depends on how busy the machine is, unlike latency.
        "cpu_us_per_delivery": {
            "servers": round(1e6 * sum(server_cpu) / max(len(latencies), 1), 1),
            "clients": round(
                1e6
                * sum(
                    done["cpu"] - began["cpu"]
                    for began, done in zip(opened, collected, strict=True)
                )
                / max(len(latencies), 1),
                1,
            ),
        },
        "server_errors_logged": sum(server.errors_logged for server in servers),
        "machine": common.machine(),
    }
    result["passed"] = (
        result["latency_ms"]["p99"] <= P99_TARGET_MS
        and totals["lost"] == totals["duplicated"] == totals["reordered"] == 0
    )
    return result


def report(result: dict[str, Any]) -> None:
    latency, cpu = result["latency_ms"], result["cpu_percent"]
    print(
        f"broadcast: {result['sockets']} sockets on {result['servers']} servers "
        f"({result['client_processes']} client processes), {result['events']} events at "
        f"{result['rate']:g}/s in {result['append_seconds']} s"
    )
    print(f"  deliveries      {result['deliveries']} of {result['expected_deliveries']}")
    print(
        f"  latency ms      p50 {latency['p50']}  p90 {latency['p90']}  "
        f"p99 {latency['p99']}  max {latency['max']}   (target p99 <= {P99_TARGET_MS:g})"
    )
    print(f"  p99 ms per {WINDOW_SECONDS:g} s  {result['p99_ms_per_window']}")
    print(f"  machine cpu %   {result['machine_percent_per_window']} (per window)")
    print(
        f"  machine io stall ms {result['machine_io_stall_ms_per_window']} (per window: "
        f"every task waiting on disk; servers' major page faults {result['server_major_faults']})"
    )
    print(
        f"  per socket      lost {result['lost']}  duplicated {result['duplicated']}  "
        f"reordered {result['reordered']}  resets {result['resets']}  "
        f"closed {result['closed']}  error frames {result['errors']}"
    )
    print(f"  append ms       p50 {result['append_ms']['p50']}  p99 {result['append_ms']['p99']}")
    print(
        f"  cpu %           servers {cpu['servers']}  clients {cpu['clients']}  "
        f"writer {cpu['writer']}  whole machine {cpu['machine']} "
        f"(of {100 * (result['machine']['cpus'] or 1)})"
    )
    per = result["cpu_us_per_delivery"]
    print(f"  cpu per frame   servers {per['servers']} us  clients {per['clients']} us")
    script.verdict(result)


def main() -> None:
    script.main(parse_args(), Worker, run, report)


if __name__ == "__main__":
    main()
