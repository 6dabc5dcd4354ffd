"""The shared plumbing against the real broker and database: the outbox relay and the
at-least-once consumer with its dead-letter topic and idempotency."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry
from pymongo.asynchronous.database import AsyncDatabase

from tests.support import eventually, read_topic
from wbl_common.bus import (
    Consumer,
    EventRejected,
    KafkaBus,
    build_broker,
    publish_event,
    subscribe,
)
from wbl_common.config import KafkaSettings
from wbl_common.idempotency import MongoProcessedEvents
from wbl_common.metrics import DeadLetterMetrics
from wbl_common.mongo import Document
from wbl_common.outbox import OutboxRelay, new_with_outbox, with_outbox
from wbl_schemas.events import AnyEvent, CoordinatorProfile, CoordinatorRegistered
from wbl_schemas.topics import COORDINATORS, TOPIC_SPECS

pytestmark = pytest.mark.integration

SPEC = next(s for s in TOPIC_SPECS if s.name == COORDINATORS)


def coordinator_event(coordinator_id: str, version: int = 1) -> CoordinatorRegistered:
    return CoordinatorRegistered(
        producer="test",
        payload=CoordinatorProfile(
            coordinator_id=coordinator_id, version=version, school_ids=("sch_test",)
        ),
    )


async def started_broker(bootstrap: str) -> KafkaBroker:
    broker = build_broker(KafkaSettings(bootstrap_servers=bootstrap), "test", CollectorRegistry())
    return broker


async def test_the_relay_publishes_pending_events_in_order_and_only_once(
    db: AsyncDatabase[Document], kafka_bootstrap: str
) -> None:
    entity = f"coo_{secrets.token_hex(6)}"
    first, second = coordinator_event(entity, 1), coordinator_event(entity, 2)
    collection = db["coordinators"]
    await collection.insert_one(new_with_outbox({"_id": entity, "version": 1}, first))
    await collection.update_one({"_id": entity}, with_outbox({"$set": {"version": 2}}, second))
    broker = await started_broker(kafka_bootstrap)
    async with broker:
        await broker.start()
        relay = OutboxRelay([collection], KafkaBus(broker))
        assert await relay.publish_pending() == 2
        assert await relay.publish_pending() == 0
    doc = await collection.find_one({"_id": entity})
    assert doc is not None and doc["outbox"] == [] and doc["outbox_pending"] is False

    ids = [str(first.event_id), str(second.event_id)]

    def both_seen(records: list[Any]) -> bool:
        return sum(1 for r in records if r.key == entity.encode()) >= 2

    records = await read_topic(kafka_bootstrap, COORDINATORS, both_seen)
    mine = [r for r in records if r.key == entity.encode()]
    assert [CoordinatorRegistered.model_validate_json(r.value).event_id.hex for r in mine] == [
        i.replace("-", "") for i in ids
    ]


async def test_a_malformed_message_goes_to_the_dead_letter_topic_and_the_consumer_goes_on(
    db: AsyncDatabase[Document], kafka_bootstrap: str
) -> None:
    handled: list[AnyEvent] = []
    marker = secrets.token_hex(6)

    async def handle(event: AnyEvent) -> None:
        if isinstance(event, CoordinatorRegistered) and event.payload.coordinator_id.endswith(
            "bad"
        ):
            raise EventRejected("no such school")
        handled.append(event)

    processed = MongoProcessedEvents(db)
    await processed.ensure_indexes()
    broker = await started_broker(kafka_bootstrap)
    bus = KafkaBus(broker)
    metrics = CollectorRegistry()
    consumer = Consumer(
        name=f"test-{marker}",
        topic=SPEC,
        handle=handle,
        processed=processed,
        dead_letters=bus,
        dead_lettered=DeadLetterMetrics(metrics),
    )
    subscribe(broker, consumer)
    good = coordinator_event(f"coo_{marker}_good")
    async with broker:
        await broker.start()
        await bus.publish(COORDINATORS, f"coo_{marker}_junk", b'{"not": "an event"}')
        await publish_event(bus, coordinator_event(f"coo_{marker}_bad"))
        await publish_event(bus, good)
        await publish_event(bus, good)  # redelivered: handled once
        sentinel = coordinator_event(f"coo_{marker}_last")
        await publish_event(bus, sentinel)  # one partition: handled after all the above

        async def sentinel_handled() -> bool:
            return any(e.event_id == sentinel.event_id for e in handled)

        await eventually(sentinel_handled, what="the last event handled")

        async def dead_letters() -> list[Any]:
            records = await read_topic(
                kafka_bootstrap,
                SPEC.dlq,
                lambda rs: sum(1 for r in rs if marker in (r.key or b"").decode()) >= 2,
            )
            return [r for r in records if marker in (r.key or b"").decode()]

        dead = await dead_letters()
    errors = {r.key.decode(): dict(r.headers)["x-error"].decode() for r in dead}
    assert errors[f"coo_{marker}_junk"].startswith("invalid event:")
    assert errors[f"coo_{marker}_bad"] == "rejected: no such school"
    for reason in ("invalid", "rejected"):  # at least ours: the group starts at the earliest
        labels = {"topic": COORDINATORS, "reason": reason}
        assert (metrics.get_sample_value("wbl_dead_letters_total", labels) or 0) >= 1, reason
    assert [e.event_id for e in handled].count(good.event_id) == 1
    assert await processed.seen(consumer.name, good.event_id)
