"""Tests of realtime.session: the sans-I/O protocol of one websocket connection (contract §7).

No sockets and no clocks: a fake ``verify`` maps tokens to identities, and every input is
given its ``now`` explicitly, so the auth deadline, token expiry and rate limit are exact.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from realtime.session import (
    CLOSE_TOO_BIG,
    CLOSE_UNAUTHORIZED,
    Action,
    AuthFailed,
    Close,
    Identity,
    Join,
    Leave,
    Send,
    Session,
    State,
)

T0 = 1_700_000_000.0  # when the connection opened
TEACHER = Identity(uuid.UUID("00000000-0000-4000-8000-00000000000a"), "Tess", "teacher", T0 + 60)
LEARNER = Identity(uuid.UUID("00000000-0000-4000-8000-00000000000b"), "Leo", "learner", T0 + 60)
CLASSROOM = uuid.UUID("6f1c2a9e-0000-4000-8000-000000000001")
BOARD = f"board:{CLASSROOM}"
OTHER_BOARD = "board:6f1c2a9e-0000-4000-8000-000000000002"
TOKENS = {
    "teacher": TEACHER,
    "teacher-fresh": Identity(TEACHER.user_id, TEACHER.name, TEACHER.role, T0 + 120),
    "learner": LEARNER,
}
PING = '{"type":"ping"}'


def verify(token: str) -> Identity:
    try:
        return TOKENS[token]
    except KeyError:
        raise AuthFailed(token) from None


def auth(token: str) -> str:
    return json.dumps({"type": "auth", "token": token})


def subscribe(channel: str, **extra: Any) -> str:
    return json.dumps({"type": "subscribe", "channel": channel, **extra})


def unsubscribe(channel: str) -> str:
    return json.dumps({"type": "unsubscribe", "channel": channel})


def frames(actions: list[Action]) -> list[Any]:
    """The frames among ``actions``, parsed; every action must be a Send."""
    assert all(isinstance(action, Send) for action in actions), actions
    return [json.loads(action.frame) for action in actions if isinstance(action, Send)]


def error(code: str, ref: str | int | None = None) -> dict[str, Any]:
    """The parts of an error frame a test pins down (the message is free text)."""
    return {"type": "error", "code": code, "ref": ref}


def only_error(actions: list[Action]) -> dict[str, Any]:
    [frame] = frames(actions)
    assert isinstance(frame["message"], str)
    assert frame["message"]
    return {key: frame[key] for key in ("type", "code", "ref")}


def closed_with(actions: list[Action], code: int, leaves: frozenset[str] = frozenset()) -> None:
    """``actions`` are a Leave for each channel in ``leaves``, then a Close with ``code``."""
    *before, last = actions
    assert isinstance(last, Close)
    assert last.code == code
    assert last.reason
    assert all(isinstance(action, Leave) for action in before), before
    assert sorted(a.store_channel for a in before if isinstance(a, Leave)) == sorted(leaves)


def state(session: Session) -> State:
    """The session's state, read through a call so mypy does not narrow it between steps."""
    return session.state


def opened(who: str = "teacher", now: float = T0, **options: Any) -> Session:
    """A session opened at T0 and authenticated with the token ``who`` at ``now``."""
    session = Session(verify, opened_at=T0, **options)
    [ok] = frames(session.receive(auth(who), now))
    assert ok["type"] == "auth_ok"
    return session


# -- authentication -------------------------------------------------------------------------


def test_auth_frame_answers_auth_ok() -> None:
    session = Session(verify, opened_at=T0)
    assert state(session) is State.AWAITING_AUTH
    assert frames(session.receive(auth("teacher"), T0 + 1)) == [
        {"type": "auth_ok", "user": {"id": str(TEACHER.user_id), "name": "Tess", "role": "teacher"}}
    ]
    assert state(session) is State.OPEN
    assert session.identity == TEACHER


