"""Who gets which message, and how daily digests group held deliveries (pure)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage

import pytest

from tests.unit.notifier.builders import T0, notification
from wbl_notifier.domain import (
    DIGEST_EVENT,
    PROPOSED_EVENT,
    Channel,
    Delivery,
    DeliveryStatus,
    deliveries_for,
    digests_due,
    period_start,
)
from wbl_notifier.messages import MatchLinks, email_message, webhook_body
from wbl_schemas.events import CoordinatorProfile, NotificationChannels

pytestmark = pytest.mark.unit

DAY = 86_400.0


def ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"dlv-{next(counter)}"


def profile(
    digest: str = "immediate", email: bool = True, webhook: bool = True
) -> CoordinatorProfile:
    return CoordinatorProfile(
        coordinator_id="coo_1",
        version=1,
        school_ids=("sch_1",),
        channels=NotificationChannels(
            email="lee@school.example.org" if email else None,
            webhook_url="https://hooks.example.org/wbl" if webhook else None,
            digest=digest,
        ),
    )


def test_an_immediate_coordinator_gets_one_pending_delivery_per_configured_channel() -> None:
    made = deliveries_for(notification("mat_1"), profile(), T0, lambda: "dlv-1")
    assert [(d.channel, d.target, d.status) for d in made] == [
        (Channel.EMAIL, "lee@school.example.org", DeliveryStatus.PENDING),
        (Channel.WEBHOOK, "https://hooks.example.org/wbl", DeliveryStatus.PENDING),
    ]
    assert {d.key for d in made} == {
        ("coo_1", "mat_1", "email", PROPOSED_EVENT),
        ("coo_1", "mat_1", "webhook", PROPOSED_EVENT),
    }


def test_a_coordinator_without_channels_has_only_the_inbox() -> None:
    assert deliveries_for(notification("m"), profile(email=False, webhook=False), T0, str) == []


def test_a_daily_coordinator_s_deliveries_are_held_for_the_digest() -> None:
    made = deliveries_for(notification("mat_1"), profile("daily", webhook=False), T0, str)
    assert [d.status for d in made] == [DeliveryStatus.HELD]


def held(match_id: str, at: datetime, coordinator_id: str = "coo_1") -> Delivery:
    [d] = deliveries_for(
        notification(match_id, coordinator_id),
        profile("daily", webhook=False).model_copy(update={"coordinator_id": coordinator_id}),
        at,
        lambda: f"h-{match_id}",
    )
    return d


def test_a_digest_bundles_a_coordinator_s_matches_of_one_closed_period() -> None:
    morning, evening = held("mat_1", T0), held("mat_2", T0 + timedelta(hours=8))
    [(digest, bundled)] = digests_due([evening, morning], T0 + timedelta(days=1), DAY, ids())
    assert bundled == [morning, evening]
    assert [m.match_id for m in digest.matches] == ["mat_1", "mat_2"]
    assert digest.event_type == DIGEST_EVENT and digest.channel is Channel.EMAIL
    assert digest.status is DeliveryStatus.HELD  # released once its matches are bundled
    assert digest.match_id == f"digest:{period_start(int(T0.timestamp() // DAY), DAY).isoformat()}"


def test_the_current_period_waits_and_each_closed_period_gets_its_own_digest() -> None:
    yesterday, today = held("mat_1", T0 - timedelta(days=1)), held("mat_2", T0)
    due = digests_due([yesterday, today], T0 + timedelta(hours=1), DAY, ids())
    assert [[d.match_id for d in bundled] for _, bundled in due] == [["mat_1"]]


def test_coordinators_get_separate_digests_and_a_rerun_yields_the_same_keys() -> None:
    deliveries = [held("mat_1", T0, "coo_a"), held("mat_2", T0, "coo_b")]
    first = digests_due(deliveries, T0 + timedelta(days=1), DAY, ids())
    again = digests_due(deliveries, T0 + timedelta(days=3), DAY, ids())
    assert [d.coordinator_id for d, _ in first] == ["coo_a", "coo_b"]
    assert [d.key for d, _ in first] == [d.key for d, _ in again]


def test_digests_and_already_bundled_deliveries_are_not_bundled_again() -> None:
    bundled = held("mat_1", T0)
    from dataclasses import replace

    already = replace(bundled, status=DeliveryStatus.BUNDLED)
    [(digest, _)] = digests_due([held("mat_2", T0)], T0 + timedelta(days=1), DAY, ids())
    assert digests_due([already, digest], T0 + timedelta(days=2), DAY, ids()) == []


def links(match_id: str) -> MatchLinks:
    return MatchLinks(
        inbox=f"https://wbl.example.org/inbox#match-{match_id}",
        confirm=f"https://wbl.example.org/inbox/act?t=c-{match_id}",
        decline=f"https://wbl.example.org/inbox/act?t=d-{match_id}",
    )


def test_an_email_has_text_and_html_parts_with_the_explanation_and_action_links() -> None:
    [delivery, _] = deliveries_for(notification("mat_1"), profile(), T0, lambda: "dlv-1")
    message = email_message(
        delivery, {"mat_1": links("mat_1")}, "https://wbl.example.org/inbox", "WBL <n@x.org>"
    )
    assert message["To"] == "lee@school.example.org"
    assert message["X-WBL-Event-Id"] == "dlv-1"
    text, html = (part_of(message, kind) for kind in ("plain", "html"))
    for body in (text, html):
        assert "stu_mat_1" in body and "opn_1" in body
        assert "act?t=c-mat_1" in body and "act?t=d-mat_1" in body
        assert "https://wbl.example.org/inbox" in body
    assert "holds <osha-10> & more" in text
    assert "holds &lt;osha-10&gt; &amp; more" in html  # escaped in HTML


def test_a_digest_email_lists_every_bundled_match() -> None:
    [(digest, _)] = digests_due(
        [held("mat_1", T0), held("mat_2", T0)], T0 + timedelta(days=1), DAY, ids()
    )
    message = email_message(
        digest, {m: links(m) for m in ("mat_1", "mat_2")}, "https://x/inbox", "n@x.org"
    )
    assert message["Subject"] == "WBL placements: 2 new matches to review"
    text = part_of(message, "plain")
    assert "stu_mat_1" in text and "stu_mat_2" in text


def test_a_webhook_body_carries_ids_and_explanation_only() -> None:
    [_, delivery] = deliveries_for(notification("mat_1"), profile(), T0, lambda: "dlv-9")
    body = webhook_body(delivery, {"mat_1": links("mat_1")}, "https://x/inbox")
    import json

    parsed = json.loads(body)
    assert parsed["event_id"] == "dlv-9" and parsed["event_type"] == PROPOSED_EVENT
    assert parsed["matches"][0]["student_ref"] == "stu_mat_1"
    assert set(parsed["matches"][0]) == {
        "match_id",
        "student_ref",
        "opening_id",
        "career_field",
        "explanation",
        "inbox_url",
    }


def part_of(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    content: str = part.get_content()
    return content
