"""The notifier's outreach calls on registry (ADR 6): only its service credential opens
them; a placement's outreach is `/links` with the words an email needs, a week to verify
only once it is over; the sweep pages through the placements with an agreement issued."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.integration.registry.conftest import RunningRegistry
from tests.integration.registry.test_placements import (
    SUMMER,
    at,
    confirmed,
    issue,
    links,
    sign,
)
from tests.support import fresh_school
from tests.unit.registry.conftest import WEBHOOK_KEY, bearer
from wbl_common.secrets import notifier_service_token

pytestmark = pytest.mark.integration

SERVICE = bearer(notifier_service_token(WEBHOOK_KEY))


async def test_only_the_notifier_service_credential_opens_the_outreach_calls(
    running: RunningRegistry,
) -> None:
    placed = await confirmed(running, fresh_school("reach"))
    path = f"{placed.path}/outreach"
    assert (await running.http.get(path)).status_code == 401
    assert (await running.http.get(path, headers=bearer("nobody-holds-this"))).status_code == 401
    refused = await running.http.get(path, headers=placed.token)
    assert refused.status_code == 403
    assert "notifier service" in refused.json()["detail"]
    assert (await running.http.get("/v1/placements/active", headers=placed.token)).status_code == (
        403
    )
    assert (await running.http.get(path, headers=SERVICE)).status_code == 200
    # The service credential opens nothing else: elsewhere nobody holds it.
    assert (await running.http.get(placed.path, headers=SERVICE)).status_code == 401
    assert (await running.http.get("/v1/students", headers=SERVICE)).status_code == 401


async def test_outreach_gives_each_party_its_link_address_and_the_words_of_the_email(
    running: RunningRegistry,
) -> None:
    placed = await confirmed(running, fresh_school("reach"))
    before = await running.http.get(f"{placed.path}/outreach", headers=SERVICE)
    assert before.status_code == 200, before.text
    assert before.json()["items"] == []  # nothing to send before the agreement

    issued = await issue(running, placed)
    got = await running.http.get(f"{placed.path}/outreach", headers=SERVICE)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["student_first_name"] == "Quentin"
    assert body["opening_title"] == "Robotics intern"
    assert body["employer_name"] == "Acme Robotics"
    assert body["school_name"]
    assert body["ask"] == {"name": "Dana Coordinator", "email": "dana@school.example.org"}
    items = {i["party"]: i for i in body["items"]}
    assert set(items) == {"school", "employer", "student", "guardian"}
    assert {i["action"] for i in items.values()} == {"sign-agreement"}
    assert {i["subject"] for i in items.values()} == {issued["agreement"]["text_hash"]}
    assert items["school"]["send_to"] == {
        "name": "Dana Coordinator",
        "email": "dana@school.example.org",
    }
    assert items["guardian"]["send_to"]["name"] == "Rosa Quenby"
    shown = await running.http.post("/v1/party/agreement", json={"link": items["guardian"]["link"]})
    assert shown.status_code == 200 and shown.json()["you_sign_for"] == "guardian"

    assert (await sign(running, items["student"]["link"])).status_code == 200
    after = await running.http.get(f"{placed.path}/outreach", headers=SERVICE)
    assert {i["party"] for i in after.json()["items"]} == {"school", "employer", "guardian"}


async def test_a_week_is_offered_for_verifying_only_once_it_is_over(
    running: RunningRegistry,
) -> None:
    placed = await confirmed(running, fresh_school("reach"))
    at(running, SUMMER)  # Saturday 10 July 2027
    await issue(running, placed)
    for link in (await links(running, placed)).values():
        assert (await sign(running, link)).status_code == 200
    permit = {"number": "WP-9", "issued_by": "Worcester Public Schools", "issued_on": "2027-05-20"}
    put = await running.http.put(f"{placed.path}/permit", json=permit, headers=placed.token)
    assert put.status_code == 200, put.text
    for day in ("2027-06-28", "2027-07-05"):
        logged = await running.http.post(
            f"{placed.path}/hours", json={"day": day, "hours": 5}, headers=placed.token
        )
        assert logged.status_code == 200, logged.text

    got = (await running.http.get(f"{placed.path}/outreach", headers=SERVICE)).json()
    by_action = {(i["action"], i["party"], i["week_of"]) for i in got["items"]}
    assert by_action == {
        ("log-hours", "student", None),
        ("log-hours", "employer", None),
        ("verify-week", "employer", "2027-06-28"),  # the week of 5 July ends tomorrow
    }
    assert {i["subject"] for i in got["items"] if i["action"] == "log-hours"} == {"hours"}
    week = next(i for i in got["items"] if i["action"] == "verify-week")
    assert week["subject"].startswith("2027-06-28@")

    at(running, datetime(2027, 7, 11, 9, 0, tzinfo=UTC))  # the Sunday: that week is over
    later = (await running.http.get(f"{placed.path}/outreach", headers=SERVICE)).json()
    weeks = {i["week_of"] for i in later["items"] if i["action"] == "verify-week"}
    assert weeks == {"2027-06-28", "2027-07-05"}


async def test_the_sweep_pages_through_placements_with_an_agreement_issued(
    running: RunningRegistry,
) -> None:
    school = fresh_school("reach")
    first, second = await confirmed(running, school), await confirmed(running, school)
    unissued = await confirmed(running, school)
    for placed in (first, second):
        await issue(running, placed)

    seen: list[str] = []
    after = ""
    while True:
        page = await running.http.get(
            "/v1/placements/active", params={"after": after, "limit": 1}, headers=SERVICE
        )
        assert page.status_code == 200, page.text
        seen += page.json()["match_ids"]
        if page.json()["next_after"] is None:
            break
        after = page.json()["next_after"]
    assert sorted(seen) == sorted({first.match_id, second.match_id})
    assert unissued.match_id not in seen
    too_many = await running.http.get(
        "/v1/placements/active", params={"limit": 501}, headers=SERVICE
    )
    assert too_many.status_code == 422

    at(running, datetime(2027, 12, 1, tzinfo=UTC))  # 92 days after the end: no more emails
    ended = await running.http.get("/v1/placements/active", headers=SERVICE)
    assert ended.json()["match_ids"] == []
