"""Two matcher replicas (separate processes, one database, one consumer group) publish each
change once. Seen: each replica ran its own rounds with random match ids and an
unconditional write, so a student got two `MatchProposed` with different ids."""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient

from tests.integration.matcher.test_matcher_service import opening, student
from tests.replicas import Fleet
from tests.support import eventually, start_groups_at_the_end
from wbl_common.bus import serialize
from wbl_common.mongo import Document
from wbl_schemas.events import OpeningPublished, StudentRegistered, parse_event

pytestmark = pytest.mark.integration

STUDENTS = 40


@pytest.fixture(scope="module")
def fleet(
    kafka_bootstrap: str, mongo_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    base = int(os.environ.get("WBL_TEST_HTTP_BASE", "18000"))
    fleet = Fleet.create(Path(tmp_path_factory.mktemp("matchers")), kafka_bootstrap, mongo_uri)
    asyncio.run(start_groups_at_the_end(kafka_bootstrap, fleet.env["WBL_MATCHER_CONSUMER_NAME"]))
    for offset in (31, 32):
        fleet.add("matcher", base + offset)
    try:
        fleet.start_all()
        yield fleet
    finally:
        fleet.stop_all()


async def matches_topic_end(bootstrap: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = [TopicPartition("wbl.matches", p) for p in range(3)]
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def proposals_of(bootstrap: str, students: set[str]) -> dict[str, set[str]]:
    """Match ids proposed per student in wbl.matches, read to the topic's current end."""
    end = await matches_topic_end(bootstrap)
    consumer = AIOKafkaConsumer(
        "wbl.matches",
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: dict[str, set[str]] = defaultdict(set)
    try:
        read = dict.fromkeys(end, 0)
        while any(read[tp] < end[tp] for tp in end):
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for record in records:
                    read[tp] = record.offset + 1
                    if (record.key or b"").decode() not in students:
                        continue  # another test's, poison included
                    event = parse_event("wbl.matches", record.value)
                    if event.event_type == "MatchProposed" and event.payload.student_id in students:
                        found[event.payload.student_id].add(event.payload.match_id)
    finally:
        await consumer.stop()
    return found


async def test_two_matcher_replicas_propose_each_student_once(
    fleet: Fleet, kafka_bootstrap: str, mongo_uri: str
) -> None:
    from aiokafka import AIOKafkaProducer

    tag = fleet.env["WBL_MATCHER_CONSUMER_NAME"]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    ids = {f"stu_{tag}_{n:02}" for n in range(STUDENTS)}
    try:
        seats = OpeningPublished(producer="test", payload=opening(f"opn_{tag}", seats=STUDENTS))
        await producer.send_and_wait(seats.topic, serialize(seats), key=seats.key().encode())
        for student_id in sorted(ids):
            event = StudentRegistered(producer="test", payload=student(student_id))
            await producer.send_and_wait(event.topic, serialize(event), key=event.key().encode())
    finally:
        await producer.stop()

    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_uri)
    db = client[fleet.env["WBL_MATCHER_MONGO__DATABASE"]]

    async def all_proposed_and_quiet() -> bool:
        found = await proposals_of(kafka_bootstrap, ids)
        if set(found) != ids:
            return False
        # Quiet: no re-solve pending and nothing left to publish, on either replica.
        leftovers: list[Any] = []
        for name in ("dirty_fields", "dirty_marks", "outbox"):
            leftovers += await db[name].find({}).to_list(10)
        for name in ("proposals",):
            leftovers += await db[name].find({"outbox_pending": True}).to_list(10)
        return not leftovers

    try:
        await eventually(
            all_proposed_and_quiet, within=90, what="every student proposed, then quiet"
        )
        found = await proposals_of(kafka_bootstrap, ids)
    finally:
        await client.close()
    doubled = {sid: sorted(mids) for sid, mids in found.items() if len(mids) > 1}
    assert not doubled, f"{len(doubled)} students proposed more than once: {doubled}"
