"""The scheduling maths and the transition rules of learner progress (contract §6). Pure.

No database, no clock: every instant is given. ``scheduling.review`` turns a rise in the
counts into FSRS reviews (Δs-Δc *Again*, then Δc rated from the confidence), and
``rules.apply_update`` / ``rules.merge_import`` decide what a PUT or an import does.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from fsrs import Card, Rating, Scheduler

from server.progress import scheduling
from server.progress.rules import (
    Changed,
    Created,
    Outcome,
    Stale,
    Unchanged,
    Update,
    apply_update,
    merge_import,
    schedule_of,
)
from server.progress.scheduling import SchedulerState, rating_for, review
from storage.repositories.progress import ProgressRow

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
EASY, GOOD, HARD = 5, 4, 1  # confidences that map to each rating


def _answer(
    state: SchedulerState, *, correct: bool, confidence: int, at: datetime
) -> SchedulerState:
    return review(state, studies=1, correct=int(correct), confidence=confidence, at=at)


def _interval(state: SchedulerState) -> timedelta:
    assert state.last_review is not None
    return state.due - state.last_review


def _reviewed(times: int) -> SchedulerState:
    """A word answered right (Good) ``times`` times, each time when it fell due."""
    state = SchedulerState.new(T0)
    for _ in range(times):
        state = _answer(state, correct=True, confidence=GOOD, at=state.due)
    return state


def _record(outcome: Outcome) -> ProgressRow:
    assert not isinstance(outcome, Stale), outcome
    return outcome.record


# --- the confidence -> rating map ------------------------------------------------------------


@pytest.mark.parametrize(
    ("confidence", "rating"),
    [
        (5, Rating.Easy),
        (4, Rating.Good),
        (3, Rating.Good),
        (2, Rating.Hard),
        (1, Rating.Hard),
        (0, Rating.Hard),
    ],
)
def test_confidence_maps_to_a_rating(confidence: int, rating: Rating) -> None:
    assert rating_for(confidence) == rating


# --- nextReview ordering -----------------------------------------------------------------------


def test_a_new_word_is_due_at_once() -> None:
    state = SchedulerState.new(T0)
    assert state.due == T0
    assert state.last_review is None


def test_a_correct_answer_pushes_the_review_further_out_than_a_wrong_one() -> None:
    for start in (SchedulerState.new(T0), _reviewed(4)):
        at = start.due
        right = _answer(start, correct=True, confidence=GOOD, at=at)
        wrong = _answer(start, correct=False, confidence=GOOD, at=at)
        assert right.due > wrong.due > at


@pytest.mark.parametrize("history", [0, 1, 3, 5])
def test_easy_beats_good_beats_hard_beats_again_from_the_same_state(history: int) -> None:
    start = _reviewed(history)
    at = start.due + timedelta(hours=1)
    again = _answer(start, correct=False, confidence=EASY, at=at)
    hard = _answer(start, correct=True, confidence=HARD, at=at)
    good = _answer(start, correct=True, confidence=GOOD, at=at)
    easy = _answer(start, correct=True, confidence=EASY, at=at)
    assert easy.due > good.due > hard.due > again.due > at


def test_repeated_correct_answers_grow_the_interval() -> None:
    state = SchedulerState.new(T0)
    intervals = []
    for _ in range(7):
        state = _answer(state, correct=True, confidence=GOOD, at=state.due)
        intervals.append(_interval(state))
    assert all(a < b for a, b in pairwise(intervals)), intervals
    assert intervals[-1] > timedelta(days=30)


def test_a_wrong_answer_after_several_correct_brings_the_word_back_soon() -> None:
    learnt = _reviewed(6)
    assert _interval(learnt) > timedelta(days=14)
    lapsed = _answer(learnt, correct=False, confidence=GOOD, at=learnt.due)
    assert _interval(lapsed) < timedelta(days=1)
    assert lapsed.due < learnt.due + _interval(learnt)
    # Answering right again from there is a fresh start, not the old long interval.
    relearnt = _answer(lapsed, correct=True, confidence=GOOD, at=lapsed.due)
    assert _interval(relearnt) < _interval(learnt)


def test_wrong_reviews_come_first_then_the_rated_ones() -> None:
    """A rise of 3 studies and 2 correct is Again, then two rated reviews, all at ``at``."""
    start = _reviewed(3)
    at = start.due
    at_once = review(start, studies=3, correct=2, confidence=GOOD, at=at)
    one_by_one = _answer(start, correct=False, confidence=GOOD, at=at)
    one_by_one = _answer(one_by_one, correct=True, confidence=GOOD, at=at)
    one_by_one = _answer(one_by_one, correct=True, confidence=GOOD, at=at)
    assert at_once == one_by_one
    wrong_last = _answer(start, correct=True, confidence=GOOD, at=at)
    wrong_last = _answer(wrong_last, correct=True, confidence=GOOD, at=at)
    wrong_last = _answer(wrong_last, correct=False, confidence=GOOD, at=at)
    assert at_once.due > wrong_last.due


def test_no_new_studies_leave_the_schedule_alone() -> None:
    start = _reviewed(2)
    assert review(start, studies=0, correct=0, confidence=EASY, at=start.due) == start


def test_more_new_correct_answers_than_studies_count_as_studies() -> None:
    start = _reviewed(1)
    capped = review(start, studies=2, correct=5, confidence=GOOD, at=start.due)
    assert capped == review(start, studies=2, correct=2, confidence=GOOD, at=start.due)


def test_the_same_history_gives_the_same_next_review() -> None:
    def history() -> SchedulerState:
        state = SchedulerState.new(T0)
        for days, studies, correct, confidence in [(0, 3, 2, 4), (2, 1, 1, 5), (9, 2, 1, 3)]:
            state = review(
                state,
                studies=studies,
                correct=correct,
                confidence=confidence,
                at=T0 + timedelta(days=days),
            )
        return state

    first = history()
    # Long review intervals are where fuzzing would scatter the answers: there are none.
    assert {history() for _ in range(25)} == {first}
    learnt = _reviewed(6)
    assert {_reviewed(6).due for _ in range(25)} == {learnt.due}


def _replayed(
    state: SchedulerState, *, studies: int, correct: int, confidence: int, at: datetime
) -> SchedulerState:
    """The contract's words taken literally: one review at a time, Again ones first."""
    rated = min(correct, studies)
    for _ in range(studies - rated):
        state = review(state, studies=1, correct=0, confidence=confidence, at=at)
    for _ in range(rated):
        state = review(state, studies=1, correct=1, confidence=confidence, at=at)
    return state


