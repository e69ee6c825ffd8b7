"""The study page's model (web/js/study-model.js), run in Chromium: its rules, with no DOM
and no server behind them. Events in seq order, what is due, the next card, the counts an
answer sends, the mastered toggle and its undo, a reset from a REST read, the old import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser

from tests.web.conftest import ConsoleErrors
from tests.web.pages import Module, open_module

pytestmark = pytest.mark.needs_browser

NOW = "2025-06-01T12:00:00.000Z"
# Words as GET /api/v1/decks/{id} shows them (contract §8).
WORDS = [
    {"id": "es:uno", "term": "uno", "translation": "one", "topic": "Numbers"},
    {"id": "es:dos", "term": "dos", "translation": "two", "topic": "Numbers"},
    {"id": "es:tres", "term": "tres", "translation": "three", "topic": "Numbers"},
    {"id": "es:rojo", "term": "rojo", "translation": "red", "topic": "Colours"},
    {"id": "es:azul", "term": "azul", "translation": "blue", "topic": "Colours"},
]


def record(
    word_id: str,
    *,
    studies: int = 1,
    correct: int = 1,
    next_review: str | None = "2025-06-02T00:00:00.000Z",
    mastered: bool = False,
    updated: str = "2025-05-30T00:00:00.000000Z",
) -> dict[str, Any]:
    """A progress record as the server sends it (contract §6), the fields the model reads."""
    return {
        "wordId": word_id,
        "studyCount": studies,
        "correctCount": correct,
        "confidence": 4,
        "mastered": mastered,
        "nextReview": next_review,
        "updatedAt": updated,
    }


def updated(seq: int, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "event",
        "channel": "progress",
        "seq": seq,
        "event": "progress.updated",
        "data": data,
    }


def deleted(seq: int, word_id: str) -> dict[str, Any]:
    return {
        "type": "event",
        "channel": "progress",
        "seq": seq,
        "event": "progress.deleted",
        "data": {"wordId": word_id},
    }


# A model over WORDS loaded with arg.items at arg.seq (`make(m, arg)` in the scripts below).
MAKE = """
  const make = (m, arg) => {
    const model = new m.StudyModel(arg.words);
    model.load({ items: arg.items ?? [], seq: arg.seq ?? 0 });
    return model;
  };
