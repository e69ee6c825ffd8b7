"""SQLite and PostgreSQL give the same answers and store the same events.

Several rules have a second implementation on PostgreSQL: a single move is a PL/pgSQL
function (migration 0005) where SQLite and batches move in Python, the board read's card
JSON is SQL in two dialects, the event append and the progress PUT have PostgreSQL-only
paths. This runs the same seeded random operations through the real app on a fresh SQLite
database and a fresh PostgreSQL one, side by side, and requires after every operation the
same status and body and the same new events on every channel, read from each event store
(tests/storage/differential.py says how ids and instants are made comparable).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from argon2 import PasswordHasher
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.auth import passwords
from server.settings import Settings
from storage import migrate
from storage.database import Database
from tests.backends import SECRET_KEY, TEST_DATABASE_URL
from tests.databases import PostgresDatabases, SqliteDatabases
from tests.storage.differential import Run, report
from tests.storage.differential_ops import Op, perform
from tests.storage.differential_plan import Plan, finale, setup

pytestmark = pytest.mark.needs_postgres

SEEDS = (1, 2, 3)
OPERATIONS = 200
Stored = dict[str, list[dict[str, Any]]]


@asynccontextmanager
async def running(name: str, settings: Settings) -> AsyncIterator[Run]:
    database = Database(settings.database_url)  # the test's own reader of the event store
    try:
        async with AsyncTestClient(app=create_app(settings)) as client:
            yield Run(name, client, database)
    finally:
        await database.dispose()


@asynccontextmanager
async def side_by_side(
    sqlite_directory: Path, postgres_url: str, redis_url: str | None
) -> AsyncIterator[tuple[Run, Run]]:
    """The app on a fresh SQLite database and on the PostgreSQL one, rate limits off."""
    assert postgres_url.startswith("postgresql"), "the PostgreSQL pass gives this database"
    sqlite = SqliteDatabases(sqlite_directory)
    await sqlite.create_template()
    sqlite_url = await sqlite.create()
    async with AsyncExitStack() as stack:
        lite = await stack.enter_async_context(
            running(
                "sqlite", Settings(database_url=sqlite_url, secret_key=SECRET_KEY, rate_limits=())
            )
        )
        postgres = await stack.enter_async_context(
            running(
                "postgresql",
                Settings(
                    database_url=postgres_url,
                    redis_url=redis_url,
                    secret_key=SECRET_KEY,
                    rate_limits=(),
                ),
            )
        )
        yield lite, postgres
    await sqlite.drop(sqlite_url)


@pytest.fixture(autouse=True)
def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2's recommended cost was half of a run's time; hashing is the same code on both
    backends, so a cheap one loses nothing here."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))


# Known divergences, each pinned by its own strict xfail below: the random runs look past
# exactly that difference, so they keep checking everything else. Whoever fixes one sees
# its xfail pass (a failure, being strict) and deletes both.


def _put_event_instant(op: Op, run: Run, body: Any, stored: Stored) -> None:
    """SQLite stamps a PUT's ``progress.updated`` event after the write's instant (the
    append reads the clock again); PostgreSQL's guarded PUT stamps it with the write's
    own instant, the record's ``updatedAt``. Looked past by taking SQLite's event ``at``
    as its record's ``updatedAt``."""
    if run.name != "sqlite" or op.kind != "progress" or op.args["method"] != "PUT":
        return
    for channel_events in stored.values():
        for event in channel_events:
            if event["name"] == "progress.updated" and isinstance(body, dict):
                event["at"] = body["data"]["updatedAt"]


KNOWN_DIVERGENCES = (_put_event_instant,)


@dataclass
class Step:
    """Both runs' outcome of one op, and whether they agree."""

    op: Op
    status: int
    body: Any
    outcomes: list[tuple[str, Any]]

    @property
    def alike(self) -> bool:
        return bool(self.outcomes[0][1] == self.outcomes[1][1])


async def step(runs: tuple[Run, Run], op: Op, *, known: bool = True) -> Step:
    """Perform ``op`` on each run and normalise its answer and new events."""
    outcomes: list[tuple[str, Any]] = []
    status, body = 0, None
    for run in runs:
        status, body = await perform(run, op)
        stored = await run.new_events()
        for divergence in KNOWN_DIVERGENCES if known else ():
            divergence(op, run, body, stored)
        outcomes.append((run.name, run.outcome(status, body, stored)))
        # No input is answered 500 (contract §2), on either backend.
        assert status < 500, f"{run.name} answered {status} to {op}: {body}"
    return Step(op, status, body, outcomes)


