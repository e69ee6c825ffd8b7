"""Heavy work leaves the event loop (contract §6: while any request works, however large, the
process keeps answering others).

One rule for every caller: work estimated above :data:`LOOP_BUDGET_US` runs in a worker
thread (``asyncio.to_thread``), smaller work stays on the loop. Each caller estimates its
own work from costs it measured (they are written beside the estimate). It lives on the
lowest floor of our packages because every floor has such work: storage binds and reads
thousands of rows, realtime builds a frame per event, the services replay reviews and
encode lists.

Why a budget of 2 ms: a hop to a thread and back costs about 100 µs here (measured:
1,000 ``asyncio.to_thread`` calls in 118 ms on the 2-core EPYC of docs/benchmarks.md), so
below ~2 ms the hop would add 5 % or more to work that holds the loop no longer than a slow
request's own parsing; above it, every other request of the process would wait for it.
The thread still shares the GIL, but CPython hands the GIL over every 5 ms
(``sys.getswitchinterval``), so the loop gets its turn within a few milliseconds instead
of after the whole job (a 20,000-word import stalled ``/health`` for 3.4 s).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

LOOP_BUDGET_US = 2_000

P = ParamSpec("P")
T = TypeVar("T")


def too_big(cost_us: float) -> bool:
    """Whether work of ``cost_us`` microseconds should leave the loop."""
    return cost_us > LOOP_BUDGET_US


async def run(cost_us: float, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``work(*args, **kwargs)``: in a worker thread when ``cost_us`` is over the budget."""
    if too_big(cost_us):
        return await asyncio.to_thread(work, *args, **kwargs)
    return work(*args, **kwargs)
