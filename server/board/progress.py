"""The board's side of learner progress (contract §9): ``card.progress`` and auto-advance.

A change that may change cards' progress (a learner's write, a lesson's words, a student
entry claimed or left) reads those cards' sums first (storage/repositories/card_progress.py),
makes its change, and hands the sums it read to :func:`settle` in the same transaction:
each card whose sums differ now gets one ``card.progress``, appended with the change's own
events (so never lost, never early), and does not change its version. Then auto-advance
judges each changed card, in its classroom with ``auto_advance`` on: moves made by the
board's one move rule (:func:`server.board.service.advance`), announced after the
``card.progress`` events, by the system actor.

Callers hold the row lock of every classroom whose cards they watch (the lock every board
write takes), from before the first read of the sums to the commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from server.board.schemas import ProgressOut
from server.board.service import advance
from storage import events
from storage.repositories import card_progress, classrooms
from storage.repositories.card_progress import CardSums

Emit = Callable[[events.NewEvent], None]


async def settle(
    session: AsyncSession,
    before: Sequence[CardSums],
    emit: Emit,
    actor: tuple[uuid.UUID | None, str],
    now: datetime,
) -> None:
    """Announce the cards of ``before`` whose progress changed since it was read, then
    auto-advance them."""
    if not before:
        return
    after = await card_progress.of_cards(session, [sums.card_id for sums in before])
    changed = [
        sums._replace(progress=after[sums.card_id])
        # Each board's cards in the order they were made: the same order on every backend.
        for sums in sorted(before, key=lambda s: s.order)
        if sums.card_id in after and after[sums.card_id] != sums.progress
    ]
    for sums in changed:
        emit(
            events.NewEvent(
                events.board_channel(sums.classroom_id),
                "card.progress",
                progress_json(sums.card_id, sums.progress),
                *actor,
            )
        )
    judged = [sums for sums in changed if sums.progress is not None]
    on = await classrooms.advancing(session, {sums.classroom_id for sums in judged})
    for sums in judged:
        if sums.classroom_id in on:
            await advance(session, sums.card_id, emit, now)


def progress_json(card_id: uuid.UUID, progress: card_progress.CardProgress | None) -> object:
    """A ``card.progress`` event's data: ``{id, progress}``, progress as cards show it."""
    return {"id": str(card_id), "progress": msgspec.to_builtins(ProgressOut.of(progress))}
