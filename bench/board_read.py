"""The board read alone: :func:`server.board.reads.encoded` on a 3,000-card board, in-process.

No HTTP, cache or Redis: a fresh database (PostgreSQL by default, ``--backend sqlite`` for
a file) gets a classroom of ``--students`` x ``--lessons`` cards written straight into its
tables (statuses and keys shuffled, a tenth of the cards locked, half of those leases
expired), each lesson ``--words`` words of a 300-word pool, each student a learner with
records on ``--studied`` of the words (so every card shows progress, contract §9; ``--words
0`` and ``--studied 0`` for the board of before), then the encoded board is built
``--runs`` times in a snapshot session, as a cache miss builds it: on PostgreSQL both
ways, the cards built as JSON by the database (what the server does there) and by Python
(``CardOut.many``, what it does on SQLite), alternating. Printed per read: wall
time, this process's CPU time and, on
PostgreSQL when its server runs on this machine, the backend's CPU time (from
``/proc/<pid>/stat``), medians over the runs.

    uv run python -m bench.board_read [--backend postgresql|sqlite] [--runs 40] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from bench import common
from server.board import reads
from storage import migrate
from storage.base import utcnow
from storage.database import Database
from storage.models import (
    Card,
    Classroom,
    ClassroomTeacher,
    Lesson,
    LessonWord,
    Progress,
    Student,
    User,
)
from storage.repositories import card_progress

STATUSES = ("not_started", "in_progress", "needs_review", "mastered")
CATEGORIES = ("grammar", "vocabulary", "listening", "reading", "speaking")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--lessons", type=int, default=100)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--words", type=int, default=10, help="words per lesson")
    parser.add_argument(
        "--studied", type=float, default=0.6, help="share of the words each learner has a record of"
    )
    parser.add_argument("--admin-url", default=common.ADMIN_URL)
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    return parser.parse_args()


@asynccontextmanager
async def database_url(args: argparse.Namespace) -> AsyncIterator[str]:
    if args.backend == "postgresql":
        async with common.fresh_database(args.admin_url) as url:
            yield url
        return
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"


WORD_POOL = [f"es:w{n}" for n in range(300)]


async def fill(
    database: Database, students: int, lessons: int, words: int = 0, studied: float = 0.0
) -> uuid.UUID:
    """One classroom, its teachers (one holds the locks), students with learners, lessons
    with words, the learners' records on those words, and cards."""
    rng = random.Random(7)
    now = utcnow()
    teacher, holder, classroom = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    student_ids = [uuid.uuid4() for _ in range(students)]
    learner_ids = [uuid.uuid4() for _ in range(students)] if words else []
    lesson_ids = [uuid.uuid4() for _ in range(lessons)]
    lesson_words = {lesson: rng.sample(WORD_POOL, words) for lesson in lesson_ids}
    used = sorted({w for chosen in lesson_words.values() for w in chosen})
    records = [
        (learner, word) for learner in learner_ids for word in used if rng.random() < studied
    ]
    cards: list[dict[str, Any]] = []
    for lesson in lesson_ids:
        for student in student_ids:
            locked = rng.random() < 0.1
            expires = now + timedelta(minutes=rng.choice((-5, 5)))
            cards.append(
                {
                    "id": uuid.uuid4(),
                    "classroom_id": classroom,
                    "lesson_id": lesson,
                    "student_id": student,
                    "status": rng.choice(STATUSES),
                    "sort_key": rng.randrange(1, 1 << 40),
                    "locked_by": holder if locked else None,
                    "locked_at": now - timedelta(minutes=1) if locked else None,
                    "lock_expires_at": expires if locked else None,
                    "created_at": now - timedelta(seconds=rng.randrange(86_400)),
                    "updated_at": now - timedelta(microseconds=rng.randrange(10**9)),
                }
            )
    async with database.transaction() as session:
        people = [(teacher, "Teacher", "teacher"), (holder, "Holder O'Hara", "teacher")]
        people += [(learner, f"Learner {n}", "learner") for n, learner in enumerate(learner_ids)]
        await session.execute(
            insert(User),
            [
                {
                    "id": user,
                    "email": f"{user}@x.org",
                    "name": name,
                    "role": role,
                    "password_hash": "!",
                }
                for user, name, role in people
            ],
        )
        await session.execute(
            insert(Classroom).values(
                id=classroom, name="7C", teacher_join_code="T1", student_join_code="S1"
            )
        )
        await session.execute(
            insert(ClassroomTeacher),
            [{"classroom_id": classroom, "user_id": u} for u in (teacher, holder)],
        )
        await session.execute(
            insert(Student),
            [
                {
                    "id": s,
                    "classroom_id": classroom,
                    "name": f"Student {n}",
                    "learner_id": learner_ids[n] if learner_ids else None,
                }
                for n, s in enumerate(student_ids)
            ],
        )
        await session.execute(
            insert(Lesson),
            [
                {
                    "id": lesson,
                    "classroom_id": classroom,
                    "title": f"Lesson {n}",
                    "category": CATEGORIES[n % len(CATEGORIES)],
                }
                for n, lesson in enumerate(lesson_ids)
            ],
        )
        if words:
            await session.execute(
                insert(LessonWord),
                [
                    {"lesson_id": lesson, "word_id": word, "position": place}
                    for lesson, chosen in lesson_words.items()
                    for place, word in enumerate(chosen)
                ],
            )
        if records:
            await session.execute(insert(Progress), [_record(rng, u, w, now) for u, w in records])
        await session.execute(insert(Card), cards)
        # Each card's stored sums, as the writes that change them store them.
        await card_progress.store(session, "classroom", classroom)
    return classroom


