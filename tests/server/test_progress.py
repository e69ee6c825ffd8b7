"""Learner progress over REST (contract §6, with §2's conventions), on either backend.

Every endpoint and every refusal: PUT (create, update, unchanged, stale, strict bodies, word
id rules), GET one and all (with ``seq`` and ``?due=true``), DELETE, the all-or-nothing batch,
the stats, and the isolation of one user's progress from another's. Whether a write emitted
an event is read from the ``seq`` that ``GET /api/v1/progress`` reports for the channel.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.progress.scheduling import SchedulerState, review
from tests.helpers import bearer, error_of, user_headers
from tests.progress_helpers import (
    PROGRESS,
    Headers,
    progress_body,
    progress_listing,
    put_progress,
)

Client = AsyncTestClient[Litestar]
RECORD_KEYS = {
    "wordId",
    "studyCount",
    "correctCount",
    "confidence",
    "mastered",
    "lastStudiedAt",
    "nextReview",
    "createdAt",
    "updatedAt",
}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
LONG_AGO = "2020-01-01T00:00:00Z"


# --- helpers -----------------------------------------------------------------------------------


def _item(word_id: str, study: Any, correct: Any, confidence: Any, **more: Any) -> Any:
    """A batch item; any field may be given a wrong type on purpose."""
    counts = {"studyCount": study, "correctCount": correct, "confidence": confidence}
    return {"wordId": word_id, **counts, **more}


async def _created(
    client: Client, headers: Headers, word_id: str, study: int, correct: int, confidence: int
) -> dict[str, Any]:
    response = await put_progress(client, headers, word_id, study, correct, confidence)
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()["data"]
    return record


async def _seq(client: Client, headers: Headers) -> int:
    return (await progress_listing(client, headers))[1]


async def _one(client: Client, headers: Headers, word_id: str) -> dict[str, Any]:
    response = await client.get(f"{PROGRESS}/{word_id}", headers=headers)
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()["data"]
    return record


async def _import(client: Client, headers: Headers, body: Any) -> dict[str, Any]:
    response = await client.post(f"{PROGRESS}/import", json=body, headers=headers)
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()["data"]
    return report


async def _batch(client: Client, headers: Headers, updates: list[Any]) -> httpx.Response:
    return await client.post(f"{PROGRESS}/batch", json={"updates": updates}, headers=headers)


def _instant(value: str) -> datetime:
    assert TIMESTAMP.match(value), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _fields(error: dict[str, Any]) -> set[str]:
    return {field["field"] for field in error["details"]["fields"]}


def _bad_indexes(error: dict[str, Any]) -> set[int]:
    return {item["index"] for item in error["details"]["items"]}


# --- PUT ---------------------------------------------------------------------------------------


async def test_put_creates_a_record_with_every_field(client: Client) -> None:
    headers = await user_headers(client)
    before = datetime.now(UTC)
    response = await put_progress(client, headers, "de:Haus_1", 3, 2, 4)
    after = datetime.now(UTC)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["success"] is True
    record = body["data"]
    assert set(record) == RECORD_KEYS
    assert (record["wordId"], record["studyCount"], record["correctCount"]) == ("de:Haus_1", 3, 2)
    assert (record["confidence"], record["mastered"]) == (4, False)
    for key in ("lastStudiedAt", "nextReview", "createdAt", "updatedAt"):
        assert TIMESTAMP.match(record[key]), (key, record[key])
    studied = _instant(record["lastStudiedAt"])
    assert before - timedelta(seconds=1) <= studied <= after + timedelta(seconds=1)
    assert record["createdAt"] == record["updatedAt"] == record["lastStudiedAt"]
    # Computed on the server: one Again, then two Good (confidence 4), all at the PUT.
    expected = review(SchedulerState.new(studied), studies=3, correct=2, confidence=4, at=studied)
    assert _instant(record["nextReview"]) == expected.due > studied
    assert await _one(client, headers, "de:Haus_1") == record


async def test_the_largest_counts_are_scheduled_at_once(client: Client) -> None:
    # A billion studies in one PUT (the largest count accepted): answered like any other,
    # with the schedule a review-by-review replay would give (tests/server/test_scheduling.py),
    # not after replaying a billion reviews.
    headers = await user_headers(client)
    billion = 1_000_000_000
    response = await put_progress(client, headers, "fr:chat", billion, billion - 1, 5)
    assert response.status_code == 201, response.text
    record = response.json()["data"]
    studied = _instant(record["lastStudiedAt"])
    expected = review(
        SchedulerState.new(studied), studies=billion, correct=billion - 1, confidence=5, at=studied
    )
    assert _instant(record["nextReview"]) == expected.due > studied
    assert (record["studyCount"], record["correctCount"]) == (billion, billion - 1)


async def test_put_updates_a_record(client: Client) -> None:
    headers = await user_headers(client)
    first = await _created(client, headers, "hund", 3, 2, 4)
    response = await put_progress(client, headers, "hund", 5, 3, 5, mastered=True)
    assert response.status_code == 200, response.text
    record = response.json()["data"]
    assert (record["studyCount"], record["correctCount"], record["confidence"]) == (5, 3, 5)
    assert record["mastered"] is True
    assert record["createdAt"] == first["createdAt"]
    assert _instant(record["updatedAt"]) > _instant(first["updatedAt"])
    assert record["lastStudiedAt"] == record["updatedAt"]
    # The new reviews (one Again, one Easy) continue the word's schedule.
    studied = _instant(first["lastStudiedAt"])
    state = review(SchedulerState.new(studied), studies=3, correct=2, confidence=4, at=studied)
    again = _instant(record["lastStudiedAt"])
    expected = review(state, studies=2, correct=1, confidence=5, at=again)
    assert _instant(record["nextReview"]) == expected.due
    assert await _one(client, headers, "hund") == record


async def test_an_identical_put_changes_nothing_and_emits_nothing(client: Client) -> None:
    headers = await user_headers(client)
    created = await _created(client, headers, "hund", 3, 2, 4)
    assert await _seq(client, headers) == 1
    for body in (progress_body(3, 2, 4), progress_body(3, 2, 4, mastered=False)):
        response = await client.put(f"{PROGRESS}/hund", json=body, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["data"] == created
    assert await _seq(client, headers) == 1
    assert await _one(client, headers, "hund") == created


@pytest.mark.parametrize(("study", "correct"), [(4, 3), (5, 2), (2, 0)])
async def test_a_stale_device_gets_409_with_the_stored_record(
    client: Client, study: int, correct: int
) -> None:
    headers = await user_headers(client)
    stored = await _created(client, headers, "hund", 5, 3, 4)
    error = error_of(
        await put_progress(client, headers, "hund", study, correct, 5), 409, "VERSION_CONFLICT"
    )
    assert error["details"]["current"] == stored
    assert await _one(client, headers, "hund") == stored
    assert await _seq(client, headers) == 1


async def test_left_out_mastered_keeps_the_stored_value(client: Client) -> None:
    headers = await user_headers(client)
    created = await _created(client, headers, "hund", 1, 1, 3)
    assert created["mastered"] is False
    marked = await put_progress(client, headers, "hund", 1, 1, 3, mastered=True)
    assert marked.status_code == 200
    assert marked.json()["data"]["mastered"] is True
    studied_more = await put_progress(client, headers, "hund", 2, 2, 4)
    assert studied_more.status_code == 200
    assert studied_more.json()["data"]["mastered"] is True
    unmarked = await put_progress(client, headers, "hund", 2, 2, 4, mastered=False)
    assert unmarked.json()["data"]["mastered"] is False
    assert (await _one(client, headers, "hund"))["mastered"] is False


async def test_unknown_fields_are_refused_by_name(client: Client) -> None:
    headers = await user_headers(client)
    body = {
        **progress_body(1, 1, 3),
        "nextReview": "2030-01-01T00:00:00.000000Z",
        "userId": "00000000-0000-0000-0000-000000000000",
    }
    error = error_of(
        await client.put(f"{PROGRESS}/hund", json=body, headers=headers), 400, "VALIDATION_ERROR"
    )
    assert _fields(error) == {"nextReview", "userId"}
    error_of(await client.get(f"{PROGRESS}/hund", headers=headers), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("studyCount", "3"),
        ("correctCount", "1"),
        ("confidence", "4"),
        ("mastered", "true"),
        ("studyCount", 2.5),
        ("confidence", True),
        ("studyCount", None),
    ],
)
async def test_types_are_strict(client: Client, field: str, value: Any) -> None:
    headers = await user_headers(client)
    body = {**progress_body(3, 1, 4), field: value}
    error = error_of(
        await client.put(f"{PROGRESS}/hund", json=body, headers=headers), 400, "VALIDATION_ERROR"
    )
    assert _fields(error) == {field}
    error_of(await client.get(f"{PROGRESS}/hund", headers=headers), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (progress_body(3, 1, 6), "confidence"),
        (progress_body(3, 1, -1), "confidence"),
        (progress_body(-1, 0, 3), "studyCount"),
        (progress_body(3, -2, 3), "correctCount"),
        (progress_body(3, 4, 3), "correctCount"),
        ({"correctCount": 1, "confidence": 3}, "studyCount"),
    ],
)
async def test_values_out_of_range_are_refused(client: Client, body: Any, field: str) -> None:
    headers = await user_headers(client)
    error = error_of(
        await client.put(f"{PROGRESS}/hund", json=body, headers=headers), 400, "VALIDATION_ERROR"
    )
    assert field in _fields(error)
    error_of(await client.get(f"{PROGRESS}/hund", headers=headers), 404, "NOT_FOUND")


async def test_a_body_that_is_not_json_is_refused(client: Client) -> None:
    headers = await user_headers(client)
    response = await client.put(
        f"{PROGRESS}/hund",
        content=b'{"studyCount": 1,',
        headers={**headers, "Content-Type": "application/json"},
    )
    error_of(response, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "word_id", ["x" * 129, "a%20b", "a$b", "%C3%A9t%C3%A9", "a,b", "...", "....", "a%2Bb"]
)
async def test_word_ids_outside_the_rules_are_refused(client: Client, word_id: str) -> None:
    headers = await user_headers(client)
    response = await client.put(
        f"{PROGRESS}/{word_id}", json=progress_body(1, 1, 3), headers=headers
    )
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert {f.replace("_", "").lower() for f in _fields(error)} == {"wordid"}
    assert await progress_listing(client, headers) == ({}, 0)


@pytest.mark.parametrize("word_id", ["x" * 128, "a", "de:Haus_1.a-b", "a.", ".a", "-", "_:"])
async def test_word_ids_within_the_rules_are_accepted(client: Client, word_id: str) -> None:
    headers = await user_headers(client)
    record = await _created(client, headers, word_id, 1, 1, 3)
    assert record["wordId"] == word_id
    assert await _one(client, headers, word_id) == record


@pytest.mark.parametrize("word_id", ["stats", "batch", "import"])
async def test_reserved_word_ids_cannot_be_put(client: Client, word_id: str) -> None:
    """These name routes, so a PUT on them reaches the route, not a word."""
    headers = await user_headers(client)
    response = await client.put(
        f"{PROGRESS}/{word_id}", json=progress_body(1, 1, 3), headers=headers
    )
    error_of(response, 405, "METHOD_NOT_ALLOWED")
    assert await progress_listing(client, headers) == ({}, 0)


# --- GET and DELETE ----------------------------------------------------------------------------


async def test_get_one_and_404(client: Client) -> None:
    headers = await user_headers(client)
    record = await _created(client, headers, "hund", 2, 1, 3)
    assert await _one(client, headers, "hund") == record
    error_of(await client.get(f"{PROGRESS}/katze", headers=headers), 404, "NOT_FOUND")


async def test_get_all_lists_every_record_with_the_channel_seq(client: Client) -> None:
    headers = await user_headers(client)
    assert await progress_listing(client, headers) == ({}, 0)
    katze = await _created(client, headers, "katze", 1, 0, 2)
    hund = await _created(client, headers, "hund", 2, 1, 3)
    response = await client.get(PROGRESS, headers=headers)
    assert response.json() == {"success": True, "data": {"items": [hund, katze], "seq": 2}}
    assert (await put_progress(client, headers, "hund", 2, 1, 3)).status_code == 200  # unchanged
    assert await _seq(client, headers) == 2
    assert (await client.delete(f"{PROGRESS}/katze", headers=headers)).status_code == 200
    assert await progress_listing(client, headers) == ({"hund": hund}, 3)


async def test_due_lists_what_is_due_now_and_leaves_mastered_words_out(client: Client) -> None:
    headers = await user_headers(client)
    report = await _import(
        client,
        headers,
        {
            "old": {"studyCount": 5, "correctCount": 5, "confidence": 5, "lastStudied": LONG_AGO},
            "old-mastered": {
                "studyCount": 4,
                "correctCount": 4,
                "confidence": 5,
                "lastStudied": LONG_AGO,
                "mastered": True,
            },
        },
    )
    assert report["imported"] == 2
    await _created(client, headers, "fresh", 2, 2, 5)  # Easy today: due in days
    await _created(client, headers, "wrong", 1, 0, 3)  # wrong today: due in a minute
    await _created(client, headers, "unstudied", 0, 0, 0)  # never reviewed: due at once
    everything, seq = await progress_listing(client, headers)
    due, due_seq = await progress_listing(client, headers, due=True)
    now = datetime.now(UTC)
    assert set(due) == {"old", "unstudied"}
    assert due_seq == seq == 5
    for word_id, record in everything.items():
        is_due = _instant(record["nextReview"]) <= now and not record["mastered"]
        assert (word_id in due) == is_due, record
    assert _instant(everything["wrong"]["nextReview"]) > now
    assert _instant(everything["old-mastered"]["nextReview"]) <= now
    assert due["old"] == everything["old"]
    not_due, _ = await progress_listing(client, headers)
    assert (await client.get(PROGRESS, params={"due": "false"}, headers=headers)).json()["data"][
        "items"
    ] == list(not_due.values())


async def test_delete_unlearns_the_word(client: Client) -> None:
    headers = await user_headers(client)
    await _created(client, headers, "hund", 2, 1, 3)
    response = await client.delete(f"{PROGRESS}/hund", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": {"wordId": "hund"}}
    error_of(await client.get(f"{PROGRESS}/hund", headers=headers), 404, "NOT_FOUND")
    error_of(await client.delete(f"{PROGRESS}/hund", headers=headers), 404, "NOT_FOUND")
    assert await progress_listing(client, headers) == ({}, 2)
    # Learning it again starts a new record.
    again = await put_progress(client, headers, "hund", 1, 1, 3)
    assert again.status_code == 201
    assert again.json()["data"]["studyCount"] == 1


async def test_delete_of_an_unknown_word_is_404_and_emits_nothing(client: Client) -> None:
    headers = await user_headers(client)
    error_of(await client.delete(f"{PROGRESS}/hund", headers=headers), 404, "NOT_FOUND")
    assert await _seq(client, headers) == 0


# --- batch -------------------------------------------------------------------------------------


async def test_batch_answers_the_items_in_order(client: Client) -> None:
    headers = await user_headers(client)
    await _created(client, headers, "b", 1, 1, 3)
    updates = [_item("c", 3, 1, 2), _item("a", 1, 1, 5, mastered=True), _item("b", 2, 1, 4)]
    response = await _batch(client, headers, updates)
    assert response.status_code == 200, response.text
    items = response.json()["data"]["items"]
    assert [i["wordId"] for i in items] == ["c", "a", "b"]
    assert [(i["studyCount"], i["correctCount"], i["confidence"]) for i in items] == [
        (3, 1, 2),
        (1, 1, 5),
        (2, 1, 4),
    ]
    assert [i["mastered"] for i in items] == [False, True, False]
    records, seq = await progress_listing(client, headers)
    assert records == {i["wordId"]: i for i in items}
    assert seq == 4


async def test_a_word_repeated_in_a_batch_applies_in_order(client: Client) -> None:
    headers = await user_headers(client)
    updates = [_item("a", 1, 1, 3), _item("b", 1, 0, 2), _item("a", 3, 2, 5, mastered=True)]
    response = await _batch(client, headers, updates)
    assert response.status_code == 200, response.text
    items = response.json()["data"]["items"]
    assert [(i["wordId"], i["studyCount"]) for i in items] == [("a", 1), ("b", 1), ("a", 3)]
    assert items[0]["mastered"] is False
    assert await _one(client, headers, "a") == items[2]
    assert await _seq(client, headers) == 3


async def test_batch_items_that_change_nothing_emit_nothing(client: Client) -> None:
    headers = await user_headers(client)
    stored = await _created(client, headers, "a", 2, 1, 3)
    response = await _batch(client, headers, [_item("a", 2, 1, 3), _item("b", 1, 1, 4)])
    assert response.status_code == 200, response.text
    assert response.json()["data"]["items"][0] == stored
    assert await _seq(client, headers) == 2


async def _batch_refused(client: Client, headers: Headers, updates: list[Any]) -> dict[str, Any]:
    """Send a batch that must be refused; check that nothing at all was written."""
    before = await progress_listing(client, headers)
    error = error_of(await _batch(client, headers, updates), 400, "VALIDATION_ERROR")
    assert await progress_listing(client, headers) == before
    return error


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (_item("z", "2", 1, 3), "studyCount"),
        (_item("z", 2, 1, 9), "confidence"),
        (_item("z", 2, 3, 3), "correctCount"),
        (_item("z", 2, 1, 3, nextReview=LONG_AGO), "nextReview"),
        (_item("bad id", 2, 1, 3), "wordId"),
        (_item("...", 2, 1, 3), "wordId"),
        (_item("stats", 2, 1, 3), "wordId"),
        (_item("x" * 129, 2, 1, 3), "wordId"),
        ({"studyCount": 1, "correctCount": 0, "confidence": 3}, "wordId"),
    ],
)
async def test_one_bad_item_refuses_the_whole_batch(client: Client, bad: Any, field: str) -> None:
    headers = await user_headers(client)
    await _created(client, headers, "a", 1, 1, 3)
    error = await _batch_refused(client, headers, [_item("a", 2, 2, 4), bad, _item("b", 1, 0, 1)])
    assert [(i["index"], i["field"]) for i in error["details"]["items"]] == [(1, field)]
    assert all(i["message"] for i in error["details"]["items"])


async def test_every_bad_item_is_named(client: Client) -> None:
    headers = await user_headers(client)
    updates = [
        _item("a", 1, 1, 3),
        _item("b", "1", 1, 3),
        _item("c", 1, 1, 3),
        _item("d", 1, 1, 7),
        _item("e", 1, 1, 3, userId="x"),
    ]
    error = await _batch_refused(client, headers, updates)
    assert _bad_indexes(error) == {1, 3, 4}


async def test_counts_lower_than_stored_refuse_the_batch(client: Client) -> None:
    headers = await user_headers(client)
    await _created(client, headers, "a", 5, 5, 4)
    await _created(client, headers, "c", 4, 2, 4)
    updates = [_item("b", 1, 1, 3), _item("a", 3, 3, 4), _item("c", 4, 1, 4), _item("d", 1, 0, 2)]
    error = await _batch_refused(client, headers, updates)
    assert _bad_indexes(error) == {1, 2}
    error_of(await client.get(f"{PROGRESS}/b", headers=headers), 404, "NOT_FOUND")


async def test_a_repeated_word_going_backwards_refuses_the_batch(client: Client) -> None:
    headers = await user_headers(client)
    error = await _batch_refused(
        client, headers, [_item("a", 3, 2, 4), _item("b", 1, 1, 3), _item("a", 2, 2, 4)]
    )
    assert _bad_indexes(error) == {2}


async def test_a_refused_batch_shows_the_stored_record_as_current(client: Client) -> None:
    # Item 1 is stale only against item 0's record, which the refusal never saved.
    headers = await user_headers(client)
    stored = await _created(client, headers, "a", 2, 1, 3)
    error = await _batch_refused(client, headers, [_item("a", 6, 4, 4), _item("a", 4, 2, 4)])
    (item,) = error["details"]["items"]
    assert item["index"] == 1
    assert item["current"] == stored
    assert "earlier item" in item["message"]
    assert "stored" not in item["message"]


async def test_a_refused_batch_shows_no_record_for_a_word_not_stored(client: Client) -> None:
    headers = await user_headers(client)
    error = await _batch_refused(client, headers, [_item("a", 6, 4, 4), _item("a", 4, 2, 4)])
    (item,) = error["details"]["items"]
    assert item["index"] == 1
    assert item["current"] is None
    error_of(await client.get(f"{PROGRESS}/a", headers=headers), 404, "NOT_FOUND")


async def test_a_repeated_word_below_the_stored_record_says_stored(client: Client) -> None:
    headers = await user_headers(client)
    stored = await _created(client, headers, "a", 5, 3, 3)
    error = await _batch_refused(client, headers, [_item("a", 6, 4, 4), _item("a", 4, 2, 4)])
    (item,) = error["details"]["items"]
    assert (item["index"], item["message"]) == (1, "counts are lower than the stored ones")
    assert item["current"] == stored


async def test_stale_and_invalid_items_are_named_together(client: Client) -> None:
    headers = await user_headers(client)
    await _created(client, headers, "a", 5, 5, 4)
    error = await _batch_refused(
        client, headers, [_item("a", 3, 3, 4), _item("b", 1, 2, 3), _item("c", 1, 1, 3)]
    )
    assert _bad_indexes(error) == {0, 1}


@pytest.mark.parametrize("size", [0, 1001])
async def test_a_batch_has_one_to_a_thousand_items(client: Client, size: int) -> None:
    headers = await user_headers(client)
    updates = [_item(f"w{n}", 1, 1, 3) for n in range(size)]
    error = await _batch_refused(client, headers, updates)
    assert "updates" in _fields(error)


async def test_a_batch_without_updates_is_refused(client: Client) -> None:
    headers = await user_headers(client)
    bodies: list[Any] = [{}, {"updates": {}}, [_item("a", 1, 1, 3)]]
    for body in bodies:
        response = await client.post(f"{PROGRESS}/batch", json=body, headers=headers)
        error_of(response, 400, "VALIDATION_ERROR")
    assert await progress_listing(client, headers) == ({}, 0)


async def test_a_thousand_item_batch_works(client: Client) -> None:
    headers = await user_headers(client)
    await _created(client, headers, "w0500", 1, 0, 1)
    updates = [_item(f"w{n:04}", 2, n % 3, n % 6) for n in range(1000)]
    response = await _batch(client, headers, updates)
    assert response.status_code == 200, response.text
    items = response.json()["data"]["items"]
    assert [i["wordId"] for i in items] == [f"w{n:04}" for n in range(1000)]
    records, seq = await progress_listing(client, headers)
    assert len(records) == 1000
    assert records["w0999"] == items[999]
    assert records["w0500"]["studyCount"] == 2
    assert seq == 1001


# --- stats -------------------------------------------------------------------------------------


async def _stats(client: Client, headers: Headers) -> dict[str, Any]:
    response = await client.get(f"{PROGRESS}/stats", headers=headers)
    assert response.status_code == 200, response.text
    stats: dict[str, Any] = response.json()["data"]
    return stats


async def test_stats_of_a_known_set(client: Client) -> None:
    headers = await user_headers(client)
    await _created(client, headers, "a", 4, 3, 4)
    assert (await put_progress(client, headers, "b", 2, 0, 0, mastered=True)).status_code == 201
    await _import(
        client,
        headers,
        {
            "c": {"studyCount": 10, "correctCount": 8, "confidence": 5, "lastStudied": LONG_AGO},
            "d": {
                "studyCount": 3,
                "correctCount": 3,
                "confidence": 5,
                "lastStudied": LONG_AGO,
                "mastered": True,
            },
        },
    )
    stats = await _stats(client, headers)
    due, _ = await progress_listing(client, headers, due=True)
    assert set(due) == {"c"}
    assert stats == {
        "totalWords": 4,
        "masteredWords": 2,
        "learningWords": 2,
        "dueNow": len(due),
        "studiedToday": 2,
        "totalStudies": 19,
        "totalCorrect": 14,
        "accuracy": pytest.approx(14 / 19),
    }


async def test_stats_with_nothing_studied(client: Client) -> None:
    headers = await user_headers(client)
    assert await _stats(client, headers) == {
        "totalWords": 0,
        "masteredWords": 0,
        "learningWords": 0,
        "dueNow": 0,
        "studiedToday": 0,
        "totalStudies": 0,
        "totalCorrect": 0,
        "accuracy": 0,
    }
    await _created(client, headers, "a", 0, 0, 0)
    stats = await _stats(client, headers)
    due, _ = await progress_listing(client, headers, due=True)
    assert (stats["totalWords"], stats["learningWords"], stats["totalStudies"]) == (1, 1, 0)
    assert stats["studiedToday"] == 0
    assert stats["dueNow"] == len(due)
    assert stats["accuracy"] == 0


# --- isolation and auth ------------------------------------------------------------------------


async def test_progress_is_isolated_between_users(client: Client) -> None:
    ada = await user_headers(client, name="Ada")
    bob = await user_headers(client, name="Bob")
    adas = await _created(client, ada, "hund", 5, 4, 4)
    error_of(await client.get(f"{PROGRESS}/hund", headers=bob), 404, "NOT_FOUND")
    error_of(await client.delete(f"{PROGRESS}/hund", headers=bob), 404, "NOT_FOUND")
    assert await progress_listing(client, bob) == ({}, 0)
    assert (await _stats(client, bob))["totalWords"] == 0
    # Lower counts than Ada's are no conflict: Bob's record is his own.
    bobs = await _created(client, bob, "hund", 1, 0, 1)
    assert bobs["studyCount"] == 1
    assert await _one(client, ada, "hund") == adas
    assert await progress_listing(client, ada) == ({"hund": adas}, 1)
    assert await progress_listing(client, bob) == ({"hund": bobs}, 1)
    batch = await _batch(client, bob, [_item("katze", 1, 1, 3)])
    assert batch.status_code == 200
    assert set((await progress_listing(client, ada))[0]) == {"hund"}
    assert (await client.delete(f"{PROGRESS}/hund", headers=bob)).status_code == 200
    assert await _one(client, ada, "hund") == adas


async def test_a_teacher_has_progress_of_their_own(client: Client) -> None:
    teacher = await user_headers(client, role="teacher", name="Grace")
    learner = await user_headers(client)
    record = await _created(client, teacher, "hund", 2, 2, 5)
    assert await progress_listing(client, teacher) == ({"hund": record}, 1)
    assert (await _stats(client, teacher))["totalWords"] == 1
    error_of(await client.get(f"{PROGRESS}/hund", headers=learner), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", PROGRESS, None),
        ("GET", f"{PROGRESS}?due=true", None),
        ("GET", f"{PROGRESS}/hund", None),
        ("PUT", f"{PROGRESS}/hund", progress_body(1, 1, 3)),
        ("DELETE", f"{PROGRESS}/hund", None),
        ("POST", f"{PROGRESS}/batch", {"updates": [_item("hund", 1, 1, 3)]}),
        ("GET", f"{PROGRESS}/stats", None),
        ("POST", f"{PROGRESS}/import", {"hund": progress_body(1, 1, 3)}),
    ],
)
async def test_every_endpoint_needs_a_token(
    client: Client, method: str, path: str, body: Any
) -> None:
    response = await client.request(method, path, json=body)
    error_of(response, 401, "UNAUTHORIZED")
    response = await client.request(method, path, json=body, headers=bearer("not-a-token"))
    error_of(response, 401, "UNAUTHORIZED")
