"""Accessibility (WCAG 2.1 A and AA, issue 18): axe-core on every page and dialog, desktop and
phone; other teachers' changes told to screen readers; a focus ring that survives forced
colours; the columns' counts read as "N cards"."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, FloatRect, Page, ViewportSize, expect

from tests.board_helpers import (
    a_class_with_a_learner,
    BOARD,
    User,
    add_lesson,
    create_card,
    data_of,
    join_as_teacher,
    move,
    room,
)
from tests.helpers import bearer, login, signed_in
from tests.web.axe import Axe, axe_source
from tests.web.conftest import ConsoleErrors
from tests.web.pages import DESKTOP, new_page, open_module, unprovoked

pytestmark = pytest.mark.needs_browser

PHONE = ViewportSize(width=390, height=844)
DEVICES = {"desktop": (DESKTOP, False), "phone": (PHONE, True)}
WORDS = ["es:adios", "es:gracias", "es:hola"]
LIVE_MS = 1000


@pytest.fixture(scope="session")
def axe_code(request: pytest.FixtureRequest) -> str:
    """axe-core's source, downloaded once and kept in pytest's cache directory."""
    cache: Path = request.config.cache.mkdir("axe-core")
    return axe_source(cache)


@pytest.fixture
def axe(axe_code: str) -> Axe:
    return Axe(axe_code)


async def a_class(api: httpx.AsyncClient) -> dict[str, Any]:
    """Maria's Class 4A: Ana (a learner who joined) and Ben, a lesson on both; David, a
    co-teacher, holds the lock of Ben's card."""
    world = await a_class_with_a_learner(api, WORDS)
    place, cards, learner = world["place"], world["cards"], world["learner"]
    headers = bearer(learner["access_token"])
    body = {"studyCount": 2, "correctCount": 2, "confidence": 4, "mastered": True}
    data_of(await api.put(f"/api/v1/progress/{WORDS[0]}", json=body, headers=headers), 201)
    david_tokens = await signed_in(api, role="teacher", name="David Kim")
    david = User(
        id=david_tokens["user"]["id"], name="David Kim", token=david_tokens["access_token"]
    )
    data_of(await join_as_teacher(api, david, place.classroom["teacher_join_code"]))
    data_of(await api.post(f"{BOARD}/cards/{cards[1]['id']}/lock", headers=david.headers))
    return {**world, "david": david}


async def device(
    browser: Browser,
    address: str,
    errors: ConsoleErrors,
    kind: str,
    login: dict[str, Any] | None = None,
) -> Page:
    viewport, phone = DEVICES[kind]
    return await new_page(browser, address, errors, login=login, viewport=viewport, phone=phone)


async def dialog_open(page: Page, testid: str) -> None:
    await expect(page.get_by_test_id(testid)).to_be_visible()


async def close_dialog(page: Page, testid: str) -> None:
    await page.keyboard.press("Escape")
    await expect(page.get_by_test_id(testid)).to_be_hidden()


@pytest.mark.parametrize("kind", ["desktop", "phone"])
async def test_the_public_pages_pass_axe(
    browser: Browser,
    address: str,
    api: httpx.AsyncClient,
    console_errors: ConsoleErrors,
    axe: Axe,
    kind: str,
) -> None:
    place = await room(api, name="Room 7", students=("Ann",), lessons=())
    page = await device(browser, address, console_errors, kind)
    await page.goto(f"http://{address}/")
    await expect(page.get_by_test_id("signin-form")).to_be_visible()
    await axe.check(page, f"{kind} sign-in")
    await page.get_by_test_id("signin-submit").click()
    await expect(page.get_by_test_id("signin-email-error")).to_be_visible()
    await axe.check(page, f"{kind} sign-in with field errors")
    await page.get_by_test_id("signup-tab").click()
    await expect(page.get_by_test_id("signup-form")).to_be_visible()
    await axe.check(page, f"{kind} create account")

    await page.goto(f"http://{address}/join?code={place.classroom['student_join_code']}")
    await expect(page.get_by_test_id("join-notice")).to_be_visible()
    await axe.check(page, f"{kind} join link")

    await page.goto(f"http://{address}/help")
    await expect(page.locator("h1")).to_be_visible()
    await axe.check(page, f"{kind} help")
    axe.assert_clean()
    assert console_errors == []


