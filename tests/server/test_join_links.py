"""Join links' origin and QR images (issue 17; server/http/join_links.py)."""

from __future__ import annotations

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.settings import Settings, SettingsError
from tests.helpers import error_of


async def test_join_links_use_the_requests_origin_by_default(
    client: AsyncTestClient[Litestar],
) -> None:
    response = await client.get("/api/v1/join-origin", headers={"Host": "tandem.school:8000"})
    assert response.status_code == 200
    assert response.json()["data"] == {
        "origin": "http://tandem.school:8000",
        "join_url": "http://tandem.school:8000/join?code=",
    }


async def test_join_links_use_the_public_url_when_set(settings: Settings) -> None:
    public = msgspec.structs.replace(settings, public_url="http://192.168.1.20:8000")
    async with AsyncTestClient(app=create_app(public)) as client:
        data = (await client.get("/api/v1/join-origin")).json()["data"]
        assert data["origin"] == "http://192.168.1.20:8000"
        svg = (await client.get("/join/qr.svg?code=k7qx-4m2r")).text
    # The image's title is the link it encodes: the code as stored (normalised).
    assert "<title>http://192.168.1.20:8000/join?code=K7QX4M2R</title>" in svg


async def test_the_qr_image_is_an_svg_of_the_link(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/join/qr.svg", params={"code": "K7QX4M2R"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.text.startswith('<svg xmlns="http://www.w3.org/2000/svg" viewBox=')
    assert "/join?code=K7QX4M2R</title>" in response.text
    assert "<script" not in response.text


@pytest.mark.parametrize("code", ["", "<svg>", "a" * 33, "ABC/../x"])
async def test_the_qr_image_takes_only_join_codes(
    client: AsyncTestClient[Litestar], code: str
) -> None:
    response = await client.get("/join/qr.svg", params={"code": code})
    error_of(response, 400, "VALIDATION_ERROR")


async def test_the_join_page_is_the_sign_in_page(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/join", params={"code": "K7QX4M2R"})
    assert response.status_code == 200
    assert 'data-testid="join-notice"' in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    "value", ["192.168.1.20:8000", "http://host/path", "ftp://host", "http://"]
)
def test_a_public_url_must_be_an_origin(value: str) -> None:
    with pytest.raises(SettingsError, match="TANDEM_PUBLIC_URL"):
        Settings.from_env(environ={"TANDEM_PUBLIC_URL": value}, env_file=None)


def test_a_public_url_loses_its_trailing_slash() -> None:
    settings = Settings.from_env(environ={"TANDEM_PUBLIC_URL": "https://t.school/"}, env_file=None)
    assert settings.public_url == "https://t.school"
