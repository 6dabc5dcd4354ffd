"""A confirmed placement's life through the registry's HTTP API over real FerretDB and Kafka
(ADR 6): the agreement issued, each party signing by link, the events on wbl.placements,
the permit, hours within the minors' limits, and the links refused when replayed, expired,
tampered with or sent for an older text."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.integration.registry.conftest import RunningRegistry
from tests.support import fresh_school, read_topic
from tests.unit.registry.builders import opening_body, proposed, student_body
from tests.unit.registry.conftest import ADMIN_TOKEN, bearer
from wbl_registry.placements import Placements

pytestmark = pytest.mark.integration

# Inside the opening's dates (1 June to 31 August 2027): a Saturday in July, no school.
SUMMER = datetime(2027, 7, 10, 15, 0, tzinfo=UTC)
GUARDIAN = {"name": "Rosa Quenby", "email": "rosa.quenby@family.example.org"}
SUPERVISOR = {"name": "Pat Lindqvist", "email": "pat.lindqvist@acme.example.org"}


def agreement_body(
    training: str = "OSHA 10-Hour General Industry", **changes: Any
) -> dict[str, Any]:
    body = {
        "supervisor": SUPERVISOR,
        "safety_training": training,
        "hourly_wage": "16.50",
        "guardian": GUARDIAN,
    }
    return {**body, **changes}


@dataclass
class Placed:
    match_id: str
    student_id: str
    coordinator: dict[str, str]
    employer: dict[str, str]
    school: str

    @property
    def token(self) -> dict[str, str]:
        return bearer(self.coordinator["token"])

    @property
    def path(self) -> str:
        return f"/v1/placements/{self.match_id}"


async def confirmed(running: RunningRegistry, school: str, **student: Any) -> Placed:
    """A student at `school` confirmed at a new opening, the proposal handed to registry as
    its consumer of wbl.matches would."""
    employer = await running.employer("Acme Robotics")
    coordinator = await running.coordinator(school)
    token = bearer(coordinator["token"])
    opening = await running.http.post(
        "/v1/openings", json=opening_body(seats=1), headers=bearer(employer["api_key"])
    )
    assert opening.status_code == 201, opening.text
    created = await running.http.post(
        "/v1/students", json=student_body(school, "Quentin", **student), headers=token
    )
    assert created.status_code == 201, created.text
    proposal = proposed(created.json()["id"], school, opening.json()["id"], employer["id"])
    await running.registry.on_match_event(proposal)
    match_id = proposal.payload.match_id
    done = await running.http.post(f"/v1/matches/{match_id}/confirm", headers=token)
    assert done.status_code == 200, done.text
    return Placed(match_id, created.json()["id"], coordinator, employer, school)


def placements(running: RunningRegistry) -> Placements:
    found: Placements = running.app.state.placements
    return found


def at(running: RunningRegistry, moment: datetime) -> None:
    placements(running).clock = lambda: moment


async def links(running: RunningRegistry, placed: Placed) -> dict[str, str]:
    got = await running.http.get(f"{placed.path}/links", headers=placed.token)
    assert got.status_code == 200, got.text
    return {f"{x['action']}:{x['party']}": x["link"] for x in got.json()}


async def sign(running: RunningRegistry, link: str, name: str = "Someone") -> httpx.Response:
    return await running.http.post("/v1/party/agreement/sign", json={"link": link, "name": name})


async def issue(running: RunningRegistry, placed: Placed, **changes: Any) -> dict[str, Any]:
    issued = await running.http.post(
        f"{placed.path}/agreement", json=agreement_body(**changes), headers=placed.token
    )
    assert issued.status_code == 200, issued.text
    body: dict[str, Any] = issued.json()
    return body


def ours(match_id: str) -> Callable[[Any], bool]:
    return lambda r: json.loads(r.value)["payload"].get("match_id") == match_id


async def test_a_placement_is_signed_by_every_party_by_link_then_permitted_and_started(
    running: RunningRegistry, kafka_bootstrap: str
) -> None:
    placed = await confirmed(running, fresh_school("after"), program="chapter-74")  # CTE
    before = (await running.http.get(placed.path, headers=placed.token)).json()
    assert before["stage"] == "awaiting-agreement"
    assert before["why_not_started"] == ["No training agreement has been issued yet."]

    issued = await issue(running, placed)
    assert issued["stage"] == "awaiting-signatures"
    assert {p["party"] for p in issued["agreement"]["still_to_sign"]} == {
        "school",
        "employer",
        "student",
        "guardian",  # the student is 17 when the placement starts
    }
    assert "Rosa Quenby" in issued["stage_text"]
    sent = await links(running, placed)
    assert set(sent) == {
        f"sign-agreement:{p}" for p in ("school", "employer", "student", "guardian")
    }
    got = await running.http.get(f"{placed.path}/links", headers=placed.token)
    by_party = {x["party"]: x for x in got.json()}
    assert by_party["guardian"]["send_to"] == GUARDIAN
    assert by_party["employer"]["send_to"] == SUPERVISOR

    shown = await running.http.post(
        "/v1/party/agreement", json={"link": sent["sign-agreement:guardian"]}
    )
    assert shown.status_code == 200, shown.text
    assert "Signed for the guardian: Rosa Quenby" in shown.json()["text"]
    assert shown.json()["you_sign_for"] == "guardian"

    for party, name in (
        ("school", "Dana Coordinator"),
        ("employer", "Pat Lindqvist"),
        ("student", "Quentin Zyxwvuts"),
        ("guardian", "Rosa Quenby"),
    ):
        signed = await sign(running, sent[f"sign-agreement:{party}"], name)
        assert signed.status_code == 200, signed.text
    assert signed.json()["still_to_sign"] == []

    state = (await running.http.get(placed.path, headers=placed.token)).json()
    assert state["stage"] == "awaiting-permit"
    assert state["why_not_started"] == ["The student is under 18 and no work permit is on file."]
    pdf = await running.http.get(f"{placed.path}/agreement.pdf", headers=placed.token)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"

    at(running, SUMMER)
    early = await running.http.post(
        f"{placed.path}/hours", json={"day": "2027-07-05", "hours": 4}, headers=placed.token
    )
    assert early.status_code == 409, early.text
    assert "work permit" in early.json()["detail"]
    permit = {
        "number": "WP-2027-0412",
        "issued_by": "Worcester Public Schools",
        "issued_on": "2027-05-20",
    }
    recorded = await running.http.put(f"{placed.path}/permit", json=permit, headers=placed.token)
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["stage"] == "ready"
    assert recorded.json()["permit"]["number"] == "WP-2027-0412"

    hours_links = await links(running, placed)
    assert set(hours_links) == {"log-hours:student", "log-hours:employer"}
    logged = await running.http.post(
        "/v1/party/hours",
        json={"link": hours_links["log-hours:student"], "day": "2027-07-05", "hours": "6.5"},
    )
    assert logged.status_code == 200, logged.text
    assert logged.json()["total"] == 6.5
    state = (await running.http.get(placed.path, headers=placed.token)).json()
    assert state["stage"] == "under-way" and state["hours"]["logged"] == 6.5
    verify = await running.http.post(
        "/v1/party/week/verify",
        json={"link": (await links(running, placed))["verify-week:employer"]},
    )
    assert verify.status_code == 200, verify.text
    await report_counts_the_verified_hours(running, placed)

    wanted = {
        "AgreementIssued",
        "AgreementSigned",
        "AgreementComplete",
        "PermitRecorded",
        "HoursLogged",
        "WeekVerified",
    }
    records = await read_topic(
        kafka_bootstrap,
        "wbl.placements",
        lambda rs: (
            wanted <= {json.loads(r.value)["event_type"] for r in rs if ours(placed.match_id)(r)}
        ),
    )
    mine = [r for r in records if ours(placed.match_id)(r)]
    kinds = [json.loads(r.value)["event_type"] for r in mine]
    assert kinds.count("AgreementSigned") == 4 and kinds.count("AgreementComplete") == 1
    for record in mine:
        assert record.key == placed.student_id.encode()  # ordered with PlacementConfirmed
        values = leaves(json.loads(record.value))
        assert 6.5 not in values  # the hours stay in registry
        for personal in ("Quentin", "Rosa", "Lindqvist", "example.org", "WP-2027"):
            assert not any(personal in str(value) for value in values)


async def report_counts_the_verified_hours(running: RunningRegistry, placed: Placed) -> None:
    """Perkins 5S3 from verified hours: 6.5 hours are short of the default 54, and count
    once the state sets its threshold at 6."""

    async def school_row() -> dict[str, Any]:
        report = await running.http.get(
            "/v1/reports/outcomes",
            params={"from": "2027-01-01", "to": "2027-12-31"},
            headers=placed.token,
        )
        assert report.status_code == 200, report.text
        [row] = [r for r in report.json() if r["dimension"] == "school"]
        return {"threshold": report.headers["x-report-wbl-hours-threshold"], **row}

    row = await school_row()
    assert (row["threshold"], row["hours_verified"], row["cte_concentrators"]) == ("54", 6.5, 1)
    assert (row["wbl_participants"], row["five_s3_percent"], row["completed"]) == (0, 0.0, 0)
    running.registry.wbl_hours_threshold = 6
    try:
        row = await school_row()
    finally:
        running.registry.wbl_hours_threshold = 54
    assert (row["threshold"], row["wbl_participants"], row["five_s3_percent"]) == ("6", 1, 100.0)


def leaves(document: object) -> list[object]:
    """Every scalar in an event, so a timestamp's digits are not mistaken for hours."""
    if isinstance(document, dict):
        return [leaf for value in document.values() for leaf in leaves(value)]
    if isinstance(document, list):
        return [leaf for value in document for leaf in leaves(value)]
    return [document]


