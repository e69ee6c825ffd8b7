"""Importing the old app's progress (contract §6): over REST and with ``tandem import-progress``.

The body is the old app's localStorage value (or CSV with the same columns); each word is
merged with what is stored, never overwritten blindly, and scheduled as if its reviews
happened at ``lastStudied``. The report counts what happened; bad entries are rejected with a
reason while the good ones import; importing the same data twice changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.progress.scheduling import SchedulerState, review
from server.settings import Settings
from tests.backends import SECRET_KEY
from tests.helpers import bearer, error_of, login, register
from tests.progress_helpers import PROGRESS, Headers, progress_listing, put_progress

Client = AsyncTestClient[Litestar]

IMPORT = f"{PROGRESS}/import"
CLI_TIMEOUT_SECONDS = 60
MIB = 1024 * 1024

OLD_APP = {
    "hund": {
        "studyCount": 3,
        "correctCount": 2,
        "confidence": 4,
        "lastStudied": "2025-01-02T03:04:05.678Z",
        "mastered": False,
        "word": "Hund",
        "translation": "dog",
        "history": [1, 0, 1],
    },
    "katze": {
        "studyCount": 5,
        "correctCount": 5,
        "confidence": 5,
        "lastStudied": 1700000000000,
        "mastered": True,
    },
    "maus": {"studyCount": 2, "correctCount": 2, "confidence": 5},
}


# --- helpers -----------------------------------------------------------------------------------


async def _learner(client: Client) -> tuple[Headers, str]:
    """A signed-in learner's headers, and their email."""
    user = await register(client)
    tokens = await login(client, user["email"])
    return bearer(tokens["access_token"]), user["email"]


async def _import(
    client: Client, headers: Headers, body: Any, *, content_type: str | None = None
) -> dict[str, Any]:
    if content_type is None:
        response = await client.post(IMPORT, json=body, headers=headers)
    else:
        response = await client.post(
            IMPORT, content=body, headers={**headers, "Content-Type": content_type}
        )
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True
    report: dict[str, Any] = response.json()["data"]
    assert set(report) == {"imported", "merged", "unchanged", "rejected"}
    return report


async def _put(
    client: Client,
    headers: Headers,
    word_id: str,
    study: int,
    correct: int,
    confidence: int,
    mastered: bool | None = None,
) -> dict[str, Any]:
    """A stored record, created or updated."""
    response = await put_progress(client, headers, word_id, study, correct, confidence, mastered)
    assert response.status_code in (200, 201), response.text
    record: dict[str, Any] = response.json()["data"]
    return record


