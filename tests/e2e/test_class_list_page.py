"""The class-list page in a real browser (Debian's chromium, Playwright) against the three
services as processes: a file with bad rows shows every problem by spreadsheet line, column
and student, and its errors download as a CSV (a Blob under the page's CSP); the corrected
file registers the rest; sent again, every row is already registered. From the keyboard, on
a phone with no sideways scrolling, and with axe-core finding nothing. The students are of a
career field no test posts openings in (no seat taken) and are withdrawn at the end."""

from __future__ import annotations

import asyncio
import csv
import io
import secrets
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Download, Page, ViewportSize, expect

from tests.e2e.conftest import System
from tests.e2e.test_inbox_craft import DESKTOP, no_axe_violations
from tests.e2e.test_inbox_page import SCREENSHOTS, browser
from tests.support import fresh_school

pytestmark = pytest.mark.e2e
PHONE = ViewportSize(width=360, height=780)  # the narrowest phone the pages are made for
__all__ = ["browser"]  # the fixture, shared

FIELD = "marine-service-technology"  # no test posts openings here: these students take no seat
HEADER = (
    "School_ID;First Name;Last Name;Email;Date of Birth;Grade;Program;Career Fields;"
    "Home Town;Home Lat;Home Lon;Max Commute KM;Available From;Available To;"
    "Hours Per Week;SIS ID"
)


def row(
    school: str,
    first: str,
    tag: str,
    grade: str = "11",
    lat: str = "42.64",
    email: str | None = None,
) -> str:
    start = date.today() + timedelta(days=40)
    end = start + timedelta(days=90)
    address = email or f"{first.lower()}.{tag}@students.example.org"
    return (
        f"{school};{first};Tester;{address};2009-05-01;{grade};p-tech;{FIELD};Lowell;{lat};"
        f"-71.31;20;{start};{end};20;SIS-{first}"
    )


def class_list(school: str, tag: str, corrected: bool) -> str:
    rows = [
        row(school, "Ana", tag),
        row(school, "Cleo", tag) if corrected else row(school, "Cleo", tag, grade="15", lat="95"),
        row(school, "Ben", tag),
        row(school, "Dev", tag) if corrected else row(school, "Dev", tag, email="dev-at-school"),
    ]
    return "\r\n".join([HEADER, *rows]) + "\r\n"


async def new_coordinator(http: httpx.AsyncClient, system: System, school: str) -> str:
    created = await http.post(
        f"{system.registry}/v1/coordinators",
        json={"name": "Sam Okafor", "school_ids": [school]},
        headers=system.admin,
    )
    assert created.status_code == 201, created.text
    token: str = created.json()["token"]
    return token


