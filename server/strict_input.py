"""Strict request input (contract §2): a string where a number belongs is a 400, and so is NUL.

Litestar converts a decoded body into the handler's ``data`` type with
``msgspec.convert(strict=False)``, which turns ``"1"`` into ``1`` and ``"true"`` into
``True``. This ``before_request`` hook decodes the body first with a strict msgspec decoder
of that same type, so anything loose is refused, every bad field named, before Litestar
sees it. Bodies are small (1 MiB at most) and strict decoding is fast, so decoding twice
costs microseconds; the alternative, a custom DTO, would be far more code.

Bodies that are not UTF-8 or are nested too deep fail that decode too, and are named by
:func:`validation.describe` like any other bad body.

It also refuses text with a NUL character (U+0000) in it, in the body, the query or the path:
PostgreSQL cannot take one, SQLite can, so refusing it on both keeps the backends alike and
the error a 400.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, get_args, get_origin

import msgspec
from litestar import Request
from litestar.handlers import HTTPRouteHandler

from server import validation
from server.errors import ValidationFailed


def _body_type(handler: HTTPRouteHandler) -> Any:
    parameter = handler.parsed_fn_signature.parameters.get("data")
    if parameter is None:
        return None
    annotation = parameter.annotation
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    return None


@cache
def _decoder_for(body_type: type[msgspec.Struct]) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(body_type)


def _decoder(handler: HTTPRouteHandler) -> msgspec.json.Decoder[Any] | None:
    body_type = _body_type(handler)
    return None if body_type is None else _decoder_for(body_type)


async def strict_input(request: Request[Any, Any, Any]) -> None:
    handler = request.route_handler
    if not isinstance(handler, HTTPRouteHandler):
        return
    # %00 in the query or the path decodes to a NUL character too.
    given = [*request.query_params.multi_items(), *request.path_params.items()]
    if fields := [
        error for name, value in given for error in validation.nul_characters(value, name)
    ]:
        raise ValidationFailed("The request is not valid", details=validation.grouped(fields))
    decoder = _decoder(handler)
    if decoder is None:
        return
    body = await request.body()
    try:
        decoder.decode(body)
    # msgspec raises UnicodeDecodeError for bad UTF-8 in a string and RecursionError for deep
    # nesting; describe() says which, as a field error (§2: no input is answered 500).
    except (
        msgspec.ValidationError,
        msgspec.DecodeError,
        UnicodeDecodeError,
        RecursionError,
    ) as exc:
        fields = validation.describe(decoder.type, body) or [{"field": "body", "message": str(exc)}]
        raise ValidationFailed(
            "The request is not valid", details=validation.grouped(fields)
        ) from None
    # JSON can carry a NUL character only as this escape, so most bodies skip the walk.
    if b"\\u0000" in body and (fields := validation.nul_characters(msgspec.json.decode(body))):
        raise ValidationFailed("The request is not valid", details=validation.grouped(fields))
