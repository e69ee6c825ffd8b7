"""The board's side of learner progress (contract §9): ``card.progress`` and auto-advance.

A change that may change cards' progress (a learner's write, a lesson's words, a student
entry claimed or left) makes its change, then calls :func:`settle` with the cards it may
have changed (a scope of storage/repositories/card_progress.py) in the same transaction:
the aggregate's sums are stored on each of those cards whose stored sums differ (one
statement), and each such card gets one ``card.progress``, appended with the change's own
events (so never lost, never early), and does not change its version. Then auto-advance
judges each changed card, in its classroom with ``auto_advance`` on: moves made by the
board's one move rule (:func:`server.board.service.advance`), announced after the
``card.progress`` events, by the system actor.

Callers hold the row lock of every classroom whose cards they watch (the lock every board
write takes; a learner's write takes them shared and its own learner row), from before
their change to the commit, so the sums stored are those of the committed state.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from server.board import card_json, rules
from server.board.schemas import CardProgressOut, ProgressOut
from server.board.service import advance
from storage import events
from storage.repositories import card_progress, classrooms, learner_writes
from storage.repositories.card_progress import CardSums

Emit = Callable[[events.NewEvent], None]
CARD_PROGRESS = "card.progress"


async def settle(
    session: AsyncSession,
    scope: tuple[str, Sequence[Any]],
    emit: Emit,
    actor: tuple[uuid.UUID | None, str],
    now: datetime,
    *,
    can_move: bool = True,
) -> None:
    """Store the sums of the cards of ``scope`` (a scope of card_progress and its
    parameters) and announce those that changed, then auto-advance them (``can_move``
    false: the caller holds the boards shared, and a card that would move raises
    ``NeedsBoardLock``)."""
    # Each board's cards in the order they were made: the same order on every backend.
    changed = await card_progress.store(session, scope[0], *scope[1])
    for sums in changed:
        emit(
            events.NewEvent(
                events.board_channel(sums.classroom_id),
                CARD_PROGRESS,
                progress_json(sums.card_id, sums.progress),
                *actor,
            )
        )
    # Judged first on what the sums' statement returned with them (the card's column and
    # lease, under the caller's lock on its board): most changes move nothing, and then
    # cost no statement more. ``advance`` reads the card again under its row lock.
    judged = [sums for sums in changed if _may_advance(sums, now)]
    on = await classrooms.advancing(session, {sums.classroom_id for sums in judged})
    for sums in judged:
        if sums.classroom_id in on:
            await advance(session, sums.card_id, emit, now, can_move=can_move)


def _may_advance(sums: CardSums, now: datetime) -> bool:
    # Its SQL form, for a student's one-statement answer, is advances_sql below.
    progress = sums.progress
    if progress is None or rules.lock_held(sums.lock_expires_at, now):
        return False
    return bool(
        rules.advances(
            sums.status,
            started=progress.started,
            words=progress.words,
            mastered=progress.mastered,
        )
    )


def progress_json(card_id: uuid.UUID, progress: card_progress.CardProgress | None) -> object:
    """A ``card.progress`` event's data (``CardProgressOut``), progress as cards show it."""
    return msgspec.to_builtins(CardProgressOut(id=card_id, progress=ProgressOut.of(progress)))


# -- a student's answer on PostgreSQL (storage/repositories/learner_writes.py) ---------------


@cache
def card_event_sql() -> tuple[str, str]:
    """``card.progress`` and its data (``progress_json``) as a ``json`` expression over a
    changed card of a student's one-statement answer, generated from ``CardProgressOut``
    (server/board/card_json.py)."""
    data = card_json.progress_event(
        learner_writes.CHANGED_ID, learner_writes.changed_progress_source
    )
    return CARD_PROGRESS, data


@cache
def advances_sql() -> str:
    """:func:`_may_advance` as a condition over a changed card of a student's
    one-statement answer: the statement leaves an answer that would move a card to the
    Python way (``settle``). Made of the rules' own SQL forms (``rules.lock_held_sql``,
    ``rules.advances_sql``)."""
    sum_of = learner_writes.changed_progress_source
    held = rules.lock_held_sql(learner_writes.CHANGED_LOCK_EXPIRES_AT, learner_writes.NOW)
    moves = rules.advances_sql(
        learner_writes.CHANGED_STATUS,
        started=sum_of("started"),
        words=sum_of("words"),
        mastered=sum_of("mastered"),
    )
    return f"({sum_of('words')} IS NOT NULL AND NOT coalesce({held}, false) AND {moves})"
