"""Poison never stops the line, for every topic every service consumes: registry, matcher
and notifier run (their bootstraps, in-process) against the real broker and database; on
each consumed topic an undecodable message, a schema-invalid one and one whose handling
always fails are followed by a good one. The good ones are all processed, each bad one is
in its topic's DLQ with its error, and the bad ones cost a bounded time."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from tests.support import eventually, read_topic, start_groups_at_the_end
from wbl_common.bus import BatchHandler, EventHandler, serialize
from wbl_common.mongo import Document
from wbl_common.runtime import Runtime
from wbl_matcher.bootstrap import bootstrap as matcher_bootstrap
from wbl_matcher.config import MatcherSettings
from wbl_notifier.bootstrap import bootstrap as notifier_bootstrap
from wbl_notifier.config import NotifierSettings
from wbl_registry.bootstrap import bootstrap as registry_bootstrap
from wbl_registry.config import RegistrySettings
from wbl_schemas.envelope import Envelope
from wbl_schemas.events import (
    AnyEvent,
    CoordinatorRef,
    CoordinatorRemoved,
    EmployerProfile,
    EmployerUpdated,
    MatchWithdrawal,
    MatchWithdrawn,
    OpeningClosed,
    OpeningRef,
    PlacementDecision,
    PlacementDeclined,
    StudentRef,
    StudentWithdrawn,
)
from wbl_schemas.topics import COORDINATORS, EMPLOYERS, MATCHES, OPENINGS, PLACEMENTS, STUDENTS

pytestmark = pytest.mark.integration

CONSUMED = {
    "registry": (MATCHES,),
    "matcher": (OPENINGS, STUDENTS, PLACEMENTS),
    "notifier": (COORDINATORS, EMPLOYERS, MATCHES, PLACEMENTS),
}
ATTEMPTS = 3
KAFKA_RETRY = {
    "handler_attempts": ATTEMPTS,
    "retry_backoff_initial_s": 0.05,
    "retry_backoff_max_s": 0.2,
}
FAULT = "injected fault: this event can never be handled"


def event_of(topic: str, key: str) -> Envelope:
    """A small, well-formed event of `topic` whose key is `key`."""
    if topic == OPENINGS:
        return OpeningClosed(
            producer="test", payload=OpeningRef(opening_id=key, employer_id="emp_p", version=1)
        )
    if topic == STUDENTS:
        return StudentWithdrawn(
            producer="test", payload=StudentRef(student_id=key, school_id="sch_p", version=1)
        )
    if topic == MATCHES:
        withdrawal = MatchWithdrawal(
            match_id=f"mat_{secrets.token_hex(4)}",
            round_id="rnd_p",
            student_id=key,
            school_id="sch_p",
            opening_id="opn_p",
            reason="the opening closed",
        )
        return MatchWithdrawn(producer="test", payload=withdrawal)
    if topic == PLACEMENTS:
        decision = PlacementDecision(
            match_id=f"mat_{secrets.token_hex(4)}",
            student_id=key,
            school_id="sch_p",
            opening_id="opn_p",
            coordinator_id="coo_p",
        )
        return PlacementDeclined(producer="test", payload=decision)
    if topic == EMPLOYERS:
        profile = EmployerProfile(employer_id=key, version=1, webhook_url=None)
        return EmployerUpdated(producer="test", payload=profile)
    assert topic == COORDINATORS
    removal = CoordinatorRef(coordinator_id=key, version=1)
    return CoordinatorRemoved(producer="test", payload=removal)


def schema_invalid(event: Envelope) -> bytes:
    envelope = json.loads(serialize(event))
    envelope["payload"] = {"unexpected": "fields only"}
    return json.dumps(envelope).encode()


UNDECODABLE = b"\x00\xff\xfe this is not JSON"


@dataclass
class Poison:
    """Events whose handling fails every time, in every consumer, through the handler."""

    event_ids: set[UUID]

    def around(self, handle: EventHandler) -> EventHandler:
        async def faulty(event: AnyEvent) -> None:
            if event.event_id in self.event_ids:
                raise RuntimeError(FAULT)
            await handle(event)

        return faulty

    def around_batches(self, handle: BatchHandler | None) -> BatchHandler | None:
        if handle is None:
            return None

        async def faulty(events: Sequence[AnyEvent]) -> None:
            if any(e.event_id in self.event_ids for e in events):
                raise RuntimeError(FAULT)
            await handle(events)

        return faulty


@pytest.fixture
async def services(
    kafka_bootstrap: str, mongo_uri: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[dict[str, Runtime], Poison]]:
    poison = Poison(set())
    consume = Runtime.consume

    def consume_with_fault(
        self: Runtime, topic: Any, handle: EventHandler, batches: BatchHandler | None = None
    ) -> None:
        consume(self, topic, poison.around(handle), poison.around_batches(batches))

    monkeypatch.setattr(Runtime, "consume", consume_with_fault)
    tag = secrets.token_hex(4)
    secret = secrets.token_urlsafe(24)
    monkeypatch.setenv("WBL_WEBHOOK_KEY", secret)
    monkeypatch.setenv("WBL_NOTIFIER_LINK_SECRET", secrets.token_urlsafe(24))
    monkeypatch.setenv("WBL_ADMIN_TOKEN", secrets.token_urlsafe(24))

    def common(service: str) -> dict[str, Any]:
        return {
            "kafka": {"bootstrap_servers": kafka_bootstrap, **KAFKA_RETRY},
            "mongo": {"uri": mongo_uri, "database": f"poison_{tag}_{service}"},
            "consumer_name": f"poison-{tag}-{service}",
        }

    for service in CONSUMED:
        await start_groups_at_the_end(kafka_bootstrap, f"poison-{tag}-{service}")
    try:
        async with (
            registry_bootstrap(RegistrySettings(**common("registry"))) as registry,
            matcher_bootstrap(MatcherSettings(**common("matcher"))) as matcher,
            notifier_bootstrap(NotifierSettings(**common("notifier"))) as notifier,
        ):
            yield (
                {
                    "registry": registry.runtime,
                    "matcher": matcher.runtime,
                    "notifier": notifier.runtime,
                },
                poison,
            )
    finally:
        client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_uri)
        for service in CONSUMED:
            with contextlib.suppress(Exception):
                await client.drop_database(f"poison_{tag}_{service}")
        await client.close()


@contextlib.asynccontextmanager
async def producer_on(bootstrap: str) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        yield producer.send_and_wait
    finally:
        await producer.stop()


async def test_every_consumer_dead_letters_poison_and_processes_what_follows(
    services: tuple[dict[str, Runtime], Poison], kafka_bootstrap: str
) -> None:
    runtimes, poison = services
    topics = sorted({t for consumed in CONSUMED.values() for t in consumed})
    keys = {topic: f"poison_{topic.split('.')[1]}_{secrets.token_hex(4)}" for topic in topics}
    good = {topic: event_of(topic, keys[topic]) for topic in topics}
    failing = {topic: event_of(topic, keys[topic]) for topic in topics}
    poison.event_ids.update(e.event_id for e in failing.values())
    started = time.monotonic()
    async with producer_on(kafka_bootstrap) as send:
        for topic in topics:  # one key per topic: one partition, in this order
            key = keys[topic].encode()
            await send(topic, UNDECODABLE, key=key)
            await send(topic, schema_invalid(good[topic]), key=key)
            await send(topic, serialize(failing[topic]), key=key)
            await send(topic, serialize(good[topic]), key=key)

    async def waiting() -> list[str]:
        return [
            f"{service}.{topic}"
            for service, consumed in CONSUMED.items()
            for topic in consumed
            if not await runtimes[service].processed.seen(
                f"{runtimes[service].service}.{topic}", good[topic].event_id
            )
        ]

    async def all_processed() -> bool:
        return not await waiting()

    try:
        await eventually(all_processed, within=60, what="every good event processed")
    except AssertionError as error:
        raise AssertionError(f"still waiting: {await waiting()}") from error
    took = time.monotonic() - started

    def ours(records: list[Any], topic: str) -> list[Any]:
        return [r for r in records if r.key == keys[topic].encode()]

    for topic in topics:
        consumers = [runtimes[s].service + f".{topic}" for s in CONSUMED if topic in CONSUMED[s]]
        expected = 3 * len(consumers)  # each consumer sets the three bad messages aside

        def all_set_aside(records: list[Any], topic: str = topic, expected: int = expected) -> bool:
            return len(ours(records, topic)) >= expected

        dead = await read_topic(kafka_bootstrap, f"{topic}.dlq", all_set_aside)
        records = ours(dead, topic)
        for consumer in consumers:
            letters = [
                (r.value, {k: v.decode() for k, v in r.headers})
                for r in records
                if dict(r.headers).get("x-consumer") == consumer.encode()
            ]
            assert [(body, h["x-reason"]) for body, h in letters] == [
                (UNDECODABLE, "invalid"),
                (schema_invalid(good[topic]), "invalid"),
                (serialize(failing[topic]), "failed"),
            ], consumer
            errors = [h["x-error"] for _, h in letters]
            assert errors[0].startswith("invalid event: <root>: Invalid JSON"), errors[0]
            assert errors[1].startswith("invalid event: "), errors[1]
            assert errors[2] == f"failed {ATTEMPTS} times: RuntimeError: {FAULT}"
            assert {h["x-original-topic"] for _, h in letters} == {topic}
    # Each poison message costs its tries and backoffs (well under a second here), not more.
    assert took < 30, f"the poison held the consumers up {took:.1f}s"
    for service, consumed in CONSUMED.items():
        for topic in consumed:
            for reason in ("invalid", "failed"):
                labels = {"topic": topic, "reason": reason}
                counted = runtimes[service].metrics.get_sample_value(
                    "wbl_dead_letters_total", labels
                )
                assert (counted or 0) >= (2 if reason == "invalid" else 1), (service, labels)
