"""Registering a whole class list against real FerretDB and Kafka: every row checked,
good rows stored with their events, bad rows reported, and how long a 500-row list takes."""

from __future__ import annotations

import csv
import io
import time

import pytest

from tests.integration.registry.conftest import RunningRegistry
from tests.support import read_topic
from tests.unit.registry.builders import student_body
from tests.unit.registry.conftest import bearer
from tests.unit.registry.test_http import class_csv

pytestmark = pytest.mark.integration

ROWS = 500
BAD_EVERY = 50  # rows 50, 100, ... carry a bad grade
# FerretDB on SQLite commits each update on its own (about 20-40 ms), and the shared relay
# removes sent entries one document at a time; so a sample shows the relay works and its
# rate, rather than waiting minutes for all 4,980 events.
RELAY_SAMPLE = 100


@pytest.mark.timeout(300)  # its own deadlines (up to 180 s) speak first under a heavy load
async def test_a_csv_class_list_stores_good_rows_and_reports_bad_ones(
    running: RunningRegistry, kafka_bootstrap: str
) -> None:
    coordinator = await running.coordinator("sch_bulk")
    rows = [
        student_body("sch_bulk", f"P{n}", grade=8 if n % BAD_EVERY == 0 else 10)
        for n in range(1, ROWS + 1)
    ]
    upload = class_csv(rows)
    started = time.perf_counter()
    response = await running.http.post(
        "/v1/students/bulk",
        files={"file": ("class.csv", upload, "text/csv")},
        headers=bearer(coordinator["token"]),
    )
    stored_in = time.perf_counter() - started
    relay_started = time.perf_counter()
    assert response.status_code == 200, response.text[:500]
    body = response.json()
    bad_rows = [n for n in range(1, ROWS + 1) if n % BAD_EVERY == 0]
    # Spreadsheet lines: student n is on line n + 1 (the header is line 1).
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(n + 1, "grade") for n in bad_rows]
    assert len(body["registered"]) == ROWS - len(bad_rows)
    assert await running.db["students"].count_documents({"school_id": "sch_bulk"}) == len(
        body["registered"]
    )

    # Each stored row queued exactly its own StudentRegistered (the outbox keeps what the
    # relay has not published yet).
    queued = [
        intent["events"]
        async for intent in running.db["outbox"].find({"key": {"$regex": "^students/"}})
    ]
    assert all(len(events) == 1 for events in queued)
    ids = {r["id"].encode() for r in body["registered"]}
    records = await read_topic(
        kafka_bootstrap,
        "wbl.students",
        lambda records: len(ids & {r.key for r in records}) >= RELAY_SAMPLE,
        within=180,
    )
    relayed = len(ids & {r.key for r in records})
    print(
        f"\n{ROWS} CSV rows ({len(upload) // 1024} KiB): validated and stored in "
        f"{stored_in:.1f}s; {relayed} of {len(ids)} events on wbl.students "
        f"{time.perf_counter() - relay_started:.1f}s after the response"
    )


async def test_a_json_class_list_reports_rows_by_position(running: RunningRegistry) -> None:
    coordinator = await running.coordinator("sch_json")
    rows = [
        student_body("sch_json", "Ana"),
        {**student_body("sch_json", "Ben"), "date_of_birth": "2024-01-01"},
        "not an object",
        student_body("sch_other", "Cy"),
    ]
    response = await running.http.post(
        "/v1/students/bulk", json=rows, headers=bearer(coordinator["token"])
    )
    body = response.json()
    assert [r["row"] for r in body["registered"]] == [1]
    assert [(e["row"], e["field"]) for e in body["errors"]] == [
        (2, "date_of_birth"),
        (3, "<row>"),
        (4, "school_id"),
    ]
    assert await running.db["students"].count_documents({}) == 1

    # The same list again stores nothing twice: the stored row is reported as registered
    # before (against FerretDB's email claims), not as an error; the bad rows still are.
    again = await running.http.post(
        "/v1/students/bulk", json=rows, headers=bearer(coordinator["token"])
    )
    assert again.json()["registered"] == []
    assert again.json()["already_registered"] == body["registered"]
    assert [e["row"] for e in again.json()["errors"]] == [2, 3, 4]
    assert await running.db["students"].count_documents({}) == 1


def test_the_csv_helper_writes_the_documented_columns() -> None:
    text = class_csv([student_body("sch_1")])
    header = next(csv.reader(io.StringIO(text)))
    assert "home_lat" in header and "career_fields" in header
