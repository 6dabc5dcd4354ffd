"""Undo from the inbox card in a real browser, against the three services as processes: after
a decision the card offers "Undo (until …)" while the employer still sees the match awaiting
a decision; undoing brings the card back to awaiting with its buttons and puts focus on the
result; a decision left alone loses its Undo button when the window ends and only then
reaches the employer and the notifier. axe-core finds no violation; phone screenshots."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.e2e.conftest import UNDO_S, System
from tests.e2e.test_inbox_craft import (
    PHONE,
    inbox_has,
    no_axe_violations,
    school_with_opening,
    sign_in,
)
from tests.e2e.test_inbox_page import SCREENSHOTS, browser, register_student
from tests.support import eventually

pytestmark = pytest.mark.e2e
__all__ = ["browser"]  # the fixture, shared


FIELD = "electric-vehicle-technology"


async def employer_sees(http: httpx.AsyncClient, system: System, key: str, match_id: str) -> str:
    listed = await http.get(
        f"{system.registry}/v1/matches", headers={"Authorization": f"Bearer {key}"}
    )
    assert listed.status_code == 200, listed.text
    [match] = [m for m in listed.json() if m["match_id"] == match_id]
    assert match["status"] == "proposed" or match["status"] in ("confirmed", "declined")
    if match["status"] == "proposed":
        assert match["student"] is None and match["coordinator"] is None
    return str(match["status"])


async def test_a_decision_can_be_undone_from_the_card_until_it_reaches_the_employer(
    system: System, browser: Browser
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        # A field of its own: another test's opening left with a seat must not take Uma.
        setup = await school_with_opening(http, system, field=FIELD)
        token, key = setup["token"], setup["employer_key"]
        student_id = await register_student(http, system, token, setup["school"], "Uma", FIELD)
        [match] = await eventually(
            lambda: inbox_has(http, system, token), within=60, what="the match in the inbox"
        )
        match_id = match["match_id"]
        page = await browser.new_page(viewport=PHONE)
        await sign_in(page, system, token)
        item = page.locator(f"li.item[data-match='{match_id}']")
        await expect(item).to_be_visible(timeout=20_000)

        # Confirm: the card offers Undo with its deadline; the employer sees nothing yet.
        await item.get_by_role("button", name="Confirm placement").click()
        await item.get_by_role("button", name="Yes, confirm the placement").click()
        await expect(item.locator(".result")).to_have_text(
            "Done: the placement was confirmed.", timeout=20_000
        )
        undo = item.get_by_role("button", name=re.compile(r"^Undo \(until .+\)$"))
        await expect(undo).to_be_visible()
        assert await employer_sees(http, system, key, match_id) == "proposed"
        await no_axe_violations(page, "a card with its Undo button")
        await page.screenshot(path=str(SCREENSHOTS / "inbox-undo-phone.png"), full_page=True)

        # A reload inside the window still shows the decision with its Undo (the notifier
        # has not heard of it yet; the tab kept it).
        await page.reload()
        item = page.locator(f"li.item[data-match='{match_id}']")
        undo = item.get_by_role("button", name=re.compile(r"^Undo \(until .+\)$"))
        await expect(undo).to_be_visible(timeout=20_000)
        await expect(item).to_have_attribute("data-status", "confirmed")
        await expect(item.get_by_role("button", name="Confirm placement")).to_have_count(0)

        # Undo: back to awaiting, with its buttons, focus on the result.
        await undo.click()
        result = item.locator(".result")
        await expect(result).to_contain_text("Undone: nothing was sent to the employer")
        await expect(item).to_have_attribute("data-status", "proposed")
        await expect(item.get_by_role("button", name="Confirm placement")).to_be_visible()
        await expect(item.get_by_role("button", name="Decline")).to_be_visible()
        await expect(undo).to_have_count(0)
        assert await page.evaluate("document.activeElement.id") == f"result-{match_id}"
        await no_axe_violations(page, "a card after an undo")
        await page.screenshot(path=str(SCREENSHOTS / "inbox-undone-phone.png"), full_page=True)
        assert await employer_sees(http, system, key, match_id) == "proposed"
        [again] = await inbox_has(http, system, token)  # the notifier never heard of it
        assert again["match_id"] == match_id

        # Decline and leave it: the Undo button goes when the window ends, and only then
        # does the decision reach the employer and the notifier.
        await item.get_by_role("button", name="Decline").click()
        await item.get_by_role("button", name="Yes, decline it").click()
        await expect(undo).to_be_visible(timeout=20_000)
        assert await employer_sees(http, system, key, match_id) == "proposed"
        await expect(undo).to_have_count(0, timeout=(UNDO_S + 10) * 1000)
        await eventually(lambda: inbox_has(http, system, token, "declined"), within=30, what="sent")
        assert await employer_sees(http, system, key, match_id) == "declined"
        late = await http.post(
            f"{system.notifier}/v1/inbox/{match_id}/undo",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert late.status_code == 409
        assert late.json()["detail"].startswith("already sent to Baystate Health")
        await http.post(
            f"{system.registry}/v1/students/{student_id}/withdraw",
            headers={"Authorization": f"Bearer {token}"},
        )
