"""GET /v1/students/{id}/why-not over the real service (Kafka and FerretDB): answered on
demand from the view, for an unmatched student, a student whose field has no opening, and
a student registered before any round ran; rounds write no why-not documents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.integration.matcher.test_matcher_service import (
    FIELD,
    Running,
    matcher_service,
    opening,
    student,
)
from tests.support import eventually
from wbl_common.bus import publish_event
from wbl_schemas.events import OpeningPublished, StudentRegistered

pytestmark = pytest.mark.integration


@pytest.fixture
async def running(kafka_bootstrap: str, mongo_uri: str) -> AsyncIterator[Running]:
    async with matcher_service(kafka_bootstrap, mongo_uri) as run:
        yield run


async def ask(run: Running, student_id: str) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(run.app), base_url="http://matcher", timeout=60
    ) as http:
        return await http.get(
            f"/v1/students/{student_id}/why-not",
            headers={"Authorization": f"Bearer {run.admin_token}"},
        )


async def known(run: Running, *student_ids: str) -> None:
    async def all_in_view() -> bool:
        return all([await run.store.standing(sid) is not None for sid in student_ids])

    await eventually(all_in_view, what="the students in the matcher's view")


async def test_why_not_is_answered_on_demand_after_a_round(running: Running) -> None:
    o1, s1, s2 = (f"{p}_{running.tag}" for p in ("opn_w", "stu_w1", "stu_w2"))
    await publish_event(running.bus, OpeningPublished(producer="test", payload=opening(o1)))
    for sid in (s1, s2):
        await publish_event(running.bus, StudentRegistered(producer="test", payload=student(sid)))

    await known(running, s1, s2)

    async def settled_with_one_offer() -> dict[str, Any]:
        # No marks left: every round the registrations caused has run.
        found = await running.store.proposals([s1, s2])
        settled = not await running.store.dirty_fields()
        return found if len(found) == 1 and settled else {}

    offered = await eventually(settled_with_one_offer, what="one offer for the one seat")
    (unmatched,) = {s1, s2} - offered.keys()
    response = await ask(running, unmatched)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["round_id"].startswith("rnd_")  # the latest round when asked
    assert body["reasons"][0].startswith(f"{o1}: no seats left")
    (holder,) = offered
    held = (await ask(running, holder)).json()
    assert held["reasons"] == [
        f"The student has an open offer from {o1}; "
        "it holds its seat until the coordinator decides or it expires."
    ]
    # Nothing was written per unmatched student.
    names = await running.store.openings.database.list_collection_names()
    assert "why_not" not in names


async def test_a_field_without_openings_and_a_student_before_any_round(
    kafka_bootstrap: str, mongo_uri: str
) -> None:
    async with matcher_service(kafka_bootstrap, mongo_uri) as run:
        # A main round 300 days ahead: registrations gather and no round runs meanwhile.
        await run.matcher.set_season(datetime.now(UTC) + timedelta(days=300))
        chef, hvac = f"stu_chef_{run.tag}", f"stu_hvac_{run.tag}"
        o1 = f"opn_h_{run.tag}"
        await publish_event(run.bus, OpeningPublished(producer="test", payload=opening(o1)))
        await publish_event(
            run.bus, StudentRegistered(producer="test", payload=student(chef, "culinary-arts"))
        )
        await publish_event(run.bus, StudentRegistered(producer="test", payload=student(hvac)))
        await known(run, chef, hvac)

        async def opening_in_view() -> bool:
            return bool((await run.store.seats_view({FIELD})).openings)

        await eventually(opening_in_view, what="the opening in the matcher's view")
        assert await run.store.latest_round() is None
        body = (await ask(run, chef)).json()
        assert (body["student_id"], body["round_id"]) == (chef, None)
        # Its own field first, then each related field (none has an opening either).
        assert body["reasons"][0] == "no opening in culinary-arts this season"
        assert all(r.startswith("no opening in ") for r in body["reasons"])
        body = (await ask(run, hvac)).json()
        assert body["round_id"] is None
        assert body["reasons"][0].startswith(f"{o1}: a seat is free now")
        unknown = await ask(run, f"stu_nobody_{run.tag}")
        assert unknown.status_code == 404
        assert "is known" in unknown.json()["detail"]
