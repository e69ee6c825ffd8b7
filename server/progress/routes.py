"""``/api/v1/progress``: thin translations between HTTP and :class:`ProgressService`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import JSONBody, PathParameter, QueryParameter, RawBody

from server.auth.guards import ApiRequest, principal_of, signed_in
from server.envelope import Envelope, ok
from server.errors import ValidationFailed
from server.progress import importing
from server.progress.rules import Update
from server.progress.schemas import (
    WORD_ID_PATTERN,
    BatchIn,
    BatchOut,
    Deleted,
    ImportReport,
    ProgressIn,
    ProgressList,
    ProgressOut,
    Rejected,
    Stats,
    is_word_id,
)
from server.progress.service import ProgressService
from storage import offload

WordIdPath = Annotated[
    # Checked by _validated_word_id, so the error names the contract's field, wordId.
    str,
    # Documented, not enforced by Litestar: its error would name word_id, not wordId.
    PathParameter(
        description="1-128 of A-Z a-z 0-9 . _ : -",
        schema_extra={"pattern": WORD_ID_PATTERN, "minLength": 1, "maxLength": 128},
    ),
]
DueOnly = Annotated[
    bool, QueryParameter(description="only the words due now (mastered ones left out)")
]
IMPORT_MAX_BYTES = 10 * 1024 * 1024
# Parsing an import costs about 0.2 µs a byte (CSV; JSON is faster), measured on 20,000
# words: bodies from about 10 KB on (some 300 words) are parsed in a worker thread.
PARSE_US_PER_BYTE = 0.2


def _validated_word_id(word_id: str) -> str:
    if not is_word_id(word_id):
        raise ValidationFailed(
            "wordId must be 1-128 of A-Z a-z 0-9 . _ : -",
            details={"fields": [{"field": "wordId", "message": "invalid word id"}]},
        )
    return word_id


_OLD_RECORD = Schema(
    type=OpenAPIType.OBJECT,
    required=["studyCount", "correctCount", "confidence"],
    properties={
        "studyCount": Schema(type=OpenAPIType.INTEGER, minimum=0),
        "correctCount": Schema(type=OpenAPIType.INTEGER, minimum=0),
        "confidence": Schema(type=OpenAPIType.INTEGER, minimum=0, maximum=5),
        "lastStudied": Schema(
            one_of=[Schema(type=OpenAPIType.STRING, format=None), Schema(type=OpenAPIType.INTEGER)],
            description="ISO-8601, or epoch milliseconds",
        ),
        "mastered": Schema(type=OpenAPIType.BOOLEAN),
    },
    description="other keys are ignored",
)


@dataclass
class ImportOperation(Operation):
    """The import body is read raw (JSON or CSV), so its shape is described here by hand."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="The old app's localStorage value, or CSV with the same columns",
            content={
                "application/json": OpenAPIMediaType(
                    schema=Schema(type=OpenAPIType.OBJECT, additional_properties=_OLD_RECORD)
                ),
                "text/csv": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.STRING,
                        description="header: wordId,studyCount,correctCount,confidence,"
                        "lastStudied,mastered",
                    )
                ),
            },
        )


class ProgressController(Controller):
    path = "/api/v1/progress"
    tags = ["progress"]
    guards = [signed_in]

    @get("/", summary="All of my progress, or the words due now")
    async def list_progress(
        self,
        request: ApiRequest,
        progress_service: NamedDependency[ProgressService],
        due: DueOnly = False,
    ) -> Response[Envelope[ProgressList]]:
        principal = principal_of(request)
        body = await progress_service.list_body(principal, due=due)
        # Already the encoded envelope (a long list is encoded off the event loop): sent as
        # it is; the annotation above documents its shape.
        encoded: Response[Any] = Response(content=body, media_type="application/json")
        return encoded

    @get("/stats", summary="Summary statistics of my progress")
    async def stats(
        self,
        request: ApiRequest,
        progress_service: NamedDependency[ProgressService],
    ) -> Envelope[Stats]:
        principal = principal_of(request)
        return ok(await progress_service.stats(principal))

    @get("/{word_id:str}", summary="My progress on one word")
    async def get_word(
        self,
        word_id: WordIdPath,
        request: ApiRequest,
        progress_service: NamedDependency[ProgressService],
    ) -> Envelope[ProgressOut]:
        principal = principal_of(request)
        record = await progress_service.get(principal, _validated_word_id(word_id))
        return ok(ProgressOut.of(record))

    @put(
        "/{word_id:str}",
        summary="Report my progress on a word (201 created, 200 updated or unchanged)",
        status_code=200,
        responses={201: ResponseSpec(Envelope[ProgressOut], description="Created")},
    )
    async def put_word(
        self,
        word_id: WordIdPath,
        data: JSONBody[ProgressIn],
        request: ApiRequest,
        progress_service: NamedDependency[ProgressService],
    ) -> Response[Envelope[ProgressOut]]:
        principal = principal_of(request)
        update = Update(
            _validated_word_id(word_id),
            data.study_count,
            data.correct_count,
            data.confidence,
            data.mastered,
        )
        record, created = await progress_service.put(principal, update)
        return Response(ok(ProgressOut.of(record)), status_code=201 if created else 200)

    @delete("/{word_id:str}", summary="Unlearn a word: its record is removed", status_code=200)
    async def delete_word(
        self,
        word_id: WordIdPath,
        request: ApiRequest,
        progress_service: NamedDependency[ProgressService],
    ) -> Envelope[Deleted]:
        principal = principal_of(request)
        await progress_service.delete(principal, _validated_word_id(word_id))
        return ok(Deleted(word_id=word_id))

    @post("/batch", summary="Report many words at once, all or nothing", status_code=200)
    async def batch(
        self,
        data: JSONBody[BatchIn],
        request: ApiRequest,
        progress_service: NamedDependency[ProgressService],
    ) -> Envelope[BatchOut]:
        principal = principal_of(request)
        updates = [
            Update(u.word_id, u.study_count, u.correct_count, u.confidence, u.mastered)
            for u in data.updates
        ]
        return ok(BatchOut(items=await progress_service.batch(principal, updates)))

    @post(
        "/import",
        summary="Import the old app's localStorage progress (JSON) or CSV, merging",
        status_code=200,
        request_max_body_size=IMPORT_MAX_BYTES,
        operation_class=ImportOperation,
    )
    async def import_progress(
        self,
        request: ApiRequest,
        body: RawBody,
        progress_service: NamedDependency[ProgressService],
    ) -> Envelope[ImportReport]:
        principal = principal_of(request)
        content_type = request.headers.get("content-type", "")
        parsed = await offload.run(
            len(body) * PARSE_US_PER_BYTE, importing.parse, body, content_type
        )
        imported, merged, unchanged = await progress_service.merge(principal, parsed.entries)
        return ok(
            ImportReport(
                imported=imported,
                merged=merged,
                unchanged=unchanged,
                rejected=[Rejected(word_id=w, reason=r) for w, r in parsed.rejected],
            )
        )
