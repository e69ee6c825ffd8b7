"""The harness of the differential test: one app per backend, answers and events made
comparable, and the first difference found.

Two runs of the same operations never share an id (``uuid4``), a join code or an instant,
so each run's answers and events go through its own :class:`Normaliser`: ids and codes
become the order in which they first appeared, and instants become the order in which they
first appeared plus, at that first appearance, their rank among the instants seen so far.
Every token depends only on what came before it, so a divergence is reported at the
operation that caused it, not at an earlier one whose tokens a later one shifted; and the
ranks pin the whole time order (versions, lock leases, review dates) of one run to the
other's. Why not a shared clock instead: the app reads ``utcnow`` in a dozen places and
has no clock to inject, and patching module globals would test a different program.
"""

from __future__ import annotations

import json
import re
import uuid
from bisect import bisect_left, insort
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from storage import events
from storage.base import isoformat
from storage.database import Database
from storage.models import ChannelHead
from storage.repositories import card_progress

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CODE_KEYS = frozenset({"teacher_join_code", "student_join_code", "join_code"})
TOKEN_KEYS = frozenset({"access_token", "refresh_token"})


class Normaliser:
    """One run's ids, join codes and instants, numbered in order of first appearance."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}
        self._codes: dict[str, str] = {}
        self._times: dict[str, str] = {}
        self._instants: list[datetime] = []
        self._new_ranks: list[int] = []

    def take_ranks(self) -> list[int]:
        """The ranks of the instants first seen since the last call, in order."""
        ranks, self._new_ranks = self._new_ranks, []
        return ranks

    def __call__(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            # Sorted keys: numbering must not depend on a dialect's key order.
            return {k: self(value[k], k) for k in sorted(value)}
        if isinstance(value, list):
            return [self(item) for item in value]
        if not isinstance(value, str):
            return value
        if key in TOKEN_KEYS:
            return "<token>"
        if key in CODE_KEYS:
            return self._codes.setdefault(value, f"<code {len(self._codes)}>")
        if TIMESTAMP.fullmatch(value):
            return self._time(value)
        # Anywhere in a string (channel names, paths): a foreign form (hex digits alone, a
        # wrong case) is left as it is and shows as a difference.
        return UUID.sub(lambda m: self._ids.setdefault(m[0], f"<id {len(self._ids)}>"), value)

    def _time(self, text: str) -> str:
        token = self._times.get(text)
        if token is None:
            instant = datetime.fromisoformat(text)
            self._new_ranks.append(bisect_left(self._instants, instant))
            insort(self._instants, instant)
            token = self._times[text] = f"<t {len(self._times)}>"
        return token


@dataclass
class Run:
    """One backend: its app's client, a reader of its event store, and what the
    operations made there, by handle (the order of creation, the same in both runs)."""

    name: str
    client: AsyncTestClient[Litestar]
    database: Database
    users: list[dict[str, Any]] = field(default_factory=list)
    classrooms: list[dict[str, Any]] = field(default_factory=list)
    students: list[str] = field(default_factory=list)
    lessons: list[str] = field(default_factory=list)
    cards: list[str] = field(default_factory=list)
    room_of: dict[str, int] = field(default_factory=dict)  # student, lesson, card -> room
    # Every card as an answer last showed it, and every version it has shown, in order.
    shown: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, list[str]] = field(default_factory=dict)
    # Each learner handle's records as its answers last showed them.
    records: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)
    heads: dict[str, int] = field(default_factory=dict)
    normalise: Normaliser = field(default_factory=Normaliser)

    def note_cards(self, value: Any) -> None:
        """Remember every card an answer shows (what later versions are taken from)."""
        if isinstance(value, dict):
            if {"lesson_id", "status", "position", "updated_at"} <= value.keys():
                self.shown[value["id"]] = value
                seen = self.versions.setdefault(value["id"], [])
                if not seen or seen[-1] != value["updated_at"]:
                    seen.append(value["updated_at"])
            for item in value.values():
                self.note_cards(item)
        elif isinstance(value, list):
            for item in value:
                self.note_cards(item)

    async def new_events(self) -> dict[str, list[dict[str, Any]]]:
        """The events stored since the last call, per channel, read from the store."""
        found: dict[str, list[dict[str, Any]]] = {}
        async with self.database.reader() as session:
            heads = (await session.execute(select(ChannelHead.channel, ChannelHead.seq))).all()
            for channel, seq in heads:
                known = self.heads.get(channel, 0)
                if seq == known:
                    continue
                stored = await events.read_since(session, channel, known)
                found[channel] = [
                    {
                        "seq": event.seq,
                        "name": event.name,
                        "data": event.data,
                        "actor": [
                            None if event.actor_id is None else str(event.actor_id),
                            event.actor_name,
                        ],
                        "at": isoformat(event.at),
                    }
                    for event in stored
                ]
                self.heads[channel] = seq
        return found

    async def drifted(self) -> list[str]:
        """The cards whose stored progress sums are not what the aggregate computes
        (storage/repositories/card_progress.py): none, after every operation."""
        async with self.database.reader() as session:
            return [self.normalise(str(card)) for card in await card_progress.drifted(session)]

    def outcome(
        self, status: int, body: Any, stored: dict[str, list[dict[str, Any]]]
    ) -> dict[str, Any]:
        """One operation's answer and events, normalised; channels in the order of their
        normalised names (their ids were all seen in earlier answers)."""
        answer = self.normalise({"status": status, "body": body})
        channels = {self.normalise(name): name for name in stored}
        events_by_channel = {
            channel: self.normalise(stored[channels[channel]]) for channel in sorted(channels)
        }
        return {
            "answer": answer,
            "events": events_by_channel,
            "new_instants_ranked": self.normalise.take_ranks(),
        }


def first_difference(left: Any, right: Any, path: str = "") -> str | None:
    """Where two normalised values first differ, as a path, or None."""
    if isinstance(left, dict) and isinstance(right, dict):
        for key in [*left, *(k for k in right if k not in left)]:
            if key not in left or key not in right:
                return f"{path}.{key} (only on one side)"
            found = first_difference(left[key], right[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(left, list) and isinstance(right, list):
        for index, (a, b) in enumerate(zip(left, right, strict=False)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
        return None if len(left) == len(right) else f"{path} (lengths {len(left)}, {len(right)})"
    return None if left == right and type(left) is type(right) else path or "."


def report(
    label: str,
    index: int,
    operation: str,
    history: list[tuple[int, str]],
    runs: list[tuple[str, Any]],
) -> str:
    """The failure message: the seed (``label``), the operation, both outcomes, and the
    operations that led there."""
    (left_name, left), (right_name, right) = runs
    where = first_difference(left, right)
    recent = "\n".join(f"  {i}: {text}" for i, text in history[-8:])
    return (
        f"SQLite and PostgreSQL diverged: {label}, operation #{index}: {operation}\n"
        f"first difference at {where}\n"
        f"--- {left_name}:\n{json.dumps(left, indent=1, ensure_ascii=False)}\n"
        f"--- {right_name}:\n{json.dumps(right, indent=1, ensure_ascii=False)}\n"
        f"the operations before it:\n{recent}"
    )


def random_uuid(bits: int) -> str:
    """An id no run made: from the seeded generator's bits, the same in both runs."""
    return str(uuid.UUID(int=bits, version=4))
