"""Reminders before an offer ends, against the real broker, database, SMTP server and
webhook receiver, with two notifier replicas on one database."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.notifier.conftest import SmtpServer, WebhookReceiver
from tests.integration.notifier.test_deliveries import Scenario
from tests.support import eventually
from wbl_notifier.bootstrap import bootstrap
from wbl_notifier.config import ReminderSettings
from wbl_notifier.domain import REMINDER_EVENT, NotificationStatus
from wbl_schemas.events import MatchProposed, PlacementConfirmed, PlacementDecision

pytestmark = pytest.mark.integration


def offer(s: Scenario, n: int, ends_in: timedelta) -> MatchProposed:
    event = s.match(n)
    payload = event.payload.model_copy(update={"expires_at": datetime.now(UTC) + ends_in})
    return event.model_copy(update={"payload": payload})


def confirmed(s: Scenario, match: MatchProposed) -> PlacementConfirmed:
    p = match.payload
    return PlacementConfirmed(
        producer="test",
        payload=PlacementDecision(
            match_id=p.match_id,
            student_id=p.student_id,
            school_id=p.school_id,
            opening_id=p.opening_id,
            coordinator_id=s.coordinator_id,
        ),
    )


async def _async(value: Any) -> Any:
    return value


async def test_two_replicas_remind_once_per_offer_and_never_of_a_decided_one(
    settings_for: Any, smtp: SmtpServer, webhook_receiver: WebhookReceiver, publish: Any
) -> None:
    s = Scenario(webhook_url=webhook_receiver.url)
    soon, decided, later = (
        offer(s, 1, timedelta(hours=2)),
        offer(s, 2, timedelta(hours=3)),
        offer(s, 3, timedelta(days=6)),
    )
    settings = settings_for(smtp.port).model_copy(
        update={"reminders": ReminderSettings(before_hours=48, check_s=0.3)}
    )
    async with contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(bootstrap(settings))
        b = await stack.enter_async_context(bootstrap(settings))
        await publish(s.coordinator)
        # The decision is on record before its offer reaches the inbox: never reminded.
        await publish(confirmed(s, decided))
        await eventually(
            lambda: a.store.settled([decided.payload.match_id]), what="the decision recorded"
        )
        for event in (soon, decided, later):
            await publish(event)

        def reminders(channel_count: int) -> Any:
            async def probe() -> bool:
                mails = [m for m in smtp.mailbox.to(s.email) if "reminder" in m["Subject"]]
                hooks = [
                    h for h in webhook_receiver.received if h.body["event_type"] == REMINDER_EVENT
                ]
                return len(mails) >= channel_count and len(hooks) >= channel_count

            return probe

        await eventually(reminders(1), what="the reminder by email and webhook")
        # Both replicas sweeping at once, and again, write nothing more.
        await asyncio.gather(a.reminders.sweep(), b.reminders.sweep())
        await asyncio.gather(a.reminders.sweep(), b.reminders.sweep())
        await eventually(lambda: _async(not a.worker._sending and not b.worker._sending))

        async def all_three() -> dict[str, Any]:
            found = await a.notifier.inbox(s.coordinator_id, None, 1, 50)
            return {n.match_id: n for n in found} if len(found) == 3 else {}

        inbox = await eventually(all_three, what="the three offers in the inbox")
        found = await a.store.deliveries_of(s.coordinator_id, list(inbox))

    mails = [m for m in smtp.mailbox.to(s.email) if "reminder" in m["Subject"]]
    hooks = [h for h in webhook_receiver.received if h.body["event_type"] == REMINDER_EVENT]
    assert len(mails) == 1 and len(hooks) == 1
    assert hooks[0].verified
    assert hooks[0].body["matches"][0]["match_id"] == soon.payload.match_id
    subject = " ".join(str(mails[0]["Subject"]).split())  # a long header arrives folded
    assert f"(opening {soon.payload.opening_id}) ends" in subject
    reminder_rows = [d for d in found if d.event_type == REMINDER_EVENT]
    assert {d.match_id for d in reminder_rows} == {soon.payload.match_id}
    assert inbox[soon.payload.match_id].reminded_at is not None
    assert inbox[soon.payload.match_id].expires_at is not None
    assert inbox[decided.payload.match_id].status is NotificationStatus.CONFIRMED
    assert inbox[decided.payload.match_id].reminded_at is None
    assert inbox[later.payload.match_id].reminded_at is None  # ends in 6 days, not within 48 h
