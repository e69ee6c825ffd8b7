"""Models that replay events into state, for checking histories offline (contract §5-§7).

A test records what clients saw (an initial read, the stored events, later reads) and asks
these models whether it adds up: each event must fit the state before it (a move starts
where the card was, a deletion names the card's place), the replay of every event must
equal the final read, and a read taken at ``seq`` N must equal the replay of events 1..N.
The rules are the contract's, written once more on purpose: a model that called the
server's own code would agree with any bug in it.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

Frame = Mapping[str, Any]
Card = dict[str, Any]
LOCK_FIELDS = ("locked_by", "locked_by_name", "locked_at", "lock_expires_at")


def canonical(value: Any) -> str:
    """A hashable, order-free form of a JSON value, to match answers with event data."""
    return json.dumps(value, sort_keys=True)


def board_cards(board: Mapping[str, Any]) -> dict[str, Card]:
    """A board read's cards by id."""
    return {card["id"]: card for column in board["columns"] for card in column["cards"]}


def assert_numbered(frames: Sequence[Frame], after: int, last: int, who: str) -> None:
    """``frames`` are exactly the events after ``after`` up to ``last``: each once, in order,
    no gaps (contract §7)."""
    seqs = [frame["seq"] for frame in frames]
    assert seqs == list(range(after + 1, last + 1)), f"{who} saw seqs {seqs}"


class BoardReplay:
    """A board's cards, from a read at ``seq``, moved forward one event at a time."""

    def __init__(self, board: Mapping[str, Any]) -> None:
        self.seq: int = board["seq"]
        self.cards: dict[str, Card] = copy.deepcopy(board_cards(board))

    def column(self, status: str) -> list[Card]:
        return sorted(
            (card for card in self.cards.values() if card["status"] == status),
            key=lambda card: card["position"],
        )

    def snapshot(self) -> dict[str, Card]:
        return copy.deepcopy(self.cards)

    def apply(self, frame: Frame) -> None:
        seq, name, data = frame["seq"], frame["event"], frame["data"]
        assert seq == self.seq + 1, f"event {seq} after {self.seq}"
        where = f"event {seq} {name} {data}"
        match name:
            case "card.created":
                assert data["id"] not in self.cards, where
                assert data["position"] == len(self.column(data["status"])), where
                self.cards[data["id"]] = copy.deepcopy(data)
            case "card.moved":
                card = data["card"]
                before = self.cards.get(card["id"])
                assert before is not None, where
                place = (before["status"], before["position"])
                assert place == (data["from_status"], data["from_position"]), (place, where)
                # Fixed-format UTC text: text order is time order (contract §2, §5).
                assert card["updated_at"] > before["updated_at"], where
                self._remove(before)
                assert 0 <= card["position"] <= len(self.column(card["status"])), where
                self._insert(copy.deepcopy(card))
            case "card.locked":
                card = self.cards.get(data["id"])
                assert card is not None, where
                card.update(
                    locked_by=data["locked_by"],
                    locked_by_name=data["locked_by_name"],
                    locked_at=data["locked_at"],
                    lock_expires_at=data["expires_at"],
                )
            case "card.unlocked":
                card = self.cards.get(data["id"])
                assert card is not None, where
                assert data["reason"] in ("released", "expired"), where
                card.update(dict.fromkeys(LOCK_FIELDS))
            case "card.deleted":
                card = self.cards.get(data["id"])
                assert card is not None, where
                place = (card["status"], card["position"])
                assert place == (data["status"], data["position"]), (place, where)
                self._remove(card)
            case _:
                raise AssertionError(f"the board model does not know {where}")
        self.seq = seq

    def _remove(self, card: Card) -> None:
        del self.cards[card["id"]]
        for other in self.cards.values():
            if other["status"] == card["status"] and other["position"] > card["position"]:
                other["position"] -= 1

    def _insert(self, card: Card) -> None:
        for other in self.cards.values():
            if other["status"] == card["status"] and other["position"] >= card["position"]:
                other["position"] += 1
        self.cards[card["id"]] = card


class ProgressReplay:
    """A learner's records by ``wordId``, from a read at ``seq``, moved forward."""

    def __init__(self, read: Mapping[str, Any]) -> None:
        self.seq: int = read["seq"]
        self.items: dict[str, dict[str, Any]] = {
            item["wordId"]: copy.deepcopy(item) for item in read["items"]
        }

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self.items)

    def apply(self, frame: Frame) -> None:
        seq, name, data = frame["seq"], frame["event"], frame["data"]
        assert seq == self.seq + 1, f"event {seq} after {self.seq}"
        match name:
            case "progress.updated":
                self.items[data["wordId"]] = copy.deepcopy(data)
            case "progress.deleted":
                assert data["wordId"] in self.items, f"event {seq} deletes an absent word"
                del self.items[data["wordId"]]
            case _:
                raise AssertionError(f"the progress model does not know event {seq} {name}")
        self.seq = seq


def board_event_key(frame: Frame) -> Hashable:
    """What identifies an event, as an acknowledged answer names it (see ``board_ack``)."""
    data = frame["data"]
    match frame["event"]:
        case "card.created":
            return ("card.created", canonical(data))
        case "card.moved":
            return ("card.moved", canonical(data["card"]))
        case "card.locked":
            return ("card.locked", data["id"], data["locked_at"], data["expires_at"])
        case "card.unlocked":
            return ("card.unlocked", data["id"], data["reason"])
        case "card.deleted":
            return ("card.deleted", data["id"])
    return (frame["event"], canonical(data))


def progress_event_key(frame: Frame) -> Hashable:
    data = frame["data"]
    if frame["event"] == "progress.deleted":
        return ("progress.deleted", data["wordId"])
    return (frame["event"], canonical(data))


def unmatched(
    acknowledged: Counter[Hashable], present: Iterable[Hashable], keys: Iterable[Hashable]
) -> list[Hashable]:
    """Acknowledged writes with no event of their own: ``acknowledged`` counts writes that
    each made one event; ``present`` names writes that need an event with their data but
    may share it (a PUT that changed nothing answers the record of an earlier event)."""
    stored = Counter(keys)
    missing: list[Hashable] = [key for key, n in acknowledged.items() if stored[key] < n]
    missing.extend(key for key in present if stored[key] == 0)
    return missing


def replay_reads(
    model: BoardReplay | ProgressReplay,
    frames: Sequence[Frame],
    reads: Sequence[tuple[int, Mapping[str, Any]]],
) -> list[str]:
    """Apply ``frames`` to ``model``, comparing each read ``(seq, state)`` with the replay
    of events up to its seq; the reads that differ, described (with the seqs whose replay
    they do equal, if any: a read "ahead" saw events after its seq)."""
    states: dict[int, Any] = {model.seq: model.snapshot()}
    for frame in frames:
        model.apply(frame)
        states[model.seq] = model.snapshot()
    wrong: list[str] = []
    for seq, state in sorted(reads, key=lambda read: read[0]):
        if state == states.get(seq):
            continue
        equal = [other for other, replayed in states.items() if replayed == state]
        wrong.append(f"read at seq {seq} equals the replay at seqs {equal or 'none'}")
    return wrong