def test_header_auth_answers_auth_ok_without_a_frame() -> None:
    session = Session(verify, opened_at=T0)
    assert frames(session.authenticate("learner")) == [
        {"type": "auth_ok", "user": {"id": str(LEARNER.user_id), "name": "Leo", "role": "learner"}}
    ]
    assert state(session) is State.OPEN
    assert frames(session.receive(PING, T0)) == [{"type": "pong"}]


def test_bad_token_in_a_frame_closes_4401() -> None:
    session = Session(verify, opened_at=T0)
    closed_with(session.receive(auth("forged"), T0), CLOSE_UNAUTHORIZED)
    assert state(session) is State.CLOSED
    assert session.identity is None


def test_bad_token_in_the_header_closes_4401() -> None:
    session = Session(verify, opened_at=T0)
    closed_with(session.authenticate("forged"), CLOSE_UNAUTHORIZED)
    assert state(session) is State.CLOSED


@pytest.mark.parametrize(
    "text",
    [
        PING,
        subscribe("progress"),
        unsubscribe("progress"),
        "not json",
        "",
        '{"type":"nope"}',
        '{"type":"auth"}',
        '{"type":"auth","token":"teacher","extra":true}',
    ],
)
def test_anything_but_a_valid_auth_frame_before_auth_closes_4401_at_once(text: str) -> None:
    session = Session(verify, opened_at=T0)
    closed_with(session.receive(text, T0 + 0.1), CLOSE_UNAUTHORIZED)
    assert state(session) is State.CLOSED


def test_auth_deadline() -> None:
    session = Session(verify, opened_at=T0)
    assert session.deadline() == T0 + 10
    assert session.tick(T0 + 9.999) == []
    assert state(session) is State.AWAITING_AUTH
    closed_with(session.tick(T0 + 10), CLOSE_UNAUTHORIZED)
    assert session.deadline() is None


def test_auth_deadline_is_configurable() -> None:
    session = Session(verify, opened_at=T0, auth_timeout=2.5)
    assert session.deadline() == T0 + 2.5
    closed_with(session.tick(T0 + 2.5), CLOSE_UNAUTHORIZED)


def test_auth_frame_in_time_cancels_the_auth_deadline() -> None:
    session = opened(now=T0 + 9.9)
    assert session.deadline() == TEACHER.expires_at
    assert session.tick(T0 + 10) == []


def test_auth_frame_after_the_auth_deadline_closes_even_before_tick() -> None:
    # The endpoint's timer may fire after a late frame arrived: the deadline still holds.
    session = Session(verify, opened_at=T0)
    closed_with(session.receive(auth("teacher"), T0 + 10), CLOSE_UNAUTHORIZED)
    assert session.identity is None


def test_token_expiry_closes_4401_via_tick() -> None:
    session = opened()
    assert session.deadline() == T0 + 60
    assert session.tick(T0 + 59.999) == []
    closed_with(session.tick(T0 + 60), CLOSE_UNAUTHORIZED)
    assert state(session) is State.CLOSED


def test_frame_after_token_expiry_closes_even_before_tick() -> None:
    session = opened()
    closed_with(session.receive(subscribe("progress"), T0 + 61), CLOSE_UNAUTHORIZED)


def test_fresh_auth_frame_extends_the_connection() -> None:
    session = opened()
    assert frames(session.receive(auth("teacher-fresh"), T0 + 30))[0]["type"] == "auth_ok"
    assert session.deadline() == T0 + 120
    assert session.tick(T0 + 60) == []
    assert frames(session.receive(PING, T0 + 90)) == [{"type": "pong"}]
    closed_with(session.tick(T0 + 120), CLOSE_UNAUTHORIZED)


def test_header_auth_then_auth_frame_extends() -> None:
    session = Session(verify, opened_at=T0)
    session.authenticate("teacher")
    assert frames(session.receive(auth("teacher-fresh"), T0 + 59))[0]["type"] == "auth_ok"
    assert session.deadline() == T0 + 120


