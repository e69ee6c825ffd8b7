"""Floors: what the databases alone need for two targeted operations, with no application.

Some targets may sit below what the database itself needs on this machine. This script
measures that floor directly, with the statements the repositories send, through the bare
drivers (``sqlite3``, asyncpg) and nothing else: no HTTP, no SQLAlchemy, no FSRS, no JSON
beyond what the statements take.

``batch``
    One 1,000-word batch's transaction: read the 1,000 records by id (``FOR UPDATE`` on
    PostgreSQL), upsert 1,000, raise the channel head and insert 1,000 events (one
    statement on PostgreSQL, as storage/events.py appends them), commit. On
    SQLite (WAL, ``synchronous=NORMAL``, as Tandem runs it) and on PostgreSQL. The batch
    targets are 15 ms (SQLite) and 30 ms (PostgreSQL) for the whole request.
``answers``
    Students' answers on PostgreSQL, in groups of 8 (as server/progress/student_writes.py
    sends them), each group one transaction of the rows the contract asks for and nothing
    else: no PL/pgSQL, no locks taken first, no sums computed, no JSON built. Unassigned:
    8 records upserted, 8 ``progress.updated`` appended (8 channel heads). Assigned (each
    word in 3 lessons, 3 cards on 2 boards): the same, plus 24 cards' stored sums set and
    24 ``card.progress`` appended on the 2 boards' channels. One connection, the two kinds
    alternating; the figure is answers a second and their ratio (issue 15's target is
    0.8 for the whole request).
``board``
    PostgreSQL reading a 3,000-card board's rows (storage/repositories/cards.py's board
    query, fetched by asyncpg), and gzip of the board's JSON (the cards shown by
    ``CardOut.of``) at levels 1 and 6. The uncached-read target is 300
    boards a second on two cores.

    uv run python -m bench.floors [--scenarios batch,answers,board] [--rounds 25]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from bench import common
from server.board.schemas import CardOut
from storage import events, migrate
from storage.base import sqlite_text
from storage.repositories import progress as records
from storage.repositories.cards import _board_sql, _from_postgres

WORDS = 1000
CLASSROOM = uuid.UUID("00000000-0000-0000-0000-000000000001")
# What a progress.updated event's data looks like, once encoded.
EVENT_DATA = json.dumps(
    {
        "wordId": "w00000",
        "studyCount": 5,
        "correctCount": 4,
        "confidence": 3,
        "mastered": False,
        "lastStudiedAt": "2026-12-04T16:58:00.123456Z",
        "nextReview": "2026-12-04T16:58:00.123456Z",
        "createdAt": "2026-12-04T16:58:00.123456Z",
        "updatedAt": "2026-12-04T16:58:00.123456Z",
    }
)
HEAD_SQLITE = (
    "INSERT INTO channel_heads (channel, seq) VALUES (?, ?) ON CONFLICT (channel) "
    "DO UPDATE SET seq = channel_heads.seq + excluded.seq RETURNING seq"
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default="batch,answers,board", help="comma-separated")
    parser.add_argument("--rounds", type=int, default=25, help="timed rounds (5 more warm up)")
    parser.add_argument("--admin-url", default=common.ADMIN_URL)
    return parser.parse_args()


def summary(label: str, times: list[float]) -> None:
    print(f"  {label}: p50 {statistics.median(times):.1f} ms, min {min(times):.1f} ms")


def sql_with(statement: Any, names: list[str], style: Callable[[int], str]) -> str:
    """A SQLAlchemy text statement's SQL with ``:name`` made the driver's placeholder."""
    sql = str(statement)
    for number, name in enumerate(names, 1):
        sql = sql.replace(f":{name}", style(number))
    return sql


async def sqlite_batch(rounds: int) -> list[float]:
    path = Path(tempfile.mkdtemp()) / "floor.db"
    await migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    user = uuid.uuid4().hex
    now = sqlite_text(datetime.now(UTC))
    db.execute(
        "INSERT INTO users (id, email, password_hash, name, role, created_at) "
        "VALUES (?, 'floor@example.org', 'x', 'F', 'learner', ?)",
        (user, now),
    )
    words = [f"w{i:05d}" for i in range(WORDS)]
    select = sql_with(
        records._select("sqlite", locked=True), ["user_id", "word_ids"], lambda _: "?"
    )
    upsert = records._write("sqlite", overwrite=True)
    channel = f"progress:{user}"
    times: list[float] = []
    for done in range(rounds + 5):
        at = sqlite_text(datetime.now(UTC))
        rows = [
            (user, w, done + 1, done, 3, 0, at, at, at, at, 2, None, 1.5, 5.0, at) for w in words
        ]
        began = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute(select, (user, json.dumps(words))).fetchall()
        db.executemany(upsert, rows)
        last = db.execute(HEAD_SQLITE, (channel, WORDS)).fetchone()[0]
        db.executemany(
            events._INSERT_SQLITE,
            [
                (channel, last - WORDS + 1 + i, "progress.updated", EVENT_DATA, user, "F", at)
                for i in range(WORDS)
            ],
        )
        db.execute("COMMIT")
        times.append((time.perf_counter() - began) * 1000)
    db.close()
    return times[5:]


async def postgres_batch(url: str, rounds: int) -> list[float]:
    await migrate.upgrade(url)
    db = await asyncpg.connect(url.replace("+asyncpg", ""))
    user = uuid.uuid4()
    await db.execute(
        "INSERT INTO users (id, email, password_hash, name, role, created_at) "
        "VALUES ($1, 'floor@example.org', 'x', 'F', 'learner', now())",
        user,
    )
    words = [f"w{i:05d}" for i in range(WORDS)]
    select = sql_with(
        records._select("postgresql", locked=True), ["user_id", "word_ids"], "${}".format
    )
    upsert = records._write("postgresql", overwrite=True)
    channel = f"progress:{user}"
    times: list[float] = []
    for done in range(rounds + 5):
        at = datetime.now(UTC)
        rows = [
            records.ProgressRow(w, done + 1, done, 3, False, at, at, at, at, 2, None, 1.5, 5.0, at)
            for w in words
        ]
        columns = [list(column) for column in zip(*rows, strict=True)]
        began = time.perf_counter()
        async with db.transaction():
            await db.fetch(select, user, words)
            await db.execute(upsert, user, *columns)
            await db.execute(
                events._APPEND_MANY,
                [channel] * WORDS,
                list(range(1, WORDS + 1)),
                ["progress.updated"] * WORDS,
                [EVENT_DATA] * WORDS,
                [user] * WORDS,
                ["F"] * WORDS,
                at,
            )
        times.append((time.perf_counter() - began) * 1000)
    await db.close()
    return times[5:]


GROUP = 8
ANSWER_DATA = """
INSERT INTO users (id, email, name, role, password_hash, created_at)
  SELECT gen_random_uuid(), 'floor' || i || '@example.org', 'F' || i, 'learner', 'x', now()
  FROM generate_series(1, 16) i;
