"""A consumer taking a batch at a time: one handler call for the events it has not yet
processed, marks for all of them, and a failing batch handled event by event so only the
poison event is dead-lettered."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from prometheus_client import CollectorRegistry
from pymongo.errors import NetworkTimeout

from tests.unit.registry.builders import proposed
from wbl_common.bus import (
    Consumer,
    ConsumerRetry,
    InMemoryBus,
    Record,
    serialize,
)
from wbl_common.idempotency import InMemoryProcessedEvents
from wbl_common.metrics import DeadLetterMetrics
from wbl_schemas import topics
from wbl_schemas.events import AnyEvent, MatchProposed
from wbl_schemas.topics import TOPIC_SPECS

pytestmark = pytest.mark.unit

RETRY = ConsumerRetry(attempts=2, backoff_initial_s=0.001, backoff_max_s=0.001)
SPEC = next(s for s in TOPIC_SPECS if s.name == topics.MATCHES)


class Recorder:
    def __init__(self, poison: set[str] | None = None, outages: int = 0) -> None:
        self.batches: list[list[str]] = []
        self.singles: list[str] = []
        self.poison = poison or set()
        self.outages = outages

    def _check(self, events: Sequence[AnyEvent]) -> list[str]:
        ids = [e.payload.match_id for e in events if isinstance(e, MatchProposed)]
        if self.outages:
            self.outages -= 1
            raise NetworkTimeout("the database did not answer")
        if self.poison & set(ids):
            raise ValueError("this match can never be handled")
        return ids

    async def batch(self, events: Sequence[AnyEvent]) -> None:
        self.batches.append(self._check(events))

    async def single(self, event: AnyEvent) -> None:
        self.singles += self._check([event])


def consumer_of(recorder: Recorder, bus: InMemoryBus) -> Consumer:
    return Consumer(
        name="test.matches",
        topic=SPEC,
        handle=recorder.single,
        processed=InMemoryProcessedEvents(),
        dead_letters=bus,
        dead_lettered=DeadLetterMetrics(CollectorRegistry()),
        retry=RETRY,
        handle_batch=recorder.batch,
    )


def records(count: int) -> tuple[list[str], list[Record]]:
    events = [proposed(f"stu_{i}", "sch_1", "opn_1", "emp_1") for i in range(count)]
    ids = [e.payload.match_id for e in events]
    return ids, [Record(serialize(e), e.key().encode()) for e in events]


async def test_a_batch_is_one_handler_call_and_a_redelivered_batch_none() -> None:
    recorder, bus = Recorder(), InMemoryBus()
    consumer = consumer_of(recorder, bus)
    ids, batch = records(5)
    await consumer.on_batch([*batch, batch[0]])  # a duplicate within the batch counts once
    await consumer.on_batch(batch)
    assert recorder.batches == [ids]
    assert recorder.singles == [] and bus.sent == []


async def test_a_poison_event_is_dead_lettered_alone_and_the_others_handled() -> None:
    ids, batch = records(4)
    recorder, bus = Recorder(poison={ids[2]}), InMemoryBus()
    consumer = consumer_of(recorder, bus)
    undecodable = Record(b"{not json", b"key")
    await consumer.on_batch([batch[0], undecodable, *batch[1:]])
    assert recorder.batches == []  # the batch failed, so its events went one by one
    assert recorder.singles == [ids[0], ids[1], ids[3]]
    letters = [(topic, headers["x-reason"]) for topic, _, _, headers in bus.sent]
    assert letters == [(SPEC.dlq, "invalid"), (SPEC.dlq, "failed")]
    await consumer.on_batch(batch)  # all four are processed now, the poison one included
    assert recorder.singles == [ids[0], ids[1], ids[3]] and len(bus.sent) == 2


async def test_an_outage_retries_the_whole_batch_and_dead_letters_nothing() -> None:
    recorder, bus = Recorder(outages=2), InMemoryBus()
    consumer = consumer_of(recorder, bus)
    ids, batch = records(3)
    await consumer.on_batch(batch)
    assert recorder.batches == [ids] and recorder.singles == [] and bus.sent == []