@pytest.mark.parametrize("kind", ["desktop", "phone"])
async def test_the_learners_pages_pass_axe(
    browser: Browser,
    address: str,
    api: httpx.AsyncClient,
    console_errors: ConsoleErrors,
    axe: Axe,
    kind: str,
) -> None:
    world = await a_class(api)
    page = await device(browser, address, console_errors, kind, world["learner"])
    await page.goto(f"http://{address}/study")
    await expect(page.get_by_test_id("card")).to_be_visible()
    await expect(page.get_by_test_id("connection-status")).to_have_attribute("data-status", "open")
    await axe.check(page, f"{kind} study, a card's front")
    await page.get_by_test_id("flip").click()
    await expect(page.get_by_test_id("answer")).to_have_attribute("data-ready", "true")
    await axe.check(page, f"{kind} study, the card turned")
    await page.get_by_test_id("knew").click()
    await axe.check(page, f"{kind} study, after an answer")
    await page.get_by_test_id("class-leave").first.click()
    await dialog_open(page, "confirm-dialog")
    await axe.check(page, f"{kind} study, leave-class dialog")
    await close_dialog(page, "confirm-dialog")

    # The old app's progress on this device: the import offer, then its report.
    old = {"es:hola": {"studyCount": 3, "correctCount": 2, "confidence": 4}, "bad id!": {}}
    viewport, phone = DEVICES[kind]
    other = await new_page(
        browser,
        address,
        console_errors,
        login=await login(api, world["learner"]["user"]["email"]),
        local={"vocab-progress": json.dumps(old)},
        viewport=viewport,
        phone=phone,
    )
    await other.goto(f"http://{address}/study")
    await expect(other.get_by_test_id("import-offer")).to_be_visible()
    await axe.check(other, f"{kind} study, the import offer")
    await other.get_by_test_id("import-accept").click()
    await expect(other.get_by_test_id("import-report")).to_be_visible()
    await axe.check(other, f"{kind} study, the import report")
    axe.assert_clean()
    assert unprovoked(console_errors) == []


