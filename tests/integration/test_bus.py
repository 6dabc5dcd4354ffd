"""The shared plumbing against the real broker and database: the outbox relay and the
at-least-once consumer with its dead-letter topic and idempotency."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
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
from wbl_common.lease import Lease
from wbl_common.metrics import DeadLetterMetrics
from wbl_common.mongo import Document
from wbl_common.outbox import WRITE_ID, Outbox, OutboxRelay
from wbl_common.versions import created, current, revised
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


async def relay_for(db: AsyncDatabase[Document], bus: KafkaBus, **changes: Any) -> OutboxRelay:
    return OutboxRelay(Outbox(db), bus, Lease(db, "outbox-relay"), **changes)


def keyed(entity: str) -> Any:
    return lambda records: [r for r in records if r.key == entity.encode()]


async def test_the_relay_publishes_committed_changes_in_order_and_only_once(
    db: AsyncDatabase[Document], kafka_bootstrap: str
) -> None:
    entity = f"coo_{secrets.token_hex(6)}"
    first, second = coordinator_event(entity, 1), coordinator_event(entity, 2)
    outbox = Outbox(db)
    assert await outbox.write(created("coordinators", {"_id": entity, "version": 1}, [first]))
    assert await outbox.write(revised("coordinators", {"_id": entity, "version": 2}, [second]))
    # A second writer of version 2 loses: nothing of it is written or published.
    loser = coordinator_event(entity, 2)
    assert not await outbox.write(revised("coordinators", {"_id": entity, "version": 2}, [loser]))
    broker = await started_broker(kafka_bootstrap)
    async with broker:
        await broker.start()
        relay = await relay_for(db, KafkaBus(broker))
        assert await relay.lease.hold()
        assert (await relay.publish_pending()).published == 2
        assert (await relay.publish_pending()).published == 0
    assert await db["outbox"].count_documents({}) == 0
    assert await current(db, "coordinators", entity) == {
        "_id": entity,
        "version": 2,
        WRITE_ID: (await db["coordinators"].find_one({"_id": entity}) or {})[WRITE_ID],
    }

    records = await read_topic(
        kafka_bootstrap, COORDINATORS, lambda rs: len(keyed(entity)(rs)) >= 2
    )
    assert [
        CoordinatorRegistered.model_validate_json(r.value).event_id for r in keyed(entity)(records)
    ] == [
        first.event_id,
        second.event_id,
    ]


async def test_an_intent_whose_writer_died_is_committed_by_the_relay_or_dropped(
    db: AsyncDatabase[Document], kafka_bootstrap: str
) -> None:
    """A writer that queued its intent and died before (or while) committing: once the
    grace period passes, the relay commits it if nobody else did, else drops it."""
    committed_later = f"coo_{secrets.token_hex(6)}_a"
    beaten = f"coo_{secrets.token_hex(6)}_b"
    outbox = Outbox(db)
    await outbox.write(created("coordinators", {"_id": beaten, "version": 1}))
    for entity in (committed_later, beaten):
        change = created("coordinators", {"_id": entity, "version": 1, "by": "the dead writer"})
        intent = {
            "_id": f"dead-{entity}",
            "key": change.key,
            "seq": 1,
            "commit": {"collection": "coordinators", "document": change.commit.document},
            "projection": None,
            "events": [],
            "queued_at": datetime.now(UTC) - timedelta(minutes=5),
            "committed": False,
        }
        await db["outbox"].insert_one(intent)
    broker = await started_broker(kafka_bootstrap)
    async with broker:
        await broker.start()
        relay = await relay_for(db, KafkaBus(broker))
        stats = await relay.publish_pending()
    # Published: the live writer's change and the dead writer's, rolled forward.
    assert (stats.published, stats.discarded) == (2, 1)
    rolled = await db["coordinators"].find_one({"_id": committed_later})
    assert rolled is not None and rolled["by"] == "the dead writer"
    kept = await db["coordinators"].find_one({"_id": beaten})
    assert kept is not None and "by" not in kept
    assert await db["outbox"].count_documents({}) == 0


async def test_an_event_the_broker_refuses_is_parked_and_the_others_go_on(
    db: AsyncDatabase[Document], kafka_bootstrap: str
) -> None:
    """Seen: one 2 MB event (over Kafka's 1 MiB limit) stopped every later event."""
    big, small = f"coo_{secrets.token_hex(6)}_big", f"coo_{secrets.token_hex(6)}_small"
    outbox = Outbox(db)
    huge = coordinator_event(big).model_copy(update={"correlation_id": "x" * 2_000_000})
    assert await outbox.write(created("coordinators", {"_id": big, "version": 1}, [huge]))
    after = coordinator_event(small)
    assert await outbox.write(created("coordinators", {"_id": small, "version": 1}, [after]))
    broker = await started_broker(kafka_bootstrap)
    async with broker:
        await broker.start()
        relay = await relay_for(db, KafkaBus(broker))
        stats = await relay.publish_pending()
    assert (stats.published, stats.parked) == (1, 1)
    await read_topic(kafka_bootstrap, COORDINATORS, lambda rs: bool(keyed(small)(rs)))
    [parked] = await outbox.parked_events()
    assert parked.entity == f"coordinators/{big}" and "MessageSizeTooLarge" in parked.error
    assert await outbox.backlog() == (0, 0.0, 1)


async def test_one_relay_works_at_a_time_and_another_takes_over_when_it_stops(
    db: AsyncDatabase[Document],
) -> None:
    first, second = Lease(db, "outbox-relay"), Lease(db, "outbox-relay")
    assert await first.hold()
    assert not await second.hold()
    assert await first.hold()  # renewing
    await first.release()
    assert await second.hold()
    assert second.epoch > 1
    assert not await first.still_held()


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
