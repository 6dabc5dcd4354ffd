"""The Placements page in a real browser against the three services as processes: the filter
buttons with their counts keep the right placements, each placement says what it needs and
from whom, the agreement is issued from the page (a wrong field marked beside it, then right)
and the placement moves from "needs an agreement" to "needs signatures", the work permit is
recorded, all from the keyboard; a phone's width; axe-core finds no violation; screenshots go
to WBL_SCREENSHOTS_DIR. A school, an employer and a career field (Cabinetmaking) of its own;
the students withdrawn and the opening closed afterwards."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from tests.e2e.conftest import System
from tests.e2e.test_flow import opening_body, student_body
from tests.e2e.test_inbox_craft import DESKTOP, no_axe_violations
from tests.e2e.test_inbox_page import SCREENSHOTS, browser
from tests.support import eventually, fresh_school

pytestmark = pytest.mark.e2e
__all__ = ["browser"]  # the fixture, shared

FIELD = "cabinetmaking"
PHONE = ViewportSize(width=360, height=780)
SUPERVISOR = {"name": "Pat Okafor", "email": "pat.okafor@joinery.example.org"}
GUARDIAN = {"name": "Rosa Brandt", "email": "rosa.brandt@family.example.org"}


@dataclass
class School:
    school: str
    token: str
    matches: dict[str, str]  # first name -> match id


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(
    http: httpx.AsyncClient, system: System, school: str, token: str, first: str
) -> str:
    body = student_body(first, FIELD) | {"school_id": school, "last_name": "Joiner"}
    body["email"] = f"{first.lower()}.{secrets.token_hex(3)}@students.example.org"
    response = await http.post(f"{system.registry}/v1/students", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    student_id: str = response.json()["id"]
    return student_id


@pytest.fixture
async def school(system: System) -> AsyncIterator[School]:
    """Ana and Ben (both 17 at the start) confirmed at a two-seat Cabinetmaking opening; Ben's
    agreement issued, Ana's not."""
    async with httpx.AsyncClient(timeout=15) as http:
        name = fresh_school("desk")
        employer = (
            await http.post(
                f"{system.registry}/v1/employers",
                json={"name": "Merrimack Joinery"},
                headers=system.admin,
            )
        ).json()
        created = await http.post(
            f"{system.registry}/v1/coordinators",
            json={"name": "Morgan Desk", "school_ids": [name]},
            headers=system.admin,
        )
        assert created.status_code == 201, created.text
        token = created.json()["token"]
        opening = await http.post(
            f"{system.registry}/v1/openings",
            json=opening_body(FIELD, 2) | {"title": "Cabinetmaker apprentice"},
            headers=bearer(employer["api_key"]),
        )
        assert opening.status_code == 201, opening.text
        students = {n: await register(http, system, name, token, n) for n in ("Ana", "Ben")}

        async def both_offered() -> dict[str, str]:
            got = await http.get(f"{system.registry}/v1/students?size=50", headers=bearer(token))
            found = {s["first_name"]: s["placement"] for s in got.json()}
            offered = {n: p["match_id"] for n, p in found.items() if p["state"] == "offered"}
            return offered if len(offered) == 2 else {}

        matches = await eventually(both_offered, within=60, what="two offers")
        for match_id in matches.values():
            confirmed = await http.post(
                f"{system.registry}/v1/matches/{match_id}/confirm", headers=bearer(token)
            )
            assert confirmed.status_code == 200, confirmed.text
        issued = await http.post(
            f"{system.registry}/v1/placements/{matches['Ben']}/agreement",
            json={
                "supervisor": SUPERVISOR,
                "safety_training": "OSHA 10-Hour General Industry",
                "hourly_wage": "17.25",
                "guardian": GUARDIAN,
            },
            headers=bearer(token),
        )
        assert issued.status_code == 200, issued.text
        yield School(name, token, matches)
        for student_id in students.values():
            await http.post(
                f"{system.registry}/v1/students/{student_id}/withdraw", headers=bearer(token)
            )
        await http.delete(
            f"{system.registry}/v1/openings/{opening.json()['id']}",
            headers=bearer(employer["api_key"]),
        )


