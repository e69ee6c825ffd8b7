"""What the progress tests share: a PUT's body, a PUT, and the listing with its channel
seq. Any httpx client will do: the test client, or one of an app served for real (the
concurrency tests)."""

from __future__ import annotations

from typing import Any

import httpx

Headers = dict[str, str]

PROGRESS = "/api/v1/progress"


def progress_body(
    study: int, correct: int, confidence: int, mastered: bool | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"studyCount": study, "correctCount": correct, "confidence": confidence}
    if mastered is not None:
        body["mastered"] = mastered
    return body


async def put_progress(
    client: httpx.AsyncClient,
    headers: Headers,
    word_id: str,
    study: int,
    correct: int,
    confidence: int,
    mastered: bool | None = None,
) -> httpx.Response:
    return await client.put(
        f"{PROGRESS}/{word_id}",
        json=progress_body(study, correct, confidence, mastered),
        headers=headers,
    )


async def progress_listing(
    client: httpx.AsyncClient, headers: Headers, *, due: bool = False
) -> tuple[dict[str, dict[str, Any]], int]:
    """The records by word id, and the progress channel's seq."""
    response = await client.get(PROGRESS, params={"due": "true"} if due else {}, headers=headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert set(data) == {"items", "seq"}
    return {record["wordId"]: record for record in data["items"]}, data["seq"]
