"""Why-not for the student's coordinator: in words (names not codes, openings by title and
employer, where the student stands, what would change it), and through the API for their own
schools' students only (another school's: 404; an employer's key or none: 401)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI

from tests.unit.test_matcher_domain import FAR, opening, student
from tests.unit.test_matcher_handlers import dirty_round, publish, register
from wbl_common.directory import CoordinatorIdentity
from wbl_matcher.app import create_app
from wbl_matcher.config import MatcherSettings
from wbl_matcher.domain import Proposal, SeatsView, Standing
from wbl_matcher.handlers import Matcher
from wbl_matcher.store import InMemoryMatcherStore
from wbl_matcher.why_not import WhyNotCache
from wbl_matcher.why_not_words import Names, verdict
from wbl_schemas.events import HiringPreferences, Place, StudentRegistered
from wbl_schemas.reference import load_reference

pytestmark = pytest.mark.unit

NAMES = Names.of(load_reference())
ADMIN = "admin-" + "a" * 30
TOKENS = {
    "coo-own": CoordinatorIdentity("coo_own", ("sch_1",), "Own"),
    "coo-other": CoordinatorIdentity("coo_other", ("sch_2",), "Other"),
}
NEAR_40 = Place(town="Worcester", lat=42.64 - 0.3, lon=-71.31)  # about 33 km south


def test_a_field_without_openings_is_named_and_says_what_would_change_it() -> None:
    said = verdict(Standing(student("s1", ("culinary-arts",))), SeatsView(()), {}, NAMES)
    assert said.state == "unmatched"
    assert said.summary == "No opening in Culinary Arts this season."
    assert "as soon as an employer posts an opening in Culinary Arts" in said.changes[0]


def test_openings_out_of_reach_only_by_distance_say_how_far_would_do() -> None:
    o1 = opening("o1").model_copy(update={"location": NEAR_40, "employer_name": "Acme"})
    o2 = opening("o2").model_copy(update={"location": NEAR_40})
    standing = Standing(student("s1").model_copy(update={"max_commute_km": 25}))
    said = verdict(standing, SeatsView((o1, o2)), {}, NAMES)
    assert said.state == "unmatched"
    assert said.summary == "No opening in Cybersecurity within 25 km; 2 would be within 35 km."
    assert said.changes == (
        "With a commute limit of 35 km the next round would consider 2 more openings.",
    )
    assert said.details[0].startswith("Intern at Acme · Worcester: 33 km away")
    assert all("o1" not in line and "cybersecurity" not in line for line in said.details)


def test_a_seat_held_by_preferred_students_says_whom_the_employer_prefers() -> None:
    prefs = HiringPreferences(
        partner_programs=("chapter-74",), preferred_credentials=("osha-10-general",)
    )
    o1 = opening("o1").model_copy(update={"hiring_preferences": prefs, "employer_name": "Acme"})
    said = verdict(Standing(student("s1")), SeatsView((o1,), {"o1": 1}), {}, NAMES)
    assert said.state == "unmatched"
    assert said.summary == "Every seat in Cybersecurity that fits the student is taken."
    (preference,) = [c for c in said.changes if "preference" in c]
    assert preference.startswith("Intern at Acme · Lowell gives preference to students of ")
    assert "chapter-74" not in preference and "osha-10-general" not in preference


def test_waiting_offered_placed_and_withdrawn_are_told_apart() -> None:
    seats = SeatsView((opening("o1").model_copy(update={"employer_name": "Acme"}),))
    offer = Proposal("m", "r", "s1", "sch_1", "o1", "emp_1", "cybersecurity")
    assert verdict(Standing(student("s1"), offer=offer), seats, {}, NAMES).summary == (
        "Has an offer awaiting your decision: Intern at Acme · Lowell."
    )
    assert verdict(Standing(student("s1"), placed_at="o1"), seats, {}, NAMES).state == "placed"
    assert verdict(Standing(None, withdrawn=True), seats, {}, NAMES).state == "withdrawn"
    assert verdict(Standing(None), seats, {}, NAMES).state == "waiting"
    pending = verdict(Standing(student("s1")), seats, {}, NAMES, pending=True)
    assert (pending.state, pending.summary) == (
        "waiting",
        "Waiting for the next round, which considers the student shortly.",
    )
    main = datetime(2027, 3, 1, 9, tzinfo=UTC)
    gathering = verdict(Standing(student("s1")), seats, {}, NAMES, main_round_at=main)
    assert gathering.state == "waiting" and "main round on 1 March 2027" in gathering.summary


class Directory:
    async def identify(self, token: str) -> CoordinatorIdentity | None:
        return TOKENS.get(token)


@pytest.fixture
async def http() -> AsyncIterator[tuple[httpx.AsyncClient, Matcher]]:
    store = InMemoryMatcherStore()
    matcher = Matcher(store=store, related={}, seed=7)
    await publish(matcher, "o1")
    await register(matcher, "s1", "s2")
    far = student("s3").model_copy(update={"home": FAR})
    await matcher.on_student_event(StudentRegistered(producer="t", payload=far))
    await dirty_round(matcher, store)
    app: FastAPI = create_app(MatcherSettings.model_validate({"WBL_ADMIN_TOKEN": ADMIN}))
    app.state.matcher = SimpleNamespace(store=store, related={}, why_not_cache=WhyNotCache())
    app.state.directory = Directory()
    app.state.names = NAMES
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://m") as c:
        yield c, matcher


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_why_not_in_the_authorisation_matrix(
    http: tuple[httpx.AsyncClient, Matcher],
) -> None:
    client, _ = http
    for who, status in (("coo-own", 200), (ADMIN, 200), ("coo-other", 404), ("emp_key", 401)):
        response = await client.get("/v1/students/s3/why-not", headers=bearer(who))
        assert response.status_code == status, (who, response.text)
    assert (await client.get("/v1/students/s3/why-not")).status_code == 401
    body = (await client.get("/v1/students/s3/why-not", headers=bearer("coo-own"))).json()
    assert body["in_words"]["state"] == "unmatched"
    assert "within 30 km" in body["in_words"]["summary"]
    unknown = await client.get("/v1/students/nobody/why-not", headers=bearer("coo-own"))
    assert unknown.status_code == 404
    # Admin-only calls stay admin-only.
    assert (await client.get("/v1/rounds/latest", headers=bearer("coo-own"))).status_code == 403


async def test_a_page_of_students_is_answered_at_once_for_the_callers_schools_only(
    http: tuple[httpx.AsyncClient, Matcher],
) -> None:
    client, _ = http
    ids = {"student_ids": ["s3", "s1", "s2", "nobody"]}
    own = await client.post("/v1/students/why-not", json=ids, headers=bearer("coo-own"))
    assert own.status_code == 200, own.text
    answers = own.json()
    assert [a["student_id"] for a in answers] == ["s3", "s1", "s2"]
    assert {a["in_words"]["state"] for a in answers} == {"unmatched", "offered"}
    other = await client.post("/v1/students/why-not", json=ids, headers=bearer("coo-other"))
    assert other.status_code == 200 and other.json() == []
    for who, status in (("emp_key", 401), ("", 401)):
        headers = bearer(who) if who else {}
        refused = await client.post("/v1/students/why-not", json=ids, headers=headers)
        assert refused.status_code == status
    too_many = {"student_ids": [f"s{i}" for i in range(101)]}
    refused = await client.post("/v1/students/why-not", json=too_many, headers=bearer("coo-own"))
    assert refused.status_code == 422
