"""A large board (issue 18): hundreds of cards, most of them off screen. The keyboard drag
still works and is announced on a card far down a column, and other teachers' moves land
wherever the card was, on screen or not. (How fast is measured by bench/board_browser.py.)"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.board_helpers import cards_by_id, co_teacher, create_card, get_board, move, room
from tests.web.conftest import ConsoleErrors
from tests.web.pages import new_page
from tests.web.test_board import LIFTED, LIVE_MS, card_in, open_board, teacher

pytestmark = pytest.mark.needs_browser

STUDENTS = tuple(f"Student {number:02}" for number in range(12))
LESSONS = tuple(
    (f"Lesson {number:02}", ("Maths", "Reading", "Science")[number % 3]) for number in range(25)
)


async def count_of(page: Page, status: str) -> str | None:
    return await page.get_by_test_id(f"column-count-{status}").text_content()


async def test_a_large_board_moves_by_keyboard_and_shows_remote_moves(
    browser: Browser, address: str, api: httpx.AsyncClient, console_errors: ConsoleErrors
) -> None:
    grace, grace_login = await teacher(api, "Grace Hopper")
    place = await room(api, teacher=grace, students=STUDENTS, lessons=LESSONS)
    for lesson in place.lessons:
        for student in place.students:
            await create_card(api, grace, lesson["id"], student["id"])
    hedy = await co_teacher(api, place, "Hedy Lamarr")
    total = len(STUDENTS) * len(LESSONS)
    column = (await get_board(api, grace, classroom_id=place.id))["columns"][0]["cards"]
    assert len(column) == total

    page = await new_page(browser, address, console_errors, login=grace_login)
    await open_board(page, address, place.id, teachers=1)
    await expect(page.locator(".card")).to_have_count(total)
    await expect(page.get_by_test_id("column-count-not_started")).to_have_text(str(total))

    # By keyboard to the last card of Not Started, far below the fold, and across.
    first = page.get_by_test_id(f"card-{column[0]['id']}")
    await first.focus()
    await page.keyboard.press("End")
    last = column[-1]
    mine = page.get_by_test_id(f"card-{last['id']}")
    await expect(mine).to_be_focused()
    await expect(mine).to_be_in_viewport()
    label = f"{last['lesson_title']}, {last['student_name']}, {last['lesson_category']}"
    await expect(mine).to_have_attribute("aria-label", label)
    await page.keyboard.press("Space")
    await expect(mine).to_have_class(LIFTED)
    announcer = page.get_by_test_id("announcer")
    await expect(announcer).to_have_text(
        re.compile(rf"^Picked up .*Not Started, position {total} of {total}\.")
    )
    await page.keyboard.press("ArrowRight")
    await expect(card_in(page, "in_progress", last["id"])).to_be_visible()
    await expect(announcer).to_have_text("In Progress, position 1 of 1.")
    async with page.expect_response(re.compile(r"/move$")) as answer:
        await page.keyboard.press("Space")
    assert (await answer.value).status == 200
    await expect(mine).not_to_have_class(LIFTED)
    await expect(mine).to_be_focused()
    await expect(announcer).to_have_text(
        f"Dropped {last['lesson_title']} in In Progress, position 1 of 1."
    )
    stored = cards_by_id(await get_board(api, grace, classroom_id=place.id))
    assert stored[last["id"]]["status"] == "in_progress"

    # Another teacher moves a card from the top (on screen) and one from the middle of the
    # column (off screen): both land on Grace's board, in order, and the counts follow.
    top, middle = column[0], column[total // 2]
    for position, card in enumerate((middle, top)):
        current = stored[card["id"]]
        assert (await move(api, hedy, current, "in_progress", position)).status_code == 200
    await expect(card_in(page, "in_progress", top["id"])).to_be_visible(timeout=LIVE_MS)
    await expect(card_in(page, "in_progress", middle["id"])).to_be_attached(timeout=LIVE_MS)
    await expect(page.get_by_test_id("column-count-in_progress")).to_have_text("3")
    await expect(page.get_by_test_id("column-count-not_started")).to_have_text(str(total - 3))
    shown = await page.get_by_test_id("column-cards-in_progress").evaluate(
        "(list) => [...list.children].map((card) => card.dataset.cardId)"
    )
    assert shown == [middle["id"], top["id"], last["id"]]
    assert console_errors == []
