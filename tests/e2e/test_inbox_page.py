"""The coordinator's inbox page in a real browser (Debian's chromium driven by Playwright),
against registry, matcher and notifier as processes: sign in, a match arrives live,
student details come from registry, confirming reaches registry."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, async_playwright, expect

from tests.e2e.conftest import System
from tests.e2e.test_flow import opening_body, student_body
from tests.support import eventually, fresh_school

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Written where CI keeps them as output (gitignored, never committed).
SCREENSHOTS = Path(os.environ.get("WBL_SCREENSHOTS_DIR", ".run/screenshots"))
HAVE_CHROMIUM = Path(CHROMIUM).exists()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        pytest.fail(f"{CHROMIUM} is missing: run deploy/local/install-browser.sh")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, before the browser)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


async def setup_school(
    http: httpx.AsyncClient, system: System, school: str, email: str | None = None
) -> dict[str, Any]:
    employer = (
        await http.post(
            f"{system.registry}/v1/employers",
            json={"name": "Merrimack Robotics"},
            headers=system.admin,
        )
    ).json()
    created = await http.post(
        f"{system.registry}/v1/coordinators",
        json={"name": "Rosa", "school_ids": [school], "channels": {"email": email}},
        headers=system.admin,
    )
    assert created.status_code == 201, created.text
    opening = await http.post(
        f"{system.registry}/v1/openings",
        json=opening_body("mechatronics", 1) | {"title": "Mechatronics intern"},
        headers={"Authorization": f"Bearer {employer['api_key']}"},
    )
    assert opening.status_code == 201, opening.text
    return {"token": created.json()["token"], "opening_id": opening.json()["id"]}


async def register_student(
    http: httpx.AsyncClient,
    system: System,
    token: str,
    school: str,
    first_name: str,
    field: str = "mechatronics",
) -> str:
    """A student of `school` in `field`, registered by its coordinator; their id."""
    student = student_body(first_name, field) | {"school_id": school}
    registered = await http.post(
        f"{system.registry}/v1/students",
        json=student,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert registered.status_code == 201, registered.text
    student_id: str = registered.json()["id"]
    return student_id


async def test_a_coordinator_sees_a_match_arrive_live_and_confirms_it(
    system: System, browser: Browser
) -> None:
    school = fresh_school("page")
    async with httpx.AsyncClient(timeout=10) as http:
        school_setup = await setup_school(http, system, school)
        token = school_setup["token"]
        page = await browser.new_page(viewport={"width": 390, "height": 844})
        await page.goto(f"{system.notifier}/inbox")
        await page.get_by_label("Coordinator token").fill(token)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator("#connection")).to_contain_text("Live", timeout=20_000)
        assert await page.evaluate("sessionStorage.length") == 1
        assert await page.context.cookies() == []

        # A student registered now becomes a match that appears without a reload.
        student_id = await register_student(http, system, token, school, "Maya")
        item = page.locator("li.item", has_text=school_setup["opening_id"])
        await expect(item).to_be_visible(timeout=60_000)
        await expect(page.locator("#live")).to_contain_text("New match")
        match_id = await item.get_attribute("data-match")
        assert match_id and await item.get_attribute("data-status") == "proposed"
        await expect(item).to_contain_text(student_id)  # the pseudonymous reference only
        await expect(item).not_to_contain_text("Maya")

        # Student details come from registry with the coordinator's token, on request.
        await item.get_by_role("button", name="Show student details").click()
        await expect(item.locator(".student")).to_contain_text("Maya Tester")
        await page.screenshot(path=str(SCREENSHOTS / "wbl-inbox-phone.png"), full_page=True)

        await item.get_by_role("button", name="Confirm placement").click()
        await item.get_by_role("button", name="Yes, confirm the placement").click()
        await expect(item).to_have_attribute("data-status", "confirmed", timeout=20_000)
        await expect(page.locator("#live")).to_contain_text("confirm")

        async def confirmed_in_registry() -> list[dict[str, Any]]:
            response = await http.get(
                f"{system.registry}/v1/matches", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 200, response.text
            return [
                m
                for m in response.json()
                if m["match_id"] == match_id and m["status"] == "confirmed"
            ]

        await eventually(confirmed_in_registry, what="the placement confirmed in registry")

        # The notifier hears PlacementConfirmed back from registry: the inbox says so too.
        async def confirmed_in_inbox() -> bool:
            response = await http.get(
                f"{system.notifier}/v1/inbox", headers={"Authorization": f"Bearer {token}"}
            )
            return any(
                n["match_id"] == match_id and n["status"] == "confirmed" for n in response.json()
            )

        await eventually(confirmed_in_inbox, within=60, what="the inbox notification confirmed")
        await page.set_viewport_size({"width": 1200, "height": 800})
        await page.screenshot(path=str(SCREENSHOTS / "wbl-inbox-desktop.png"), full_page=True)


async def test_a_stale_or_forged_email_link_gets_a_clear_refusal_page(
    system: System, browser: Browser
) -> None:
    page = await browser.new_page()
    response = await page.goto(f"{system.notifier}/inbox/act?t=not-a-real-link")
    assert response is not None and response.status == 400
    await expect(page.get_by_role("heading", level=2)).to_have_text("This link is not valid")
    await expect(page.get_by_role("link", name="Open your inbox")).to_be_visible()


async def test_an_email_link_confirms_on_the_inbox_page_once(
    system: System, browser: Browser
) -> None:
    school = fresh_school("mail")
    email = f"rosa-{school}@school.example.org"
    async with httpx.AsyncClient(timeout=10) as http:
        school_setup = await setup_school(http, system, school, email)
        token = school_setup["token"]
        await register_student(http, system, token, school, "Noor")

        async def confirm_link() -> str | None:
            for mail in system.mailbox.to(email):
                text = mail.get_payload()[0].get_payload(decode=True).decode()  # type: ignore[index, union-attr]
                found = re.search(r"Confirm the placement: (\S+)", text)
                if found:
                    return found.group(1)
            return None

        link = await eventually(confirm_link, within=60, what="the match email with its links")
        assert link is not None and link.startswith(f"{system.notifier}/inbox/act?t=")

        # The link lands on the confirmation step; nothing is decided until the signed-in
        # coordinator presses the button (mail scanners open links too).
        page = await browser.new_page()
        landed = await page.goto(link)
        assert landed is not None and landed.status == 200
        await page.get_by_label("Coordinator token").fill(token)
        await page.get_by_role("button", name="Sign in").click()
        step = page.locator("#confirm-step")
        await expect(step).to_be_visible(timeout=20_000)
        await expect(step.get_by_role("heading")).to_have_text("Confirm this placement?")
        await page.locator("#confirm-step-go").click()
        await expect(page.locator("#confirm-step-result")).to_contain_text(
            "Done: the placement was confirmed", timeout=20_000
        )

        async def confirmed_in_registry() -> bool:
            response = await http.get(
                f"{system.registry}/v1/matches", headers={"Authorization": f"Bearer {token}"}
            )
            return [m["status"] for m in response.json()] == ["confirmed"]

        await eventually(confirmed_in_registry, what="the placement confirmed in registry")

        # Spent: the same link, opened again, is refused with a clear page.
        again = await page.goto(link)
        assert again is not None and again.status == 410
        await expect(page.get_by_role("heading", level=2)).to_have_text(
            "This link was already used"
        )


async def test_the_inbox_says_it_waits_for_the_main_round_until_the_season_is_rolling(
    system: System, browser: Browser
) -> None:
    school = fresh_school("season")
    cut_off = "2027-09-01T09:00:00+00:00"
    async with httpx.AsyncClient(timeout=10) as http:
        token = (await setup_school(http, system, school))["token"]
        page = await browser.new_page()
        await page.goto(f"{system.notifier}/inbox")
        await page.get_by_label("Coordinator token").fill(token)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator("#connection")).to_contain_text("Live", timeout=20_000)
        notice = page.locator("#season-notice")
        await expect(notice).to_be_hidden()
        season = f"{system.matcher}/v1/season"
        set_it = await http.put(season, json={"main_round_at": cut_off}, headers=system.admin)
        assert set_it.status_code == 200, set_it.text

        async def heard() -> bool:
            answer = await http.get(
                f"{system.notifier}/v1/inbox/season", headers={"Authorization": f"Bearer {token}"}
            )
            return bool(answer.json()["waiting_for_main_round"])

        try:
            await eventually(heard, what="the notifier told of the main round")
            await page.reload()
            await expect(notice).to_contain_text(
                "Waiting for the main round on Wednesday 1 September 2027 at 09:00 UTC",
                timeout=20_000,
            )
        finally:  # other tests here need rolling rounds
            removed = await http.put(season, json={"main_round_at": None}, headers=system.admin)
            assert removed.status_code == 200, removed.text
        await eventually(lambda: _not(heard), what="the notifier told of rolling rounds")
        await page.reload()  # still signed in: the token stays in the tab's sessionStorage
        await expect(page.locator("#connection")).to_contain_text("Live", timeout=20_000)
        await expect(notice).to_be_hidden()


async def _not(probe: Any) -> bool:
    return not await probe()