async def test_links_are_refused_replayed_expired_tampered_or_for_an_older_text(
    running: RunningRegistry,
) -> None:
    placed = await confirmed(running, fresh_school("after"))
    first = await issue(running, placed)
    sent = await links(running, placed)
    link = sent["sign-agreement:employer"]
    assert (await sign(running, link, "Pat Lindqvist")).status_code == 200
    replayed = await sign(running, link, "Pat Lindqvist")
    assert replayed.status_code == 410 and "already been used" in replayed.json()["detail"]
    assert replayed.headers["content-type"].startswith("application/problem+json")

    tampered = await sign(running, sent["sign-agreement:student"][:-3] + "abc")
    assert tampered.status_code == 400, tampered.text
    wrong_step = await running.http.post(
        "/v1/party/hours",
        json={"link": sent["sign-agreement:student"], "day": "2027-07-05", "hours": 1},
    )
    assert wrong_step.status_code == 400

    service = placements(running)
    fresh = service.links
    service.links = copy.copy(fresh)
    service.links.ttl_s = -1  # every link is past its age now
    try:
        expired = await sign(running, sent["sign-agreement:student"])
        assert expired.status_code == 410 and "expired" in expired.json()["detail"]
    finally:
        service.links = fresh

    second = await issue(running, placed, training="OSHA 10; forklift awareness")
    assert second["agreement"]["text_hash"] != first["agreement"]["text_hash"]
    # The employer signed the old text only: it signs again.
    assert "employer" in {p["party"] for p in second["agreement"]["still_to_sign"]}
    old = await sign(running, sent["sign-agreement:student"])
    assert old.status_code == 409 and "ask" in old.json()["detail"]
    renewed = await links(running, placed)
    assert (await sign(running, renewed["sign-agreement:student"])).status_code == 200
    same_again = await issue(running, placed, training="OSHA 10; forklift awareness")
    assert same_again["agreement"]["version"] == second["agreement"]["version"]  # nothing changed


