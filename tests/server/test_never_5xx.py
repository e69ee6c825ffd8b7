"""Property: no request body a client can send gets a 5xx (contract §2).

For each JSON route, hypothesis draws bodies that mix the valid shape with wrong types,
numbers past any bound, odd unicode, NUL, text that is not UTF-8, nesting far past 64 levels
and instants at the ends of the calendar, and checks that the answer is below 500 and, when
it is a 4xx, the contract's error envelope.

One app and one database serve the whole module (made by a module fixture, driven through
Litestar's synchronous test client): a fresh one per example would cost seconds each, and
what earlier examples wrote only makes the later ones meet more states. Runs are
deterministic (``derandomize``, no example database), so CI and a laptop try the same
bodies, and a failure names the body that caused it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient
from redis.asyncio import Redis

from server.app import create_app
from server.progress.rules import MAX_COUNT
from server.settings import Settings
from tests.backends import SECRET_KEY, TEST_REDIS_URL
from tests.conftest import Databases
from tests.helpers import PASSWORD

EXAMPLES = 40  # per route; the module runs in well under a minute on SQLite

PROPERTY = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    # Bodies nested thousands deep are the point; the shared app is on purpose (see above).
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- bodies ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text put into a body as it is: nesting too deep to build, or bytes not UTF-8."""

    data: bytes


def encode(value: Any) -> bytes:
    if isinstance(value, Raw):
        return value.data
    if isinstance(value, dict):
        return b"{" + b",".join(encode(k) + b":" + encode(v) for k, v in value.items()) + b"}"
    if isinstance(value, list):
        return b"[" + b",".join(encode(v) for v in value) + b"]"
    # surrogatepass: a lone surrogate goes out as (invalid) UTF-8 bytes, one more bad input.
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _deep(depth: int) -> Raw:
    return Raw(b'{"a":' * depth + b"1" + b"}" * depth if depth % 2 else b"[" * depth + b"]" * depth)


NOT_UTF8 = [Raw(b'"\xff"'), Raw(b'"a\xc3\x28"'), Raw(b'"\xed\xa0\x80"'), Raw(b'"\xf8\x88\x80"')]
ODD_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "nl2\n",
    "\r\n",
    "²",
    "١٢",
    "\u202e",
    "\ufeff",
    "💥" * 100,
    "é" * 300,
    "x" * 2000,
    "stats",
    "...",
    "<script>",
    "'; drop table users; --",
]
EDGE_INTS = [
    -1,
    0,
    1,
    5,
    6,
    MAX_COUNT,
    MAX_COUNT + 1,
    2**31 - 1,
    2**31,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63) - 1,
    10**30,
]
EDGE_INSTANTS = [
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59.999999+00:00",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "1970-01-01T00:00:00Z",
    "2100-01-01T00:00:00Z",
    "2024-02-30T00:00:00Z",
    "2024-01-01T24:00:00Z",
    "2024-01-01",
    "now",
]

ints = st.one_of(st.sampled_from(EDGE_INTS), st.integers())
texts = st.one_of(st.sampled_from(ODD_TEXT), st.text(max_size=40))
words = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=20)
offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
instants = st.one_of(
    st.sampled_from(EDGE_INSTANTS),
    st.datetimes(timezones=st.one_of(st.just(UTC), offsets)).map(lambda d: d.isoformat()),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    ints,
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([Raw(b"1e400"), Raw(b"-1e400"), Raw(b"NaN"), Raw(b"1.0")]),
    texts,
    st.sampled_from(NOT_UTF8),
)
any_json = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=8,
)
weird = st.one_of(any_json, st.integers(60, 5000).map(_deep), instants)


def mostly(usual: st.SearchStrategy[Any], *rarer: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``usual`` four times in five, else one of ``rarer``.

    Weighted on purpose: a body reaches the services (where the 500s hid: the database, the
    scheduler) only when every field is well-formed, so most fields must be.
    """
    other = st.one_of(*rarer)
    return st.integers(0, 9).flatmap(lambda n: other if n < 2 else usual)


def value(valid: st.SearchStrategy[Any], edges: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field's value: mostly valid, else an edge of its kind or anything at all."""
    return mostly(valid, edges, edges, weird)


Field = tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]  # (valid, edges)