@pytest.mark.parametrize("kind", ["desktop", "phone"])
async def test_the_teachers_pages_and_dialogs_pass_axe(
    browser: Browser,
    address: str,
    api: httpx.AsyncClient,
    console_errors: ConsoleErrors,
    axe: Axe,
    kind: str,
) -> None:
    world = await a_class(api)
    place, cards = world["place"], world["cards"]
    page = await device(browser, address, console_errors, kind, world["tokens"])

    # The board: a card with a mastery bar, a card David is editing, the presence avatars.
    await page.goto(f"http://{address}/board?classroom={place.id}")
    await expect(page.get_by_test_id("connection")).to_have_attribute("data-status", "open")
    await expect(
        page.get_by_test_id(f"card-{cards[1]['id']}").get_by_test_id("lock-badge")
    ).to_be_visible()
    await axe.check(page, f"{kind} board")
    if kind == "phone":
        await page.get_by_test_id("filters-toggle").click()
        await expect(page.get_by_test_id("filter-student")).to_be_visible()
        await axe.check(page, f"{kind} board, filters open")
    await page.get_by_test_id(f"card-{cards[0]['id']}").focus()
    await page.keyboard.press("x")
    await expect(page.get_by_test_id("selection-bar")).to_be_visible()
    await axe.check(page, f"{kind} board, a card selected")
    await page.get_by_test_id("clear-selection").click()
    for opener, dialog in [
        ("new-card", "new-card-dialog"),
        ("classroom-add", "classroom-dialog"),
        ("invite", "invite-dialog"),
        (f"delete-{cards[0]['id']}", "confirm-dialog"),
    ]:
        await page.get_by_test_id(opener).click()
        await dialog_open(page, dialog)
        await axe.check(page, f"{kind} board, {dialog}")
        await close_dialog(page, dialog)

    # The set-up page and its dialogs.
    await page.goto(f"http://{address}/classroom?id={place.id}")
    await expect(page.get_by_test_id("student-list").locator("li")).to_have_count(2)
    await axe.check(page, f"{kind} set-up")
    student = place.students[1]["id"]
    for control, dialog in [
        (
            page.get_by_test_id(f"student-{student}").get_by_test_id("student-rename"),
            "rename-dialog",
        ),
        (
            page.get_by_test_id(f"student-{student}").get_by_test_id("student-remove"),
            "confirm-dialog",
        ),
        (page.get_by_test_id("lesson-new"), "lesson-dialog"),
    ]:
        await control.click()
        await dialog_open(page, dialog)
        await axe.check(page, f"{kind} set-up, {dialog}")
        await close_dialog(page, dialog)

    # The class overview.
    await page.goto(f"http://{address}/overview?classroom={place.id}")
    await expect(page.locator(".cell-link")).to_have_count(2)
    await axe.check(page, f"{kind} overview")

    # A new teacher's board: no classroom yet; then an empty classroom's first steps.
    newcomer = await signed_in(api, role="teacher", name="Nora Quinn")
    fresh = await device(browser, address, console_errors, kind, newcomer)
    await fresh.goto(f"http://{address}/board")
    await expect(fresh.get_by_test_id("no-classroom")).to_be_visible()
    await axe.check(fresh, f"{kind} board without a classroom")
    await fresh.get_by_test_id("create-classroom-name").fill("Room 9")
    await fresh.get_by_test_id("create-classroom-submit").click()
    await expect(fresh.get_by_test_id("getting-started")).to_be_visible()
    await axe.check(fresh, f"{kind} board of an empty classroom")
    axe.assert_clean()
    assert unprovoked(console_errors) == []


async def test_other_peoples_changes_are_told_politely_and_ours_are_not(
    browser: Browser, address: str, api: httpx.AsyncClient, console_errors: ConsoleErrors
) -> None:
    """Maria's board tells her screen reader what David (another client) and Tandem change:
    an arrival, a lock, a move, a batch in one sentence, an auto-advance, a departure; her own
    keyboard move is said by the drag announcer, never again in the news."""
    tokens = await signed_in(api, role="teacher", name="Maria Lopez")
    maria = User(id=tokens["user"]["id"], name="Maria Lopez", token=tokens["access_token"])
    place = await room(api, teacher=maria, students=("Ana", "Ben", "Cleo"), lessons=())
    greetings = await add_lesson(api, maria, place.id, "Greetings", "Vocabulary", WORDS)
    numbers = await add_lesson(api, maria, place.id, "Numbers", "Vocabulary", ["es:uno"])
    cards: list[dict[str, dict[str, Any]]] = []
    for student in place.students:
        cards.append(
            {
                lesson["title"]: await create_card(api, maria, lesson["id"], student["id"])
                for lesson in (greetings, numbers)
            }
        )
    ana, ben, cleo = cards
    learner = await signed_in(api, role="learner", name="Ana Ruiz")
    join = {"join_code": place.students[0]["join_code"]}
    data_of(
        await api.post(
            "/api/v1/classrooms/join", json=join, headers=bearer(learner["access_token"])
        )
    )
    david_tokens = await signed_in(api, role="teacher", name="David Kim")
    david = User(
        id=david_tokens["user"]["id"], name="David Kim", token=david_tokens["access_token"]
    )
    data_of(await join_as_teacher(api, david, place.classroom["teacher_join_code"]))

    page = await new_page(browser, address, console_errors, login=tokens)
    await page.goto(f"http://{address}/board?classroom={place.id}")
    await expect(page.get_by_test_id("connection")).to_have_attribute("data-status", "open")
    news = page.get_by_test_id("board-news")
    await expect(news).to_have_attribute("aria-live", "polite")
    # The summary re-renders on every change: it is not a live region any more.
    assert await page.get_by_test_id("board-summary").get_attribute("aria-live") is None

    davids = await new_page(browser, address, console_errors, login=david_tokens)
    await davids.goto(f"http://{address}/board?classroom={place.id}")
    await expect(news).to_have_text("David joined the board.")

    lock = f"{BOARD}/cards/{ben['Greetings']['id']}/lock"
    data_of(await api.post(lock, headers=david.headers))
    await expect(news).to_have_text("David is editing Greetings for Ben.")

    data_of(await move(api, david, ana["Greetings"], "in_progress", 0))
    await expect(news).to_have_text("David moved Greetings for Ana to In Progress.")

    # Maria's own move: said once, by the drag announcer.
    card = page.get_by_test_id(f"card-{cleo['Greetings']['id']}")
    await card.focus()
    await page.keyboard.press("Space")
    await expect(card).to_have_class(re.compile(r"\bis-lifted\b"))
    await page.keyboard.press("ArrowRight")
    await expect(page.get_by_test_id("column-cards-in_progress").locator(card)).to_be_visible()
    await page.keyboard.press("Space")
    await expect(page.get_by_test_id("announcer")).to_have_text(
        re.compile(r"^Dropped Greetings in In Progress")
    )
    moves = [
        {
            "card_id": c["Numbers"]["id"],
            "new_status": "in_progress",
            "new_position": 0,
            "version": c["Numbers"]["updated_at"],
        }
        for c in (ben, cleo)
    ]
    batch = await api.post(f"{BOARD}/batch-move", json={"moves": moves}, headers=david.headers)
    assert data_of(batch)["failed_moves"] == []
    await expect(news).to_have_text("2 changes by David.")

    # Ana studies a word of Numbers: Tandem moves her card on.
    body = {"studyCount": 1, "correctCount": 1, "confidence": 3, "mastered": False}
    headers = bearer(learner["access_token"])
    data_of(await api.put("/api/v1/progress/es:uno", json=body, headers=headers), 201)
    await expect(news).to_have_text("Numbers for Ana advanced to In Progress by itself.")

    await davids.close()
    await expect(news).to_have_text("David left the board.")
    assert console_errors == []


