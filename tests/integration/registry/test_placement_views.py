"""The coordinator's placements list (`GET /v1/placements`) over real FerretDB and Kafka:
a coordinator sees only their schools' confirmed placements, each with what it still needs
in words (agreement, signatures, permit, hours behind, evaluation due), each filter keeps
exactly those, `counts` covers the whole scope, and the cursor pages without gaps or
repeats."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.registry.conftest import RunningRegistry
from tests.integration.registry.test_placements import SUPERVISOR, agreement_body, at, sign
from tests.support import fresh_school
from tests.unit.registry.builders import opening_body, proposed, student_body
from tests.unit.registry.conftest import ADMIN_TOKEN, bearer

pytestmark = pytest.mark.integration

ADULT_BORN = "2008-01-15"  # 19 when the placements start in the summer of 2027
# After the midpoint of 1 June - 31 August 2027, before that of 20 July - 31 August.
EARLY_AUGUST = datetime(2027, 8, 2, 15, 0, tzinfo=UTC)


@dataclass
class Desk:
    """One coordinator's school, its employer, and a way to place students there."""

    running: RunningRegistry
    school: str
    token: dict[str, str]
    employer: dict[str, str]

    async def placed(self, first: str, adult: bool = False, **opening: Any) -> str:
        """A student confirmed at an opening of their own (so each takes its seat)."""
        http = self.running.http
        made = await http.post(
            "/v1/openings",
            json=opening_body(seats=1, **opening),
            headers=bearer(self.employer["api_key"]),
        )
        assert made.status_code == 201, made.text
        born = {"date_of_birth": ADULT_BORN} if adult else {}
        student = await http.post(
            "/v1/students", json=student_body(self.school, first, **born), headers=self.token
        )
        assert student.status_code == 201, student.text
        proposal = proposed(
            student.json()["id"], self.school, made.json()["id"], self.employer["id"]
        )
        await self.running.registry.on_match_event(proposal)
        match_id = proposal.payload.match_id
        done = await http.post(f"/v1/matches/{match_id}/confirm", headers=self.token)
        assert done.status_code == 200, done.text
        return match_id

    async def issue(self, match_id: str, adult: bool = False) -> None:
        body = agreement_body()
        if adult:
            body.pop("guardian")
        issued = await self.running.http.post(
            f"/v1/placements/{match_id}/agreement", json=body, headers=self.token
        )
        assert issued.status_code == 200, issued.text

    async def sign_all(self, match_id: str) -> None:
        got = await self.running.http.get(f"/v1/placements/{match_id}/links", headers=self.token)
        assert got.status_code == 200, got.text
        for link in got.json():
            signed = await sign(self.running, link["link"], "Someone Signing")
            assert signed.status_code == 200, signed.text

    async def listing(self, **query: Any) -> dict[str, Any]:
        got = await self.running.http.get("/v1/placements", params=query, headers=self.token)
        assert got.status_code == 200, got.text
        body: dict[str, Any] = got.json()
        return body


async def desk(running: RunningRegistry) -> Desk:
    school = fresh_school("desk")
    coordinator = await running.coordinator(school)
    return Desk(running, school, bearer(coordinator["token"]), await running.employer("Acme"))


def ids(listing: dict[str, Any]) -> list[str]:
    return [p["match_id"] for p in listing["placements"]]


def needs_of(listing: dict[str, Any], match_id: str) -> dict[str, str]:
    found = next(p for p in listing["placements"] if p["match_id"] == match_id)
    return {n["need"]: n["text"] for n in found["needs"]}


async def test_a_coordinator_sees_their_schools_placements_and_what_each_needs(
    running: RunningRegistry,
) -> None:
    ours, theirs = await desk(running), await desk(running)
    unissued = await ours.placed("Una")
    unsigned = await ours.placed("Sig")
    await ours.issue(unsigned)
    adult = await ours.placed("Ada", adult=True)
    await ours.issue(adult, adult=True)
    await ours.sign_all(adult)
    unpermitted = await ours.placed("Per")
    await ours.issue(unpermitted)
    await ours.sign_all(unpermitted)
    elsewhere = await theirs.placed("Ela")

    listing = await ours.listing()
    assert ids(listing) == sorted([unissued, unsigned, adult, unpermitted])
    assert elsewhere not in ids(listing)
    assert listing["total"] == 4 and listing["matching"] == 4 and listing["next_after"] is None
    assert listing["counts"] == {
        "agreement": 1,
        "signatures": 1,
        "permit": 3,
        "hours": 0,
        "evaluation": 0,
    }
    first = next(p for p in listing["placements"] if p["match_id"] == unissued)
    assert first["student_name"] == "Una Zyxwvuts"
    assert first["opening_title"] == "Robotics intern" and first["employer_name"] == "Acme"
    assert first["stage"] == "awaiting-agreement" and first["minor_at_start"] is True
    assert first["paid"] is True and first["starts_on"] == "2027-06-01"
    assert needs_of(listing, unissued) == {
        "agreement": "No training agreement yet: issue it with the supervisor's details.",
        "permit": "No work permit on file: the student is under 18 at the start. Record it "
        "once the superintendent's office has issued it.",
    }
    still = needs_of(listing, unsigned)["signatures"]
    assert still == (
        "Still to sign the agreement: the school (you or another coordinator), the "
        f"employer's supervisor ({SUPERVISOR['name']}), the student (Sig Zyxwvuts), the "
        "parent or guardian (Rosa Quenby)."
    )
    assert needs_of(listing, adult) == {}
    assert set(needs_of(listing, unpermitted)) == {"permit"}

    for need, wanted in (
        ("agreement", [unissued]),
        ("signatures", [unsigned]),
        ("permit", sorted([unissued, unsigned, unpermitted])),
        ("hours", []),
        ("evaluation", []),
    ):
        kept = await ours.listing(needs=need)
        assert ids(kept) == wanted, need
        assert kept["matching"] == len(wanted) and kept["counts"] == listing["counts"]

    # Theirs sees only theirs; the admin sees every school's.
    assert ids(await theirs.listing()) == [elsewhere]
    everyone = await running.http.get("/v1/placements", headers=bearer(ADMIN_TOKEN))
    assert everyone.status_code == 200, everyone.text
    assert set(ids(everyone.json())) >= {unissued, unsigned, adult, unpermitted, elsewhere}
    narrowed = await running.http.get(
        "/v1/placements", params={"school_id": theirs.school}, headers=bearer(ADMIN_TOKEN)
    )
    assert ids(narrowed.json()) == [elsewhere]