def _instant(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _counts(record: dict[str, Any]) -> tuple[int, int, int, bool]:
    return (
        record["studyCount"],
        record["correctCount"],
        record["confidence"],
        record["mastered"],
    )


def _expected_next_review(study: int, correct: int, confidence: int, at: datetime) -> datetime:
    """A new word's reviews, all dated at ``at`` (contract §6)."""
    state = review(
        SchedulerState.new(at), studies=study, correct=correct, confidence=confidence, at=at
    )
    return state.due


# --- JSON --------------------------------------------------------------------------------------


async def test_the_old_apps_json_imports(client: Client) -> None:
    headers, _ = await _learner(client)
    before = datetime.now(UTC)
    report = await _import(client, headers, OLD_APP)
    after = datetime.now(UTC)
    assert report == {"imported": 3, "merged": 0, "unchanged": 0, "rejected": []}
    records, seq = await progress_listing(client, headers)
    assert set(records) == {"hund", "katze", "maus"}
    assert seq == 3  # one progress.updated per imported word

    hund, katze, maus = records["hund"], records["katze"], records["maus"]
    assert _counts(hund) == (3, 2, 4, False)
    assert _counts(katze) == (5, 5, 5, True)
    assert _counts(maus) == (2, 2, 5, False)
    # lastStudied as ISO-8601 and as epoch milliseconds.
    assert hund["lastStudiedAt"] == "2025-01-02T03:04:05.678000Z"
    assert katze["lastStudiedAt"] == "2023-11-14T22:13:20.000000Z"
    # Without it, the reviews are dated at the import.
    studied = _instant(maus["lastStudiedAt"])
    assert before - timedelta(seconds=1) <= studied <= after + timedelta(seconds=1)
    for record in (hund, katze, maus):
        at = _instant(record["lastStudiedAt"])
        expected = _expected_next_review(*_counts(record)[:3], at=at)
        assert _instant(record["nextReview"]) == expected
        assert before - timedelta(seconds=1) <= _instant(record["createdAt"])

    # Long unstudied words come back due; the one studied "now" is not.
    due = (await client.get(PROGRESS, params={"due": "true"}, headers=headers)).json()["data"]
    assert [r["wordId"] for r in due["items"]] == ["hund"]  # katze is mastered


async def test_iso_timestamps_with_an_offset_or_none_are_utc(client: Client) -> None:
    headers, _ = await _learner(client)
    report = await _import(
        client,
        headers,
        {
            "a": {
                "studyCount": 1,
                "correctCount": 1,
                "confidence": 3,
                "lastStudied": "2024-06-01T12:00:00+02:00",
            },
            "b": {
                "studyCount": 1,
                "correctCount": 1,
                "confidence": 3,
                "lastStudied": "2024-06-01T10:00:00",
            },
            "c": {"studyCount": 1, "correctCount": 1, "confidence": 3, "lastStudied": None},
        },
    )
    assert report["imported"] == 3
    records, _ = await progress_listing(client, headers)
    assert records["a"]["lastStudiedAt"] == "2024-06-01T10:00:00.000000Z"
    assert records["b"]["lastStudiedAt"] == "2024-06-01T10:00:00.000000Z"
    assert _instant(records["c"]["lastStudiedAt"]) > datetime.now(UTC) - timedelta(minutes=5)


async def test_importing_the_same_data_twice_changes_nothing(client: Client) -> None:
    headers, _ = await _learner(client)
    body = {**OLD_APP, "bad id": {"studyCount": 1, "correctCount": 1, "confidence": 1}}
    first = await _import(client, headers, body)
    assert (first["imported"], first["merged"], first["unchanged"]) == (3, 0, 0)
    records, seq = await progress_listing(client, headers)
    second = await _import(client, headers, body)
    assert (second["imported"], second["merged"], second["unchanged"]) == (0, 0, 3)
    assert second["rejected"] == first["rejected"]
    assert await progress_listing(client, headers) == (records, seq)


async def test_import_merges_with_stored_records(client: Client) -> None:
    headers, _ = await _learner(client)
    await _put(client, headers, "a", 5, 3, 2)
    b = await _put(client, headers, "b", 2, 2, 3, mastered=True)
    await _put(client, headers, "c", 4, 4, 4)
    await _put(client, headers, "e", 6, 1, 1)
    report = await _import(
        client,
        headers,
        {
            # Studied more on the old app: its counts and confidence win, correct stays larger.
            "a": {"studyCount": 8, "correctCount": 2, "confidence": 5},
            # Older than what is stored: nothing changes, mastered stays.
            "b": {"studyCount": 1, "correctCount": 1, "confidence": 0, "mastered": False},
            # Same study count: the stored confidence stays; mastered if either says so.
            "c": {"studyCount": 4, "correctCount": 4, "confidence": 1, "mastered": True},
            # New on the server.
            "d": {"studyCount": 1, "correctCount": 0, "confidence": 2},
            # More correct answers, fewer studies: the larger of each.
            "e": {"studyCount": 5, "correctCount": 4, "confidence": 5},
        },
    )
    assert report == {"imported": 1, "merged": 3, "unchanged": 1, "rejected": []}
    records, seq = await progress_listing(client, headers)
    assert _counts(records["a"]) == (8, 3, 5, False)
    assert records["b"] == b
    assert _counts(records["c"]) == (4, 4, 4, True)
    assert _counts(records["d"]) == (1, 0, 2, False)
    assert _counts(records["e"]) == (6, 4, 1, False)
    assert seq == 4 + 4  # four PUTs, then one event per imported or merged word


async def test_an_import_never_lowers_counts(client: Client) -> None:
    headers, _ = await _learner(client)
    stored = await _put(client, headers, "a", 9, 7, 4, mastered=True)
    report = await _import(
        client, headers, {"a": {"studyCount": 2, "correctCount": 1, "confidence": 1}}
    )
    assert report["unchanged"] == 1
    records, _ = await progress_listing(client, headers)
    assert records["a"] == stored


async def test_bad_entries_are_rejected_with_reasons_and_good_ones_import(client: Client) -> None:
    headers, _ = await _learner(client)
    good = {"studyCount": 2, "correctCount": 1, "confidence": 3}
    body = {
        "good": good,
        "bad id": good,
        "...": good,
        "stats": good,
        "x" * 129: good,
        "negative": {**good, "studyCount": -1},
        "text": {**good, "studyCount": "2"},
        "too-many": {**good, "correctCount": 3},
        "confident": {**good, "confidence": 9},
        "missing": {"studyCount": 2, "confidence": 3},
        "flag": {**good, "mastered": "yes"},
        "when": {**good, "lastStudied": "last tuesday"},
        "number": 5,
    }
    report = await _import(client, headers, body)
    assert (report["imported"], report["merged"], report["unchanged"]) == (1, 0, 0)
    reasons = {item["wordId"]: item["reason"] for item in report["rejected"]}
    assert set(reasons) == set(body) - {"good"}
    assert all(isinstance(reason, str) and reason for reason in reasons.values())
    for word_id, mentioned in [
        ("negative", "studyCount"),
        ("text", "studyCount"),
        ("too-many", "correctCount"),
        ("confident", "confidence"),
        ("missing", "correctCount"),
        ("flag", "mastered"),
        ("when", "lastStudied"),
        ("stats", "wordId"),
        ("bad id", "wordId"),
    ]:
        assert mentioned in reasons[word_id], (word_id, reasons[word_id])
    records, seq = await progress_listing(client, headers)
    assert set(records) == {"good"}
    assert seq == 1


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"5", b"null", b'{"a": ', b""])
async def test_a_body_that_is_not_an_object_is_refused(client: Client, body: bytes) -> None:
    headers, _ = await _learner(client)
    response = await client.post(
        IMPORT, content=body, headers={**headers, "Content-Type": "application/json"}
    )
    error_of(response, 400, "VALIDATION_ERROR")
    assert await progress_listing(client, headers) == ({}, 0)


