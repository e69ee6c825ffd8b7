"""axe-core in the browser tests: fetched from the npm registry at a pinned version, checked
against the integrity the registry publishes for it, cached, and run inside test pages.

axe is injected with Playwright's ``evaluate`` (the DevTools protocol, which a page's CSP does
not govern), so the pages keep the production Content-Security-Policy while audited and
nothing in the app knows about axe. A download that fails, or a tarball whose hash differs,
fails the test that asked for it: an accessibility suite that cannot run is not a pass.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page

VERSION = "4.14.1"
TARBALL = f"https://registry.npmjs.org/axe-core/-/axe-core-{VERSION}.tgz"
# The `dist.integrity` the registry publishes for this version (npm view axe-core@4.14.1).
INTEGRITY = (
    "sha512-"
    "FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
)
# WCAG 2.1 A and AA (WCAG 2.0's rules are tagged wcag2a/wcag2aa, 2.1's additions wcag21*).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def integrity_of(data: bytes) -> str:
    """The Subresource-Integrity form of ``data``'s SHA-512, as npm writes it."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def axe_source(cache: Path) -> str:
    """axe.min.js of the pinned version: from ``cache`` when the tarball kept there still
    matches its integrity, else downloaded (and kept)."""
    tarball = cache / f"axe-core-{VERSION}.tgz"
    data = tarball.read_bytes() if tarball.is_file() else b""
    if integrity_of(data) != INTEGRITY:
        response = httpx.get(TARBALL, follow_redirects=True, timeout=60)
        response.raise_for_status()
        data = response.content
        found = integrity_of(data)
        assert found == INTEGRITY, f"{TARBALL}: integrity {found}, expected {INTEGRITY}"
        cache.mkdir(parents=True, exist_ok=True)
        tarball.write_bytes(data)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        member = archive.extractfile("package/axe.min.js")
        assert member is not None
        return member.read().decode()


def describe(violations: list[dict[str, Any]]) -> str:
    """axe's violations as lines a person can act on: rule, impact, where, and why."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:6]:
            lines.append(f"    {' '.join(node['target'])}: {node['failureSummary']}")
    return "\n".join(lines)


class Axe:
    """Audits pages with the cached axe-core source, collecting what fails, so that one run
    names every page and dialog that needs work (``assert_clean`` at the end)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.audited: list[str] = []
        self.failures: list[str] = []

    async def violations(self, page: Page, *, within: str | None = None) -> list[dict[str, Any]]:
        """axe's WCAG 2.1 A/AA violations on ``page`` as it is now (``within``: a CSS
        selector, for a modal dialog, which makes the rest of the page inert)."""
        # An animation that starts during the audit (a presence avatar popping in as a
        # frame arrives) would be measured mid-fade: audit as a reader who asked for reduced
        # motion sees the page, where the pages' own CSS makes every animation instant.
        await page.emulate_media(reduced_motion="reduce")
        if not await page.evaluate("() => typeof window.axe === 'object'"):
            await page.evaluate(self.source)
        result: list[dict[str, Any]] = await page.evaluate(
            """async ([within, tags]) => {
                // Colours mid-transition (a dialog fading in) are not what anyone reads:
                // wait for the animations that end (not a pulsing "live" dot).
                const ending = document.getAnimations().filter(
                    (a) => a.effect?.getComputedTiming().endTime !== Infinity);
                await Promise.all(ending.map((a) => a.finished.catch(() => null)));
                const context = within ? { include: [within] } : document;
                const result = await axe.run(context, {
                    runOnly: { type: "tag", values: tags },
                    resultTypes: ["violations"],
                });
                return result.violations.map((v) => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map((n) => ({
                        target: n.target, failureSummary: n.failureSummary })),
                }));
            }""",
            [within, TAGS],
        )
        return result

    async def check(self, page: Page, name: str, *, within: str | None = None) -> None:
        """Audits ``page`` (or the part ``within``) now; ``name`` says which page or dialog
        in the failure."""
        found = await self.violations(page, within=within)
        self.audited.append(name)
        if found:
            self.failures.append(f"{name}: {len(found)} axe rule(s) fail\n{describe(found)}")

    def assert_clean(self) -> None:
        assert self.audited, "nothing was audited"
        assert not self.failures, "\n".join(self.failures)