async def test_concurrent_signs_of_one_link_sign_once_and_complete_once(
    running: RunningRegistry,
) -> None:
    placed = await confirmed(running, fresh_school("after"))
    service = placements(running)
    for round_ in range(12):
        issued = await issue(running, placed, training=f"induction, version {round_}")
        text_hash = issued["agreement"]["text_hash"]
        sent = await links(running, placed)
        assert (await sign(running, sent["sign-agreement:school"])).status_code == 200
        assert (await sign(running, sent["sign-agreement:student"])).status_code == 200
        # Six requests with one link, and the last two parties at the same moment.
        answers = await asyncio.gather(
            *(sign(running, sent["sign-agreement:employer"], f"Pat {i}") for i in range(6)),
            sign(running, sent["sign-agreement:guardian"], "Rosa Quenby"),
        )
        codes = sorted(a.status_code for a in answers[:6])
        assert codes == [200] + [410] * 5, [a.text for a in answers]
        assert answers[6].status_code == 200, answers[6].text
        signatures = await service._signatures(placed.match_id, text_hash)
        assert set(signatures) == {"school", "student", "employer", "guardian"}
        assert await service.store.is_complete(placed.match_id, text_hash)


async def test_hours_are_refused_with_the_rule_named_and_corrections_keep_history(
    running: RunningRegistry,
) -> None:
    placed = await confirmed(running, fresh_school("after"))
    at(running, SUMMER)
    await issue(running, placed)
    unsigned = await running.http.post(
        f"{placed.path}/hours", json={"day": "2027-07-05", "hours": 4}, headers=placed.token
    )
    assert unsigned.status_code == 409
    assert "signature" in unsigned.json()["detail"]
    assert unsigned.json()["errors"][0]["message"].startswith("The training agreement")
    for link in (await links(running, placed)).values():
        assert (await sign(running, link)).status_code == 200
    permit = {"number": "WP-1", "issued_by": "Worcester Public Schools", "issued_on": "2027-05-20"}
    assert (
        await running.http.put(f"{placed.path}/permit", json=permit, headers=placed.token)
    ).status_code == 200

    async def log(day: str, hours: Any) -> httpx.Response:
        return await running.http.post(
            f"{placed.path}/hours", json={"day": day, "hours": hours}, headers=placed.token
        )

    for day in ("2027-07-05", "2027-07-06", "2027-07-07", "2027-07-08", "2027-07-09"):
        assert (await log(day, 9)).status_code == 200
    over = await log("2027-07-10", 4)  # 45 + 4 = 49 hours, over 48 a week at 16-17
    assert over.status_code == 422, over.text
    assert [e["rule"] for e in over.json()["errors"]] == ["minor-weekly-limit"]
    assert "48 hours a week" in over.json()["errors"][0]["message"]
    long_day = await log("2027-07-10", 10)
    assert {e["rule"] for e in long_day.json()["errors"]} == {
        "minor-daily-limit",
        "minor-weekly-limit",
    }
    outside = await log("2027-09-02", 2)
    assert [e["rule"] for e in outside.json()["errors"]] == ["outside-placement", "future-day"]
    assert (await log("2027-07-05", "7.3")).json()["errors"][0]["rule"] == "quarter-hours"

    corrected = await log("2027-07-05", 6)
    assert corrected.status_code == 200, corrected.text
    assert (await log("2027-07-10", 3)).status_code == 200  # 42 + 3: within the week now
    week = await running.http.get(f"{placed.path}/hours?week=2027-07-07", headers=placed.token)
    assert week.status_code == 200, week.text
    body = week.json()
    assert body["week_of"] == "2027-07-05" and body["total"] == 6 + 9 * 4 + 3
    monday = body["days"][0]
    assert (monday["hours"], monday["version"]) == (6, 2)
    assert [v["hours"] for v in body["history"]["2027-07-05"]] == [9, 6]


