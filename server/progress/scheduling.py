"""When a word is next due: FSRS over the reviews a progress update implies (contract §6).

Pure: no I/O, no clock of its own, no fuzz. A PUT whose counts rise by Δs studies and Δc
correct answers is Δs-Δc reviews rated *Again*, then Δc reviews rated from the learner's
``confidence`` (5 Easy, 3-4 Good, 0-2 Hard), all dated at the update. The same reviews at
the same times always give the same ``next_review``.

If a device reports more new correct answers than new studies (Δc > Δs), which no real
session produces, the reviews are capped at Δs: min(Δc, Δs) rated ones and the rest Again.

Counts may rise by up to a billion in one update, and replaying that many reviews one by one
would hold a process for hours. It need not: reviews of one rating at one instant drive the
card to a state they no longer change (within 800 reviews from every state we tried), so
the replay stops there and skips the rest, which would have changed nothing. The answer is
the one the full replay gives, by construction (:func:`_repeat`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from fsrs import Card, Rating, Scheduler, State

NEW_STATE = int(State.Learning)


@dataclass(frozen=True, slots=True)
class SchedulerState:
    """The FSRS card of one word, as stored beside its progress."""

    state: int
    step: int | None
    stability: float | None
    difficulty: float | None
    due: datetime
    last_review: datetime | None

    @classmethod
    def new(cls, now: datetime) -> SchedulerState:
        """A word never reviewed: due at once."""
        return cls(NEW_STATE, 0, None, None, now, None)


@cache
def _scheduler() -> Scheduler:
    # Fuzzing would randomise intervals: the contract wants the same history to give
    # the same answer, so it is off.
    return Scheduler(enable_fuzzing=False)


def rating_for(confidence: int) -> Rating:
    if confidence >= 5:
        return Rating.Easy
    if confidence >= 3:
        return Rating.Good
    return Rating.Hard


def review(
    current: SchedulerState, *, studies: int, correct: int, confidence: int, at: datetime
) -> SchedulerState:
    """Apply ``studies`` new reviews of which ``correct`` were right, all at ``at``."""
    if studies <= 0:
        return current
    rated = min(max(correct, 0), studies)
    card = Card(
        card_id=0,  # without an id fsrs makes one from the clock and sleeps a millisecond
        state=State(current.state),
        step=current.step,
        stability=current.stability,
        difficulty=current.difficulty,
        due=current.due,
        last_review=current.last_review,
    )
    # A review dated before the card's last one would run time backwards; keep it at or
    # after (this happens only when importing old progress onto newer progress).
    when = max(at, current.last_review) if current.last_review else at
    card = _repeat(card, Rating.Again, studies - rated, when)
    card = _repeat(card, rating_for(confidence), rated, when)
    return SchedulerState(
        state=int(card.state),
        step=card.step,
        stability=card.stability,
        difficulty=card.difficulty,
        due=card.due,
        last_review=card.last_review,
    )


def _repeat(card: Card, rating: Rating, times: int, when: datetime) -> Card:
    """``card`` after ``times`` reviews rated ``rating`` at ``when``.

    Each review is a function of the card alone (same rating, same instant, no fuzz), so the
    states it runs through repeat once one comes round again, and the rest of the run is known
    without computing it: a state a review leaves unchanged ends the run; a longer cycle (none
    seen, but floating point owes us nothing) is stepped through by the remainder.
    """
    scheduler = _scheduler()
    seen: dict[tuple[object, ...], int] = {}
    states: list[Card] = []
    for done in range(times):
        key = _key(card)
        first = seen.get(key)
        if first is not None:
            period = done - first
            return states[first + (times - done) % period]
        seen[key] = done
        states.append(card)
        card, _ = scheduler.review_card(card, rating, review_datetime=when)
    return card


def _key(card: Card) -> tuple[object, ...]:
    return (card.state, card.step, card.stability, card.difficulty, card.due, card.last_review)
