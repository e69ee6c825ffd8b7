"""``/api/teacher/progress-board``: thin translations between HTTP and the board services."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, PathParameter, QueryParameter

from server.auth.guards import ApiRequest, principal_of, teacher_only
from server.board.reads import BoardQuery, BoardReads
from server.board.rules import is_status
from server.board.schemas import (
    BatchMoveIn,
    BatchMoveOut,
    BoardOut,
    CardIn,
    CardOut,
    DeletedOut,
    LockOut,
    MoveIn,
    UnlockOut,
)
from server.board.service import BoardService
from server.http.envelope import Envelope, ok
from server.http.errors import CardNotFound, ValidationFailed

Service = NamedDependency[BoardService]
CardId = Annotated[str, PathParameter(description="the card's id")]


def _card(card_id: str) -> uuid.UUID:
    """A card id from the path; one that is not even a UUID is an unknown card (§5)."""
    try:
        return uuid.UUID(card_id)
    except ValueError:
        raise CardNotFound() from None


CACHE_CONTROL = "private, max-age=30"


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` header admits gzip (RFC 9110 §12.5.3): ``gzip`` (or
    ``x-gzip``) with a non-zero ``q``, else ``*`` with a non-zero ``q``."""
    qualities: dict[str, float] = {}
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.partition(";")
        quality = 1.0
        name, _, value = params.partition("=")
        if name.strip() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
        qualities[coding.strip()] = quality
    for coding in ("gzip", "x-gzip", "*"):
        if coding in qualities:
            return qualities[coding] > 0
    return False


class ProgressBoard(Controller):
    path = "/api/teacher/progress-board"
    tags = ["progress board"]
    guards = [teacher_only]

    @get(
        "/",
        summary="A classroom's board: columns, cards, filters and its event seq",
        responses={304: ResponseSpec(data_container=None, description="Not modified")},
    )
    async def board(
        self,
        request: ApiRequest,
        board_reads: NamedDependency[BoardReads],
        classroom_id: Annotated[
            uuid.UUID | None, QueryParameter(description="default: your first classroom")
        ] = None,
        student_id: Annotated[uuid.UUID | None, QueryParameter()] = None,
        category: Annotated[str | None, QueryParameter(max_length=100)] = None,
        status: Annotated[str | None, QueryParameter()] = None,
    ) -> Response[Envelope[BoardOut]]:
        if status is not None and not is_status(status):
            raise ValidationFailed(
                f"Unknown status {status!r}",
                details={"fields": [{"field": "status", "message": "unknown status"}]},
            )
        answer = await board_reads.read(
            principal_of(request),
            BoardQuery(classroom_id, student_id, category, status),
            request.headers.get("if-none-match"),
            gzip_ok=accepts_gzip(request.headers.get("accept-encoding", "")),
        )
        headers = {"ETag": answer.etag, "Cache-Control": CACHE_CONTROL, "Vary": "Accept-Encoding"}
        if answer.gzipped and answer.body is not None:
            headers["Content-Encoding"] = "gzip"
        # The body is already the encoded envelope (maybe from the cache): sent as it is.
        encoded: Response[Any] = (
            Response(content=None, status_code=304, headers=headers)
            if answer.body is None
            else Response(content=answer.body, media_type="application/json", headers=headers)
        )
        return encoded

    @post("/cards", status_code=201, summary="Create a card (student_id null: the template)")
    async def create(
        self, data: JSONBody[CardIn], request: ApiRequest, board_service: Service
    ) -> Envelope[CardOut]:
        principal = principal_of(request)
        card = await board_service.create(
            principal, lesson_id=data.lesson_id, student_id=data.student_id, status=data.status
        )
        return ok(card)

    @patch("/cards/{card_id:str}/move", summary="Move a card, with its version")
    async def move(
        self,
        card_id: CardId,
        data: JSONBody[MoveIn],
        request: ApiRequest,
        board_service: Service,
    ) -> Envelope[CardOut]:
        principal = principal_of(request)
        return ok(await board_service.move(principal, _card(card_id), data))

    @post("/cards/{card_id:str}/lock", status_code=200, summary="Take or renew a card's lock")
    async def lock(
        self, card_id: CardId, request: ApiRequest, board_service: Service
    ) -> Envelope[LockOut]:
        principal = principal_of(request)
        return ok(await board_service.lock(principal, _card(card_id)))

    @delete("/cards/{card_id:str}/lock", status_code=200, summary="Release your lock")
    async def unlock(
        self, card_id: CardId, request: ApiRequest, board_service: Service
    ) -> Envelope[UnlockOut]:
        principal = principal_of(request)
        await board_service.unlock(principal, _card(card_id))
        return ok(UnlockOut(id=str(_card(card_id))))

    @post("/batch-move", status_code=200, summary="Up to 100 moves in one transaction")
    async def batch_move(
        self, data: JSONBody[BatchMoveIn], request: ApiRequest, board_service: Service
    ) -> Envelope[BatchMoveOut]:
        principal = principal_of(request)
        updated, failed = await board_service.batch_move(principal, data.moves)
        return ok(BatchMoveOut(updated_cards=updated, failed_moves=failed))

    @delete("/cards/{card_id:str}", status_code=200, summary="Delete a card")
    async def remove(
        self, card_id: CardId, request: ApiRequest, board_service: Service
    ) -> Envelope[DeletedOut]:
        principal = principal_of(request)
        await board_service.delete(principal, _card(card_id))
        return ok(DeletedOut(deleted_id=str(_card(card_id))))
