"""Publishing and consuming events on Kafka through FastStream.

Delivery is at least once: subscribers use `AckPolicy.NACK_ON_ERROR` (FastStream's default
for Kafka is at-most-once), commit only after the handler's own write, and skip events a
consumer already processed.

Poison never stops a partition. A message that fails validation, that its handler rejects
(`EventRejected`: it can never succeed) or whose handler keeps failing after a bounded
number of attempts with backoff goes to `<topic>.dlq` with the error, is marked processed,
and the partition moves on. An outage of the consumer's own infrastructure (its database,
the broker) is not the message's fault: the message is retried with backoff until the
outage ends, never dead-lettered, and handed back to Kafka's poll loop now and then so the
consumer stays in its group.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar
from uuid import UUID

import structlog
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NoBrokersAvailable,
)
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from pymongo.errors import (
    ConnectionFailure,
    ExecutionTimeout,
    PyMongoError,
    WTimeoutError,
)
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
)

from wbl_common.config import KafkaSettings
from wbl_common.idempotency import ProcessedEvents
from wbl_common.logs import CONSUMED_MESSAGES, scrub
from wbl_common.metrics import DeadLetterMetrics
from wbl_schemas.envelope import Envelope
from wbl_schemas.events import AnyEvent, parse_event
from wbl_schemas.topics import TopicSpec

log = structlog.get_logger(__name__)

T = TypeVar("T")


class EventRejected(Exception):
    """Raised by a handler for a well-formed event that can never succeed (retrying cannot
    help): it goes to the dead-letter topic at once, with this message as its error."""


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
# A handler of several events at once (in the order consumed), so a class list's events
# are written with one bulk write per collection instead of one round trip each.
BatchHandler = Callable[[Sequence[AnyEvent]], Awaitable[None]]

# Failures of the consumer's own infrastructure: the message is not at fault.
_OUTAGES = (
    *(ConnectionFailure, ExecutionTimeout, WTimeoutError),  # MongoDB
    *(KafkaConnectionError, KafkaTimeoutError, NoBrokersAvailable),  # Kafka
    *(TimeoutError, ConnectionError),
)
ERROR_CHARS = 500  # of an error's text in a dead letter's header and in logs


def is_outage(error: BaseException) -> bool:
    """Whether `error` says the infrastructure is unavailable (retry until it is back), as
    opposed to this message failing (retry a few times, then dead-letter). A timeout is an
    outage: every attempt is bounded, and what hangs is the database or the broker."""
    if isinstance(error, _OUTAGES):
        return True
    if isinstance(error, PyMongoError):
        return error.timeout or error.has_error_label("RetryableWriteError")
    return isinstance(error, KafkaError) and error.retriable


def describe(error: BaseException) -> str:
    """An error's class and message, bounded, without addresses, credentials or secrets."""
    return f"{type(error).__name__}: {scrub(str(error))}"[:ERROR_CHARS]


@dataclass(frozen=True)
class ConsumerRetry:
    """How a consumer retries: `attempts` tries of a failing handler with exponential
    backoff, each bounded by `attempt_timeout_s`; an outage is retried with the same
    backoff for at most `outage_budget_s` before the message goes back to Kafka's poll
    (which redelivers it), so a consumer never exceeds `max_poll_interval_ms`."""

    attempts: int = 5
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 10.0
    attempt_timeout_s: float = 20.0
    max_poll_interval_ms: int = 300_000

    @classmethod
    def of(cls, settings: KafkaSettings) -> ConsumerRetry:
        return cls(
            attempts=settings.handler_attempts,
            backoff_initial_s=settings.retry_backoff_initial_s,
            backoff_max_s=settings.retry_backoff_max_s,
            attempt_timeout_s=settings.attempt_timeout_s,
            max_poll_interval_ms=settings.max_poll_interval_ms,
        )

    @property
    def outage_budget_s(self) -> float:
        return self.max_poll_interval_ms / 2_000

    def backoff(self) -> wait_exponential:
        return wait_exponential(multiplier=self.backoff_initial_s, max=self.backoff_max_s)


