"""The decks Tandem ships (contract §8), read from the JSON files in ``server/words/decks/``.

A deck file lists its topics in order, each with its words in order; a word's ``id`` is a
learner's ``wordId`` and never changes. The files are read and checked on first use and
kept for the life of the process (nothing is read at import time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Annotated

import msgspec

from server.progress.schemas import WordId, check_word_id
from server.words import ids
from server.words.schemas import DeckOut, DeckSummary, Word

DeckId = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class _FileWord(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    id: WordId
    term: Text
    translation: Text


class _FileTopic(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
    words: list[_FileWord]


class _DeckFile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    id: DeckId
    name: Text
    topics: list[_FileTopic]


@dataclass(frozen=True, slots=True)
class Deck:
    id: str
    name: str
    topics: tuple[str, ...]
    words: tuple[Word, ...]

    def summary(self) -> DeckSummary:
        return DeckSummary(
            id=self.id, name=self.name, word_count=len(self.words), topics=list(self.topics)
        )

    def out(self) -> DeckOut:
        return DeckOut(id=self.id, name=self.name, words=list(self.words))


@dataclass(frozen=True, slots=True)
class Decks:
    """Every shipped deck, in file name order, and every deck word's id."""

    decks: tuple[Deck, ...]
    by_id: dict[str, Deck] = field(init=False)
    word_ids: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {deck.id: deck for deck in self.decks})
        object.__setattr__(
            self, "word_ids", frozenset(word.id for deck in self.decks for word in deck.words)
        )


class DeckError(ValueError):
    """A shipped deck file is broken: a fault of the release, not of a request."""


def parse(name: str, data: bytes) -> Deck:
    """The deck in file ``name``'s bytes, checked: ids in §6's form and unique, never a
    classroom word's form, the deck id equal to the file's name."""
    try:
        source = msgspec.json.decode(data, type=_DeckFile)
    except msgspec.ValidationError as exc:
        raise DeckError(f"{name}: {exc}") from exc
    if f"{source.id}.json" != name:
        raise DeckError(f"{name}: the deck id {source.id!r} does not match the file name")
    words = tuple(
        Word(id=word.id, term=word.term, translation=word.translation, topic=topic.name)
        for topic in source.topics
        for word in topic.words
    )
    seen: set[str] = set()
    for word in words:
        problem = check_word_id(word.id)
        if word.id.startswith(ids.PREFIX):
            problem = f"starts with {ids.PREFIX!r}, which classroom words use"
        if word.id in seen:
            problem = "appears twice"
        if problem is not None:
            raise DeckError(f"{name}: word {word.id!r} {problem}")
        seen.add(word.id)
    topics = tuple(topic.name for topic in source.topics)
    if len(set(topics)) != len(topics):
        raise DeckError(f"{name}: a topic is listed twice")
    return Deck(id=source.id, name=source.name, topics=topics, words=words)


@cache
def shipped() -> Decks:
    """The decks of ``server/words/decks/*.json``, read once."""
    folder = resources.files("server.words") / "decks"
    entries = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".json")),
        key=lambda entry: entry.name,
    )
    decks = tuple(parse(entry.name, entry.read_bytes()) for entry in entries)
    all_ids = [word.id for deck in decks for word in deck.words]
    if len(set(all_ids)) != len(all_ids):
        raise DeckError("two shipped decks share a word id")
    return Decks(decks)
