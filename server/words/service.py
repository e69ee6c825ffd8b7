"""Word use cases (contract §8): the shipped decks, a classroom's own words, and the check
lesson writes make on their ``word_ids``."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.tokens import Principal
from server.errors import NotFound
from server.words.catalog import Deck, shipped
from server.words.ids import new_word_id
from server.words.schemas import WordPatch
from storage.base import utcnow
from storage.database import Database
from storage.models import ClassroomWord
from storage.repositories import classrooms, words

ID_ATTEMPTS = 5


def deck(deck_id: str) -> Deck:
    found = shipped().by_id.get(deck_id)
    if found is None:
        raise NotFound("No such deck")
    return found


async def unknown_word_ids(
    session: AsyncSession, classroom_id: uuid.UUID, word_ids: Iterable[str]
) -> list[str]:
    """The ids of ``word_ids`` that are neither a deck word nor one of the classroom's own
    words, each once, in the order given (a lesson's 400 names them: §8)."""
    deck_ids = shipped().word_ids
    candidates = list(dict.fromkeys(w for w in word_ids if w not in deck_ids))
    if not candidates:
        return []
    known = await words.known_ids(session, classroom_id, candidates)
    return [w for w in candidates if w not in known]


class WordService:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(
        self,
        principal: Principal,
        classroom_id: uuid.UUID,
        *,
        term: str,
        translation: str,
        topic: str | None,
    ) -> ClassroomWord:
        async with self._db.transaction() as session:
            await _own(session, principal, classroom_id)
            for _ in range(ID_ATTEMPTS):
                try:
                    async with session.begin_nested():
                        return await words.add(
                            session,
                            word_id=new_word_id(),
                            classroom_id=classroom_id,
                            term=term.strip(),
                            translation=translation.strip(),
                            topic=None if topic is None else topic.strip(),
                            now=utcnow(),
                        )
                except IntegrityError:  # the random id was taken: draw again
                    continue
        raise RuntimeError("could not find an unused word id")

    async def of_classroom(
        self, principal: Principal, classroom_id: uuid.UUID
    ) -> list[ClassroomWord]:
        async with self._db.reader() as session:
            await _own(session, principal, classroom_id)
            return await words.of_classroom(session, classroom_id)

    async def update(self, principal: Principal, word_id: str, patch: WordPatch) -> ClassroomWord:
        async with self._db.transaction() as session:
            word = await words.for_teacher(session, word_id, principal.user_id)
            if word is None:
                raise NotFound("No such word among your classrooms'")
            topic = word.topic if patch.topic is msgspec.UNSET else patch.topic
            await words.change(
                session,
                word,
                term=word.term if patch.term is msgspec.UNSET else patch.term.strip(),
                translation=word.translation
                if patch.translation is msgspec.UNSET
                else patch.translation.strip(),
                topic=None if topic is None else topic.strip(),
                now=utcnow(),
            )
            return word


async def _own(session: AsyncSession, principal: Principal, classroom_id: uuid.UUID) -> None:
    if not await classrooms.is_teacher(session, classroom_id, principal.user_id):
        raise NotFound("No such classroom among yours")
