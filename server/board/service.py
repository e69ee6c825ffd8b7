"""Board use cases (contract §5): every write one transaction holding the classroom's row
lock, so concurrent writers on one board queue up, positions stay dense, and of many
moves of one card with the same version exactly one wins. Events go out after commit."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.tokens import Principal
from server.board import rules
from server.board.card_json import moved_event
from server.board.schemas import (
    BatchMoveItem,
    CardMovedOut,
    CardOut,
    FailedMove,
    LockOut,
    MoveIn,
)
from server.board.stamps import BoardStamps
from server.board.transaction import BoardWork, Tx
from server.http.envelope import timestamp
from server.http.errors import (
    CardLocked,
    CardNotFound,
    DuplicateAssignment,
    Forbidden,
    InvalidStatusTransition,
    NotFound,
    TandemError,
    ValidationFailed,
    VersionConflict,
)
from storage import events
from storage.base import utcnow
from storage.database import Database
from storage.repositories import card_moves, cards, classrooms
from storage.unit_of_work import unit_of_work


def card_json(card: cards.CardView, now: datetime) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(CardOut.of(card, now))
    return data


class BoardService:
    def __init__(
        self,
        database: Database,
        publish: events.Publish,
        stamps: BoardStamps,
        *,
        lock_ttl: int,
    ) -> None:
        self._db = database
        self._work = BoardWork(database, publish, stamps)
        self._transaction = self._work.transaction
        self._announce = self._work.announce
        self._lock_ttl = timedelta(seconds=lock_ttl)

    # -- cards --------------------------------------------------------------------------

    async def create(
        self,
        principal: Principal,
        *,
        lesson_id: uuid.UUID,
        student_id: uuid.UUID | None,
        status: str,
    ) -> CardOut:
        async with self._transaction(principal) as tx:
            lesson = await classrooms.lesson_for_teacher(tx.session, lesson_id, principal.user_id)
            if lesson is None:
                raise NotFound("No such lesson in your classrooms")
            if student_id is not None:
                student = await classrooms.student_for_teacher(
                    tx.session, student_id, principal.user_id
                )
                if student is None:
                    raise NotFound("No such student in your classrooms")
                if student.classroom_id != lesson.classroom_id:
                    raise ValidationFailed(
                        "The student is not in the lesson's classroom",
                        details={"fields": [{"field": "student_id", "message": "other classroom"}]},
                    )
            await self._lock_classroom(tx, lesson.classroom_id)
            if await cards.exists(tx.session, lesson_id, student_id):
                raise DuplicateAssignment()
            card_id = uuid.uuid4()
            try:
                async with tx.session.begin_nested():
                    await cards.add(
                        tx.session,
                        id=card_id,
                        classroom_id=lesson.classroom_id,
                        lesson_id=lesson_id,
                        student_id=student_id,
                        status=status,
                        sort_key=await cards.last_key(tx.session, lesson.classroom_id, status),
                        created_at=tx.now,
                        updated_at=tx.now,
                    )
            except IntegrityError:
                raise DuplicateAssignment() from None
            view = await self._view(tx, card_id)
            tx.emit(lesson.classroom_id, "card.created", card_json(view, tx.now))
        return CardOut.of(view, tx.now)

    async def move(self, principal: Principal, card_id: uuid.UUID, move: MoveIn) -> CardOut:
        known = rules.is_status(move.new_status) and move.new_position >= 0
        if self._db.one_statement_writes and known:
            moved = await self._move_in_database(principal, card_id, move)
            if moved is not None:
                return moved
        async with self._transaction(principal) as tx:
            classroom_id = await self._lock_board_of(tx, card_id)
            view = await self._move(tx, card_id, classroom_id, move)
        return CardOut.of(view, tx.now)

    async def _move_in_database(
        self, principal: Principal, card_id: uuid.UUID, move: MoveIn
    ) -> CardOut | None:
        """PostgreSQL: the move and its event in one statement, which builds the event from
        the card as the board's lock found it (storage/repositories/card_moves.py). None
        when its column needs renumbering: the caller moves it the Python way, under the
        board's lock.

        Not a unit of work (storage/unit_of_work.py): the one statement writes the card,
        numbers its event and commits on its own; the event is announced here, after it."""
        now = utcnow()
        async with self._db.autocommit() as session:
            result = await card_moves.move_card(
                session,
                card_id=card_id,
                teacher_id=principal.user_id,
                status=move.new_status,
                index=move.new_position,
                version=move.version,
                # Applied only if the card's version is ``move.version``.
                new_version=rules.next_version(move.version, now),
                allowed_from=rules.allowed_from(move.new_status),
                actor_name=principal.name,
                now=now,
                event_data=moved_event(),
            )
        card = result.card
        match result.outcome:
            case "moved":
                assert card is not None
                assert result.position is not None
                assert result.seq is not None
                # What the statement stored, shown the Python way: the same card and event.
                moved, data = _moved_json(card, move.new_status, result.position, move.version, now)
                await self._announce(
                    [
                        events.StoredEvent(
                            events.board_channel(card.classroom_id),
                            result.seq,
                            "card.moved",
                            data,
                            principal.user_id,
                            principal.name,
                            now,
                        )
                    ]
                )
                return CardOut.of(moved, now)
            case "renumber":
                return None
            case "locked":
                assert card is not None
                raise _locked_error(card)
            case "version":
                assert card is not None
                raise _version_conflict(card_json(card, now))
            case "transition":
                assert card is not None
                raise _bad_transition(card.status, move.new_status)
            case _:
                raise CardNotFound()

    async def batch_move(
        self, principal: Principal, moves: Sequence[BatchMoveItem]
    ) -> tuple[list[CardOut], list[FailedMove]]:
        """Each move checked against the state the earlier ones left; failures change
        nothing and are listed; the successes are applied together, in one transaction."""
        moved: list[cards.CardView] = []
        failed: list[FailedMove] = []
        async with self._transaction(principal) as tx:
            found: dict[uuid.UUID, uuid.UUID] = {}  # card -> its classroom
            for move in moves:
                classroom = await cards.classroom_for_teacher(
                    tx.session, move.card_id, principal.user_id
                )
                if classroom is not None:
                    found[move.card_id] = classroom
            for classroom_id in sorted(set(found.values())):
                await self._lock_classroom(tx, classroom_id)
            for move in moves:
                try:
                    if move.card_id not in found:
                        raise CardNotFound()
                    async with tx.session.begin_nested():
                        # Read afresh: an earlier move of the batch may have shifted it.
                        moved.append(await self._move(tx, move.card_id, found[move.card_id], move))
                except TandemError as exc:
                    failed.append(
                        FailedMove(card_id=str(move.card_id), error=exc.message, code=exc.code)
                    )
        return [CardOut.of(view, tx.now) for view in moved], failed

    async def _move(
        self, tx: Tx, card_id: uuid.UUID, classroom_id: uuid.UUID, move: MoveIn
    ) -> cards.CardView:
        """Read the card and its slot-to-be under the board's lock (taken by the caller),
        then the checks of contract §5 in their order, then the move."""
        found = await cards.view_for_move(
            tx.session, card_id, classroom_id, move.new_status, move.new_position
        )
        if found is None:
            raise CardNotFound()
        card, slot = found
        if not rules.is_status(move.new_status):
            raise ValidationFailed(f"Unknown status {move.new_status!r}")
        if move.new_position < 0:
            raise ValidationFailed("new_position must not be negative")
        self._check_not_locked_by_other(card, tx)
        if move.version != card.updated_at:
            raise _version_conflict(card_json(card, tx.now))
        if not rules.transition_allowed(card.status, move.new_status):
            raise _bad_transition(card.status, move.new_status)
        # Past the end means last; the other cards' positions follow from the keys.
        # Dropped where it was: the order does not change (None keeps the key).
        target = slot.index
        same_place = move.new_status == card.status and target == card.position
        key = None if same_place else await cards.key_for(tx.session, card, move.new_status, slot)
        version = rules.next_version(card.updated_at, tx.now)
        await cards.place(
            tx.session, card_id, status=move.new_status, sort_key=key, updated_at=version
        )
        return self._moved(tx, card, move.new_status, target, card.updated_at)

    @staticmethod
    def _moved(
        tx: Tx, card: cards.CardView, status: str, target: int, previous: datetime
    ) -> cards.CardView:
        """The card written at ``target`` of ``status`` with its next version, and its
        ``card.moved`` event. The key puts it there and nothing else shown changed: no
        need to read it back."""
        moved, data = _moved_json(card, status, target, previous, tx.now)
        tx.emit(card.classroom_id, "card.moved", data)
        return moved

    async def delete(self, principal: Principal, card_id: uuid.UUID) -> None:
        async with self._transaction(principal) as tx:
            card = await self._take(tx, card_id)
            self._check_not_locked_by_other(card, tx)
            await cards.remove(tx.session, card_id)
            tx.emit(card.classroom_id, "card.deleted", _deleted_json(card))

    # -- locks --------------------------------------------------------------------------

    async def lock(self, principal: Principal, card_id: uuid.UUID) -> LockOut:
        """Take or renew the lease. An expired lock found here is announced as released
        (``expired``) before the new ``card.locked``."""
        async with self._transaction(principal) as tx:
            card = await self._take(tx, card_id)
            held = rules.lock_held(card.lock_expires_at, tx.now)
            if card.locked_by is not None and not held:
                tx.emit(
                    card.classroom_id,
                    "card.unlocked",
                    {"id": str(card_id), "reason": "expired"},
                    actor=(card.locked_by, card.locked_by_name or ""),
                )
            self._check_not_locked_by_other(card, tx)
            renewal = held and card.locked_by == principal.user_id
            locked_at = card.locked_at if renewal and card.locked_at else tx.now
            expires_at = tx.now + self._lock_ttl
            await cards.set_lock(
                tx.session,
                card_id,
                holder=principal.user_id,
                locked_at=locked_at,
                expires_at=expires_at,
            )
            tx.emit(
                card.classroom_id,
                "card.locked",
                {
                    "id": str(card_id),
                    "locked_by": str(principal.user_id),
                    "locked_by_name": principal.name,
                    "locked_at": timestamp(locked_at),
                    "expires_at": timestamp(expires_at),
                },
            )
        return LockOut(
            id=str(card_id),
            locked_by=str(principal.user_id),
            locked_at=timestamp(locked_at),
            expires_at=timestamp(expires_at),
        )

    async def unlock(self, principal: Principal, card_id: uuid.UUID) -> None:
        async with self._transaction(principal) as tx:
            card = await self._take(tx, card_id)
            if card.locked_by is None or not rules.lock_held(card.lock_expires_at, tx.now):
                raise NotFound("The card is not locked")
            if card.locked_by != principal.user_id:
                raise Forbidden("Only the teacher holding the lock can release it")
            await cards.set_lock(tx.session, card_id, holder=None, locked_at=None, expires_at=None)
            tx.emit(card.classroom_id, "card.unlocked", {"id": str(card_id), "reason": "released"})

    async def release_expired_locks(self) -> int:
        """The sweeper: release and announce every lease that ended (``expired``)."""
        async with self._db.reader() as session:
            if not await cards.any_expired(session, utcnow()):
                return 0  # the usual case: no write transaction, no lock taken
        async with unit_of_work(self._db, self._announce) as work:
            expired = await cards.release_expired(work.session, work.now)
            work.emit(
                *(
                    events.NewEvent(
                        events.board_channel(lock.classroom_id),
                        "card.unlocked",
                        {"id": str(lock.card_id), "reason": "expired"},
                        lock.holder,
                        lock.holder_name,
                    )
                    for lock in expired
                )
            )
        return len(expired)

    # -- helpers ------------------------------------------------------------------------

    async def _take(self, tx: Tx, card_id: uuid.UUID) -> cards.CardView:
        """The card, found among the caller's classrooms (else 404 ``CARD_NOT_FOUND``),
        read after taking its board's lock, so what is checked is what gets written."""
        await self._lock_board_of(tx, card_id)
        return await self._view(tx, card_id)

    async def _lock_board_of(self, tx: Tx, card_id: uuid.UUID) -> uuid.UUID:
        """Take the lock of the card's board if it is on one of the caller's (else 404
        ``CARD_NOT_FOUND``) and return the board's classroom; the card is read after it."""
        classroom_id = await cards.classroom_for_teacher(tx.session, card_id, tx.principal.user_id)
        if classroom_id is None:
            raise CardNotFound()
        await self._lock_classroom(tx, classroom_id)
        return classroom_id

    async def _lock_classroom(self, tx: Tx, classroom_id: uuid.UUID) -> None:
        if not await classrooms.lock_for_teacher(
            tx.session, classroom_id, tx.principal.user_id
        ):  # pragma: no cover - membership was checked just before
            raise CardNotFound()

    @staticmethod
    async def _view(tx: Tx, card_id: uuid.UUID) -> cards.CardView:
        view = await cards.view(tx.session, card_id, lock=True)
        if view is None:
            raise CardNotFound()
        return view

    @staticmethod
    def _check_not_locked_by_other(card: cards.CardView, tx: Tx) -> None:
        if (
            card.locked_by is not None
            and card.locked_by != tx.principal.user_id
            and rules.lock_held(card.lock_expires_at, tx.now)
        ):
            raise _locked_error(card)