def test_auth_frame_for_another_user_closes_4401() -> None:
    session = opened("teacher")
    session.receive(subscribe("progress"), T0)
    leaves = frozenset({f"progress:{TEACHER.user_id}"})
    closed_with(session.receive(auth("learner"), T0 + 1), CLOSE_UNAUTHORIZED, leaves)
    assert session.identity == TEACHER


def test_bad_auth_frame_after_auth_closes_4401() -> None:
    session = opened()
    closed_with(session.receive(auth("forged"), T0 + 1), CLOSE_UNAUTHORIZED)


# -- subscriptions --------------------------------------------------------------------------


def test_subscribe_progress_joins_the_callers_own_channel() -> None:
    session = opened("learner")
    assert session.receive(subscribe("progress"), T0) == [
        Join("progress", f"progress:{LEARNER.user_id}", None, None, None, again=False)
    ]


@pytest.mark.parametrize("ref", ["r-1", 7])
def test_subscribe_carries_since_and_ref(ref: str | int) -> None:
    session = opened("learner")
    assert session.receive(subscribe("progress", since=4, ref=ref), T0) == [
        Join("progress", f"progress:{LEARNER.user_id}", 4, ref, None, again=False)
    ]


def test_subscribe_board_as_teacher_joins_with_the_classroom_to_check() -> None:
    session = opened("teacher")
    spelled = f"board:{str(CLASSROOM).upper()}"
    assert session.receive(subscribe(spelled, since=0, ref="b"), T0) == [
        Join(BOARD, BOARD, 0, "b", CLASSROOM, again=False)
    ]
    assert session.channels == {BOARD: BOARD}


def test_subscribe_board_as_learner_is_forbidden_and_the_session_stays_open() -> None:
    session = opened("learner")
    assert only_error(session.receive(subscribe(BOARD, ref=3), T0)) == error("FORBIDDEN", 3)
    assert state(session) is State.OPEN
    assert session.channels == {}
    assert frames(session.receive(PING, T0)) == [{"type": "pong"}]


@pytest.mark.parametrize(
    "channel",
    [
        "board:not-a-uuid",
        "board:",
        "board",
        "foo",
        "",
        "Progress",
        "progress:00000000-0000-4000-8000-00000000000a",  # the store name is not a client name
    ],
)
def test_subscribe_to_a_malformed_channel_is_a_validation_error(channel: str) -> None:
    session = opened("teacher")
    actions = session.receive(subscribe(channel, ref="m"), T0)
    assert only_error(actions) == error("VALIDATION_ERROR", "m")
    assert state(session) is State.OPEN
    assert session.channels == {}


def test_negative_since_is_a_validation_error() -> None:
    session = opened()
    actions = session.receive(subscribe("progress", since=-1), T0)
    assert only_error(actions) == error("VALIDATION_ERROR")
    assert state(session) is State.OPEN
    assert session.channels == {}


def test_subscribing_twice_joins_again_and_changes_nothing() -> None:
    session = opened("teacher")
    session.receive(subscribe(BOARD), T0)
    again = session.receive(subscribe(BOARD.upper().replace("BOARD", "board"), ref=2), T0)
    assert again == [Join(BOARD, BOARD, None, 2, CLASSROOM, again=True)]
    assert session.channels == {BOARD: BOARD}


def test_unsubscribe_leaves() -> None:
    session = opened("teacher")
    session.receive(subscribe("progress"), T0)
    session.receive(subscribe(BOARD), T0)
    assert session.receive(unsubscribe("progress"), T0) == [Leave(f"progress:{TEACHER.user_id}")]
    assert session.receive(unsubscribe(BOARD.upper().replace("BOARD", "board")), T0) == [
        Leave(BOARD)
    ]
    assert session.channels == {}


