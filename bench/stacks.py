"""Where a server's CPU goes, from py-spy's raw stacks (``school_day --profile``).

py-spy's ``--format raw`` writes one line per distinct stack: the frames from the outermost
to the innermost, separated by ``;``, then the number of samples. Each sample is given to
the package of its innermost frame that belongs to a known package (the driver, the ORM,
the event loop, ...), and, separately, to the kind of work it is under (the progress PUT,
the hub's fan-out, ...). ``bench.school_day --profile`` prints these shares for each step;
docs/benchmarks.md names the top five costs from them.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator
from pathlib import Path

# First match wins, tried on each frame from the innermost outwards.
PACKAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("asyncpg (driver, protocol)", ("asyncpg/",)),
    ("SQLAlchemy (ORM, Core, its asyncio adapter)", ("sqlalchemy/", "greenlet")),
    ("redis-py (publish, pub/sub)", ("redis/",)),
    ("realtime (hub, outboxes, websocket frames)", ("realtime/", "websockets/")),
    (
        "HTTP stack (uvicorn, Litestar, middleware)",
        ("uvicorn/", "litestar/", "server/http/", "httptools"),
    ),
    ("msgspec", ("msgspec",)),
    ("Tandem services and storage", ("server/", "storage/")),
    ("event loop and streams (uvloop, asyncio)", ("asyncio/", "uvloop", "runners.py")),
)
# The outermost match wins: the request or task a sample belongs to.
WORK: tuple[tuple[str, str], ...] = (
    ("progress PUT", "put_word ("),
    ("progress batch", "batch ("),
    ("board move", "move ("),
    ("lock", "lock ("),
    ("board read", "read_board ("),
    ("websocket session", "realtime/session.py"),
    ("hub fan-out", "realtime/hub.py"),
    ("broker (Redis pub/sub)", "realtime/broker.py"),
    ("metrics", "server/metrics.py"),
)


def stacks(paths: Iterable[Path]) -> Iterator[tuple[list[str], int]]:
    """(frames, samples) of every line of the given raw files."""
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if stack:
                yield stack.split(";"), int(count)


def package_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, keys in PACKAGES:
            if any(key in frame for key in keys):
                return name
    return "other"


def work_of(frames: list[str]) -> str:
    for frame in frames:
        for name, key in WORK:
            if key in frame:
                return name
    return "other (the loop's own I/O, timers)"


def summarise(
    paths: Iterable[Path],
) -> tuple[int, collections.Counter[str], collections.Counter[str]]:
    total = 0
    packages: collections.Counter[str] = collections.Counter()
    work: collections.Counter[str] = collections.Counter()
    for frames, count in stacks(paths):
        total += count
        packages[package_of(frames)] += count
        work[work_of(frames)] += count
    return total, packages, work


def shares(paths: Iterable[Path]) -> dict[str, object]:
    """The summary as percentages, for a bench's JSON result."""
    total, packages, work = summarise(paths)
    scale = 100 / max(total, 1)
    return {
        "samples": total,
        "packages": {name: round(count * scale, 1) for name, count in packages.most_common()},
        "work": {name: round(count * scale, 1) for name, count in work.most_common()},
    }
