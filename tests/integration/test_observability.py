"""Logs and gauges of the shared plumbing against the real broker and database: what a
consumed message logs, consumer lag as the broker reports it, and the outbox gauges."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry
from pymongo.asynchronous.database import AsyncDatabase

from tests.support import eventually, json_lines, restored_logging, start_groups_at_the_end
from wbl_common.bus import (
    Consumer,
    InMemoryBus,
    KafkaBus,
    MessageBus,
    build_broker,
    serialize,
    subscribe,
)
from wbl_common.config import KafkaSettings
from wbl_common.idempotency import InMemoryProcessedEvents
from wbl_common.lag import ConsumerLag
from wbl_common.lease import Lease
from wbl_common.logs import configure_logging
from wbl_common.metrics import DeadLetterMetrics, OutboxMetrics, consumer_lag_gauge
from wbl_common.mongo import Document
from wbl_common.outbox import Outbox, OutboxRelay
from wbl_common.versions import created
from wbl_schemas.events import AnyEvent, CoordinatorProfile, CoordinatorRegistered
from wbl_schemas.topics import COORDINATORS, TOPIC_SPECS

pytestmark = pytest.mark.integration

SPEC = next(s for s in TOPIC_SPECS if s.name == COORDINATORS)  # one partition: ordered


@pytest.fixture(autouse=True)
def _restored_logging() -> Iterator[None]:
    with restored_logging():
        yield


def coordinator_event(
    coordinator_id: str, occurred_at: datetime | None = None
) -> CoordinatorRegistered:
    extra = {"occurred_at": occurred_at} if occurred_at else {}
    return CoordinatorRegistered(
        producer="test",
        payload=CoordinatorProfile(coordinator_id=coordinator_id, version=1, school_ids=("s",)),
        **extra,
    )


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
async def test_a_consumed_message_logs_its_ids_at_debug_and_nothing_at_warning(
    level: str, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("notifier", level)
    prefix = f"logs-{secrets.token_hex(4)}"
    await start_groups_at_the_end(kafka_bootstrap, prefix)
    handled: list[AnyEvent] = []

    async def handle(event: AnyEvent) -> None:
        handled.append(event)

    broker = build_broker(
        KafkaSettings(bootstrap_servers=kafka_bootstrap), "wbl-test", CollectorRegistry()
    )
    consumer = Consumer(
        name=f"{prefix}.{COORDINATORS}",
        topic=SPEC,
        handle=handle,
        processed=InMemoryProcessedEvents(),
        dead_letters=InMemoryBus(),
        dead_lettered=DeadLetterMetrics(CollectorRegistry()),
    )
    subscribe(broker, consumer)
    event = coordinator_event(f"coo_{prefix}")

    async def was_handled() -> bool:
        return any(e.event_id == event.event_id for e in handled)

    async with broker:
        await broker.start()
        await KafkaBus(broker).publish(COORDINATORS, event.key(), serialize(event))
        await eventually(was_handled, what="the event handled")

    out, err = capsys.readouterr()
    assert out == ""
    logged = json_lines(err)
    assert {line["service"] for line in logged} == {"notifier"}
    assert [line for line in logged if line["level"] in ("warning", "error", "critical")] == []
    mine = [
        line
        for line in logged
        if line["event"] in ("Received", "Processed") and line.get("group_id") == consumer.name
    ]
    if level == "INFO":
        assert mine == []
    else:
        assert [line["event"] for line in mine] == ["Received", "Processed"]
        assert {(line["level"], line["topic"]) for line in mine} == {("debug", COORDINATORS)}


async def test_consumer_lag_is_what_the_broker_holds_beyond_the_group_commit(
    kafka_bootstrap: str,
) -> None:
    prefix = f"lag-{secrets.token_hex(4)}"
    group = f"{prefix}.{COORDINATORS}"
    await start_groups_at_the_end(kafka_bootstrap, prefix)
    registry = CollectorRegistry()
    lag = ConsumerLag(kafka_bootstrap, "wbl-test-lag", consumer_lag_gauge(registry))
    lag.watch(group, SPEC)
    partition = TopicPartition(COORDINATORS, 0)
    labels = {"group": group, "topic": COORDINATORS, "partition": "0"}
    try:
        assert (await lag.sample())[(group, partition)] == 0
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for n in range(3):
                await producer.send_and_wait(COORDINATORS, b"{}", key=f"{prefix}-{n}".encode())
        finally:
            await producer.stop()
        assert (await lag.sample())[(group, partition)] == 3
        assert registry.get_sample_value("wbl_kafka_consumer_lag_messages", labels) == 3

        # The group catches up: commit everything up to the end.
        member = AIOKafkaConsumer(
            bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False
        )
        await member.start()
        try:
            member.assign([partition])
            await member.commit(await member.end_offsets([partition]))
        finally:
            await member.stop()
        assert (await lag.sample())[(group, partition)] == 0
        assert registry.get_sample_value("wbl_kafka_consumer_lag_messages", labels) == 0
    finally:
        await lag.close()


class BrokerDown:
    async def publish(
        self, topic: str, key: str, value: bytes, headers: dict[str, str] | None = None
    ) -> None:
        raise ConnectionError("broker down")

    async def publish_many(self, messages: list[tuple[str, str, bytes]]) -> None:
        raise ConnectionError("broker down")

    async def publish_each(
        self, messages: list[tuple[str, str, bytes]]
    ) -> list[BaseException | None]:
        return [ConnectionError("broker down") for _ in messages]


async def test_the_outbox_gauges_show_what_waits_and_for_how_long(
    db: AsyncDatabase[Document],
) -> None:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    for n, written_at in enumerate((an_hour_ago, datetime.now(UTC))):
        entity = f"coo_gauge_{n}"
        outbox = Outbox(db, clock=lambda at=written_at: at)  # type: ignore[misc]
        event = coordinator_event(entity, written_at)
        assert await outbox.write(created("coordinators", {"_id": entity, "version": 1}, [event]))
    registry = CollectorRegistry()
    metrics = OutboxMetrics(registry)
    metrics.expect("coordinators")
    labels = {"collection": "coordinators"}

    def gauge(name: str) -> float | None:
        return registry.get_sample_value(name, labels)

    def relay(bus: MessageBus) -> OutboxRelay:
        return OutboxRelay(Outbox(db), bus, Lease(db, "gauges"), metrics=metrics)

    assert gauge("wbl_outbox_pending_events") == 0  # visible before the first pass
    with pytest.raises(ConnectionError):
        await relay(BrokerDown()).publish_pending()
    assert gauge("wbl_outbox_pending_events") == 2
    age = gauge("wbl_outbox_oldest_pending_age_seconds")
    assert age is not None and 3_590 < age < 3_700

    working = relay(InMemoryBus())
    assert (await working.publish_pending()).published == 2
    assert (await working.publish_pending()).published == 0
    assert gauge("wbl_outbox_pending_events") == 0
    assert gauge("wbl_outbox_oldest_pending_age_seconds") == 0
    assert registry.get_sample_value("wbl_outbox_parked_events") == 0