def shape(required: dict[str, Field], optional: dict[str, Field] | None = None) -> Any:
    """Objects of this shape, now and then with fields missing or unknown, or other JSON."""
    fields = {name: value(*kinds) for name, kinds in required.items()}
    extras = {name: value(*kinds) for name, kinds in (optional or {}).items()}
    whole = st.fixed_dictionaries(fields, optional=extras)
    partial = st.fixed_dictionaries({}, optional={**fields, **extras})
    unknown = st.dictionaries(
        st.sampled_from(["id", "role", "user_id", "x", ""]), weird, max_size=2
    )
    with_unknown = st.builds(lambda a, b: {**a, **b}, whole, unknown)
    return mostly(whole, partial, with_unknown, weird)


def bodies(of: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return mostly(of.map(encode), of.map(encode), st.binary(max_size=40))


CONFIDENCE: Field = (st.integers(0, 5), ints)
NAME: Field = (words, texts)
BOOLEAN: Field = (st.booleans(), scalars)


WORD_ID: Field = (
    st.from_regex(r"[A-Za-z0-9._:-]{1,12}", fullmatch=True),
    st.one_of(
        st.sampled_from(["nl2\n", "a b", "a/b", "x" * 129, "...", "stats", "import", "é"]), texts
    ),
)
LAST_STUDIED: Field = (
    st.one_of(
        st.datetimes(datetime(2000, 1, 1), datetime(2025, 1, 1), timezones=st.just(UTC)).map(
            lambda d: d.isoformat()
        ),
        st.integers(0, 1_735_689_600_000),
    ),
    st.one_of(instants, ints),
)


# --- the app and what it holds -----------------------------------------------------------------


@dataclass
class World:
    client: TestClient[Litestar]
    learner: dict[str, str]
    teacher: dict[str, str]
    refresh_token: str
    classroom_id: str
    student_join_code: str
    teacher_join_code: str
    lesson_id: str
    student_id: str
    card_id: str
    card_version: str
    ids: list[str] = field(default_factory=list)

    def __repr__(self) -> str:  # hypothesis prints the fixtures of a failing example
        return "World(…)"

    def id_of(self, valid: str) -> Field:
        """That id, or another of the world's, a random UUID, or text."""
        return st.just(valid), st.one_of(st.sampled_from(self.ids), st.uuids().map(str), texts)


def _made(response: httpx.Response, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json()["data"]


def _account(client: TestClient[Litestar], role: str) -> dict[str, Any]:
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.org"
    body = {"email": email, "password": PASSWORD, "name": role.title(), "role": role}
    _made(client.post("/api/v1/auth/register", json=body))
    tokens: dict[str, Any] = _made(
        client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}), 200
    )
    return tokens


@pytest.fixture(scope="module")
def world(databases: Databases) -> Iterator[World]:
    url = asyncio.run(databases.create())
    if TEST_REDIS_URL is not None:
        asyncio.run(_flush(TEST_REDIS_URL))
    settings_ = Settings(
        database_url=url, redis_url=TEST_REDIS_URL, secret_key=SECRET_KEY, rate_limits=()
    )
    try:
        with TestClient(app=create_app(settings_)) as client:
            learner = _account(client, "learner")
            teacher = _account(client, "teacher")
            headers = {"Authorization": f"Bearer {teacher['access_token']}"}
            classroom = _made(
                client.post("/api/teacher/classrooms", json={"name": "Room"}, headers=headers)
            )
            student = _made(
                client.post(
                    "/api/teacher/students",
                    json={"classroom_id": classroom["id"], "name": "Ann"},
                    headers=headers,
                )
            )
            lesson = _made(
                client.post(
                    "/api/teacher/lessons",
                    json={"classroom_id": classroom["id"], "title": "T", "category": "C"},
                    headers=headers,
                )
            )
            card = _made(
                client.post(
                    "/api/teacher/progress-board/cards",
                    json={"lesson_id": lesson["id"], "student_id": student["id"]},
                    headers=headers,
                )
            )
            yield World(
                client=client,
                learner={"Authorization": f"Bearer {learner['access_token']}"},
                teacher=headers,
                refresh_token=learner["refresh_token"],
                classroom_id=classroom["id"],
                student_join_code=classroom["student_join_code"],
                teacher_join_code=classroom["teacher_join_code"],
                lesson_id=lesson["id"],
                student_id=student["id"],
                card_id=card["id"],
                card_version=card["updated_at"],
                ids=[classroom["id"], student["id"], lesson["id"], card["id"]],
            )
    finally:
        asyncio.run(databases.drop(url))