async def sign_in_at(page: Page, system: System, path: str, token: str) -> None:
    await page.goto(f"{system.notifier}{path}")
    await page.get_by_label("Coordinator token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


async def no_sideways_scroll(page: Page) -> None:
    wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the page scrolls {wide} px sideways"


async def upload_from_the_keyboard(page: Page, file: Path) -> None:
    """Tab to the file field, open its chooser with Space, Tab to the button, Enter."""
    await page.locator("h1").click()
    for _ in range(30):
        if await page.evaluate("document.activeElement.id") == "class-file":
            break
        await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "class-file"
    async with page.expect_file_chooser() as chooser:
        await page.keyboard.press("Space")
    await (await chooser.value).set_files(file)
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "upload"
    await page.keyboard.press("Enter")


async def text_of(download: Download) -> str:
    saved = Path(await download.path())
    return await asyncio.to_thread(saved.read_text, encoding="utf-8")


async def withdraw_everyone(http: httpx.AsyncClient, system: System, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    listed = await http.get(f"{system.registry}/v1/students", params={"size": 200}, headers=auth)
    for student in listed.json():
        await http.post(f"{system.registry}/v1/students/{student['id']}/withdraw", headers=auth)


async def test_a_bad_list_then_the_corrected_one_then_the_same_again(
    system: System, browser: Browser, tmp_path: Path
) -> None:
    tag = secrets.token_hex(3)
    school = fresh_school("upload")
    bad = tmp_path / "Spring roster.csv"
    bad.write_text(class_list(school, tag, corrected=False), encoding="utf-8")
    fixed = tmp_path / "spring-roster-fixed.csv"
    fixed.write_text(class_list(school, tag, corrected=True), encoding="utf-8")
    async with httpx.AsyncClient(timeout=30) as http:
        token = await new_coordinator(http, system, school)
        try:
            page = await browser.new_page(viewport=PHONE, accept_downloads=True)
            await sign_in_at(page, system, "/class-lists", token)
            await expect(page.get_by_role("heading", level=1)).to_have_text("Class lists")
            await expect(page.locator("#columns-body tr")).to_have_count(18, timeout=20_000)
            await page.get_by_text("Each column, and an example").click()
            await expect(
                page.get_by_role("table", name="The columns of a class list")
            ).to_be_visible()
            await no_axe_violations(page, "the class-list page before an upload")
            await page.screenshot(path=str(SCREENSHOTS / "class-lists-phone.png"), full_page=True)

            # The bad file, from the keyboard: two rows refused, every problem listed.
            await upload_from_the_keyboard(page, bad)
            summary = page.locator("#summary")
            await expect(summary).to_be_focused(timeout=30_000)
            await expect(page.locator("#summary-lead")).to_have_text(
                "2 rows were not registered: fix them and upload the file again."
            )
            await expect(page.locator("#count-registered")).to_have_text(
                "Registered now: 2 (lines 2, 4)"
            )
            await expect(page.locator("#count-refused")).to_have_text(
                "Not registered (see the table): 2"
            )
            await expect(page.locator("#summary-notes")).to_contain_text("sis_id")
            cells = await page.locator("#errors-body tr").evaluate_all(
                "rows => rows.map(r => [...r.cells].slice(0, 3).map(c => c.textContent))"
            )
            assert cells == [
                ["3", "Cleo Tester", "grade"],
                ["3", "Cleo Tester", "home_lat"],
                ["5", "Dev Tester", "email"],
            ], cells
            table = page.get_by_role("region", name="Rows not registered")
            await expect(table).to_be_visible()
            await no_sideways_scroll(page)
            await no_axe_violations(page, "a class list's results with refused rows")
            await page.screenshot(
                path=str(SCREENSHOTS / "class-lists-errors-phone.png"), full_page=True
            )

            # The errors as a CSV file, named after the list.
            async with page.expect_download() as downloading:
                await page.get_by_role("button", name="Download the errors as CSV").click()
            download = await downloading.value
            assert download.suggested_filename == "class-list-errors-Spring-roster.csv"
            rows = list(csv.DictReader(io.StringIO(await text_of(download))))
            assert [(r["line"], r["column"], r["student"]) for r in rows] == [
                ("3", "grade", "Cleo Tester"),
                ("3", "home_lat", "Cleo Tester"),
                ("5", "email", "Dev Tester"),
            ]
            assert all(r["message"] for r in rows)
            await expect(page.locator("#download-status")).to_have_text(
                "Downloaded class-list-errors-Spring-roster.csv."
            )

            # The corrected file: the two left are registered, the first two already were.
            await page.set_viewport_size(DESKTOP)
            await page.locator("#class-file").set_input_files(fixed)
            await page.get_by_role("button", name="Upload and register").click()
            await expect(page.locator("#results-title")).to_have_text(
                "Results for spring-roster-fixed.csv", timeout=30_000
            )
            await expect(summary).to_be_focused()
            await expect(page.locator("#count-registered")).to_have_text(
                "Registered now: 2 (lines 3, 5)"
            )
            await expect(page.locator("#count-already")).to_have_text(
                "Already registered, left as they were: 2 (lines 2, 4)"
            )
            await expect(page.locator("#refused")).to_be_hidden()
            await no_axe_violations(page, "a corrected class list's results")
            await page.screenshot(
                path=str(SCREENSHOTS / "class-lists-registered-desktop.png"), full_page=True
            )

            # The same file again: nobody twice.
            await page.get_by_role("button", name="Upload and register").click()
            await expect(page.locator("#count-already")).to_have_text(
                "Already registered, left as they were: 4 (lines 2, 3, 4, 5)", timeout=30_000
            )
            await expect(page.locator("#count-registered")).to_have_text("Registered now: 0")
            await expect(page.locator("#summary-lead")).to_have_text(
                "Every student in the file is registered."
            )
            listed = await http.get(
                f"{system.registry}/v1/students",
                params={"size": 200},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert sorted(s["first_name"] for s in listed.json()) == ["Ana", "Ben", "Cleo", "Dev"]
        finally:
            await withdraw_everyone(http, system, token)


async def test_an_empty_or_non_csv_file_is_refused_with_a_reason_and_the_sample_fits(
    system: System, browser: Browser, tmp_path: Path
) -> None:
    school = fresh_school("upload")
    async with httpx.AsyncClient(timeout=30) as http:
        token = await new_coordinator(http, system, school)
        columns = (await http.get(f"{system.registry}/v1/reference/class-list-columns")).json()
    page = await browser.new_page(viewport=PHONE, accept_downloads=True)
    await sign_in_at(page, system, "/class-lists", token)
    await expect(page.locator("#columns-body tr")).to_have_count(len(columns), timeout=20_000)
    field = page.get_by_label("Class list (a CSV file)")
    error = page.locator("#class-file-error")

    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    await field.set_input_files(empty)
    await page.get_by_role("button", name="Upload and register").click()
    await expect(error).to_contain_text("This file is empty")
    await expect(field).to_have_attribute("aria-invalid", "true")
    await expect(field).to_be_focused()

    workbook = tmp_path / "roster.xlsx"
    workbook.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    await field.set_input_files(workbook)
    await page.get_by_role("button", name="Upload and register").click()
    await expect(error).to_contain_text('"roster.xlsx" is not a CSV file')
    # Named .csv but a workbook inside: notifier says so.
    disguised = tmp_path / "roster.csv"
    disguised.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    await field.set_input_files(disguised)
    await page.get_by_role("button", name="Upload and register").click()
    await expect(error).to_contain_text("This file is an Excel workbook (.xlsx), not a CSV file")
    # Headers that are not a class list's: registry names the missing columns.
    other = tmp_path / "other.csv"
    other.write_text("name,phone\nAna,555\n")
    await field.set_input_files(other)
    await page.get_by_role("button", name="Upload and register").click()
    await expect(error).to_contain_text("The header lacks column(s)")
    await no_axe_violations(page, "a refused upload")

    async with page.expect_download() as downloading:
        await page.get_by_role("button", name="Download a sample class list (CSV)").click()
    sample = await downloading.value
    assert sample.suggested_filename == "class-list-sample.csv"
    text = await text_of(sample)
    [header, example] = list(csv.reader(io.StringIO(text)))
    assert header == [c["column"] for c in columns]
    assert example[0] == school
