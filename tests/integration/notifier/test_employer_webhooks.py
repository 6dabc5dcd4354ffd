"""An employer's webhooks from a notifier on the real broker and database to a real HTTP
receiver that checks both signatures (Standard Webhooks and X-WBL): each event of a match
on its opening once, whatever is redelivered; a refused attempt retried with backoff and
recorded."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.integration.notifier.conftest import Hook, SmtpServer, WebhookReceiver
from tests.support import eventually
from tests.unit.notifier.builders import opening_snapshot
from wbl_notifier.bootstrap import NotifierService, bootstrap
from wbl_notifier.domain import Audience, Delivery, DeliveryStatus
from wbl_schemas.events import (
    CoordinatorProfile,
    CoordinatorRegistered,
    EmployerProfile,
    EmployerRegistered,
    MatchProposal,
    MatchProposed,
    MatchWithdrawal,
    MatchWithdrawn,
    OpeningPublished,
    PlacementConfirmed,
    PlacementDecision,
)

pytestmark = pytest.mark.integration


class Employer:
    """An employer with a webhook, its opening, and one student's matches on it (one key,
    so the matches topic delivers them in order); the school's coordinator reads only the
    inbox."""

    def __init__(self, hook_url: str) -> None:
        self.tag = tag = secrets.token_hex(4)
        self.id, self.opening = f"emp_{tag}", f"opn_{tag}"
        self.school, self.student = f"sch_{secrets.token_hex(4)}", f"stu_{secrets.token_hex(4)}"
        self.registered = EmployerRegistered(
            producer="test",
            payload=EmployerProfile(employer_id=self.id, version=1, webhook_url=hook_url),
        )
        self.coordinator = CoordinatorRegistered(
            producer="test",
            payload=CoordinatorProfile(
                coordinator_id=f"coo_{tag}", version=1, school_ids=(self.school,)
            ),
        )
        self.published = OpeningPublished(
            producer="test",
            payload=opening_snapshot(opening_id=self.opening, employer_id=self.id),
        )

    def match(self, n: int) -> MatchProposed:
        return MatchProposed(
            producer="test",
            payload=MatchProposal(
                match_id=f"mat_{self.tag}_{n}",
                round_id="rnd_1",
                student_id=self.student,
                school_id=self.school,
                opening_id=self.opening,
                employer_id=self.id,
                career_field="health-assisting",
                explanation=("fits",),
            ),
        )

    def confirmed(self, n: int) -> PlacementConfirmed:
        return PlacementConfirmed(
            producer="test",
            payload=PlacementDecision(
                match_id=f"mat_{self.tag}_{n}",
                student_id=self.student,
                school_id=self.school,
                opening_id=self.opening,
                coordinator_id=self.coordinator.payload.coordinator_id,
            ),
        )

    def expired(self, n: int) -> MatchWithdrawn:
        return MatchWithdrawn(
            producer="test",
            payload=MatchWithdrawal(
                match_id=f"mat_{self.tag}_{n}",
                round_id="rnd_2",
                student_id=self.student,
                school_id=self.school,
                opening_id=self.opening,
                reason_code="expired",
                reason="The offer's window ended without a decision.",
            ),
        )


def heard(receiver: WebhookReceiver, employer: Employer) -> list[Hook]:
    return [h for h in list(receiver.received) if h.body.get("employer_id") == employer.id]


async def recorded(service: NotifierService, employer: Employer, *ns: int) -> list[Delivery]:
    match_ids = [f"mat_{employer.tag}_{n}" for n in ns]
    return await service.store.deliveries_of(employer.id, match_ids)


async def test_an_employer_hears_each_event_of_its_matches_once_signed_both_ways(
    settings_for: Any, smtp: SmtpServer, webhook_receiver: WebhookReceiver, publish: Any
) -> None:
    e = Employer(webhook_receiver.url)
    async with bootstrap(settings_for(smtp.port)) as service:
        for setup in (e.registered, e.coordinator, e.published):
            await publish(setup)
        await eventually(lambda: service.store.employer(e.id), what="the employer's webhook kept")
        await eventually(lambda: service.notifier.openings([e.opening]), what="the opening kept")
        first, second = e.match(1), e.match(2)
        for event in (first, first, second, e.expired(2), e.expired(2)):
            await publish(event)

        async def both_proposed() -> list[Hook]:
            found = [
                h for h in heard(webhook_receiver, e) if h.body["event_type"] == "CandidateProposed"
            ]
            return found if len(found) >= 2 else []

        # A decision follows its proposal, as a coordinator decides on what the inbox showed.
        # The two come on different topics, and a decision on a match whose proposal the
        # notifier has not seen is not told to the employer (only logged): wait as the world does.
        await eventually(both_proposed, what="both candidates told")
        for _ in range(2):
            await publish(e.confirmed(1))

        async def all_four() -> list[Hook]:
            found = heard(webhook_receiver, e)
            return found if len(found) >= 4 else []

        await eventually(all_four, what="four webhooks to the employer")

        async def all_sent() -> list[Delivery]:
            found = await recorded(service, e, 1, 2)
            return found if all(d.status is DeliveryStatus.SENT for d in found) else []

        deliveries = await eventually(all_sent, what="each recorded as sent")
        await publish(e.match(3))  # a marker: whatever came before it has been handled
        await eventually(
            lambda: _async(len(heard(webhook_receiver, e)) >= 5), what="the marker's webhook"
        )

    hooks = heard(webhook_receiver, e)
    told = sorted((h.body["match"]["match_id"], h.body["event_type"]) for h in hooks)
    assert told == [
        (first.payload.match_id, "CandidateProposed"),
        (first.payload.match_id, "PlacementConfirmed"),
        (second.payload.match_id, "CandidateProposed"),
        (second.payload.match_id, "OfferExpired"),
        (e.match(3).payload.match_id, "CandidateProposed"),
    ]
    assert all(h.verified and h.standard for h in hooks), [h.headers for h in hooks]
    assert all(h.headers["webhook-id"] == h.event_id == h.body["event_id"] for h in hooks)
    assert {h.body["match"]["opening_title"] for h in hooks} == {"Medical assistant intern"}
    for h in hooks:  # nothing of the student, not even the pseudonymous reference
        assert e.student not in h.raw.decode() and e.school not in h.raw.decode()
    assert {(d.audience, d.attempts) for d in deliveries} == {(Audience.EMPLOYER, 1)}
    # The coordinator reads the inbox only: no message of theirs went anywhere.
    assert not [h for h in webhook_receiver.received if "coordinator_id" in h.body]


async def test_a_refused_webhook_is_retried_with_backoff_and_recorded(
    settings_for: Any, smtp: SmtpServer, webhook_receiver: WebhookReceiver, publish: Any
) -> None:
    e = Employer(webhook_receiver.url)
    webhook_receiver.status = 503
    async with bootstrap(settings_for(smtp.port)) as service:
        await publish(e.registered)
        await eventually(lambda: service.store.employer(e.id), what="the employer's webhook kept")
        await publish(e.match(1))

        async def refused_twice() -> bool:
            return len(heard(webhook_receiver, e)) >= 2

        await eventually(refused_twice, what="two refused attempts")
        webhook_receiver.status = 204

        async def sent() -> Delivery | None:
            [d] = await recorded(service, e, 1)
            return d if d.status is DeliveryStatus.SENT else None

        delivery = await eventually(sent, what="the webhook sent after the receiver recovered")
        assert delivery is not None

    hooks = heard(webhook_receiver, e)
    assert delivery.attempts == len(hooks) >= 2  # the first refused; the last one sent
    assert {h.event_id for h in hooks} == {delivery.delivery_id}  # one delivery, retried


async def _async(value: bool) -> bool:
    return value