@pytest.mark.parametrize("channel", ["progress", BOARD, OTHER_BOARD, "board:nope", "foo", ""])
def test_unsubscribe_from_a_channel_not_subscribed_does_nothing(channel: str) -> None:
    session = opened("teacher")
    session.receive(subscribe(OTHER_BOARD if channel != OTHER_BOARD else BOARD), T0)
    before = dict(session.channels)
    assert session.receive(unsubscribe(channel), T0) == []
    assert session.channels == before
    assert state(session) is State.OPEN


def test_refused_forgets_the_channel_so_a_later_subscribe_is_fresh() -> None:
    session = opened("teacher")
    [join] = session.receive(subscribe(BOARD, ref="x"), T0)
    assert isinstance(join, Join)
    refusal = session.refused(join.store_channel, "NOT_FOUND", "no such board", join.ref)
    assert isinstance(refusal, Send)
    assert json.loads(refusal.frame) == {
        "type": "error",
        "code": "NOT_FOUND",
        "message": "no such board",
        "ref": "x",
    }
    assert session.channels == {}
    assert state(session) is State.OPEN
    assert session.receive(subscribe(BOARD), T0) == [
        Join(BOARD, BOARD, None, None, CLASSROOM, again=False)
    ]
    assert session.receive(unsubscribe(BOARD), T0) == [Leave(BOARD)]


# -- malformed and oversized frames ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "",
        "[1, 2]",
        '{"type":"nope"}',
        '{"type":"pong"}',
        '{"type":"ping","extra":1}',
        '{"type":"subscribe","channel":"progress","colour":"red"}',
        '{"type":"subscribe"}',
        b"\xff\xfe",
    ],
)
def test_invalid_frame_after_auth_is_a_validation_error_and_the_session_stays_open(
    text: str | bytes,
) -> None:
    session = opened()
    assert only_error(session.receive(text, T0)) == error("VALIDATION_ERROR")
    assert state(session) is State.OPEN
    assert frames(session.receive(PING, T0)) == [{"type": "pong"}]


def padded(size: int) -> str:
    """A ping frame of exactly ``size`` bytes, padded with insignificant whitespace."""
    body = '{"type":"ping"}'
    return body + " " * (size - len(body))


def test_frame_of_64_kib_is_accepted() -> None:
    session = opened()
    assert frames(session.receive(padded(64 * 1024), T0)) == [{"type": "pong"}]


def test_frame_over_64_kib_closes_1009_after_leaving_every_channel() -> None:
    session = opened()
    session.receive(subscribe("progress"), T0)
    session.receive(subscribe(BOARD), T0)
    leaves = frozenset({f"progress:{TEACHER.user_id}", BOARD})
    closed_with(session.receive(padded(64 * 1024 + 1), T0), CLOSE_TOO_BIG, leaves)
    assert session.channels == {}


def test_frame_size_counts_utf8_bytes_not_characters() -> None:
    session = opened()
    text = json.dumps({"type": "auth", "token": "é" * 40_000}, ensure_ascii=False)
    assert len(text) < 64 * 1024 < len(text.encode())
    closed_with(session.receive(text, T0), CLOSE_TOO_BIG)


def test_oversized_bytes_frame_closes_1009() -> None:
    session = opened()
    closed_with(session.receive(padded(70_000).encode(), T0), CLOSE_TOO_BIG)


def test_oversized_frame_before_auth_closes_1009() -> None:
    session = Session(verify, opened_at=T0)
    closed_with(session.receive(padded(100_000), T0), CLOSE_TOO_BIG)


def test_a_padded_frame_has_the_size_it_claims() -> None:
    assert len(padded(64 * 1024).encode()) == 64 * 1024


# -- rate limit -----------------------------------------------------------------------------


def is_rate_limited(actions: list[Action]) -> bool:
    """Whether ``actions`` are the one RATE_LIMITED error frame."""
    parsed = frames(actions)
    if parsed and parsed[0]["type"] == "error":
        assert only_error(actions) == error("RATE_LIMITED")
        return True
    return False


