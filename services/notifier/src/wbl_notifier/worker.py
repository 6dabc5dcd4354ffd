"""The delivery worker: sends what the Kafka handlers recorded as pending, so a slow SMTP
server or webhook receiver never holds up the consumer.

Each attempt at a delivery is claimed by inserting its claim document (one per attempt:
`<delivery id>#<attempt>`), so of several replicas exactly one makes it. A failed attempt
is recorded with its error and the delivery is due again after an exponential backoff; when
the attempts run out, or the receiver refused for good, it is marked failed (the inbox
shows it) and dead-lettered to `wbl.matches.dlq`. A claim expires after the lease
(`DeliveryPolicy.lease_s`; each attempt is cut off at half of it): if its holder crashed
mid-send, another replica makes the next attempt, with the same delivery id, so a receiver
sees at most a retry. The digest task, under a lease of its own so that one replica runs
it at a time, turns held deliveries into one message per coordinator, channel and period,
and publishes dead letters that a broker outage held back."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import structlog
from prometheus_client import CollectorRegistry

from wbl_common.bus import MessageBus
from wbl_common.metrics import DeadLetterMetrics, DeliveryMetrics
from wbl_common.secrets import webhook_signing_secrets
from wbl_notifier.adapters import (
    DeliveryError,
    Mailer,
    OutreachSource,
    PermanentDeliveryError,
    WebhookSender,
)
from wbl_notifier.domain import (
    DIGEST_EVENT,
    OFFER_EXPIRED,
    OFFER_WITHDRAWN,
    REMINDER_EVENT,
    WITHDRAWN_EVENT,
    AttemptClaim,
    Audience,
    Channel,
    Delivery,
    DeliveryStatus,
    NotificationStatus,
    backoff_s,
    carries_all,
    digests_due,
    late_digest,
    reminder_stale,
    widened,
)
from wbl_notifier.lease import Lease
from wbl_notifier.links import ActionLink, Decision, Signer
from wbl_notifier.messages import MatchLinks, email_message, employer_webhook_body, webhook_body
from wbl_notifier.parties import is_reminder, outreach_view, step_of
from wbl_notifier.party_messages import party_email
from wbl_notifier.store import NotifierStore
from wbl_notifier.webhooks import signed_headers
from wbl_schemas import topics
from wbl_schemas.events import CoordinatorProfile, EmployerProfile

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

    @property
    def attempt_timeout_s(self) -> float:
        """An attempt ends well before its claim expires, whatever the channel does."""
        return self.lease_s / 2

    @property
    def due_batch(self) -> int:
        return max(4 * self.concurrency, 32)


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
    holder: str  # this replica, as named on its claims
    digest_lease: Lease
    # Registry's outreach, asked at each party email's send for its address and link.
    outreach: OutreachSource | None = None
    public_url: str = ""  # where the parties' pages are
    metrics: DeliveryMetrics = field(
        default_factory=lambda: DeliveryMetrics(CollectorRegistry(), [c.value for c in Channel])
    )
    dead_lettered: DeadLetterMetrics = field(
        default_factory=lambda: DeadLetterMetrics(CollectorRegistry())
    )
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _sending: dict[str, asyncio.Task[None]] = field(default_factory=dict)
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
            for task in self._sending.values():
                task.cancel()

    async def run_digests(self) -> None:
        """Digests and the dead-letter sweep, on whichever replica holds the lease."""
        while True:
            try:
                if await self.digest_lease.hold():
                    await self.send_digests(self.clock())
                    await self.dead_letter_failed()
            except Exception as error:
                log.warning(
                    "digest run failed", error=type(error).__name__, detail=str(error)[:300]
                )
            await asyncio.sleep(self.policy.digest_check_s)

    async def _start_due(self, slots: asyncio.Semaphore) -> None:
        for delivery in await self.store.due(self.clock(), self.policy.due_batch):
            if delivery.delivery_id in self._sending:
                continue
            await slots.acquire()
            try:
                claim = await self.claim(delivery)
            except BaseException:
                slots.release()
                raise
            if claim is None:
                slots.release()
                continue
            task = asyncio.create_task(self._attempt_then_release(delivery, claim, slots))
            self._sending[delivery.delivery_id] = task

    async def claim(self, delivery: Delivery) -> AttemptClaim | None:
        """The claim of this delivery's next attempt, or None when another replica makes it
        or made it. A claim that expired while its delivery records no such attempt was
        abandoned (its holder crashed mid-send): that attempt counts, the next is claimed."""
        number = delivery.attempts + 1
        while True:
            now = self.clock()
            claim = AttemptClaim(
                delivery.delivery_id, number, self.holder, now, now + self.policy.lease
            )
            if await self.store.claim_attempt(claim):
                # Not due while claimed: other replicas' scans skip it (a hint, not a lock).
                await self.store.postpone(delivery.delivery_id, claim.lease_until)
                return claim
            taken = await self.store.attempt_claim(delivery.delivery_id, number)
            if taken is not None and taken.lease_until > now:
                return None
            current = await self.store.delivery(delivery.delivery_id)
            if current is None or current.status is not DeliveryStatus.PENDING:
                return None
            if current.attempts >= number:
                return None  # that attempt ended normally; a fresh read will show the next
            log.warning(
                "delivery attempt abandoned",
                delivery_id=delivery.delivery_id,
                attempt=number,
                holder=taken.holder if taken else None,
            )
            number += 1

    async def _attempt_then_release(
        self, delivery: Delivery, claim: AttemptClaim, slots: asyncio.Semaphore
    ) -> None:
        try:
            await self.attempt(delivery, claim)
        except Exception as error:  # the claim expires and another attempt follows
            log.warning(
                "delivery interrupted",
                delivery_id=delivery.delivery_id,
                error=type(error).__name__,
                detail=str(error)[:300],
            )
        finally:
            self._sending.pop(delivery.delivery_id, None)
            slots.release()

    async def attempt(self, delivery: Delivery, claim: AttemptClaim) -> Delivery:
        """Make the claimed attempt and record it: sent; failed for good; or due again
        after the backoff."""
        if await self._stale_reminder(delivery) or await self._overruled_withdrawal(delivery):
            cancelled = replace(delivery, status=DeliveryStatus.CANCELLED)
            await self.store.finish(cancelled, self.clock())
            self.metrics.count(delivery.channel.value, cancelled.status.value)
            log.info("reminder cancelled: its offer ended", delivery_id=delivery.delivery_id)
            return cancelled
        error: DeliveryError | None = None
        if claim.number > self.policy.max_attempts:  # the last attempts were abandoned
            error = DeliveryError(delivery.last_error or "interrupted, no attempts left")
        else:
            try:
                error = await self._try_send(delivery)
            except StepDone:  # the party acted meanwhile: nothing to ask of them
                done = replace(delivery, status=DeliveryStatus.CANCELLED)
                await self.store.finish(done, self.clock())
                self.metrics.count(delivery.channel.value, done.status.value)
                log.info("party email dropped: step done", delivery_id=delivery.delivery_id)
                return done
        if error is not None and not _final(error, claim.number, self.policy.max_attempts):
            await self._retry_later(delivery, claim.number, error)
            return replace(delivery, attempts=claim.number, last_error=error.public)
        outcome = replace(
            delivery,
            attempts=min(claim.number, self.policy.max_attempts),
            status=DeliveryStatus.SENT if error is None else DeliveryStatus.FAILED,
            last_error=None if error is None else error.public,
        )
        await self.store.finish(outcome, self.clock())
        self.metrics.count(delivery.channel.value, outcome.status.value)
        if error is None:
            log.info(
                "delivery sent",
                delivery_id=delivery.delivery_id,
                channel=delivery.channel.value,
                attempts=outcome.attempts,
            )
        else:
            log.warning(
                "delivery failed",
                delivery_id=delivery.delivery_id,
                channel=delivery.channel.value,
                attempts=outcome.attempts,
                reason=str(error)[:500],
            )
            await self._dead_letter(outcome)
        return outcome

    async def _overruled_withdrawal(self, delivery: Delivery) -> bool:
        """A withdrawal's message is not sent once a decision that crossed it stands (the
        coordinator confirmed or declined; registry kept that)."""
        if delivery.audience is Audience.EMPLOYER:
            if delivery.event_type not in (OFFER_EXPIRED, OFFER_WITHDRAWN):
                return False
            status = await self.store.match_status(delivery.match_id)
            return status is not NotificationStatus.WITHDRAWN
        if delivery.event_type != WITHDRAWN_EVENT:
            return False
        now = await self.store.notification(delivery.coordinator_id, delivery.match_id)
        return now is not None and now.status is not NotificationStatus.WITHDRAWN

    async def _stale_reminder(self, delivery: Delivery) -> bool:
        if delivery.event_type != REMINDER_EVENT:
            return False
        settled = await self.store.settled([m.match_id for m in delivery.matches])
        return reminder_stale(delivery, settled, self.clock())

    async def _try_send(self, delivery: Delivery) -> DeliveryError | None:
        try:
            async with asyncio.timeout(self.policy.attempt_timeout_s):
                await self._send(delivery)
        except StepDone:
            raise
        except DeliveryError as error:
            return error
        except TimeoutError:
            return DeliveryError(f"no answer within {self.policy.attempt_timeout_s:g} s")
        except Exception as error:  # anything else still ends in a recorded attempt
            return DeliveryError(f"{type(error).__name__}: {error}")
        return None

    async def _retry_later(self, delivery: Delivery, attempts: int, error: DeliveryError) -> None:
        wait = backoff_s(attempts, self.policy.backoff_initial_s, self.policy.backoff_max_s)
        at = self.clock() + timedelta(seconds=wait)
        await self.store.retry_later(delivery.delivery_id, attempts, error.public, at)
        log.info(
            "delivery attempt failed",
            delivery_id=delivery.delivery_id,
            channel=delivery.channel.value,
            attempt=attempts,
            reason=str(error)[:500],
        )

    async def _send(self, delivery: Delivery) -> None:
        if delivery.audience is Audience.PARTY:
            await self._email_party(delivery)
            return
        if delivery.audience is Audience.EMPLOYER:  # a webhook, with no decision links
            openings = await self.store.openings([m.opening_id for m in delivery.matches])
            await self._post(delivery, employer_webhook_body(delivery, openings))
            return
        if delivery.event_type == DIGEST_EVENT:
            delivery = await self._unsettled(delivery)
            if not delivery.matches:
                log.info("digest left with nothing to tell", delivery_id=delivery.delivery_id)
                return
        links = {
            m.match_id: self._links(delivery.coordinator_id, m.match_id) for m in delivery.matches
        }
        # Read at each attempt: the opening as last heard (a retry names a changed title).
        openings = await self.store.openings([m.opening_id for m in delivery.matches])
        if delivery.channel is Channel.EMAIL:
            try:
                message = email_message(delivery, links, self.inbox_url, self.sender, openings)
            except ValueError as error:  # e.g. an address with a line break in it
                raise PermanentDeliveryError(f"the email cannot be written: {error}") from error
            await self.mailer.send(message)
            return
        await self._post(delivery, webhook_body(delivery, links, self.inbox_url, openings))

    async def _email_party(self, delivery: Delivery) -> None:
        """Ask registry for the step now: gone (done, or not open yet) drops the email;
        else it goes to the party's address with its link, neither kept here."""
        step = step_of(delivery)
        if step is None or self.outreach is None:
            raise PermanentDeliveryError("not a party email this notifier can send")
        body = await self.outreach.outreach(delivery.match_id)
        view = outreach_view(body) if body is not None else None
        item = view.item(step[0]) if view is not None else None
        if view is None or item is None:
            raise StepDone()
        if item.send_to is None:
            raise PermanentDeliveryError("registry has no email address for this party")
        earlier = await self.store.party_deliveries(delivery.match_id)
        try:
            message = party_email(
                view, item, is_reminder(delivery, earlier), delivery, self.public_url, self.sender
            )
        except ValueError as error:  # e.g. an address with a line break in it
            raise PermanentDeliveryError(f"the email cannot be written: {error}") from error
        await self.mailer.send(message)

    async def _post(self, delivery: Delivery, body: bytes) -> None:
        now = self.clock()
        headers = signed_headers(
            await self._signing_secrets(delivery, now),
            delivery.delivery_id,
            body,
            int(now.timestamp()),
        )
        await self.webhooks.post(delivery.target, body, headers)

    async def _signing_secrets(self, delivery: Delivery, now: datetime) -> tuple[str, ...]:
        """Read at each attempt, so a retry after a rotation signs with the new secret. The
        recipient's (coordinator's or employer's) secrets derive from its id alike."""
        recipient = delivery.coordinator_id
        profile: CoordinatorProfile | EmployerProfile | None
        if delivery.audience is Audience.EMPLOYER:
            profile = await self.store.employer(recipient)
        else:
            profile = await self.store.last_profile(recipient)
        generation = profile.webhook_secret_generation if profile else 1
        until = profile.previous_generation_until if profile else None
        return webhook_signing_secrets(self.webhook_key, recipient, generation, until, now)

    async def _unsettled(self, digest: Delivery) -> Delivery:
        """The digest without the matches withdrawn or decided since they were held: it
        would offer live decision links for them."""
        settled = await self.store.settled([m.match_id for m in digest.matches])
        return replace(
            digest, matches=tuple(m for m in digest.matches if m.match_id not in settled)
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
                "coordinator_id": delivery.coordinator_id,  # the employer's, for an employer
                "audience": delivery.audience.value,
                "match_ids": [m.match_id for m in delivery.matches],
                "channel": delivery.channel.value,
                "event_type": delivery.event_type,
                "attempts": delivery.attempts,
            }
        ).encode()
        headers = {
            "x-error": f"{delivery.channel.value} delivery failed: {delivery.last_error}"[:2000],
            "x-reason": UNDELIVERABLE,
            "x-original-topic": topics.MATCHES,
            "x-delivery-id": delivery.delivery_id,
        }
        await self.dead_letters.publish(DEAD_LETTERS, delivery.coordinator_id, body, headers)
        self.dead_lettered.count(topics.MATCHES, UNDELIVERABLE)
        await self.store.mark_dead_lettered(delivery.delivery_id)

    async def send_digests(self, now: datetime) -> int:
        """Bundle held deliveries of closed periods into digests; returns how many new."""
        created = 0
        checked = self.clock()
        for digest, bundled in digests_due(
            await self.store.held(), now, self.policy.digest_period_s
        ):
            if self.clock() - checked > self.digest_lease.ttl / 4:  # still ours? renew it
                checked = self.clock()
                if not await self.digest_lease.hold():
                    log.warning("digest lease lost; another replica goes on")
                    return created
            # A delivery written just as its period closed can miss that period's digest,
            # which may be sent already: such late ones get a digest of their own.
            for candidate in (digest, late_digest(digest, bundled)):
                created += await self.store.add_deliveries([candidate])
                # After a crash the digest exists already: bundle into the stored one.
                stored = await self.store.delivery(candidate.delivery_id)
                if stored is not None and stored.status is DeliveryStatus.HELD:
                    if not carries_all(stored, bundled):  # written before some existed
                        await self.store.set_digest_matches(
                            stored.delivery_id, widened(stored, bundled)
                        )
                    await self.store.bundle([d.delivery_id for d in bundled], stored.delivery_id)
                    break
            else:  # not expected: both digests already released; the deliveries stay held
                log.warning(
                    "held deliveries found no open digest",
                    coordinator_id=digest.coordinator_id,
                    deliveries=len(bundled),
                )
        if not await self.digest_lease.hold():  # a digest is released by its lease's holder
            log.warning("digest lease lost; another replica goes on")
            return created
        if await self.store.release_digests(self.clock()):
            self.wake()
        return created


class StepDone(Exception):
    """The party's step is no longer outstanding: its email is dropped, as done."""


def _final(error: DeliveryError, attempt: int, max_attempts: int) -> bool:
    """Retrying cannot help, or this was the last attempt."""
    return isinstance(error, PermanentDeliveryError) or attempt >= max_attempts
