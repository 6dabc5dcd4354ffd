"""The end of a placement's life through the registry's HTTP API over real FerretDB and Kafka
(ADR 6): the supervisor's evaluations by link (once, each competency rated), completion once
the planned hours are verified and the final evaluation is in (once, however the last two
acts race), closing early with a reason, and the seat given back, in registry and, through
the bus, in the matcher, which then proposes the opening's next student."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.integration.matcher.test_matcher_service import matcher_service
from tests.integration.registry.conftest import RunningRegistry, registry_app
from tests.integration.registry.test_placements import (
    Placed,
    at,
    issue,
    leaves,
    links,
    ours,
    sign,
)
from tests.support import eventually, fresh_school, read_topic
from tests.unit.registry.builders import opening_body, proposed, student_body
from tests.unit.registry.conftest import bearer
from wbl_registry.evaluations import load_competencies

pytestmark = pytest.mark.integration

FIELD = "robotics-and-automation-technology"  # the builders' field (proposals are handed in)
# One week, Monday 5 to Sunday 11 July 2027, 10 hours: 10 planned hours.
WEEK = {"starts_on": "2027-07-05", "ends_on": "2027-07-11", "hours_per_week": 10}
MIDWEEK = datetime(2027, 7, 9, 15, 0, tzinfo=UTC)  # past the midpoint, before the end
MIDSUMMER = datetime(2027, 7, 20, 15, 0, tzinfo=UTC)
AFTER = datetime(2027, 7, 12, 15, 0, tzinfo=UTC)  # the final evaluation is due
PERMIT = {"number": "WP-9", "issued_by": "Worcester Public Schools", "issued_on": "2027-05-20"}
COMPETENCIES = load_competencies().for_field(FIELD)
COMMENT = "Quentin was careful with the robot cell's lockout; keep asking questions."


def ratings(value: int = 3) -> dict[str, int]:
    return {c.id: value for c in COMPETENCIES}


async def confirmed(running: RunningRegistry, **opening: Any) -> Placed:
    """A student of a fresh school confirmed at a new opening of one seat."""
    school = fresh_school("life")
    employer = await running.employer("Acme Robotics")
    coordinator = await running.coordinator(school)
    token = bearer(coordinator["token"])
    posted = await running.http.post(
        "/v1/openings",
        json=opening_body(seats=1, **opening),
        headers=bearer(employer["api_key"]),
    )
    assert posted.status_code == 201, posted.text
    created = await running.http.post(
        "/v1/students", json=student_body(school, "Quentin"), headers=token
    )
    assert created.status_code == 201, created.text
    proposal = proposed(created.json()["id"], school, posted.json()["id"], employer["id"])
    await running.registry.on_match_event(proposal)
    match_id = proposal.payload.match_id
    done = await running.http.post(f"/v1/matches/{match_id}/confirm", headers=token)
    assert done.status_code == 200, done.text
    return Placed(match_id, created.json()["id"], coordinator, employer, school)


async def started(running: RunningRegistry, moment: datetime, **opening: Any) -> Placed:
    """Confirmed, signed by every party by link and permitted, with the clock at `moment`:
    hours may be logged."""
    at(running, moment)
    placed = await confirmed(running, **opening)
    await issue(running, placed)
    for link in (await links(running, placed)).values():
        assert (await sign(running, link)).status_code == 200
    permitted = await running.http.put(f"{placed.path}/permit", json=PERMIT, headers=placed.token)
    assert permitted.status_code == 200, permitted.text
    return placed


async def log(running: RunningRegistry, placed: Placed, day: str, hours: Any) -> httpx.Response:
    return await running.http.post(
        f"{placed.path}/hours", json={"day": day, "hours": hours}, headers=placed.token
    )


async def submit(running: RunningRegistry, link: str, **changes: Any) -> httpx.Response:
    body = {"link": link, "name": "Pat Lindqvist", "ratings": ratings(), "comment": COMMENT}
    return await running.http.post("/v1/party/evaluation/submit", json={**body, **changes})


async def state(running: RunningRegistry, placed: Placed) -> dict[str, Any]:
    got = await running.http.get(placed.path, headers=placed.token)
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


async def test_the_supervisor_evaluates_by_link_once_each_competency_rated_on_the_scale(
    running: RunningRegistry, kafka_bootstrap: str
) -> None:
    placed = await started(running, MIDWEEK, **WEEK)
    assert (await log(running, placed, "2027-07-05", 4)).status_code == 200
    got = await running.http.get(f"{placed.path}/links", headers=placed.token)
    [evaluate] = [x for x in got.json() if x["action"] == "evaluate"]
    assert (evaluate["party"], evaluate["evaluation"]) == ("employer", "midpoint")
    assert evaluate["send_to"]["name"] == "Pat Lindqvist"
    link = evaluate["link"]

    form = await running.http.post("/v1/party/evaluation", json={"link": link})
    assert form.status_code == 200, form.text
    shown = form.json()
    assert (shown["kind"], shown["submitted"]) == ("midpoint", False)
    assert (shown["opening_title"], shown["employer_name"]) == ("Robotics intern", "Acme Robotics")
    assert shown["student_name"] == "Quentin Zyxwvuts"
    assert [c["id"] for c in shown["competencies"]] == [c.id for c in COMPETENCIES]
    labels = [p["label"] for p in shown["scale"]]
    assert labels == ["Not yet", "Developing", "Proficient", "Exceeds"]

    unrated = ratings()
    del unrated["teamwork"]
    bad = await submit(running, link, ratings={**unrated, "safety": 5, "juggling": 2})
    assert bad.status_code == 422, bad.text
    assert bad.headers["content-type"].startswith("application/problem+json")
    refused = {e["field"]: e["message"] for e in bad.json()["errors"]}
    assert set(refused) == {"ratings.teamwork", "ratings.safety", "ratings.juggling"}
    assert "Teamwork" in refused["ratings.teamwork"]
    assert "Workplace safety" in refused["ratings.safety"]
    too_long = await submit(running, link, comment="x" * 2001)
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "comment"
    assert (await running.http.post("/v1/party/evaluation", json={"link": link})).json()[
        "submitted"
    ] is False  # the refusals changed nothing

    done = await submit(running, link, ratings={**ratings(), "safety": 4})
    assert done.status_code == 200, done.text
    assert done.json()["submitted"] is True
    replayed = await submit(running, link)
    assert replayed.status_code == 410 and "already been used" in replayed.json()["detail"]
    wrong_step = await running.http.post(
        "/v1/party/week/verify", json={"link": link}
    )  # an evaluate link does nothing else
    assert wrong_step.status_code == 400

    now = await state(running, placed)
    assert [(e["kind"], e["by"]) for e in now["evaluations"]] == [("midpoint", "Pat Lindqvist")]
    assert now["evaluation_due"] is None and now["stage"] == "under-way"
    read = await running.http.get(f"{placed.path}/evaluations", headers=placed.token)
    assert read.status_code == 200, read.text
    [midpoint] = read.json()
    assert midpoint["comment"] == COMMENT and midpoint["career_field"] == FIELD
    by_id = {r["competency_id"]: r for r in midpoint["ratings"]}
    assert (by_id["safety"]["value"], by_id["safety"]["label"]) == (4, "Exceeds")
    assert by_id["teamwork"]["competency"] == "Teamwork"
    assert set(by_id) == {c.id for c in COMPETENCIES}

    records = await read_topic(
        kafka_bootstrap,
        "wbl.placements",
        lambda rs: any(
            json.loads(r.value)["event_type"] == "EvaluationSubmitted"
            for r in rs
            if ours(placed.match_id)(r)
        ),
    )
    [event] = [
        json.loads(r.value)
        for r in records
        if ours(placed.match_id)(r) and json.loads(r.value)["event_type"] == "EvaluationSubmitted"
    ]
    assert event["payload"]["kind"] == "midpoint"
    assert not any("Lindqvist" in str(v) or "lockout" in str(v) for v in leaves(event))


async def test_completion_is_recorded_once_when_the_last_verification_and_evaluation_race(
    running: RunningRegistry, kafka_bootstrap: str
) -> None:
    ended = []
    for _ in range(3):
        placed = await started(running, AFTER, **WEEK)
        for day in ("2027-07-05", "2027-07-06"):
            assert (await log(running, placed, day, 5)).status_code == 200
        sent = await links(running, placed)
        assert set(sent) >= {"verify-week:employer", "evaluate:employer"}
        verified, evaluated = await asyncio.gather(
            running.http.post("/v1/party/week/verify", json={"link": sent["verify-week:employer"]}),
            submit(running, sent["evaluate:employer"]),
        )
        assert verified.status_code == 200, verified.text
        assert evaluated.status_code == 200, evaluated.text
        now = await state(running, placed)
        assert now["stage"] == "complete", now
        assert now["ended"]["how"] == "completed" and now["ended"]["reason"] is None
        assert "final evaluation" in now["stage_text"]
        ended.append(placed)

    placed = ended[-1]
    more = await log(running, placed, "2027-07-07", 2)
    assert more.status_code == 409 and "completed" in more.json()["detail"]
    closed = await running.http.post(
        f"{placed.path}/close", json={"reason": "too late"}, headers=placed.token
    )
    assert closed.status_code == 409 and "completed" in closed.json()["detail"]
    assert await links(running, placed) == {}  # nothing is left for a party to do

    ids = {p.match_id for p in ended}

    def completions(records: list[Any]) -> list[str]:
        return [
            json.loads(r.value)["payload"]["match_id"]
            for r in records
            if json.loads(r.value)["event_type"] == "PlacementCompleted"
            and json.loads(r.value)["payload"]["match_id"] in ids
        ]

    records = await read_topic(
        kafka_bootstrap, "wbl.placements", lambda rs: set(completions(rs)) == ids
    )
    assert sorted(completions(records)) == sorted(ids)  # exactly once each


async def test_a_coordinator_closes_a_placement_early_and_its_seat_is_given_back(
    running: RunningRegistry, kafka_bootstrap: str
) -> None:
    placed = await started(running, MIDSUMMER)  # of the builders' June to August opening
    assert (await log(running, placed, "2027-07-05", 4)).status_code == 200
    before = await links(running, placed)
    opening_id = (await running.registry.store.match(placed.match_id)).opening_id  # type: ignore[union-attr]
    employer = bearer(placed.employer["api_key"])
    opening = await running.http.get(f"/v1/openings/{opening_id}", headers=employer)
    assert opening.json()["seats_remaining"] == 0

    async def close(reason: Any, headers: dict[str, str] = placed.token) -> httpx.Response:
        return await running.http.post(
            f"{placed.path}/close", json={"reason": reason}, headers=headers
        )

    for bad in ("", " ", "x" * 501):
        refused = await close(bad)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"].endswith("reason")
    other = await running.coordinator(fresh_school("life"))
    assert (await close("not yours", bearer(other["token"]))).status_code == 404
    assert (await state(running, placed))["ended"] is None  # the refusals changed nothing

    reason = "The student moved out of the district."
    done = await close(reason)
    assert done.status_code == 200, done.text
    assert done.json()["stage"] == "closed" and done.json()["ended"]["reason"] == reason
    assert reason in done.json()["stage_text"]
    again = await close("twice")
    assert again.status_code == 409 and "closed early" in again.json()["detail"]
    opening = await running.http.get(f"/v1/openings/{opening_id}", headers=employer)
    assert opening.json()["seats_remaining"] == 1

    hours = await log(running, placed, "2027-07-06", 2)
    assert hours.status_code == 409 and "no more hours" in hours.json()["detail"]
    verify = await running.http.post(
        "/v1/party/week/verify", json={"link": before["verify-week:employer"]}
    )
    assert verify.status_code == 409
    evaluate = await submit(running, before["evaluate:employer"])
    assert evaluate.status_code == 409 and "closed early" in evaluate.json()["detail"]
    reissue = await running.http.post(
        f"{placed.path}/agreement",
        json={
            "supervisor": {"name": "Pat Lindqvist", "email": "pat@acme.example.org"},
            "safety_training": "OSHA 10",
            "hourly_wage": "16.50",
            "guardian": {"name": "Rosa Quenby", "email": "rosa@family.example.org"},
        },
        headers=placed.token,
    )
    assert reissue.status_code == 409

    records = await read_topic(
        kafka_bootstrap,
        "wbl.placements",
        lambda rs: any(
            json.loads(r.value)["event_type"] == "PlacementClosed"
            for r in rs
            if ours(placed.match_id)(r)
        ),
    )
    [event] = [
        json.loads(r.value)
        for r in records
        if ours(placed.match_id)(r) and json.loads(r.value)["event_type"] == "PlacementClosed"
    ]
    assert event["payload"]["opening_id"] == opening_id
    assert not any("district" in str(v) for v in leaves(event))  # the reason stays here


MATCHED_FIELD = "composite-materials"  # no other test's openings take these students


async def test_a_placement_closed_early_frees_its_seat_and_the_matcher_proposes_the_next_student(
    kafka_bootstrap: str, mongo_uri: str
) -> None:
    """Registry and matcher as apps against the real broker and database: the matcher hears
    the opening, the students and the decisions from registry, and registry its proposals."""
    async with (
        matcher_service(kafka_bootstrap, mongo_uri),
        registry_app(kafka_bootstrap, mongo_uri) as running,
    ):
        school = fresh_school("life")
        employer = await running.employer("Cape Composites")
        coordinator = await running.coordinator(school)
        token = bearer(coordinator["token"])
        posted = await running.http.post(
            "/v1/openings",
            json=opening_body(seats=1, career_field=MATCHED_FIELD, title="Composites tech"),
            headers=bearer(employer["api_key"]),
        )
        assert posted.status_code == 201, posted.text
        opening_id = posted.json()["id"]
        students = []
        for name in ("Ines", "Jonah"):
            created = await running.http.post(
                "/v1/students",
                json=student_body(school, name, career_fields=[MATCHED_FIELD]),
                headers=token,
            )
            assert created.status_code == 201, created.text
            students.append(created.json()["id"])

        async def proposed_at_the_opening() -> list[dict[str, Any]]:
            got = await running.http.get("/v1/matches?status=proposed", headers=token)
            assert got.status_code == 200, got.text
            return [m for m in got.json() if m["opening_id"] == opening_id]

        [first] = await eventually(proposed_at_the_opening, within=60, what="a first proposal")
        confirmed = await running.http.post(
            f"/v1/matches/{first['match_id']}/confirm", headers=token
        )
        assert confirmed.status_code == 200, confirmed.text
        closed = await running.http.post(
            f"/v1/placements/{first['match_id']}/close",
            json={"reason": "The workshop closed for the summer."},
            headers=token,
        )
        assert closed.status_code == 200, closed.text

        [second] = await eventually(
            proposed_at_the_opening, within=60, what="the next student proposed"
        )
        assert second["student_id"] != first["student_id"]
        assert {first["student_id"], second["student_id"]} == set(students)