async def _flush(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


# --- requests per route ------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: bytes
    headers: dict[str, str]


JSON = {"Content-Type": "application/json"}
BOARD = "/api/teacher/progress-board"
Route = Callable[[World], st.SearchStrategy[Call]]


def _post(path: str, who: str, of: Callable[[World], st.SearchStrategy[Any]]) -> Route:
    def calls(world: World) -> st.SearchStrategy[Call]:
        headers = {**JSON, **getattr(world, who)} if who else JSON
        return bodies(of(world)).map(lambda body: Call("POST", path, body, headers))

    return calls


PROGRESS: dict[str, Field] = {  # valid counts with correctCount <= studyCount
    "studyCount": (st.integers(10, 30), ints),
    "correctCount": (st.integers(0, 10), ints),
    "confidence": CONFIDENCE,
}
STATUS: Field = (
    st.sampled_from(["not_started", "in_progress", "needs_review", "mastered"]),
    st.sampled_from(["done", "", "NOT_STARTED"]),
)


def _move(world: World) -> dict[str, Field]:
    return {
        "new_status": STATUS,
        "new_position": (st.integers(0, 5), ints),
        "version": (st.just(world.card_version), instants),
    }


def _path_ids(kinds: Field) -> st.SearchStrategy[str]:
    """Path segments: quoted text (NUL, newline, unicode), or raw escapes that are not UTF-8."""
    valid, edges = kinds
    odd = st.sampled_from(["%FF", "%C3%28", "%00", "a%0A", "%2e%2e", "x" * 600])
    return mostly(valid, edges.map(lambda text: quote(text, safe="")), odd)


def _put_progress(world: World) -> st.SearchStrategy[Call]:
    headers = {**JSON, **world.learner}
    return st.builds(
        lambda word, body: Call("PUT", f"/api/v1/progress/{word}", body, headers),
        _path_ids(WORD_ID),
        bodies(shape(PROGRESS, {"mastered": BOOLEAN})),
    )


def _import(world: World) -> st.SearchStrategy[Call]:
    record = shape(
        PROGRESS, {"lastStudied": LAST_STUDIED, "mastered": BOOLEAN, "note": (weird, weird)}
    )
    keys = mostly(*WORD_ID)  # JSON object keys are strings
    as_json = bodies(st.dictionaries(keys, record, max_size=4)).map(
        lambda body: Call("POST", "/api/v1/progress/import", body, {**JSON, **world.learner})
    )
    cell = mostly(
        st.integers(0, 30).map(str), ints.map(str), texts, st.sampled_from(["²", "١٢", "9" * 5000])
    )
    row = st.tuples(value(*WORD_ID), cell, cell, cell, value(*LAST_STUDIED))
    as_csv = st.lists(row, max_size=4).map(
        lambda rows: Call(
            "POST",
            "/api/v1/progress/import",
            _csv(rows),
            {"Content-Type": "text/csv", **world.learner},
        )
    )
    return st.one_of(as_json, as_csv)


def _csv(rows: list[tuple[Any, ...]]) -> bytes:
    def cell(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value, default=repr)

    lines = ["wordId,studyCount,correctCount,confidence,lastStudied"]
    lines += [",".join(json.dumps(cell(c), ensure_ascii=False) for c in row) for row in rows]
    return "\n".join(lines).encode("utf-8", "surrogatepass")


def _move_card(world: World) -> st.SearchStrategy[Call]:
    headers = {**JSON, **world.teacher}
    return st.builds(
        lambda card, body: Call("PATCH", f"{BOARD}/cards/{card}/move", body, headers),
        _path_ids(world.id_of(world.card_id)),
        bodies(shape(_move(world))),
    )


def _lock(world: World) -> st.SearchStrategy[Call]:
    return _path_ids(world.id_of(world.card_id)).map(
        lambda card: Call("POST", f"{BOARD}/cards/{card}/lock", b"", world.teacher)
    )


def _items(required: dict[str, Field], optional: dict[str, Field]) -> Field:
    """Lists of valid items (so a batch is applied now and then), else of any items."""
    exact = st.fixed_dictionaries(
        {name: kinds[0] for name, kinds in required.items()},
        optional={name: kinds[0] for name, kinds in optional.items()},
    )
    return (
        st.lists(exact, min_size=1, max_size=4),
        st.lists(shape(required, optional), max_size=4),
    )


ROUTES: dict[str, Route] = {
    "register": _post(
        "/api/v1/auth/register",
        "",
        lambda w: shape(
            {
                "email": (st.uuids().map(lambda u: f"{u.hex[:12]}@example.org"), texts),
                "password": (st.just(PASSWORD), texts),
                "name": NAME,
                "role": (st.sampled_from(["learner", "teacher"]), st.just("admin")),
            }
        ),
    ),
    "login": _post(
        "/api/v1/auth/login",
        "",
        lambda w: shape({"email": (st.emails(), texts), "password": (st.just(PASSWORD), texts)}),
    ),
    "refresh": _post(
        "/api/v1/auth/refresh",
        "",
        lambda w: shape({"refresh_token": (st.just(w.refresh_token), texts)}),
    ),
    "progress put": _put_progress,
    "progress batch": _post(
        "/api/v1/progress/batch",
        "learner",
        lambda w: shape(
            {"updates": _items({"wordId": WORD_ID, **PROGRESS}, {"mastered": BOOLEAN})}
        ),
    ),
    "progress import": _import,
    "card create": _post(
        f"{BOARD}/cards",
        "teacher",
        lambda w: shape(
            {"lesson_id": w.id_of(w.lesson_id)},
            {
                "student_id": (st.sampled_from([None, w.student_id]), w.id_of(w.student_id)[1]),
                "status": STATUS,
            },
        ),
    ),
    "card move": _move_card,
    "card batch move": _post(
        f"{BOARD}/batch-move",
        "teacher",
        lambda w: shape({"moves": _items({"card_id": w.id_of(w.card_id), **_move(w)}, {})}),
    ),
    "card lock": _lock,
    "classroom create": _post(
        "/api/teacher/classrooms", "teacher", lambda w: shape({"name": NAME})
    ),
    "classroom join": _post(
        "/api/teacher/classrooms/join",
        "teacher",
        lambda w: shape({"join_code": (st.just(w.teacher_join_code), texts)}),
    ),
    "student create": _post(
        "/api/teacher/students",
        "teacher",
        lambda w: shape({"classroom_id": w.id_of(w.classroom_id), "name": NAME}),
    ),
    "lesson create": _post(
        "/api/teacher/lessons",
        "teacher",
        lambda w: shape(
            {"classroom_id": w.id_of(w.classroom_id), "title": NAME, "category": NAME},
            {"word_ids": (st.lists(value(*WORD_ID), max_size=4), st.lists(texts, max_size=2))},
        ),
    ),
    "learner join": _post(
        "/api/v1/classrooms/join",
        "learner",
        lambda w: shape({"join_code": (st.just(w.student_join_code), texts)}),
    ),
}


def answered(response: httpx.Response) -> None:
    """Below 500; a 4xx in the envelope (§2)."""
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        body = response.json()
        assert body["success"] is False
        assert set(body["error"]) == {"code", "message", "details"}
        assert isinstance(body["error"]["code"], str)
        assert body["error"]["message"]


@pytest.mark.parametrize("route", ROUTES)
@PROPERTY
@given(data=st.data())
def test_no_body_gets_a_5xx(world: World, route: str, data: st.DataObject) -> None:
    call = data.draw(ROUTES[route](world), label="request")
    response = world.client.request(call.method, call.path, content=call.body, headers=call.headers)
    event(f"{response.status_code} {call.method} {route}")  # --hypothesis-show-statistics
    answered(response)