# -- the board's part in roster changes (server/classrooms/roster.py) ---------------------


def remove_cards(tx: Tx, found: Sequence[cards.CardView]) -> list[uuid.UUID]:
    """Check that ``found`` (one board's cards, read under its lock) may all go: 409
    ``CARD_LOCKED`` for the first one another teacher holds. Emit their ``card.deleted``
    events and return their ids for the caller to delete.

    Each column's cards go last position first, so each event's position is the card's
    position at its own deletion, as a client applying the events one by one finds it.
    """
    for card in found:
        BoardService._check_not_locked_by_other(card, tx)
    ordered = sorted(found, key=lambda card: (card.status, -card.position))
    for card in ordered:
        tx.emit(card.classroom_id, "card.deleted", _deleted_json(card))
    return [card.id for card in ordered]


async def release_locks_of(tx: Tx, classroom_id: uuid.UUID, holder: uuid.UUID) -> None:
    """Release the live locks ``holder`` has on the board (``card.unlocked``, reason
    ``released``): a teacher removed from the classroom keeps none."""
    for card_id in await cards.release_held(tx.session, classroom_id, holder, tx.now):
        tx.emit(classroom_id, "card.unlocked", {"id": str(card_id), "reason": "released"})


# -- auto-advance (contract §9): the board's move rule, by the system actor -----------------