"""


def script(body: str) -> str:
    """A `(m, arg) => …` script with `make` and `now` (NOW in ms) in scope."""
    return f"(m, arg) => {{ {MAKE} const now = Date.parse(arg.now); {body} }}"


@pytest.fixture
async def model(
    browser: Browser, address: str, console_errors: ConsoleErrors
) -> AsyncIterator[Module]:
    module = await open_module(browser, address, console_errors, "/static/js/study-model.js")
    yield module
    assert console_errors == []


async def run(module: Module, body: str, **arg: Any) -> Any:
    return await module.run(script(body), {"words": WORDS, "now": NOW, **arg})


async def test_events_apply_in_seq_order_and_only_once(model: Module) -> None:
    frames = [
        updated(7, record("es:uno")),  # already in the REST read (seq 7)
        updated(8, record("es:dos", updated="2025-05-31T00:00:00.000000Z")),
        updated(8, record("es:tres")),  # a duplicate seq
        deleted(9, "es:uno"),
        updated(6, record("es:rojo")),  # older than what the model reflects
        deleted(10, "es:azul"),  # a word we hold no record for
        {**updated(11, record("es:rojo")), "event": "card.moved"},  # not a progress event
    ]
    result = await run(
        model,
        """
        const model = make(m, arg);
        const changes = arg.frames.map((frame) => model.apply(frame));
        return { changes, seq: model.seq, held: [...model.records.keys()].sort() };
        """,
        items=[record("es:uno")],
        seq=7,
        frames=frames,
    )
    assert result["changes"] == [
        None,
        {"wordId": "es:dos", "kind": "updated", "answered": True},
        None,
        {"wordId": "es:uno", "kind": "deleted", "answered": False},
        None,
        None,
        None,
    ]
    assert result["seq"] == 11
    assert result["held"] == ["es:dos"]


async def test_our_own_echo_and_an_older_record_change_nothing(model: Module) -> None:
    ours = record("es:uno", studies=2, updated="2025-06-01T10:00:00.000000Z")
    older = record("es:uno", studies=1, updated="2025-06-01T09:00:00.000000Z")
    newer = record("es:uno", studies=3, updated="2025-06-01T11:00:00.000000Z")
    result = await run(
        model,
        """
        const model = make(m, arg);
        const changes = arg.frames.map((frame) => model.apply(frame));
        return { changes, studies: model.records.get("es:uno").studyCount, seq: model.seq };
        """,
        items=[ours],
        seq=1,
        frames=[updated(2, ours), updated(3, older), updated(4, newer)],
    )
    assert result == {
        "changes": [None, None, {"wordId": "es:uno", "kind": "updated", "answered": True}],
        "studies": 3,
        "seq": 4,
    }


async def test_what_is_due(model: Module) -> None:
    items = [
        record("es:uno", next_review="2025-06-01T11:00:00.000Z"),  # an hour ago
        record("es:dos", next_review=NOW),  # this very moment
        record("es:tres", next_review="2025-06-01T12:00:01.000Z"),  # in a second
        record("es:rojo", next_review="2025-05-01T00:00:00.000Z", mastered=True),
    ]
    result = await run(
        model,
        """
        const model = make(m, arg);
        const kinds = Object.fromEntries(arg.words.map((word) => [word.id, model.kindOf(word, now)]));
        const due = arg.items.map((record) => m.isDue(record, now));
        return { kinds, due, never: m.isDue(null, now), unscheduled: m.isDue({ nextReview: null }, now),
                 summary: model.summary(now) };
        """,
        items=items,
    )
    assert result["kinds"] == {
        "es:uno": "due",
        "es:dos": "due",
        "es:tres": "later",
        "es:rojo": "mastered",
        "es:azul": "new",
    }
    assert result["due"] == [True, True, False, False]
    assert (result["never"], result["unscheduled"]) == (False, False)
    assert result["summary"] == {
        "due": 2,
        "new": 1,
        "later": 1,
        "mastered": 1,
        "caughtUp": False,
        "nextReview": "2025-06-01T12:00:01.000Z",
    }


async def test_caught_up_says_when_the_next_review_is(model: Module) -> None:
    items = [
        record(word["id"], next_review=f"2025-06-0{day}T00:00:00.000Z")
        for day, word in zip((4, 3, 5, 9, 6), WORDS, strict=True)
    ]
    summary = await run(model, "return make(m, arg).summary(now);", items=items)
    assert summary["caughtUp"] is True
    assert summary["nextReview"] == "2025-06-03T00:00:00.000Z"
    before_load = await run(model, "return new m.StudyModel(arg.words).summary(now);")
    assert before_load["caughtUp"] is False  # nothing is known yet: not "caught up"


async def test_the_next_card_is_due_first_then_new_then_later_then_mastered(
    model: Module,
) -> None:
    items = [
        record("es:uno", next_review="2025-06-09T00:00:00.000Z"),  # later
        record("es:dos", next_review="2025-06-01T08:00:00.000Z"),  # due, more recently
        record("es:tres", next_review="2025-05-20T00:00:00.000Z"),  # due, the oldest
        record("es:rojo", mastered=True),
    ]
    result = await run(
        model,
        """
        const model = make(m, arg);
        const order = model.studyOrder(now).map((word) => word.id);
        const first = model.pickNext(null, now).id;
        const notTres = model.pickNext("es:tres", now).id;
        model.show(model.word("es:tres"));
        const afterSkips = [model.skip(now).id, model.skip(now).id, model.skip(now).id, model.skip(now).id];
        const allSkipped = model.skip(now).id;
        return { order, first, notTres, afterSkips, allSkipped, skipped: [...model.skipped] };
        """,
        items=items,
    )
    assert result["order"] == ["es:tres", "es:dos", "es:azul", "es:uno", "es:rojo"]
    assert result["first"] == "es:tres"
    assert result["notTres"] == "es:dos"
    assert result["afterSkips"] == ["es:dos", "es:azul", "es:uno", "es:rojo"]
    # Every word skipped: the skips are forgotten and the order starts again (not the
    # word just skipped).
    assert result["allSkipped"] == "es:tres"
    assert result["skipped"] == []


async def test_the_words_are_an_input_in_their_order(model: Module) -> None:
    result = await run(
        model,
        """
        const model = make(m, arg);
        const before = model.pickNext(null, now).id;
        model.setWords([...arg.words].reverse());
        return { before, after: model.pickNext(null, now).id, one: model.word("es:dos").translation,
                 none: model.word("es:nada"), empty: new m.StudyModel([]).pickNext(null, now) };
        """,
    )
    assert result == {
        "before": "es:uno",
        "after": "es:azul",
        "one": "two",
        "none": None,
        "empty": None,
    }


async def test_the_counts_an_answer_sends(model: Module) -> None:
    base = record("es:uno", studies=3, correct=2)
    result = await run(
        model,
        """
        return {
          firstKnew: m.answerBody(null, true, 4),
          firstDidnt: m.answerBody(null, false, 0),
          knew: m.answerBody(arg.base, true, 5),
          didnt: m.answerBody(arg.base, false, 1),
          defaults: [m.confidenceOf(true), m.confidenceOf(false), m.confidenceOf(false, 0), m.confidenceOf(true, 2)],
          mastered: m.masteredBody(arg.base),
          masteredNew: m.masteredBody(null),
        };
        """,
        base=base,
    )
    assert result["firstKnew"] == {"studyCount": 1, "correctCount": 1, "confidence": 4}
    assert result["firstDidnt"] == {"studyCount": 1, "correctCount": 0, "confidence": 0}
    assert result["knew"] == {"studyCount": 4, "correctCount": 3, "confidence": 5}
    assert result["didnt"] == {"studyCount": 4, "correctCount": 2, "confidence": 1}
    assert result["defaults"] == [4, 1, 0, 2]
    assert result["mastered"] == {
        "studyCount": 3,
        "correctCount": 2,
        "confidence": 4,
        "mastered": True,
    }
    assert result["masteredNew"] == {
        "studyCount": 0,
        "correctCount": 0,
        "confidence": 5,
        "mastered": True,
    }


async def test_answering_moves_on_and_says_what_to_save(model: Module) -> None:
    result = await run(
        model,
        """
        const model = make(m, arg);
        model.show(model.pickNext(null, now));
        model.flipped = true;
        model.confidence = 2;
        const chosen = model.answer(true, now);
        model.adopt(arg.saved);  // the PUT's answer: es:uno is due tomorrow
        const unseen = model.answer(false, now);  // es:dos is not turned yet: no answer
        model.flipped = true;
        const byDefault = model.answer(false, now);
        return {
          chosen: { word: chosen.word.id, knew: chosen.knew, confidence: chosen.confidence, next: chosen.next.id },
          byDefault: { word: byDefault.word.id, confidence: byDefault.confidence }, unseen,
          current: model.current.id, flipped: model.flipped, confidence: model.confidence,
          answers: model.sessionAnswers, none: new m.StudyModel(arg.words).answer(true, now),
        };
        """,
        saved=record("es:uno"),
    )
    assert result["chosen"] == {"word": "es:uno", "knew": True, "confidence": 2, "next": "es:dos"}
    assert result["byDefault"] == {"word": "es:dos", "confidence": 1}
    assert result["unseen"] is None  # an answer is a judgement of the answer seen
    assert (result["current"], result["flipped"], result["confidence"]) == ("es:tres", False, None)
    assert result["answers"] == 2
    assert result["none"] is None


async def test_a_refused_mastered_toggle_is_undone_unless_news_came_first(model: Module) -> None:
    base = record("es:uno", studies=3, correct=2)
    newer = record("es:uno", studies=4, correct=3, updated="2025-06-01T11:00:00.000000Z")
    result = await run(
        model,
        """
        const model = make(m, arg);
        const marking = model.toggleMastered("es:uno");
        const optimistic = { kind: model.kindOf(model.word("es:uno"), now),
                             server: model.serverRecord("es:uno").studyCount };
        const undone = model.undoMastered(marking);
        const restored = model.records.get("es:uno") === model.serverRecord("es:uno");

        const again = model.toggleMastered("es:uno");
        model.apply({ seq: 2, event: "progress.updated", data: arg.newer });
        const keptNews = model.undoMastered(again);

        const unmarking = model.toggleMastered("es:dos");  // unmark a mastered word: unlearned
        const goneNow = model.records.has("es:dos");
        model.undoMastered(unmarking);
        return { marking: marking.marking, optimistic, undone, restored, keptNews,
                 studies: model.records.get("es:uno").studyCount, unmarking: unmarking.marking,
                 goneNow, back: model.records.get("es:dos").mastered };
        """,
        items=[base, record("es:dos", mastered=True)],
        seq=1,
        newer=newer,
    )
    assert result["marking"] is True
    assert result["optimistic"] == {"kind": "mastered", "server": 3}
    assert (result["undone"], result["restored"]) == (True, True)
    assert result["keptNews"] is False
    assert result["studies"] == 4
    assert (result["unmarking"], result["goneNow"], result["back"]) == (False, False, True)


async def test_a_rest_read_replaces_everything(model: Module) -> None:
    result = await run(
        model,
        """
        const model = make(m, arg);
        model.apply({ seq: 4, event: "progress.updated", data: arg.live });
        model.load({ items: arg.fresh, seq: 9 });
        const held = [...model.records.keys()];
        const stale = model.apply({ seq: 9, event: "progress.deleted", data: { wordId: "es:tres" } });
        const next = model.apply({ seq: 10, event: "progress.deleted", data: { wordId: "es:tres" } });
        return { held, stale, next, seq: model.seq, loaded: model.loaded, mastered: model.masteredCount() };
        """,
        items=[record("es:uno"), record("es:dos", mastered=True)],
        seq=3,
        live=record("es:rojo"),
        fresh=[record("es:tres"), record("es:azul", mastered=True)],
    )
    assert result["held"] == ["es:tres", "es:azul"]
    assert result["stale"] is None  # the REST read at seq 9 already reflects it
    assert result["next"] == {"wordId": "es:tres", "kind": "deleted", "answered": False}
    assert (result["seq"], result["loaded"], result["mastered"]) == (10, True, 1)


async def test_the_old_apps_progress_is_counted(model: Module) -> None:
    result = await model.run(
        """(m) => [null, "", "  ", '{"es:uno": {}, "es:dos": {}}', "[1, 2]", "not json"]
              .map((raw) => m.parseOldProgress(raw))"""
    )
    assert result == [
        None,
        None,
        None,
        {"raw": '{"es:uno": {}, "es:dos": {}}', "count": 2},
        {"raw": "[1, 2]", "count": None},
        {"raw": "not json", "count": None},
    ]


async def test_an_answer_from_elsewhere_is_told_from_a_mastered_change(model: Module) -> None:
    """`answered` says a study count rose (another device answered: move on), not a
    mastered toggle nor a confidence change."""
    base = record("es:uno", studies=2, updated="2025-06-01T10:00:00.000000Z")
    mastered = {**base, "mastered": True, "updatedAt": "2025-06-01T10:01:00.000000Z"}
    answered = {**mastered, "studyCount": 3, "updatedAt": "2025-06-01T10:02:00.000000Z"}
    result = await run(
        model,
        "const model = make(m, arg); return arg.frames.map((frame) => model.apply(frame));",
        items=[base],
        seq=1,
        frames=[updated(2, mastered), updated(3, answered)],
    )
    assert [change["answered"] for change in result] == [False, True]


# Two lessons as GET /api/v1/assignments lists them (contract §9): one of deck words, one
# with a teacher's own word the deck doesn't have.
LESSONS = [
    {
        "lesson_id": "l-colours",
        "classroom": {"id": "c1", "name": "Class 4A"},
        "title": "Colours",
        "category": "Vocabulary",
        "status": "not_started",
        "words": [WORDS[4], WORDS[3]],
        "progress": None,
    },
    {
        "lesson_id": "l-class",
        "classroom": {"id": "c1", "name": "Class 4A"},
        "title": "In class",
        "category": "Vocabulary",
        "status": "in_progress",
        "words": [
            {"id": "w:pizarra", "term": "la pizarra", "translation": "the board", "topic": None},
            WORDS[2],
        ],
        "progress": None,
    },
]


async def test_your_lessons_come_first_then_everything_due_then_the_deck(model: Module) -> None:
    items = [
        record("es:uno", next_review="2025-05-20T00:00:00.000Z"),  # due, in no lesson
        record("es:rojo", next_review="2025-06-09T00:00:00.000Z"),  # a lesson's, later
        record("es:tres", next_review="2025-05-30T00:00:00.000Z", mastered=True),
    ]
    result = await run(
        model,
        """
        const model = make(m, arg);
        model.setLessons(arg.lessons);
        const all = model.studyOrder(now).map((word) => word.id);
        model.choose("l-class");
        const chosen = model.studyOrder(now).map((word) => word.id);
        const lessonOfRojo = model.lessonOf("es:rojo").title;
        const progress = arg.lessons.map((lesson) => model.lessonProgress(lesson));
        const own = model.word("w:pizarra").term;
        model.setLessons(arg.lessons.slice(0, 1));  // left the class of the chosen lesson
        return { all, chosen, lessonOfRojo, progress, after: model.chosen, own,
                 deck: model.deck.length, known: model.words.length, none: model.lessonOf("es:dos") };
        """,
        items=items,
        lessons=LESSONS,
    )
    # Colours: azul (new; rojo is later); In class: la pizarra (new; tres is mastered);
    # then es:uno (due), then the deck's new words, then later, then mastered.
    assert result["all"] == ["es:azul", "w:pizarra", "es:uno", "es:dos", "es:rojo", "es:tres"]
    assert result["chosen"] == ["w:pizarra", "es:azul", "es:uno", "es:dos", "es:rojo", "es:tres"]
    assert result["lessonOfRojo"] == "Colours"
    assert result["progress"] == [
        {"words": 2, "started": 1, "mastered": 0},
        {"words": 2, "started": 1, "mastered": 1},
    ]
    assert result["after"] is None
    assert result["own"] == "la pizarra"
    assert (result["deck"], result["known"]) == (5, 5)  # the own word left with its lesson
    assert result["none"] is None


async def test_a_word_waiting_in_the_outbox_is_not_offered_again(model: Module) -> None:
    result = await run(
        model,
        """
        const model = make(m, arg);
        model.waiting = new Set(["es:uno", "es:dos"]);
        return model.pickNext(null, now).id;
        """,
    )
    assert result == "es:tres"


@pytest.fixture
async def outbox(
    browser: Browser, address: str, console_errors: ConsoleErrors
) -> AsyncIterator[Module]:
    module = await open_module(browser, address, console_errors, "/static/js/study-outbox.js")
    yield module
    assert console_errors == []


# A storage like localStorage, in memory; `arg.stored` is what it holds at the start.
STORAGE = """
  const storage = (stored) => {
    const items = new Map(Object.entries(stored ?? {}));
    return { items, getItem: (k) => items.get(k) ?? null, setItem: (k, v) => items.set(k, String(v)),
             removeItem: (k) => items.delete(k) };
  };
