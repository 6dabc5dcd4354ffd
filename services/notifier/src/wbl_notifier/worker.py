"""The delivery worker: sends what the Kafka handlers recorded as pending, so a slow SMTP
server or webhook receiver never holds up the consumer.

Each due delivery is claimed with a lease, sent, and retried with exponential backoff up to
a cap (tenacity); every attempt's error is recorded. When the attempts run out the delivery
is marked failed (the inbox shows it) and dead-lettered to `wbl.matches.dlq`. A restart
finds unfinished deliveries due again once their lease passes and resumes them, counting
the attempts already made. The digest task turns held deliveries into one message per
coordinator, channel and period."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from uuid import uuid4

import structlog
from prometheus_client import CollectorRegistry
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from wbl_common.bus import MessageBus
from wbl_common.metrics import DeadLetterMetrics, DeliveryMetrics
from wbl_common.secrets import derive_secret
from wbl_notifier.adapters import DeliveryError, Mailer, PermanentDeliveryError, WebhookSender
from wbl_notifier.domain import Channel, Delivery, DeliveryStatus, digests_due
from wbl_notifier.links import ActionLink, Decision, Signer
from wbl_notifier.messages import MatchLinks, email_message, webhook_body
from wbl_notifier.store import NotifierStore
from wbl_notifier.webhooks import signed_headers
from wbl_schemas import topics

log = structlog.get_logger(__name__)

DEAD_LETTERS = f"{topics.MATCHES}.dlq"
UNDELIVERABLE = "undeliverable"  # the dead-letter reason of a delivery that gave up


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int
    backoff_initial_s: float
    backoff_max_s: float
    poll_s: float
    concurrency: int
    digest_period_s: float
    digest_check_s: float
    lease_s: float

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_s)


def _retryable(error: BaseException) -> bool:
    return isinstance(error, DeliveryError) and not isinstance(error, PermanentDeliveryError)


@dataclass
class DeliveryWorker:
    store: NotifierStore
    mailer: Mailer
    webhooks: WebhookSender
    dead_letters: MessageBus
    signer: Signer
    policy: DeliveryPolicy
    webhook_key: str
    inbox_url: str
    sender: str
    clock: Callable[[], datetime]
    new_id: Callable[[], str] = field(default=lambda: str(uuid4()))
    metrics: DeliveryMetrics = field(
        default_factory=lambda: DeliveryMetrics(CollectorRegistry(), [c.value for c in Channel])
    )
    dead_lettered: DeadLetterMetrics = field(
        default_factory=lambda: DeadLetterMetrics(CollectorRegistry())
    )
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _sending: set[asyncio.Task[None]] = field(default_factory=set)
    _dead_lettering: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.dead_lettered.expect(topics.MATCHES, UNDELIVERABLE)

    def wake(self) -> None:
        """Called after the handlers record deliveries, so they leave now, not at the poll."""
        self._wake.set()

    async def run(self) -> None:
        slots = asyncio.Semaphore(self.policy.concurrency)
        try:
            while True:
                self._wake.clear()
                try:
                    await self.dead_letter_failed()
                    await self._start_due(slots)
                except Exception as error:  # database down: the deliveries wait, try later
                    log.warning(
                        "delivery worker paused",
                        error=type(error).__name__,
                        detail=str(error)[:300],
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.policy.poll_s)
        finally:
            for task in self._sending:
                task.cancel()

    async def run_digests(self) -> None:
        while True:
            try:
                await self.send_digests(self.clock())
            except Exception as error:
                log.warning(
                    "digest run failed", error=type(error).__name__, detail=str(error)[:300]
                )
            await asyncio.sleep(self.policy.digest_check_s)

    async def _start_due(self, slots: asyncio.Semaphore) -> None:
        while True:
            await slots.acquire()
            now = self.clock()
            delivery = await self.store.claim_due(now, now + self.policy.lease)
            if delivery is None:
                slots.release()
                return
            task = asyncio.create_task(self._deliver_then_release(delivery, slots))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _deliver_then_release(self, delivery: Delivery, slots: asyncio.Semaphore) -> None:
        try:
            await self.deliver(delivery)
        except Exception as error:  # the lease runs out and the delivery is tried again
            log.warning("delivery interrupted", delivery_id=delivery.delivery_id, error=str(error))
        finally:
            slots.release()
        self._wake.set()

    async def deliver(self, delivery: Delivery) -> Delivery:
        """Send with retries; record every failed attempt and the outcome."""
        attempts = delivery.attempts
        remaining = self.policy.max_attempts - attempts
        error: DeliveryError | None = None
        if remaining > 0:
            try:
                async for attempt in AsyncRetrying(
                    retry=retry_if_exception(_retryable),
                    stop=stop_after_attempt(remaining),
                    wait=wait_exponential(
                        multiplier=self.policy.backoff_initial_s, max=self.policy.backoff_max_s
                    ),
                    reraise=True,
                ):
                    with attempt:
                        attempts += 1
                        await self._attempt(delivery, attempts)
            except DeliveryError as failure:
                error = failure
        else:
            error = DeliveryError(delivery.last_error or "no attempts left")
        outcome = replace(
            delivery,
            attempts=attempts,
            status=DeliveryStatus.SENT if error is None else DeliveryStatus.FAILED,
            last_error=None if error is None else str(error)[:500],
        )
        await self.store.finish(outcome, self.clock())
        self.metrics.count(delivery.channel.value, outcome.status.value)
        if error is None:
            log.info(
                "delivery sent",
                delivery_id=delivery.delivery_id,
                channel=delivery.channel.value,
                attempts=attempts,
            )
        else:
            log.warning(
                "delivery failed",
                delivery_id=delivery.delivery_id,
                channel=delivery.channel.value,
                attempts=attempts,
                reason=outcome.last_error,
            )
            await self._dead_letter(outcome)
        return outcome

    async def _attempt(self, delivery: Delivery, attempts: int) -> None:
        try:
            await self._send(delivery)
        except DeliveryError as error:
            now = self.clock()
            await self.store.record_attempt(
                delivery.delivery_id, attempts, str(error)[:500], now + self.policy.lease
            )
            log.info(
                "delivery attempt failed",
                delivery_id=delivery.delivery_id,
                channel=delivery.channel.value,
                attempt=attempts,
                reason=str(error)[:500],
            )
            raise

    async def _send(self, delivery: Delivery) -> None:
        links = {
            m.match_id: self._links(delivery.coordinator_id, m.match_id) for m in delivery.matches
        }
        if delivery.channel is Channel.EMAIL:
            await self.mailer.send(email_message(delivery, links, self.inbox_url, self.sender))
            return
        body = webhook_body(delivery, links, self.inbox_url)
        secret = derive_secret(self.webhook_key, "whsec", delivery.coordinator_id)
        timestamp = int(self.clock().timestamp())
        await self.webhooks.post(
            delivery.target, body, signed_headers(secret, delivery.delivery_id, body, timestamp)
        )

    def _links(self, coordinator_id: str, match_id: str) -> MatchLinks:
        def act(decision: Decision) -> str:
            token = self.signer.action_link(ActionLink(coordinator_id, match_id, decision))
            return f"{self.inbox_url}/act?t={token}"

        return MatchLinks(
            inbox=f"{self.inbox_url}#match-{match_id}",
            confirm=act(Decision.CONFIRM),
            decline=act(Decision.DECLINE),
        )

    async def dead_letter_failed(self) -> None:
        """Publish failures not yet dead-lettered (the broker may have been down)."""
        for delivery in await self.store.undead_lettered():
            await self._dead_letter(delivery)

    async def _dead_letter(self, delivery: Delivery) -> None:
        """Publish, then mark: a crash in between publishes again (consumers of the
        dead-letter topic dedupe on `x-delivery-id`); marking first could lose it."""
        if delivery.delivery_id in self._dead_lettering:
            return  # the sweep and the sending task met on the same failure
        self._dead_lettering.add(delivery.delivery_id)
        try:
            await self._publish_dead_letter(delivery)
        except Exception as error:  # left unmarked: the next sweep publishes it
            log.warning(
                "dead-lettering paused",
                delivery_id=delivery.delivery_id,
                error=type(error).__name__,
                detail=str(error)[:300],
            )
        finally:
            self._dead_lettering.discard(delivery.delivery_id)

    async def _publish_dead_letter(self, delivery: Delivery) -> None:
        body = json.dumps(
            {
                "delivery_id": delivery.delivery_id,
                "coordinator_id": delivery.coordinator_id,
                "match_ids": [m.match_id for m in delivery.matches],
                "channel": delivery.channel.value,
                "event_type": delivery.event_type,
                "attempts": delivery.attempts,
            }
        ).encode()
        headers = {
            "x-error": f"{delivery.channel.value} delivery failed: {delivery.last_error}"[:2000],
            "x-original-topic": topics.MATCHES,
            "x-delivery-id": delivery.delivery_id,
        }
        await self.dead_letters.publish(DEAD_LETTERS, delivery.coordinator_id, body, headers)
        self.dead_lettered.count(topics.MATCHES, UNDELIVERABLE)
        await self.store.mark_dead_lettered(delivery.delivery_id)

    async def send_digests(self, now: datetime) -> int:
        """Bundle held deliveries of closed periods into digests; returns how many new."""
        created = 0
        for digest, bundled in digests_due(
            await self.store.held(), now, self.policy.digest_period_s, self.new_id
        ):
            # A delivery written just as its period closed can miss that period's digest,
            # which may be sent already: such late ones get a digest of their own (keyed by
            # the first of them, so recomputing after a crash finds the same one).
            late = replace(digest, match_id=f"{digest.match_id}+{bundled[0].delivery_id}")
            for candidate in (digest, late):
                created += await self.store.add_deliveries([candidate])
                # After a crash the digest exists already: bundle into the stored one.
                stored = await self.store.deliveries_of(digest.coordinator_id, [candidate.match_id])
                found = next(d for d in stored if d.key == candidate.key)
                if found.status is DeliveryStatus.HELD:
                    await self.store.bundle([d.delivery_id for d in bundled], found.delivery_id)
                    break
            else:  # not expected: both digests already released; the deliveries stay held
                log.warning(
                    "held deliveries found no open digest",
                    coordinator_id=digest.coordinator_id,
                    deliveries=len(bundled),
                )
        if await self.store.release_digests(self.clock()):
            self.wake()
        return created