async def test_hours_behind_and_evaluations_due_count_once_a_placement_may_start(
    running: RunningRegistry,
) -> None:
    ours = await desk(running)
    started = await ours.placed("Ada", adult=True)
    late = await ours.placed("Lou", adult=True, starts_on="2027-07-20")
    waiting = await ours.placed("Wen")  # a minor with neither agreement nor permit
    for match_id in (started, late):
        await ours.issue(match_id, adult=True)
        await ours.sign_all(match_id)

    at(running, EARLY_AUGUST)
    listing = await ours.listing()
    assert listing["counts"] == {
        "agreement": 1,
        "signatures": 0,
        "permit": 1,
        "hours": 2,
        "evaluation": 1,
    }
    behind = needs_of(listing, started)
    assert re.fullmatch(
        r"\d+(\.\d+)? hours behind: expected by today and not yet verified by the employer's "
        rf"supervisor \({SUPERVISOR['name']}\)\.",
        behind["hours"],
    ), behind["hours"]
    assert behind["evaluation"] == (
        f"Midpoint evaluation due from the employer's supervisor ({SUPERVISOR['name']})."
    )
    assert set(needs_of(listing, late)) == {"hours"}  # its midpoint is still ahead
    assert set(needs_of(listing, waiting)) == {"agreement", "permit"}  # nothing to log yet
    assert ids(await ours.listing(needs="hours")) == sorted([started, late])
    assert ids(await ours.listing(needs="evaluation")) == [started]


async def test_the_list_pages_by_cursor_and_refuses_what_it_cannot_answer(
    running: RunningRegistry,
) -> None:
    ours = await desk(running)
    placed = sorted([await ours.placed(f"Pag{n}") for n in range(5)])
    await ours.issue(placed[0])

    seen: list[str] = []
    after: str | None = None
    while True:
        query: dict[str, Any] = {"limit": 2, **({"after": after} if after else {})}
        got = await running.http.get("/v1/placements", params=query, headers=ours.token)
        assert got.status_code == 200, got.text
        page = got.json()
        assert len(page["placements"]) <= 2
        assert page["counts"]["agreement"] == 4 and page["counts"]["signatures"] == 1
        assert page["total"] == 5
        seen += ids(page)
        after = page["next_after"]
        if after is None:
            assert "link" not in got.headers
            break
        assert (
            got.headers["link"].endswith('rel="next"') and f"after={after}" in got.headers["link"]
        )
    assert seen == placed

    kept = await ours.listing(needs="agreement", limit=3)
    assert ids(kept) == placed[1:4] and kept["matching"] == 4
    rest = await ours.listing(needs="agreement", limit=3, after=kept["next_after"])
    assert ids(rest) == placed[4:] and rest["next_after"] is None

    for query, field in (
        ({"needs": "paperwork"}, "needs"),
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"after": "m" * 65}, "after"),
    ):
        refused = await running.http.get("/v1/placements", params=query, headers=ours.token)
        assert refused.status_code == 422, (query, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert any(field in e["field"] for e in refused.json()["errors"]), refused.text
    unknown = await running.http.get("/v1/placements?needs=paperwork", headers=ours.token)
    assert "agreement" in unknown.text and "evaluation" in unknown.text  # the choices named

    other = fresh_school("desk")
    refused = await running.http.get(
        "/v1/placements", params={"school_id": other}, headers=ours.token
    )
    assert refused.status_code == 403, refused.text
    assert other in refused.json()["detail"]
    employer = await running.http.get("/v1/placements", headers=bearer(ours.employer["api_key"]))
    assert employer.status_code == 403, employer.text
