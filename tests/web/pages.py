"""Browser contexts signed in as someone, and the checks every browser test shares.

A context is signed in the way the pages themselves keep a session: ``api.js`` reads the
login answer, with ``expires_at`` added, from localStorage ``tandem-session``. Each context
gets its own login (its own refresh token), as two real devices would.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, StorageState, ViewportSize, expect

from tests.helpers import Client, login
from tests.web.conftest import ConsoleErrors

SESSION_KEY = "tandem-session"
DESKTOP = ViewportSize(width=1280, height=800)

# Chromium logs every 4xx/5xx answer as a console error. Tests that provoke one on purpose
# (a wrong password, a refused write, a stale move) leave those lines out, and only those.
PROVOKED = "Failed to load resource"

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def storage_state(address: str, login: Mapping[str, Any] | None, **local: str) -> StorageState:
    """localStorage for the app's origin: the session of ``login`` (if any) and ``local``."""
    items = dict(local)
    if login is not None:
        expires_at = int(time.time() * 1000) + int(login["expires_in"]) * 1000
        items[SESSION_KEY] = json.dumps({**login, "expires_at": expires_at})
    return {
        "cookies": [],
        "origins": [
            {
                "origin": f"http://{address}",
                "localStorage": [{"name": name, "value": value} for name, value in items.items()],
            }
        ],
    }


async def new_page(
    browser: Browser,
    address: str,
    errors: ConsoleErrors,
    *,
    login: Mapping[str, Any] | None = None,
    local: Mapping[str, str] | None = None,
    viewport: ViewportSize = DESKTOP,
    phone: bool = False,
) -> Page:
    """A page in a new context (a device of its own), its console watched by ``errors``;
    signed in as ``login``, if given, once it opens one of the app's pages."""
    context = await browser.new_context(
        viewport=viewport,
        storage_state=storage_state(address, login, **(local or {})),
        is_mobile=phone,
        has_touch=phone,
    )
    return errors.watch(await context.new_page())


async def screenshot_devices(
    browser: Browser,
    address: str,
    errors: ConsoleErrors,
    api: Client,
    tokens: Mapping[str, Any],
) -> tuple[Page, Page]:
    """A desktop (1440x900) and a phone (390x844) page, each a device of its own signed in
    as the user of ``tokens`` (the phone with a login of its own): the README's screenshots."""
    desktop = await new_page(
        browser, address, errors, login=tokens, viewport=ViewportSize(width=1440, height=900)
    )
    phone = await new_page(
        browser,
        address,
        errors,
        login=await login(api, tokens["user"]["email"]),
        viewport=ViewportSize(width=390, height=844),
        phone=True,
    )
    return desktop, phone


async def open_page(
    browser: Browser,
    address: str,
    path: str,
    errors: ConsoleErrors,
    *,
    login: Mapping[str, Any] | None = None,
    local: Mapping[str, str] | None = None,
    viewport: ViewportSize = DESKTOP,
    phone: bool = False,
) -> Page:
    """``new_page`` opened at ``path``."""
    page = await new_page(
        browser, address, errors, login=login, local=local, viewport=viewport, phone=phone
    )
    await page.goto(f"http://{address}{path}")
    return page


async def screenshot(page: Page, name: str) -> bytes:
    """A PNG of the viewport; written to ``docs/screenshots/<name>.png`` only when
    ``TANDEM_SCREENSHOTS`` is set, so that an ordinary run (CI) never rewrites the docs."""
    png = await page.screenshot(animations="disabled", caret="hide")
    if os.environ.get("TANDEM_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"{name}.png").write_bytes(png)
    return png


def unprovoked(errors: ConsoleErrors) -> list[str]:
    """The console errors, less the failed requests a test provoked on purpose."""
    return [error for error in errors if PROVOKED not in error]


class Module:
    """One of the app's ES modules, imported by a blank page of the app's origin, whose
    exports the tests call with ``run``."""

    def __init__(self, page: Page, path: str) -> None:
        self.page = page
        self.path = path

    async def run(self, script: str, arg: Any = None) -> Any:
        """The value of ``script``, a JS function ``(module, arg) => …`` (async or not),
        called with the module's exports and ``arg`` (JSON in, JSON out)."""
        source = (
            f"async (arg) => {{ const module = await import({json.dumps(self.path)});"
            f" return await ({script})(module, arg); }}"
        )
        return await self.page.evaluate(source, arg)


BLANK = '<!doctype html><title>Module under test</title><link rel="icon" href="data:,">'


async def open_module(browser: Browser, address: str, errors: ConsoleErrors, path: str) -> Module:
    """``path`` (a /static URL) ready to ``run``, in a page that runs none of the app's
    pages' scripts. The blank page is the test's own, at a path the app doesn't serve, so
    that the module's imports come from the app's origin as in production."""
    page = await new_page(browser, address, errors)
    blank = f"http://{address}/module-under-test"
    await page.route(blank, lambda route: route.fulfill(content_type="text/html", body=BLANK))
    await page.goto(blank)
    return Module(page, path)


async def master_the_card(page: Page) -> str:
    """On /study: turn the card, mark its word mastered, answer "Knew it"; the word's id."""
    card = page.get_by_test_id("card")
    word = await card.get_attribute("data-word-id")
    assert word
    await page.get_by_test_id("flip").click()
    toggle = page.get_by_test_id("mastered-toggle")
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-pressed", "true")
    await page.get_by_test_id("knew").click()
    await expect(card).not_to_have_attribute("data-word-id", word)
    return word