def _record(rng: random.Random, user: uuid.UUID, word: str, now: datetime) -> dict[str, Any]:
    studies = rng.randrange(1, 20)
    studied_at = now - timedelta(minutes=rng.randrange(100_000))
    return {
        "user_id": user,
        "word_id": word,
        "study_count": studies,
        "correct_count": rng.randrange(studies + 1),
        "confidence": rng.randrange(6),
        "mastered": rng.random() < 0.3,
        "last_studied_at": studied_at,
        "next_review": studied_at + timedelta(days=rng.randrange(1, 30)),
        "created_at": studied_at,
        "updated_at": studied_at,
        "fsrs_state": 2,
        "fsrs_step": None,
        "fsrs_stability": 3.0,
        "fsrs_difficulty": 5.0,
        "fsrs_last_review": studied_at,
    }


def backend_cpu(pid: int | None) -> float:
    """The PostgreSQL backend's CPU seconds so far (0 when it is not on this machine)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# The two builds of the cards: by the database (what a PostgreSQL server does, from
# server/board/card_json.py) and by Python (``CardOut.many``, what SQLite does).
BUILDS = {"database": True, "python": False}


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    builds = ["python"] if args.backend == "sqlite" else list(BUILDS)
    walls: dict[str, list[float]] = {build: [] for build in builds}
    cpus: dict[str, list[float]] = {build: [] for build in builds}
    server: dict[str, list[float]] = {build: [] for build in builds}
    sizes: dict[str, int] = {}
    async with database_url(args) as url:
        await migrate.upgrade(url)
        database = Database(url)
        try:
            classroom = await fill(database, args.students, args.lessons, args.words, args.studied)
            query = reads.BoardQuery(classroom)
            for run in range(args.runs + 3):  # the first three warm the caches up
                for build in builds:  # alternating, so both see the same machine
                    async with database.snapshot() as session:
                        pid = None
                        if not database.is_sqlite:
                            pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar()
                        server_before = backend_cpu(pid)
                        began, cpu = time.perf_counter(), time.process_time()
                        body = await reads.encoded(
                            session, classroom, 1, query, in_database=BUILDS[build]
                        )
                        wall, used = time.perf_counter() - began, time.process_time() - cpu
                        server_used = backend_cpu(pid) - server_before
                    if run >= 3:
                        walls[build].append(wall)
                        cpus[build].append(used)
                        server[build].append(server_used)
                    sizes[build] = len(body)
        finally:
            await database.dispose()
    return {
        "backend": args.backend,
        "cards": args.students * args.lessons,
        "words_per_lesson": args.words,
        "studied": args.studied,
        "runs": args.runs,
        "builds": {
            build: {
                "body_bytes": sizes[build],
                "wall_ms": round(1000 * statistics.median(walls[build]), 2),
                "python_cpu_ms": round(1000 * statistics.median(cpus[build]), 2),
                "backend_cpu_ms": round(1000 * statistics.mean(server[build]), 2),
            }
            for build in builds
        },
    }


def run() -> None:
    args = parse_args()
    figures = asyncio.run(measure(args))
    for build, built in figures["builds"].items():
        print(
            f"{args.backend}, cards built by {build}: {figures['cards']} cards ({args.words} "
            f"words a lesson, {args.studied:.0%} studied), {built['body_bytes']} bytes; per "
            f"read wall {built['wall_ms']} ms, Python CPU {built['python_cpu_ms']} ms, "
            f"database backend CPU {built['backend_cpu_ms']} ms (mean)"
        )
    if args.json:
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    run()
