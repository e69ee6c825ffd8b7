"""Histories under faults: many clients, real ``tandem serve`` processes, faults injected
while they work, then every invariant checked offline against ``tests/replay.py``.

With PostgreSQL and Redis, two processes share the database and Redis (contract §7's
scale-out); the faults are the test's own database backends terminated, its own Redis
database's clients killed (the pub/sub ones included), and one process killed with
SIGKILL and started again. On SQLite there is one process (the in-process broker cannot
span two) and the fault is its SIGKILL and restart. Faults are paced by acknowledged
writes, not by time: the next one comes when the clients got that many more writes
through, which also proves the service came back.

What must hold (contract §2, §5, §6, §7): no request is answered 500 or hangs (a failure
during a fault is a 503 or a connection error); every acknowledged write has its event in
the store; the stored events are numbered 1, 2, 3... without gaps, and each subscriber,
resuming with ``since`` after every disconnect, gets each of them once, in order; the
replay of the events from the initial read is the final read on every process; and each
read taken during the run at ``seq`` N is exactly the replay of events up to N.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import pytest

from server.settings import Settings
from tests.backends import SECRET_KEY, TEST_DATABASE_URL
from tests.board_helpers import (
    BATCH_MOVE,
    BOARD,
    CARDS,
    STATUSES,
    User,
    assert_dense,
    co_teacher,
    fill,
    room,
)
from tests.helpers import signed_in
from tests.histories import (
    RECONNECT_PAUSE_SECONDS,
    REQUEST_TIMEOUT_SECONDS,
    Follower,
    History,
    Refused,
    kill_redis_clients,
    terminate_backends,
)
from tests.replay import (
    BoardReplay,
    ProgressReplay,
    assert_numbered,
    board_cards,
    board_event_key,
    canonical,
    progress_event_key,
    replay_reads,
    unmatched,
)
from tests.servers import ServeProcess

WORKERS = 6
FOLLOWERS = 4
# Five stages of this many acknowledged writes (a batch move is up to three events) stay
# well under the 1000 events a subscriber may resume over without a ``reset`` (§7).
WRITES_BETWEEN_FAULTS = 40
# For each stage's writes: a healthy service needs about 2 s, a loaded 2-core machine more.
# Starting a process again is bounded apart, by ``tests.servers.STARTUP_TIMEOUT_SECONDS``.
STAGE_DEADLINE_SECONDS = 20
# Contract §7: after an outage, missed events arrive within 10 s of the service answering.
CATCH_UP_SECONDS = 10
PROGRESS = "/api/v1/progress"
WORDS = [f"word.{n}" for n in range(6)]


@dataclass
class Cluster:
    processes: list[ServeProcess]
    database_url: str
    redis_url: str | None

    @property
    def urls(self) -> list[str]:
        return [process.server.url for process in self.processes]

    @property
    def addresses(self) -> list[str]:
        return [process.server.address for process in self.processes]

    def errors(self) -> str:
        """The processes' logged errors, to show with a failure."""
        return "\n".join(process.errors() for process in self.processes)


@pytest.fixture
async def cluster(settings: Settings) -> AsyncIterator[Cluster]:
    environment = {
        "TANDEM_DATABASE_URL": settings.database_url,
        "TANDEM_REDIS_URL": settings.redis_url or "",
        "TANDEM_SECRET_KEY": SECRET_KEY,
        "TANDEM_RATE_LIMITS": "off",
    }
    count = 2 if settings.redis_url else 1
    processes = [ServeProcess(environment) for _ in range(count)]
    try:
        await asyncio.gather(*(process.start() for process in processes))
        yield Cluster(processes, settings.database_url, settings.redis_url)
    finally:
        for process in processes:
            await process.stop()