INSERT INTO classrooms (id, name, teacher_join_code, student_join_code, created_at)
  SELECT gen_random_uuid(), 'Floor ' || i, 'floor-t' || i, 'floor-s' || i, now()
  FROM generate_series(1, 2) i;
INSERT INTO students (id, classroom_id, name, learner_id, created_at)
  SELECT gen_random_uuid(), c.id, u.name, u.id, now() FROM classrooms c CROSS JOIN users u;
INSERT INTO lessons (id, classroom_id, title, category, created_at)
  SELECT gen_random_uuid(), c.id, 'Lesson', 'category', now()
  FROM classrooms c, generate_series(1, 2) i WHERE i = 1 OR c.name = 'Floor 1';
INSERT INTO cards (id, classroom_id, lesson_id, student_id, status, sort_key, created_at,
    updated_at, progress_words)
  SELECT gen_random_uuid(), l.classroom_id, l.id, s.id, 'in_progress',
    (row_number() OVER ()) * 65536, now(), now(), 10
  FROM lessons l JOIN students s ON s.classroom_id = l.classroom_id;
"""
# The group's records, one statement: each learner's row of one word, overwritten.
_ARRAYS = ", ".join(
    f"CAST(${n} AS {records.PG_TYPES[c]}[])" for n, c in enumerate(records.COLUMNS, 2)
)
_OVERWRITE = ", ".join(
    f"{c} = excluded.{c}" for c in records.COLUMNS if c not in ("word_id", "created_at")
)
RECORDS = (
    f"INSERT INTO progress (user_id, {', '.join(records.COLUMNS)}) "  # noqa: S608 - ours
    f"SELECT * FROM unnest(CAST($1 AS uuid[]), {_ARRAYS}) "
    f"ON CONFLICT (user_id, word_id) DO UPDATE SET {_OVERWRITE}"
)
CARD_SUMS = """
UPDATE cards SET progress_started = v.started, progress_mastered = v.mastered,
  progress_studies = v.studies, progress_correct = v.correct, progress_last_studied_at = $6
