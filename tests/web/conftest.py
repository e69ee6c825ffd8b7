"""A served app and a headless Chromium for the browser tests.

Chromium comes from the machine (Debian's ``chromium`` package; ``TANDEM_CHROMIUM`` to
point elsewhere), never downloaded by Playwright. ``.ci/run`` installs it when missing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from tests.browsers import CHROMIUM
from tests.live import live

LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
async def address(app: Litestar) -> AsyncIterator[str]:
    async with live(app) as served:
        yield served


@pytest.fixture
async def api(address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A REST client of the served app, to set up accounts and check what the server holds."""
    async with httpx.AsyncClient(base_url=f"http://{address}") as client:
        yield client


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


class ConsoleErrors(list[str]):
    """Every console error and uncaught page error of the pages it watches."""

    def watch(self, page: Page) -> Page:
        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.append(f"{page.url}: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.append(f"{page.url}: {error}"))
        return page


@pytest.fixture
def console_errors() -> ConsoleErrors:
    return ConsoleErrors()
