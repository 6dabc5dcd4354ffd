"""A withdrawn offer is told, with its reason, to whoever was told of the offer (pure)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tests.unit.notifier.builders import T0, coordinator_profile, match_links, notification
from wbl_notifier.domain import (
    PROPOSED_EVENT,
    REMINDER_EVENT,
    WITHDRAWN_EVENT,
    Channel,
    DeliveryStatus,
    MatchSummary,
    deliveries_for,
    delivery_id,
    withdrawal_deliveries,
)
from wbl_notifier.messages import email_message, webhook_body

pytestmark = pytest.mark.unit

REASON = "The employer closed this opening before it was decided."


def test_a_withdrawal_goes_on_each_channel_the_offer_went_on() -> None:
    n = notification("mat_1")
    told = deliveries_for(n, coordinator_profile(), T0)
    sent = withdrawal_deliveries(n, told, REASON, T0)
    assert {(d.channel, d.target) for d in sent} == {(d.channel, d.target) for d in told}
    assert all(d.event_type == WITHDRAWN_EVENT for d in sent)
    assert all(d.status is DeliveryStatus.PENDING for d in sent)
    assert all(d.matches[0].withdrawal_reason == REASON for d in sent)
    # Keyed like every delivery: a replayed withdrawal makes the same ids.
    assert [d.delivery_id for d in sent] == [
        delivery_id("coo_1", "mat_1", d.channel, WITHDRAWN_EVENT) for d in sent
    ]


def test_an_offer_still_held_for_a_digest_gets_no_withdrawal_message() -> None:
    n = notification("mat_1")
    held = deliveries_for(n, coordinator_profile("daily"), T0)
    assert all(d.status is DeliveryStatus.HELD for d in held)
    assert withdrawal_deliveries(n, held, REASON, T0) == []


def test_only_the_proposal_itself_counts_as_having_been_told() -> None:
    n = notification("mat_1")
    [email, _] = deliveries_for(n, coordinator_profile(), T0)
    reminder = replace(email, event_type=REMINDER_EVENT)
    assert withdrawal_deliveries(n, [reminder], REASON, T0) == []
    assert email.event_type == PROPOSED_EVENT


def test_the_withdrawal_message_says_why_and_offers_no_decision() -> None:
    n = notification("mat_1")
    email, hook = sorted(
        withdrawal_deliveries(n, deliveries_for(n, coordinator_profile(), T0), REASON, T0),
        key=lambda d: d.channel != Channel.EMAIL,
    )
    message = email_message(email, {"mat_1": match_links("mat_1")}, "https://x/inbox", "n@x.org")
    assert message["Subject"] == (
        "WBL placements: offer withdrawn, student stu_mat_1 (an opening in cybersecurity)"
    )
    for kind in ("plain", "html"):
        text = message.get_body((kind,)).get_content()  # type: ignore[union-attr]
        assert REASON in text
        assert "https://x/c" not in text and "https://x/d" not in text
    body = json.loads(webhook_body(hook, {"mat_1": match_links("mat_1")}, "https://x/inbox"))
    assert body["event_type"] == "MatchWithdrawn"
    assert body["matches"][0]["withdrawal_reason"] == REASON


def test_other_messages_carry_no_withdrawal_reason() -> None:
    n = notification("mat_1")
    [_, hook] = deliveries_for(n, coordinator_profile(), T0)
    body = json.loads(webhook_body(hook, {"mat_1": match_links("mat_1")}, "https://x/inbox"))
    assert "withdrawal_reason" not in body["matches"][0]
    assert MatchSummary.of(n).withdrawal_reason == ""
