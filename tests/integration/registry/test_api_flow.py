"""The registry in-process over real Kafka and FerretDB: what reaches the bus and the logs,
and matches followed from wbl.matches through to placements."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from tests.integration.registry.conftest import RunningRegistry
from tests.support import eventually, read_topic
from tests.unit.registry.builders import opening_body, proposed, student_body
from tests.unit.registry.conftest import ADMIN_TOKEN, bearer
from wbl_common.bus import serialize
from wbl_common.logs import configure_logging
from wbl_schemas.envelope import Envelope
from wbl_schemas.events import parse_event

pytestmark = pytest.mark.integration

PERSONAL = ("Quentinella", "Zyxwvuts", "2010-03-14")


async def publish(bootstrap: str, *events: Envelope) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(event.topic, serialize(event), key=event.key().encode())
    finally:
        await producer.stop()


async def test_a_registered_student_leaves_no_personal_data_on_the_bus_or_in_logs(
    running: RunningRegistry, kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging("registry", "DEBUG")  # the most a deployment could log
    caplog.set_level(logging.DEBUG)
    coordinator = await running.coordinator("sch_priv")
    body = student_body("sch_priv", PERSONAL[0], special_populations=["students-with-disabilities"])
    created = await running.http.post(
        "/v1/students", json=body, headers=bearer(coordinator["token"])
    )
    assert created.status_code == 201, created.text
    student_id = created.json()["id"]

    records = await read_topic(
        kafka_bootstrap,
        "wbl.students",
        lambda rs: any(r.key == student_id.encode() for r in rs),
    )
    [mine] = [r for r in records if r.key == student_id.encode()]
    event = json.loads(mine.value)
    assert event["event_type"] == "StudentRegistered"
    assert event["payload"]["student_id"] == student_id
    assert event["payload"]["age_band"] == "16-17"  # no exact age, no birth date
    assert "age_at_start" not in event["payload"]
    assert (event["payload"]["home"]["lat"], event["payload"]["home"]["lon"]) == (42.27, -71.8)
    assert "note" not in json.dumps(event)
    for secret in (*PERSONAL, body["email"], "students-with-disabilities"):
        assert secret.encode() not in mine.value

    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert student_id in logged  # the capture works: registry logs the pseudonymous id
    leaks = [
        f"{r.name}: {r.getMessage()[:300]}"
        for r in caplog.records
        if any(s in f"{r.getMessage()} {r.args!r}" for s in (*PERSONAL, body["email"]))
    ]
    assert leaks == []


async def test_a_webhook_secret_rotation_is_stored_and_published_without_the_secret(
    running: RunningRegistry, kafka_bootstrap: str
) -> None:
    created = await running.http.post(
        "/v1/coordinators",
        json={
            "name": "Dana",
            "school_ids": ["sch_hook"],
            "channels": {"webhook_url": "https://hooks.example.org/wbl"},
        },
        headers=bearer(ADMIN_TOKEN),
    )
    assert created.status_code == 201, created.text
    coordinator_id = created.json()["id"]
    path = f"/v1/coordinators/{coordinator_id}/webhook-secret/rotate"
    rotated = await running.http.post(path, headers=bearer(created.json()["token"]))
    assert rotated.status_code == 200, rotated.text
    secret = rotated.json()["webhook_secret"]
    assert secret != created.json()["webhook_secret"]

    def rotation_heard(records: list[Any]) -> bool:
        return any(
            r.key == coordinator_id.encode()
            and json.loads(r.value)["payload"]["webhook_secret_generation"] == 2
            for r in records
        )

    records = await read_topic(kafka_bootstrap, "wbl.coordinators", rotation_heard)
    mine = [r for r in records if r.key == coordinator_id.encode()]
    event = json.loads(mine[-1].value)
    assert event["event_type"] == "CoordinatorUpdated"
    assert event["payload"]["previous_generation_until"] == rotated.json()["previous_valid_until"]
    for record in mine:
        assert secret.encode() not in record.value
        assert created.json()["webhook_secret"].encode() not in record.value
    stored = await running.registry.store.coordinator(coordinator_id)
    assert stored is not None and stored.webhook_secret_generation == 2
    again = await running.http.post(path, headers=bearer(ADMIN_TOKEN))
    assert again.json()["generation"] == 3


async def test_a_bad_student_is_refused_with_its_field_and_nothing_is_stored(
    running: RunningRegistry,
) -> None:
    coordinator = await running.coordinator("sch_bad")
    response = await running.http.post(
        "/v1/students",
        json=student_body("sch_bad", program="juggling"),
        headers=bearer(coordinator["token"]),
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["program"]
    assert await running.db["students"].count_documents({}) == 0


async def test_a_proposal_from_the_bus_is_confirmed_into_a_placement(
    running: RunningRegistry, kafka_bootstrap: str
) -> None:
    employer = await running.employer()
    coordinator = await running.coordinator("sch_flow")
    token = bearer(coordinator["token"])
    opening = await running.http.post(
        "/v1/openings", json=opening_body(seats=1), headers=bearer(employer["api_key"])
    )
    students = []
    for name in ("Avery", "Blake"):
        created = await running.http.post(
            "/v1/students", json=student_body("sch_flow", name), headers=token
        )
        students.append(created.json()["id"])
    first, second = (
        proposed(s, "sch_flow", opening.json()["id"], employer["id"]) for s in students
    )
    await publish(kafka_bootstrap, first, second)

    async def proposed_matches() -> list[dict[str, Any]]:
        listed = await running.http.get("/v1/matches?status=proposed", headers=token)
        return listed.json() if len(listed.json()) == 2 else []

    await eventually(proposed_matches, within=60, what="both proposals stored")

    as_employer = await running.http.get("/v1/matches", headers=bearer(employer["api_key"]))
    assert all(m["student"] is None and m["coordinator"] is None for m in as_employer.json())
    assert "Avery" not in as_employer.text

    confirmed = await running.http.post(
        f"/v1/matches/{first.payload.match_id}/confirm", headers=token
    )
    assert confirmed.status_code == 200, confirmed.text
    no_seat = await running.http.post(
        f"/v1/matches/{second.payload.match_id}/confirm", headers=token
    )
    assert no_seat.status_code == 409
    assert no_seat.headers["content-type"].startswith("application/problem+json")
    declined = await running.http.post(
        f"/v1/matches/{second.payload.match_id}/decline", json={"note": "full"}, headers=token
    )
    assert declined.status_code == 200

    placements = await read_topic(
        kafka_bootstrap,
        "wbl.placements",
        lambda rs: (
            {first.payload.match_id, second.payload.match_id}
            <= {json.loads(r.value)["payload"]["match_id"] for r in rs if ours(r)}
        ),
    )
    kinds = {
        json.loads(r.value)["payload"]["match_id"]: json.loads(r.value)["event_type"]
        for r in placements
        if ours(r)
    }
    assert kinds[first.payload.match_id] == "PlacementConfirmed"
    assert kinds[second.payload.match_id] == "PlacementDeclined"

    revealed = {
        m["match_id"]: m
        for m in (await running.http.get("/v1/matches", headers=bearer(employer["api_key"]))).json()
    }
    placed = revealed[first.payload.match_id]
    assert placed["student"] == {"first_name": "Avery", "last_name": "Zyxwvuts"}
    assert placed["coordinator"] == {"name": "Dana Coordinator", "email": "dana@school.example.org"}
    assert revealed[second.payload.match_id]["student"] is None

    report = await running.http.get(
        "/v1/reports/outcomes", headers=bearer(coordinator["token"])
    )  # the coordinator's own school: exact (statewide, a group of 2 is withheld)
    school = next(r for r in report.json() if r["dimension"] == "school")
    assert (school["students"], school["placed"], school["placement_rate"]) == (2, 1, 0.5)
    statewide = await running.http.get("/v1/reports/outcomes", headers=bearer(ADMIN_TOKEN))
    # Every group with students is withheld; the empty ones are shown at 0.
    assert all(
        r["suppressed"] and r["placed"] is None for r in statewide.json() if r["students"] != 0
    )


def ours(record: Any) -> bool:
    """Not one of the poison test's undecodable or schema-invalid records."""
    try:
        parse_event("wbl.placements", record.value)
    except ValidationError:
        return False
    return True
