"""A card as PostgreSQL builds it, for the board read and a move's event: JSON generated
from ``CardOut``.

Python shows a card through one builder, ``CardOut.many``; on a 3,000-card board that is
15 to 30 ms of this process's CPU (rows to cards to JSON), under the GIL, on the process
that also serves the board's moves, and one teacher reading the board held 200 moves/s
back by tens of milliseconds each (docs/benchmarks.md). PostgreSQL builds the same JSON in
its own process (``json_agg``), so the board read on PostgreSQL asks it to, with the select
list made here. A single move (storage/repositories/card_moves.py) appends its
``card.moved`` event in the statement that moves the card, under the board's lock, so the
database builds that event's data too (:func:`moved_event`), from the row the lock found.

It is not a second card shape written by hand: it is generated from ``CardOut``'s fields
(their names and order, which are instants), ``rules.lock_held_sql`` (the lease rule),
``storage.base.isoformat_sql`` (the API's instant text) and the statements' sources
(``cards.BOARD_SOURCES``, ``card_moves.MOVED_SOURCES``). A field the generator cannot
place stops it with an error, and tests/server/test_board_json.py holds its answers equal
to ``CardOut.many``'s on boards with every kind of card, and a move's event to the one
Python builds. SQLite keeps the Python build: it runs inside this process, so
building there would save nothing.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import msgspec

from server.board import rules
from server.board.schemas import (
    LEASE_FIELDS,
    CardMovedOut,
    CardOut,
    CardProgressOut,
    ProgressOut,
)
from server.http.envelope import Timestamp
from storage.base import isoformat_sql
from storage.repositories import card_moves, cards


@cache
def card_json(now: str) -> str:
    """The select list of a card for the board statement, one column a field, named and
    ordered as ``CardOut``'s (``cards.CardJson``); ``now`` is the placeholder of the
    instant the read shows locks at.

    The database turns each row into a JSON object as a whole (``json_agg`` of the row):
    that costs about a fifth less of its CPU than ``json_build_object`` per card (28 ms
    against 35 ms for 3,000 cards, bench/board_read.py's board).
    """
    return _card_columns(cards.BOARD_SOURCES, cards.progress_source, now)


@cache
def moved_event() -> str:
    """A single move's ``card.moved`` data (``CardMovedOut``) as a ``json`` expression over
    the move statement's row (storage/repositories/card_moves.py): the card after the
    move, its lock shown at the move's instant, and where it was."""
    card = _object(
        _card_columns(card_moves.MOVED_SOURCES, card_moves.moved_progress_source, card_moves.NOW)
    )
    columns = [
        f'{card if name == "card" else _value(name, kind, card_moves.FROM_SOURCES)} AS "{name}"'
        for name, kind in _fields(CardMovedOut)
    ]
    return _object(", ".join(columns))


def progress_event(card_id: str, progress_source: Callable[[str], str]) -> str:
    """A ``card.progress`` event's data (``CardProgressOut``) as a ``json`` expression:
    ``card_id`` the card's id, ``progress_source`` each stored sum's SQL (a student's
    one-statement answer, storage/repositories/learner_writes.py)."""
    sources = {"id": card_id}
    columns = [
        f"{_progress(progress_source) if name == 'progress' else _value(name, kind, sources)} "
        f'AS "{name}"'
        for name, kind in _fields(CardProgressOut)
    ]
    return _object(", ".join(columns))


def _card_columns(
    sources: Mapping[str, str], progress_source: Callable[[str], str], now: str
) -> str:
    """``CardOut``'s fields as a select list over ``sources`` (each ``CardView`` field's
    SQL) and ``progress_source`` (each stored sum's), its lease shown at ``now``."""
    held = rules.lock_held_sql(sources["lock_expires_at"], now)
    columns = []
    for name, kind in _fields(CardOut):
        # The one nested field: the learner's progress, from the card's stored sums.
        value = _progress(progress_source) if name == "progress" else _value(name, kind, sources)
        if name in LEASE_FIELDS:
            value = f"CASE WHEN {held} THEN {value} END"
        columns.append(f'{value} AS "{name}"')
    return ", ".join(columns)


def _progress(source: Callable[[str], str]) -> str:
    """``ProgressOut`` of the stored sums as a JSON object, null when the card stores none."""
    sources = {name: source(name) for name, _ in _fields(ProgressOut)}
    columns = ", ".join(
        f'{_value(name, kind, sources)} AS "{name}"' for name, kind in _fields(ProgressOut)
    )
    return f"CASE WHEN {source('words')} IS NULL THEN NULL ELSE {_object(columns)} END"


def _object(columns: str) -> str:
    """A select list as one JSON object, its columns its keys in their order."""
    # Every piece is a constant of this package or a field name of ours: nothing is bound.
    return f"(SELECT to_json(o) FROM (SELECT {columns}) o)"  # noqa: S608


def _value(name: str, kind: Any, sources: Mapping[str, str]) -> str:
    if name not in sources:
        raise LookupError(f"the statement has no source for the field {name!r}")
    source = sources[name]
    return isoformat_sql(source) if kind in (Timestamp, Timestamp | None) else source


def _fields(struct: type[msgspec.Struct]) -> list[tuple[str, Any]]:
    """A struct's fields in encoding order, with their annotated types."""
    hints = typing.get_type_hints(struct, include_extras=True)
    return [(name, hints[name]) for name in struct.__struct_fields__]