async def inject_faults(cluster: Cluster, history: History, done: list[str]) -> None:
    """The faults this backend allows, each after ``WRITES_BETWEEN_FAULTS`` more writes
    were acknowledged; then as many again, so the service is seen working after the last.
    Each is described in ``done`` with when it came (seconds since the first)."""
    started = time.monotonic()

    async def stage() -> None:
        try:
            async with asyncio.timeout(STAGE_DEADLINE_SECONDS):
                await history.writes_reach(history.writes + WRITES_BETWEEN_FAULTS)
        except TimeoutError:
            pytest.fail(
                f"not {WRITES_BETWEEN_FAULTS} more writes in {STAGE_DEADLINE_SECONDS} s after"
                f" {done or 'the start'}: {history.summary()}\n{cluster.errors()}"
            )

    async def then(fault: Callable[[], Awaitable[str]]) -> None:
        await stage()
        at = time.monotonic() - started
        done.append(f"{await fault()} at {at:.1f} s")

    async def database() -> str:
        ended = await terminate_backends(cluster.database_url)
        assert ended >= 1, "no backend of the app to terminate"
        return f"{ended} database backends terminated"

    async def redis() -> str:
        assert cluster.redis_url is not None
        killed = await kill_redis_clients(cluster.redis_url)
        assert killed["pubsub"] >= len(cluster.processes), killed  # one per process
        return f"Redis clients killed {dict(killed)}"

    async def process() -> str:
        victim = cluster.processes[-1]
        await victim.kill()
        restarting = time.monotonic()
        await victim.start()
        return f"a process killed (SIGKILL), restarted in {time.monotonic() - restarting:.1f} s,"

    if TEST_DATABASE_URL:
        await then(database)
    if cluster.redis_url:
        await then(redis)
    await then(process)
    if TEST_DATABASE_URL:
        await then(database)
    await stage()
    done.append(f"workers stopped at {time.monotonic() - started:.1f} s")


async def run(
    cluster: Cluster,
    history: History,
    worker: Callable[[int, asyncio.Event], Coroutine[Any, Any, None]],
) -> list[str]:
    """``WORKERS`` workers run while the faults are injected, then stop; the faults done."""
    stop = asyncio.Event()
    done: list[str] = []
    working = [asyncio.create_task(worker(n, stop)) for n in range(WORKERS)]
    try:
        await inject_faults(cluster, history, done)
        stop.set()
        async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS + CATCH_UP_SECONDS):
            await asyncio.gather(*working)
    finally:
        for task in working:
            task.cancel()
    return done


@asynccontextmanager
async def following(followers: Sequence[Follower]) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(follower.run()) for follower in followers]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def settled(history: History, read: Callable[[], Awaitable[httpx.Response]]) -> Any:
    """A read's data once the service answers it (a pool may still hold a connection the
    last fault broke: that read is a 503, the next one is served)."""
    async with asyncio.timeout(CATCH_UP_SECONDS):
        while (data := await history.call(read(), set())) is None:
            assert not history.violations, history.violations
            await asyncio.sleep(RECONNECT_PAUSE_SECONDS)
    return data


async def stored_events(
    addresses: Sequence[str], token: str, channel: str, after: int, last: int
) -> list[dict[str, Any]]:
    """The events after ``after`` as the store replays them to a new subscriber."""
    reader = Follower(addresses, token, channel, since=after)
    async with following([reader]), asyncio.timeout(CATCH_UP_SECONDS):
        await reader.reaches(last)
    return reader.frames


async def caught_up(followers: Sequence[Follower], last: int) -> None:
    try:
        async with asyncio.timeout(CATCH_UP_SECONDS):
            await asyncio.gather(*(follower.reaches(last) for follower in followers))
    except TimeoutError:
        behind = {n: (f.last, f.unexpected[:3]) for n, f in enumerate(followers) if f.last < last}
        pytest.fail(f"followers still behind seq {last} after {CATCH_UP_SECONDS} s: {behind}")


