"""Who gets which message, and how daily digests group held deliveries (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from uuid import UUID

import pytest

from tests.unit.notifier.builders import T0, notification
from wbl_notifier.domain import (
    DIGEST_EVENT,
    PROPOSED_EVENT,
    Channel,
    Delivery,
    DeliveryStatus,
    backoff_s,
    carries_all,
    deliveries_for,
    delivery_id,
    digests_due,
    late_digest,
    period_start,
    widened,
)
from wbl_notifier.messages import MatchLinks, email_message, webhook_body
from wbl_schemas.events import CoordinatorProfile, NotificationChannels

pytestmark = pytest.mark.unit

DAY = 86_400.0


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
    made = deliveries_for(notification("mat_1"), profile(), T0)
    assert [(d.channel, d.target, d.status) for d in made] == [
        (Channel.EMAIL, "lee@school.example.org", DeliveryStatus.PENDING),
        (Channel.WEBHOOK, "https://hooks.example.org/wbl", DeliveryStatus.PENDING),
    ]
    assert {d.key for d in made} == {
        ("coo_1", "mat_1", "email", PROPOSED_EVENT),
        ("coo_1", "mat_1", "webhook", PROPOSED_EVENT),
    }


def test_a_delivery_s_id_follows_from_its_key_so_every_replica_and_retry_shares_it() -> None:
    first = deliveries_for(notification("mat_1"), profile(), T0)
    again = deliveries_for(notification("mat_1"), profile(), T0 + timedelta(hours=1))
    assert [d.delivery_id for d in first] == [d.delivery_id for d in again]
    assert len({d.delivery_id for d in first}) == 2  # one per channel
    assert first[0].delivery_id == delivery_id("coo_1", "mat_1", Channel.EMAIL, PROPOSED_EVENT)
    assert str(UUID(first[0].delivery_id)) == first[0].delivery_id


def test_a_coordinator_without_channels_has_only_the_inbox() -> None:
    assert deliveries_for(notification("m"), profile(email=False, webhook=False), T0) == []


def test_a_daily_coordinator_s_deliveries_are_held_for_the_digest() -> None:
    made = deliveries_for(notification("mat_1"), profile("daily", webhook=False), T0)
    assert [d.status for d in made] == [DeliveryStatus.HELD]


def held(match_id: str, at: datetime, coordinator_id: str = "coo_1") -> Delivery:
    [d] = deliveries_for(
        notification(match_id, coordinator_id),
        profile("daily", webhook=False).model_copy(update={"coordinator_id": coordinator_id}),
        at,
    )
    return d


def test_a_digest_bundles_a_coordinator_s_matches_of_one_closed_period() -> None:
    morning, evening = held("mat_1", T0), held("mat_2", T0 + timedelta(hours=8))
    [(digest, bundled)] = digests_due([evening, morning], T0 + timedelta(days=1), DAY)
    assert bundled == [morning, evening]
    assert [m.match_id for m in digest.matches] == ["mat_1", "mat_2"]
    assert digest.event_type == DIGEST_EVENT and digest.channel is Channel.EMAIL
    assert digest.status is DeliveryStatus.HELD  # released once its matches are bundled
    assert digest.match_id == f"digest:{period_start(int(T0.timestamp() // DAY), DAY).isoformat()}"


def test_the_current_period_waits_and_each_closed_period_gets_its_own_digest() -> None:
    yesterday, today = held("mat_1", T0 - timedelta(days=1)), held("mat_2", T0)
    due = digests_due([yesterday, today], T0 + timedelta(hours=1), DAY)
    assert [[d.match_id for d in bundled] for _, bundled in due] == [["mat_1"]]


def test_coordinators_get_separate_digests_and_a_rerun_yields_the_same_keys() -> None:
    deliveries = [held("mat_1", T0, "coo_a"), held("mat_2", T0, "coo_b")]
    first = digests_due(deliveries, T0 + timedelta(days=1), DAY)
    again = digests_due(deliveries, T0 + timedelta(days=3), DAY)
    assert [d.coordinator_id for d, _ in first] == ["coo_a", "coo_b"]
    assert [d.key for d, _ in first] == [d.key for d, _ in again]


def test_digests_and_already_bundled_deliveries_are_not_bundled_again() -> None:
    bundled = held("mat_1", T0)
    already = replace(bundled, status=DeliveryStatus.BUNDLED)
    [(digest, _)] = digests_due([held("mat_2", T0)], T0 + timedelta(days=1), DAY)
    assert digests_due([already, digest], T0 + timedelta(days=2), DAY) == []


def links(match_id: str) -> MatchLinks:
    return MatchLinks(
        inbox=f"https://wbl.example.org/inbox#match-{match_id}",
        confirm=f"https://wbl.example.org/inbox/act?t=c-{match_id}",
        decline=f"https://wbl.example.org/inbox/act?t=d-{match_id}",
    )


def test_an_email_has_text_and_html_parts_with_the_explanation_and_action_links() -> None:
    [delivery, _] = deliveries_for(notification("mat_1"), profile(), T0)
    message = email_message(
        delivery, {"mat_1": links("mat_1")}, "https://wbl.example.org/inbox", "WBL <n@x.org>"
    )
    assert message["To"] == "lee@school.example.org"
    assert message["X-WBL-Event-Id"] == delivery.delivery_id
    text, html = (part_of(message, kind) for kind in ("plain", "html"))
    for body in (text, html):
        assert "stu_mat_1" in body and "opn_1" in body
        assert "act?t=c-mat_1" in body and "act?t=d-mat_1" in body
        assert "https://wbl.example.org/inbox" in body
    assert "holds <osha-10> & more" in text
    assert "holds &lt;osha-10&gt; &amp; more" in html  # escaped in HTML


def test_a_digest_email_lists_every_bundled_match() -> None:
    [(digest, _)] = digests_due([held("mat_1", T0), held("mat_2", T0)], T0 + timedelta(days=1), DAY)
    message = email_message(
        digest, {m: links(m) for m in ("mat_1", "mat_2")}, "https://x/inbox", "n@x.org"
    )
    assert message["Subject"] == "WBL placements: 2 new matches to review"
    text = part_of(message, "plain")
    assert "stu_mat_1" in text and "stu_mat_2" in text


def test_a_webhook_body_carries_ids_and_explanation_only() -> None:
    [_, delivery] = deliveries_for(notification("mat_1"), profile(), T0)
    body = webhook_body(delivery, {"mat_1": links("mat_1")}, "https://x/inbox")
    import json

    parsed = json.loads(body)
    assert parsed["event_id"] == delivery.delivery_id and parsed["event_type"] == PROPOSED_EVENT
    assert parsed["matches"][0]["student_ref"] == "stu_mat_1"
    assert set(parsed["matches"][0]) == {
        "match_id",
        "student_ref",
        "opening_id",
        "career_field",
        "opening",
        "opening_text",
        "explanation",
        "explanation_detail",
        "inbox_url",
    }


def part_of(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    content: str = part.get_content()
    return content


def test_a_late_digest_has_an_id_of_its_own_that_a_rerun_finds_again() -> None:
    bundled = [held("mat_9", T0)]
    [(digest, _)] = digests_due(bundled, T0 + timedelta(days=1), DAY)
    late = late_digest(digest, bundled)
    assert late.delivery_id != digest.delivery_id
    assert late == late_digest(digest, bundled)
    assert late.match_id.startswith(digest.match_id + "+")


def test_a_stored_digest_is_widened_by_the_matches_it_does_not_list_yet() -> None:
    [(stored, _)] = digests_due([held("mat_1", T0)], T0 + timedelta(days=1), DAY)
    now = [held("mat_1", T0), held("mat_2", T0)]
    assert not carries_all(stored, now)
    assert [m.match_id for m in widened(stored, now)] == ["mat_1", "mat_2"]
    assert carries_all(replace(stored, matches=widened(stored, now)), now)


def test_the_backoff_doubles_from_its_start_up_to_its_cap() -> None:
    assert [backoff_s(n, 1, 10) for n in (1, 2, 3, 4, 5, 200)] == [1, 2, 4, 8, 10, 10]