def test_a_burst_of_20_frames_is_accepted_and_the_21st_dropped() -> None:
    session = opened()
    for _ in range(20):
        assert frames(session.receive(PING, T0 + 1)) == [{"type": "pong"}]
    assert is_rate_limited(session.receive(PING, T0 + 1))
    # Dropped, whatever they are, and said only once.
    assert session.receive(subscribe("progress"), T0 + 1) == []
    assert session.receive("not json", T0 + 1) == []
    assert session.receive(auth("forged"), T0 + 1) == []
    assert session.channels == {}
    assert state(session) is State.OPEN


def test_frames_are_accepted_again_after_the_bucket_refills() -> None:
    session = opened()
    for _ in range(21):
        session.receive(PING, T0 + 1)
    assert session.receive(PING, T0 + 1) == []
    # 1/16 s (exact in binary) refills 1.25 frames' worth: one frame gets through.
    assert frames(session.receive(PING, T0 + 1.0625)) == [{"type": "pong"}]
    assert session.receive(PING, T0 + 1.0625) == []
    # A quiet second refills the whole burst.
    for _ in range(20):
        assert frames(session.receive(PING, T0 + 3)) == [{"type": "pong"}]
    assert is_rate_limited(session.receive(PING, T0 + 3))


def test_sustained_flooding_gets_one_rate_limited_frame_a_second() -> None:
    session = opened()
    pongs = warnings = 0
    for millisecond in range(3000):  # a frame every millisecond for 3 s
        actions = session.receive(PING, T0 + 1 + millisecond / 1000)
        if is_rate_limited(actions):
            warnings += 1
        else:
            pongs += len(frames(actions))
    assert warnings == 3
    # The burst, then 20 a second as the bucket refills (give or take float rounding).
    assert 20 + 60 - 1 <= pongs <= 20 + 60 + 1


def test_rate_is_configurable() -> None:
    session = opened(frames_per_second=5)
    for _ in range(5):
        assert frames(session.receive(PING, T0)) == [{"type": "pong"}]
    assert is_rate_limited(session.receive(PING, T0))


def test_auth_does_not_use_up_the_burst() -> None:
    session = Session(verify, opened_at=T0)
    session.authenticate("teacher")
    for _ in range(20):
        assert frames(session.receive(PING, T0)) == [{"type": "pong"}]


# -- closing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("close", "code"),
    [
        (lambda s: s.tick(T0 + 60), CLOSE_UNAUTHORIZED),
        (lambda s: s.receive(auth("forged"), T0), CLOSE_UNAUTHORIZED),
        (lambda s: s.receive(auth("learner"), T0), CLOSE_UNAUTHORIZED),
        (lambda s: s.receive(padded(65_537), T0), CLOSE_TOO_BIG),
    ],
    ids=["expiry", "bad-token", "other-user", "too-big"],
)
def test_every_close_leaves_every_channel_first(
    close: Callable[[Session], list[Action]], code: int
) -> None:
    session = opened("teacher")
    session.receive(subscribe("progress"), T0)
    session.receive(subscribe(BOARD), T0)
    session.receive(subscribe(OTHER_BOARD), T0)
    leaves = frozenset({f"progress:{TEACHER.user_id}", BOARD, OTHER_BOARD})
    closed_with(close(session), code, leaves)
    assert session.channels == {}
    assert state(session) is State.CLOSED


@pytest.mark.parametrize(
    "text", [PING, auth("teacher"), subscribe("progress"), "not json", padded(100_000)]
)
def test_after_close_nothing_happens(text: str) -> None:
    session = opened()
    session.tick(T0 + 60)
    assert session.receive(text, T0 + 61) == []
    assert session.tick(T0 + 1000) == []
    assert session.deadline() is None
    assert state(session) is State.CLOSED
