"""Notifier against the real broker, database, SMTP server and webhook receiver."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.notifier.conftest import WEBHOOK_KEY, Hook, SmtpServer, WebhookReceiver
from tests.support import eventually, read_topic
from tests.unit.notifier.builders import opening_snapshot
from wbl_common.secrets import webhook_secret
from wbl_notifier.bootstrap import NotifierService, bootstrap
from wbl_notifier.domain import Channel, Delivery, DeliveryStatus
from wbl_notifier.webhooks import WebhookVerificationError, verify_headers
from wbl_schemas.events import (
    CoordinatorProfile,
    CoordinatorRegistered,
    CoordinatorUpdated,
    MatchProposal,
    MatchProposed,
    MatchWithdrawal,
    MatchWithdrawn,
    NotificationChannels,
    OpeningPublished,
)

pytestmark = pytest.mark.integration


class Scenario:
    """One school, one coordinator and matches for one student (one partition, so events
    arrive in the order published)."""

    def __init__(self, digest: str = "immediate", webhook_url: str | None = None) -> None:
        tag = secrets.token_hex(4)
        self.school = f"sch_{tag}"
        self.student = f"stu_{tag}"
        self.email = f"coordinator-{tag}@school.example.org"
        self.coordinator = CoordinatorRegistered(
            producer="test",
            payload=CoordinatorProfile(
                coordinator_id=f"coo_{tag}",
                version=1,
                school_ids=(self.school,),
                channels=NotificationChannels(
                    email=self.email,
                    webhook_url=webhook_url,
                    digest=digest,
                ),
            ),
        )

    @property
    def coordinator_id(self) -> str:
        return self.coordinator.payload.coordinator_id

    def match(self, n: int) -> MatchProposed:
        return MatchProposed(
            producer="test",
            payload=MatchProposal(
                match_id=f"mat_{self.student}_{n}",
                round_id="rnd_1",
                student_id=self.student,
                school_id=self.school,
                opening_id=f"opn_{n}",
                employer_id="emp_1",
                career_field="cybersecurity",
                explanation=("career field cybersecurity matches", "holds osha-10"),
            ),
        )


async def deliveries(service: NotifierService, s: Scenario, match: MatchProposed) -> list[Delivery]:
    return await service.store.deliveries_of(s.coordinator_id, [match.payload.match_id])


def one(found: list[Delivery], channel: Channel) -> Delivery:
    [delivery] = [d for d in found if d.channel is channel]
    return delivery


async def test_each_channel_carries_one_message_per_match_however_often_it_is_delivered(
    settings_for: Any, smtp: SmtpServer, webhook_receiver: WebhookReceiver, publish: Any
) -> None:
    s = Scenario(webhook_url=webhook_receiver.url)
    first, marker = s.match(1), s.match(2)
    reproposed = first.model_copy(update={"event_id": s.match(1).event_id})
    async with bootstrap(settings_for(smtp.port)) as service:
        await publish(s.coordinator)
        # The first match's opening is known (from wbl.openings) before it is proposed.
        await publish(OpeningPublished(producer="test", payload=opening_snapshot()))
        await eventually(lambda: service.notifier.openings(["opn_1"]), what="the opening kept")
        for event in (first, first, reproposed, marker):
            await publish(event)
        await eventually(
            lambda: _async(
                len(smtp.mailbox.to(s.email)) >= 2 and len(webhook_receiver.received) >= 2
            ),
            what="an email and a webhook for each match",
        )
        inbox = await service.notifier.inbox(s.coordinator_id, None, 1, 50)

        async def recorded_sent() -> list[Delivery]:
            # The worker records "sent" just after the receiver took the message.
            found = await deliveries(service, s, first)
            return found if all(d.status is DeliveryStatus.SENT for d in found) else []

        recorded = await eventually(recorded_sent, what="both deliveries recorded as sent")

    # Unfolded: a long subject travels on two header lines.
    subjects = sorted(" ".join(str(m["Subject"]).split()) for m in smtp.mailbox.to(s.email))
    assert subjects == [
        "WBL placements: new match for an opening in cybersecurity",  # opn_2: not heard of
        "WBL placements: new match: Medical assistant intern at Baystate Health",
    ]
    assert webhook_receiver.received[0].body["matches"][0]["opening"]["town"] == "Springfield"
    assert [h.body["matches"][0]["match_id"] for h in webhook_receiver.received] == [
        first.payload.match_id,
        marker.payload.match_id,
    ]
    assert all(h.verified for h in webhook_receiver.received)
    assert sorted(n.match_id for n in inbox) == [first.payload.match_id, marker.payload.match_id]
    assert {(d.channel, d.status) for d in recorded} == {
        (Channel.EMAIL, DeliveryStatus.SENT),
        (Channel.WEBHOOK, DeliveryStatus.SENT),
    }
    # No student personal data: only the pseudonymous reference travels.
    mail = smtp.mailbox.to(s.email)[0]
    text = mail.get_payload()[0].get_payload(decode=True).decode()  # type: ignore[index, union-attr]
    assert s.student in text and "/inbox/act?t=" in text


async def test_a_withdrawn_offer_is_told_once_with_its_reason_where_the_offer_went(
    settings_for: Any, smtp: SmtpServer, webhook_receiver: WebhookReceiver, publish: Any
) -> None:
    s = Scenario(webhook_url=webhook_receiver.url)
    offer = s.match(1)
    reason = "The employer closed this opening before it was decided."
    withdrawn = MatchWithdrawn(
        producer="test",
        payload=MatchWithdrawal(
            match_id=offer.payload.match_id,
            round_id="rnd_2",
            student_id=s.student,
            school_id=s.school,
            opening_id=offer.payload.opening_id,
            reason_code="opening_closed",
            reason=reason,
        ),
    )
    async with bootstrap(settings_for(smtp.port)) as service:
        await publish(s.coordinator)
        await publish(offer)
        await eventually(
            lambda: _async(bool(smtp.mailbox.to(s.email)) and bool(webhook_receiver.received)),
            what="the offer's email and webhook",
        )
        for event in (withdrawn, withdrawn):  # a replayed withdrawal tells no one twice
            await publish(event)

        async def told_and_recorded() -> list[Delivery]:
            found = await deliveries(service, s, offer)
            ended = [d for d in found if d.event_type == "MatchWithdrawn"]
            done = len(ended) == 2 and all(d.status is DeliveryStatus.SENT for d in ended)
            return ended if done else []

        await eventually(told_and_recorded, what="the withdrawal sent by email and webhook")
        await publish(s.match(2))  # a marker: everything before it has been handled
        await eventually(
            lambda: _async(len(webhook_receiver.received) >= 3), what="the marker's webhook"
        )

    mails = smtp.mailbox.to(s.email)
    subjects = [" ".join(str(m["Subject"]).split()) for m in mails]
    ended = [m for m in mails if "withdrawn" in str(m["Subject"])]
    assert len(ended) == 1, subjects
    text = ended[0].get_payload()[0].get_payload(decode=True).decode()  # type: ignore[index, union-attr]
    assert reason in text and "/inbox/act?t=" not in text
    hooks = [h.body for h in webhook_receiver.received if h.body["event_type"] == "MatchWithdrawn"]
    assert len(hooks) == 1
    assert hooks[0]["matches"][0]["withdrawal_reason"] == reason
    assert hooks[0]["matches"][0]["match_id"] == offer.payload.match_id


def rotated(s: Scenario, version: int, until: datetime) -> CoordinatorUpdated:
    """Registry's event after a webhook secret rotation: generation 2, no secret."""
    profile = s.coordinator.payload.model_copy(
        update={
            "version": version,
            "webhook_secret_generation": 2,
            "previous_generation_until": until,
        }
    )
    return CoordinatorUpdated(producer="test", payload=profile)