@pytest.mark.parametrize("confidence", [EASY, GOOD, HARD])
@pytest.mark.parametrize("history", [0, 1, 4])
@pytest.mark.parametrize(("studies", "correct"), [(7, 3), (1_000, 400), (1_500, 1_500)])
def test_many_reviews_at_once_give_what_replaying_them_one_by_one_gives(
    history: int, confidence: int, studies: int, correct: int
) -> None:
    start = _reviewed(history)
    at = start.due + timedelta(days=3)
    assert review(
        start, studies=studies, correct=correct, confidence=confidence, at=at
    ) == _replayed(start, studies=studies, correct=correct, confidence=confidence, at=at)


def test_a_billion_new_studies_cost_a_bounded_number_of_reviews(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = _reviewed(2)
    at = start.due
    # Literally, 1,000 Again reviews then 1,000 Good ones already reach states that a further
    # review leaves as they are, so a billion of each ends in the same state.
    settled = _replayed(start, studies=2_000, correct=1_000, confidence=GOOD, at=at)
    assert settled == _replayed(start, studies=2_002, correct=1_001, confidence=GOOD, at=at)
    calls = 0
    one_review = scheduling.Fsrs.review

    def counted(self: scheduling.Fsrs, *args: Any) -> Any:
        nonlocal calls
        calls += 1
        return one_review(self, *args)

    monkeypatch.setattr(scheduling.Fsrs, "review", counted)
    billion = 1_000_000_000
    assert review(start, studies=2 * billion, correct=billion, confidence=GOOD, at=at) == settled
    assert calls <= 2_000


def test_reviews_that_cycle_are_stepped_through_by_the_remainder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No fsrs state has been seen to cycle, but the shortcut must hold if one did: a
    # scheduler whose reviews go round three stabilities.
    class Cycling:
        def review(
            self, card: scheduling.CardValues, rating: int, when: datetime
        ) -> scheduling.CardValues:
            following = {None: 1.0, 1.0: 2.0, 2.0: 3.0, 3.0: 1.0}[card[2]]
            return (card[0], card[1], following, 5.0, card[4], card[5])

    monkeypatch.setattr(scheduling, "_scheduler", Cycling)
    start = SchedulerState.new(T0)
    for studies in [1, 2, 3, 4, 5, 6, 7, 1_000_000_001]:
        done = review(start, studies=studies, correct=0, confidence=GOOD, at=T0)
        assert done.stability == [1.0, 2.0, 3.0][(studies - 1) % 3]


def _card_values(card: Card) -> scheduling.CardValues:
    return (
        int(card.state),
        card.step,
        card.stability,
        card.difficulty,
        card.due,
        card.last_review,
    )


@pytest.mark.parametrize("seed", range(4))
def test_each_review_is_exactly_what_the_fsrs_package_computes(seed: int) -> None:
    """Our review step is fsrs's ``review_card`` arithmetic on plain values: every state,
    rating and gap (same day, minutes, days, months) gives the package's card to the bit."""
    package = Scheduler(enable_fuzzing=False)
    ours = scheduling.Fsrs(package)
    rng = random.Random(seed)
    gaps = [
        lambda: timedelta(0),
        lambda: timedelta(minutes=rng.randrange(1, 600)),
        lambda: timedelta(seconds=rng.randrange(1, 200_000)),
        lambda: timedelta(days=rng.randrange(1, 400)),
    ]
    reviews = 0
    states_seen: set[int] = set()
    for _ in range(300):
        at = T0 + timedelta(seconds=rng.randrange(10**7))
        card = Card(card_id=0, due=at)
        values = _card_values(card)
        for _ in range(rng.randrange(1, 25)):
            at += rng.choice(gaps)()
            rating = rng.choice(list(Rating))
            card, _ = package.review_card(card, rating, review_datetime=at)
            values = ours.review(values, int(rating), at)
            assert values == _card_values(card)
            states_seen.add(values[0])
            reviews += 1
    assert reviews > 2_000
    assert states_seen == {1, 2, 3}  # Learning, Review and Relearning were all exercised


def test_the_scheduler_refuses_fuzzing() -> None:
    with pytest.raises(ValueError, match="same history"):
        scheduling.Fsrs(Scheduler(enable_fuzzing=True))


# --- apply_update: what a PUT does ------------------------------------------------------------


def _created(update: Update, at: datetime = T0) -> ProgressRow:
    outcome = apply_update(None, update, at)
    assert isinstance(outcome, Created)
    return outcome.record


def test_an_update_of_a_missing_word_creates_it() -> None:
    record = _created(Update("hund", 3, 2, 4))
    assert (record.word_id, record.study_count, record.correct_count, record.confidence) == (
        "hund",
        3,
        2,
        4,
    )
    assert record.mastered is False
    assert record.created_at == record.updated_at == record.last_studied_at == T0
    expected = review(SchedulerState.new(T0), studies=3, correct=2, confidence=4, at=T0)
    assert schedule_of(record) == expected
    assert record.next_review == expected.due > T0


def test_a_new_word_with_no_studies_is_due_at_once() -> None:
    record = _created(Update("hund", 0, 0, 0, mastered=True))
    assert record.mastered is True
    assert record.last_studied_at is None
    assert record.next_review == T0


def test_higher_counts_change_the_record_and_schedule_new_reviews() -> None:
    first = _created(Update("hund", 1, 1, 3))
    later = T0 + timedelta(days=2)
    outcome = apply_update(first, Update("hund", 3, 2, 5), later)
    assert isinstance(outcome, Changed)
    record = outcome.record
    assert (record.study_count, record.correct_count, record.confidence) == (3, 2, 5)
    assert record.created_at == T0
    assert record.updated_at == record.last_studied_at == later
    assert schedule_of(record) == review(
        schedule_of(first), studies=2, correct=1, confidence=5, at=later
    )


def test_an_identical_update_is_unchanged_even_later() -> None:
    first = _created(Update("hund", 2, 1, 3, mastered=True))
    for update in (Update("hund", 2, 1, 3, mastered=True), Update("hund", 2, 1, 3)):
        outcome = apply_update(first, update, T0 + timedelta(hours=5))
        assert outcome == Unchanged(first)


def test_left_out_mastered_keeps_the_stored_value() -> None:
    first = _created(Update("hund", 2, 1, 3, mastered=True))
    record = _record(apply_update(first, Update("hund", 3, 2, 3), T0 + timedelta(hours=1)))
    assert record.mastered is True
    unmastered = _record(apply_update(record, Update("hund", 3, 2, 3, mastered=False), T0))
    assert unmastered.mastered is False


def test_a_confidence_or_mastered_change_alone_adds_no_review() -> None:
    first = _created(Update("hund", 2, 2, 3))
    later = T0 + timedelta(hours=3)
    for update in (Update("hund", 2, 2, 5), Update("hund", 2, 2, 3, mastered=True)):
        outcome = apply_update(first, update, later)
        assert isinstance(outcome, Changed)
        assert schedule_of(outcome.record) == schedule_of(first)
        assert outcome.record.next_review == first.next_review
        assert outcome.record.last_studied_at == T0
        assert outcome.record.updated_at == later


@pytest.mark.parametrize(("study", "correct"), [(4, 3), (5, 2), (9, 1), (0, 0)])
def test_lower_counts_are_a_stale_device(study: int, correct: int) -> None:
    stored = _created(Update("hund", 5, 3, 4))
    assert apply_update(stored, Update("hund", study, correct, 4), T0) == Stale(stored)


# --- merge_import: what an import does ---------------------------------------------------------


def test_an_imported_new_word_is_scheduled_at_its_last_study() -> None:
    studied = T0 - timedelta(days=400)
    outcome = merge_import(None, Update("hund", 6, 5, 5), studied, T0)
    assert isinstance(outcome, Created)
    record = outcome.record
    assert (record.study_count, record.correct_count, record.confidence) == (6, 5, 5)
    assert record.mastered is False
    assert record.last_studied_at == studied
    assert record.created_at == record.updated_at == T0
    assert schedule_of(record) == review(
        SchedulerState.new(T0), studies=6, correct=5, confidence=5, at=studied
    )
    # Long unstudied: due now, though the same answers given today would not be.
    assert record.next_review <= T0
    fresh = _record(merge_import(None, Update("hund", 6, 5, 5), None, T0))
    assert fresh.last_studied_at == T0
    assert fresh.next_review > T0


def _stored(study: int, correct: int, confidence: int, *, mastered: bool = False) -> ProgressRow:
    return _created(Update("hund", study, correct, confidence, mastered=mastered))


def test_import_larger_counts_win_with_the_confidence_of_the_side_that_studied_more() -> None:
    stored = _stored(5, 3, 2)
    now = T0 + timedelta(days=1)
    more = _record(merge_import(stored, Update("hund", 8, 2, 5), None, now))
    assert (more.study_count, more.correct_count, more.confidence) == (8, 3, 5)
    assert more.created_at == T0
    assert schedule_of(more) == review(
        schedule_of(stored), studies=3, correct=0, confidence=5, at=now
    )
    fewer = merge_import(stored, Update("hund", 4, 4, 5), None, now)
    assert isinstance(fewer, Changed)
    assert (fewer.record.study_count, fewer.record.correct_count) == (5, 4)
    assert fewer.record.confidence == 2
    equal = merge_import(stored, Update("hund", 5, 3, 5), None, now)
    assert equal == Unchanged(stored)


def test_import_mastered_if_either_side_says_so() -> None:
    stored = _stored(5, 3, 2)
    flagged = merge_import(stored, Update("hund", 1, 1, 0, mastered=True), None, T0)
    assert isinstance(flagged, Changed)
    assert flagged.record.mastered is True
    assert schedule_of(flagged.record) == schedule_of(stored)
    kept = merge_import(_stored(5, 3, 2, mastered=True), Update("hund", 9, 3, 2, False), None, T0)
    assert _record(kept).mastered is True


def test_import_of_older_data_changes_nothing() -> None:
    stored = _stored(5, 3, 2, mastered=True)
    for imported in (Update("hund", 5, 3, 2), Update("hund", 1, 0, 5, mastered=False)):
        assert merge_import(stored, imported, T0 - timedelta(days=30), T0) == Unchanged(stored)


def test_importing_the_same_data_twice_changes_nothing_the_second_time() -> None:
    studied = T0 - timedelta(days=40)
    imported = Update("hund", 7, 4, 3, mastered=False)
    first = _record(merge_import(None, imported, studied, T0))
    again = merge_import(first, imported, studied, T0 + timedelta(hours=2))
    assert again == Unchanged(first)


def test_import_reviews_never_run_before_the_stored_last_review() -> None:
    stored = _stored(2, 2, 4)
    raised = _record(merge_import(stored, Update("hund", 4, 4, 4), T0 - timedelta(days=90), T0))
    assert raised.last_studied_at == T0
    assert stored.fsrs_last_review is not None
    assert raised.fsrs_last_review is not None
    assert raised.fsrs_last_review >= stored.fsrs_last_review
