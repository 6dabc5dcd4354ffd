"""The Outcomes page in a real browser (Debian's chromium, Playwright) against the three
services as processes: a school of our own with four students in fields no other test uses
(one placed, one awaiting a decision, two not placed), whose bars and tables say exactly
that; the period chooser; small groups hidden and said so; the CSV downloaded with registry's
filename; at phone width and from the keyboard; axe-core finds no violation."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from pathlib import Path
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

SMALL_PHONE = ViewportSize(width=360, height=780)
OFFERED = "marine-service-technology"  # an opening of 2 seats, 3 students
UNOFFERED = "aviation-maintenance-technology"  # no opening at all
FILENAME = re.compile(r"wbl-outcomes-\d{4}-07-01-\d{4}-06-30-asof-\d{4}-\d\d-\d\d\.csv")


async def school_of_four(http: httpx.AsyncClient, system: System) -> dict[str, Any]:
    school = fresh_school("outcomes")
    employer = (
        await http.post(
            f"{system.registry}/v1/employers", json={"name": "Harbor Marine"}, headers=system.admin
        )
    ).json()
    created = await http.post(
        f"{system.registry}/v1/coordinators",
        json={"name": "Rosa Diaz", "school_ids": [school]},
        headers=system.admin,
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    opening = await http.post(
        f"{system.registry}/v1/openings",
        json=opening_body(OFFERED, 2) | {"title": "Marine service intern"},
        headers={"Authorization": f"Bearer {employer['api_key']}"},
    )
    assert opening.status_code == 201, opening.text
    students = []
    for first, field, flags in (
        ("Ana", OFFERED, ["high-needs"]),
        ("Ben", OFFERED, ["high-needs"]),
        ("Cy", OFFERED, ["high-needs"]),
        ("Dee", UNOFFERED, ["english-learners"]),
    ):
        body = student_body(first, field) | {"school_id": school, "special_populations": flags}
        registered = await http.post(
            f"{system.registry}/v1/students",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert registered.status_code == 201, registered.text
        students.append(registered.json()["id"])
    return {"school": school, "token": token, "students": students}


async def one_placed_one_waiting(http: httpx.AsyncClient, system: System, token: str) -> None:
    """Two offers for the two seats: the first confirmed, the other left to decide."""
    auth = {"Authorization": f"Bearer {token}"}

    async def offers() -> list[dict[str, Any]]:
        found = (await http.get(f"{system.registry}/v1/matches", headers=auth)).json()
        return [m for m in found if m["status"] == "proposed"] if len(found) >= 2 else []

    first, _ = await eventually(offers, within=90, what="two offers for the two seats")
    confirmed = await http.post(
        f"{system.registry}/v1/matches/{first['match_id']}/confirm", json={}, headers=auth
    )
    assert confirmed.status_code == 200, confirmed.text


async def sign_in(page: Page, system: System, token: str) -> None:
    await page.goto(f"{system.notifier}/outcomes")
    await page.get_by_label("Coordinator token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


async def download_csv(page: Page) -> tuple[str, str]:
    """Press "Download CSV": the file's name as the browser saves it, and its text."""
    async with page.expect_download() as downloading:
        await page.get_by_role("button", name="Download CSV").click()
    download = await downloading.value
    text = await asyncio.to_thread(Path(await download.path()).read_text)
    return download.suggested_filename, text


def bar_row(page: Page, dimension: str, group: str) -> Any:
    return page.locator(f"#chart-{dimension} li[data-group='{group}']")


