"""Shared plumbing of the bench scripts: a fresh database, server processes, an account, a writer.

Everything a scenario needs besides its own clients (those are in :mod:`bench.clients`):

* :func:`fresh_database` creates ``bench_<random>`` on the PostgreSQL server and drops it at
  the end, whatever happened;
* :class:`Server` runs ``tandem serve`` (the project's console script, as ``uv run tandem
  serve`` would) and waits for uvicorn's "Application startup complete" line, never a sleep;
  it reads the process's resident memory and CPU time from ``/proc``;
* :func:`learner` registers and logs in one learner over the REST API;
* :class:`Writer` appends events the way services do (the normal path: ``events.append`` in a
  transaction, then ``hub.publish`` through a Redis broker of its own), each event's data
  carrying the time its append started;
* small helpers: the open-file limit, percentiles, free ports, the event loop runner.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import resource
import secrets
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import uvloop
from redis.asyncio import Redis

from realtime.redis_client import connect
from server.realtime_wiring import RealtimeParts, build_realtime
from server.settings import Settings
from storage import events
from storage.database import Database

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET_KEY = secrets.token_urlsafe(48)  # per run: given to the servers and the writer
STARTUP_LINE = b"Application startup complete"
STARTUP_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

T = TypeVar("T")


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop, as the server does."""
    return uvloop.run(main)


def raise_open_file_limit() -> int:
    """Raise RLIMIT_NOFILE to its hard limit (thousands of sockets) and return it."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (``q`` in 0..100); NaN if empty."""
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n*q/100), at least the first
    return float(ordered[int(rank) - 1])


def split(total: int, parts: int) -> list[int]:
    """``total`` cut into ``parts`` near-equal whole shares."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float:
    """CPU time all processes of the machine have used, summed over its CPUs (``/proc/stat``).

    The box is shared: comparing this with the bench's own processes shows how much CPU
    something else (another test run, say) took during a measurement.
    """
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / CLOCK_TICKS


def machine_io_stall_seconds() -> float | None:
    """Time during which every non-idle task of the machine waited on I/O at once (the
    ``full`` line of ``/proc/pressure/io``); None where the kernel has no PSI.

    A stall here stops the whole bench, servers and clients alike, whatever the code does:
    on this kind of VM the host pages out cold memory (DAMON), and touching it again means
    a read from disk (docs/benchmarks.md).
    """
    try:
        text = Path("/proc/pressure/io").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("full"):
            return int(line.rsplit("total=", 1)[1]) / 1e6
    return None


async def quiet_machine(
    busy_below: float = 0.25, sample: float = 2.0, at_most: float = 180.0
) -> float:
    """Wait (at most ``at_most`` s) for a moment when the machine is mostly idle.

    Other work on a shared box (a test run) skews every figure, so a bench starts when
    less than ``busy_below`` of the CPUs were busy over ``sample`` s. Returns that share.
    """
    cpus = os.cpu_count() or 1
    deadline = time.monotonic() + at_most
    while True:
        before = machine_busy_seconds()
        await asyncio.sleep(sample)
        share = (machine_busy_seconds() - before) / (sample * cpus)
        if share < busy_below or time.monotonic() >= deadline:
            return share


@contextlib.asynccontextmanager
async def fresh_database(admin_url: str = ADMIN_URL) -> AsyncIterator[str]:
    """Create ``bench_<random>`` and yield its SQLAlchemy URL; drop it afterwards."""
    name = f"bench_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@dataclass
class Server:
    """One ``tandem serve`` process on 127.0.0.1."""

    database_url: str
    redis_url: str = REDIS_URL
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    log_path: Path | None = None  # keep the server's whole log there
    # What to run instead of the project's ``tandem`` script (a profiler, a patched build);
    # it is given ``serve --host … --port …``.
    program: tuple[str, ...] = ()
    errors_logged: int = 0  # log records at ERROR level or above (tracebacks included)
    _tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=40))
    _drain: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/ws"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        program = self.program or (str(Path(sys.executable).with_name("tandem")),)
        environment = {
            **os.environ,
            "TANDEM_DATABASE_URL": self.database_url,
            "TANDEM_REDIS_URL": self.redis_url,
            "TANDEM_SECRET_KEY": SECRET_KEY,
            "TANDEM_RATE_LIMITS": "off",
            "TANDEM_ANONYMOUS_RATE_LIMITS": "off",
        }
        self.process = await asyncio.create_subprocess_exec(
            *program,
            *("serve", "--host", "127.0.0.1", "--port", str(self.port)),
            env=environment,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        ready = asyncio.Event()
        self._drain = asyncio.create_task(self._read_log(ready))
        waiting = asyncio.create_task(ready.wait())
        exited = asyncio.create_task(self.process.wait())
        done, _ = await asyncio.wait(
            {waiting, exited}, timeout=STARTUP_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        waiting.cancel()
        exited.cancel()
        if waiting not in done:
            tail = "\n".join(self._tail)
            await self.stop()
            raise RuntimeError(f"server on port {self.port} did not start:\n{tail}")

    async def _read_log(self, ready: asyncio.Event) -> None:
        # Drained to the end so the pipe never fills and blocks the server's logging.
        assert self.process is not None
        assert self.process.stderr is not None
        with contextlib.ExitStack() as stack:
            log = None if self.log_path is None else stack.enter_context(self.log_path.open("wb"))
            while line := await self.process.stderr.readline():
                self._tail.append(line.decode(errors="replace").rstrip())
                if log is not None:
                    log.write(line)
                if STARTUP_LINE in line:
                    ready.set()
                elif b" ERROR " in line or b" CRITICAL " in line:
                    self.errors_logged += 1

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self._drain is not None:
            self._drain.cancel()

    def rss_kib(self) -> int:
        """Resident memory (``VmRSS``) in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS line")

    def _stat(self) -> list[str]:
        """``/proc/<pid>/stat`` from its third field (the state) on."""
        return Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()

    def cpu_seconds(self) -> float:
        """User + system CPU time consumed so far."""
        fields = self._stat()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def major_faults(self) -> int:
        """Page faults so far that had to read from disk (memory the kernel had dropped)."""
        return int(self._stat()[9])