SYSTEM_ACTOR = "Tandem"  # the actor of auto-advance's moves: ``{"id": null, "name": "Tandem"}``


class NeedsBoardLock(Exception):
    """Auto-advance would move a card, and the caller holds its board only shared: it must
    start again holding the board's lock (server/progress/service.py)."""


async def advance(
    session: AsyncSession,
    card_id: uuid.UUID,
    emit: Callable[[events.NewEvent], None],
    now: datetime,
    *,
    can_move: bool = True,
) -> None:
    """Auto-advance a card whose progress just changed (``rules.advances``): each move to
    the end of its column, with a new version, as a ``card.moved`` of the system actor. A
    card a teacher holds locked is skipped (the next change judges it again). The caller
    holds the board's lock, or (``can_move`` false) holds it shared: then a card that
    would move raises :class:`NeedsBoardLock`."""
    card = await cards.view(session, card_id, lock=True)
    if card is None or card.progress is None or rules.lock_held(card.lock_expires_at, now):
        return
    progress = card.progress
    moves = rules.advances(
        card.status, started=progress.started, words=progress.words, mastered=progress.mastered
    )
    if moves and not can_move:
        raise NeedsBoardLock()
    for status in moves:
        found = await cards.view_for_move(
            session, card_id, card.classroom_id, status, cards.LAST_INDEX
        )
        assert found is not None  # locked above
        card, slot = found
        key = await cards.key_for(session, card, status, slot)
        version = rules.next_version(card.updated_at, now)
        await cards.place(session, card_id, status=status, sort_key=key, updated_at=version)
        card, data = _moved_json(card, status, slot.index, card.updated_at, now)
        emit(
            events.NewEvent(
                events.board_channel(card.classroom_id), "card.moved", data, None, SYSTEM_ACTOR
            )
        )