@dataclass(frozen=True)
class DeadLetter:
    reason: str  # a `wbl_dead_letters_total` reason
    error: str


@dataclass(frozen=True)
class Record:
    """A consumed message's key and value."""

    body: bytes | None
    key: bytes | None


@dataclass
class Consumer:
    """Runs one handler over one topic: parse, skip seen events, handle, mark, or dead-letter.

    With `handle_batch`, the consumer takes up to `batch_size` messages at a time and hands
    the events not yet processed to it in one call; if that call fails (other than by an
    outage) the events are handled one by one, so only a poison event is dead-lettered."""

    name: str
    topic: TopicSpec
    handle: EventHandler
    processed: ProcessedEvents
    dead_letters: MessageBus
    dead_lettered: DeadLetterMetrics
    retry: ConsumerRetry = field(default_factory=ConsumerRetry)
    handle_batch: BatchHandler | None = None
    batch_size: int = 500

    def __post_init__(self) -> None:
        self.dead_lettered.expect(self.topic.name, *REASONS)

    async def on_message(self, body: bytes | None, key: bytes | None) -> None:
        """Process one message; raises only when an outage outlasted the budget, so Kafka
        redelivers the message after the consumer went back to its poll loop."""
        if body is None:  # a tombstone on a compacted topic: nothing to do
            return
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(is_outage),
            stop=stop_before_delay(self.retry.outage_budget_s),
            wait=self.retry.backoff(),
            before_sleep=self._log_outage,
            reraise=True,
        ):
            with attempt:
                await self._process(body, key)

    async def _process(self, body: bytes, key: bytes | None) -> None:
        try:
            event = parse_event(self.topic.name, body)
        except ValidationError as error:
            invalid = DeadLetter("invalid", f"invalid event: {_first_errors(error)}")
            await self._bounded(self._dead_letter(body, key, invalid))
            return
        if await self._bounded(self.processed.seen(self.name, event.event_id)):
            return
        failure = await self._handle(event)
        if failure is not None:
            await self._bounded(self._dead_letter(body, key, failure))
        await self._bounded(self.processed.mark(self.name, event.event_id))

    async def on_batch(self, records: Sequence[Record]) -> None:
        """Process messages in the order consumed; raises only as `on_message` does."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(is_outage),
            stop=stop_before_delay(self.retry.outage_budget_s),
            wait=self.retry.backoff(),
            before_sleep=self._log_outage,
            reraise=True,
        ):
            with attempt:
                await self._process_batch(records)

    async def _process_batch(self, records: Sequence[Record]) -> None:
        events: dict[UUID, tuple[AnyEvent, Record]] = {}
        for record in records:
            if record.body is None:
                continue
            try:
                event = parse_event(self.topic.name, record.body)
            except ValidationError as error:
                invalid = DeadLetter("invalid", f"invalid event: {_first_errors(error)}")
                await self._bounded(self._dead_letter(record.body, record.key, invalid))
                continue
            events.setdefault(event.event_id, (event, record))  # a duplicate within the batch
        seen = await self._bounded(self.processed.seen_among(self.name, list(events)))
        fresh = [pair for event_id, pair in events.items() if event_id not in seen]
        if fresh:
            await self._handle_all(fresh)
            await self._bounded(self.processed.mark_all(self.name, [e.event_id for e, _ in fresh]))

    async def _handle_all(self, fresh: Sequence[tuple[AnyEvent, Record]]) -> None:
        assert self.handle_batch is not None
        try:
            await self._bounded(self.handle_batch([event for event, _ in fresh]))
            return
        except Exception as error:
            if is_outage(error):
                raise
            log.info("batch failed; handling its events one by one", error=describe(error))
        for event, record in fresh:
            failure = await self._handle(event)
            if failure is not None:
                assert record.body is not None
                await self._bounded(self._dead_letter(record.body, record.key, failure))

    async def _handle(self, event: AnyEvent) -> DeadLetter | None:
        """None once handled; the dead letter when the handler rejected the event or kept
        failing. An outage is raised: it is not the event's fault."""
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(_worth_another_attempt),
                stop=stop_after_attempt(self.retry.attempts),
                wait=self.retry.backoff(),
                before_sleep=self._log_failed_attempt,
                reraise=True,
            ):
                with attempt:
                    await self._bounded(self.handle(event))
        except EventRejected as error:
            return DeadLetter("rejected", f"rejected: {scrub(str(error))}"[:ERROR_CHARS])
        except Exception as error:
            if is_outage(error):
                raise
            attempts = self.retry.attempts
            return DeadLetter("failed", f"failed {attempts} times: {describe(error)}")
        return None

    async def _bounded(self, work: Awaitable[T]) -> T:
        async with asyncio.timeout(self.retry.attempt_timeout_s):
            return await work

    async def _dead_letter(self, body: bytes, key: bytes | None, letter: DeadLetter) -> None:
        headers = {
            "x-error": letter.error,
            "x-reason": letter.reason,
            "x-original-topic": self.topic.name,
            "x-consumer": self.name,
        }
        await self.dead_letters.publish(
            self.topic.dlq, (key or b"").decode(errors="replace"), body, headers
        )
        self.dead_lettered.count(self.topic.name, letter.reason)
        log.warning(
            "event dead-lettered",
            consumer=self.name,
            topic=self.topic.name,
            reason=letter.reason,
            error=letter.error,
        )

    def _log_failed_attempt(self, state: RetryCallState) -> None:
        log.info(
            "event handling failed; retrying",
            consumer=self.name,
            attempt=state.attempt_number,
            error=_outcome(state),
        )

    def _log_outage(self, state: RetryCallState) -> None:
        log.warning(
            "infrastructure unavailable; retrying the event",
            consumer=self.name,
            topic=self.topic.name,
            attempt=state.attempt_number,
            error=_outcome(state),
        )


