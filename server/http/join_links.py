"""Join links and their QR codes (issue 17): ``/join?code=…`` opens the sign-in page with the
code filled in, and the learner joins the class once signed in or signed up.

The link's form has one owner, :func:`join_url`. Its origin is the address learners reach
this server at: ``TANDEM_PUBLIC_URL`` when set (``tandem serve --lan`` sets it to the
laptop's network address, so a teacher browsing at 127.0.0.1 still hands out links a phone
can open), else the origin the request came to. QR codes are SVG made here by segno: no
script, nothing from a CDN, and the strict CSP's ``img-src 'self'`` allows them.
"""

from __future__ import annotations

import io
import re
from typing import Annotated, Any
from urllib.parse import quote

import msgspec
from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from server.http.envelope import Envelope, ok
from server.http.errors import ValidationFailed
from server.settings import Settings
from storage.codes import normalize_code

# Codes are 8 characters of storage.codes.ALPHABET; older or typed forms are normalised
# first. The bound keeps a QR image small and the endpoint useless for anything but codes.
_CODE = re.compile(r"[A-Z0-9]{1,32}")


class JoinOrigin(msgspec.Struct, kw_only=True):
    origin: str
    join_url: str


def public_origin(settings: Settings, request: Request[Any, Any, Any]) -> str:
    """Where learners reach this server: the configured public URL, or the request's origin."""
    if settings.public_url:
        return settings.public_url
    return str(request.base_url).rstrip("/")


def join_url(origin: str, code: str) -> str:
    """The link a learner opens (or scans) to join with ``code``."""
    return f"{origin}/join?code={quote(code, safe='')}"


def qr_svg(text: str) -> bytes:
    """``text`` as a QR code in SVG: medium error correction survives a creased printout."""
    # Imported by the first QR code: a start does not need segno (25 ms of it uncompiled).
    import segno  # noqa: PLC0415

    out = io.BytesIO()
    # No width and height but a viewBox: the page sizes the image (a dialog, a printed sheet).
    segno.make(text, error="m", micro=False).save(
        out,
        kind="svg",
        xmldecl=False,
        svgns=True,
        omitsize=True,
        border=4,
        title=text,
        dark="#000",
        light="#fff",
    )
    return out.getvalue()


def _checked(code: str) -> str:
    normal = normalize_code(code)
    if not _CODE.fullmatch(normal):
        raise ValidationFailed(
            "code must be a join code: letters and digits, at most 32",
            details={"fields": [{"field": "code", "message": "not a join code"}]},
        )
    return normal


@get(
    "/api/v1/join-origin",
    tags=["classrooms"],
    summary="The address join links use (TANDEM_PUBLIC_URL, or this request's origin)",
    sync_to_thread=False,
)
def join_origin(
    request: Request[Any, Any, Any], settings: NamedDependency[Settings]
) -> Envelope[JoinOrigin]:
    origin = public_origin(settings, request)
    return ok(JoinOrigin(origin=origin, join_url=join_url(origin, "")))


@get("/join/qr.svg", include_in_schema=False, sync_to_thread=False)
def join_qr(
    request: Request[Any, Any, Any],
    settings: NamedDependency[Settings],
    code: Annotated[str, QueryParameter(max_length=64)],
) -> Response[bytes]:
    link = join_url(public_origin(settings, request), _checked(code))
    return Response(
        qr_svg(link),
        media_type="image/svg+xml",
        # The same code always gives the same image until the server's address changes.
        headers={"cache-control": "private, max-age=300"},
    )
