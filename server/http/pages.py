"""The browser UI: ``/`` and ``/join`` (sign in / sign up), ``/board``, ``/classroom`` (a
classroom's set-up: roster, lessons, assigning, codes and teachers), ``/overview`` (a
classroom's students by lessons, coloured by mastery), ``/study`` and ``/help`` (how Tandem
works, for teachers), from ``web/``.

Static files served by the app itself, no CDN: pages are plain HTML and ES modules. Their
security headers (CSP, nosniff, referrer policy) are set for every HTML response in one
place, ``server/http/security_headers.py``, so a page reached through ``/static`` has them too.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router, get
from litestar.handlers import HTTPRouteHandler
from litestar.response import File
from litestar.static_files import create_static_files_router

WEB = Path(__file__).resolve().parents[2] / "web"
PAGES = {
    "/": "index.html",
    # A join link (server/http/join_links.py): the sign-in page, which reads the code.
    "/join": "index.html",
    "/board": "board.html",
    "/classroom": "classroom.html",
    "/overview": "overview.html",
    "/study": "study.html",
    "/help": "help.html",
}


def _page(path: str, filename: str) -> HTTPRouteHandler:
    @get(path, include_in_schema=False, name=f"page:{path}", sync_to_thread=False)
    def page() -> File:
        return File(
            WEB / filename,
            content_disposition_type="inline",
            media_type="text/html",
        )

    return page


def web_router() -> Router:
    return Router(
        path="/",
        route_handlers=[
            *(_page(path, filename) for path, filename in PAGES.items()),
            create_static_files_router(
                path="/static", directories=[WEB], include_in_schema=False, name="static"
            ),
        ],
    )