async def test_an_empty_object_imports_nothing(client: Client) -> None:
    headers, _ = await _learner(client)
    assert await _import(client, headers, {}) == {
        "imported": 0,
        "merged": 0,
        "unchanged": 0,
        "rejected": [],
    }


# --- CSV ---------------------------------------------------------------------------------------

CSV = (
    "wordId,studyCount,correctCount,confidence,lastStudied,mastered,notes\n"
    "hund,3,2,4,2025-01-02T03:04:05.678Z,false,the dog\n"
    "katze,5,5,5,1700000000000,true,\n"
    "maus,2,1,3,,,\n"
    "bad id,1,1,1,,,\n"
    "neg,-1,0,1,,,\n"
)


async def test_csv_imports_with_its_content_type(client: Client) -> None:
    headers, _ = await _learner(client)
    report = await _import(client, headers, CSV.encode(), content_type="text/csv; charset=utf-8")
    assert (report["imported"], report["merged"], report["unchanged"]) == (3, 0, 0)
    assert {item["wordId"] for item in report["rejected"]} == {"bad id", "neg"}
    records, _ = await progress_listing(client, headers)
    assert set(records) == {"hund", "katze", "maus"}
    assert _counts(records["hund"]) == (3, 2, 4, False)
    assert _counts(records["katze"]) == (5, 5, 5, True)
    assert _counts(records["maus"]) == (2, 1, 3, False)
    assert records["hund"]["lastStudiedAt"] == "2025-01-02T03:04:05.678000Z"
    assert records["katze"]["lastStudiedAt"] == "2023-11-14T22:13:20.000000Z"
    again = await _import(client, headers, CSV.encode(), content_type="text/csv")
    assert (again["imported"], again["merged"], again["unchanged"]) == (0, 0, 3)


async def test_csv_without_a_word_id_column_is_refused(client: Client) -> None:
    headers, _ = await _learner(client)
    response = await client.post(
        IMPORT,
        content=b"word,studyCount,correctCount,confidence\nhund,1,1,3\n",
        headers={**headers, "Content-Type": "text/csv"},
    )
    error_of(response, 400, "VALIDATION_ERROR")
    assert await progress_listing(client, headers) == ({}, 0)


@pytest.mark.parametrize("line_end", ["\r\n", "\r"], ids=["windows", "old-mac"])
async def test_csv_rows_may_end_with_any_line_end(client: Client, line_end: str) -> None:
    headers, _ = await _learner(client)
    body = CSV.replace("\n", line_end).encode()
    report = await _import(client, headers, body, content_type="text/csv")
    assert (report["imported"], report["merged"], report["unchanged"]) == (3, 0, 0)
    records, _ = await progress_listing(client, headers)
    assert _counts(records["katze"]) == (5, 5, 5, True)


async def test_csv_the_reader_cannot_read_is_refused_and_imports_nothing(client: Client) -> None:
    headers, _ = await _learner(client)
    # Within the 10 MiB body limit, but one field is over what the csv module reads.
    huge_note = "x" * 200_000
    body = f"{CSV.splitlines()[0]}\nhund,3,2,4,,false,{huge_note}\n{CSV.splitlines()[2]}\n"
    response = await client.post(
        IMPORT, content=body.encode(), headers={**headers, "Content-Type": "text/csv"}
    )
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert "line 2" in error["message"]
    assert await progress_listing(client, headers) == ({}, 0)


# --- size --------------------------------------------------------------------------------------