def check_history(
    cluster: Cluster,
    history: History,
    done: list[str],
    stored: Sequence[Mapping[str, Any]],
    followers: Sequence[Follower],
    after: int,
    last: int,
) -> None:
    """What every history must show, whatever the model (see the module docstring)."""
    assert not history.violations, f"{history.violations}\n{cluster.errors()}"
    assert done, "no fault was injected"
    assert history.faults, f"no client felt the faults {done}"
    assert_numbered(stored, after, last, "the store")
    for n, follower in enumerate(followers):
        assert not follower.unexpected, f"{follower.unexpected}\n{cluster.errors()}"
        assert follower.frames == list(stored), f"follower {n} differs from the store"


async def test_board_history_under_faults(cluster: Cluster) -> None:
    urls = cluster.urls
    async with httpx.AsyncClient(base_url=urls[0], timeout=REQUEST_TIMEOUT_SECONDS) as http:
        place = await room(http, students=("Ann", "Ben", "Cleo", "Dan", "Eve"), lessons=LESSONS)
        teachers = [place.teacher, await co_teacher(http, place), await co_teacher(http, place)]
        await fill(http, place, {"not_started": 5, "in_progress": 4, "needs_review": 3})
        params = {"classroom_id": place.id}
        initial = (await http.get(BOARD, params=params, headers=place.teacher.headers)).json()
    first = initial["data"]
    seq0 = first["seq"]
    pairs = [
        (lesson["id"], student_id)
        for lesson in place.lessons
        for student_id in [None, *(student["id"] for student in place.students)]
    ]
    history = History()
    followers = [
        Follower(cluster.addresses, teachers[n % 3].token, place.channel, seq0, first=n)
        for n in range(FOLLOWERS)
    ]

    async def worker(n: int, stop: asyncio.Event) -> None:
        teacher = teachers[n % len(teachers)]
        async with httpx.AsyncClient(
            timeout=REQUEST_TIMEOUT_SECONDS, headers=teacher.headers
        ) as client:
            await board_worker(client, teacher, random.Random(n), stop)

    async def board_worker(
        client: httpx.AsyncClient, teacher: User, rng: random.Random, stop: asyncio.Event
    ) -> None:
        known = board_cards(first)
        while not stop.is_set():
            base = rng.choice(urls)
            roll = rng.random()
            card = rng.choice(list(known.values())) if known else None
            answer: Any = None
            if card is None or roll < 0.15:
                answer = await history.call(client.get(base + BOARD, params=params), set())
                if answer is not None:
                    known = board_cards(answer)
                    history.reads.append((answer["seq"], dict(known)))
            elif roll < 0.45:
                answer = await history.call(
                    client.patch(f"{base}{CARDS}/{card['id']}/move", json=a_move(rng, card)),
                    {"VERSION_CONFLICT", "CARD_LOCKED", "CARD_NOT_FOUND",
                     "INVALID_STATUS_TRANSITION"},
                )  # fmt: skip
                if isinstance(answer, Refused) and answer.code == "VERSION_CONFLICT":
                    known[card["id"]] = answer.details["current"]
                elif answer is not None and not isinstance(answer, Refused):
                    history.ack(("card.moved", canonical(answer)))
                    known[card["id"]] = answer
            elif roll < 0.55:
                chosen = rng.sample(list(known.values()), min(3, len(known)))
                moves = [{"card_id": c["id"], **a_move(rng, c)} for c in chosen]
                answer = await history.call(
                    client.post(base + BATCH_MOVE, json={"moves": moves}), set()
                )
                if answer is not None:
                    for moved in answer["updated_cards"]:
                        history.ack(("card.moved", canonical(moved)))
                        known[moved["id"]] = moved
            elif roll < 0.7:
                answer = await history.call(
                    client.post(f"{base}{CARDS}/{card['id']}/lock"),
                    {"CARD_LOCKED", "CARD_NOT_FOUND"},
                )
                if answer is not None and not isinstance(answer, Refused):
                    key = ("card.locked", card["id"], answer["locked_at"], answer["expires_at"])
                    history.ack(key)
                    known[card["id"]] = {**card, "locked_by": teacher.id}
            elif roll < 0.8:
                mine = [c for c in known.values() if c["locked_by"] == teacher.id]
                card = rng.choice(mine) if mine else card
                answer = await history.call(
                    client.delete(f"{base}{CARDS}/{card['id']}/lock"),
                    {"FORBIDDEN", "NOT_FOUND", "CARD_NOT_FOUND"},
                )
                if answer is not None and not isinstance(answer, Refused):
                    history.ack(("card.unlocked", card["id"], "released"))
                    known[card["id"]] = {**card, "locked_by": None}
            elif roll < 0.92:
                lesson_id, student_id = rng.choice(pairs)
                body = {"lesson_id": lesson_id, "student_id": student_id,
                        "status": rng.choice(STATUSES)}  # fmt: skip
                answer = await history.call(
                    client.post(base + CARDS, json=body), {"DUPLICATE_ASSIGNMENT"}
                )
                if answer is not None and not isinstance(answer, Refused):
                    history.ack(("card.created", canonical(answer)))
                    known[answer["id"]] = answer
            else:
                answer = await history.call(
                    client.delete(f"{base}{CARDS}/{card['id']}"),
                    {"CARD_LOCKED", "CARD_NOT_FOUND"},
                )
                if answer is not None and not isinstance(answer, Refused):
                    history.ack(("card.deleted", card["id"]))
                    known.pop(card["id"], None)
            await paced(history, answer, wrote=roll >= 0.15 and card is not None)

    async with following(followers):
        done = await run(cluster, history, worker)
        finals = []
        for url in urls:
            async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_SECONDS) as http:
                finals.append(
                    await settled(
                        history,
                        partial(http.get, BOARD, params=params, headers=place.teacher.headers),
                    )
                )
        last = finals[0]["seq"]
        await caught_up(followers, last)
    stored = await stored_events(cluster.addresses, place.teacher.token, place.channel, seq0, last)

    print(history.summary(), done, sep="\n")  # shown with the failure, or with -s
    check_history(cluster, history, done, stored, followers, seq0, last)
    missing = unmatched(history.acknowledged, history.present, (board_event_key(f) for f in stored))
    assert not missing, f"acknowledged writes without their event: {missing}"
    model = BoardReplay(first)
    for frame in stored:
        model.apply(frame)
    for final in finals:
        assert final["seq"] == last
        assert_dense(final)
        assert board_cards(final) == model.cards, "the replay differs from the final board"
    # Contract §5: a read's cards are exactly the board after event ``seq``.
    wrong = replay_reads(BoardReplay(first), stored, history.reads)
    assert not wrong, f"{len(wrong)} reads not exact ({history.summary()}): {wrong[:5]}"