async def test_the_focus_ring_is_an_outline_that_forced_colours_keep(
    browser: Browser, address: str, api: httpx.AsyncClient, console_errors: ConsoleErrors
) -> None:
    world = await a_class(api)
    page = await new_page(browser, address, console_errors, login=world["tokens"])
    await page.emulate_media(forced_colors="active")
    await page.goto(f"http://{address}/board?classroom={world['place'].id}")
    await expect(page.get_by_test_id("connection")).to_have_attribute("data-status", "open")
    assert await page.evaluate("matchMedia('(forced-colors: active)').matches")
    card = page.get_by_test_id(f"card-{world['cards'][0]['id']}")
    area = await card.bounding_box()
    assert area is not None
    clip: FloatRect = {
        "x": area["x"] - 8,
        "y": area["y"] - 8,
        "width": area["width"] + 16,
        "height": area["height"] + 16,
    }
    # Reach the card by keyboard, as someone who needs the ring would.
    await page.get_by_test_id("new-card").focus()
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Tab")
    await page.mouse.move(0, 0)
    before = await page.screenshot(clip=clip, animations="disabled")
    await card.focus()
    await expect(card).to_be_focused()
    ring = await card.evaluate(
        """el => { const s = getComputedStyle(el);
            return [el.matches(':focus-visible'), s.outlineStyle, s.outlineWidth]; }"""
    )
    assert ring == [True, "solid", "3px"]
    after = await page.screenshot(clip=clip, animations="disabled")
    assert after != before, "focusing the card changes nothing on screen in forced colours"

    # Without forced colours the ring is the page's own, >= 3:1 next to the paper and card.
    await page.emulate_media(forced_colors="none")
    colour = await card.evaluate("el => getComputedStyle(el).outlineColor")
    assert colour == "rgb(67, 56, 202)"
    assert contrast((67, 56, 202), (255, 255, 255)) >= 3
    assert contrast((67, 56, 202), (241, 245, 249)) >= 3  # the column behind the card
    assert console_errors == []


