"""Real ``tandem serve`` processes for tests that need several of them (scale-out), or one
they can kill with SIGKILL and start again on the same port."""

from __future__ import annotations

import asyncio
import collections
import os
import socket
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

STARTUP_TIMEOUT_SECONDS = 60
LOG_LINES_KEPT = 2000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


class ServeProcess:
    """One ``tandem serve`` on a port of its own, which keeps its port across restarts
    (uvicorn binds with ``SO_REUSEADDR``), so clients reconnect to the same address."""

    def __init__(self, environment: Mapping[str, str], arguments: Sequence[str] = ()) -> None:
        self.environment = dict(environment)
        self.arguments = tuple(arguments)
        self.server = Server(free_port())
        self._process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        # The log's last lines, across restarts: what a test shows when a request failed.
        self.log: collections.deque[str] = collections.deque(maxlen=LOG_LINES_KEPT)

    async def start(self) -> None:
        """Start it; ready means uvicorn said "Application startup complete" on its log,
        which it prints once the app's startup ran and the socket listens: waiting on that
        line, not a delay."""
        assert self._process is None, "already running"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            "--port",
            str(self.server.port),
            "--log-level",
            "info",
            *self.arguments,
            env={**os.environ, **self.environment},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._process = process
        assert process.stderr is not None
        log: list[str] = []
        try:
            async with asyncio.timeout(STARTUP_TIMEOUT_SECONDS):
                while True:
                    line = (await process.stderr.readline()).decode(errors="replace")
                    if not line:
                        raise RuntimeError("tandem serve exited during startup:\n" + "".join(log))
                    log.append(line)
                    if "Application startup complete" in line:
                        break
        except BaseException:
            await self.kill()
            raise
        self.log.extend(log)
        self._drain = asyncio.create_task(_drain(process.stderr, self.log))

    async def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, in-flight requests and sockets just drop."""
        await self._end(graceful=False)

    async def stop(self) -> None:
        await self._end(graceful=True)

    async def _end(self, *, graceful: bool) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            if graceful:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), timeout=10)
                except TimeoutError:
                    process.kill()
            else:
                process.kill()
            await process.wait()
        if self._drain is not None:
            self._drain.cancel()
            self._drain = None

    def errors(self) -> str:
        """The log from its first error or traceback on (empty when there is none)."""
        lines = list(self.log)
        first = next(
            (n for n, line in enumerate(lines) if "Traceback" in line or "ERROR" in line), None
        )
        return "" if first is None else "".join(lines[first:])


@asynccontextmanager
async def served(environment: Mapping[str, str]) -> AsyncIterator[Server]:
    """Run ``tandem serve`` with ``environment`` until the block ends."""
    process = ServeProcess(environment)
    await process.start()
    try:
        yield process.server
    finally:
        await process.stop()


async def _drain(stream: asyncio.StreamReader, log: collections.deque[str]) -> None:
    """Keep reading the log so the server never blocks on a full pipe."""
    while line := await stream.readline():
        log.append(line.decode(errors="replace"))