FROM unnest(CAST($1 AS uuid[]), CAST($2 AS int[]), CAST($3 AS int[]), CAST($4 AS int[]),
  CAST($5 AS int[])) AS v(id, started, mastered, studies, correct)
WHERE cards.id = v.id
"""
CARD_DATA = json.dumps(
    {
        "id": str(CLASSROOM),
        "progress": {
            "words": 10,
            "started": 7,
            "mastered": 2,
            "studies": 40,
            "correct": 31,
            "last_studied_at": "2026-12-04T16:58:00.123456Z",
        },
    }
)


async def postgres_answers(url: str, rounds: int) -> dict[str, list[float]]:
    """Each kind's groups' times (ms), alternating."""
    await migrate.upgrade(url)
    db = await asyncpg.connect(url.replace("+asyncpg", ""))
    for statement in filter(str.strip, ANSWER_DATA.split(";")):
        await db.execute(statement)
    await db.execute("ANALYZE")
    learners = [row[0] for row in await db.fetch("SELECT id FROM users ORDER BY id")]
    cards: dict[uuid.UUID, list[uuid.UUID]] = {learner: [] for learner in learners}
    boards: dict[uuid.UUID, str] = {}
    for learner, card, board in await db.fetch(
        "SELECT s.learner_id, c.id, 'board:' || CAST(c.classroom_id AS text) FROM cards c "
        "JOIN students s ON s.id = c.student_id ORDER BY c.id"
    ):
        cards[learner].append(card)
        boards[card] = board
    times: dict[str, list[float]] = {"assigned": [], "unassigned": []}
    for done in range(rounds + 5):
        for kind, word in (("assigned", "assigned-word"), ("unassigned", "free-word")):
            group = learners[(done * GROUP) % len(learners) :][:GROUP]
            at = datetime.now(UTC)
            row = records.ProgressRow(
                word, done + 1, done, 3, False, at, at, at, at, 2, None, 1.5, 5.0, at
            )
            channels = [f"progress:{learner}" for learner in group]
            names = ["progress.updated"] * GROUP
            data = [EVENT_DATA] * GROUP
            changed = (
                [card for learner in group for card in cards[learner]] if kind == "assigned" else []
            )
            channels += [boards[card] for card in changed]
            names += ["card.progress"] * len(changed)
            data += [CARD_DATA] * len(changed)
            ordinals: dict[str, int] = {}
            numbered = []
            for channel in channels:  # each event's ordinal in its channel
                ordinals[channel] = ordinals.get(channel, 0) + 1
                numbered.append(ordinals[channel])
            began = time.perf_counter()
            async with db.transaction():
                await db.execute(RECORDS, group, *[[value] * GROUP for value in row])
                if changed:
                    n = len(changed)
                    await db.execute(
                        CARD_SUMS, changed, [7] * n, [2] * n, [40 + done] * n, [31] * n, at
                    )
                await db.execute(
                    events._APPEND_MANY,
                    channels,
                    numbered,
                    names,
                    data,
                    [group[0]] * len(channels),
                    ["F"] * len(channels),
                    at,
                )
            times[kind].append((time.perf_counter() - began) * 1000)
    await db.close()
    return {kind: found[5:] for kind, found in times.items()}


BOARD_DATA = """
INSERT INTO classrooms VALUES ($1, 'Floor', 'floor-t', 'floor-s', now());
INSERT INTO students SELECT gen_random_uuid(), $1, 'Student number ' || i, NULL, now()
  FROM generate_series(1, 30) i;
