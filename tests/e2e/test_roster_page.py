"""The Students page (the roster) in a real browser against the three services as processes:
each student's state in words (offered, confirmed, unmatched with why and what would change
it), the filter, the search from the keyboard, the toggle that says whether it is open, the
empty state with its next step, a phone's width; axe-core finds no violation; screenshots go
to WBL_SCREENSHOTS_DIR. A school, an employer and career fields of its own (Barbering; Masonry
& Tile Setting without any opening), withdrawn and closed afterwards."""

from __future__ import annotations

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

FIELD = "barbering"
EMPTY_FIELD = "masonry-and-tile-setting"
PHONE = ViewportSize(width=360, height=780)
BOSTON = {"town": "Boston", "lat": 42.36, "lon": -71.06}  # 37 km from the opening in Lowell


@dataclass
class School:
    school: str
    token: str
    employer_key: str
    opening: str
    ids: dict[str, str]


async def register(
    http: httpx.AsyncClient, system: System, school: str, token: str, first: str, **changes: Any
) -> str:
    body = student_body(first, FIELD) | {"school_id": school, "last_name": "Roster"}
    body["email"] = f"{first.lower()}.{secrets.token_hex(3)}@students.example.org"
    response = await http.post(
        f"{system.registry}/v1/students", json=body | changes, headers=bearer(token)
    )
    assert response.status_code == 201, response.text
    student_id: str = response.json()["id"]
    return student_id


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def placements(http: httpx.AsyncClient, system: System, token: str) -> dict[str, Any]:
    response = await http.get(f"{system.registry}/v1/students?size=50", headers=bearer(token))
    assert response.status_code == 200, response.text
    return {s["first_name"]: s["placement"] for s in response.json()}


@pytest.fixture
async def school(system: System) -> AsyncIterator[School]:
    """Olga and Pia near a two-seat Barbering opening (both offered; Pia's confirmed), Uma
    37 km away with a 25 km limit, Wes in a field without any opening."""
    async with httpx.AsyncClient(timeout=15) as http:
        name = fresh_school("roster")
        employer = (
            await http.post(
                f"{system.registry}/v1/employers",
                json={"name": "Mill City Barbers"},
                headers=system.admin,
            )
        ).json()
        created = await http.post(
            f"{system.registry}/v1/coordinators",
            json={"name": "Robin Hale", "school_ids": [name]},
            headers=system.admin,
        )
        assert created.status_code == 201, created.text
        token = created.json()["token"]
        opening = await http.post(
            f"{system.registry}/v1/openings",
            json=opening_body(FIELD, 2) | {"title": "Barber apprentice"},
            headers=bearer(employer["api_key"]),
        )
        assert opening.status_code == 201, opening.text
        ids = {
            "Olga": await register(http, system, name, token, "Olga"),
            "Pia": await register(http, system, name, token, "Pia"),
            "Uma": await register(http, system, name, token, "Uma", home=BOSTON, max_commute_km=25),
            "Wes": await register(http, system, name, token, "Wes", career_fields=[EMPTY_FIELD]),
        }

        async def both_offered() -> dict[str, Any]:
            found = await placements(http, system, token)
            offered = [n for n in ("Olga", "Pia") if found[n]["state"] == "offered"]
            return found if len(offered) == 2 else {}

        found = await eventually(both_offered, within=60, what="two offers")
        confirmed = await http.post(
            f"{system.registry}/v1/matches/{found['Pia']['match_id']}/confirm",
            headers=bearer(token),
        )
        assert confirmed.status_code == 200, confirmed.text
        yield School(name, token, employer["api_key"], opening.json()["id"], ids)
        for student_id in ids.values():
            await http.post(
                f"{system.registry}/v1/students/{student_id}/withdraw", headers=bearer(token)
            )
        await http.delete(
            f"{system.registry}/v1/openings/{opening.json()['id']}",
            headers=bearer(employer["api_key"]),
        )


