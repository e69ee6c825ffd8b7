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

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from fsrs import Rating, Scheduler, State

NEW_STATE = int(State.Learning)
_LEARNING, _REVIEW, _RELEARNING = int(State.Learning), int(State.Review), int(State.Relearning)
_AGAIN, _HARD, _GOOD, _EASY = (
    int(Rating.Again),
    int(Rating.Hard),
    int(Rating.Good),
    int(Rating.Easy),
)
# From fsrs.scheduler: the bounds its clamps use.
_STABILITY_MIN = 0.001
_MIN_DIFFICULTY, _MAX_DIFFICULTY = 1.0, 10.0

# One card: (state, step, stability, difficulty, due, last_review), as fsrs's Card holds them.
CardValues = tuple[int, int | None, float | None, float | None, datetime, datetime | None]


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


class Fsrs:
    """One FSRS review on plain values: ``Scheduler.review_card``'s arithmetic, unfuzzed.

    Why not call ``review_card`` itself: it costs 18 µs a review (it copies the card, checks
    the time zone, converts ratings and builds a review log we drop), so a batch of 1,000
    words spent 18 ms there, more than its whole 15 ms budget on SQLite
    (docs/benchmarks.md). This is the same sequence of float operations of fsrs 6.3, on the
    package's own parameters, steps and retention, in about 3 µs. Every branch is checked
    against ``review_card`` review by review (tests/server/test_scheduling.py), so an fsrs
    upgrade that changes the maths fails the suite instead of drifting silently.
    """

    def __init__(self, scheduler: Scheduler) -> None:
        if scheduler.enable_fuzzing:
            raise ValueError("the contract wants the same history to give the same answer")
        w = self.w = scheduler.parameters
        self.decay = -w[20]
        self.factor = 0.9 ** (1 / self.decay) - 1
        self.retention_term = (scheduler.desired_retention ** (1 / self.decay)) - 1
        self.maximum_interval = scheduler.maximum_interval
        self.learning = scheduler.learning_steps
        self.relearning = scheduler.relearning_steps
        self.easy_difficulty = w[4] - (math.e ** (w[5] * (_EASY - 1))) + 1
        self.forget_short_term = math.e ** (w[17] * w[18])
        self.recall_base = math.e ** (w[8])

    def review(self, card: CardValues, rating: int, when: datetime) -> CardValues:
        """``card`` after one review rated ``rating`` at ``when`` (timezone-aware UTC)."""
        state, step, stability, difficulty, _, last_review = card
        if state in (_LEARNING, _RELEARNING):
            assert step is not None
            if stability is None or difficulty is None:
                # Only a Learning card is ever new.
                stability = max(self.w[rating - 1], _STABILITY_MIN)
                difficulty = self._clamp_difficulty(
                    self.w[4] - (math.e ** (self.w[5] * (rating - 1))) + 1
                )
            else:
                stability = self._stability(stability, difficulty, rating, last_review, when)
                difficulty = self._next_difficulty(difficulty, rating)
            steps = self.learning if state == _LEARNING else self.relearning
            if len(steps) == 0 or (step >= len(steps) and rating != _AGAIN):
                state, step, interval = _REVIEW, None, self._interval(stability)
            elif rating == _AGAIN:
                step, interval = 0, steps[0]
            elif rating == _HARD:
                if step == 0 and len(steps) == 1:
                    interval = steps[0] * 1.5
                elif step == 0 and len(steps) >= 2:
                    interval = (steps[0] + steps[1]) / 2.0
                else:
                    interval = steps[step]
            elif rating == _GOOD:
                if step + 1 == len(steps):
                    state, step, interval = _REVIEW, None, self._interval(stability)
                else:
                    step += 1
                    interval = steps[step]
            else:
                state, step, interval = _REVIEW, None, self._interval(stability)
        else:
            assert stability is not None
            assert difficulty is not None
            stability = self._stability(stability, difficulty, rating, last_review, when)
            difficulty = self._next_difficulty(difficulty, rating)
            if rating == _AGAIN and len(self.relearning) > 0:
                state, step, interval = _RELEARNING, 0, self.relearning[0]
            else:
                interval = self._interval(stability)
        return (state, step, stability, difficulty, when + interval, when)

    def _stability(
        self,
        stability: float,
        difficulty: float,
        rating: int,
        last_review: datetime | None,
        when: datetime,
    ) -> float:
        """A reviewed card's stability: short-term the same day, else from recall."""
        if last_review is not None and (when - last_review).days < 1:
            return self._short_term_stability(stability, rating)
        return self._next_stability(
            difficulty, stability, self._retrievability(stability, last_review, when), rating
        )

    def _retrievability(
        self, stability: float, last_review: datetime | None, when: datetime
    ) -> float:
        if last_review is None:
            return 0
        elapsed_days = max(0, (when - last_review).days)
        retrievability: float = (1 + self.factor * elapsed_days / stability) ** self.decay
        return retrievability

    def _interval(self, stability: float) -> timedelta:
        days = round((stability / self.factor) * self.retention_term)
        return timedelta(days=min(max(days, 1), self.maximum_interval))

    def _short_term_stability(self, stability: float, rating: int) -> float:
        w = self.w
        increase: float = (math.e ** (w[17] * (rating - 3 + w[18]))) * (stability ** -w[19])
        if rating != _AGAIN:
            increase = max(increase, 1.0)
        return max(stability * increase, _STABILITY_MIN)

    def _next_difficulty(self, difficulty: float, rating: int) -> float:
        w = self.w
        delta = -(w[6] * (rating - 3))
        damped = difficulty + (10.0 - difficulty) * delta / 9.0
        return self._clamp_difficulty(w[7] * self.easy_difficulty + (1 - w[7]) * damped)

    def _next_stability(
        self, difficulty: float, stability: float, retrievability: float, rating: int
    ) -> float:
        w = self.w
        following: float
        if rating == _AGAIN:
            long_term: float = (
                w[11]
                * (difficulty ** -w[12])
                * (((stability + 1) ** (w[13])) - 1)
                * (math.e ** ((1 - retrievability) * w[14]))
            )
            following = min(long_term, stability / self.forget_short_term)
        else:
            hard_penalty = w[15] if rating == _HARD else 1
            easy_bonus = w[16] if rating == _EASY else 1
            following = stability * (
                1
                + self.recall_base
                * (11 - difficulty)
                * (stability ** -w[9])
                * ((math.e ** ((1 - retrievability) * w[10])) - 1)
                * hard_penalty
                * easy_bonus
            )
        return max(following, _STABILITY_MIN)

    @staticmethod
    def _clamp_difficulty(difficulty: float) -> float:
        return min(max(difficulty, _MIN_DIFFICULTY), _MAX_DIFFICULTY)


