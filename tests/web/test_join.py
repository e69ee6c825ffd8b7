"""Join links and QR codes in the browser (issue 17): the Invite dialog's QR code decodes to
its link; a learner who opens the link signs up and lands on the study page as a student of
the class; each row of the printable sheet carries a QR code of that student's own link."""

from __future__ import annotations

import io
import re

import httpx
import pytest
import zxingcpp
from PIL import Image
from playwright.async_api import Browser, Locator, expect

from tests.board_helpers import User, data_of, room
from tests.helpers import PASSWORD, bearer, signed_in, unique_email
from tests.web.conftest import ConsoleErrors
from tests.web.pages import new_page, unprovoked

pytestmark = pytest.mark.needs_browser


async def decoded(image: Locator) -> str:
    """What a phone's camera reads from the QR code ``image`` shows (zxing-cpp, the decoder
    behind many scanning apps), from the pixels on screen."""
    await expect(image).to_have_js_property("complete", True)
    assert await image.evaluate("img => img.naturalWidth") > 0
    png = await image.screenshot()
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(results) == 1, f"{len(results)} codes read"
    assert results[0].format == zxingcpp.BarcodeFormat.QRCode
    text: str = results[0].text
    return text


async def test_a_learner_joins_by_the_invite_dialogs_qr_code(
    browser: Browser, address: str, api: httpx.AsyncClient, console_errors: ConsoleErrors
) -> None:
    tokens = await signed_in(api, role="teacher", name="Grace Hopper")
    grace = User(id=tokens["user"]["id"], name="Grace Hopper", token=tokens["access_token"])
    place = await room(api, teacher=grace, name="Room 7", students=("Ann",), lessons=())
    code = place.classroom["student_join_code"]

    board = await new_page(browser, address, console_errors, login=tokens)
    await board.goto(f"http://{address}/board")
    await expect(board.get_by_test_id("connection")).to_have_attribute("data-status", "open")
    await board.get_by_test_id("invite").click()
    dialog = board.get_by_test_id("invite-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_test_id("student-code")).to_have_text(code)
    link = f"http://{address}/join?code={code}"
    await expect(dialog.get_by_test_id("invite-link")).to_have_text(link)
    await expect(dialog.get_by_test_id("invite-link")).to_have_attribute("href", link)
    assert await decoded(dialog.get_by_test_id("invite-qr")) == link

    # A learner's phone opens the scanned link: the sign-up form, code filled in.
    phone = await new_page(browser, address, console_errors)
    await phone.goto(link)
    await expect(phone.get_by_test_id("signup-form")).to_be_visible()
    await expect(phone.get_by_test_id("join-notice")).to_contain_text(code)
    await expect(phone.get_by_test_id("signup-join-code")).to_have_value(code)
    await phone.get_by_test_id("signup-name").fill("Lena Park")
    email = unique_email("lena")
    await phone.get_by_test_id("signup-email").fill(email)
    await phone.get_by_test_id("signup-password").fill(PASSWORD)
    await phone.get_by_test_id("signup-submit").click()
    await expect(phone).to_have_url(re.compile(r"/study$"))
    await expect(phone.get_by_test_id("class-name")).to_have_text("Room 7")
    await expect(phone.get_by_test_id("class-as")).to_have_text("as Lena Park")

    # The server agrees: she is a learner and a student of Room 7 (a new one, by the class code).
    login = data_of(
        await api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    )
    assert login["user"]["role"] == "learner"
    classes = data_of(await api.get("/api/v1/classrooms", headers=bearer(login["access_token"])))
    assert [c["name"] for c in classes] == ["Room 7"]
    students = data_of(
        await api.get(
            "/api/teacher/students", params={"classroom_id": place.id}, headers=grace.headers
        )
    )
    assert {s["name"] for s in students} == {"Ann", "Lena Park"}
    assert unprovoked(console_errors) == []


async def test_an_existing_learner_signs_in_from_a_students_printed_code(
    browser: Browser, address: str, api: httpx.AsyncClient, console_errors: ConsoleErrors
) -> None:
    tokens = await signed_in(api, role="teacher", name="Grace Hopper")
    grace = User(id=tokens["user"]["id"], name="Grace Hopper", token=tokens["access_token"])
    place = await room(api, teacher=grace, name="Room 8", students=("Ana García", "Ben"), lessons=())
    own = {s["name"]: s["join_code"] for s in place.students}

    # The printable sheet: a QR code on each row, of that student's own link.
    setup = await new_page(browser, address, console_errors, login=tokens)
    await setup.goto(f"http://{address}/classroom?id={place.id}")
    await expect(setup.get_by_test_id("student-list").locator("li")).to_have_count(2)
    await setup.emulate_media(media="print")
    sheet = setup.get_by_test_id("print-sheet")
    await expect(sheet.locator("tbody tr")).to_have_count(2)
    row = sheet.locator("tbody tr", has_text="Ana García")
    link = f"http://{address}/join?code={own['Ana García']}"
    await expect(row.get_by_test_id("sheet-link")).to_have_text(link)
    assert await decoded(row.get_by_test_id("sheet-qr")) == link

    # Ana already has an account: she signs in from the link and becomes that student.
    ana = await signed_in(api, role="learner", name="Ana G")
    phone = await new_page(browser, address, console_errors)
    await phone.goto(link)
    await expect(phone.get_by_test_id("join-notice")).to_contain_text(own["Ana García"])
    await phone.get_by_test_id("signin-tab").click()
    await phone.get_by_test_id("signin-email").fill(ana["user"]["email"])
    await phone.get_by_test_id("signin-password").fill(PASSWORD)
    await phone.get_by_test_id("signin-submit").click()
    await expect(phone).to_have_url(re.compile(r"/study$"))
    await expect(phone.get_by_test_id("class-as")).to_have_text("as Ana García")
    await setup.emulate_media(media="screen")
    await expect(
        setup.get_by_test_id("student-list").locator("li", has_text="Ana García")
    ).to_contain_text("Joined")
    assert unprovoked(console_errors) == []


async def test_a_signed_in_learner_opening_a_join_link_joins_at_once(
    browser: Browser, address: str, api: httpx.AsyncClient, console_errors: ConsoleErrors
) -> None:
    tokens = await signed_in(api, role="teacher", name="Grace Hopper")
    grace = User(id=tokens["user"]["id"], name="Grace Hopper", token=tokens["access_token"])
    place = await room(api, teacher=grace, name="Room 9", students=(), lessons=())
    learner = await signed_in(api, role="learner", name="Kofi Mensah")
    page = await new_page(browser, address, console_errors, login=learner)
    await page.goto(f"http://{address}/join?code={place.classroom['student_join_code']}")
    await expect(page).to_have_url(re.compile(r"/study$"))
    await expect(page.get_by_test_id("class-name")).to_have_text("Room 9")
    assert unprovoked(console_errors) == []
