"""The sign-in page (/): create an account, sign in, and where each role lands."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.board_helpers import User, fill, room
from tests.helpers import PASSWORD, register, signed_in, unique_email
from tests.web.conftest import ConsoleErrors
from tests.web.pages import open_page, unprovoked

pytestmark = pytest.mark.needs_browser


async def test_sign_up_as_a_learner_lands_on_study(
    browser: Browser, address: str, console_errors: ConsoleErrors
) -> None:
    page = await open_page(browser, address, "/", console_errors)
    await page.get_by_test_id("signup-tab").click()
    await page.get_by_test_id("signup-name").fill("Lena Park")
    await page.get_by_test_id("signup-email").fill(unique_email("lena"))
    await page.get_by_test_id("signup-password").fill(PASSWORD)
    await expect(page.get_by_test_id("signup-role-learner").locator("input")).to_be_checked()
    await page.get_by_test_id("signup-submit").click()

    await expect(page).to_have_url(re.compile(r"/study$"))
    await expect(page.get_by_test_id("user-name")).to_have_text("Lena Park")
    await expect(page.get_by_test_id("card")).to_be_visible()
    await expect(page.get_by_test_id("connection-status")).to_have_attribute("data-status", "open")
    await expect(page.get_by_test_id("nav-board")).to_be_hidden()
    assert console_errors == []


async def test_sign_in_as_a_teacher_lands_on_the_board(
    browser: Browser, address: str, api: httpx.AsyncClient, console_errors: ConsoleErrors
) -> None:
    tokens = await signed_in(api, role="teacher", name="Maria Lopez")
    teacher = User(id=tokens["user"]["id"], name="Maria Lopez", token=tokens["access_token"])
    place = await room(api, teacher=teacher)
    ids = await fill(api, place, {"not_started": 2, "in_progress": 1})

    page = await open_page(browser, address, "/", console_errors)
    await page.get_by_test_id("signin-email").fill(tokens["user"]["email"])
    await page.get_by_test_id("signin-password").fill(PASSWORD)
    await page.get_by_test_id("signin-submit").click()

    await expect(page).to_have_url(re.compile(r"/board(\?.*)?$"))
    await expect(page.get_by_test_id("user-name")).to_have_text("Maria Lopez")
    for card_id in ids["not_started"]:
        await expect(
            page.get_by_test_id("column-cards-not_started").get_by_test_id(f"card-{card_id}")
        ).to_be_visible()
    await expect(page.get_by_test_id("column-count-in_progress")).to_have_text("1")
    await expect(page.get_by_test_id("connection")).to_have_attribute("data-status", "open")
    assert console_errors == []


async def test_a_wrong_password_says_so_and_stays(
    browser: Browser, address: str, api: httpx.AsyncClient, console_errors: ConsoleErrors
) -> None:
    email = unique_email("learner")
    await register(api, role="learner", email=email)

    page = await open_page(browser, address, "/", console_errors)
    await page.get_by_test_id("signin-email").fill(email)
    await page.get_by_test_id("signin-password").fill("not the password")
    await page.get_by_test_id("signin-submit").click()

    error = page.get_by_test_id("signin-error")
    await expect(error).to_be_visible()
    await expect(error).to_have_text(
        "That email and password don't match an account. Check both and try again."
    )
    await expect(page.get_by_test_id("signin-password")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_test_id("signin-submit")).to_be_enabled()
    assert re.search(r"/(#.*)?$", page.url), page.url
    assert await page.evaluate("localStorage.getItem('tandem-session')") is None
    # The refused login (401) is the only console error.
    assert unprovoked(console_errors) == []
