"""Tests of realtime.protocol: client frames decode as contract §7 says, server frames encode
to exactly its JSON shapes (compared as parsed dicts, so key order does not matter)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from realtime import protocol
from realtime.protocol import Auth, FrameError, Ping, Subscribe, Unsubscribe
from storage.events import StoredEvent

BOARD = "board:6f1c2a9e-0000-4000-8000-000000000001"
USER_ID = uuid.UUID("00000000-0000-4000-8000-00000000000a")


def parsed(frame: str) -> Any:
    assert isinstance(frame, str)
    return json.loads(frame)


# -- client frames --------------------------------------------------------------------------


def test_decode_auth() -> None:
    assert protocol.decode('{"type":"auth","token":"abc"}') == Auth(token="abc")


def test_decode_accepts_bytes() -> None:
    assert protocol.decode(b'{"type":"ping"}') == Ping()


def test_decode_subscribe_without_since_or_ref() -> None:
    frame = protocol.decode('{"type":"subscribe","channel":"progress"}')
    assert frame == Subscribe(channel="progress", since=None, ref=None)


@pytest.mark.parametrize("ref", ["r-1", 7, None])
def test_decode_subscribe_with_since_and_ref(ref: str | int | None) -> None:
    text = json.dumps({"type": "subscribe", "channel": BOARD, "since": 12, "ref": ref})
    assert protocol.decode(text) == Subscribe(channel=BOARD, since=12, ref=ref)


def test_decode_subscribe_since_zero() -> None:
    frame = protocol.decode('{"type":"subscribe","channel":"progress","since":0}')
    assert frame == Subscribe(channel="progress", since=0)


def test_decode_unsubscribe() -> None:
    frame = protocol.decode('{"type":"unsubscribe","channel":"progress"}')
    assert frame == Unsubscribe(channel="progress")


def test_decode_ping() -> None:
    assert protocol.decode('{"type":"ping"}') == Ping()


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "",
        "{",
        "[]",
        "42",
        '{"token":"abc"}',  # no type
        '{"type":"pong"}',  # a server frame
        '{"type":"nope"}',
        '{"type":"auth"}',  # no token
        '{"type":"auth","token":5}',
        '{"type":"auth","token":"abc","extra":1}',
        '{"type":"ping","ref":1}',
        '{"type":"subscribe"}',
        '{"type":"subscribe","channel":"progress","since":-1}',
        '{"type":"subscribe","channel":"progress","since":"3"}',
        '{"type":"subscribe","channel":"progress","since":1.5}',
        '{"type":"subscribe","channel":"progress","ref":1.5}',
        '{"type":"subscribe","channel":"progress","ref":[1]}',
        '{"type":"unsubscribe"}',
    ],
)
def test_decode_rejects_what_is_not_a_client_frame(text: str) -> None:
    with pytest.raises(FrameError):
        protocol.decode(text)


def test_frame_error_says_not_json() -> None:
    with pytest.raises(FrameError, match="not JSON"):
        protocol.decode("{oops")


@pytest.mark.parametrize(
    "data",
    [
        b'{"type":"auth","token":"\xff"}',  # a binary frame is bytes: they may not be UTF-8
        b'{"type":"subscribe","channel":"\xc3\x28"}',
    ],
)
def test_bytes_that_are_not_utf8_are_not_json(data: bytes) -> None:
    with pytest.raises(FrameError, match="not JSON"):
        protocol.decode(data)


# -- server frames --------------------------------------------------------------------------


def test_auth_ok() -> None:
    frame = protocol.auth_ok(str(USER_ID), "Alice", "teacher")
    assert parsed(frame) == {
        "type": "auth_ok",
        "user": {"id": str(USER_ID), "name": "Alice", "role": "teacher"},
    }


@pytest.mark.parametrize("ref", ["r-1", 3, None])
def test_subscribed_echoes_ref(ref: str | int | None) -> None:
    assert parsed(protocol.subscribed(BOARD, 41, ref)) == {
        "type": "subscribed",
        "channel": BOARD,
        "seq": 41,
        "ref": ref,
    }


def test_reset() -> None:
    assert parsed(protocol.reset("progress", 9)) == {
        "type": "reset",
        "channel": "progress",
        "seq": 9,
    }


def test_error_with_and_without_ref() -> None:
    assert parsed(protocol.error("FORBIDDEN", "no", "r")) == {
        "type": "error",
        "code": "FORBIDDEN",
        "message": "no",
        "ref": "r",
    }
    assert parsed(protocol.error("RATE_LIMITED", "slow down")) == {
        "type": "error",
        "code": "RATE_LIMITED",
        "message": "slow down",
        "ref": None,
    }


def test_pong() -> None:
    assert parsed(protocol.pong()) == {"type": "pong"}


def test_presence() -> None:
    users = [{"id": str(USER_ID), "name": "Alice"}, {"id": "b", "name": "Bob"}]
    assert parsed(protocol.presence(BOARD, users)) == {
        "type": "presence",
        "channel": BOARD,
        "users": users,
    }
    assert parsed(protocol.presence(BOARD, [])) == {
        "type": "presence",
        "channel": BOARD,
        "users": [],
    }


def stored(channel: str, at: datetime, **overrides: Any) -> StoredEvent:
    fields: dict[str, Any] = {
        "channel": channel,
        "seq": 5,
        "name": "card.moved",
        "data": {"card": {"id": "c1", "title": "Été"}, "from_status": "todo", "from_position": 0},
        "actor_id": USER_ID,
        "actor_name": "Alice",
        "at": at,
    } | overrides
    return StoredEvent(**fields)


def test_event_on_a_board_keeps_the_channel_name() -> None:
    at = datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    assert parsed(protocol.event(stored(BOARD, at))) == {
        "type": "event",
        "channel": BOARD,
        "seq": 5,
        "event": "card.moved",
        "data": {"card": {"id": "c1", "title": "Été"}, "from_status": "todo", "from_position": 0},
        "actor": {"id": str(USER_ID), "name": "Alice"},
        "at": "2025-03-04T05:06:07.891011Z",
    }


def test_event_on_a_progress_channel_is_named_progress() -> None:
    at = datetime(2025, 3, 4, 5, 6, 7, 1, tzinfo=UTC)
    event = stored(f"progress:{USER_ID}", at, name="progress.deleted", data={"wordId": "w1"}, seq=1)
    assert parsed(protocol.event(event)) == {
        "type": "event",
        "channel": "progress",
        "seq": 1,
        "event": "progress.deleted",
        "data": {"wordId": "w1"},
        "actor": {"id": str(USER_ID), "name": "Alice"},
        "at": "2025-03-04T05:06:07.000001Z",
    }


def test_event_at_keeps_zero_microseconds() -> None:
    at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parsed(protocol.event(stored(BOARD, at)))["at"] == "2025-01-02T03:04:05.000000Z"


def test_event_at_is_converted_to_utc() -> None:
    at = datetime(2025, 1, 2, 1, 30, 0, 250000, tzinfo=timezone(timedelta(hours=2)))
    assert parsed(protocol.event(stored(BOARD, at)))["at"] == "2025-01-01T23:30:00.250000Z"


def test_event_without_an_actor() -> None:
    at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    event = stored(BOARD, at, actor_id=None, actor_name=None)
    assert parsed(protocol.event(event))["actor"] == {"id": None, "name": None}


@pytest.mark.parametrize(
    ("store_channel", "client"),
    [(f"progress:{USER_ID}", "progress"), (BOARD, BOARD)],
)
def test_client_channel(store_channel: str, client: str) -> None:
    assert protocol.client_channel(store_channel) == client