async def test_only_the_coordinator_of_the_school_reaches_a_placement(
    running: RunningRegistry,
) -> None:
    placed = await confirmed(running, fresh_school("after"))
    await issue(running, placed)
    other = await running.coordinator(fresh_school("after"))
    callers = {
        "other school": (bearer(other["token"]), 404),
        "employer": (bearer(placed.employer["api_key"]), 403),
        "admin": (bearer(ADMIN_TOKEN), 403),
        "nobody": ({}, 401),
        "own school": (placed.token, None),
    }
    calls = [
        ("GET", placed.path, None),
        ("GET", f"{placed.path}/links", None),
        ("GET", f"{placed.path}/agreement.pdf", None),
        ("GET", f"{placed.path}/hours?week=2027-07-05", None),
        ("POST", f"{placed.path}/agreement", agreement_body()),
        (
            "PUT",
            f"{placed.path}/permit",
            {"number": "1", "issued_by": "x", "issued_on": "2026-11-01"},
        ),
        ("POST", f"{placed.path}/hours", {"day": "2026-11-01", "hours": 1}),
    ]
    for who, (headers, expected) in callers.items():
        for method, path, body in calls:
            answer = await running.http.request(method, path, json=body, headers=headers)
            if expected is None:
                assert answer.status_code in (200, 409, 422), (who, method, path, answer.text)
            else:
                assert answer.status_code == expected, (who, method, path, answer.text)
    unknown = await running.http.get("/v1/placements/mat_nothere", headers=placed.token)
    assert unknown.status_code == 404


