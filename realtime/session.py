"""One websocket connection's protocol state, without I/O (contract §7).

Like ``websockets``' sans-I/O protocol, a :class:`Session` is fed what arrived (a text
frame, or the passing of time) and answers with actions for the endpoint to carry out:
frames to send, a close, channels to join or leave. Whether a teacher may see a board is
a database question, so the session asks for it (:class:`Join` carries the classroom to
check) and the endpoint reports back with :meth:`Session.refused` when the answer is no.

States: awaiting auth → open → closed. Before auth only an ``auth`` frame is accepted (any
other frame closes with 4401 at once); no valid auth within 10 s closes with 4401 too; so
does the access token expiring unless a fresh ``auth`` frame extended the connection.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from realtime import protocol
from storage.events import progress_channel

CLOSE_UNAUTHORIZED = 4401
CLOSE_TOO_BIG = 1009  # RFC 6455 §7.4.1: "message too big"
AUTH_TIMEOUT_SECONDS = 10.0
FRAMES_PER_SECOND = 20


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the connection speaks for, as a verified access token says."""

    user_id: uuid.UUID
    name: str
    role: str
    expires_at: float  # epoch seconds


class AuthFailed(Exception):
    """The token does not verify."""


Verify = Callable[[str], Identity]


@dataclass(frozen=True, slots=True)
class Send:
    frame: str


@dataclass(frozen=True, slots=True)
class Close:
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Join:
    """Subscribe this connection to ``store_channel``; answer with ``subscribed``."""

    channel: str  # as the client named it
    store_channel: str
    since: int | None
    ref: protocol.Ref
    classroom_id: uuid.UUID | None  # a board: check the caller teaches it first
    again: bool  # already subscribed: answer ``subscribed`` and change nothing


@dataclass(frozen=True, slots=True)
class Leave:
    store_channel: str


Action = Send | Close | Join | Leave


class State(enum.Enum):
    AWAITING_AUTH = "awaiting_auth"
    OPEN = "open"
    CLOSED = "closed"


