"""Concurrent progress writes of one learner (contract §6), on either backend.

Requests are fired together at a really served app (``live``: the test client's transport
runs one request at a time, so it could not race anything). Concurrent PUTs of one word
make one record and lose no answer; batches, PUTs and DELETEs creating and removing the
same words are each applied or refused, never failed; and on PostgreSQL a learner's first
answer to a word waits for that learner's write that found the word absent.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text

from server.progress.rules import Changed, Created, Update, apply_update
from storage.base import isoformat, utcnow
from storage.database import Database
from storage.repositories import classrooms, progress
from tests.helpers import bearer, signed_in, user_headers
from tests.live import served
from tests.progress_helpers import (
    PROGRESS,
    progress_body,
    progress_listing,
    put_progress,
)

Client = httpx.AsyncClient


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app served for real, so that requests do run at the same time."""
    async with served(app) as http:
        yield http


async def test_ten_concurrent_identical_puts_make_one_record(client: Client) -> None:
    headers = await user_headers(client)
    responses = await asyncio.gather(
        *(put_progress(client, headers, "hund", 4, 3, 4) for _ in range(10))
    )
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201], [
        r.text for r in responses
    ]
    bodies = [r.json()["data"] for r in responses]
    assert all(body == bodies[0] for body in bodies)
    records, seq = await progress_listing(client, headers)
    assert records == {"hund": bodies[0]}
    assert seq == 1


async def test_concurrent_different_puts_all_apply_in_some_order(client: Client) -> None:
    headers = await user_headers(client)
    responses = await asyncio.gather(
        *(put_progress(client, headers, "hund", n, n, 3) for n in range(1, 9))
    )
    codes = [r.status_code for r in responses]
    # Each is applied or refused as stale against what an earlier one stored; never lost.
    assert codes.count(201) == 1
    assert set(codes) <= {200, 201, 409}
    assert responses[-1].status_code in (200, 201)
    records, seq = await progress_listing(client, headers)
    assert records["hund"]["studyCount"] == 8
    assert seq == codes.count(200) + codes.count(201)


async def test_batches_creating_words_others_create_and_delete_meanwhile_never_fail(
    client: Client,
) -> None:
    """Batches that create words race PUTs creating them and DELETEs removing them: each
    is applied or refused (stale counts), never failed, and every applied one has its
    event. A batch that found a word absent once met it created meanwhile and, after
    three such tries, failed with a 500 (CI's histories test); made to try once, the
    code of then fails here at once."""
    headers = await user_headers(client)
    words = ["hund", "katze", "maus"]
    events = 0
    for round_ in range(1, 21):
        requests = []
        for word, n in itertools.product(words, range(9)):
            # One word per request: each finds it absent, or locks it, on its own.
            study = round_ * 20 + n
            if n % 3 == 0:
                items = [{"wordId": word, **progress_body(study, 1, 3)}]
                requests.append(
                    client.post(f"{PROGRESS}/batch", json={"updates": items}, headers=headers)
                )
            elif n % 3 == 1:
                requests.append(put_progress(client, headers, word, study, 1, 3))
            else:
                requests.append(client.delete(f"{PROGRESS}/{word}", headers=headers))
        responses = await asyncio.gather(*requests)
        for response in responses:
            assert response.status_code in {200, 201, 204, 400, 404, 409}, response.text
            # Counts rise with every request: an applied one changed its word.
            events += response.status_code in {200, 201, 204}
        assert {r.status_code for r in responses} & {200, 201}, "some write applied"
    records, seq = await progress_listing(client, headers)
    assert set(records) <= set(words)
    assert seq == events


@pytest.mark.needs_postgres
async def test_a_first_answer_waits_for_the_learners_write_that_found_the_word_absent(
    client: Client, database_url: str
) -> None:
    """A write that found a word absent (here: the batch or import this test holds open,
    made of the repository calls theirs are) is the one to create it. The learner's first
    answer to the word, meanwhile, waits for it and applies on top of what it stored;
    were the answer written at once, the open write would find the word taken."""
    tokens = await signed_in(client)
    headers = bearer(tokens["access_token"])
    learner = uuid.UUID(tokens["user"]["id"])
    database = Database(database_url)
    try:
        async with database.transaction() as session:
            await classrooms.lock_of_learner(session, learner)
            assert await progress.lock(session, learner, ["hund"]) == {}
            answer = asyncio.create_task(put_progress(client, headers, "hund", 3, 2, 4))
            assert await _until_waiting_on_a_lock(database, answer), "the answer did not wait"
            created = apply_update(None, Update("hund", 2, 1, 3), utcnow())
            assert isinstance(created, Created)
            assert await progress.insert_new(session, learner, [created.record]) == 1
        response = await answer
    finally:
        await database.dispose()
    assert response.status_code == 200, response.text  # an update of the record stored
    record = response.json()["data"]
    assert (record["studyCount"], record["correctCount"]) == (3, 2)
    assert record["createdAt"] == isoformat(created.record.created_at)


# How long a PUT may take to reach its lock wait, and how often pg_stat_activity is read
# meanwhile: PostgreSQL announces no lock wait, so it is looked for while the PUT runs.
WAIT_TIMEOUT_SECONDS = 5.0
LOOK_EVERY_SECONDS = 0.01


async def _until_waiting_on_a_lock(database: Database, task: asyncio.Task[Any]) -> bool:
    """Whether a backend of this database waits on a lock before ``task`` is done (if it
    is done first, it did not wait), within :data:`WAIT_TIMEOUT_SECONDS`. Read outside the
    holding transaction: a transaction sees one snapshot of ``pg_stat_activity``."""
    async with asyncio.timeout(WAIT_TIMEOUT_SECONDS):
        while True:
            async with database.autocommit() as session:
                waiting = await session.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                )
            if waiting.scalar_one():
                return True
            done, _ = await asyncio.wait({task}, timeout=LOOK_EVERY_SECONDS)
            if done:
                return False


@pytest.mark.needs_postgres
async def test_an_answer_read_before_its_record_was_deleted_writes_nothing(
    client: Client, database_url: str
) -> None:
    """A non-student's PUT reads its record, and a DELETE removes it before the PUT's one
    statement runs (made here at the repository, between the two): the statement writes
    nothing and appends nothing, so the PUT reads again and creates the record the locked
    way. Written as an upsert, it re-created the record without the learner's lock, and a
    batch that had found the word absent then failed (CI's histories test)."""
    tokens = await signed_in(client)
    headers = bearer(tokens["access_token"])
    learner = uuid.UUID(tokens["user"]["id"])
    assert (await put_progress(client, headers, "hund", 1, 1, 3)).status_code == 201
    database = Database(database_url)
    try:
        async with database.autocommit() as session:
            seen, student = await progress.get_for_guarded_write(session, learner, "hund")
        assert seen is not None
        assert not student
        assert (await client.delete(f"{PROGRESS}/hund", headers=headers)).status_code == 200
        _, seq = await progress_listing(client, headers)
        changed = apply_update(seen, Update("hund", 2, 2, 4), utcnow())
        assert isinstance(changed, Changed)
        async with database.autocommit() as session:
            written = await progress.write_if_unchanged(
                session,
                learner,
                changed.record,
                seen=seen,
                channel=f"progress:{learner}",
                event_name="progress.updated",
                event_data="{}",
                actor_name="Ada",
                at=utcnow(),
            )
    finally:
        await database.dispose()
    assert written is None
    assert await progress_listing(client, headers) == ({}, seq)
    # The device's answer, sent again, creates it anew.
    assert (await put_progress(client, headers, "hund", 2, 2, 4)).status_code == 201
