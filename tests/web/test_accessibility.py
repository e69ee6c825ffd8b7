"""Accessibility (WCAG 2.1 A and AA, issue 18): axe-core on every page and dialog, desktop and
phone; other teachers' changes told to screen readers; a focus ring that survives forced
colours; the columns' counts read as "N cards"."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from tests.board_helpers import (
    BOARD,
    User,
    add_lesson,
    create_card,
    data_of,
    join_as_teacher,
    move,
    room,
)
from tests.helpers import bearer, signed_in
from tests.web.axe import Axe, axe_source
from tests.web.conftest import ConsoleErrors
from tests.web.pages import DESKTOP, new_page, unprovoked

pytestmark = pytest.mark.needs_browser

PHONE = ViewportSize(width=390, height=844)
DEVICES = {"desktop": (DESKTOP, False), "phone": (PHONE, True)}
WORDS = ["es:adios", "es:gracias", "es:hola"]
LIVE_MS = 1000


@pytest.fixture(scope="session")
def axe_code(request: pytest.FixtureRequest) -> str:
    """axe-core's source, downloaded once and kept in pytest's cache directory."""
    cache: Path = request.config.cache.mkdir("axe-core")  # type: ignore[union-attr]
    return axe_source(cache)


@pytest.fixture
def axe(axe_code: str) -> Axe:
    return Axe(axe_code)


async def a_class(api: httpx.AsyncClient) -> dict[str, Any]:
    """Maria's Class 4A: Ana (a learner who joined) and Ben, a lesson on both; David, a
    co-teacher, holds the lock of Ben's card."""
    tokens = await signed_in(api, role="teacher", name="Maria Lopez")
    maria = User(id=tokens["user"]["id"], name="Maria Lopez", token=tokens["access_token"])
    place = await room(api, teacher=maria, name="Class 4A", students=("Ana", "Ben"), lessons=())
    lesson = await add_lesson(api, maria, place.id, "Greetings", "Vocabulary", WORDS)
    cards = [await create_card(api, maria, lesson["id"], s["id"]) for s in place.students]
    learner = await signed_in(api, role="learner", name="Ana Ruiz")
    join = {"join_code": place.students[0]["join_code"]}
    headers = bearer(learner["access_token"])
    data_of(await api.post("/api/v1/classrooms/join", json=join, headers=headers))
    body = {"studyCount": 2, "correctCount": 2, "confidence": 4, "mastered": True}
    data_of(await api.put(f"/api/v1/progress/{WORDS[0]}", json=body, headers=headers), 201)
    david_tokens = await signed_in(api, role="teacher", name="David Kim")
    david = User(
        id=david_tokens["user"]["id"], name="David Kim", token=david_tokens["access_token"]
    )
    data_of(await join_as_teacher(api, david, place.classroom["teacher_join_code"]))
    data_of(await api.post(f"{BOARD}/cards/{cards[1]['id']}/lock", headers=david.headers))
    return {
        "maria": maria,
        "tokens": tokens,
        "place": place,
        "cards": cards,
        "learner": learner,
        "david": david,
    }


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
    axe.assert_clean()
    assert console_errors == []


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
    await expect(page.get_by_test_id(f"card-{cards[1]['id']}").get_by_test_id("lock-badge")).to_be_visible()
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
    for opener, dialog in [
        (page.get_by_test_id(f"student-{student}").get_by_test_id("student-rename"), "rename-dialog"),
        (page.get_by_test_id(f"student-{student}").get_by_test_id("student-remove"), "confirm-dialog"),
        (page.get_by_test_id("lesson-new"), "lesson-dialog"),
    ]:
        await opener.click()
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