def _moved_json(
    card: cards.CardView, status: str, target: int, previous: datetime, now: datetime
) -> tuple[cards.CardView, dict[str, Any]]:
    """The card written at ``target`` of ``status`` with its next version, and its
    ``card.moved`` event's data. The key puts it there and nothing else shown changed: no
    need to read it back."""
    moved = card._replace(
        status=status, position=target, updated_at=rules.next_version(previous, now)
    )
    data: dict[str, Any] = msgspec.to_builtins(
        CardMovedOut(
            card=CardOut.of(moved, now), from_status=card.status, from_position=card.position
        )
    )
    return moved, data


def _deleted_json(card: cards.CardView) -> dict[str, Any]:
    return {"id": str(card.id), "status": card.status, "position": card.position}


# The move's refusals, made alike whether Python or PostgreSQL (card_moves.py) checked.


def _locked_error(card: cards.CardView) -> CardLocked:
    holder_name = card.locked_by_name
    expires_at = card.lock_expires_at
    return CardLocked(
        f"Card locked by {holder_name or 'another teacher'}",
        details={
            "locked_by": str(card.locked_by),
            "locked_by_name": holder_name,
            "expires_at": None if expires_at is None else timestamp(expires_at),
        },
    )


def _version_conflict(current: dict[str, Any]) -> VersionConflict:
    return VersionConflict("The card changed since you read it", details={"current": current})


def _bad_transition(current: str, new: str) -> InvalidStatusTransition:
    return InvalidStatusTransition(
        f"A card moves forward one column at a time: {current} cannot go to {new}"
    )