INSERT INTO lessons SELECT gen_random_uuid(), $1, 'Lesson title ' || i, 'category ' || (i % 6),
  '[]', now() FROM generate_series(1, 100) i;
INSERT INTO cards SELECT gen_random_uuid(), $1, l.id, s.id,
    (ARRAY['not_started', 'in_progress', 'needs_review', 'mastered'])
      [1 + (row_number() OVER ()) % 4],
    (row_number() OVER ()) * 65536, NULL, NULL, NULL, now(), now()
  FROM lessons l CROSS JOIN students s;
"""


async def postgres_board(url: str, rounds: int) -> tuple[list[float], bytes]:
    await migrate.upgrade(url)
    db = await asyncpg.connect(url.replace("+asyncpg", ""))
    for statement in filter(str.strip, BOARD_DATA.split(";")):
        await db.execute(statement, CLASSROOM)
    await db.execute("ANALYZE")
    query = _board_sql("postgresql", student=False, category=False, status=False)
    times: list[float] = []
    rows: list[Any] = []
    for _ in range(rounds + 3):
        began = time.perf_counter()
        rows = await db.fetch(query, CLASSROOM)
        times.append((time.perf_counter() - began) * 1000)
    await db.close()
    now = datetime.now(UTC)
    body = msgspec.json.encode([CardOut.of(_from_postgres(row), now) for row in rows])
    return times[3:], body


async def main(args: argparse.Namespace) -> None:
    scenarios = {s.strip() for s in args.scenarios.split(",") if s.strip()}
    print(f"floors on {common.machine()}")
    if "batch" in scenarios:
        print(f"batch of {WORDS:,}: the transaction's statements alone")
        summary("SQLite (sqlite3)", await sqlite_batch(args.rounds))
        async with common.fresh_database(args.admin_url) as url:
            summary("PostgreSQL (asyncpg)", await postgres_batch(url, args.rounds))
    if "answers" in scenarios:
        async with common.fresh_database(args.admin_url) as url:
            groups = await postgres_answers(url, args.rounds * 8)
        print(f"students' answers in groups of {GROUP}: the rows alone, one connection")
        rates = {}
        for kind, found in groups.items():
            rates[kind] = GROUP * 1000 / statistics.median(found)
            summary(f"{kind} group ({rates[kind]:,.0f} answers/s)", found)
        print(f"  ratio assigned / unassigned: {rates['assigned'] / rates['unassigned']:.2f}")
    if "board" in scenarios:
        async with common.fresh_database(args.admin_url) as url:
            times, body = await postgres_board(url, args.rounds)
        summary(f"PostgreSQL reads the 3,000-card board ({len(body) / 1e6:.2f} MB shown)", times)
        for level in (1, 6):
            compress: list[float] = []
            for _ in range(10):
                began = time.perf_counter()
                packed = gzip.compress(body, level, mtime=0)
                compress.append((time.perf_counter() - began) * 1000)
            summary(f"gzip level {level} ({len(packed) / 1e3:.0f} KB)", compress)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
