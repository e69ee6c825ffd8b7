"""The HTTP edges (contract §2): page headers, the API docs' assets, token caching, OPTIONS."""

from __future__ import annotations

import re
import uuid

import msgspec
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.settings import Settings
from tests.helpers import PASSWORD, register

Client = AsyncTestClient[Litestar]
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
HTML_PAGES = (
    "/",
    "/board",
    "/classroom",
    "/study",
    "/static/index.html",
    "/static/board.html",
    "/static/classroom.html",
    "/static/study.html",
    "/schema",
    "/schema/swagger",
    "/schema/no-such-page",
)


def _directives(policy: str) -> dict[str, list[str]]:
    parts = (part.split() for part in policy.split(";") if part.strip())
    return {name: values for name, *values in parts}


@pytest.mark.parametrize("path", HTML_PAGES)
async def test_every_html_response_carries_the_strict_headers(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.headers["content-type"].startswith("text/html")
    policy = _directives(response.headers["content-security-policy"])
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert not any("unsafe" in value for values in policy.values() for value in values)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


async def test_json_and_static_files_are_never_sniffed(client: Client) -> None:
    for path in ("/health", "/static/js/board.js", "/api/v1/auth/me"):
        response = await client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path


async def test_api_docs_load_only_files_of_this_server(client: Client) -> None:
    page = (await client.get("/schema")).text
    # No inline script: every <script> has a src.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []
    assert "<style" not in page
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any(url.endswith("swagger-ui-bundle.js") for url in urls)
    for url in urls:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url
        if url.endswith(".js"):
            assert asset.headers["content-type"].startswith("text/javascript"), url
    opening = re.search(r'data-openapi="([^"]+)"', page)
    assert opening is not None
    assert (await client.get(opening.group(1))).json()["info"]["title"] == "Tandem"
    # Only the files the page uses: the package's demo page (which loads a remote
    # document) is not served.
    assert (await client.get("/schema/assets/index.html")).status_code == 404


async def test_token_responses_are_never_stored(client: Client) -> None:
    user = await register(client)
    login = await client.post(
        "/api/v1/auth/login", json={"email": user["email"], "password": PASSWORD}
    )
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": login.json()["data"]["refresh_token"]}
    )
    for response in (login, refresh):
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"


def _concrete(path: str) -> str:
    """A request path for a route template, with a plausible value for each parameter."""

    def value(match: re.Match[str]) -> str:
        kind = match.group(2)
        return {"path": "js/board.js", "uuid": str(uuid.uuid4())}.get(kind, "w1")

    return re.sub(r"\{(\w+):(\w+)\}", value, path)


async def test_options_lists_exactly_the_methods_every_path_answers(
    app: Litestar, client: Client
) -> None:
    routes = [route for route in app.routes if isinstance(route, HTTPRoute)]
    assert len(routes) > 20
    for route in routes:
        path = _concrete(route.path)
        declared = {m for handler in route.route_handlers for m in handler.http_methods}
        expected = declared | {"OPTIONS"} | ({"HEAD"} if "GET" in declared else set())
        # No token: OPTIONS tells what a path has, whoever asks.
        response = await client.options(path)
        assert response.status_code == 204, path
        allow = {method.strip() for method in response.headers["allow"].split(",")}
        assert allow == expected, path
        # And Allow is the truth: each method it lists is routed, each other one is 405.
        for method in METHODS:
            answer = await client.request(method, path)
            if method in allow:
                assert answer.status_code != 405, (method, path)
            else:
                assert answer.status_code == 405, (method, path)
                assert answer.headers["allow"] == response.headers["allow"], (method, path)


async def test_head_answers_as_get_without_the_body(client: Client) -> None:
    for path in ("/health", "/", "/schema", "/static/js/board.js"):
        get = await client.get(path)
        head = await client.head(path)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"]
        assert head.headers["content-length"] == str(len(get.content)), path


async def test_cors_preflight_is_answered_for_allowed_origins_only(settings: Settings) -> None:
    listed = "https://app.example"
    app = create_app(msgspec.structs.replace(settings, allowed_origins=(listed,)))
    preflight = {"Access-Control-Request-Method": "POST"}
    async with AsyncTestClient(app=app) as client:
        allowed = await client.options(
            "/api/teacher/classrooms", headers={**preflight, "Origin": listed}
        )
        refused = await client.options(
            "/api/teacher/classrooms", headers={**preflight, "Origin": "https://evil.example"}
        )
    assert allowed.status_code in (200, 204)
    assert allowed.headers["access-control-allow-origin"] == listed
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


async def test_the_schema_documents_auth_and_the_checks_the_server_makes(client: Client) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    (name,) = schemes
    assert schemes[name] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schemes[name]["description"],
    }
    paths = document["paths"]
    assert paths["/api/v1/auth/me"]["get"]["security"] == [{name: []}]
    assert paths["/api/teacher/classrooms"]["post"]["security"] == [{name: []}]
    assert "security" not in paths["/api/v1/auth/login"]["post"]

    schemas = document["components"]["schemas"]
    for body in ("RegisterIn", "LoginIn", "ProgressIn", "BatchIn", "BatchItemIn", "MoveIn"):
        assert schemas[body]["additionalProperties"] is False, body
    assert schemas["RegisterIn"]["properties"]["password"]["minLength"] == 8
    confidence = schemas["ProgressIn"]["properties"]["confidence"]
    assert (confidence["minimum"], confidence["maximum"]) == (0, 5)
    assert schemas["BatchIn"]["properties"]["updates"]["maxItems"] == 1000

    word = paths["/api/v1/progress/{word_id}"]
    (parameter,) = word["put"]["parameters"]
    pattern = parameter["schema"]["pattern"]
    assert pattern == schemas["BatchItemIn"]["properties"]["wordId"]["pattern"]
    assert re.fullmatch(pattern, "es:casa-1")
    assert not re.fullmatch(pattern, "a b")
    assert {"200", "201"} <= set(word["put"]["responses"])


async def test_the_schema_says_which_operations_need_a_token(client: Client) -> None:
    """Each secured operation answers 401 without a token; no other operation does."""
    document = (await client.get("/schema/openapi.json")).json()
    checked = 0
    for template, operations in document["paths"].items():
        if not template.startswith("/api/"):
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: str(uuid.uuid4()), template)
        for method, operation in operations.items():
            anonymous = await client.request(method.upper(), path, json={})
            if operation.get("security"):
                assert anonymous.status_code == 401, (method, template)
                assert anonymous.json()["error"]["code"] == "UNAUTHORIZED"
            else:
                assert anonymous.status_code != 401, (method, template)
            checked += 1
    assert checked > 20
