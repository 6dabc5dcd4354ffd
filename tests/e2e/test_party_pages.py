"""The pages a party acts from with an emailed link, in a real browser (Debian's chromium,
Playwright) against the three services as processes: the agreement page signs (and a second
tab's replay is told the link was used), the hours page logs a day and shows a refusal over
the minors' limit in the rule's words, the verify page verifies a week as registry then
holds it. Each at a phone's width with no sideways scroll, from the keyboard, axe-core clean.

A placement starting today (the services run on the real clock, and hours are logged only
once their day has come): the student is matched by the matcher, confirmed by the
coordinator, and the agreement issued; the other parties sign through registry's API."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import System
from tests.e2e.test_class_list_page import no_sideways_scroll
from tests.e2e.test_flow import student_body
from tests.e2e.test_inbox_craft import inbox_has, no_axe_violations
from tests.e2e.test_inbox_page import SCREENSHOTS, browser
from tests.e2e.test_settings_page import PHONE
from tests.support import eventually, fresh_school
from wbl_common.secrets import derive_secret

pytestmark = pytest.mark.e2e
__all__ = ["browser"]  # the fixture, shared

SUPERVISOR = {"name": "Pat Lindqvist", "email": "pat.lindqvist@acme.example.org"}
GUARDIAN = {"name": "Rosa Tester", "email": "rosa.tester@family.example.org"}
NAMES = {
    "school": "Dana Rivera",
    "employer": "Pat Lindqvist",
    "student": "Quinn Tester",
    "guardian": "Rosa Tester",
}


@dataclass
class Placement:
    match_id: str
    token: str  # the coordinator's
    links: dict[str, str]  # "action:party" -> link

    @property
    def mine(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def placement(
    http: httpx.AsyncClient, system: System, field: str, *, started: bool, days: int = 7
) -> Placement:
    """A 17-year-old confirmed at an opening of `days` days in `field` that starts today, its
    agreement issued; `started`: signed by all four parties and the permit recorded."""
    today = date.today()
    school = fresh_school("party")
    employer = (
        await http.post(
            f"{system.registry}/v1/employers", json={"name": "Acme Auto"}, headers=system.admin
        )
    ).json()
    created = await http.post(
        f"{system.registry}/v1/coordinators",
        json={"name": NAMES["school"], "school_ids": [school]},
        headers=system.admin,
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    opening = await http.post(
        f"{system.registry}/v1/openings",
        json={
            "title": "Shop assistant",
            "career_field": field,
            "seats": 1,
            "location": {"town": "Lowell", "lat": 42.6334, "lon": -71.3162},
            "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=days - 1)).isoformat(),
            "hours_per_week": 16,
            "paid": True,
        },
        headers={"Authorization": f"Bearer {employer['api_key']}"},
    )
    assert opening.status_code == 201, opening.text
    student = student_body("Quinn", field) | {
        "school_id": school,
        "available_from": today.isoformat(),
        "available_to": (today + timedelta(days=90)).isoformat(),
        "date_of_birth": date(today.year - 17, 1, 15).isoformat(),
    }
    mine = {"Authorization": f"Bearer {token}"}
    registered = await http.post(f"{system.registry}/v1/students", json=student, headers=mine)
    assert registered.status_code == 201, registered.text
    [match] = await eventually(
        lambda: inbox_has(http, system, token), within=60, what="the match in the inbox"
    )
    match_id = match["match_id"]
    path = f"{system.registry}/v1/placements/{match_id}"
    confirmed = await http.post(f"{system.registry}/v1/matches/{match_id}/confirm", headers=mine)
    assert confirmed.status_code == 200, confirmed.text
    agreement = {
        "supervisor": SUPERVISOR,
        "safety_training": "Shop safety induction",
        "hourly_wage": "16.50",
        "guardian": GUARDIAN,
    }
    issued = await http.post(f"{path}/agreement", json=agreement, headers=mine)
    assert issued.status_code == 200, issued.text
    found = Placement(match_id, token, await links(http, path, mine))
    if started:
        for p, name in NAMES.items():
            signed = await http.post(
                f"{system.registry}/v1/party/agreement/sign",
                json={"link": found.links[f"sign-agreement:{p}"], "name": name},
            )
            assert signed.status_code == 200, signed.text
        permit = {"number": "WP-1", "issued_by": "Lowell Public Schools", "issued_on": str(today)}
        recorded = await http.put(f"{path}/permit", json=permit, headers=mine)
        assert recorded.status_code == 200, recorded.text
        assert recorded.json()["stage"] == "ready", recorded.text
        found.links = await links(http, path, mine)
    return found


async def links(http: httpx.AsyncClient, path: str, mine: dict[str, str]) -> dict[str, str]:
    got = await http.get(f"{path}/links", headers=mine)
    assert got.status_code == 200, got.text
    return {f"{x['action']}:{x['party']}": x["link"] for x in got.json()}


async def placement_state(
    http: httpx.AsyncClient, system: System, placed: Placement, tail: str = ""
) -> dict[str, Any]:
    got = await http.get(
        f"{system.registry}/v1/placements/{placed.match_id}{tail}", headers=placed.mine
    )
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


async def tab_to(page: Page, element_id: str) -> None:
    """Tab from the top of the page to the element, as a keyboard user does; its focus is
    visible (an outline drawn)."""
    await page.locator("h1").click()
    for _ in range(40):
        if await page.evaluate("document.activeElement.id") == element_id:
            break
        await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == element_id
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), f"no visible focus on #{element_id}"


def expired_link(system: System, fields: list[str]) -> str:
    """A signing link as registry makes them (its key, derived from the system's webhook
    key as registry derives it), dated 15 days ago: past the 14 days a link works."""

    class FifteenDaysAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 15 * 24 * 3600

    key = derive_secret(system.webhook_key, "party-link", "registry")
    old = URLSafeTimedSerializer(key, salt="wbl-registry.party-link", signer=FifteenDaysAgo)
    return old.dumps([*fields, "nonce1"])


def day_words(day: date) -> str:
    """As the pages write a day: Wed 2 Dec 2026."""
    return f"{day:%a} {day.day} {day:%b %Y}"


async def test_the_agreement_page_signs_once_and_a_replay_is_told_the_link_was_used(
    system: System, browser: Browser
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        placed = await placement(http, system, "dental-assisting", started=False)
        link = placed.links["sign-agreement:guardian"]
        page = await browser.new_page(viewport=PHONE)
        await page.goto(f"{system.notifier}/agreement#{link}")
        await expect(page.get_by_role("heading", level=2)).to_have_text(
            "You sign as Quinn Tester's parent or guardian", timeout=20_000
        )
        assert "#" not in page.url  # the link left the address bar
        about = page.get_by_role("region", name="Whose placement this is")
        await expect(about).to_contain_text("Quinn Tester")
        await expect(about).to_contain_text("Shop assistant")
        await expect(about).to_contain_text("Acme Auto")
        await expect(page.locator("#agreement-text")).to_contain_text("Shop safety induction")
        await expect(page.locator("#still-to-sign")).to_contain_text(
            "Still to sign: the employer's supervisor, the parent or guardian, the school, "
            "the student."
        )
        await no_axe_violations(page, "the agreement page")
        await no_sideways_scroll(page)
        await page.screenshot(path=str(SCREENSHOTS / "party-agreement-phone.png"), full_page=True)

        # Printed: the text and who signed, no form or buttons.
        await page.emulate_media(media="print")
        await expect(page.locator("#sign-form")).to_be_hidden()
        await expect(page.locator("#agreement-text")).to_be_visible()
        await page.emulate_media(media="screen")

        # A second tab holds the same link, opened before anyone signs.
        other = await browser.new_page(viewport=PHONE)
        await other.goto(f"{system.notifier}/agreement#{link}")
        await expect(other.get_by_label("Your full name")).to_be_visible(timeout=20_000)

        # From the keyboard: a name but no tick is refused beside the box, nothing sent.
        await tab_to(page, "signer-name")
        await page.keyboard.type("Rosa Tester")
        await page.keyboard.press("Enter")
        await expect(page.locator("#agree-error")).to_have_text(
            "Tick the box to say you have read and agree to the agreement."
        )
        await expect(page.get_by_label("I have read and agree")).to_be_focused()
        state = await placement_state(http, system, placed)
        assert state["agreement"]["signed"] == []
        await page.keyboard.press("Space")
        await page.keyboard.press("Tab")
        await expect(page.get_by_role("button", name="Sign the agreement")).to_be_focused()
        await page.keyboard.press("Enter")
        signed = page.locator("#you-signed")
        await expect(signed).to_contain_text("Signed by you on")
        await expect(signed).to_contain_text("as Rosa Tester")
        await expect(signed).to_be_focused()
        await expect(page.locator("#live")).to_contain_text("Signed by you on")
        await expect(page.locator("#sign-form")).to_be_hidden()
        await expect(page.locator("#signed")).to_contain_text(
            "The parent or guardian: Rosa Tester, signed"
        )
        state = await placement_state(http, system, placed)
        assert [(s["party"], s["name"]) for s in state["agreement"]["signed"]] == [
            ("guardian", "Rosa Tester")
        ]
        await no_axe_violations(page, "the agreement page once signed")
        await page.reload()  # the link stays for this tab
        await expect(signed).to_contain_text("Signed by you on", timeout=20_000)

        # The replay from the other tab: told the link was used, nothing signed twice.
        await other.get_by_label("Your full name").fill("Someone Else")
        await other.get_by_label("I have read and agree").check()
        await other.get_by_role("button", name="Sign the agreement").click()
        replay = other.locator("#sign-result")
        await expect(replay).to_contain_text("This link was already used. The guardian signed on")
        await expect(replay).to_be_focused()
        state = await placement_state(http, system, placed)
        assert [s["name"] for s in state["agreement"]["signed"]] == ["Rosa Tester"]
        await no_axe_violations(other, "the agreement page after a replay")

        # A link that is not one: said in words, and nothing else shown.
        await other.goto(f"{system.notifier}/agreement#{link[:-4]}abcd")
        await expect(other.locator("#refused-title")).to_have_text("This link is not valid.")
        await expect(other.locator("#agreement")).to_be_hidden()
        await no_axe_violations(other, "the agreement page with a bad link")

        # An expired one: said so, with what to do.
        text_hash = state["agreement"]["text_hash"]
        late = expired_link(system, ["sign-agreement", placed.match_id, "student", text_hash])
        await other.goto(f"{system.notifier}/agreement#{late}")
        await expect(other.locator("#refused-title")).to_have_text("This link has expired.")
        await expect(other.locator("#refused-detail")).to_have_text(
            "Ask the school's coordinator for a new one."
        )
        await expect(other.locator("#refused")).to_be_focused()


async def test_the_hours_page_logs_a_day_and_shows_a_refusal_over_the_minors_limit(
    system: System, browser: Browser
) -> None:
    today = date.today()
    monday = today - timedelta(days=today.weekday())
    async with httpx.AsyncClient(timeout=10) as http:
        placed = await placement(http, system, "sheet-metal", started=True)
        page = await browser.new_page(viewport=PHONE)
        await page.goto(f"{system.notifier}/hours#{placed.links['log-hours:student']}")
        await expect(page.locator("#week-title")).to_have_text(
            f"Week of {day_words(monday)}", timeout=20_000
        )
        await expect(page.locator("#about")).to_contain_text("Quinn Tester")
        await expect(page.locator("#week-status")).to_have_text("No hours logged this week yet.")
        await expect(page.get_by_label("Day")).to_have_value(today.isoformat())
        await expect(page.get_by_role("button", name="Previous week")).to_be_disabled()
        await no_axe_violations(page, "the hours page")
        await no_sideways_scroll(page)

        # From the keyboard: 6.5 hours today, saved, the week's table shows them.
        await tab_to(page, "log-hours")
        await page.keyboard.type("6.5")
        await page.keyboard.press("Enter")
        result = page.locator("#log-result")
        await expect(result).to_have_text(
            f"Saved: 6.5 hours on {day_words(today)}. The week now has 6.5 hours."
        )
        await expect(result).to_be_focused()
        row = page.locator("#week-days tr").nth(today.weekday())
        await expect(row).to_contain_text("6.5 hours")
        await expect(page.locator("#week-total")).to_have_text("6.5 hours")

        # A correction to 10 hours: over the limit for 16-17 year olds, in the rule's words
        # beside the field; registry keeps the 6.5.
        hours = page.get_by_label("Hours worked")
        await hours.fill("10")
        await page.get_by_role("button", name="Save hours").click()
        refusal = page.locator("#log-hours-error")
        await expect(refusal).to_have_text(
            "Over the limit for Ages 16-17 (Massachusetts): at most 9 hours a day; "
            "this entry is 10 hours."
        )
        await expect(hours).to_have_attribute("aria-invalid", "true")
        await expect(hours).to_be_focused()
        await expect(page.locator("#live")).to_contain_text("Not saved. Over the limit")
        week = await placement_state(http, system, placed, f"/hours?week={today}")
        assert [(d["day"], d["hours"]) for d in week["days"]] == [(today.isoformat(), 6.5)]
        await no_axe_violations(page, "the hours page with a refusal")
        await no_sideways_scroll(page)

        # The week after, if the placement reaches it.
        following = page.get_by_role("button", name="Next week")
        if today + timedelta(days=6) > monday + timedelta(days=6):
            await following.click()
            await expect(page.locator("#week-title")).to_have_text(
                f"Week of {day_words(monday + timedelta(days=7))}"
            )
            await expect(page.locator("#week-title")).to_be_focused()
            await expect(page.locator("#week-total")).to_have_text("0 hours")
        else:
            await expect(following).to_be_disabled()
        await page.screenshot(path=str(SCREENSHOTS / "party-hours-phone.png"), full_page=True)


async def test_the_verify_page_verifies_the_week_as_registry_then_holds_it(
    system: System, browser: Browser
) -> None:
    today = date.today()
    async with httpx.AsyncClient(timeout=10) as http:
        placed = await placement(http, system, "diesel-technology", started=True)
        logged = await http.post(
            f"{system.registry}/v1/party/hours",
            json={"link": placed.links["log-hours:student"], "day": str(today), "hours": "4"},
        )
        assert logged.status_code == 200, logged.text
        path = f"{system.registry}/v1/placements/{placed.match_id}"
        link = (await links(http, path, placed.mine))["verify-week:employer"]
        page = await browser.new_page(viewport=PHONE)
        await page.goto(f"{system.notifier}/verify#{link}")
        await expect(page.locator("#week-total")).to_have_text("4 hours", timeout=20_000)
        await expect(page.locator("#week-days tr").nth(today.weekday())).to_contain_text("4 hours")
        await expect(page.locator("#verify-help")).to_contain_text(
            "you confirm that Quinn Tester worked these hours at Acme Auto"
        )
        await no_axe_violations(page, "the verify page")
        await no_sideways_scroll(page)
        await page.screenshot(path=str(SCREENSHOTS / "party-verify-phone.png"), full_page=True)

        await tab_to(page, "verify")
        await page.keyboard.press("Enter")
        result = page.locator("#verify-result")
        await expect(result).to_contain_text("Verified, thank you.")
        await expect(result).to_be_focused()
        await expect(page.get_by_role("button", name="Verify these hours")).to_be_hidden()
        week = await placement_state(http, system, placed, f"/hours?week={today}")
        assert week["verified"] is True and week["total"] == 4
        state = await placement_state(http, system, placed)
        assert state["hours"]["verified"] == 4
        await no_axe_violations(page, "the verify page once verified")

        # The same link again: the week is shown as verified, with nothing to press.
        await page.reload()
        await expect(result).to_have_text("These hours are verified. Nothing more is needed.")
        await expect(page.get_by_role("button", name="Verify these hours")).to_be_hidden()
        replay = await http.post(f"{system.notifier}/v1/party/week/verify", json={"link": link})
        assert replay.status_code == 410
        assert replay.json()["detail"] == "this link has already been used: the week is verified"


async def test_the_evaluate_page_rates_each_competency_and_completes_the_placement(
    system: System, browser: Browser
) -> None:
    """A one-day placement (its final evaluation due today): its 2.25 planned hours logged
    and verified, the supervisor's evaluation from the page completes it."""
    today = date.today()
    async with httpx.AsyncClient(timeout=10) as http:
        placed = await placement(http, system, "agricultural-mechanics", started=True, days=1)
        logged = await http.post(
            f"{system.registry}/v1/party/hours",
            json={"link": placed.links["log-hours:student"], "day": str(today), "hours": "3"},
        )
        assert logged.status_code == 200, logged.text
        path = f"{system.registry}/v1/placements/{placed.match_id}"
        week = (await links(http, path, placed.mine))["verify-week:employer"]
        verified = await http.post(f"{system.registry}/v1/party/week/verify", json={"link": week})
        assert verified.status_code == 200, verified.text
        link = (await links(http, path, placed.mine))["evaluate:employer"]
        assert (await placement_state(http, system, placed))["stage"] == "under-way"

        page = await browser.new_page(viewport=PHONE)
        await page.goto(f"{system.notifier}/evaluate#{link}")
        title = page.locator("#evaluation-title")
        await expect(title).to_have_text("Final evaluation of Quinn Tester", timeout=20_000)
        fieldsets = page.locator("fieldset.competency")
        count = await fieldsets.count()
        assert count >= 3
        await no_axe_violations(page, "the evaluate page")
        await no_sideways_scroll(page)

        # Nothing rated: each competency is marked, focus on the first one's first rating.
        await page.get_by_role("button", name="Submit the evaluation").click()
        await expect(page.locator("#evaluate-result")).to_contain_text("Not sent:")
        await expect(page.locator(".competency .field-error:not(:empty)")).to_have_count(count)
        first = fieldsets.first.locator("input[type=radio]").first
        await expect(first).to_be_focused()
        await no_axe_violations(page, "the evaluate page with its refusals")

        # From the keyboard: the arrow keys move along a point's ratings, Tab to the next.
        for n in range(count):
            radio = fieldsets.nth(n).locator("input[type=radio]").first
            await radio.focus()
            await page.keyboard.press("Space")
            await page.keyboard.press("ArrowDown")  # from 1 (Not yet) to 2
            await page.keyboard.press("ArrowDown")  # to 3 (Proficient)
        await page.get_by_label("Comment for the school (optional)").fill("Careful and keen.")
        await page.get_by_label("Your full name").fill("Pat Lindqvist")
        await page.get_by_label("Your full name").press("Enter")
        done = page.locator("#evaluation-done")
        await expect(done).to_have_text(
            "Submitted, thank you. The school has your evaluation of Quinn Tester."
        )
        await expect(done).to_be_focused()
        await page.screenshot(path=str(SCREENSHOTS / "party-evaluate-phone.png"), full_page=True)

        state = await placement_state(http, system, placed)
        assert state["stage"] == "complete", state
        assert [e["kind"] for e in state["evaluations"]] == ["final"]
        rated = await http.get(f"{path}/evaluations", headers=placed.mine)
        [evaluation] = rated.json()
        assert {r["value"] for r in evaluation["ratings"]} == {3}
        assert evaluation["comment"] == "Careful and keen."

        # The same link again: told it was submitted, nothing to fill in.
        await page.reload()
        await expect(done).to_have_text("This evaluation was submitted. Nothing more is needed.")
        await expect(page.locator("#evaluate-form")).to_be_hidden()