def verifies(secret: str, hook: Hook) -> bool:
    try:
        verify_headers(secret, hook.headers, hook.raw)
    except WebhookVerificationError:
        return False
    return True


async def test_a_rotated_webhook_secret_signs_at_once_and_the_old_one_only_for_the_grace(
    settings_for: Any, smtp: SmtpServer, webhook_receiver: WebhookReceiver, publish: Any
) -> None:
    """Issue 12, finding 5, end to end over the broker, the database and HTTP."""
    s = Scenario(webhook_url=webhook_receiver.url)
    old, new = (webhook_secret(WEBHOOK_KEY, s.coordinator_id, g) for g in (1, 2))
    async with bootstrap(settings_for(smtp.port)) as service:

        async def heard(version: int) -> bool:
            # Profiles and matches travel on different topics: wait for the rotation to be
            # on record before the match, or the message may be signed before it is heard.
            profile = await service.store.last_profile(s.coordinator_id)
            return profile is not None and profile.version == version

        await publish(s.coordinator)
        await publish(rotated(s, 2, datetime.now(UTC) + timedelta(hours=1)))
        await eventually(lambda: heard(2), what="the rotation heard")
        await publish(s.match(1))

        async def hooks(count: int) -> list[Hook]:
            return webhook_receiver.received if len(webhook_receiver.received) >= count else []

        [during] = await eventually(lambda: hooks(1), what="a webhook in the grace period")
        # The grace period has ended (as registry's event states it): only the new one signs.
        await publish(rotated(s, 3, datetime.now(UTC) - timedelta(seconds=1)))
        await eventually(lambda: heard(3), what="the end of the grace heard")
        await publish(s.match(2))
        after = (await eventually(lambda: hooks(2), what="a webhook after the grace"))[1]
    assert verifies(new, during) and verifies(old, during)
    assert verifies(new, after) and not verifies(old, after)
    assert after.body["matches"][0]["match_id"] == s.match(2).payload.match_id


