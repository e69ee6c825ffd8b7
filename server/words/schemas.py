"""Bodies of the deck and word routes (contract §8), and the word every answer shows."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec

from storage.models import ClassroomWord

# Trimmed before they are stored; the pattern refuses text that is only spaces.
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"\S")]
Topic = Annotated[str, msgspec.Meta(min_length=1, max_length=60, pattern=r"\S")]


class Word(msgspec.Struct, kw_only=True, frozen=True):
    """A word as every answer shows it, a deck's or a classroom's (§8, §9)."""

    id: str
    term: str
    translation: str
    topic: str | None


class DeckSummary(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    name: str
    word_count: int
    topics: list[str]


class DeckOut(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    name: str
    words: list[Word]


class WordIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    classroom_id: uuid.UUID
    term: Text
    translation: Text
    topic: Topic | None = None


class WordPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields left out keep their value; ``topic: null`` clears the topic."""

    term: Text | msgspec.UnsetType = msgspec.UNSET
    translation: Text | msgspec.UnsetType = msgspec.UNSET
    topic: Topic | msgspec.UnsetType | None = msgspec.UNSET


class ClassroomWordOut(msgspec.Struct, kw_only=True):
    id: str
    classroom_id: str
    term: str
    translation: str
    topic: str | None

    @classmethod
    def of(cls, word: ClassroomWord) -> ClassroomWordOut:
        return cls(
            id=word.id,
            classroom_id=str(word.classroom_id),
            term=word.term,
            translation=word.translation,
            topic=word.topic,
        )
