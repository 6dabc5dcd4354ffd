"""The settings page in a real browser (Debian's chromium, Playwright) against the three
services as processes: a coordinator's own email, webhook URL and digest, saved to registry
(PATCH /v1/coordinators/me through notifier) and shown again after a reload; a bad email is
named beside its field; a change made elsewhere meanwhile is shown, not overwritten; the
webhook's secret is shown once and can be replaced. Keyboard, phone, axe-core."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Browser, ViewportSize, expect

from tests.e2e.conftest import System
from tests.e2e.test_class_list_page import no_sideways_scroll, sign_in_at
from tests.e2e.test_inbox_craft import DESKTOP, no_axe_violations
from tests.e2e.test_inbox_page import SCREENSHOTS, browser
from tests.support import fresh_school

pytestmark = pytest.mark.e2e
PHONE = ViewportSize(width=360, height=780)  # the narrowest phone the pages are made for
__all__ = ["browser"]  # the fixture, shared


async def test_settings_are_saved_shown_after_a_reload_and_never_overwrite_a_later_change(
    system: System, browser: Browser
) -> None:
    school = fresh_school("settings")
    async with httpx.AsyncClient(timeout=10) as http:
        created = await http.post(
            f"{system.registry}/v1/coordinators",
            json={
                "name": "Ines Park",
                "school_ids": [school],
                "channels": {"email": "ines@school.example.org"},
            },
            headers=system.admin,
        )
        assert created.status_code == 201, created.text
        coordinator = created.json()
        mine = {"Authorization": f"Bearer {coordinator['token']}"}

        page = await browser.new_page(viewport=PHONE)
        await sign_in_at(page, system, "/settings", coordinator["token"])
        email = page.get_by_label("Email address")
        await expect(email).to_have_value("ines@school.example.org", timeout=20_000)
        await expect(page.get_by_label("As each match arrives")).to_be_checked()
        await expect(page.locator("#secret-section")).to_be_hidden()
        await no_axe_violations(page, "the settings page")
        await no_sideways_scroll(page)
        await page.screenshot(path=str(SCREENSHOTS / "settings-phone.png"), full_page=True)

        # A bad email, from the keyboard: named beside the field, focus on it, nothing saved.
        await email.fill("ines@")
        await page.keyboard.press("Enter")
        await expect(page.locator("#email-error")).to_contain_text("Not a valid email address")
        await expect(email).to_have_attribute("aria-invalid", "true")
        await expect(email).to_be_focused()
        described = await email.get_attribute("aria-describedby")
        assert described is not None and "email-error" in described.split()
        await no_axe_violations(page, "the settings page with a field error")
        await page.screenshot(path=str(SCREENSHOTS / "settings-error-phone.png"), full_page=True)
        stored = (await http.get(f"{system.registry}/v1/coordinators/me", headers=mine)).json()
        assert stored["channels"]["email"] == "ines@school.example.org"

        # Corrected, and a daily digest chosen with the arrow keys: saved, said when it applies.
        await email.fill("ines.park@school.example.org")
        await page.get_by_label("As each match arrives").focus()
        await page.keyboard.press("ArrowDown")
        await expect(page.get_by_label("Once a day, all matches in one message")).to_be_checked()
        await page.get_by_role("button", name="Save settings").click()
        result = page.locator("#settings-result")
        await expect(result).to_contain_text("Saved. Matches that arrive from now on")
        await expect(result).to_be_focused()
        await expect(email).not_to_have_attribute("aria-invalid", "true")

        await page.reload()  # the token stays for this tab (sessionStorage)
        await expect(email).to_have_value("ines.park@school.example.org", timeout=20_000)
        await expect(page.get_by_label("Once a day, all matches in one message")).to_be_checked()
        stored = (await http.get(f"{system.registry}/v1/coordinators/me", headers=mine)).json()
        assert stored["channels"] == {
            "email": "ines.park@school.example.org",
            "webhook_url": None,
            "digest": "daily",
        }
        assert stored["school_ids"] == [school]

        # The administrator changes the email meanwhile: the page's save does not undo it.
        admin = await http.patch(
            f"{system.registry}/v1/coordinators/{coordinator['id']}",
            json={"channels": {"email": "ipark@school.example.org", "digest": "daily"}},
            headers=system.admin,
        )
        assert admin.status_code == 200, admin.text
        await page.get_by_label("As each match arrives").check()
        await page.get_by_role("button", name="Save settings").click()
        await expect(result).to_contain_text("These settings were changed elsewhere")
        await expect(email).to_have_value("ipark@school.example.org")
        await expect(page.get_by_label("Once a day, all matches in one message")).to_be_checked()

        # A webhook: its secret shown once; a new one on request.
        await page.set_viewport_size(DESKTOP)
        await page.get_by_label("Webhook URL").fill("https://hooks.example.org/wbl")
        await page.get_by_role("button", name="Save settings").click()
        await expect(result).to_contain_text("Saved.")
        shown = page.locator("#secret-value")
        await expect(shown).to_have_text(re.compile(r"^whsec_"))
        first = await shown.text_content()
        await page.get_by_role("button", name="Make a new secret").click()
        await expect(page.locator("#secret-previous")).to_contain_text(
            "The previous secret also signs until"
        )
        await expect(shown).not_to_have_text(first or "")
        await expect(page.locator("#secret-shown")).to_be_focused()
        await no_axe_violations(page, "the settings page with a webhook secret shown")
        await page.screenshot(path=str(SCREENSHOTS / "settings-desktop.png"), full_page=True)
