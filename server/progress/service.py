"""Learner progress use cases (contract §6): each write one transaction, events after commit."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any, TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.tokens import Principal
from server.board import progress as board_progress
from server.board.service import NeedsBoardLock
from server.board.stamps import BoardStamps
from server.board.transaction import BoardWork
from server.http.envelope import ok
from server.http.errors import NotFound, ValidationFailed, VersionConflict
from server.progress.rules import (
    Changed,
    Created,
    Outcome,
    Stale,
    Unchanged,
    Update,
    apply_update,
    behind,
    merge_import,
)
from server.progress.schemas import ProgressList, ProgressOut, Stats, check_word_id
from server.progress.student_writes import StudentWrites
from storage import events, offload
from storage.base import utcnow
from storage.database import Database
from storage.dialects import dialect_of
from storage.repositories import classrooms, learner_writes
from storage.repositories import progress as repository
from storage.unit_of_work import UnitOfWork, unit_of_work

T = TypeVar("T")


# Reading a stored row back, showing it and encoding it: about 8 µs a record (3 + 4.5 +
# 0.4, measured on 20,000), so from about 250 records a list is built in a worker thread.
LIST_ITEM_US = 8
_encoder = msgspec.json.Encoder()


def _encoded_list(rows: Sequence[repository.ProgressRow], seq: int) -> bytes:
    items = [ProgressOut.of(row) for row in rows]
    return _encoder.encode(ok(ProgressList(items=items, seq=seq)))


def as_json(record: repository.ProgressRow) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(ProgressOut.of(record))
    return data


# A PUT on PostgreSQL first tries the unlocked read and guarded write this many times (the
# record changed under each try) before it takes the row's lock for the whole update.
GUARDED_TRIES = 3


def _updated_event(principal: Principal, shown: ProgressOut) -> events.NewEvent:
    """The ``progress.updated`` event of a record as the API shows it (built once by the
    caller, which may also answer with it)."""
    return events.NewEvent(
        events.progress_channel(principal.user_id),
        "progress.updated",
        msgspec.to_builtins(shown),
        principal.user_id,
        principal.name,
    )


def _counts_problem(update: Update) -> str | None:
    if update.correct_count > update.study_count:
        return "correctCount must not exceed studyCount"
    return None


class ProgressService:
    def __init__(self, database: Database, publish: events.Publish, stamps: BoardStamps) -> None:
        self._db = database
        # A write may announce cards' progress on boards: their stamps go first (as every
        # board transaction's, server/board/transaction.py), then the events.
        self._publish = BoardWork(database, publish, stamps).announce
        self._students = StudentWrites(database, self._publish)

    async def list_body(self, principal: Principal, *, due: bool) -> bytes:
        """The user's records (or those due now) and the channel's seq, read in one
        statement, as the encoded envelope of ``GET /api/v1/progress``: the list holds
        exactly the changes of the events up to seq (contract §6, §7), so a client that
        subscribes with ``since`` = seq applies each change once."""
        channel = events.progress_channel(principal.user_id)
        async with self._db.reader() as session:
            seq, rows = await repository.list_with_seq(
                session, principal.user_id, channel, due_at=utcnow() if due else None
            )
        return await offload.run(len(rows) * LIST_ITEM_US, _encoded_list, rows, seq)

    async def get(self, principal: Principal, word_id: str) -> repository.ProgressRow:
        async with self._db.reader() as session:
            row = await repository.get(session, principal.user_id, word_id)
        if row is None:
            raise NotFound("No progress for this word")
        return row

    async def put(
        self, principal: Principal, update: Update
    ) -> tuple[repository.ProgressRow, bool]:
        """Apply one device's report; the record and whether it was created."""
        self._check(update)
        if self._db.one_statement_writes:
            for _ in range(GUARDED_TRIES):
                try:
                    done = await self._put_guarded(principal, update)
                except _TakesTheLocks:
                    return await self._put_once(principal, update, True)
                if done is not None:
                    return done
        return await _boarded(lambda exclusive: self._put_once(principal, update, exclusive))

    async def _put_once(
        self, principal: Principal, update: Update, exclusive: bool
    ) -> tuple[repository.ProgressRow, bool]:
        async with unit_of_work(self._db, self._publish) as work:
            watched = await _watch(work.session, principal.user_id, exclusive)
            outcome = await self._apply_one(work.session, principal.user_id, update, work.now)
            match outcome:
                case Stale(current=current):
                    raise _stale(current)
                case Unchanged(record=record):
                    return record, False
                case Created(record=record) | Changed(record=record):
                    await repository.upsert(work.session, principal.user_id, [record])
                    work.emit(_updated_event(principal, ProgressOut.of(record)))
                    if watched:
                        await _settle(work, principal, [update.word_id], exclusive)
        return record, isinstance(outcome, Created)

    async def _put_guarded(
        self, principal: Principal, update: Update
    ) -> tuple[repository.ProgressRow, bool] | None:
        """PostgreSQL: read without a lock, then write the record and its events in one
        statement that applies only if the record is still as read. None when it changed
        meanwhile: the caller reads again, or in the end takes the row's lock.

        A learner who is no classroom's student: the record and its ``progress.updated``
        (``repository.write_if_unchanged``), or ``_TakesTheLocks`` for a word they never
        studied (a record is created holding the learner's lock, classrooms.
        lock_of_learner). A student: also the sums of the cards whose lessons hold the
        word and a ``card.progress`` for each that changed, under the locks every
        student's write takes, written with the other students' answers waiting in this
        process (server/progress/student_writes.py), or ``_TakesTheLocks`` with nothing
        written when one would auto-advance.

        Not a unit of work (storage/unit_of_work.py): there is no transaction to hold the
        events, the one statement writes the record and numbers its events and commits on
        its own, so the events it numbered are published after that statement."""
        async with self._db.autocommit() as session:
            seen, student = await repository.get_for_guarded_write(
                session, principal.user_id, update.word_id
            )
            now = utcnow()
            outcome = apply_update(seen, update, now)
            match outcome:
                case Stale(current=current):
                    raise _stale(current)
                case Unchanged(record=record):
                    return record, False
                case Created() if not student:
                    raise _TakesTheLocks
                case Created(record=record) | Changed(record=record):
                    event = _updated_event(principal, ProgressOut.of(record))
                    data = msgspec.json.encode(event.data).decode()
                    if not student:
                        assert seen is not None  # a first answer took the locked way above
                        seq = await repository.write_if_unchanged(
                            session,
                            principal.user_id,
                            record,
                            seen=seen,
                            channel=event.channel,
                            event_name=event.name,
                            event_data=data,
                            actor_name=principal.name,
                            at=now,
                        )
        created = isinstance(outcome, Created)
        if not student:
            if seq is None:
                return None
            stored = events.StoredEvent(
                event.channel, seq, event.name, event.data, event.actor_id, event.actor_name, now
            )
            await self._publish([stored])
            return record, created
        # A student's answer, with the connection given back while it waits its turn.
        answer = learner_writes.Answer(
            principal.user_id, record, seen, (event.channel, event.name, data), principal.name, now
        )
        written = await self._students.write(answer, event.data)
        if written.state == learner_writes.MOVES:
            raise _TakesTheLocks
        return (record, created) if written.state == learner_writes.WRITTEN else None

    async def _apply_one(
        self, session: AsyncSession, user_id: uuid.UUID, update: Update, now: datetime
    ) -> Outcome:
        rows = await repository.lock(session, user_id, [update.word_id])
        return apply_update(rows.get(update.word_id), update, now)

    async def batch(self, principal: Principal, updates: Sequence[Update]) -> list[ProgressOut]:
        """All or nothing; every bad item is named in ``details.items``, whether it is
        invalid on its own or stale against the stored record (contract §6)."""
        return await _boarded(lambda exclusive: self._batch_once(principal, updates, exclusive))

    async def _batch_once(
        self, principal: Principal, updates: Sequence[Update], exclusive: bool
    ) -> list[ProgressOut]:
        async with unit_of_work(self._db, self._publish) as work:
            word_ids = [update.word_id for update in updates]
            watched = await _watch(work.session, principal.user_id, exclusive)
            rows = await repository.lock(work.session, principal.user_id, word_ids)
            plan = await offload.run(
                _replay_cost_us(u.study_count for u in updates),
                _plan_batch,
                principal,
                rows,
                updates,
                work.now,
            )
            if plan.problems:
                raise ValidationFailed(
                    "Some updates are not valid", details={"items": plan.problems}
                )
            await _write(work.session, principal.user_id, plan)
            work.emit(*plan.emitted)
            if plan.changed and watched:
                await _settle(work, principal, word_ids, exclusive)
        return plan.results

    async def delete(self, principal: Principal, word_id: str) -> None:
        await _boarded(lambda exclusive: self._delete_once(principal, word_id, exclusive))

    async def _delete_once(self, principal: Principal, word_id: str, exclusive: bool) -> None:
        async with unit_of_work(self._db, self._publish) as work:
            watched = await _watch(work.session, principal.user_id, exclusive)
            if not await repository.remove(work.session, principal.user_id, word_id):
                raise NotFound("No progress for this word")
            work.emit(
                events.NewEvent(
                    events.progress_channel(principal.user_id),
                    "progress.deleted",
                    {"wordId": word_id},
                    principal.user_id,
                    principal.name,
                )
            )
            if watched:
                await _settle(work, principal, [word_id], exclusive)

    async def stats(self, principal: Principal) -> Stats:
        now = utcnow()
        day_start = datetime.combine(now.date(), time.min, tzinfo=UTC)
        async with self._db.reader() as session:
            totals = await repository.totals(
                session, principal.user_id, now=now, day_start=day_start
            )
        accuracy = totals.total_correct / totals.total_studies if totals.total_studies else 0.0
        return Stats(
            total_words=totals.total_words,
            mastered_words=totals.mastered_words,
            learning_words=totals.total_words - totals.mastered_words,
            due_now=totals.due_now,
            studied_today=totals.studied_today,
            total_studies=totals.total_studies,
            total_correct=totals.total_correct,
            accuracy=accuracy,
        )

    async def merge(
        self, principal: Principal, entries: Sequence[tuple[Update, datetime | None]]
    ) -> tuple[int, int, int]:
        """Merge imported records; (imported, merged, unchanged) counts."""
        return await _boarded(lambda exclusive: self._merge_once(principal, entries, exclusive))

    async def _merge_once(
        self,
        principal: Principal,
        entries: Sequence[tuple[Update, datetime | None]],
        exclusive: bool,
    ) -> tuple[int, int, int]:
        async with unit_of_work(self._db, self._publish) as work:
            word_ids = [u.word_id for u, _ in entries]
            watched = await _watch(work.session, principal.user_id, exclusive)
            rows = await repository.lock(work.session, principal.user_id, word_ids)
            plan = await offload.run(
                _replay_cost_us(u.study_count for u, _ in entries),
                _plan_merge,
                principal,
                rows,
                entries,
                work.now,
            )
            await _write(work.session, principal.user_id, plan)
            work.emit(*plan.emitted)
            if plan.changed and watched:
                await _settle(work, principal, word_ids, exclusive)
        return plan.imported, plan.merged, plan.unchanged

    def _check(self, update: Update) -> None:
        problems = self._problems(update)
        if problems:
            raise ValidationFailed(
                problems[0][1],
                details={"fields": [{"field": f, "message": m} for f, m in problems]},
            )

    @staticmethod
    def _problems(update: Update) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        if (word_problem := check_word_id(update.word_id)) is not None:
            found.append(("wordId", word_problem))
        if (count_problem := _counts_problem(update)) is not None:
            found.append(("correctCount", count_problem))
        return found