async def test_an_agreement_needs_what_registry_cannot_know(running: RunningRegistry) -> None:
    placed = await confirmed(running, fresh_school("after"))

    async def refused(body: dict[str, Any]) -> list[str]:
        answer = await running.http.post(
            f"{placed.path}/agreement", json=body, headers=placed.token
        )
        assert answer.status_code == 422, answer.text
        return [e["field"] for e in answer.json()["errors"]]

    assert await refused(agreement_body(guardian=None)) == ["guardian"]
    assert await refused(agreement_body(hourly_wage=None)) == ["hourly_wage"]
    assert await refused({**agreement_body(), "supervisor": {"name": "P", "email": "nope"}}) == [
        "supervisor.email"
    ]
    adult = await confirmed(running, fresh_school("after"), date_of_birth="2008-01-02")
    answer = await running.http.post(
        f"{adult.path}/agreement", json=agreement_body(), headers=adult.token
    )
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "guardian"
    issued = await issue(running, adult, guardian=None)
    assert {p["party"] for p in issued["agreement"]["still_to_sign"]} == {
        "school",
        "employer",
        "student",
    }
    assert issued["permit"]["required"] is False


async def test_the_supervisor_verifies_a_week_as_it_stands_once(running: RunningRegistry) -> None:
    placed = await confirmed(running, fresh_school("after"))
    at(running, SUMMER)
    await issue(running, placed)
    for link in (await links(running, placed)).values():
        assert (await sign(running, link)).status_code == 200
    permit = {"number": "WP-2", "issued_by": "Worcester Public Schools", "issued_on": "2027-05-20"}
    assert (
        await running.http.put(f"{placed.path}/permit", json=permit, headers=placed.token)
    ).status_code == 200
    for day, hours in (("2027-06-28", 5), ("2027-07-05", 6), ("2027-07-06", "4.25")):
        logged = await running.http.post(
            f"{placed.path}/hours", json={"day": day, "hours": hours}, headers=placed.token
        )
        assert logged.status_code == 200, logged.text

    async def verify_links() -> dict[str, str]:
        got = await running.http.get(f"{placed.path}/links", headers=placed.token)
        return {x["week_of"]: x["link"] for x in got.json() if x["action"] == "verify-week"}

    weeks = await verify_links()
    assert set(weeks) == {"2027-06-28", "2027-07-05"}
    link = weeks["2027-07-05"]
    shown = await running.http.post("/v1/party/week", json={"link": link})
    assert shown.status_code == 200, shown.text
    assert (shown.json()["total"], shown.json()["verified"]) == (10.25, False)
    verified = await running.http.post("/v1/party/week/verify", json={"link": link})
    assert verified.status_code == 200 and verified.json()["verified"] is True
    replayed = await running.http.post("/v1/party/week/verify", json={"link": link})
    assert replayed.status_code == 410
    state = (await running.http.get(placed.path, headers=placed.token)).json()
    assert (state["hours"]["logged"], state["hours"]["verified"]) == (15.25, 10.25)
    assert set(await verify_links()) == {"2027-06-28"}

    corrected = await running.http.post(
        f"{placed.path}/hours", json={"day": "2027-07-06", "hours": 4}, headers=placed.token
    )
    assert corrected.json()["verified"] is False  # as corrected, the week is not verified
    stale = await running.http.post("/v1/party/week/verify", json={"link": link})
    assert stale.status_code == 409 and "corrected" in stale.json()["detail"]
    state = (await running.http.get(placed.path, headers=placed.token)).json()
    assert state["hours"]["verified"] == 0
    again = (await verify_links())["2027-07-05"]
    assert (
        await running.http.post("/v1/party/week/verify", json={"link": again})
    ).status_code == 200
    week = await running.http.get(f"{placed.path}/hours?week=2027-07-05", headers=placed.token)
    assert week.json()["verified"] is True and week.json()["total"] == 10
