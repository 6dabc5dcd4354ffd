"""Publishing and consuming events on Kafka through FastStream.

Delivery is at least once: subscribers use `AckPolicy.NACK_ON_ERROR` (FastStream's default
for Kafka is at-most-once), commit only after the handler's own write, and skip events a
consumer already processed. Malformed messages and domain rejections go to `<topic>.dlq`
with the error; infrastructure failures are retried with backoff, then redelivered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import structlog
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from pymongo.errors import PyMongoError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from wbl_common.config import KafkaSettings
from wbl_common.idempotency import ProcessedEvents
from wbl_common.logs import CONSUMED_MESSAGES
from wbl_common.metrics import DeadLetterMetrics
from wbl_schemas.envelope import Envelope
from wbl_schemas.events import AnyEvent, parse_event
from wbl_schemas.topics import TopicSpec

log = structlog.get_logger(__name__)


class EventRejected(Exception):
    """A well-formed event the domain cannot accept; it goes to the dead-letter topic."""


Message = tuple[str, str, bytes]  # topic, key, value


class MessageBus(Protocol):
    async def publish(
        self, topic: str, key: str, value: bytes, headers: dict[str, str] | None = None
    ) -> None: ...

    async def publish_many(self, messages: list[Message]) -> None:
        """Send all, in order per key, and return once the broker acknowledged every one."""
        ...

    async def publish_each(self, messages: list[Message]) -> list[BaseException | None]:
        """Send all, in order per key; for each, None once acknowledged, or its error."""
        ...


def serialize(event: Envelope) -> bytes:
    return event.model_dump_json().encode()


async def publish_event(bus: MessageBus, event: Envelope) -> None:
    await bus.publish(event.topic, event.key(), serialize(event))


def build_broker(
    settings: KafkaSettings, client_id: str, metrics: CollectorRegistry
) -> KafkaBroker:
    """A broker object; it connects only when started (from the app's lifespan)."""
    return KafkaBroker(
        settings.bootstrap_servers,
        client_id=client_id,
        request_timeout_ms=settings.request_timeout_ms,
        acks="all",
        enable_idempotence=True,
        allow_auto_create_topics=False,
        middlewares=[KafkaPrometheusMiddleware(registry=metrics, app_name=client_id)],
        # "Received"/"Processed" for each message: ids only, at DEBUG, through the JSON
        # handler (FastStream's own logger writes ANSI-coloured lines of its own).
        logger=logging.getLogger(CONSUMED_MESSAGES),
        log_level=logging.DEBUG,
    )


class KafkaBus:
    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def publish(
        self, topic: str, key: str, value: bytes, headers: dict[str, str] | None = None
    ) -> None:
        await self._broker.publish(value, topic=topic, key=key.encode(), headers=headers)

    async def publish_many(self, messages: list[Message]) -> None:
        # Queue everything first so the producer batches it, then wait for every ack.
        pending = [
            await self._broker.publish(value, topic=topic, key=key.encode(), no_confirm=True)
            for topic, key, value in messages
        ]
        await asyncio.gather(*pending)

    async def publish_each(self, messages: list[Message]) -> list[BaseException | None]:
        # Queue everything first so the producer batches it; a message the producer refuses
        # (too large) fails at once, the others when the broker answers.
        queued: list[Awaitable[object] | BaseException] = []
        for topic, key, value in messages:
            try:
                queued.append(
                    await self._broker.publish(
                        value, topic=topic, key=key.encode(), no_confirm=True
                    )
                )
            except Exception as error:
                queued.append(error)
        outcomes: list[BaseException | None] = []
        for item in queued:
            if isinstance(item, BaseException):
                outcomes.append(item)
                continue
            try:
                await item
                outcomes.append(None)
            except Exception as error:
                outcomes.append(error)
        return outcomes


@dataclass
class InMemoryBus:
    """Records what was published; for unit tests of handlers."""

    sent: list[tuple[str, str, bytes, dict[str, str]]] = field(default_factory=list)

    async def publish(
        self, topic: str, key: str, value: bytes, headers: dict[str, str] | None = None
    ) -> None:
        self.sent.append((topic, key, value, headers or {}))

    async def publish_many(self, messages: list[Message]) -> None:
        for topic, key, value in messages:
            await self.publish(topic, key, value)

    async def publish_each(self, messages: list[Message]) -> list[BaseException | None]:
        await self.publish_many(messages)
        return [None] * len(messages)

    def events(self, topic: str) -> list[AnyEvent]:
        return [parse_event(topic, value) for t, _, value, _ in self.sent if t == topic]


EventHandler = Callable[[AnyEvent], Awaitable[None]]


@dataclass
class Consumer:
    """Runs one handler over one topic: parse, skip seen events, handle, mark, or dead-letter."""

    name: str
    topic: TopicSpec
    handle: EventHandler
    processed: ProcessedEvents
    dead_letters: MessageBus
    dead_lettered: DeadLetterMetrics
    attempts: int = 5

    def __post_init__(self) -> None:
        self.dead_lettered.expect(self.topic.name, "invalid", "rejected")

    async def on_message(self, body: bytes | None, key: bytes | None) -> None:
        if body is None:  # a tombstone on a compacted topic: nothing to do
            return
        try:
            event = parse_event(self.topic.name, body)
        except ValidationError as error:
            await self._dead_letter(body, key, "invalid", f"invalid event: {_first_errors(error)}")
            return
        if await self.processed.seen(self.name, event.event_id):
            return
        try:
            await self._with_retries(event)
        except EventRejected as error:
            await self._dead_letter(body, key, "rejected", f"rejected: {error}")
            return
        await self.processed.mark(self.name, event.event_id)

    async def _with_retries(self, event: AnyEvent) -> None:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(PyMongoError),
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=0.1, max=2),
            reraise=True,
        ):
            with attempt:
                await self.handle(event)

    async def _dead_letter(self, body: bytes, key: bytes | None, reason: str, error: str) -> None:
        headers = {"x-error": error[:2000], "x-original-topic": self.topic.name}
        await self.dead_letters.publish(
            self.topic.dlq, (key or b"").decode(errors="replace"), body, headers
        )
        self.dead_lettered.count(self.topic.name, reason)
        log.warning(
            "event dead-lettered",
            consumer=self.name,
            topic=self.topic.name,
            reason=reason,
            error=error[:500],
        )


def _first_errors(error: ValidationError, limit: int = 3) -> str:
    parts = [
        f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
        for e in error.errors()[:limit]
    ]
    return "; ".join(parts)


def subscribe(broker: KafkaBroker, consumer: Consumer) -> None:
    """Register `consumer` on the broker with at-least-once delivery in its own group."""

    @broker.subscriber(
        consumer.topic.name,
        group_id=consumer.name,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
    )
    async def on_message(message: KafkaMessage) -> None:
        raw = message.raw_message
        record = raw[0] if isinstance(raw, tuple) else raw
        await consumer.on_message(record.value, record.key)