@dataclass
class _Bucket:
    """Token bucket for client frames: bursts up to ``rate``, refilled at ``rate``/s."""

    rate: float
    tokens: float
    updated: float
    warned_at: float = float("-inf")

    def take(self, now: float) -> bool:
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class Session:
    verify: Verify
    opened_at: float
    auth_timeout: float = AUTH_TIMEOUT_SECONDS
    frames_per_second: float = FRAMES_PER_SECOND
    state: State = State.AWAITING_AUTH
    identity: Identity | None = None
    channels: dict[str, str] = field(default_factory=dict)  # store channel -> client name
    _bucket: _Bucket = field(init=False)

    def __post_init__(self) -> None:
        self._bucket = _Bucket(self.frames_per_second, self.frames_per_second, self.opened_at)

    # -- inputs -------------------------------------------------------------------------

    def authenticate(self, token: str) -> list[Action]:
        """Auth from the handshake's ``Authorization`` header."""
        return self._auth(token)

    def receive(self, text: str | bytes, now: float) -> list[Action]:
        if self.state is State.CLOSED:
            return []
        # A frame may arrive before the endpoint's timer calls tick(): the deadlines still hold.
        if expired := self.tick(now):
            return expired
        size = len(text.encode() if isinstance(text, str) else text)
        if size > protocol.MAX_FRAME_BYTES:
            return self._close(CLOSE_TOO_BIG, "frame over 64 KiB")
        if self.state is State.OPEN and not self._bucket.take(now):
            # Extra frames are dropped; say so at most once a second, not once a frame.
            if now - self._bucket.warned_at >= 1.0:
                self._bucket.warned_at = now
                return [Send(protocol.error("RATE_LIMITED", "over 20 frames a second"))]
            return []
        try:
            frame = protocol.decode(text)
        except protocol.FrameError as exc:
            if self.state is State.AWAITING_AUTH:
                return self._close(CLOSE_UNAUTHORIZED, "authenticate first")
            return [Send(protocol.error("VALIDATION_ERROR", str(exc)))]
        if self.state is State.AWAITING_AUTH and not isinstance(frame, protocol.Auth):
            return self._close(CLOSE_UNAUTHORIZED, "authenticate first")
        match frame:
            case protocol.Auth(token=token):
                return self._auth(token)
            case protocol.Subscribe(channel=channel, since=since, ref=ref):
                return self._subscribe(channel, since, ref)
            case protocol.Unsubscribe(channel=channel):
                return self._unsubscribe(channel)
            case protocol.Ping():
                return [Send(protocol.pong())]
        return []  # pragma: no cover - the union is exhaustive

    def refused(self, store_channel: str, code: str, message: str, ref: protocol.Ref) -> Action:
        """The endpoint could not grant a :class:`Join`: forget it and say why."""
        self.channels.pop(store_channel, None)
        return Send(protocol.error(code, message, ref))

    def ended(self, store_channel: str) -> None:
        """The server ended this subscription (the teacher was removed from the board's
        classroom): a later ``subscribe`` asks afresh."""
        self.channels.pop(store_channel, None)

    def tick(self, now: float) -> list[Action]:
        """Let time pass: the auth deadline and the token's expiry."""
        if self.state is State.AWAITING_AUTH and now >= self.opened_at + self.auth_timeout:
            return self._close(CLOSE_UNAUTHORIZED, "no auth within 10 s")
        if self.state is State.OPEN and self.identity and now >= self.identity.expires_at:
            return self._close(CLOSE_UNAUTHORIZED, "token expired")
        return []

    def deadline(self) -> float | None:
        """When :meth:`tick` must next be called, if nothing arrives before."""
        if self.state is State.AWAITING_AUTH:
            return self.opened_at + self.auth_timeout
        if self.state is State.OPEN and self.identity:
            return self.identity.expires_at
        return None

    # -- transitions --------------------------------------------------------------------

    def _close(self, code: int, reason: str) -> list[Action]:
        self.state = State.CLOSED
        leaves: list[Action] = [Leave(channel) for channel in self.channels]
        self.channels.clear()
        return [*leaves, Close(code, reason)]

    def _auth(self, token: str) -> list[Action]:
        try:
            identity = self.verify(token)
        except AuthFailed:
            return self._close(CLOSE_UNAUTHORIZED, "invalid token")
        if self.identity is not None and identity.user_id != self.identity.user_id:
            return self._close(CLOSE_UNAUTHORIZED, "a connection cannot change users")
        if self.identity is not None and identity.expires_at < self.identity.expires_at:
            # A fresh token extends the connection's life (§7); an older one never shortens it.
            identity = dataclasses.replace(identity, expires_at=self.identity.expires_at)
        self.identity = identity
        self.state = State.OPEN
        return [Send(protocol.auth_ok(str(identity.user_id), identity.name, identity.role))]

    def _subscribe(self, channel: str, since: int | None, ref: protocol.Ref) -> list[Action]:
        assert self.identity is not None
        classroom_id: uuid.UUID | None = None
        if channel == "progress":
            store_channel = progress_channel(self.identity.user_id)
        elif channel.startswith("board:"):
            try:
                classroom_id = uuid.UUID(channel.removeprefix("board:"))
            except ValueError:
                return [Send(protocol.error("VALIDATION_ERROR", "unknown channel", ref))]
            if self.identity.role != "teacher":
                return [Send(protocol.error("FORBIDDEN", "boards are for teachers", ref))]
            store_channel = f"board:{classroom_id}"
            channel = store_channel  # canonical spelling of the id
        else:
            return [
                Send(
                    protocol.error(
                        "VALIDATION_ERROR", "channel must be 'progress' or 'board:{id}'", ref
                    )
                )
            ]
        again = store_channel in self.channels
        self.channels[store_channel] = channel
        return [Join(channel, store_channel, since, ref, classroom_id, again)]

    def _unsubscribe(self, channel: str) -> list[Action]:
        assert self.identity is not None
        if channel == "progress":
            store_channel = progress_channel(self.identity.user_id)
        else:
            store_channel = channel
            if channel.startswith("board:"):
                with contextlib.suppress(ValueError):
                    store_channel = f"board:{uuid.UUID(channel.removeprefix('board:'))}"
        if self.channels.pop(store_channel, None) is None:
            return []
        return [Leave(store_channel)]