REASONS = ("invalid", "rejected", "failed")


def _worth_another_attempt(error: BaseException) -> bool:
    return not isinstance(error, EventRejected) and not is_outage(error)


def _outcome(state: RetryCallState) -> str:
    error = state.outcome.exception() if state.outcome is not None else None
    return describe(error) if error is not None else ""


def _first_errors(error: ValidationError, limit: int = 3) -> str:
    parts = [
        f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
        for e in error.errors()[:limit]
    ]
    return scrub("; ".join(parts))[:ERROR_CHARS]


def subscribe(broker: KafkaBroker, consumer: Consumer) -> None:
    """Register `consumer` on the broker with at-least-once delivery in its own group."""
    if consumer.handle_batch is not None:
        _subscribe_batches(broker, consumer)
        return

    @broker.subscriber(
        consumer.topic.name,
        group_id=consumer.name,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        max_poll_interval_ms=consumer.retry.max_poll_interval_ms,
    )
    async def on_message(message: KafkaMessage) -> None:
        raw = message.raw_message
        record = raw[0] if isinstance(raw, tuple) else raw
        await consumer.on_message(record.value, record.key)


def _subscribe_batches(broker: KafkaBroker, consumer: Consumer) -> None:
    """As `subscribe`, taking up to `batch_size` messages per poll; a failed batch is
    nacked whole, which rewinds every partition it spans to its first record."""

    @broker.subscriber(
        consumer.topic.name,
        group_id=consumer.name,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        max_poll_interval_ms=consumer.retry.max_poll_interval_ms,
        batch=True,
        max_records=consumer.batch_size,
        # Wait at most this long for a batch to fill: a lone event is not held back.
        batch_timeout_ms=50,
    )
    async def on_batch(message: KafkaMessage) -> None:
        raw = message.raw_message
        records = raw if isinstance(raw, tuple) else (raw,)
        await consumer.on_batch([Record(r.value, r.key) for r in records])
