"""The board's model (web/js/board-model.js), run in Chromium with no DOM and no server: events
applied in seq order, moves shifting the other cards as the server does (contract §5),
creations and deletions under a filter, and locks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser

from server.board import rules
from tests.web.conftest import ConsoleErrors
from tests.web.pages import Module, open_module

pytestmark = pytest.mark.needs_browser

STATUSES = list(rules.STATUSES)


def card(card_id: str, status: str, position: int, student: str = "s1") -> dict[str, Any]:
    """A board card, the fields the model reads."""
    return {
        "id": card_id,
        "status": status,
        "position": position,
        "student_id": student,
        "lesson_category": "Numbers",
        "updated_at": "2025-06-01T10:00:00.000000Z",
        "locked_by": None,
        "locked_by_name": None,
        "locked_at": None,
        "lock_expires_at": None,
    }


# Columns as GET /progress-board answers them: a1..a4 in not_started, b1..b2 in in_progress.
CARDS = [
    *(card(f"a{n}", "not_started", n - 1) for n in range(1, 5)),
    *(card(f"b{n}", "in_progress", n - 1) for n in range(1, 3)),
]


def board(cards: list[dict[str, Any]], seq: int = 10) -> dict[str, Any]:
    return {
        "classroom_id": "c1",
        "seq": seq,
        "filters": {"students": [{"id": "s1", "name": "Ada"}], "categories": ["Numbers"]},
        "columns": [
            {
                "status_value": status,
                "name": status,
                "color": None,
                "cards": [item for item in cards if item["status"] == status],
            }
            for status in STATUSES
        ],
    }


def event(seq: int, name: str, data: dict[str, Any], actor: str = "Grace") -> dict[str, Any]:
    return {
        "type": "event",
        "channel": "board:c1",
        "seq": seq,
        "event": name,
        "data": data,
        "actor": {"id": "t1", "name": actor},
    }


def moved(seq: int, item: dict[str, Any], status: str, position: int) -> dict[str, Any]:
    to = {**item, "status": status, "position": position}
    data = {"card": to, "from_status": item["status"], "from_position": item["position"]}
    return event(seq, "card.moved", data)


# Load `arg.board` with `arg.query`, apply `arg.frames`; the results and each column's
# cards as "id@position", in server order.
APPLY = """(m, arg) => {
  const model = new m.BoardModel();
  model.load(arg.board, arg.query ?? m.emptyQuery());
  const results = (arg.frames ?? []).map((frame) => model.apply(frame));
  const columns = Object.fromEntries(
    m.STATUSES.map((status) => [status, model.cardsIn(status).map((c) => `${c.id}@${c.position}`)]),
  );
  return { results, columns, seq: model.seq, cards: Object.fromEntries(model.cards) };
}"""


@pytest.fixture
async def model(
    browser: Browser, address: str, console_errors: ConsoleErrors
) -> AsyncIterator[Module]:
    module = await open_module(browser, address, console_errors, "/static/js/board-model.js")
    yield module
    assert console_errors == []


async def apply(model: Module, frames: list[dict[str, Any]], **arg: Any) -> Any:
    return await model.run(APPLY, {"board": board(CARDS), "frames": frames, **arg})


async def test_a_move_down_a_column_shifts_the_cards_between_up(model: Module) -> None:
    result = await apply(model, [moved(11, CARDS[0], "not_started", 2)])
    assert result["results"] == [{"id": "a1", "kind": "moved"}]
    assert result["columns"]["not_started"] == ["a2@0", "a3@1", "a1@2", "a4@3"]
    assert result["columns"]["in_progress"] == ["b1@0", "b2@1"]
    assert result["seq"] == 11


async def test_a_move_up_a_column_shifts_the_cards_between_down(model: Module) -> None:
    result = await apply(model, [moved(11, CARDS[3], "not_started", 1)])
    assert result["columns"]["not_started"] == ["a1@0", "a4@1", "a2@2", "a3@3"]


async def test_a_move_across_columns_closes_one_gap_and_opens_another(model: Module) -> None:
    result = await apply(model, [moved(11, CARDS[1], "in_progress", 1)])
    assert result["columns"]["not_started"] == ["a1@0", "a3@1", "a4@2"]
    assert result["columns"]["in_progress"] == ["b1@0", "a2@1", "b2@2"]


async def test_events_apply_once_in_seq_order(model: Module) -> None:
    first = moved(11, CARDS[0], "in_progress", 0)
    result = await apply(
        model,
        [
            moved(10, CARDS[3], "mastered", 0),  # the REST read at seq 10 reflects it
            first,
            first,  # a duplicate
            event(12, "card.deleted", {"id": "b2", "status": "in_progress", "position": 2}),
        ],
    )
    assert result["results"] == [
        None,
        {"id": "a1", "kind": "moved"},
        None,
        {"id": "b2", "kind": "deleted"},
    ]
    assert result["columns"]["not_started"] == ["a2@0", "a3@1", "a4@2"]
    assert result["columns"]["in_progress"] == ["a1@0", "b1@1"]
    assert result["columns"]["mastered"] == []
    assert result["seq"] == 12


async def test_a_deletion_closes_its_gap(model: Module) -> None:
    deletion = {"id": "a2", "status": "not_started", "position": 1}
    result = await apply(model, [event(11, "card.deleted", deletion)])
    assert result["results"] == [{"id": "a2", "kind": "deleted"}]
    assert result["columns"]["not_started"] == ["a1@0", "a3@1", "a4@2"]
    assert result["columns"]["in_progress"] == ["b1@0", "b2@1"]


async def test_a_creation_shows_only_if_the_filters_match(model: Module) -> None:
    mine = card("c1", "mastered", 0)
    other = card("c2", "mastered", 1, student="s2")
    query = {"student": "s1", "category": "", "status": ""}
    result = await apply(
        model,
        [event(11, "card.created", mine), event(12, "card.created", other)],
        query=query,
    )
    assert result["results"] == [{"id": "c1", "kind": "created"}, {"id": "c2", "kind": "created"}]
    assert result["columns"]["mastered"] == ["c1@0"]
    assert result["seq"] == 12


async def test_a_card_moved_out_of_the_filter_leaves_the_view(model: Module) -> None:
    query = {"student": "", "category": "", "status": "not_started"}
    filtered = board([item for item in CARDS if item["status"] == "not_started"])
    result = await apply(
        model, [moved(11, CARDS[0], "in_progress", 0)], query=query, board=filtered
    )
    assert result["columns"]["not_started"] == ["a2@0", "a3@1", "a4@2"]
    assert result["columns"]["in_progress"] == []


async def test_locks_show_and_clear(model: Module) -> None:
    lock = {
        "id": "a1",
        "locked_by": "t2",
        "locked_by_name": "Hedy",
        "locked_at": "2025-06-01T10:00:00.000000Z",
        "expires_at": "2025-06-01T10:05:00.000000Z",
    }
    result = await model.run(
        """(m, arg) => {
          const model = new m.BoardModel();
          model.load(arg.board, m.emptyQuery());
          const locked = model.apply(arg.locked);
          const card = () => model.cards.get("a1");
          const during = Date.parse("2025-06-01T10:01:00Z");
          const after = Date.parse("2025-06-01T10:06:00Z");
          const held = { by: card().locked_by_name, until: card().lock_expires_at,
                         forGrace: model.lockedByOther(card(), "t1", during),
                         forHedy: model.lockedByOther(card(), "t2", during),
                         expired: model.lockedByOther(card(), "t1", after) };
          const unlocked = model.apply(arg.unlocked);
          return { locked, held, unlocked, free: model.lockedByOther(card(), "t1", during),
                   by: card().locked_by, position: card().position };
        }""",
        {
            "board": board(CARDS),
            "locked": event(11, "card.locked", lock, actor="Hedy"),
            "unlocked": event(12, "card.unlocked", {"id": "a1", "reason": "released"}),
        },
    )
    assert result["locked"] == {"id": "a1", "kind": "locked"}
    assert result["held"] == {
        "by": "Hedy",
        "until": "2025-06-01T10:05:00.000000Z",
        "forGrace": True,
        "forHedy": False,
        "expired": False,
    }
    assert result["unlocked"] == {"id": "a1", "kind": "unlocked", "reason": "released"}
    assert (result["free"], result["by"], result["position"]) == (False, None, 0)


async def test_statuses_names_and_transitions_are_the_servers(model: Module) -> None:
    """The UI's copy of the columns and of which moves are allowed is the server's
    (server/board/rules.py, the one owner): the same statuses in order, the same names,
    and ``canMove`` agreeing with ``transition_allowed`` on every pair."""
    copy = await model.run(
        """(m) => ({
          statuses: m.STATUSES,
          names: m.STATUS_NAMES,
          moves: m.STATUSES.flatMap((a) => m.STATUSES.map((b) => [a, b, m.canMove(a, b)])),
        })"""
    )
    assert copy["statuses"] == list(rules.STATUSES)
    assert copy["names"] == {column.status: column.name for column in rules.COLUMNS}
    assert copy["moves"] == [
        [a, b, rules.transition_allowed(a, b)] for a in rules.STATUSES for b in rules.STATUSES
    ]


PROGRESS = {
    "words": 3,
    "started": 2,
    "mastered": 1,
    "studies": 5,
    "correct": 4,
    "last_studied_at": "2025-06-01T11:00:00.000000Z",
}


async def test_a_learners_progress_updates_the_card_and_nothing_else(model: Module) -> None:
    """card.progress (contract §9): the card's `progress` changes, its version and place
    don't; an auto-advance is the card.moved that follows, by Tandem."""
    advanced = {**CARDS[0], "status": "in_progress", "position": 2, "progress": PROGRESS}
    frames = [
        event(11, "card.progress", {"id": "a1", "progress": PROGRESS}, actor="Ana"),
        {
            **event(
                12,
                "card.moved",
                {"card": advanced, "from_status": "not_started", "from_position": 0},
            ),
            "actor": {"id": None, "name": "Tandem"},
        },
        event(13, "card.progress", {"id": "zz", "progress": PROGRESS}),  # not on this board
    ]
    result = await apply(model, frames)
    assert result["results"] == [
        {"id": "a1", "kind": "progress"},
        {"id": "a1", "kind": "moved"},
        {"id": "zz", "kind": "progress"},
    ]
    a1 = result["cards"]["a1"]
    assert (a1["progress"], a1["updated_at"]) == (PROGRESS, CARDS[0]["updated_at"])
    assert result["columns"]["in_progress"] == ["b1@0", "b2@1", "a1@2"]
    assert result["columns"]["not_started"] == ["a2@0", "a3@1", "a4@2"]
    assert "zz" not in result["cards"]


async def test_the_mastery_bar_reads_the_cards_progress(model: Module) -> None:
    result = await model.run(
        "(m, arg) => [m.mastery(null), m.mastery(arg.progress), m.mastery({ ...arg.progress, words: 0, mastered: 0 })]",
        {"progress": PROGRESS},
    )
    assert result[0] is None  # a template card, or a student with no learner
    assert result[1] == {
        "share": 1 / 3,
        "words": 3,
        "mastered": 1,
        "started": 2,
        "lastStudiedAt": PROGRESS["last_studied_at"],
    }
    assert result[2]["share"] == 0