class _TakesTheLocks(Exception):
    """An answer the one-statement way does not write: a student's that would auto-advance
    a card (a lesson's first study, its last word mastered: the boards must be held as a
    move holds them), or a non-student's first of a word (the learner's lock must be
    held). Nothing was written; :meth:`ProgressService.put` makes it the Python way."""


async def _watch(session: AsyncSession, learner_id: uuid.UUID, exclusive: bool) -> bool:
    """Take the locks of the learner's classrooms and the learner's row (before the
    write's own row locks: the order every progress write takes them in, storage/
    repositories/classrooms.lock_of_learner), under which the write's cards' sums are
    stored and its absent words created. False for a learner who is no student (only
    their row is locked): no card shows their progress."""
    return bool(await classrooms.lock_of_learner(session, learner_id, exclusive=exclusive))


async def _settle(
    work: UnitOfWork, principal: Principal, word_ids: Sequence[str], exclusive: bool
) -> None:
    """Store the sums of the learner's cards whose lessons hold one of ``word_ids``, with
    a ``card.progress`` for each that changed, and auto-advance (server/board/
    progress.py), by the learner, in the write's transaction. Holding the boards shared,
    a card that must move raises ``NeedsBoardLock`` (:func:`_boarded` starts again)."""
    await board_progress.settle(
        work.session,
        ("learner_words", (principal.user_id, list(word_ids))),
        work.emit,
        (principal.user_id, principal.name),
        work.now,
        can_move=exclusive or dialect_of(work.session) == "sqlite",
    )


