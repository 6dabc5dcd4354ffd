"""The shared plumbing against the real broker and database: the outbox relay and the
at-least-once consumer with its dead-letter topic and idempotency."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import pytest
from aiokafka.errors import UnknownTopicOrPartitionError
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from tests.support import eventually, read_topic, start_groups_at_the_end
from tests.tcp_gate import tcp_gate
from wbl_common.bus import (
    Consumer,
    ConsumerRetry,
    EventRejected,
    KafkaBus,
    Message,
    build_broker,
    publish_event,
    subscribe,
)
from wbl_common.config import KafkaSettings
from wbl_common.idempotency import MongoProcessedEvents, ProcessedEvents
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


class BrokerStartingUp(KafkaBus):
    """As Kafka right after a restart: for `passes` publishes, messages of `entity` are
    refused with UnknownTopicOrPartition (its partition not loaded yet) while others go."""

    def __init__(self, broker: KafkaBroker, entity: str, passes: int) -> None:
        super().__init__(broker)
        self.entity, self.passes = entity, passes

    async def publish_each(self, messages: list[Message]) -> list[BaseException | None]:
        if self.passes <= 0:
            return await super().publish_each(messages)
        self.passes -= 1
        others = [m for m in messages if m[1] != self.entity]
        sent = iter(await super().publish_each(others))
        return [
            UnknownTopicOrPartitionError() if m[1] == self.entity else next(sent) for m in messages
        ]


async def test_a_partition_unknown_while_the_broker_starts_is_retried_not_parked(
    db: AsyncDatabase[Document], kafka_bootstrap: str
) -> None:
    """Seen in the Kafka crash test: right after Kafka's restart, 3 proposals were refused
    with UnknownTopicOrPartitionError and parked for good, so 3 students never heard."""
    late, other = f"coo_{secrets.token_hex(6)}_late", f"coo_{secrets.token_hex(6)}_other"
    outbox = Outbox(db)
    for entity in (late, other):
        event = coordinator_event(entity)
        assert await outbox.write(created("coordinators", {"_id": entity, "version": 1}, [event]))
    broker = await started_broker(kafka_bootstrap)
    async with broker:
        await broker.start()
        relay = await relay_for(db, BrokerStartingUp(broker, late, passes=5))
        for _ in range(6):  # as the relay's loop: a pass where nothing went out raises
            with contextlib.suppress(UnknownTopicOrPartitionError):
                assert (await relay.publish_pending()).parked == 0
    await read_topic(kafka_bootstrap, COORDINATORS, lambda rs: bool(keyed(late)(rs)))
    assert await outbox.parked_events() == []
    assert await outbox.backlog() == (0, 0.0, 0)


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


FAST_RETRY = ConsumerRetry(attempts=3, backoff_initial_s=0.05, backoff_max_s=0.2)


async def consumer_of(
    kafka_bootstrap: str,
    marker: str,
    handle: Any,
    processed: ProcessedEvents,
    bus: KafkaBus,
    metrics: CollectorRegistry,
    retry: ConsumerRetry = FAST_RETRY,
) -> Consumer:
    """A consumer of wbl.coordinators in a group of its own that starts at the end of the
    topic, so it hears only what its test publishes."""
    await start_groups_at_the_end(kafka_bootstrap, f"test-{marker}")
    return Consumer(
        name=f"test-{marker}.{COORDINATORS}",
        topic=SPEC,
        handle=handle,
        processed=processed,
        dead_letters=bus,
        dead_lettered=DeadLetterMetrics(metrics),
        retry=retry,
    )


async def dead_letters_of(kafka_bootstrap: str, marker: str, count: int) -> list[Any]:
    def ours(records: list[Any]) -> list[Any]:
        return [r for r in records if marker in (r.key or b"").decode()]

    records = await read_topic(kafka_bootstrap, SPEC.dlq, lambda rs: len(ours(rs)) >= count)
    return ours(records)


async def test_poison_is_dead_lettered_with_its_error_and_the_consumer_goes_on(
    db: AsyncDatabase[Document], kafka_bootstrap: str
) -> None:
    """Undecodable, rejected and always-failing messages each reach the DLQ with why; the
    rejected one is tried once, the failing one as often as configured, then skipped."""
    handled: list[AnyEvent] = []
    tries: Counter[str] = Counter()
    marker = secrets.token_hex(6)

    async def handle(event: AnyEvent) -> None:
        assert isinstance(event, CoordinatorRegistered)
        coordinator_id = event.payload.coordinator_id
        tries[coordinator_id] += 1
        if coordinator_id.endswith("bad"):
            raise EventRejected("no such school")
        if coordinator_id.endswith("broken"):
            raise KeyError(f"the handler's bug, for {coordinator_id}@school.example.org")
        handled.append(event)

    processed = MongoProcessedEvents(db)
    await processed.ensure_indexes()
    broker = await started_broker(kafka_bootstrap)
    bus = KafkaBus(broker)
    metrics = CollectorRegistry()
    consumer = await consumer_of(kafka_bootstrap, marker, handle, processed, bus, metrics)
    subscribe(broker, consumer)
    good = coordinator_event(f"coo_{marker}_good")
    async with broker:
        await broker.start()
        started = time.monotonic()
        await bus.publish(COORDINATORS, f"coo_{marker}_junk", b"\x00\xff not json")
        await publish_event(bus, coordinator_event(f"coo_{marker}_bad"))
        await publish_event(bus, coordinator_event(f"coo_{marker}_broken"))
        await publish_event(bus, good)
        await publish_event(bus, good)  # redelivered: handled once
        sentinel = coordinator_event(f"coo_{marker}_last")
        await publish_event(bus, sentinel)  # one partition: handled after all the above

        async def sentinel_handled() -> bool:
            return any(e.event_id == sentinel.event_id for e in handled)

        await eventually(sentinel_handled, what="the last event handled")
        took = time.monotonic() - started
        dead = await dead_letters_of(kafka_bootstrap, marker, 3)
    headers = {r.key.decode(): {k: v.decode() for k, v in r.headers} for r in dead}
    assert headers[f"coo_{marker}_junk"]["x-error"].startswith("invalid event:")
    assert headers[f"coo_{marker}_bad"]["x-error"] == "rejected: no such school"
    # The error's class and message, and no email address.
    assert headers[f"coo_{marker}_broken"]["x-error"] == (
        'failed 3 times: KeyError: "the handler\'s bug, for <email>"'
    )
    assert {h["x-reason"] for h in headers.values()} == {"invalid", "rejected", "failed"}
    assert all(h["x-consumer"] == consumer.name for h in headers.values())
    assert all(h["x-original-topic"] == COORDINATORS for h in headers.values())
    assert (tries[f"coo_{marker}_bad"], tries[f"coo_{marker}_broken"]) == (1, 3)
    assert took < 20, f"the poison held the partition up {took:.1f}s"
    for reason in ("invalid", "rejected", "failed"):
        labels = {"topic": COORDINATORS, "reason": reason}
        assert (metrics.get_sample_value("wbl_dead_letters_total", labels) or 0) >= 1, reason
    assert [e.event_id for e in handled].count(good.event_id) == 1
    assert await processed.seen(consumer.name, good.event_id)


async def test_a_database_outage_is_retried_until_it_ends_and_never_dead_lettered(
    mongo_uri: str, db: AsyncDatabase[Document], kafka_bootstrap: str
) -> None:
    """With the consumer's database unreachable for longer than one outage budget, the
    event waits (retried with backoff, handed back to Kafka's poll meanwhile), then is
    handled once; nothing is dead-lettered."""
    marker = secrets.token_hex(6)
    upstream = urlsplit(mongo_uri)
    async with tcp_gate(upstream.hostname or "127.0.0.1", upstream.port or 27017) as gate:
        client: AsyncMongoClient[Document] = AsyncMongoClient(
            f"mongodb://127.0.0.1:{gate.port}/", serverSelectionTimeoutMS=300, tz_aware=True
        )
        gated = client[db.name]
        processed = CountingProcessedEvents(MongoProcessedEvents(gated))
        await processed.inner.ensure_indexes()
        handled: list[AnyEvent] = []

        async def handle(event: AnyEvent) -> None:
            await gated["coordinators"].insert_one({"_id": str(event.event_id)})
            handled.append(event)

        broker = await started_broker(kafka_bootstrap)
        bus = KafkaBus(broker)
        metrics = CollectorRegistry()
        # The smallest poll interval allowed: an outage budget of 5 s.
        retry = replace(FAST_RETRY, attempt_timeout_s=1, max_poll_interval_ms=10_000)
        consumer = await consumer_of(
            kafka_bootstrap, marker, handle, processed, bus, metrics, retry
        )
        subscribe(broker, consumer)
        event = coordinator_event(f"coo_{marker}")
        try:
            async with broker:
                await broker.start()
                gate.cut()
                cut_at = time.monotonic()
                await publish_event(bus, event)
                await eventually(lambda: _at_least(processed, 3), what="retries during the outage")
                await eventually(
                    lambda: _elapsed_since(cut_at, retry.outage_budget_s + 1),
                    within=retry.outage_budget_s + 5,
                    what="the outage outlasting one budget",
                )
                tried_in_outage = processed.seen_calls
                gate.restore()

                async def handled_once() -> bool:
                    return [e.event_id for e in handled] == [event.event_id]

                await eventually(handled_once, what="the event handled after the outage")
                outage_s = time.monotonic() - cut_at
        finally:
            await client.close()
    assert await MongoProcessedEvents(db).seen(consumer.name, event.event_id)
    # Backoff: far fewer tries than a tight loop would make, and at least one per second
    # at the start of each budget.
    assert 3 <= tried_in_outage <= outage_s * 4, (tried_in_outage, outage_s)
    for reason in ("invalid", "rejected", "failed"):
        labels = {"topic": COORDINATORS, "reason": reason}
        assert metrics.get_sample_value("wbl_dead_letters_total", labels) == 0


class CountingProcessedEvents:
    def __init__(self, inner: MongoProcessedEvents) -> None:
        self.inner = inner
        self.seen_calls = 0

    async def seen(self, consumer: str, event_id: UUID) -> bool:
        self.seen_calls += 1
        return await self.inner.seen(consumer, event_id)

    async def mark(self, consumer: str, event_id: UUID) -> None:
        await self.inner.mark(consumer, event_id)

    async def seen_among(self, consumer: str, event_ids: Sequence[UUID]) -> set[UUID]:
        self.seen_calls += 1
        return await self.inner.seen_among(consumer, event_ids)

    async def mark_all(self, consumer: str, event_ids: Sequence[UUID]) -> None:
        await self.inner.mark_all(consumer, event_ids)


async def _at_least(processed: CountingProcessedEvents, calls: int) -> bool:
    return processed.seen_calls >= calls


async def _elapsed_since(moment: float, seconds: float) -> bool:
    return time.monotonic() - moment >= seconds
