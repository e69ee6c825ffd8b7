"""The interactive API docs at ``/schema``: Swagger UI served by this server (contract §2).

Swagger UI's files come from the ``swagger-ui-bundle-v2`` package (a pinned release in
uv.lock), served under ``/schema/assets/``, so the docs load nothing from another origin on
the origin that holds the tokens. Litestar's own render plugins write an inline start
script with the whole schema in it; ours is a page without inline script or style, so it
runs under the same strict Content-Security-Policy as every page
(``server/http/security_headers.py``), and its start script is a file, ``web/js/api-docs.js``.
No PyPI package ships Scalar's files, so Scalar is gone.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from litestar import Request, Router, get
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.params import FromPath
from litestar.response import File
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

# Only what the page uses: the package's index.html would start a demo from another site.
# Typed by hand: with nosniff, a browser runs a script only if it is sent as JavaScript.
ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
SWAGGER_UI = Path(str(swagger_ui_path))
ASSET_MAX_AGE = 24 * 3600


@get("/assets/{name:str}", sync_to_thread=False, include_in_schema=False)
def swagger_asset(name: FromPath[str]) -> File:
    if name not in ASSETS:
        raise NotFoundException()
    return File(
        SWAGGER_UI / name,
        content_disposition_type="inline",
        media_type=ASSETS[name],
        headers={"Cache-Control": f"public, max-age={ASSET_MAX_AGE}"},
    )


class SwaggerUI(OpenAPIRenderPlugin):
    def __init__(self, path: str = "/swagger") -> None:
        super().__init__(path=path, favicon="", style="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        base = request.app.openapi_config.path if request.app.openapi_config else "/schema"
        title = escape(str(openapi_schema["info"]["title"]))
        document = escape(self.get_openapi_json_route(request))
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} API</title>
  <link rel="icon" type="image/png" href="{base}/assets/favicon-32x32.png">
  <link rel="stylesheet" href="{base}/assets/swagger-ui.css">
  <script defer src="{base}/assets/swagger-ui-bundle.js"></script>
  <script defer src="/static/js/api-docs.js"></script>
</head>
<body>
  <div id="swagger-ui" data-openapi="{document}"></div>
</body>
</html>
""".encode()

    def receive_router(self, router: Router) -> None:
        router.register(swagger_asset)