async def _boarded(attempt: Callable[[bool], Awaitable[T]]) -> T:
    """Run a progress write holding its learner's boards shared, so that learners of one
    classroom do not queue behind each other; the rare write that auto-advances a card
    (a lesson's first study, its last word mastered) is rolled back and made again holding
    them exclusively, as a move needs. Upgrading in place could deadlock two learners."""
    try:
        return await attempt(False)
    except NeedsBoardLock:
        return await attempt(True)


def _stale_item(update: Update, stored: dict[str, repository.ProgressRow]) -> dict[str, Any]:
    """Why a batch item is stale, and ``current``: the record as stored, never one an
    earlier item of the refused batch made (it was not saved); null when none is stored."""
    record = stored.get(update.word_id)
    if record is not None and behind(update, record):
        message = "counts are lower than the stored ones"
    else:
        message = "counts are lower than those an earlier item of this batch gives the word"
    return {
        "field": "studyCount",
        "message": message,
        "current": None if record is None else as_json(record),
    }


def _stale(current: repository.ProgressRow) -> VersionConflict:
    return VersionConflict(
        "Counts are lower than the stored ones: this device is behind",
        details={"current": as_json(current)},
    )


# What a batch or an import computes costs, per item, about 10 µs (the record read back,
# shown once, its event) plus about 3 µs a review replayed (scheduling.Fsrs), measured on
# the machine of docs/benchmarks.md. An item replays at most its studyCount reviews, and
# never more than about 2,500 (scheduling._repeat stops once a review changes nothing: an
# item of a billion studies costs 7.5 ms). So a PUT or a batch of a few everyday items
# stays on the event loop; a batch of 1,000 (~20 ms) or an import goes to a thread.
ITEM_US = 10
REVIEW_US = 3
REPLAY_BOUND = 2_500