async def sign_in(page: Page, system: System, token: str) -> None:
    await page.goto(f"{system.notifier}/students")
    await page.get_by_label("Coordinator token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


def row(page: Page, name: str) -> Any:
    return page.locator("li.student-row", has=page.get_by_role("heading", name=name))


async def test_the_roster_shows_each_state_and_why_not_in_words(
    system: System, browser: Browser, school: School
) -> None:
    page = await browser.new_page(viewport=DESKTOP)
    await sign_in(page, system, school.token)
    await expect(page.locator("#who")).to_have_text(
        f"Signed in as Robin Hale · school {school.school}", timeout=20_000
    )
    await expect(page.get_by_role("link", name="Students", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    await expect(page.locator("li.student-row")).to_have_count(4, timeout=20_000)
    await expect(page.locator("#roster-count")).to_have_text("4 students")

    # In last-name order, each with its state in words; no codes, no opening ids.
    olga, pia, uma, wes = (row(page, f"{n} Roster") for n in ("Olga", "Pia", "Uma", "Wes"))
    await expect(olga).to_have_attribute("data-state", "offered")
    await expect(olga.locator(".summary")).to_have_text(
        "Offer awaiting your decision: Barber apprentice at Mill City Barbers · Lowell."
    )
    olga_match = await offered_match(system, school, "Olga")
    await expect(olga.get_by_role("link", name="Decide in the inbox")).to_have_attribute(
        "href", f"/inbox#match-{olga_match}"
    )
    await expect(pia).to_have_attribute("data-state", "confirmed")
    await expect(pia.locator(".summary")).to_have_text(
        "Placed: Barber apprentice at Mill City Barbers · Lowell."
    )
    await expect(uma).to_have_attribute("data-state", "unmatched", timeout=20_000)
    await expect(uma.locator(".summary")).to_have_text(
        "No opening in Barbering within 25 km; 1 would be within 40 km."
    )
    await expect(uma.get_by_role("list", name="What would change it")).to_contain_text(
        "With a commute limit of 40 km the next round would consider 1 more opening."
    )
    await expect(wes).to_have_attribute("data-state", "unmatched")
    await expect(wes.locator(".summary")).to_have_text(
        "No opening in Masonry & Tile Setting this season."
    )
    roster_text = await page.locator("#students").inner_text()
    assert school.opening not in roster_text and FIELD not in roster_text

    # The openings that came close, behind a toggle that says whether it is open: by keyboard.
    toggle = uma.get_by_role("button", name="Show the openings that came close")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await toggle.focus()
    await page.keyboard.press("Enter")
    detail = uma.get_by_role("list", name="Openings that came close")
    await expect(detail).to_contain_text(
        "Barber apprentice at Mill City Barbers · Lowell: 37 km away, the student's limit is 25 km."
    )
    await expect(
        uma.get_by_role("button", name="Hide the openings that came close")
    ).to_have_attribute("aria-expanded", "true")
    await no_axe_violations(page, "the roster, desktop")
    await page.screenshot(path=str(SCREENSHOTS / "roster-desktop.png"), full_page=True)

    # The filter, then a search typed and sent from the keyboard.
    await page.get_by_label("Show", exact=True).select_option("offered")
    await expect(page.locator("li.student-row")).to_have_count(1)
    await expect(olga).to_be_visible()
    await page.get_by_label("Show", exact=True).select_option("")
    await page.get_by_label("Name or student reference").fill("uma")
    await page.keyboard.press("Enter")
    await expect(page.locator("li.student-row")).to_have_count(1)
    await expect(uma).to_be_visible()
    await expect(page.locator("#students")).to_be_focused()
    await page.get_by_label("Name or student reference").fill(school.ids["Wes"][:12])
    await page.keyboard.press("Enter")
    await expect(page.locator("li.student-row")).to_have_count(1)
    await expect(wes).to_be_visible()

    # "Decide in the inbox" opens the inbox on that offer's card, focused.
    await page.get_by_label("Name or student reference").fill("olga")
    await page.keyboard.press("Enter")
    await olga.get_by_role("link", name="Decide in the inbox").click()
    title = page.locator(f"#title-{olga_match}")
    await expect(title).to_be_focused(timeout=20_000)
    await expect(title).to_contain_text("Barber apprentice at Mill City Barbers")
    await page.close()


async def offered_match(system: System, school: School, first: str) -> str:
    async with httpx.AsyncClient(timeout=10) as http:
        match_id: str = (await placements(http, system, school.token))[first]["match_id"]
    return match_id


async def test_the_roster_on_a_phone_and_an_empty_school(
    system: System, browser: Browser, school: School
) -> None:
    page = await browser.new_page(viewport=PHONE)
    await sign_in(page, system, school.token)
    uma = row(page, "Uma Roster")
    await expect(uma).to_have_attribute("data-state", "unmatched", timeout=20_000)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px phone"
    await no_axe_violations(page, "the roster, phone")
    await page.screenshot(path=str(SCREENSHOTS / "roster-phone.png"), full_page=True)

    # Another school's coordinator sees none of these students, and the next step.
    async with httpx.AsyncClient(timeout=10) as http:
        other = await http.post(
            f"{system.registry}/v1/coordinators",
            json={"name": "Sam Empty", "school_ids": [fresh_school("roster")]},
            headers=system.admin,
        )
        assert other.status_code == 201, other.text
    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_label("Coordinator token").fill(other.json()["token"])
    await page.get_by_role("button", name="Sign in").click()
    empty = page.locator("#roster-empty")
    await expect(empty).to_contain_text("No students registered yet.", timeout=20_000)
    await expect(empty.get_by_role("link", name="upload a class list")).to_have_attribute(
        "href", "/class-lists"
    )
    await expect(page.locator("li.student-row")).to_have_count(0)
    await no_axe_violations(page, "the roster, empty")
    await page.screenshot(path=str(SCREENSHOTS / "roster-empty-phone.png"), full_page=True)
    await page.close()
