""""How Tandem works" (/help, issue 17): five steps with screenshots, reached from the teacher
pages. The screenshots are of the demo classroom, made here (written to web/img/help/, and
the README's Invite dialog to docs/screenshots/, when TANDEM_SCREENSHOTS is set:
`TANDEM_SCREENSHOTS=1 uv run --group dev pytest tests/web -k realistic`)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import msgspec
import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from server import demo
from server.settings import Settings
from tests.board_helpers import User, data_of, room
from tests.helpers import bearer, login, signed_in
from tests.web.conftest import ConsoleErrors
from tests.web.pages import new_page, screenshot

pytestmark = pytest.mark.needs_browser

DESKTOP = ViewportSize(width=1440, height=900)
PHONE = ViewportSize(width=390, height=844)
HELP_IMAGES = Path(__file__).resolve().parents[2] / "web" / "img" / "help"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """As in a class run with ``tandem serve --lan``: join links name the laptop's address."""
    return msgspec.structs.replace(settings, public_url="http://192.168.1.20:8000")


async def help_shot(page: Page, name: str) -> None:
    """A JPEG of the viewport for the help page (small enough to serve), written only when
    TANDEM_SCREENSHOTS is set, so an ordinary run never rewrites the app's files."""
    jpeg = await page.screenshot(type="jpeg", quality=70, animations="disabled", caret="hide")
    assert jpeg.startswith(b"\xff\xd8")
    if os.environ.get("TANDEM_SCREENSHOTS"):
        HELP_IMAGES.mkdir(parents=True, exist_ok=True)
        (HELP_IMAGES / f"{name}.jpg").write_bytes(jpeg)


async def test_the_help_page_is_reached_from_the_teacher_pages(
    browser: Browser, address: str, api: httpx.AsyncClient, console_errors: ConsoleErrors
) -> None:
    tokens = await signed_in(api, role="teacher", name="Nora Quinn")
    page = await new_page(browser, address, console_errors, login=tokens)
    await page.goto(f"http://{address}/board")
    # A new teacher's empty board points at it.
    await page.get_by_test_id("no-classroom-help").click()
    await expect(page).to_have_url(re.compile(r"/help$"))
    await expect(page.get_by_test_id("help-title")).to_have_text("How Tandem works")
    steps = page.get_by_test_id("help-step")
    await expect(steps).to_have_count(5)
    for n in range(5):
        image = steps.nth(n).locator("img")
        await image.scroll_into_view_if_needed()
        await expect(image).to_have_js_property("complete", True)
        assert await image.evaluate("img => img.naturalWidth") > 0, n
        assert await image.get_attribute("alt")

    # So do the board and the set-up page of a classroom.
    nora = User(id=tokens["user"]["id"], name="Nora Quinn", token=tokens["access_token"])
    place = await room(api, teacher=nora, students=(), lessons=())
    for path in (f"/board?classroom={place.id}", f"/classroom?id={place.id}"):
        await page.goto(f"http://{address}{path}")
        await expect(page.get_by_test_id("connection")).to_have_attribute("data-status", "open")
        await page.get_by_test_id("help-link").click()
        await expect(page).to_have_url(re.compile(r"/help$"))
    await page.get_by_test_id("help-back").click()
    await expect(page).to_have_url(re.compile(r"/board"))
    assert console_errors == []


async def test_a_realistic_tour_of_the_demo_for_the_help_page(
    browser: Browser,
    address: str,
    api: httpx.AsyncClient,
    settings: Settings,
    console_errors: ConsoleErrors,
) -> None:
    """The demo classroom, as the help page shows it: set-up, Invite, lesson, study, board."""
    logins = await demo.fill(settings)
    maria = await login(api, logins.teachers[0][1], logins.password)
    sam = await login(api, logins.learner[1], logins.password)
    classrooms = data_of(
        await api.get("/api/teacher/classrooms", headers=bearer(maria["access_token"]))
    )
    classroom_id = classrooms[0]["id"]

    # The README's desktop size (screenshot_devices), signed in with the demo's password.
    desktop = await new_page(browser, address, console_errors, login=maria, viewport=DESKTOP)
    await desktop.goto(f"http://{address}/classroom?id={classroom_id}")
    await expect(desktop.get_by_test_id("connection")).to_have_attribute("data-status", "open")
    await expect(desktop.get_by_test_id("student-list").locator("li")).to_have_count(len(demo.STUDENTS) + 1)
    await help_shot(desktop, "1-students")

    row = desktop.get_by_test_id("lesson-list").locator("li", has_text="Greetings").first
    await row.get_by_test_id("lesson-edit").click()
    await expect(desktop.get_by_test_id("lesson-dialog")).to_be_visible()
    await expect(desktop.get_by_test_id("lesson-words").locator("li")).to_have_count(5)
    await desktop.get_by_test_id("word-topic").select_option("Greetings")
    await help_shot(desktop, "3-lesson")

    await desktop.goto(f"http://{address}/board?classroom={classroom_id}")
    await expect(desktop.get_by_test_id("connection")).to_have_attribute("data-status", "open")
    await expect(desktop.get_by_test_id("column-cards-not_started").locator(".card").first).to_be_visible()
    await help_shot(desktop, "5-board")
    await desktop.get_by_test_id("invite").click()
    qr = desktop.get_by_test_id("invite-qr")
    await expect(qr).to_have_js_property("complete", True)
    await help_shot(desktop, "2-invite")
    await screenshot(desktop, "invite-desktop")

    phone = await new_page(
        browser,
        address,
        console_errors,
        login=sam,
        viewport=PHONE,
        phone=True,
    )
    await phone.goto(f"http://{address}/study")
    await expect(phone.get_by_test_id("class-name")).to_have_text(logins.classroom)
    await expect(phone.get_by_test_id("card")).to_be_visible()
    await help_shot(phone, "4-study")
    assert console_errors == []