def _replay_cost_us(study_counts: Iterable[int]) -> float:
    """A bound on the CPU time of planning items with these ``studyCount`` values."""
    cost = 0.0
    for study_count in study_counts:
        cost += ITEM_US + REVIEW_US * min(study_count, REPLAY_BOUND)
        if offload.too_big(cost):
            break  # enough to decide; an import need not sum 20,000 items on the loop
    return cost


@dataclass(slots=True)
class _Plan:
    """What a batch or an import writes, worked out without the database (pure, so it may
    run in a worker thread: see :mod:`server.offload`)."""

    changed: dict[str, repository.ProgressRow] = field(default_factory=dict)
    emitted: list[events.NewEvent] = field(default_factory=list)
    new_rows: list[repository.ProgressRow] = field(default_factory=list)
    old_rows: list[repository.ProgressRow] = field(default_factory=list)
    results: list[ProgressOut] = field(default_factory=list)  # a batch's answer
    problems: list[dict[str, Any]] = field(default_factory=list)  # a batch's bad items
    imported: int = 0
    merged: int = 0
    unchanged: int = 0

    def settle(self, before: dict[str, repository.ProgressRow]) -> _Plan:
        """The rows to write: new words to insert, locked existing ones to overwrite."""
        for word_id, record in self.changed.items():
            (self.old_rows if word_id in before else self.new_rows).append(record)
        return self


def _plan_batch(
    principal: Principal,
    rows: dict[str, repository.ProgressRow],
    updates: Sequence[Update],
    now: datetime,
) -> _Plan:
    plan = _Plan()
    state = dict(rows)
    for index, update in enumerate(updates):
        if invalid := ProgressService._problems(update):
            plan.problems.extend(
                {"index": index, "field": field, "message": message} for field, message in invalid
            )
            continue
        outcome = apply_update(state.get(update.word_id), update, now)
        match outcome:
            case Stale():
                plan.problems.append({"index": index, **_stale_item(update, rows)})
            case Unchanged(record=record):
                plan.results.append(ProgressOut.of(record))
            case Created(record=record) | Changed(record=record):
                state[update.word_id] = plan.changed[update.word_id] = record
                # Each record is shown once, for both the answer and its event.
                shown = ProgressOut.of(record)
                plan.emitted.append(_updated_event(principal, shown))
                plan.results.append(shown)
    return plan if plan.problems else plan.settle(rows)


def _plan_merge(
    principal: Principal,
    rows: dict[str, repository.ProgressRow],
    entries: Sequence[tuple[Update, datetime | None]],
    now: datetime,
) -> _Plan:
    plan = _Plan()
    state = dict(rows)
    for update, last_studied in entries:
        outcome = merge_import(state.get(update.word_id), update, last_studied, now)
        match outcome:
            case Created(record=record) | Changed(record=record):
                plan.imported += isinstance(outcome, Created)
                plan.merged += isinstance(outcome, Changed)
                state[update.word_id] = plan.changed[update.word_id] = record
                plan.emitted.append(_updated_event(principal, ProgressOut.of(record)))
            case _:
                plan.unchanged += 1
    return plan.settle(rows)


async def _write(session: AsyncSession, user_id: uuid.UUID, plan: _Plan) -> None:
    """Insert the new words and overwrite the locked existing ones, set-based.

    The write holds the learner's lock (``_watch``), which every write that creates a
    learner's record takes, so the words it found absent are still absent. Were one
    there, overwriting it would lose another request's counts: fail loudly instead.
    """
    if await repository.insert_new(session, user_id, plan.new_rows) != len(plan.new_rows):
        raise RuntimeError("a record was created by a write without the learner's lock")
    await repository.upsert(session, user_id, plan.old_rows)
