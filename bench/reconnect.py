"""Reconnect storm: 2,000 dropped sockets come back at once and catch up with ``since``.

Two ``tandem serve`` processes share one PostgreSQL database and one Redis; 2,000 sockets
(1,000 on each, all signed in as the same learner) subscribe to ``progress``. A writer
appends some events through the normal path and every socket receives them. Then every
socket drops (the transport is aborted, as a network failure would), more events are
appended meanwhile, and all sockets reconnect at once, each subscribing with ``since`` =
the last seq it saw. Measured: the time from the start of reconnecting until every socket
has received every missed event; per socket, its own catch-up time; a ``reset`` instead of
the replay counts as a failure, as do lost, duplicated or reordered events (checked over
all the events appended, before and after the drop).

Target: every socket caught up within 3 s, with no reset.

    uv run python -m bench.reconnect [--sockets 2000 --before 20 --missed 100 --json]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench import common, script
from bench.clients import (
    Client,
    ClientWorker,
    Command,
    call_all,
    connect_commands,
    open_clients,
    tally_many,
    wait_reached,
    worker_pool,
)
from storage.events import progress_channel

TARGET_SECONDS = 3.0


def parse_args() -> argparse.Namespace:
    parser = script.parser(__doc__)
    parser.add_argument("--servers", type=int, default=2, help="tandem serve processes")
    parser.add_argument("--sockets", type=int, default=2000, help="in all, split over servers")
    parser.add_argument("--before", type=int, default=20, help="events seen before the drop")
    parser.add_argument("--missed", type=int, default=100, help="events appended while away")
    parser.add_argument("--rate", type=float, default=50.0, help="events per second")
    parser.add_argument(
        "--concurrency", type=int, default=1000, help="handshakes in flight per client process"
    )
    parser.add_argument("--wait", type=float, default=30.0, help="give up on a socket after")
    return parser.parse_args()


# -- the client worker ------------------------------------------------------------------


class Worker(ClientWorker):
    async def handle_more(self, command: Command) -> Command:
        match command["op"]:
            case "reach":
                return {"late": await wait_reached(self.clients, command["seq"], command["wait"])}
            case "drop":
                await asyncio.gather(*(client.drop() for client in self.clients))
                return {"dropped": len(self.clients)}
            case "reconnect":
                return await self._reconnect(command)
        return await super().handle_more(command)

    async def _reconnect(self, command: Command) -> Command:
        last, expected = command["last"], range(command["first"], command["last"] + 1)
        started, cpu = time.time(), common.self_cpu_seconds()
        old = self.clients
        self.clients = [Client(c.url, c.token, since=c.last_seq) for c in old]
        for client in self.clients:
            client.expect(last)
        failures = await open_clients(self.clients, command["concurrency"])
        unreached = await wait_reached(self.clients, last, command["wait"])
        received = (a.seqs + b.seqs for a, b in zip(old, self.clients, strict=True))
        caught_up = [c.reached_at for c in self.clients if c.caught_up and c.reached_at]
        return {
            "cpu": common.self_cpu_seconds() - cpu,
            "started": started,
            "finished": max(caught_up, default=started),
            "catch_up_seconds": [round(at - started, 4) for at in caught_up],
            "open_failures": len(failures),
            "unreached": unreached,
            "resets": sum(client.resets for client in self.clients),
            "errors": sum(len(client.errors) for client in self.clients),
            "closed": sum(client.closed for client in self.clients),
            "close_reasons": sorted({c.close_reason for c in self.clients if c.closed})[:3],
            **tally_many(received, expected),
        }


# -- the run ----------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with (
        common.fresh_database(args.admin_url) as database_url,
        common.servers(args.servers, database_url, args.server_logs, args.redis_url) as servers,
        worker_pool("bench.reconnect", args.client_processes) as workers,
        common.Writer(database_url, args.redis_url) as writer,
    ):
        count = len(workers)
        token, user_id = await common.learner(servers[0].base_url)
        channel = progress_channel(user_id)
        urls = [server.ws_url for server in servers]
        await call_all(workers, connect_commands(token, urls, args.sockets, count), seconds=300)
        await common.quiet_machine()
        before = await writer.paced(channel, args.rate, args.before)
        reach = {"op": "reach", "seq": before[-1], "wait": args.wait}
        late = sum(answer["late"] for answer in await call_all(workers, [reach] * count, 120))
        if late:
            raise RuntimeError(f"{late} sockets missed events before the drop")
        await call_all(workers, [{"op": "drop"}] * count, seconds=120)
        missed = await writer.paced(channel, args.rate, args.missed)
        reconnect = {
            "op": "reconnect",
            "first": before[0],
            "last": missed[-1],
            "wait": args.wait,
            "concurrency": args.concurrency,
        }
        busy = common.machine_busy_seconds()
        server_cpu = [server.cpu_seconds() for server in servers]
        window = time.monotonic()
        answers = await call_all(workers, [reconnect] * count, seconds=args.wait + 300)
        window = time.monotonic() - window
        busy = common.machine_busy_seconds() - busy
        server_cpu = [
            server.cpu_seconds() - cpu for server, cpu in zip(servers, server_cpu, strict=True)
        ]
        await call_all(workers, [{"op": "close"}] * count, seconds=120)

    started = min(answer["started"] for answer in answers)
    finished = max(answer["finished"] for answer in answers)
    per_socket = sorted(x for answer in answers for x in answer["catch_up_seconds"])
    totals = {
        key: sum(answer[key] for answer in answers)
        for key in (
            "open_failures",
            "unreached",
            "resets",
            "errors",
            "closed",
            "lost",
            "duplicated",
            "reordered",
        )
    }
    result: dict[str, Any] = {
        "scenario": "reconnect",
        "servers": len(servers),
        "sockets": args.sockets,
        "client_processes": count,
        "events_before": len(before),
        "events_missed": len(missed),
        "all_caught_up_seconds": round(finished - started, 3),
        "per_socket_seconds": {
            "p50": round(common.percentile(per_socket, 50), 3),
            "p99": round(common.percentile(per_socket, 99), 3),
            "max": round(per_socket[-1], 3) if per_socket else None,
        },
        "caught_up": len(per_socket),
        "close_reasons": sorted({r for answer in answers for r in answer["close_reasons"]}),
        **totals,
        "cpu_seconds": {
            "servers": [round(cpu, 2) for cpu in server_cpu],
            "clients": [round(answer["cpu"], 2) for answer in answers],
        },
        "cpu_percent": {
            "servers": [round(100 * cpu / window) for cpu in server_cpu],
            "clients": [round(100 * answer["cpu"] / window) for answer in answers],
            "machine": round(100 * busy / window),
        },
        "server_errors_logged": sum(server.errors_logged for server in servers),
        "machine": common.machine(),
    }
    result["passed"] = (
        len(per_socket) == args.sockets
        and result["all_caught_up_seconds"] <= TARGET_SECONDS
        and all(totals[key] == 0 for key in totals)
    )
    return result


def report(result: dict[str, Any]) -> None:
    per_socket = result["per_socket_seconds"]
    print(
        f"reconnect: {result['sockets']} sockets on {result['servers']} servers "
        f"({result['client_processes']} client processes); {result['events_before']} events "
        f"seen, {result['events_missed']} missed while dropped"
    )
    print(
        f"  all caught up   {result['all_caught_up_seconds']} s after reconnecting began "
        f"(target <= {TARGET_SECONDS:g} s); {result['caught_up']} of {result['sockets']} sockets"
    )
    print(
        f"  per socket s    p50 {per_socket['p50']}  p99 {per_socket['p99']}  "
        f"max {per_socket['max']}"
    )
    print(
        f"  failures        resets {result['resets']}  unreached {result['unreached']}  "
        f"open failures {result['open_failures']}  closed by server {result['closed']}  "
        f"error frames {result['errors']}"
    )
    print(
        f"  per socket      lost {result['lost']}  duplicated {result['duplicated']}  "
        f"reordered {result['reordered']}"
    )
    for reason in result["close_reasons"]:
        print(f"  closed because  {reason}")
    cpu = result["cpu_percent"]
    print(
        f"  cpu %           servers {cpu['servers']}  clients {cpu['clients']}  "
        f"whole machine {cpu['machine']}"
    )
    seconds = result["cpu_seconds"]
    print(f"  cpu seconds     servers {seconds['servers']}  clients {seconds['clients']}")
    script.verdict(result)


def main() -> None:
    script.main(parse_args(), Worker, run, report)


if __name__ == "__main__":
    main()