def _padded(size: int) -> bytes:
    """An old-app export of one word, padded with an ignored key to ``size`` bytes."""
    head = b'{"hund": {"studyCount": 1, "correctCount": 1, "confidence": 3, "notes": "'
    tail = b'"}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


async def test_an_import_may_be_up_to_ten_mebibytes(client: Client) -> None:
    headers, _ = await _learner(client)
    body = _padded(MIB + MIB // 2)
    report = await _import(client, headers, body, content_type="application/json")
    assert report["imported"] == 1
    # Elsewhere, a body over 1 MiB is too large.
    response = await client.post(
        f"{PROGRESS}/batch", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    error_of(response, 413, "PAYLOAD_TOO_LARGE")


async def test_an_import_over_ten_mebibytes_is_413(client: Client) -> None:
    headers, _ = await _learner(client)
    response = await client.post(
        IMPORT,
        content=_padded(10 * MIB + 1),
        headers={**headers, "Content-Type": "application/json"},
    )
    error_of(response, 413, "PAYLOAD_TOO_LARGE")
    assert await progress_listing(client, headers) == ({}, 0)


# --- the command line --------------------------------------------------------------------------


async def _cli(settings: Settings, cwd: Path, *arguments: str) -> tuple[int, str, str]:
    """Run ``tandem import-progress`` against the test database; (exit code, out, err)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    environment |= {"TANDEM_DATABASE_URL": settings.database_url, "TANDEM_SECRET_KEY": SECRET_KEY}
    if settings.redis_url:
        environment["TANDEM_REDIS_URL"] = settings.redis_url
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "import-progress",
        *arguments,
        env=environment,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(CLI_TIMEOUT_SECONDS):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        (
            "progress.json",
            json.dumps(
                {
                    "hund": OLD_APP["hund"],
                    "katze": OLD_APP["katze"],
                    "bad id": {"studyCount": 1, "correctCount": 1, "confidence": 1},
                }
            ),
        ),
        (
            "progress.csv",
            "".join(line + "\n" for line in CSV.splitlines()[:3]) + "bad id,1,1,1,,,\n",
        ),
    ],
)
async def test_the_cli_imports_a_file_for_a_user(
    client: Client, settings: Settings, tmp_path: Path, name: str, content: str
) -> None:
    headers, email = await _learner(client)
    await _put(client, headers, "katze", 1, 1, 3)
    path = tmp_path / name
    path.write_text(content)

    code, out, err = await _cli(settings, tmp_path, "--email", email, str(path))
    assert code == 0, err
    assert "imported 1, merged 1, unchanged 0, rejected 1" in out
    assert "'bad id'" in out
    records, seq = await progress_listing(client, headers)
    assert set(records) == {"hund", "katze"}
    assert _counts(records["hund"]) == (3, 2, 4, False)
    assert records["hund"]["lastStudiedAt"] == "2025-01-02T03:04:05.678000Z"
    assert _counts(records["katze"]) == (5, 5, 5, True)
    assert seq == 3

    code, out, err = await _cli(settings, tmp_path, "--email", email.upper(), str(path))
    assert code == 0, err
    assert "imported 0, merged 0, unchanged 2, rejected 1" in out
    assert await progress_listing(client, headers) == (records, seq)


async def test_the_cli_refuses_an_unknown_email(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    headers, _ = await _learner(client)
    path = tmp_path / "progress.json"
    path.write_text(json.dumps(OLD_APP))
    code, out, err = await _cli(settings, tmp_path, "--email", "nobody@example.org", str(path))
    assert code != 0
    assert "nobody@example.org" in err
    assert "imported" not in out
    assert await progress_listing(client, headers) == ({}, 0)


async def test_the_cli_refuses_a_file_it_cannot_use(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    headers, email = await _learner(client)
    missing = tmp_path / "missing.json"
    code, _, err = await _cli(settings, tmp_path, "--email", email, str(missing))
    assert code != 0
    assert "missing.json" in err
    not_an_object = tmp_path / "list.json"
    not_an_object.write_text("[1, 2, 3]")
    code, _, err = await _cli(settings, tmp_path, "--email", email, str(not_an_object))
    assert code != 0
    assert "list.json" in err
    assert await progress_listing(client, headers) == ({}, 0)


async def test_an_import_over_http_is_seen_by_another_client(client: Client) -> None:
    """Cross-device sync: what one device imports, another device reads."""
    user = await register(client)
    first = bearer((await login(client, user["email"]))["access_token"])
    second = bearer((await login(client, user["email"]))["access_token"])
    await _import(client, first, OLD_APP)
    response: httpx.Response = await client.get(PROGRESS, headers=second)
    assert [r["wordId"] for r in response.json()["data"]["items"]] == ["hund", "katze", "maus"]