@contextlib.asynccontextmanager
async def servers(
    count: int, database_url: str, log_dir: Path | None = None, redis_url: str = REDIS_URL
) -> AsyncIterator[list[Server]]:
    """Start ``count`` servers one after another (the first applies the migrations).

    With ``log_dir``, server ``i`` logs to ``log_dir/server-i.log``.
    """
    started: list[Server] = []
    if log_dir is not None:
        await asyncio.to_thread(log_dir.mkdir, parents=True, exist_ok=True)
    try:
        for index in range(count):
            log_path = None if log_dir is None else log_dir / f"server-{index}.log"
            server = Server(database_url, redis_url=redis_url, log_path=log_path)
            started.append(server)
            await server.start()
        yield started
    finally:
        await asyncio.gather(*(server.stop() for server in started))


async def learner(base_url: str) -> tuple[str, uuid.UUID]:
    """Register a fresh learner and log in: its access token and user id."""
    email = f"bench-{secrets.token_hex(6)}@example.com"
    password = secrets.token_urlsafe(12)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        registered = await client.post(
            "/api/v1/auth/register",
            json={"email": email, "password": password, "name": "Bench", "role": "learner"},
        )
        registered.raise_for_status()
        login = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
        login.raise_for_status()
        data = login.json()["data"]
    return str(data["access_token"]), uuid.UUID(data["user"]["id"])


class Writer:
    """Appends events through the normal path and publishes them (``async with Writer(...)``)."""

    def __init__(self, database_url: str, redis_url: str = REDIS_URL) -> None:
        self.settings = Settings(
            database_url=database_url,
            redis_url=redis_url,
            secret_key=SECRET_KEY,
            rate_limits=(),
            anonymous_rate_limits=(),
        )
        self.database = Database(database_url)
        # The writer is a process of its own: one client, as a server's.
        self.redis: Redis = connect(redis_url)
        self.parts: RealtimeParts = build_realtime(self.settings, self.database, self.redis)
        self.append_seconds: list[float] = []  # append start to publish done, per event
        self._index = 0

    async def __aenter__(self) -> Writer:
        await self.parts.start(self.database, self.settings.event_retention_days)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.parts.stop()
        await self.redis.aclose()
        await self.database.dispose()

    async def append(self, channel: str) -> int:
        """Append one ``progress.updated`` event and publish it; its seq."""
        started = time.time()
        data = {"t": started, "i": self._index}
        self._index += 1
        async with self.database.transaction() as session:
            stored = await events.append(
                session, [events.NewEvent(channel, "progress.updated", data)]
            )
        await self.parts.hub.publish(stored)
        self.append_seconds.append(time.time() - started)
        return stored[0].seq

    async def paced(self, channel: str, rate: float, count: int) -> list[int]:
        """Append ``count`` events at ``rate`` a second on a fixed schedule; their seqs."""
        seqs: list[int] = []
        start = time.monotonic()
        for number in range(count):
            delay = start + number / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            seqs.append(await self.append(channel))
        return seqs


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    memory_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(memory_kib / 2**20, 1),
        "python": sys.version.split()[0],
    }
