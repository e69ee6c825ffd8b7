"""The class overview's model (web/js/overview-model.js), run in Chromium with no DOM and no
server: cells from the board's cards, the board channel's events in seq order, which events
change the server's sums, and each cell's colour band (contract §9)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser

from tests.web.conftest import ConsoleErrors
from tests.web.pages import Module, open_module

pytestmark = pytest.mark.needs_browser


def progress(words: int, started: int, mastered: int) -> dict[str, Any]:
    return {
        "words": words,
        "started": started,
        "mastered": mastered,
        "studies": started,
        "correct": started,
        "last_studied_at": "2025-06-01T11:00:00.000000Z" if started else None,
    }


def card(card_id: str, student: str | None, lesson: str, prog: Any) -> dict[str, Any]:
    return {
        "id": card_id,
        "student_id": student,
        "lesson_id": lesson,
        "status": "not_started",
        "position": 0,
        "progress": prog,
    }


BOARD = {
    "seq": 5,
    "columns": [
        {
            "status_value": "not_started",
            "cards": [
                card("c1", "s1", "l1", progress(3, 0, 0)),
                card("c2", "s2", "l1", None),  # no learner yet
                card("t1", None, "l1", None),  # the lesson's template card
            ],
        }
    ],
}


def frame(seq: int, event: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "event", "channel": "board:c", "seq": seq, "event": event, "data": data}


@pytest.fixture
async def model(
    browser: Browser, address: str, console_errors: ConsoleErrors
) -> AsyncIterator[Module]:
    module = await open_module(browser, address, console_errors, "/static/js/overview-model.js")
    yield module
    assert console_errors == []


async def test_events_change_cells_and_ask_for_the_sums(model: Module) -> None:
    moved = {**card("c1", "s1", "l1", progress(3, 3, 3)), "status": "needs_review"}
    frames = [
        frame(5, "card.progress", {"id": "c1", "progress": progress(3, 1, 0)}),  # already read
        frame(6, "card.progress", {"id": "c1", "progress": progress(3, 3, 3)}),
        frame(7, "card.moved", {"card": moved, "from_status": "in_progress", "from_position": 0}),
        frame(8, "card.created", card("c3", "s1", "l2", progress(2, 0, 0))),
        frame(9, "card.deleted", {"id": "c2", "status": "not_started", "position": 1}),
        frame(10, "student.updated", {"id": "s1", "name": "Ann"}),
        frame(11, "card.locked", {"id": "c1"}),
    ]
    result = await model.run(
        """(m, arg) => {
          const model = new m.OverviewModel();
          model.loadBoard(arg.board);
          const template = model.cellById("t1");
          const results = arg.frames.map((frame) => {
            const r = model.apply(frame);
            return r && { cell: r.cell?.id ?? null, sums: r.sums, reread: r.reread };
          });
          const c1 = model.cell("s1", "l1");
          return { template, results, c1: [c1.status, m.shade(c1), m.cellText(c1)],
                   s2: model.cell("s2", "l1"), c3: m.cellText(model.cell("s1", "l2")), seq: model.seq };
        }""",
        {"board": BOARD, "frames": frames},
    )
    assert result["template"] is None  # a template card is no student's cell
    assert result["results"] == [
        None,
        {"cell": "c1", "sums": True, "reread": False},
        {"cell": "c1", "sums": False, "reread": False},
        {"cell": "c3", "sums": True, "reread": False},
        {"cell": None, "sums": True, "reread": False},
        {"cell": None, "sums": True, "reread": True},
        None,
    ]
    assert result["c1"] == ["needs_review", "all", "3/3"]
    assert result["s2"] is None
    assert result["c3"] == "0/2"
    assert result["seq"] == 11


async def test_colour_bands(model: Module) -> None:
    cells = [
        None,
        {"progress": None},
        {"progress": progress(4, 0, 0)},
        {"progress": progress(4, 2, 0)},
        {"progress": progress(4, 3, 1)},
        {"progress": progress(4, 3, 2)},
        {"progress": progress(4, 4, 4)},
        {"progress": progress(0, 0, 0)},  # a lesson with no words
    ]
    result = await model.run(
        "(m, arg) => arg.cells.map((cell) => [m.shade(cell), m.cellText(cell)])", {"cells": cells}
    )
    assert result == [
        ["none", ""],
        ["waiting", "\N{EN DASH}"],
        ["unstarted", "0/4"],
        ["started", "0/4"],
        ["some", "1/4"],
        ["most", "2/4"],
        ["all", "4/4"],
        ["unstarted", "0/0"],
    ]
