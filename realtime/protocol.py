"""The websocket frames of contract §7 as tagged msgspec structs, and their codecs.

Client frames are decoded once by a typed decoder into a tagged union and dispatched with
``match`` (as in msgspec's asyncio-kv example). Server frames are encoded to ``str`` once:
a frame fanned out to many sockets is the same string object for all of them.
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Annotated, Any

import msgspec

from storage.base import isoformat
from storage.events import StoredEvent

MAX_FRAME_BYTES = 64 * 1024
Ref = str | int | None
Seq = Annotated[int, msgspec.Meta(ge=0)]


class _ClientFrame(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, frozen=True):
    pass


class Auth(_ClientFrame, tag="auth", frozen=True):
    token: str


class Subscribe(_ClientFrame, tag="subscribe", frozen=True):
    channel: str
    since: Seq | None = None
    ref: Ref = None


class Unsubscribe(_ClientFrame, tag="unsubscribe", frozen=True):
    channel: str
    ref: Ref = None


class Ping(_ClientFrame, tag="ping", frozen=True):
    pass


ClientFrame = Auth | Subscribe | Unsubscribe | Ping

_decoder: msgspec.json.Decoder[ClientFrame] = msgspec.json.Decoder(ClientFrame)
_encoder = msgspec.json.Encoder()


class FrameError(ValueError):
    """The text is not JSON, or not one of the client frames."""


def decode(text: str | bytes) -> ClientFrame:
    try:
        frame: ClientFrame = _decoder.decode(text)
    except msgspec.ValidationError as exc:
        raise FrameError(f"not a valid frame: {exc}") from None
    except msgspec.DecodeError as exc:
        raise FrameError(f"not JSON: {exc}") from None
    return frame


def _encode(frame: dict[str, Any]) -> str:
    return _encoder.encode(frame).decode()


def auth_ok(user_id: str, name: str, role: str) -> str:
    return _encode({"type": "auth_ok", "user": {"id": user_id, "name": name, "role": role}})


def subscribed(channel: str, seq: int, ref: Ref) -> str:
    return _encode({"type": "subscribed", "channel": channel, "seq": seq, "ref": ref})


def reset(channel: str, seq: int) -> str:
    return _encode({"type": "reset", "channel": channel, "seq": seq})


def error(code: str, message: str, ref: Ref = None) -> str:
    return _encode({"type": "error", "code": code, "message": message, "ref": ref})


def pong() -> str:
    return '{"type":"pong"}'


def presence(channel: str, users: list[dict[str, str]]) -> str:
    return _encode({"type": "presence", "channel": channel, "users": users})


def unsubscribed(channel: str, reason: str) -> str:
    return _encode({"type": "unsubscribed", "channel": channel, "reason": reason})


TEACHER_REMOVED = "teacher.removed"
_NAME_KEY = ',"event":"'
_any_decoder = msgspec.json.Decoder()


def removed_teacher(frame: str) -> str | None:
    """The user id a ``teacher.removed`` event frame names; None for any other frame.

    Looked at for every event the hub fans out, so it must cost next to nothing: frames
    come from :func:`event`, whose keys come in a fixed order (type, channel, seq, event,
    data), and a channel name holds no quote, so the first ``,"event":"`` is the name's.
    Only the rare match is decoded.
    """
    start = frame.find(_NAME_KEY)
    if start < 0 or not frame.startswith(TEACHER_REMOVED + '"', start + len(_NAME_KEY)):
        return None
    data = _any_decoder.decode(frame).get("data")
    user_id = data.get("id") if isinstance(data, dict) else None
    return user_id if isinstance(user_id, str) else None


def client_channel(store_channel: str) -> str:
    """The name a client knows a stored channel by: a user's own ``progress:{id}`` is
    ``progress`` to that user; board channels keep their name."""
    return "progress" if store_channel.startswith("progress:") else store_channel


@lru_cache(maxsize=1024)
def _text(user_id: uuid.UUID) -> str:
    # A batch's thousand events share one actor; ``str`` of a UUID costs a microsecond.
    return str(user_id)


def event(stored: StoredEvent) -> str:
    return _encode(
        {
            "type": "event",
            "channel": client_channel(stored.channel),
            "seq": stored.seq,
            "event": stored.name,
            "data": stored.data,
            "actor": {
                "id": None if stored.actor_id is None else _text(stored.actor_id),
                "name": stored.actor_name,
            },
            "at": isoformat(stored.at),
        }
    )
