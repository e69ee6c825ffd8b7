"""Background jobs that run every N seconds and never die silently.

Litestar's channels workers stop for good on the first error (litestar issue 5008); a job
here logs the error with its traceback and runs again at the next interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("tandem.periodic")

Task = asyncio.Task[None]


def run_every(
    seconds: float, job: Callable[[], Awaitable[object]], name: str
) -> asyncio.Task[None]:
    async def loop() -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background job %s failed; it runs again in %s s", name, seconds)

    return asyncio.create_task(loop(), name=name)


async def cancel(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
