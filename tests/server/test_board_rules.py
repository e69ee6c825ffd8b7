"""The board's pure rules (contract §5, §9): columns, transitions, versions, leases and
auto-advance."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.board import rules

NOW = datetime(2025, 10, 2, 10, 0, 0, 500_000, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)

# Every (from, to) pair: within a column, back to any earlier one, forward one column only.
TRANSITIONS = {
    ("not_started", "not_started"): True,
    ("not_started", "in_progress"): True,
    ("not_started", "needs_review"): False,
    ("not_started", "mastered"): False,
    ("in_progress", "not_started"): True,
    ("in_progress", "in_progress"): True,
    ("in_progress", "needs_review"): True,
    ("in_progress", "mastered"): False,
    ("needs_review", "not_started"): True,
    ("needs_review", "in_progress"): True,
    ("needs_review", "needs_review"): True,
    ("needs_review", "mastered"): True,
    ("mastered", "not_started"): True,
    ("mastered", "in_progress"): True,
    ("mastered", "needs_review"): True,
    ("mastered", "mastered"): True,
}


def test_the_columns_in_order() -> None:
    assert [(c.status, c.name, c.color) for c in rules.COLUMNS] == [
        ("not_started", "Not Started", "#ef4444"),
        ("in_progress", "In Progress", "#f59e0b"),
        ("needs_review", "Needs Review", "#3b82f6"),
        ("mastered", "Mastered", "#22c55e"),
    ]
    assert rules.STATUSES == ("not_started", "in_progress", "needs_review", "mastered")


def test_the_table_covers_every_pair() -> None:
    assert set(TRANSITIONS) == {(a, b) for a in rules.STATUSES for b in rules.STATUSES}


@pytest.mark.parametrize(("pair", "allowed"), sorted(TRANSITIONS.items()))
def test_transition(pair: tuple[str, str], allowed: bool) -> None:
    assert rules.transition_allowed(*pair) is allowed


@pytest.mark.parametrize("value", ["", "done", "NOT_STARTED", "not started", " mastered"])
def test_unknown_statuses(value: str) -> None:
    assert not rules.is_status(value)


def test_known_statuses() -> None:
    assert all(rules.is_status(status) for status in rules.STATUSES)


def test_column_ids_are_stable_and_distinct() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    ids = {rules.column_id(room, s) for room in (first, second) for s in rules.STATUSES}
    assert len(ids) == 8
    assert rules.column_id(first, "mastered") == rules.column_id(first, "mastered")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (NOW + timedelta(seconds=3), NOW + timedelta(seconds=3)),  # the clock moved on: now
        (NOW, NOW + MICROSECOND),  # the same instant: one microsecond later
        (NOW - timedelta(seconds=3), NOW + MICROSECOND),  # the clock went back: still later
    ],
)
def test_next_version(now: datetime, expected: datetime) -> None:
    assert rules.next_version(NOW, now) == expected


def test_versions_strictly_increase_whatever_the_clock_says() -> None:
    version = NOW
    clock = [NOW, NOW, NOW - timedelta(hours=1), NOW + MICROSECOND, NOW + timedelta(seconds=1)]
    for now in clock * 3:
        following = rules.next_version(version, now)
        assert following > version
        assert following >= now
        version = following


@pytest.mark.parametrize(
    ("expires_at", "held"),
    [
        (None, False),
        (NOW + timedelta(minutes=5), True),
        (NOW + MICROSECOND, True),
        (NOW, False),  # the lease ends at its expiry instant
        (NOW - timedelta(seconds=1), False),
    ],
)
def test_lock_held(expires_at: datetime | None, held: bool) -> None:
    assert rules.lock_held(expires_at, NOW) is held


@given(
    status=st.sampled_from(rules.STATUSES),
    words=st.integers(0, 50),
    data=st.data(),
)
def test_auto_advance_moves_forward_one_column_at_a_time_never_backward(
    status: str, words: int, data: st.DataObject
) -> None:
    """Contract §9: not_started with a started word goes to in_progress; in_progress
    (also just reached) with every word mastered goes on to needs_review; nothing else."""
    started = data.draw(st.integers(0, words))
    mastered = data.draw(st.integers(0, started))
    moves = rules.advances(status, started=started, words=words, mastered=mastered)
    path = [status, *moves]
    for here, there in itertools.pairwise(path):
        assert rules.STATUSES.index(there) == rules.STATUSES.index(here) + 1
    assert set(moves) <= {"in_progress", "needs_review"}
    every = words >= 1 and mastered == words
    expected = []
    if status == "not_started" and started >= 1:
        expected.append("in_progress")
    if (status == "in_progress" or expected) and every:
        expected.append("needs_review")
    assert moves == expected
