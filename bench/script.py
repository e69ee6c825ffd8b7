"""The command-line shape every bench script shares: common options, the worker mode, output.

A script builds its parser with :func:`parser` (adding its own options), and its ``main``
is :func:`main` given the worker to run in ``--client-worker`` mode, the coroutine that
runs the scenario, and the function that prints its figures. ``--json`` adds the figures
as one JSON line after the readable report.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bench import common
from bench.clients import ClientWorker, serve_commands

Result = dict[str, Any]


def parser(doc: str, *, client_processes: int = 2) -> argparse.ArgumentParser:
    """A parser with the options of every scenario; ``doc`` is the script's docstring."""
    made = argparse.ArgumentParser(
        description=doc.split("\n\n", maxsplit=1)[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    made.add_argument(
        "--client-processes", type=int, default=client_processes, help="client subprocesses"
    )
    made.add_argument("--server-logs", type=Path, help="save each server's log in this folder")
    made.add_argument("--admin-url", default=common.ADMIN_URL, help="PostgreSQL, any database")
    made.add_argument("--redis-url", default=common.REDIS_URL, help="for servers and writer")
    made.add_argument("--json", action="store_true", help="also print the figures as JSON")
    made.add_argument("--client-worker", action="store_true", help=argparse.SUPPRESS)
    return made


def main(
    args: argparse.Namespace,
    worker: Callable[[], ClientWorker],
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, Result]],
    report: Callable[[Result], None],
) -> None:
    common.raise_open_file_limit()
    if args.client_worker:
        common.run_loop(serve_commands(worker().handle))
        return
    result = common.run_loop(run(args))
    report(result)
    if args.json:
        print(json.dumps(result))


def verdict(result: Result) -> None:
    """The closing lines of every report."""
    print(f"  server errors   {result['server_errors_logged']} logged")
    print(f"  result          {'PASS' if result['passed'] else 'FAIL'}")
