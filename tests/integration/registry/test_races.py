"""Races between two registry replicas (separate processes) on one database, each
reproduced as it was seen: a concurrent PATCH lost a change, and one student was confirmed
on two openings (see also test_decision_races.py)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from tests.replicas import Fleet
from tests.support import eventually, start_groups_at_the_end
from tests.unit.registry.builders import opening_body, proposed, student_body, withdrawn
from tests.unit.registry.conftest import bearer
from wbl_common.bus import serialize
from wbl_schemas.envelope import Envelope

pytestmark = pytest.mark.integration

ROUNDS = 15
SCHOOL = "sch_races"


@pytest.fixture(scope="module")
def fleet(
    kafka_bootstrap: str, mongo_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    base = int(os.environ.get("WBL_TEST_HTTP_BASE", "18000"))
    fleet = Fleet.create(Path(tmp_path_factory.mktemp("races")), kafka_bootstrap, mongo_uri)
    asyncio.run(start_groups_at_the_end(kafka_bootstrap, fleet.env["WBL_REGISTRY_CONSUMER_NAME"]))
    for offset in (21, 22):
        fleet.add("registry", base + offset)
    try:
        fleet.start_all()
        yield fleet
    finally:
        fleet.stop_all()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@pytest.fixture
async def publish(kafka_bootstrap: str) -> AsyncIterator[Any]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()

    async def send(event: Envelope) -> None:
        await producer.send_and_wait(event.topic, serialize(event), key=event.key().encode())

    try:
        yield send
    finally:
        await producer.stop()


async def created(response: Any) -> dict[str, Any]:
    answer = await response
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_concurrent_patches_on_two_replicas_never_lose_a_change(
    fleet: Fleet, http: httpx.AsyncClient
) -> None:
    a, b = (r.url for r in fleet.of("registry"))
    employer = await created(
        http.post(f"{a}/v1/employers", json={"name": "Acme"}, headers=fleet.admin)
    )
    key = bearer(employer["api_key"])
    opening = await created(http.post(f"{a}/v1/openings", json=opening_body(), headers=key))
    url = f"/v1/openings/{opening['id']}"
    lost = []
    for n in range(ROUNDS):
        title, hours = f"Robotics intern {n}", 10 + n
        first, second = await asyncio.gather(
            http.patch(f"{a}{url}", json={"title": title}, headers=key),
            http.patch(f"{b}{url}", json={"hours_per_week": hours}, headers=key),
        )
        assert {first.status_code, second.status_code} <= {200, 409}, (first.text, second.text)
        stored = (await http.get(f"{a}{url}", headers=key)).json()
        if first.status_code == 200 and stored["title"] != title:
            lost.append(f"round {n}: the title change answered 200 and is gone")
        if second.status_code == 200 and stored["hours_per_week"] != hours:
            lost.append(f"round {n}: the hours change answered 200 and is gone")
    assert not lost, lost


async def test_if_match_with_a_stale_etag_is_refused_and_changes_nothing(
    fleet: Fleet, http: httpx.AsyncClient
) -> None:
    a, b = (r.url for r in fleet.of("registry"))
    employer = await created(
        http.post(f"{a}/v1/employers", json={"name": "Acme"}, headers=fleet.admin)
    )
    key = bearer(employer["api_key"])
    opening = await created(http.post(f"{a}/v1/openings", json=opening_body(), headers=key))
    url = f"/v1/openings/{opening['id']}"
    read = await http.get(f"{a}{url}", headers=key)
    etag = read.headers["etag"]
    changed = await http.patch(f"{b}{url}", json={"seats": 3}, headers={**key, "If-Match": etag})
    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] != etag
    stale = await http.patch(f"{a}{url}", json={"seats": 4}, headers={**key, "If-Match": etag})
    assert stale.status_code == 412, stale.text
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert (await http.get(f"{b}{url}", headers=key)).json()["seats"] == 3


async def scene(fleet: Fleet, http: httpx.AsyncClient, seats: tuple[int, ...]) -> dict[str, Any]:
    a = fleet.of("registry")[0].url
    employer = await created(
        http.post(f"{a}/v1/employers", json={"name": "Acme"}, headers=fleet.admin)
    )
    key = bearer(employer["api_key"])
    openings = [
        await created(http.post(f"{a}/v1/openings", json=opening_body(seats=n), headers=key))
        for n in seats
    ]
    coordinator = await created(
        http.post(
            f"{a}/v1/coordinators",
            json={"name": "Dana", "school_ids": [SCHOOL]},
            headers=fleet.admin,
        )
    )
    token = bearer(coordinator["token"])
    student = await created(http.post(f"{a}/v1/students", json=student_body(SCHOOL), headers=token))
    return {
        "employer": employer,
        "key": key,
        "openings": openings,
        "token": token,
        "student": student,
    }


async def match_status(
    http: httpx.AsyncClient, url: str, token: dict[str, str], match_id: str
) -> str | None:
    matches = (await http.get(f"{url}/v1/matches?size=200", headers=token)).json()
    return next((m["status"] for m in matches if m["match_id"] == match_id), None)


async def test_a_student_confirmed_on_one_opening_cannot_be_confirmed_on_another(
    fleet: Fleet, http: httpx.AsyncClient, publish: Any
) -> None:
    a, b = (r.url for r in fleet.of("registry"))
    s = await scene(fleet, http, seats=(2, 2))
    first, second = s["openings"]
    student_id = s["student"]["id"]
    m1 = proposed(student_id, SCHOOL, first["id"], s["employer"]["id"])
    await publish(m1)
    await eventually(
        lambda: match_status(http, a, s["token"], m1.payload.match_id), what="M1 at registry"
    )
    # The coordinator confirms M1 before registry has read that the matcher moved the student.
    confirmed = await http.post(f"{a}/v1/matches/{m1.payload.match_id}/confirm", headers=s["token"])
    assert confirmed.status_code == 200, confirmed.text
    m2 = proposed(student_id, SCHOOL, second["id"], s["employer"]["id"])
    await publish(withdrawn(m1, "moved to another opening"))
    await publish(m2)
    await eventually(
        lambda: match_status(http, b, s["token"], m2.payload.match_id), what="M2 at registry"
    )
    again = await http.post(f"{b}/v1/matches/{m2.payload.match_id}/confirm", headers=s["token"])
    assert again.status_code == 409, again.text
    assert await match_status(http, a, s["token"], m1.payload.match_id) == "confirmed"
    assert await match_status(http, a, s["token"], m2.payload.match_id) == "withdrawn"
    seats = (await http.get(f"{a}/v1/openings/{second['id']}", headers=s["key"])).json()
    assert seats["seats_remaining"] == 2
