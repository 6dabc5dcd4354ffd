"""`/docs` (Swagger UI) and `/redoc` (ReDoc) of every service render their operations in a
real browser with every request off this machine blocked: their assets are served by the
service itself, from a package pinned in uv.lock, never from a CDN."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, Route, expect

from tests.e2e.conftest import System
from tests.e2e.test_inbox_page import SCREENSHOTS, browser

pytestmark = pytest.mark.e2e

__all__ = ["browser"]  # the fixture, shared with the inbox page's tests

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# ReDoc's footer shows a logo from its CDN; the page's policy stops it before any request.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
# What each UI renders once per operation.
OPERATION = {"docs": ".opblock", "redoc": 'li[data-item-id*="operation/"]'}


def summary_of(page: Page, ui: str, summary: str) -> Locator:
    """Where the UI shows an operation's summary in its main pane."""
    if ui == "docs":
        return page.locator(".opblock-summary-description", has_text=summary).first
    return page.locator("h2", has_text=summary).first


def base_of(system: System, service: str) -> str:
    return {"registry": system.registry, "matcher": system.matcher, "notifier": system.notifier}[
        service
    ]


async def offline_page(browser: Browser, outside: list[str]) -> Page:
    """A page whose requests off loopback are aborted (and noted), and whose content
    security policy violations are recorded in `window.violations`."""
    page = await browser.new_page(viewport={"width": 1200, "height": 900})

    async def loopback_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await page.route("**/*", loopback_only)
    await page.add_init_script(
        "window.violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.violations.push(e.blockedURI));"
    )
    return page


@pytest.mark.parametrize("ui", ["docs", "redoc"])
@pytest.mark.parametrize("service", ["registry", "matcher", "notifier"])
async def test_api_docs_render_every_operation_without_the_internet(
    browser: Browser, system: System, service: str, ui: str
) -> None:
    base = base_of(system, service)
    async with httpx.AsyncClient() as http:
        document = (await http.get(f"{base}/openapi.json")).json()
    operations = sum(len(methods) for methods in document["paths"].values())
    summaries = [op["summary"] for methods in document["paths"].values() for op in methods.values()]

    outside: list[str] = []
    page = await offline_page(browser, outside)
    try:
        answer = await page.goto(f"{base}/{ui}")
        assert answer is not None and answer.status == 200
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        await expect(page.locator(OPERATION[ui])).to_have_count(operations, timeout=30_000)
        for summary in summaries[:3]:
            await expect(summary_of(page, ui, summary)).to_be_visible()
        await page.screenshot(path=str(SCREENSHOTS / f"wbl-{service}-{ui}.png"))
        violations = await page.evaluate("window.violations")
    finally:
        await page.close()
    assert outside == [], "the page tried to reach beyond this machine"
    assert set(violations) <= ({REDOC_LOGO} if ui == "redoc" else set()), violations