async def test_cards_are_widgets_and_counts_are_read_as_cards(
    browser: Browser, address: str, api: httpx.AsyncClient, console_errors: ConsoleErrors
) -> None:
    world = await a_class(api)
    page = await new_page(browser, address, console_errors, login=world["tokens"])
    await page.goto(f"http://{address}/board?classroom={world['place'].id}")
    await expect(page.get_by_test_id("connection")).to_have_attribute("data-status", "open")
    # Ana studied, so Tandem moved her card on; Ben's waits.
    header = page.get_by_test_id("column-not_started").locator("header")
    await expect(header).to_match_aria_snapshot(
        '- heading "Not Started" [level=2]\n- text: 1 card\n- button "New card in Not Started"'
    )
    await expect(
        page.get_by_test_id("column-in_progress").locator("header")
    ).to_match_aria_snapshot(
        '- heading "In Progress" [level=2]\n- text: 1 card\n- button "New card in In Progress"'
    )
    cards = page.get_by_role("application", name=re.compile(r"^Greetings, "))
    await expect(cards).to_have_count(2)
    for index in range(2):
        await expect(cards.nth(index)).to_have_attribute("aria-roledescription", "card")
    assert console_errors == []


async def test_every_generated_colour_keeps_its_text_readable(
    browser: Browser, address: str, console_errors: ConsoleErrors
) -> None:
    """Avatars (white initials) and category chips take their colour from an id or a name:
    for every hue the text keeps 4.5:1, measured here independently of the page's own maths."""
    util = await open_module(browser, address, console_errors, "/static/js/board-util.js")
    found = await util.run(
        """(m) => {
            const out = new Map();
            for (let i = 0; out.size < 360 && i < 200000; i++) {
                const key = `person-${i}`;
                const hue = m.hueOf(key);
                if (!out.has(hue)) out.set(hue, [m.avatarColour(key), m.chipColours(key)]);
            }
            return [...out.values()];
        }"""
    )
    assert len(found) == 360
    for avatar, chip in found:
        assert contrast(rgb(avatar), (255, 255, 255)) >= 4.5, avatar
        assert contrast(rgb(chip["ink"]), rgb(chip["background"])) >= 4.5, chip
    assert console_errors == []


async def test_a_burst_is_one_sentence_per_person(
    browser: Browser, address: str, console_errors: ConsoleErrors
) -> None:
    news = await open_module(browser, address, console_errors, "/static/js/board-news.js")
    said = await news.run(
        """(m) => {
            const move = (id, actor, from, to) => m.newsOf(
                { event: "card.moved", actor,
                  data: { card: { id, lesson_title: "Greetings", student_id: id,
                                  student_name: `Sam ${id}`, status: to },
                          from_status: from } },
                { me: "me" });
            const david = { id: "d", name: "David Kim" };
            const twelve = Array.from({ length: 12 }, (_, i) =>
                move(String(i), david, "not_started", "in_progress"));
            return [
                m.compose(twelve),
                m.compose([twelve[0],
                    move("x", { id: "m", name: "Maria Lopez" }, "in_progress", "needs_review")]),
                move("y", { id: "me", name: "Me" }, "not_started", "in_progress"),
            ];
        }"""
    )
    assert said == [
        "12 changes by David.",
        "David moved Greetings for Sam 0 to In Progress."
        " Maria moved Greetings for Sam x to Needs Review.",
        None,
    ]
    assert console_errors == []


def rgb(css: str) -> tuple[int, ...]:
    """(r, g, b) of the "rgb(r g b)" text the page's colour helpers write."""
    found = re.fullmatch(r"rgb\((\d+) (\d+) (\d+)\)", css)
    assert found, css
    return tuple(int(value) for value in found.groups())


def contrast(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """WCAG 2.1 contrast ratio of two sRGB colours."""

    def luminance(colour: tuple[int, ...]) -> float:
        r, g, b = (
            c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
            for c in (v / 255 for v in colour)
        )
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)