async def test_an_smtp_outage_is_retried_with_backoff_and_recovers(
    settings_for: Any, smtp_down: SmtpServer, publish: Any
) -> None:
    s = Scenario()
    match = s.match(1)
    async with bootstrap(settings_for(smtp_down.port, max_attempts=50)) as service:
        await publish(s.coordinator)
        await publish(match)

        async def retried() -> bool:
            found = await deliveries(service, s, match)
            return bool(found) and found[0].attempts >= 2 and found[0].last_error is not None

        await eventually(retried, what="failed attempts recorded while SMTP is down")
        smtp_down.start()
        await eventually(lambda: _async(smtp_down.mailbox.to(s.email)), what="the email")

        async def sent() -> list[Delivery]:
            d = one(await deliveries(service, s, match), Channel.EMAIL)
            return [d] if d.status is DeliveryStatus.SENT else []

        [delivery] = await eventually(sent, what="the delivery marked sent")
    assert delivery.attempts >= 3
    assert len(smtp_down.mailbox.to(s.email)) == 1


async def test_a_restart_resumes_a_pending_delivery_and_duplicates_nothing(
    settings_for: Any, smtp_down: SmtpServer, publish: Any
) -> None:
    s = Scenario()
    first, marker = s.match(1), s.match(2)
    settings = settings_for(smtp_down.port, max_attempts=50)
    async with bootstrap(settings) as service:
        await publish(s.coordinator)
        await publish(first)

        async def attempted() -> bool:
            found = await deliveries(service, s, first)
            return bool(found) and found[0].attempts >= 1

        await eventually(attempted, what="a failed attempt before the restart")
    smtp_down.start()
    await publish(first)  # redelivered after the restart
    await publish(marker)
    async with bootstrap(settings) as service:
        await eventually(
            lambda: _async(len(smtp_down.mailbox.to(s.email)) >= 2), what="both emails"
        )
        inbox = await service.notifier.inbox(s.coordinator_id, None, 1, 50)

        async def resumed_sent() -> list[Delivery]:
            d = one(await deliveries(service, s, first), Channel.EMAIL)
            return [d] if d.status is DeliveryStatus.SENT else []

        [resumed] = await eventually(resumed_sent, what="the resumed delivery marked sent")
    assert sorted(m["Subject"] for m in smtp_down.mailbox.to(s.email)) == [
        "WBL placements: new match for an opening in cybersecurity",
        "WBL placements: new match for an opening in cybersecurity",
    ]
    assert resumed.attempts >= 2
    assert len(inbox) == 2


