"""The API docs page (/schema): Swagger UI runs under the strict CSP and can call the API."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.helpers import signed_in
from tests.web.conftest import ConsoleErrors
from tests.web.pages import new_page

pytestmark = pytest.mark.needs_browser


async def test_the_docs_render_from_this_server_and_authorize_with_a_token(
    browser: Browser, address: str, api: httpx.AsyncClient, console_errors: ConsoleErrors
) -> None:
    token = (await signed_in(api))["access_token"]
    page = await new_page(browser, address, console_errors)
    origins: set[str] = set()
    page.on("request", lambda request: origins.add(request.url.split("/")[2]))
    await page.goto(f"http://{address}/schema")

    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Tandem")
    me = page.locator(".opblock-get", has=page.locator('[data-path="/api/v1/auth/me"]'))
    await expect(me).to_be_visible()

    # The bearer scheme the document declares is usable: authorize, then try /me.
    await page.locator("button.authorize").first.click()
    await page.locator(".auth-container input").fill(token)
    await page.locator(".auth-btn-wrapper button.authorize").click()
    await page.locator(".btn-done").click()
    await me.locator(".opblock-summary").click()
    await me.locator(".try-out__btn").click()
    await me.locator(".execute").click()
    await expect(me.locator(".live-responses-table tbody .response-col_status")).to_contain_text(
        "200"
    )

    assert origins <= {address}
    # A CSP violation (a blocked inline script or style, a remote file) is a console error.
    assert console_errors == []