"""


async def test_the_outbox_keeps_answers_and_sends_each_once(outbox: Module) -> None:
    result = await outbox.run(
        f"""(m, arg) => {{ {STORAGE}
        const store = storage();
        const box = new m.Outbox(store, "u1");
        const first = box.add("es:uno", true, 4);
        box.add("es:uno", false, 1);
        box.add("es:dos", true, 5);
        const kept = JSON.parse(store.getItem("tandem-outbox:u1")).length;
        const sent = box.bodyFor(box.next(), arg.base);       // sent, the answer lost on the way
        const resent = box.bodyFor(box.next(), null);         // resent: the same counts
        const merged = box.rebase(box.next(), arg.newer);     // 409: newer counts elsewhere
        box.done(first);
        const second = box.bodyFor(box.next(), arg.saved);
        const reopened = new m.Outbox(store, "u1");           // a new page on this device
        const other = new m.Outbox(store, "u2");              // another account's outbox
        box.done(box.next());
        box.done(box.next());
        return {{ kept, sent, resent, merged, second, reopened: reopened.entries.map((e) => e.wordId),
                 holds: [reopened.holds("es:dos"), reopened.holds("es:tres")], other: other.size,
                 emptied: store.getItem("tandem-outbox:u1"), broken: new m.Outbox(storage({{ "tandem-outbox:u1": "{{" }}), "u1").size }};
        }}""",
        {
            "base": record("es:uno", studies=3, correct=2),
            "newer": record("es:uno", studies=5, correct=4),
            "saved": record("es:uno", studies=6, correct=5),
        },
    )
    assert result["kept"] == 3
    assert result["sent"] == {"studyCount": 4, "correctCount": 3, "confidence": 4}
    assert result["resent"] == result["sent"]
    assert result["merged"] == {"studyCount": 6, "correctCount": 5, "confidence": 4}
    assert result["second"] == {"studyCount": 7, "correctCount": 5, "confidence": 1}
    assert result["reopened"] == ["es:uno", "es:dos"]
    assert result["holds"] == [True, False]
    assert result["other"] == 0
    assert result["emptied"] is None
    assert result["broken"] == 0
