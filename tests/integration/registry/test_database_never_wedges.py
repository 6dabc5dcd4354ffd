"""A class list never wedges the registry's database.

FerretDB 1.24 holds one pooled connection per statement of an update command until the
command ends, and its pool has 100: one `bulk_write` of 100 or more updates wedged that
database for good (every later write timed out, while `/readyz` still said ready). The
registry's outbox relay issued exactly that when it cleared a class list's events. This test
registers 150 students in one class list and then asks the database for more work."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.registry.conftest import RunningRegistry
from tests.support import read_topic
from tests.unit.registry.builders import student_body
from tests.unit.registry.conftest import bearer

pytestmark = pytest.mark.integration

CLASS_SIZE = 150


@pytest.mark.timeout(240)
async def test_a_class_of_150_leaves_the_database_answering(
    running: RunningRegistry, kafka_bootstrap: str
) -> None:
    school = "sch_wedge"
    coordinator = await running.coordinator(school)
    token = bearer(coordinator["token"])
    rows = [student_body(school, first=f"Pupil{i}") for i in range(CLASS_SIZE)]
    answer = await running.http.post("/v1/students/bulk", json=rows, headers=token)
    assert answer.status_code == 200, answer.text
    ids = {r["id"] for r in answer.json()["registered"]}
    assert len(ids) == CLASS_SIZE

    await read_topic(
        kafka_bootstrap,
        "wbl.students",
        lambda records: ids <= {r.key.decode() for r in records if r.key},
        within=90,
    )
    # The relay has published the class; every later write must still go through, promptly.
    late = await asyncio.wait_for(
        running.http.post("/v1/students", json=student_body(school, first="Late"), headers=token),
        timeout=20,
    )
    assert late.status_code == 201, late.text
    late_id = late.json()["id"]
    await read_topic(
        kafka_bootstrap,
        "wbl.students",
        lambda records: any(r.key and r.key.decode() == late_id for r in records),
        within=60,
    )
