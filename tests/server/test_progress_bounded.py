"""Bounded work, responsive processes (contract §6, issue 12).

An import holds at most 20,000 words: one more is a 400 that says the limit, and nothing is
written. While a large request does its CPU work, the same process keeps answering others.

The concurrency tests hold the heavy step itself: it is replaced by a wrapper that says
when it started and then waits for the test's go-ahead. The test asks for ``/health`` in the
meantime and requires the answer before letting the step finish. Nothing depends on how fast
the machine is: if the step ran on the event loop, the loop would be stuck in the wrapper,
``/health`` could not be answered until the wrapper gave up waiting (after
``GATE_SECONDS``), and the test fails on what the wrapper recorded, never by a timing guess.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from litestar import Litestar

from server.errors import ValidationFailed
from server.progress import importing, service
from server.progress.schemas import MAX_IMPORT_WORDS
from storage import offload
from tests.helpers import bearer, error_of, signed_in
from tests.live import live

PROGRESS = "/api/v1/progress"
IMPORT = f"{PROGRESS}/import"
CSV_HEADER = "wordId,studyCount,correctCount,confidence\n"
GATE_SECONDS = 60.0  # only reached when the step wrongly holds the event loop
REQUEST_TIMEOUT_SECONDS = 120.0


def old_app(words: int) -> dict[str, dict[str, int]]:
    return {
        f"w{i:05d}": {"studyCount": 1 + i % 4, "correctCount": i % 2, "confidence": i % 6}
        for i in range(words)
    }


def csv_of(words: int) -> bytes:
    return (CSV_HEADER + "".join(f"w{i:05d},2,1,4\n" for i in range(words))).encode()


@pytest.fixture
async def http(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """The app served for real in the test's event loop: the test client's transport runs
    one request at a time and blocks the caller, so it could not show a stall."""
    async with (
        live(app) as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=REQUEST_TIMEOUT_SECONDS) as client,
    ):
        yield client


async def learner(http: httpx.AsyncClient) -> dict[str, str]:
    return bearer((await signed_in(http))["access_token"])


async def stored_words(http: httpx.AsyncClient, headers: dict[str, str]) -> int:
    response = await http.get(PROGRESS, headers=headers)
    assert response.status_code == 200, response.text
    return len(response.json()["data"]["items"])


# --- the limit ---------------------------------------------------------------------------------


async def test_an_import_of_one_word_over_the_limit_is_refused_and_writes_nothing(
    http: httpx.AsyncClient,
) -> None:
    headers = await learner(http)
    response = await http.post(IMPORT, json=old_app(MAX_IMPORT_WORDS + 1), headers=headers)
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert "20,000" in error["message"]
    assert await stored_words(http, headers) == 0


async def test_a_csv_of_one_word_over_the_limit_is_refused_and_writes_nothing(
    http: httpx.AsyncClient,
) -> None:
    headers = await learner(http)
    response = await http.post(
        IMPORT,
        content=csv_of(MAX_IMPORT_WORDS + 1),
        headers={**headers, "Content-Type": "text/csv"},
    )
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert "20,000" in error["message"]
    assert await stored_words(http, headers) == 0


async def test_an_import_of_exactly_the_limit_imports_every_word(http: httpx.AsyncClient) -> None:
    headers = await learner(http)
    response = await http.post(IMPORT, json=old_app(MAX_IMPORT_WORDS), headers=headers)
    assert response.status_code == 200, response.text
    report = response.json()["data"]
    assert (report["imported"], report["merged"], report["unchanged"]) == (MAX_IMPORT_WORDS, 0, 0)
    assert report["rejected"] == []
    assert await stored_words(http, headers) == MAX_IMPORT_WORDS


def test_words_are_counted_once_however_often_a_csv_repeats_them() -> None:
    body = csv_of(MAX_IMPORT_WORDS) + b"w00000,3,1,4\n"
    parsed = importing.parse(body, "text/csv")
    assert len(parsed.entries) == MAX_IMPORT_WORDS + 1
    assert len({update.word_id for update, _ in parsed.entries}) == MAX_IMPORT_WORDS


def test_each_rejected_row_counts_towards_the_limit() -> None:
    body = csv_of(MAX_IMPORT_WORDS - 1) + b"bad word,1,1,1\n"
    assert len(importing.parse(body, "text/csv").rejected) == 1
    with pytest.raises(ValidationFailed, match="20,000"):
        importing.parse(body + b"bad word,1,1,1\n", "text/csv")


# --- responsiveness ----------------------------------------------------------------------------


class Gate:
    """Wraps a step: records the thread it ran on, says it started, waits for ``open``."""

    def __init__(self, step: Callable[..., Any]) -> None:
        self.step = step
        self.loop_thread = threading.get_ident()
        self.started = threading.Event()
        self.go = threading.Event()
        self.runs: list[tuple[bool, bool]] = []  # (on the event loop's thread, let through)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.started.set()
        let_through = self.go.wait(GATE_SECONDS)
        self.runs.append((threading.get_ident() == self.loop_thread, let_through))
        return self.step(*args, **kwargs)

    async def wait_started(self) -> None:
        assert await asyncio.to_thread(self.started.wait, GATE_SECONDS), "the step never ran"


async def answered_while_held(
    http: httpx.AsyncClient, gate: Gate, request: asyncio.Task[httpx.Response]
) -> httpx.Response:
    """``/health`` while ``gate`` holds ``request`` in its CPU step; then the request's answer."""
    await gate.wait_started()
    health = await http.get("/health")
    assert health.status_code == 200
    held = not request.done()
    gate.go.set()
    answer = await request
    assert gate.runs == [(False, True)], "the step ran on the event loop"
    assert held
    return answer


@pytest.mark.parametrize(
    ("module", "step"),
    [(importing, "parse"), (service, "_plan_merge")],
    ids=["parsing", "scheduling"],
)
async def test_the_process_answers_while_an_import_works(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, module: Any, step: str
) -> None:
    headers = await learner(http)
    gate = Gate(getattr(module, step))
    monkeypatch.setattr(module, step, gate)
    body = old_app(1000)
    importing_ = asyncio.create_task(http.post(IMPORT, json=body, headers=headers))
    answer = await answered_while_held(http, gate, importing_)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["imported"] == 1000


async def test_the_process_answers_while_a_batch_works(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = await learner(http)
    gate = Gate(service._plan_batch)
    monkeypatch.setattr(service, "_plan_batch", gate)
    updates = [
        {"wordId": f"w{i:04d}", "studyCount": 3, "correctCount": 2, "confidence": 4}
        for i in range(1000)
    ]
    batch = asyncio.create_task(
        http.post(f"{PROGRESS}/batch", json={"updates": updates}, headers=headers)
    )
    answer = await answered_while_held(http, gate, batch)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["data"]["items"]) == 1000


async def test_the_process_answers_while_a_long_list_is_encoded(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = await learner(http)
    imported = await http.post(IMPORT, json=old_app(1000), headers=headers)
    assert imported.status_code == 200, imported.text
    gate = Gate(service._encoded_list)
    monkeypatch.setattr(service, "_encoded_list", gate)
    listing = asyncio.create_task(http.get(PROGRESS, headers=headers))
    answer = await answered_while_held(http, gate, listing)
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert len(data["items"]) == 1000
    assert data["seq"] == 1000


async def test_small_work_stays_on_the_event_loop_and_large_work_leaves_it() -> None:
    loop = threading.get_ident()
    assert await offload.run(offload.LOOP_BUDGET_US, threading.get_ident) == loop
    assert await offload.run(offload.LOOP_BUDGET_US + 1, threading.get_ident) != loop