async def test_a_failing_webhook_is_retried_then_recorded_in_the_inbox_and_dead_lettered(
    settings_for: Any,
    smtp: SmtpServer,
    webhook_receiver: WebhookReceiver,
    publish: Any,
    kafka_bootstrap: str,
) -> None:
    webhook_receiver.status = 500
    s = Scenario(webhook_url=webhook_receiver.url)
    match = s.match(1)
    async with bootstrap(settings_for(smtp.port, max_attempts=3)) as service:
        await publish(s.coordinator)
        await publish(match)

        async def failed() -> list[Delivery]:
            found = await deliveries(service, s, match)
            return [
                d
                for d in found
                if d.channel is Channel.WEBHOOK and d.status is DeliveryStatus.FAILED
            ]

        [delivery] = await eventually(failed, what="the webhook delivery marked failed")
        inbox = await service.notifier.inbox(s.coordinator_id, None, 1, 50)

        def dead_lettered(records: list[Any]) -> bool:
            return any(_header(r, "x-delivery-id") == delivery.delivery_id for r in records)

        # While the service runs: it publishes the dead letter just after recording the failure.
        records = await read_topic(kafka_bootstrap, "wbl.matches.dlq", dead_lettered)
    assert delivery.attempts == 3 and delivery.last_error == "could not be delivered"
    assert [h.event_id for h in webhook_receiver.received] == [delivery.delivery_id] * 3
    assert all(h.verified for h in webhook_receiver.received)
    assert [n.match_id for n in inbox] == [match.payload.match_id]  # the inbox entry stays
    [record] = [r for r in records if _header(r, "x-delivery-id") == delivery.delivery_id]
    assert _header(record, "x-error") == "webhook delivery failed: could not be delivered"


async def test_a_daily_coordinator_gets_one_digest_for_the_period(
    settings_for: Any, smtp: SmtpServer, publish: Any
) -> None:
    s = Scenario(digest="daily")
    first, second = s.match(1), s.match(2)
    async with bootstrap(settings_for(smtp.port)) as service:
        await publish(s.coordinator)
        await publish(first)
        await publish(second)

        async def both_held() -> bool:
            held = await service.store.deliveries_of(
                s.coordinator_id, [first.payload.match_id, second.payload.match_id]
            )
            return [d.status for d in held] == [DeliveryStatus.HELD] * 2

        await eventually(both_held, what="both deliveries held for the digest")
        assert smtp.mailbox.to(s.email) == []
        tomorrow = service.notifier.clock() + timedelta(days=1)
        assert await service.worker.send_digests(tomorrow) == 1
        assert await service.worker.send_digests(tomorrow) == 0  # a rerun adds nothing
        await eventually(lambda: _async(smtp.mailbox.to(s.email)), what="the digest email")

        async def bundled_sent() -> bool:
            found = await service.store.deliveries_of(
                s.coordinator_id, [first.payload.match_id, second.payload.match_id]
            )
            return all(d.status is DeliveryStatus.SENT for d in found)

        await eventually(bundled_sent, what="the bundled deliveries marked sent")
    [digest] = smtp.mailbox.to(s.email)
    assert digest["Subject"] == "WBL placements: 2 new matches to review"
    text = digest.get_payload()[0].get_payload(decode=True).decode()  # type: ignore[index, union-attr]
    assert "opn_1" in text and "opn_2" in text


def _header(record: Any, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode()
    return None


async def _async(value: Any) -> Any:
    return value
