"""Start-up time: from ``tandem serve`` to the first 200 on ``/health``, on SQLite.

Each run starts the project's ``tandem`` script on a free port and polls ``/health`` every
5 ms over a plain socket until it answers 200 (then stops the process). Two cases:

``existing``
    A database already at the head revision (created once before the runs), the common case
    of a restart.
``new``
    A new, empty SQLite file per run: the migrations run first.

Python's bytecode cache decides a large share of the figure (compiling the ~500 modules a
start imports costs more than running them), so ``--bytecode`` says which start is measured:

``cached`` (default)
    Compiled modules are kept (in a private ``PYTHONPYCACHEPREFIX`` directory, filled by an
    uncounted first start): what any install sees from its second start on.
``none``
    Every module is compiled at every start (``PYTHONDONTWRITEBYTECODE`` and an empty cache
    directory): what a process sees where nothing may write ``.pyc`` files, such as a
    read-only install whose bytecode was never compiled.

Targets (issue 16): median <= 1.0 s on an existing database, <= 1.5 s on a new one.

    uv run python -m bench.startup [--runs 5] [--cases existing,new] [--bytecode cached] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import free_port

TARGETS = {"existing": 1.0, "new": 1.5}
POLL_SECONDS = 0.005
TIMEOUT_SECONDS = 60.0


def _health_ok(port: int) -> bool:
    """One ``GET /health``; True on a 200 (any failure to connect is False)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def bytecode_environment(bytecode: str, directory: Path) -> dict[str, str]:
    """The variables that give the started process the ``bytecode`` regime (module doc)."""
    cache = directory / f"pycache-{bytecode}"
    cache.mkdir(exist_ok=True)
    environment = {**os.environ, "PYTHONPYCACHEPREFIX": str(cache)}
    if bytecode == "cached":
        environment.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
    return environment


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_one(database: Path, base_environment: dict[str, str]) -> tuple[float, float]:
    """Seconds from starting ``tandem serve`` against ``database`` to a 200 on /health, and
    the CPU seconds (user + sys) the process spent in its whole life: its start and its
    shutdown. The CPU figure depends far less on other processes' load than the wall time."""
    port = free_port()
    environment = {
        **base_environment,
        "TANDEM_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "TANDEM_SECRET_KEY": secrets.token_urlsafe(32),
    }
    program = str(Path(sys.executable).with_name("tandem"))
    cpu_before = _children_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(
        [program, "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not _health_ok(port):
            if process.poll() is not None:
                raise RuntimeError(f"tandem serve exited with {process.returncode}")
            if time.perf_counter() - started > TIMEOUT_SECONDS:
                raise RuntimeError("no 200 on /health in time")
            time.sleep(POLL_SECONDS)
        elapsed = time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return elapsed, _children_cpu() - cpu_before


def measure(
    case: str, runs: int, directory: Path, environment: dict[str, str]
) -> list[tuple[float, float]]:
    existing = directory / "existing.db"
    if not existing.exists():
        # Creates the database at head and fills the bytecode cache (when kept); not counted.
        time_one(existing, environment)
    timings = []
    for run in range(runs):
        database = existing if case == "existing" else directory / f"new-{run}.db"
        timings.append(time_one(database, environment))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cases", default="existing,new")
    parser.add_argument("--bytecode", choices=["cached", "none"], default="cached")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="tandem-startup-") as directory:
        environment = bytecode_environment(args.bytecode, Path(directory))
        for case in args.cases.split(","):
            runs = measure(case, args.runs, Path(directory), environment)
            timings = [wall for wall, _ in runs]
            results[case] = {
                "median_s": round(statistics.median(timings), 3),
                "min_s": round(min(timings), 3),
                "max_s": round(max(timings), 3),
                "cpu_median_s": round(statistics.median(cpu for _, cpu in runs), 3),
                "runs": args.runs,
                "target_s": TARGETS[case],
                "bytecode": args.bytecode,
            }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for case, figures in results.items():
        print(
            f"{case:<9} median {figures['median_s']:.3f} s  min {figures['min_s']:.3f} s  "
            f"max {figures['max_s']:.3f} s  cpu {figures['cpu_median_s']:.3f} s  "
            f"({figures['runs']} runs; target "
            f"<= {figures['target_s']} s; bytecode {figures['bytecode']})"
        )


if __name__ == "__main__":
    main()
