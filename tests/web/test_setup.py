"""A classroom's first day in the browser (contract §8, §9): a new teacher sets a class up on
/classroom (students pasted, a lesson from the deck, assigned to all), a learner joins with
their own code, a co-teacher joins and is removed, and the learner studies the lesson while
the teacher's board moves her card to "Needs Review" by itself; renames and deletions reach
other teachers' boards live."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.board_helpers import User, data_of, get_board, room
from tests.helpers import PASSWORD, signed_in, unique_email
from tests.web.conftest import ConsoleErrors
from tests.web.pages import master_the_card, new_page, screenshot, screenshot_devices, unprovoked

pytestmark = pytest.mark.needs_browser

NAMES = ["Ana García", "Ben Okafor", "Chen Wei"]


async def sign_up(page: Page, address: str, *, name: str, role: str, code: str = "") -> None:
    """Create an account on the sign-in page, as a user would."""
    await page.goto(f"http://{address}/#signup")
    await page.get_by_test_id("signup-name").fill(name)
    await page.get_by_test_id("signup-email").fill(unique_email(name.split(maxsplit=1)[0].lower()))
    await page.get_by_test_id("signup-password").fill(PASSWORD)
    await page.get_by_test_id(f"signup-role-{role}").click()
    if code:
        await page.get_by_test_id("signup-join-code").fill(code)
    else:
        await expect(page.get_by_test_id("signup-join-code")).to_be_hidden()
    await page.get_by_test_id("signup-submit").click()


def student_row(page: Page, name: str) -> Any:
    return page.get_by_test_id("student-list").locator("li", has_text=name)


async def test_first_day_of_a_new_classroom(
    browser: Browser, address: str, api: httpx.AsyncClient, console_errors: ConsoleErrors
) -> None:
    # A new teacher signs up and creates a class: the board teaches the three steps.
    setup = await new_page(browser, address, console_errors)
    await sign_up(setup, address, name="Maria Lopez", role="teacher")
    await expect(setup.get_by_test_id("no-classroom")).to_be_visible()
    await setup.get_by_test_id("create-classroom-name").fill("Class 4A")
    await setup.get_by_test_id("create-classroom-submit").click()
    await expect(setup.get_by_test_id("getting-started")).to_be_visible()
    await expect(setup.get_by_test_id("step-students")).to_contain_text("Add your students")
    classroom_id = re.search(r"classroom=([0-9a-f-]+)", setup.url)[1]  # type: ignore[index]

    # A second tab of the board stays open meanwhile: it follows every step live.
    board = await setup.context.new_page()
    console_errors.watch(board)
    await board.goto(f"http://{address}/board?classroom={classroom_id}")
    await expect(board.get_by_test_id("connection")).to_have_attribute("data-status", "open")

    await setup.get_by_test_id("step-students-action").click()
    await expect(setup).to_have_url(re.compile(r"/classroom\?id=.+#students$"))
    await expect(setup.get_by_test_id("classroom-title")).to_have_text("Class 4A")
    await expect(setup.get_by_test_id("connection")).to_have_attribute("data-status", "open")

    # Three students, pasted as one list.
    await setup.get_by_test_id("students-names").fill("\n".join(NAMES) + "\n")
    await setup.get_by_test_id("students-add").click()
    await expect(setup.get_by_test_id("student-list").locator("li")).to_have_count(3)
    await expect(setup.get_by_test_id("students-note")).to_have_text("Added 3 students.")
    codes = {
        name: await student_row(setup, name).get_by_test_id("student-code").inner_text()
        for name in NAMES
    }
    assert len(set(codes.values())) == 3
    assert all(codes.values())
    # The other tab's board: students in the filter and the first step done, no reload.
    await expect(board.get_by_test_id("filter-student").locator("option")).to_have_text(
        ["All students", *NAMES]
    )
    await expect(board.get_by_test_id("step-students")).to_have_class(re.compile(r"\bis-done\b"))

    # A lesson from the deck: topic, then search, plus a word of the teacher's own.
    await setup.get_by_test_id("lesson-new").click()
    dialog = setup.get_by_test_id("lesson-dialog")
    await dialog.get_by_test_id("lesson-title").fill("Saying hello")
    await dialog.get_by_test_id("lesson-category").fill("Vocabulary")
    await dialog.get_by_test_id("word-topic").select_option("Greetings")
    await dialog.get_by_test_id("word-search").fill("adios")
    await expect(dialog.get_by_test_id("word-results").locator("li")).to_have_count(1)
    await dialog.get_by_test_id("word-es:adios").check()
    await dialog.get_by_test_id("word-search").fill("hello")
    await dialog.get_by_test_id("word-es:hola").check()
    await dialog.locator("summary").click()
    await dialog.get_by_test_id("own-paste").fill("la pizarra, the board\n")
    await dialog.get_by_test_id("own-paste-add").click()
    await expect(dialog.get_by_test_id("lesson-words").locator("li")).to_have_count(3)
    await expect(dialog.get_by_test_id("lesson-words")).to_contain_text("la pizarra")
    await dialog.get_by_test_id("lesson-save").click()
    await expect(dialog).to_be_hidden()
    lesson_row = setup.get_by_test_id("lesson-list").locator("li")
    await expect(lesson_row).to_have_count(1)
    await expect(lesson_row).to_contain_text("3 words")
    await expect(board.get_by_test_id("filter-category").locator("option")).to_have_text(
        ["All categories", "Vocabulary"]
    )

    # Assign it to everyone: the other tab's board shows a card per student, live.
    await setup.get_by_test_id("assign-submit").click()
    await expect(setup.get_by_test_id("assign-note")).to_have_text(
        "Assigned Saying hello to 3 students."
    )
    await expect(board.get_by_test_id("column-cards-not_started").locator(".card")).to_have_count(3)
    await expect(board.get_by_test_id("getting-started")).to_be_hidden()
    await expect(setup.get_by_test_id("assign-submit")).to_be_disabled()

    # Ana joins with her own code at sign-up, in a browser of her own.
    learner = await new_page(browser, address, console_errors)
    await sign_up(learner, address, name="Ana G", role="learner", code=codes["Ana García"])
    await expect(learner).to_have_url(re.compile(r"/study$"))
    await expect(learner.get_by_test_id("class-list").locator("li")).to_have_count(1)
    await expect(learner.get_by_test_id("class-as")).to_have_text("as Ana García")
    await expect(learner.get_by_test_id("join-note")).to_contain_text(
        "You're in Class 4A as Ana García"
    )
    # The teacher sees her join live: the code is used up, her card carries her name.
    await expect(student_row(setup, "Ana García").get_by_test_id("student-joined")).to_be_visible()
    ana = board.get_by_test_id("column-cards-not_started").locator(".card", has_text="Ana García")
    await expect(ana.get_by_test_id("card-student")).to_have_text(re.compile("Ana García"))

    # A co-teacher joins with the teacher code on their board; the owner removes them.
    teacher_code = await setup.get_by_test_id("setup-teacher-code").inner_text()
    hedy_tokens = await signed_in(api, role="teacher", name="Hedy Lamarr")
    hedy = await new_page(browser, address, console_errors, login=hedy_tokens)
    await hedy.goto(f"http://{address}/board")
    await hedy.get_by_test_id("join-classroom-code").fill(teacher_code)
    await hedy.get_by_test_id("join-classroom-submit").click()
    await expect(hedy.get_by_test_id("column-cards-not_started").locator(".card")).to_have_count(3)
    await expect(hedy.get_by_test_id("connection")).to_have_attribute("data-status", "open")
    await expect(hedy.get_by_test_id("presence-user")).to_have_count(2)
    teachers = setup.get_by_test_id("teacher-list").locator("li")
    await expect(teachers).to_have_count(2)
    await expect(teachers.first.get_by_test_id("teacher-role")).to_have_text("Owner")
    hedy_row = setup.get_by_test_id(f"teacher-{hedy_tokens['user']['id']}")
    await expect(hedy_row.get_by_test_id("teacher-role")).to_have_text("Co-teacher")
    await expect(setup.get_by_test_id("leave-classroom")).to_be_hidden()  # the owner stays
    await hedy_row.get_by_test_id("teacher-remove").click()
    await setup.get_by_test_id("confirm-ok").click()
    await expect(teachers).to_have_count(1)
    await expect(hedy.get_by_test_id("removed")).to_be_visible()
    await expect(hedy.get_by_test_id("removed")).to_contain_text(
        "You were removed from this classroom"
    )
    await expect(hedy.get_by_test_id("board")).to_be_hidden()

    # The server agrees with what the pages showed.
    token = await setup.evaluate("JSON.parse(localStorage.getItem('tandem-session')).access_token")
    headers = {"Authorization": f"Bearer {token}"}
    params = {"classroom_id": classroom_id}
    students = data_of(await api.get("/api/teacher/students", params=params, headers=headers))
    assert sorted(student["name"] for student in students) == NAMES
    assert [s["learner_id"] is not None for s in students] == [True, False, False]
    teachers = data_of(
        await api.get(f"/api/teacher/classrooms/{classroom_id}/teachers", headers=headers)
    )
    assert [teacher["role"] for teacher in teachers] == ["owner"]

    # The loop closes (contract §9): Ana studies her lesson, first on her study page, and
    # Maria's board moves her card by itself: "In Progress" at her first answer, "Needs
    # Review" once every word is mastered.
    ana_card = board.locator(".card:not(.card-flying)", has_text="Ana García")
    lesson_choice = learner.get_by_test_id("lesson-list").locator("button", has_text="Saying hello")
    await expect(lesson_choice).to_contain_text("Class 4A · 0 of 3 words mastered")
    await expect(learner.get_by_test_id("card-lesson")).to_have_text("Lesson · Saying hello")
    studied = [await master_the_card(learner)]
    await expect(ana_card).to_have_attribute("data-status", "in_progress")
    await expect(ana_card.get_by_test_id("card-progress")).to_have_attribute("data-mastered", "1")
    studied.append(await master_the_card(learner))
    assert sorted(studied) == ["es:adios", "es:hola"]  # the lesson's words come first
    await expect(learner.get_by_test_id("card-word")).to_have_text("la pizarra")  # her own word
    await master_the_card(learner)
    await expect(lesson_choice).to_contain_text("3 of 3 words mastered")
    await expect(ana_card).to_have_attribute("data-status", "needs_review")
    await expect(ana_card.get_by_test_id("card-progress-text")).to_have_text(
        re.compile(r"^3/3 mastered · studied just now$")
    )
    await expect(board.get_by_test_id("column-cards-needs_review").locator(".card")).to_have_count(
        1
    )
    await expect(board.get_by_test_id("column-cards-not_started").locator(".card")).to_have_count(2)
    assert unprovoked(console_errors) == []


async def test_renames_and_deletions_reach_another_teachers_board_live(
    browser: Browser, address: str, api: httpx.AsyncClient, console_errors: ConsoleErrors
) -> None:
    grace_tokens = await signed_in(api, role="teacher", name="Grace Hopper")
    grace = User(
        id=grace_tokens["user"]["id"], name="Grace Hopper", token=grace_tokens["access_token"]
    )
    place = await room(
        api,
        teacher=grace,
        students=("Ann", "Ben"),
        lessons=(("Phonics", "Language"), ("Plants", "Science")),
    )
    hedy_tokens = await signed_in(api, role="teacher", name="Hedy Lamarr")
    hedy = User(id=hedy_tokens["user"]["id"], name="Hedy Lamarr", token=hedy_tokens["access_token"])
    data_of(
        await api.post(
            "/api/teacher/classrooms/join",
            json={"join_code": place.classroom["teacher_join_code"]},
            headers=hedy.headers,
        )
    )
    for lesson in place.lessons:
        for student in place.students:
            body = {"lesson_id": lesson["id"], "student_id": student["id"], "status": "not_started"}
            data_of(
                await api.post(
                    "/api/teacher/progress-board/cards", json=body, headers=grace.headers
                ),
                201,
            )

    setup = await new_page(browser, address, console_errors, login=grace_tokens)
    await setup.goto(f"http://{address}/classroom?id={place.id}")
    await expect(setup.get_by_test_id("student-list").locator("li")).to_have_count(2)
    board = await new_page(browser, address, console_errors, login=hedy_tokens)
    await board.goto(f"http://{address}/board?classroom={place.id}")
    await expect(board.get_by_test_id("connection")).to_have_attribute("data-status", "open")
    cards = board.get_by_test_id("column-cards-not_started").locator(".card")
    await expect(cards).to_have_count(4)
    await expect(board.get_by_test_id("setup-link")).to_have_attribute(
        "href", f"/classroom?id={place.id}"
    )

    # Rename Ann: Hedy's board shows the new name on her cards and in the filter.
    await student_row(setup, "Ann").get_by_test_id("student-rename").click()
    await setup.get_by_test_id("rename-input").fill("Annie Easley")
    await setup.get_by_test_id("rename-save").click()
    await expect(student_row(setup, "Annie Easley")).to_be_visible()
    await expect(cards.filter(has_text="Annie Easley")).to_have_count(2)
    await expect(board.get_by_test_id("filter-student").locator("option")).to_have_text(
        ["All students", "Annie Easley", "Ben"]
    )

    # Delete a lesson: its cards and its category leave Hedy's board.
    row = setup.get_by_test_id("lesson-list").locator("li", has_text="Plants")
    await row.get_by_test_id("lesson-delete").click()
    await expect(setup.get_by_test_id("confirm-body")).to_contain_text("2 cards")
    await setup.get_by_test_id("confirm-ok").click()
    await expect(setup.get_by_test_id("lesson-list").locator("li")).to_have_count(1)
    await expect(cards).to_have_count(2)
    await expect(cards.filter(has_text="Plants")).to_have_count(0)
    await expect(board.get_by_test_id("filter-category").locator("option")).to_have_text(
        ["All categories", "Language"]
    )

    # Remove Ben: the card and the filter entry go too.
    await student_row(setup, "Ben").get_by_test_id("student-remove").click()
    await expect(setup.get_by_test_id("confirm-body")).to_contain_text("keep their own progress")
    await setup.get_by_test_id("confirm-ok").click()
    await expect(cards).to_have_count(1)
    await expect(board.get_by_test_id("filter-student").locator("option")).to_have_text(
        ["All students", "Annie Easley"]
    )
    server = await get_board(api, hedy, classroom_id=place.id)
    assert [card["student_name"] for column in server["columns"] for card in column["cards"]] == [
        "Annie Easley"
    ]
    assert unprovoked(console_errors) == []


async def test_unknown_words_are_named_next_to_the_words(
    browser: Browser, address: str, api: httpx.AsyncClient, console_errors: ConsoleErrors
) -> None:
    tokens = await signed_in(api, role="teacher", name="Grace Hopper")
    grace = User(id=tokens["user"]["id"], name="Grace Hopper", token=tokens["access_token"])
    place = await room(api, teacher=grace, students=(), lessons=(("Old words", "Language"),))
    page = await new_page(browser, address, console_errors, login=tokens)
    await page.goto(f"http://{address}/classroom?id={place.id}")
    # A word id the server doesn't know (as after a deck change): the editor names it.
    row = page.get_by_test_id("lesson-list").locator("li")
    await row.get_by_test_id("lesson-edit").click()
    dialog = page.get_by_test_id("lesson-dialog")
    await dialog.get_by_test_id("word-search").fill("gato")
    await dialog.get_by_test_id("word-results").locator("input").first.check()
    await page.route(
        re.compile(r"/api/teacher/lessons/"),
        lambda route: route.continue_(post_data='{"word_ids": ["es:no-such-word"]}'),
    )
    await dialog.get_by_test_id("lesson-save").click()
    await expect(dialog.get_by_test_id("lesson-words-error")).to_contain_text("es:no-such-word")
    await expect(dialog).to_be_visible()
    assert unprovoked(console_errors) == []


async def test_a_learner_joins_and_leaves_on_the_study_page(
    browser: Browser, address: str, api: httpx.AsyncClient, console_errors: ConsoleErrors
) -> None:
    tokens = await signed_in(api, role="teacher", name="Grace Hopper")
    grace = User(id=tokens["user"]["id"], name="Grace Hopper", token=tokens["access_token"])
    place = await room(api, teacher=grace, name="Room 9", students=(), lessons=())
    learner = await signed_in(api, role="learner", name="Lena Park")
    page = await new_page(browser, address, console_errors, login=learner)
    await page.goto(f"http://{address}/study")
    await expect(page.get_by_test_id("classes-empty")).to_be_visible()
    await page.get_by_test_id("join-code").fill("NOPE1234")
    await page.get_by_test_id("join-submit").click()
    await expect(page.get_by_test_id("join-note")).to_contain_text("No class has the code")
    await page.get_by_test_id("join-code").fill(place.classroom["student_join_code"])
    await page.get_by_test_id("join-code").press("Enter")
    await expect(page.get_by_test_id("class-name")).to_have_text("Room 9")
    await expect(page.get_by_test_id("class-as")).to_have_text("as Lena Park")
    await page.get_by_test_id("class-leave").click()
    await page.get_by_test_id("confirm-ok").click()
    await expect(page.get_by_test_id("class-list").locator("li")).to_have_count(0)
    await expect(page.get_by_test_id("classes-empty")).to_be_visible()
    assert unprovoked(console_errors) == []


async def test_a_realistic_set_up_page_on_desktop_and_phone(
    browser: Browser, address: str, api: httpx.AsyncClient, console_errors: ConsoleErrors
) -> None:
    """A classroom some weeks in (a dozen students, two of them joined, lessons of deck
    words): no console error, and the screenshots of docs/screenshots (written when
    TANDEM_SCREENSHOTS is set: `TANDEM_SCREENSHOTS=1 uv run pytest tests/web -k realistic`)."""
    tokens = await signed_in(api, role="teacher", name="Maria Lopez")
    maria = User(id=tokens["user"]["id"], name="Maria Lopez", token=tokens["access_token"])
    deck = data_of(await api.get("/api/v1/decks/es-basics", headers=maria.headers))
    by_topic: dict[str, list[str]] = {}
    for word in deck["words"]:
        by_topic.setdefault(word["topic"], []).append(word["id"])
    place = await room(api, teacher=maria, name="Year 3 · Room 12", students=(), lessons=())
    names = [
        "Ana García", "Ben Okafor", "Chen Wei", "Dara Singh", "Eli Cohen", "Fatima Noor",
        "Gus Berg", "Hana Sato", "Ivan Petrov", "Jade Martin", "Kofi Mensah", "Lena Park",
    ]  # fmt: skip
    body = {"classroom_id": place.id, "names": names}
    students = data_of(
        await api.post("/api/teacher/students/bulk", json=body, headers=maria.headers), 201
    )
    for student in students["students"][:2]:
        learner = await signed_in(api, role="learner", name=student["name"])
        join = {"join_code": student["join_code"]}
        headers = {"Authorization": f"Bearer {learner['access_token']}"}
        data_of(await api.post("/api/v1/classrooms/join", json=join, headers=headers))
    for title, category, topic in [
        ("Hello and goodbye", "Vocabulary", "Greetings"),
        ("Counting to ten", "Vocabulary", "Numbers"),
        ("My family", "Speaking", "Family"),
        ("At the café", "Speaking", "Food & drink"),
    ]:
        lesson = {
            "classroom_id": place.id,
            "title": title,
            "category": category,
            "word_ids": by_topic[topic][:10],
        }
        data_of(await api.post("/api/teacher/lessons", json=lesson, headers=maria.headers), 201)

    desktop, phone = await screenshot_devices(browser, address, console_errors, api, tokens)
    for page in (desktop, phone):
        await page.goto(f"http://{address}/classroom?id={place.id}")
        await expect(page.get_by_test_id("student-list").locator("li")).to_have_count(12)
        await expect(page.get_by_test_id("student-joined")).to_have_count(2)
        await expect(page.get_by_test_id("connection")).to_have_attribute("data-status", "open")
    await screenshot(desktop, "setup-desktop")
    await screenshot(phone, "setup-phone")
    for page in (desktop, phone):
        row = page.get_by_test_id("lesson-list").locator("li", has_text="Hello and goodbye")
        await row.get_by_test_id("lesson-edit").click()
        await page.get_by_test_id("word-topic").select_option("Greetings")
        await expect(page.get_by_test_id("lesson-words").locator("li")).to_have_count(10)
    await screenshot(desktop, "lesson-desktop")
    await screenshot(phone, "lesson-phone")
    # The print sheet: every student still holding their code, with the classroom's name.
    await desktop.get_by_test_id("lesson-cancel").click()
    await desktop.emulate_media(media="print")
    sheet = desktop.get_by_test_id("print-sheet")
    await expect(sheet).to_be_visible()
    await expect(sheet.locator("h1")).to_have_text("Year 3 · Room 12 — join codes")
    await expect(sheet.locator("tbody tr")).to_have_count(10)
    await expect(desktop.get_by_test_id("students-section")).to_be_hidden()
    assert console_errors == []