@cache
def _scheduler() -> Fsrs:
    # Fuzzing would randomise intervals: the contract wants the same history to give
    # the same answer, so it is off.
    return Fsrs(Scheduler(enable_fuzzing=False))


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
    card: CardValues = (
        current.state,
        current.step,
        current.stability,
        current.difficulty,
        current.due,
        current.last_review,
    )
    # A review dated before the card's last one would run time backwards; keep it at or
    # after (this happens only when importing old progress onto newer progress).
    when = max(at, current.last_review) if current.last_review else at
    card = _repeat(card, _AGAIN, studies - rated, when)
    card = _repeat(card, int(rating_for(confidence)), rated, when)
    return SchedulerState(*card)


def _repeat(card: CardValues, rating: int, times: int, when: datetime) -> CardValues:
    """``card`` after ``times`` reviews rated ``rating`` at ``when``.

    Each review is a function of the card alone (same rating, same instant, no fuzz), so the
    states it runs through repeat once one comes round again, and the rest of the run is known
    without computing it: a state a review leaves unchanged ends the run; a longer cycle (none
    seen, but floating point owes us nothing) is stepped through by the remainder.
    """
    scheduler = _scheduler()
    if times == 1:  # the common case: one answer
        return scheduler.review(card, rating, when)
    seen: dict[CardValues, int] = {}
    states: list[CardValues] = []
    for done in range(times):
        first = seen.get(card)
        if first is not None:
            period = done - first
            return states[first + (times - done) % period]
        seen[card] = done
        states.append(card)
        card = scheduler.review(card, rating, when)
    return card