def _code(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"]["code"])
    return None


@pytest.mark.parametrize("seed", SEEDS)
async def test_sqlite_and_postgresql_answer_alike(
    seed: int, database_url: str, redis_url: str | None, tmp_path: Path
) -> None:
    seen: Counter[tuple[str, int, str | None]] = Counter()
    async with side_by_side(tmp_path, database_url, redis_url) as runs:
        fixed, last = setup(seed), finale()
        plan = Plan(seed, runs[0])
        history: list[tuple[int, str]] = []
        for index in range(len(fixed) + OPERATIONS + len(last)):
            random = index - len(fixed)
            op = (
                fixed[index]
                if random < 0
                else plan.next()
                if random < OPERATIONS
                else last[random - OPERATIONS]
            )
            done = await step(runs, op)
            if not done.alike:
                pytest.fail(
                    report(f"seed {seed}", index, str(op), history, done.outcomes), pytrace=False
                )
            history.append((index, str(op)))
            seen[(op.kind, done.status, _code(done.body))] += 1
    # The generator reaches the outcomes that matter, so agreeing means something.
    wanted = {
        ("move", 200, None),
        ("move", 409, "VERSION_CONFLICT"),
        ("move", 409, "CARD_LOCKED"),
        ("move", 400, "INVALID_STATUS_TRANSITION"),
        ("batch_move", 200, None),
        ("card", 200, None),
        ("create_card", 201, None),
        ("board", 200, None),
        ("progress", 201, None),
        ("progress", 200, None),
        ("progress", 409, "VERSION_CONFLICT"),
    }
    assert wanted <= seen.keys(), (wanted - seen.keys(), seen)


def _register(role: str, n: int) -> Op:
    return Op("register", {"role": role, "name": f"{role} {n}", "email": f"{role}{n}@x.org"})


def _put(word: str) -> Op:
    body = {"studyCount": 2, "correctCount": 1, "confidence": 3}
    return Op("progress", {"learner": 1, "method": "PUT", "path": f"/{word}", "json": body})


@pytest.mark.xfail(
    strict=True,
    reason="divergence: a PUT's progress.updated event is stamped with the write's instant "
    "on PostgreSQL (guarded PUT, storage/repositories/progress.py) but with a second, later "
    "reading of the clock on SQLite (storage/events.py append without now=); when fixed, "
    "delete this mark and _put_event_instant",
)
async def test_a_put_event_is_stamped_alike(
    database_url: str, redis_url: str | None, tmp_path: Path
) -> None:
    async with side_by_side(tmp_path, database_url, redis_url) as runs:
        await step(runs, _register("learner", 0))
        await step(runs, _register("learner", 1))
        created = await step(runs, _put("es:hola"), known=False)
        raised = await step(
            runs,
            Op(
                "progress",
                {
                    **_put("es:hola").args,
                    "json": {"studyCount": 3, "correctCount": 2, "confidence": 4},
                },
            ),
            known=False,
        )
    assert created.alike, report("scripted", 2, str(created.op), [], created.outcomes)
    assert raised.alike, report("scripted", 3, str(raised.op), [], raised.outcomes)


@asynccontextmanager
async def collated_like_compose() -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database that sorts text as the ``postgres:16`` image
    of compose.yaml does by default (en_US: case and punctuation second), here by ICU's
    en-US since this server's libc may lack that locale."""
    assert TEST_DATABASE_URL is not None
    server = PostgresDatabases(TEST_DATABASE_URL)
    url = await server.create_empty()
    name = url.rsplit("/", 1)[1]
    await server.drop(url)
    await _admin(
        server,
        f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu '
        "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'",
    )
    try:
        await migrate.upgrade(url)
        yield url
    finally:
        await server.drop(url)


async def _admin(server: PostgresDatabases, sql: str) -> None:
    connection = await asyncpg.connect(
        server.maintenance.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.mark.xfail(
    strict=True,
    reason="divergence: students (filters.students, GET students) and progress records "
    "(GET /progress) are ordered by SQL ORDER BY on text, which follows the database's "
    "collation: SQLite's is binary ('Bob' < 'ann', 'w.1' < 'w_2'), PostgreSQL's is the "
    "cluster's (en_US in compose.yaml's postgres:16: 'ann' < 'Bob', 'w_2' < 'w.1'); when "
    'fixed (e.g. COLLATE "C" on those columns or ordering in Python), delete this mark',
)
async def test_text_is_ordered_alike_under_the_compose_collation(
    redis_url: str | None, tmp_path: Path
) -> None:
    async with collated_like_compose() as url, side_by_side(tmp_path, url, redis_url) as runs:
        steps = [
            await step(runs, _register("teacher", 0)),
            await step(runs, _register("learner", 1)),
        ]
        steps.append(await step(runs, Op("create_classroom", {"teacher": 0, "name": "7C"})))
        for name in ("ann", "Bob"):
            steps.append(
                await step(
                    runs,
                    Op(
                        "add",
                        {"teacher": 0, "room": 0, "what": "students", "fields": {"name": name}},
                    ),
                )
            )
        steps.append(await step(runs, Op("list", {"teacher": 0, "room": 0, "what": "students"})))
        steps.append(
            await step(
                runs,
                Op(
                    "board",
                    {"teacher": 0, "room": 0, "student": None, "category": None, "status": None},
                ),
            )
        )
        for word in ("w_2", "w.1"):
            steps.append(await step(runs, _put(word)))
        steps.append(await step(runs, Op("progress", {"learner": 1, "method": "GET", "path": ""})))
    for index, done in enumerate(steps):
        assert done.alike, report("scripted", index, str(done.op), [], done.outcomes)
