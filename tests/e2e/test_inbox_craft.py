"""The inbox page's care in a real browser (Debian's chromium, Playwright), against the three
services as processes: what the card says, the confirmation step and where focus goes after
it, toggles that say whether they are open and stay open, a refused decision that shows
where the match stands, the list without the live stream, new matches that do not push the
card being read; axe-core finds no violation, and screenshots go to WBL_SCREENSHOTS_DIR."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from tests.e2e.conftest import System
from tests.e2e.test_flow import opening_body
from tests.e2e.test_inbox_page import SCREENSHOTS, browser, register_student
from tests.support import eventually, fresh_school

pytestmark = pytest.mark.e2e
__all__ = ["browser"]  # the fixture, shared

AXE = Path(
    os.environ.get(
        "WBL_AXE_JS",
        Path.home() / ".cache/wbl-placements/axe-core-4.14.1/node_modules/axe-core/axe.min.js",
    )
)
PHONE = ViewportSize(width=390, height=844)
DESKTOP = ViewportSize(width=1200, height=800)


async def school_with_opening(
    http: httpx.AsyncClient, system: System, seats: int = 1, field: str = "mechatronics"
) -> dict[str, Any]:
    school = fresh_school("craft")
    employer = (
        await http.post(
            f"{system.registry}/v1/employers",
            json={"name": "Baystate Health"},
            headers=system.admin,
        )
    ).json()
    created = await http.post(
        f"{system.registry}/v1/coordinators",
        json={"name": "Rosa Diaz", "school_ids": [school]},
        headers=system.admin,
    )
    assert created.status_code == 201, created.text
    body = opening_body(field, seats) | {"title": "Mechatronics intern"}
    opening = await http.post(
        f"{system.registry}/v1/openings",
        json=body,
        headers={"Authorization": f"Bearer {employer['api_key']}"},
    )
    assert opening.status_code == 201, opening.text
    return {
        "school": school,
        "token": created.json()["token"],
        "opening": opening.json()["id"],
        "employer_key": employer["api_key"],
    }


async def sign_in(page: Page, system: System, token: str) -> None:
    await page.goto(f"{system.notifier}/inbox")
    await page.get_by_label("Coordinator token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `make browser`")
    return AXE.read_text()


async def no_axe_violations(page: Page, what: str) -> None:
    # Evaluated through the debugging protocol: the page's content security policy (no
    # inline scripts) stays as it is.
    await page.evaluate(axe_source())
    found = await page.evaluate(
        "async () => (await axe.run(document)).violations"
        ".map(v => `${v.id}: ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)"
    )
    assert found == [], f"axe-core on {what}: {found}"


async def inbox_has(
    http: httpx.AsyncClient, system: System, token: str, status: str = "proposed"
) -> list[dict[str, Any]]:
    response = await http.get(
        f"{system.notifier}/v1/inbox", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    return [n for n in response.json() if n["status"] == status]


async def test_a_decision_takes_a_step_with_a_note_and_focus_lands_on_its_result(
    system: System, browser: Browser
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        setup = await school_with_opening(http, system)
        page = await browser.new_page(viewport=PHONE)
        await sign_in(page, system, setup["token"])
        await expect(page.locator("#who")).to_have_text(
            f"Signed in as Rosa Diaz · school {setup['school']}", timeout=20_000
        )
        await expect(page.locator("#empty")).to_contain_text("Next step")
        await register_student(http, system, setup["token"], setup["school"], "Maya")
        item = page.locator("li.item").first
        await expect(item).to_be_visible(timeout=60_000)

        # What the opening is, and why, in a few plain lines; the detail behind a toggle.
        title = item.get_by_role("heading", level=3)
        await expect(title).to_contain_text("Mechatronics intern at Baystate Health · Lowell")
        await expect(title).to_contain_text("16 h/week · paid")
        await expect(item.get_by_role("list", name="Why this match").locator("li")).to_have_count(4)
        # On a phone the decision is on the first screen (it was 898 px down, issue 13).
        confirm = await item.get_by_role("button", name="Confirm placement").bounding_box()
        assert confirm is not None and confirm["y"] + confirm["height"] <= PHONE["height"], confirm
        # The offer's deadline sits under the buttons, in words.
        await expect(item.locator("p.ends")).to_contain_text("Decide by")
        (SCREENSHOTS / "figures.txt").write_text(
            f"phone: Confirm button top at {confirm['y']:.0f} px\n"
        )
        explain = item.get_by_role("button", name="Show the full explanation (how ties are broken)")
        await expect(explain).to_have_attribute("aria-expanded", "false")
        await explain.click()
        detail = item.get_by_role("list", name="The full explanation")
        await expect(detail).to_contain_text("How ties are broken")
        await expect(
            item.get_by_role("button", name="Hide the full explanation")
        ).to_have_attribute("aria-expanded", "true")
        show = item.get_by_role("button", name="Show student details")
        await expect(show).to_have_attribute("aria-expanded", "false")
        await show.click()
        await expect(item.locator(".student")).to_contain_text("Maya Tester")
        hide = item.get_by_role("button", name="Hide student details")
        await expect(hide).to_have_attribute("aria-expanded", "true")

        # A re-render (the filter) keeps what the reader opened.
        await page.get_by_label("Show", exact=True).select_option("proposed")
        await expect(item.locator(".student")).to_contain_text("Maya Tester")
        await expect(detail).to_be_visible()

        # Decline opens a step with an optional note; nothing is decided before "Yes".
        await item.get_by_role("button", name="Decline").click()
        step = item.get_by_role("group", name="Decline this placement?")
        await expect(step).to_be_visible()
        assert await page.evaluate("document.activeElement.textContent") == (
            "Decline this placement?"
        )
        await step.get_by_label("Note (optional)").fill("The family moved to Worcester")
        await no_axe_violations(page, "a card with its decision step open")
        await page.screenshot(path=str(SCREENSHOTS / "inbox-step-phone.png"), full_page=True)
        await step.get_by_role("button", name="Yes, decline it").click()
        result = item.locator(".result")
        await expect(result).to_have_text("Done: the placement was declined.", timeout=20_000)
        assert await page.evaluate("document.activeElement.className") == "result ok"
        await page.get_by_label("Show", exact=True).select_option("")
        await expect(item.get_by_role("button", name="Confirm placement")).to_have_count(0)
        await page.set_viewport_size(DESKTOP)
        await no_axe_violations(page, "the inbox after a decision")
        await page.screenshot(path=str(SCREENSHOTS / "inbox-decided-desktop.png"), full_page=True)


async def test_without_the_live_stream_the_list_loads_and_a_refused_decision_shows_why(
    system: System, browser: Browser
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        setup = await school_with_opening(http, system)
        token = setup["token"]
        await register_student(http, system, token, setup["school"], "Noor")
        [match] = await eventually(
            lambda: inbox_has(http, system, token), within=60, what="the match in the inbox"
        )
        page = await browser.new_page(viewport=PHONE)
        await page.route("**/v1/inbox/stream?**", lambda route: route.abort())
        await sign_in(page, system, token)
        item = page.locator(f"li.item[data-match='{match['match_id']}']")
        await expect(item).to_be_visible(timeout=20_000)
        await expect(page.locator("#connection")).to_contain_text("Live updates are paused")
        await page.screenshot(path=str(SCREENSHOTS / "inbox-no-stream-phone.png"), full_page=True)

        # Decided meanwhile (from the API, say): the page has not heard, registry refuses.
        decided = await http.post(
            f"{system.registry}/v1/matches/{match['match_id']}/confirm",
            json={},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert decided.status_code == 200, decided.text
        await eventually(
            lambda: inbox_has(http, system, token, "confirmed"), within=60, what="heard"
        )
        await item.get_by_role("button", name="Decline").click()
        await item.get_by_role("button", name="Yes, decline it").click()
        result = item.locator(".result")
        await expect(result).to_contain_text("Not done: It is confirmed by you.", timeout=20_000)
        await expect(item).to_have_attribute("data-status", "confirmed")
        await expect(item.get_by_role("button", name="Decline")).to_have_count(0)
        await expect(item.get_by_role("button", name="Confirm placement")).to_have_count(0)
        assert await page.evaluate("document.activeElement.className") == "result conflict"
        await no_axe_violations(page, "a card after a refused decision")


async def test_new_matches_wait_behind_a_button_and_do_not_move_the_card_being_read(
    system: System, browser: Browser
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        setup = await school_with_opening(http, system, seats=3)
        token = setup["token"]
        page = await browser.new_page(viewport=DESKTOP)
        await sign_in(page, system, token)
        await expect(page.locator("#connection")).to_contain_text("Live", timeout=20_000)
        await register_student(http, system, token, setup["school"], "Ana")
        first = page.locator("li.item").first
        await expect(first).to_be_visible(timeout=60_000)
        before = await first.bounding_box()

        await register_student(http, system, token, setup["school"], "Ben")
        await register_student(http, system, token, setup["school"], "Cy")
        arrivals = page.locator("#show-arrivals")
        await expect(arrivals).to_have_text("2 new matches \u2014 show", timeout=60_000)
        await expect(page.locator("#live")).to_contain_text("2 new matches")
        assert await page.locator("li.item").count() == 1
        assert await first.bounding_box() == before
        await page.screenshot(path=str(SCREENSHOTS / "inbox-arrivals-desktop.png"), full_page=True)
        await no_axe_violations(page, "the inbox with new matches waiting")

        await arrivals.click()
        await expect(page.locator("li.item")).to_have_count(3)
        focused = await page.evaluate("document.activeElement.tagName")
        assert focused == "H3"


async def test_a_withdrawn_offer_says_why_it_ended_and_asks_for_no_decision(
    system: System, browser: Browser
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        setup = await school_with_opening(http, system)
        page = await browser.new_page(viewport=DESKTOP)
        await sign_in(page, system, setup["token"])
        await page.get_by_label("Show").select_option("")  # all matches, withdrawn too
        student = await register_student(http, system, setup["token"], setup["school"], "Maya")
        item = page.locator("li.item").first
        await expect(item.get_by_role("button", name="Confirm placement")).to_be_visible(
            timeout=60_000
        )
        closed = await http.delete(
            f"{system.registry}/v1/openings/{setup['opening']}",
            headers={"Authorization": f"Bearer {setup['employer_key']}"},
        )
        assert closed.is_success, closed.text
        await expect(item.locator("p.why-ended")).to_contain_text("Why it ended:", timeout=60_000)
        await expect(item.get_by_role("button", name="Confirm placement")).to_have_count(0)
        await page.screenshot(path=str(SCREENSHOTS / "inbox-withdrawn-desktop.png"), full_page=True)
        await no_axe_violations(page, "a withdrawn offer")
        # Back in the free pool, Maya would take the seat of a later test's opening.
        gone = await http.post(
            f"{system.registry}/v1/students/{student}/withdraw",
            headers={"Authorization": f"Bearer {setup['token']}"},
        )
        assert gone.is_success, gone.text
