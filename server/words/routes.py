"""Deck and word routes (contract §8): the shipped decks for anyone signed in, a classroom's
own words for its teachers under ``/api/teacher``."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter

from server.auth.guards import ApiRequest, principal_of, signed_in, teacher_only
from server.http.envelope import Envelope, ok
from server.http.params import ClassroomQuery
from server.words import service
from server.words.catalog import shipped
from server.words.schemas import ClassroomWordOut, DeckOut, DeckSummary, WordIn, WordPatch
from server.words.service import WordService

DeckPath = Annotated[str, PathParameter(description="the deck, e.g. es-basics")]
WordPath = Annotated[str, PathParameter(description="the word's wordId")]
Service = NamedDependency[WordService]


class Decks(Controller):
    path = "/api/v1/decks"
    tags = ["words"]
    guards = [signed_in]

    @get("/", summary="The decks Tandem ships")
    async def decks(self) -> Envelope[list[DeckSummary]]:
        return ok([deck.summary() for deck in shipped().decks])

    @get("/{deck_id:str}", summary="A deck's words, in teaching order")
    async def deck(self, deck_id: DeckPath) -> Envelope[DeckOut]:
        return ok(service.deck(deck_id).out())


class TeacherWords(Controller):
    path = "/api/teacher/words"
    tags = ["words"]
    guards = [teacher_only]

    @post("/", status_code=201, summary="Add a word of your own to a classroom")
    async def add(
        self, data: JSONBody[WordIn], request: ApiRequest, word_service: Service
    ) -> Envelope[ClassroomWordOut]:
        word = await word_service.add(
            principal_of(request),
            data.classroom_id,
            term=data.term,
            translation=data.translation,
            topic=data.topic,
        )
        return ok(ClassroomWordOut.of(word))

    @get("/", summary="A classroom's own words, oldest first")
    async def of_classroom(
        self, classroom_id: ClassroomQuery, request: ApiRequest, word_service: Service
    ) -> Envelope[list[ClassroomWordOut]]:
        found = await word_service.of_classroom(principal_of(request), classroom_id)
        return ok([ClassroomWordOut.of(word) for word in found])

    @patch("/{word_id:str}", summary="Change a word (fields left out keep their value)")
    async def update(
        self,
        word_id: WordPath,
        data: JSONBody[WordPatch],
        request: ApiRequest,
        word_service: Service,
    ) -> Envelope[ClassroomWordOut]:
        word = await word_service.update(principal_of(request), word_id, data)
        return ok(ClassroomWordOut.of(word))
