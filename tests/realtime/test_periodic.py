"""Stopping background tasks: a cancellation swallowed inside the task cannot hang a stop."""

from __future__ import annotations

import asyncio

from realtime import periodic


async def test_cancel_ends_a_task_that_swallows_the_first_cancellation() -> None:
    started, swallowed = asyncio.Event(), asyncio.Event()

    async def stubborn() -> None:
        # What a library call did inside the presence heartbeat: it caught the
        # cancellation and returned as if the call had failed; the loop went on.
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            swallowed.set()
        await asyncio.Event().wait()  # the loop's next wait, which nothing else ends

    task = asyncio.create_task(stubborn())
    await started.wait()
    async with asyncio.timeout(5):
        await periodic.cancel(task)
    assert swallowed.is_set()
    assert task.cancelled()


async def test_cancel_reports_nothing_for_a_task_already_done() -> None:
    async def quick() -> None:
        return None

    task = asyncio.create_task(quick())
    await task
    await periodic.cancel(task)
    await periodic.cancel(None)
    assert task.done()
    assert not task.cancelled()
