"""Background jobs that run every N seconds and never die silently.

Litestar's channels workers stop for good on the first error (litestar issue 5008); a job
here logs the error with its traceback and runs again at the next interval.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

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


# How long to wait for a cancelled task before asking again.
CANCEL_AGAIN_SECONDS = 0.1


async def cancel(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` and wait until it has ended.

    Asking once is not enough. A library call inside the task can swallow the
    cancellation: a redis-py pipeline did, while it was connecting. The presence heartbeat
    then went on to its next sleep, and a shutdown waited for it forever. So the request is
    repeated until the task is done. A cancellation of the caller still propagates.
    """
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_AGAIN_SECONDS)
    if not task.cancelled() and (error := task.exception()) is not None:
        log.warning("task %s ended with an error while stopping: %r", task.get_name(), error)
