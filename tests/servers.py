"""Real ``tandem serve`` processes for tests that need several of them (scale-out)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

STARTUP_TIMEOUT_SECONDS = 60


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


@asynccontextmanager
async def served(environment: Mapping[str, str]) -> AsyncIterator[Server]:
    """Run ``tandem serve`` with ``environment`` until the block ends.

    Ready means uvicorn said "Application startup complete" on its log, which it prints
    once the app's startup ran and the socket listens: waiting on that line, not a delay.
    """
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "serve",
        "--port",
        str(port),
        "--log-level",
        "info",
        env={**os.environ, **environment},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
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
        drain = asyncio.create_task(_drain(process.stderr))
        yield Server(port)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()
    drain.cancel()


async def _drain(stream: asyncio.StreamReader) -> None:
    """Keep reading the log so the server never blocks on a full pipe."""
    while await stream.readline():
        pass