async def sign_in(page: Page, system: System, token: str) -> None:
    await page.goto(f"{system.notifier}/placements")
    await page.get_by_label("Coordinator token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


def card(page: Page, first: str) -> Any:
    return page.locator("li.placement-row", has=page.get_by_role("heading", name=f"{first} Joiner"))


def filter_button(page: Page, label: str) -> Any:
    return page.get_by_role("group", name="Show placements").get_by_role(
        "button", name=re.compile(rf"^{re.escape(label)} \(\d+\)$")
    )


async def test_filters_and_issuing_the_agreement_from_the_keyboard(
    system: System, browser: Browser, school: School
) -> None:
    page = await browser.new_page(viewport=DESKTOP)
    await sign_in(page, system, school.token)
    await expect(page.get_by_role("link", name="Placements", exact=True)).to_have_attribute(
        "aria-current", "page", timeout=20_000
    )
    await expect(page.locator("li.placement-row")).to_have_count(2, timeout=20_000)
    for label, n in (
        ("All", 2),
        ("Need an agreement", 1),
        ("Need signatures", 1),
        ("Need a work permit", 2),
        ("Hours behind", 0),
        ("Evaluation due", 0),
    ):
        await expect(filter_button(page, label)).to_have_text(f"{label} ({n})")
    ana, ben = card(page, "Ana"), card(page, "Ben")
    await expect(ana.get_by_role("heading", level=3)).to_have_text(
        "Ana Joiner: Cabinetmaker apprentice at Merrimack Joinery"
    )
    await expect(ana.get_by_role("list", name="Waiting for")).to_contain_text(
        "No training agreement yet: issue it with the supervisor's details."
    )
    await expect(ben.get_by_role("list", name="Waiting for")).to_contain_text(
        f"Still to sign the agreement: the school (you or another coordinator), the employer's "
        f"supervisor ({SUPERVISOR['name']}), the student (Ben Joiner), the parent or guardian "
        f"({GUARDIAN['name']})."
    )
    await expect(ben.get_by_role("button", name="Issue the agreement", exact=True)).to_have_count(0)
    text = await page.locator("#placements").inner_text()
    assert FIELD not in text and "awaiting-" not in text  # words, not codes

    # A filter keeps only its placements, and says it is pressed.
    agreement = filter_button(page, "Need an agreement")
    await agreement.click()
    await expect(agreement).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("li.placement-row")).to_have_count(1)
    await expect(ana).to_be_visible()
    await filter_button(page, "Need signatures").click()
    await expect(page.locator("li.placement-row")).to_have_count(1)
    await expect(ben).to_be_visible()
    await filter_button(page, "Need an agreement").click()
    await expect(ana).to_be_visible()
    await no_axe_violations(page, "the placements, desktop")
    await page.screenshot(path=str(SCREENSHOTS / "placements-desktop.png"), full_page=True)

    # Issue Ana's agreement by keyboard: a wrong email is marked beside its field first.
    toggle = ana.get_by_role("button", name="Issue the agreement", exact=True)
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await toggle.focus()
    await page.keyboard.press("Enter")
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    name = ana.get_by_label("Supervisor's name")
    await expect(name).to_be_focused()
    await page.keyboard.type(SUPERVISOR["name"])
    await page.keyboard.press("Tab")
    await page.keyboard.type("pat.okafor-at-joinery")
    await page.keyboard.press("Tab")
    await page.keyboard.type("OSHA 10-Hour General Industry")
    await ana.get_by_label("Hourly wage in dollars").fill("17.25")
    await ana.get_by_label("Parent's or guardian's name").fill(GUARDIAN["name"])
    await ana.get_by_label("Parent's or guardian's email").fill(GUARDIAN["email"])
    await page.keyboard.press("Enter")
    email = ana.get_by_label("Supervisor's email")
    await expect(email).to_have_attribute("aria-invalid", "true")
    await expect(email).to_be_focused()
    await expect(
        ana.locator(f"#agreement-{school.matches['Ana']}-supervisor-email-error")
    ).to_contain_text("email")
    await no_axe_violations(page, "the agreement form with a field marked")
    await email.fill(SUPERVISOR["email"])
    await page.keyboard.press("Enter")

    result = page.locator("#desk-result")
    await expect(result).to_be_focused(timeout=20_000)
    await expect(result).to_contain_text("The training agreement was issued for Ana Joiner.")
    await expect(result).to_contain_text("Waiting for signatures from the school")
    await expect(page.locator("li.placement-row")).to_have_count(0)
    await expect(page.locator("#desk-empty")).to_contain_text(
        "No placement is waiting for its training agreement."
    )
    await expect(filter_button(page, "Need an agreement")).to_have_text("Need an agreement (0)")
    await expect(filter_button(page, "Need signatures")).to_have_text("Need signatures (2)")
    await filter_button(page, "Need signatures").click()
    await expect(page.locator("li.placement-row")).to_have_count(2)
    await expect(ana.get_by_role("list", name="Waiting for")).to_contain_text(
        f"the employer's supervisor ({SUPERVISOR['name']})"
    )
    await expect(ana.get_by_role("button", name="Issue the agreement", exact=True)).to_have_count(0)
    await page.close()


async def test_the_permit_on_a_phone(system: System, browser: Browser, school: School) -> None:
    page = await browser.new_page(viewport=PHONE)
    await sign_in(page, system, school.token)
    ben = card(page, "Ben")
    await expect(ben).to_be_visible(timeout=20_000)
    await ben.get_by_role("button", name="Record the work permit", exact=True).click()
    await ben.get_by_label("Permit number").fill("WP-2026-0917")
    await ben.get_by_label("Issued by").fill("Lowell Public Schools, office of the superintendent")
    await ben.get_by_label("Issued on").fill("2026-11-20")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px phone"
    await no_axe_violations(page, "the placements with the permit form, phone")
    await page.screenshot(path=str(SCREENSHOTS / "placements-permit-phone.png"), full_page=True)
    await ben.get_by_role("button", name="Record the permit").click()
    result = page.locator("#desk-result")
    await expect(result).to_contain_text(
        "The work permit was recorded for Ben Joiner.", timeout=20_000
    )
    await expect(ben.get_by_role("list", name="Waiting for")).not_to_contain_text("work permit")
    await expect(
        ben.get_by_role("button", name="Record the work permit", exact=True)
    ).to_have_count(0)
    permits = filter_button(page, "Need a work permit")
    await expect(permits).to_have_text("Need a work permit (1)")  # Ana's still
    await permits.click()
    await expect(ben).to_have_count(0)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px phone"
    await page.close()
