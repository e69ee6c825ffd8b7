"""Input a client can send that the server cannot store is a 400, never a 500 (contract §2, §6).

Each case here was once answered 500: bytes that are not UTF-8, JSON nested too deep, a count
written with a non-ASCII digit or past what a database integer holds, an instant that leaves
the datetime range when converted to UTC, a word id ending in a newline. Each must be 400
``VALIDATION_ERROR`` naming the field (or, for one word of an import, a rejection with its
reason), and must write nothing.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.progress.rules import MAX_COUNT
from tests.board_helpers import BATCH_MOVE, BOARD, CARDS, LESSONS, create_card, data_of, room
from tests.helpers import PASSWORD, error_of, unique_email, user_headers

Client = AsyncTestClient[Litestar]
Headers = dict[str, str]

PROGRESS = "/api/v1/progress"
IMPORT = f"{PROGRESS}/import"
JSON = {"Content-Type": "application/json"}
CSV = {"Content-Type": "text/csv"}
GOOD = {"studyCount": 2, "correctCount": 1, "confidence": 3}


async def _records(client: Client, headers: Headers) -> dict[str, dict[str, Any]]:
    response = await client.get(PROGRESS, headers=headers)
    assert response.status_code == 200, response.text
    return {record["wordId"]: record for record in response.json()["data"]["items"]}


def _fields(error: dict[str, Any]) -> set[str]:
    return {field["field"] for field in error["details"]["fields"]}


async def _import(client: Client, headers: Headers, body: bytes, kind: Headers) -> dict[str, Any]:
    response = await client.post(IMPORT, content=body, headers={**headers, **kind})
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()["data"]
    return report


def _reasons(report: dict[str, Any]) -> dict[str, str]:
    return {item["wordId"]: item["reason"] for item in report["rejected"]}


# --- bytes that are not UTF-8 ------------------------------------------------------------------


NOT_UTF8 = b'{"email": "\xff\xfe@example.org", "password": "x"}'


async def test_a_login_body_that_is_not_utf8_is_400(client: Client) -> None:
    response = await client.post("/api/v1/auth/login", content=NOT_UTF8, headers=JSON)
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert _fields(error) == {"body"}
    assert "UTF-8" in error["details"]["fields"][0]["message"]


async def test_a_register_body_that_is_not_utf8_is_400_and_creates_nobody(client: Client) -> None:
    email = unique_email("bytes")
    body = (
        b'{"email": "' + email.encode() + b'", "password": "' + PASSWORD.encode() + b'", '
        b'"name": "\xc3\x28", "role": "learner"}'
    )
    response = await client.post("/api/v1/auth/register", content=body, headers=JSON)
    error_of(response, 400, "VALIDATION_ERROR")
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    error_of(response, 401, "INVALID_CREDENTIALS")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", f"{PROGRESS}/w1", b'{"studyCount": 1, "correctCount": 0, "confidence": "\xff"}'),
        ("POST", f"{PROGRESS}/batch", b'{"updates": [{"wordId": "\xe9", "studyCount": 1}]}'),
        (
            "POST",
            IMPORT,
            b'{"w1": {"studyCount": 1, "correctCount": 0, "confidence": 1, "note": "\xff"}}',
        ),
    ],
)
async def test_progress_bodies_that_are_not_utf8_are_400_and_write_nothing(
    client: Client, method: str, path: str, body: bytes
) -> None:
    headers = await user_headers(client)
    response = await client.request(method, path, content=body, headers={**headers, **JSON})
    error_of(response, 400, "VALIDATION_ERROR")
    assert await _records(client, headers) == {}


# --- nesting -----------------------------------------------------------------------------------


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    "body",
    [
        _nested(1000),
        b'{"email": ' + _nested(1000) + b', "password": "x"}',
        b'{"email": "a@b.c", "password": "x", "extra": ' + _nested(100) + b"}",
    ],
)
async def test_a_login_body_nested_a_thousand_deep_is_400(client: Client, body: bytes) -> None:
    response = await client.post("/api/v1/auth/login", content=body, headers=JSON)
    error_of(response, 400, "VALIDATION_ERROR")


def _import_with_note(depth: int) -> bytes:
    """An import whose whole JSON is ``depth`` levels deep: the object, the record, and a
    note (a key the import ignores) nested ``depth - 2`` levels."""
    note = _nested(depth - 2)
    return b'{"w1": {"studyCount": 1, "correctCount": 0, "confidence": 1, "note": ' + note + b"}}"


async def test_an_import_nested_deeper_than_64_levels_is_400_and_writes_nothing(
    client: Client,
) -> None:
    headers = await user_headers(client)
    for depth in (65, 1000, 100_000):
        response = await client.post(
            IMPORT, content=_import_with_note(depth), headers={**headers, **JSON}
        )
        error = error_of(response, 400, "VALIDATION_ERROR")
        assert "64" in error["message"] + str(error["details"])
    assert await _records(client, headers) == {}


async def test_an_import_nested_64_levels_imports(client: Client) -> None:
    headers = await user_headers(client)
    report = await _import(client, headers, _import_with_note(64), JSON)
    assert report["imported"] == 1


# --- counts ------------------------------------------------------------------------------------


def test_the_bound_is_the_contracts() -> None:
    assert MAX_COUNT == 1_000_000_000


@pytest.mark.parametrize("count", [MAX_COUNT + 1, 1_500_000_000, 2_147_483_648, 2**63, 10**30])
async def test_a_put_count_past_the_bound_is_400(client: Client, count: int) -> None:
    headers = await user_headers(client)
    body = {"studyCount": count, "correctCount": 0, "confidence": 1}
    response = await client.put(f"{PROGRESS}/w1", json=body, headers=headers)
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert _fields(error) == {"studyCount"}
    assert await _records(client, headers) == {}


async def test_a_batch_count_past_the_bound_is_400_naming_the_item(client: Client) -> None:
    headers = await user_headers(client)
    updates = [
        {"wordId": "ok", **GOOD},
        {"wordId": "big", "studyCount": 2_147_483_648, "correctCount": 0, "confidence": 1},
    ]
    response = await client.post(f"{PROGRESS}/batch", json={"updates": updates}, headers=headers)
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert [(item["index"], item["field"]) for item in error["details"]["items"]] == [
        (1, "studyCount")
    ]
    assert await _records(client, headers) == {}


async def test_counts_up_to_the_bound_are_stored_everywhere(client: Client) -> None:
    headers = await user_headers(client)
    top = {"studyCount": MAX_COUNT, "correctCount": MAX_COUNT, "confidence": 5}
    response = await client.put(f"{PROGRESS}/put", json=top, headers=headers)
    assert response.status_code == 201, response.text
    response = await client.post(
        f"{PROGRESS}/batch", json={"updates": [{"wordId": "batched", **top}]}, headers=headers
    )
    assert response.status_code == 200, response.text
    await _import(client, headers, json.dumps({"imported": top}).encode(), JSON)
    csv = f"wordId,studyCount,correctCount,confidence\ncsv,{MAX_COUNT},{MAX_COUNT},5\n"
    await _import(client, headers, csv.encode(), CSV)
    records = await _records(client, headers)
    assert {word: record["studyCount"] for word, record in records.items()} == {
        "put": MAX_COUNT,
        "batched": MAX_COUNT,
        "imported": MAX_COUNT,
        "csv": MAX_COUNT,
    }


@pytest.mark.parametrize("count", [MAX_COUNT + 1, 1_500_000_000, 2_147_483_648, 10**30])
async def test_an_import_count_past_the_bound_is_rejected(client: Client, count: int) -> None:
    headers = await user_headers(client)
    body = f'{{"big": {{"studyCount": {count}, "correctCount": 0, "confidence": 1}}, '
    body += '"fine": {"studyCount": 2, "correctCount": 1, "confidence": 3}}'
    report = await _import(client, headers, body.encode(), JSON)
    assert report["imported"] == 1
    assert "studyCount" in _reasons(report)["big"]
    csv = f"wordId,studyCount,correctCount,confidence\nbig,{count},0,1\nbig2,3,{count},1\n"
    report = await _import(client, headers, csv.encode(), CSV)
    reasons = _reasons(report)
    assert "studyCount" in reasons["big"]
    assert "correctCount" in reasons["big2"]
    assert set(await _records(client, headers)) == {"fine"}


@pytest.mark.parametrize("count", ["²", "١٢", "\uff13", "1²", "9" * 5000, "+1", "1_0", " ", "0x1"])
async def test_a_csv_count_that_is_not_ascii_digits_is_rejected(client: Client, count: str) -> None:
    headers = await user_headers(client)
    csv = f'wordId,studyCount,correctCount,confidence\nodd,"{count}",0,1\nfine,2,1,3\n'
    report = await _import(client, headers, csv.encode(), CSV)
    assert report["imported"] == 1
    assert "studyCount" in _reasons(report)["odd"]
    assert set(await _records(client, headers)) == {"fine"}


async def test_a_csv_count_with_spaces_around_ascii_digits_imports(client: Client) -> None:
    headers = await user_headers(client)
    csv = "wordId,studyCount,correctCount,confidence\nw, 7 ,3 , 2\n"
    report = await _import(client, headers, csv.encode(), CSV)
    assert report["imported"] == 1, report
    assert (await _records(client, headers))["w"]["studyCount"] == 7


# --- lastStudied -------------------------------------------------------------------------------


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.mark.parametrize(
    "last_studied",
    [
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59.999999Z",
        -1,
        "2100-01-01T00:00:00Z",
        _ms(datetime(2100, 1, 1, tzinfo=UTC)),
        str(_ms(datetime(2100, 1, 1, tzinfo=UTC))),
        10**20,
        "99999999999999999999",
        1e300,
    ],
)
async def test_a_last_studied_in_the_future_or_before_the_epoch_is_rejected(
    client: Client, last_studied: Any
) -> None:
    headers = await user_headers(client)
    body = {"later": {**GOOD, "lastStudied": last_studied}, "fine": GOOD}
    report = await _import(client, headers, json.dumps(body).encode(), JSON)
    assert report["imported"] == 1
    assert "lastStudied" in _reasons(report)["later"]
    csv = f"wordId,studyCount,correctCount,confidence,lastStudied\nlater2,2,1,3,{last_studied}\n"
    report = await _import(client, headers, csv.encode(), CSV)
    assert "lastStudied" in _reasons(report)["later2"]
    assert set(await _records(client, headers)) == {"fine"}


async def test_a_last_studied_in_the_past_imports_as_given(client: Client) -> None:
    headers = await user_headers(client)
    past = datetime.now(UTC) - timedelta(minutes=1)
    body = {
        "recent": {**GOOD, "lastStudied": past.isoformat()},
        "epoch": {**GOOD, "lastStudied": "1970-01-01T00:00:00Z"},
        "epoch-ms": {**GOOD, "lastStudied": 0},
    }
    report = await _import(client, headers, json.dumps(body).encode(), JSON)
    assert (report["imported"], report["rejected"]) == (3, [])
    records = await _records(client, headers)
    assert records["recent"]["lastStudiedAt"] == past.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert records["epoch"]["lastStudiedAt"] == "1970-01-01T00:00:00.000000Z"
    assert records["epoch-ms"]["lastStudiedAt"] == "1970-01-01T00:00:00.000000Z"


# --- board versions ----------------------------------------------------------------------------

OUT_OF_RANGE = ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"]


@pytest.mark.parametrize("version", OUT_OF_RANGE)
async def test_a_move_version_outside_utc_is_400_even_for_an_unknown_card(
    client: Client, version: str
) -> None:
    place = await room(client)
    card = await create_card(client, place.teacher, place.lessons[0]["id"], None)
    body = {"new_status": "not_started", "new_position": 0, "version": version}
    for card_id in (card["id"], str(uuid.uuid4())):
        response = await client.patch(
            f"{CARDS}/{card_id}/move", json=body, headers=place.teacher.headers
        )
        error = error_of(response, 400, "VALIDATION_ERROR")
        assert _fields(error) == {"version"}
    response = await client.post(
        BATCH_MOVE,
        json={"moves": [{**body, "card_id": card["id"]}, {**body, "card_id": str(uuid.uuid4())}]},
        headers=place.teacher.headers,
    )
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert _fields(error) == {"moves[0].version", "moves[1].version"}
    board = data_of(await client.get(BOARD, headers=place.teacher.headers))
    (shown,) = [c for column in board["columns"] for c in column["cards"]]
    assert shown["updated_at"] == card["updated_at"]


@pytest.mark.parametrize("position", [2**31, 2**63 - 1])
async def test_a_move_past_any_stored_position_means_last(client: Client, position: int) -> None:
    place = await room(client)
    first = await create_card(client, place.teacher, place.lessons[0]["id"], None)
    await create_card(client, place.teacher, place.lessons[1]["id"], None)
    body = {"new_status": "not_started", "new_position": position, "version": first["updated_at"]}
    response = await client.patch(
        f"{CARDS}/{first['id']}/move", json=body, headers=place.teacher.headers
    )
    assert data_of(response)["position"] == 1


# --- word ids ending in a newline --------------------------------------------------------------

NEWLINE_IDS = ["nl2\n", "nl2\r\n", "\nnl2", "nl2\n\n"]


@pytest.mark.parametrize("word_id", NEWLINE_IDS)
async def test_a_batch_word_id_with_a_newline_is_400(client: Client, word_id: str) -> None:
    headers = await user_headers(client)
    response = await client.post(
        f"{PROGRESS}/batch", json={"updates": [{"wordId": word_id, **GOOD}]}, headers=headers
    )
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert [(item["index"], item["field"]) for item in error["details"]["items"]] == [(0, "wordId")]
    assert await _records(client, headers) == {}


@pytest.mark.parametrize("word_id", NEWLINE_IDS)
async def test_an_import_word_id_with_a_newline_is_rejected(client: Client, word_id: str) -> None:
    headers = await user_headers(client)
    report = await _import(client, headers, json.dumps({word_id: GOOD}).encode(), JSON)
    assert "wordId" in _reasons(report)[word_id]
    assert await _records(client, headers) == {}


@pytest.mark.parametrize("word_id", NEWLINE_IDS)
async def test_a_lesson_word_id_with_a_newline_is_400(client: Client, word_id: str) -> None:
    place = await room(client, lessons=())
    body = {"classroom_id": place.id, "title": "T", "category": "C", "word_ids": ["ok", word_id]}
    response = await client.post(LESSONS, json=body, headers=place.teacher.headers)
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert _fields(error) == {"word_ids[1]"}
    listed = data_of(
        await client.get(LESSONS, params={"classroom_id": place.id}, headers=place.teacher.headers)
    )
    assert listed == []


async def test_a_put_path_word_id_with_a_newline_is_400(client: Client) -> None:
    headers = await user_headers(client)
    response = await client.put(f"{PROGRESS}/nl2%0A", json=GOOD, headers=headers)
    error_of(response, 400, "VALIDATION_ERROR")
    assert await _records(client, headers) == {}
