"""Which offers are reminded before they end, what the reminder says, and that a sweep
reminds each coordinator once (pure, and against the in-memory store)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.unit.notifier.builders import T0, coordinator_profile, match_links, notification
from wbl_notifier.domain import (
    REMINDER_EVENT,
    Channel,
    DeliveryStatus,
    MatchOutcome,
    Notification,
    NotificationStatus,
    notification_key,
    reminder_deliveries,
    reminder_stale,
    reminders_due,
)
from wbl_notifier.lease import Lease
from wbl_notifier.messages import email_message, webhook_body
from wbl_notifier.reminders import Reminders
from wbl_notifier.store import InMemoryNotifierStore

pytestmark = pytest.mark.unit

BEFORE = timedelta(hours=48)


def offer(match_id: str, ends_in: timedelta | None, coordinator_id: str = "coo_1") -> Notification:
    expires = None if ends_in is None else T0 + ends_in
    return replace(notification(match_id, coordinator_id), expires_at=expires)


def test_only_undecided_offers_inside_the_window_and_not_yet_reminded_are_due() -> None:
    offers = [
        offer("mat_soon", timedelta(hours=47)),
        offer("mat_edge", BEFORE),  # ends exactly `before` from now: due
        offer("mat_later", BEFORE + timedelta(seconds=1)),
        offer("mat_ended", timedelta(0)),
        offer("mat_no_window", None),
        offer("mat_decided", timedelta(hours=1)),
        offer("mat_reminded", timedelta(hours=1)),
    ]
    due = reminders_due(
        offers, {"mat_decided"}, {notification_key("coo_1", "mat_reminded")}, T0, BEFORE
    )
    assert [n.match_id for n in due] == ["mat_soon", "mat_edge"]


def test_a_reminder_is_keyed_per_coordinator_match_and_channel_and_skips_the_digest() -> None:
    first = reminder_deliveries(
        offer("mat_1", timedelta(hours=5)), coordinator_profile("daily"), T0
    )
    again = reminder_deliveries(
        offer("mat_1", timedelta(hours=5)), coordinator_profile("daily"), T0
    )
    assert [d.channel for d in first] == [Channel.EMAIL, Channel.WEBHOOK]
    assert {d.status for d in first} == {DeliveryStatus.PENDING}  # not held for a digest
    assert {d.event_type for d in first} == {REMINDER_EVENT}
    assert [d.delivery_id for d in first] == [d.delivery_id for d in again]


def test_a_pending_reminder_is_stale_once_its_offer_ended() -> None:
    [email, _] = reminder_deliveries(offer("mat_1", timedelta(hours=5)), coordinator_profile(), T0)
    assert not reminder_stale(email, set(), T0)
    assert reminder_stale(email, {"mat_1"}, T0)
    assert reminder_stale(email, set(), T0 + timedelta(hours=5))


def test_the_reminder_says_which_offer_when_it_ends_and_what_happens_then() -> None:
    [email, hook] = reminder_deliveries(
        offer("mat_1", timedelta(hours=5)), coordinator_profile(), T0
    )
    message = email_message(email, {"mat_1": match_links("mat_1")}, "https://x/inbox", "n@x.org")
    assert message["Subject"] == (
        "WBL placements: reminder, the offer for student stu_mat_1 (opening opn_1) ends "
        "Monday 2 March 2026 at 14:00 UTC"
    )
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "the seat goes to the next student" in text
    assert "opn_1" in text and "stu_mat_1" in text and "Monday 2 March 2026 at 14:00 UTC" in text
    body = json.loads(webhook_body(hook, {"mat_1": match_links("mat_1")}, "https://x/inbox"))
    assert body["event_type"] == "OfferExpiring"
    assert body["matches"][0]["expires_at"] == "2026-03-02T14:00:00+00:00"


async def test_a_sweep_reminds_each_coordinator_once_and_never_a_decided_offer() -> None:
    store = InMemoryNotifierStore()
    await store.save_coordinator(coordinator_profile())
    await store.add_notifications(
        [offer("mat_1", timedelta(hours=3)), offer("mat_2", timedelta(hours=3))]
    )
    await store.record_outcome(MatchOutcome("mat_2", NotificationStatus.CONFIRMED, "x", T0))
    lease = Lease.__new__(Lease)  # sweep() itself takes no lease: run() does
    reminders = Reminders(store, BEFORE, 60, lease, lambda: T0)
    assert await reminders.sweep() == 1
    assert await reminders.sweep() == 0
    sent = [d for d in store.deliveries.values() if d.event_type == REMINDER_EVENT]
    assert sorted((d.match_id, d.channel.value) for d in sent) == [
        ("mat_1", "email"),
        ("mat_1", "webhook"),
    ]
    [item] = await store.inbox("coo_1", NotificationStatus.PROPOSED, 0, 10)
    assert item.reminded_at == T0 and item.expires_at == T0 + timedelta(hours=3)