async def test_the_outcomes_page_shows_what_became_of_a_schools_students(
    system: System, browser: Browser
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        setup = await school_of_four(http, system)
        school, token = setup["school"], setup["token"]
        try:
            await one_placed_one_waiting(http, system, token)
            page = await browser.new_page(viewport=DESKTOP)
            await sign_in(page, system, token)
            await expect(page.get_by_role("heading", level=1)).to_have_text("Outcomes")
            nav = page.get_by_role("navigation", name="Workspace")
            await expect(nav.get_by_role("link", name="Outcomes")).to_have_attribute(
                "aria-current", "page"
            )

            # The bars and the words beside them, for the school, each field, each population.
            row = bar_row(page, "school", school)
            await expect(row.locator(".bar-figures")).to_have_text(
                "25% · 1 of 4 placed · 1 awaiting a decision", timeout=20_000
            )
            assert await row.locator("rect.fill").get_attribute("width") == "25"
            offered = bar_row(page, "career_field", OFFERED)
            await expect(offered).to_contain_text("Marine Service Technology")
            await expect(offered.locator(".bar-figures")).to_have_text(
                "33.3% · 1 of 3 placed · 1 awaiting a decision"
            )
            await expect(bar_row(page, "career_field", UNOFFERED)).to_contain_text(
                "0% · 0 of 1 placed"
            )
            await expect(bar_row(page, "special_population", "high-needs")).to_contain_text(
                "33.3% · 1 of 3 placed"
            )
            await expect(bar_row(page, "special_population", "english-learners")).to_contain_text(
                "English learners0% · 0 of 1 placed"
            )
            # The same in a table that a screen reader reads (the bars are hidden from it).
            cells = page.locator(f"#table-school tr[data-group='{school}'] td")
            await expect(cells).to_have_text(
                ["4", "1", "1", "2", "25%", "0", "0", "no CTE students"]
            )
            assert await page.locator("#chart-school").get_attribute("aria-hidden") == "true"
            # Empty groups are there at 0 students; 5S3 counts verified hours.
            programs = page.locator("section[aria-labelledby='dim-program']")
            await expect(programs.locator(".empty-groups")).to_contain_text(
                re.compile(r"^0 students: .*Early College; ")
            )
            await expect(programs.locator("tbody tr")).to_have_count(1)  # P-TECH, with 4
            await expect(page.locator("#report-scope")).to_contain_text("School year ")
            await expect(page.locator("#report-scope")).to_contain_text("figures as of ")
            await expect(page.locator("#report-total")).to_have_text(
                "In all: 4 students · 1 placed (25%) · 1 awaiting a decision · 2 not placed"
            )
            # P-TECH is not a CTE program in Perkins' count; no hours verified yet.
            await expect(page.locator("#report-learning")).to_have_text(
                "Perkins 5S3, took part in work-based learning (54 verified hours or more): "
                "0 of 0 CTE students · 0 hours verified · 0 placements completed"
            )
            definitions = page.locator("#definitions")
            await expect(definitions).to_contain_text("The student has a confirmed placement")
            await expect(definitions).to_contain_text("awaiting the coordinator's decision")
            await expect(definitions).to_contain_text("final evaluation in")
            await no_axe_violations(page, "the outcomes page")
            await page.screenshot(path=str(SCREENSHOTS / "outcomes-desktop.png"), full_page=True)

            # The CSV, as registry names it: the period and the as-of date in its filename.
            name, text = await download_csv(page)
            assert FILENAME.fullmatch(name), name
            rows = {(r["dimension"], r["group"]): r for r in csv.DictReader(io.StringIO(text))}
            mine = rows[("school", school)]
            assert (mine["students"], mine["placed"], mine["pending"], mine["not_placed"]) == (
                "4",
                "1",
                "1",
                "2",
            )
            assert (mine["placement_rate"], mine["suppressed"]) == ("0.25", "false")
            assert "True" not in text

            # From the keyboard: hide small groups for sharing, then show.
            await page.get_by_label(re.compile("Hide groups of fewer than 10 students")).focus()
            await page.keyboard.press("Space")
            await page.keyboard.press("Tab")
            assert await page.evaluate("document.activeElement.textContent") == "Show"
            await page.keyboard.press("Enter")
            await expect(row).to_have_text(
                f"Test school {school}fewer than 10 students \u2014 not shown"
            )
            await expect(page.locator(f"#table-school tr[data-group='{school}']")).to_contain_text(
                "fewer than 10 students \u2014 not shown"
            )
            await expect(page.locator("#report-scope")).to_contain_text(
                "groups of fewer than 10 students hidden"
            )
            _, shared = await download_csv(page)
            hidden = next(r for r in csv.DictReader(io.StringIO(shared)) if r["group"] == school)
            assert (hidden["students"], hidden["suppressed"]) == ("", "true")
            assert hidden["suppression"] == "small-group"

            # On a small phone: the bars fit, nothing scrolls sideways.
            await page.set_viewport_size(SMALL_PHONE)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= SMALL_PHONE["width"], width
            await no_axe_violations(page, "the outcomes page on a phone, small groups hidden")
            await page.screenshot(
                path=str(SCREENSHOTS / "outcomes-hidden-phone.png"), full_page=True
            )
            await page.get_by_label(re.compile("Hide groups")).uncheck()
            await page.get_by_role("button", name="Show").click()
            await expect(row.locator(".bar-figures")).to_contain_text("25%")
            box = await row.locator("svg.rate-bar").bounding_box()
            assert box is not None and box["x"] + box["width"] <= SMALL_PHONE["width"], box
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= SMALL_PHONE["width"], width
            # Each table fits too: no sideways scrolling to reach the rate.
            overflow = await page.evaluate(
                "[...document.querySelectorAll('.table-wrap')]"
                ".filter(w => w.scrollWidth > w.clientWidth).map(w => w.ariaLabel)"
            )
            assert overflow == [], overflow
            await page.screenshot(path=str(SCREENSHOTS / "outcomes-phone.png"), full_page=True)

            # Last school year: these students were not available then, so 0.
            period = page.get_by_label("Period")
            last_year = await period.locator("option").nth(2).get_attribute("value")
            assert last_year is not None
            await period.select_option(last_year)
            await page.get_by_role("button", name="Show").click()
            await expect(page.locator("#report-scope")).to_contain_text(f"School year {last_year}")
            schools = page.locator("section[aria-labelledby='dim-school']")
            await expect(schools).to_contain_text("No students in this period.")
            await expect(schools.locator(".empty-groups")).to_have_text(
                f"0 students: Test school {school}."
            )
            await expect(page.locator("#report-total")).to_have_text(
                "No students in this period yet."
            )
        finally:
            # Withdrawn, they leave the free pool and any seat they hold.
            for student in setup["students"]:
                gone = await http.post(
                    f"{system.registry}/v1/students/{student}/withdraw",
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert gone.is_success, gone.text