LESSONS = (
    ("Addition", "Mathematics"),
    ("Phonics", "Language"),
    ("Plants", "Science"),
    ("Rivers", "Geography"),
)


def a_move(rng: random.Random, card: Mapping[str, Any]) -> dict[str, Any]:
    """A move of ``card`` as its holder knows it: back anywhere, or on by one column."""
    reachable = STATUSES[: STATUSES.index(card["status"]) + 2]
    return {
        "new_status": rng.choice(reachable),
        "new_position": rng.randint(0, 4),
        "version": card["updated_at"],
    }


async def paced(history: History, answer: Any, *, wrote: bool) -> None:
    """Count an acknowledged write; after a fault, pause before the next try so a client
    does not spin on a refused connection while its server restarts."""
    if answer is None:
        await asyncio.sleep(RECONNECT_PAUSE_SECONDS)
    elif wrote and not isinstance(answer, Refused):
        history.wrote()


async def test_progress_history_under_faults(cluster: Cluster) -> None:
    urls = cluster.urls
    async with httpx.AsyncClient(base_url=urls[0], timeout=REQUEST_TIMEOUT_SECONDS) as http:
        tokens = await signed_in(http)
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        first = (await http.get(PROGRESS, headers=headers)).json()["data"]
    seq0 = first["seq"]
    history = History()
    followers = [
        Follower(cluster.addresses, tokens["access_token"], "progress", seq0, first=n)
        for n in range(FOLLOWERS)
    ]

    async def worker(n: int, stop: asyncio.Event) -> None:
        rng = random.Random(n)
        known: dict[str, dict[str, Any]] = {}
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS, headers=headers) as client:
            while not stop.is_set():
                base = rng.choice(urls) + PROGRESS
                roll = rng.random()
                word = rng.choice(WORDS)
                answer: Any
                if roll < 0.15:
                    answer = await history.call(client.get(base), set())
                    if answer is not None:
                        known = {item["wordId"]: item for item in answer["items"]}
                        history.reads.append((answer["seq"], dict(known)))
                elif roll < 0.7:
                    answer = await history.call(
                        client.put(f"{base}/{word}", json=a_review(rng, known.get(word))),
                        {"VERSION_CONFLICT"},
                    )
                    if isinstance(answer, Refused):
                        known[word] = answer.details["current"]
                    elif answer is not None:
                        # A PUT that changed nothing shares the event of the one before.
                        history.ack(("progress.updated", canonical(answer)), own_event=False)
                        known[word] = answer
                elif roll < 0.85:
                    words = rng.sample(WORDS, 3)
                    updates = [{"wordId": w, **a_review(rng, known.get(w))} for w in words]
                    answer = await history.call(
                        client.post(f"{base}/batch", json={"updates": updates}),
                        {"VALIDATION_ERROR"},  # counts some other client already raised
                    )
                    if answer is not None and not isinstance(answer, Refused):
                        for item in answer["items"]:
                            key = ("progress.updated", canonical(item))
                            history.ack(key, own_event=False)
                            known[item["wordId"]] = item
                else:
                    answer = await history.call(client.delete(f"{base}/{word}"), {"NOT_FOUND"})
                    if answer is not None and not isinstance(answer, Refused):
                        history.ack(("progress.deleted", word))
                    known.pop(word, None)
                await paced(history, answer, wrote=roll >= 0.15)

    async with following(followers):
        done = await run(cluster, history, worker)
        finals = []
        for url in urls:
            async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_SECONDS) as http:
                finals.append(
                    await settled(
                        history,
                        partial(http.get, PROGRESS, headers=headers),
                    )
                )
        last = finals[0]["seq"]
        await caught_up(followers, last)
    stored = await stored_events(cluster.addresses, tokens["access_token"], "progress", seq0, last)

    print(history.summary(), done, sep="\n")  # shown with the failure, or with -s
    check_history(cluster, history, done, stored, followers, seq0, last)
    missing = unmatched(
        history.acknowledged, history.present, (progress_event_key(f) for f in stored)
    )
    assert not missing, f"acknowledged writes without their event: {missing}"
    model = ProgressReplay(first)
    for frame in stored:
        model.apply(frame)
    for final in finals:
        assert final["seq"] == last
        assert {item["wordId"]: item for item in final["items"]} == model.items
    wrong = replay_reads(ProgressReplay(first), stored, history.reads)
    assert not wrong, f"{len(wrong)} reads not exact ({history.summary()}): {wrong[:5]}"


def a_review(rng: random.Random, record: Mapping[str, Any] | None) -> dict[str, Any]:
    """Counts risen from what this client knows (or the same, now and then: no event)."""
    study = record["studyCount"] if record else 0
    correct = record["correctCount"] if record else 0
    rise = 0 if record and rng.random() < 0.1 else rng.randint(1, 2)
    return {
        "studyCount": study + rise,
        "correctCount": correct + rng.randint(0, rise),
        "confidence": record["confidence"] if record and not rise else rng.randint(0, 5),
    }
