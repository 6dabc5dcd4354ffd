"""Employers hear of the matches on their own openings by webhook (issue 13, item 6): what the
body says (only what GET /v1/matches shows them, plus the opening's title), when each event
goes, once, and how it is signed (Standard Webhooks, and our X-WBL headers as before)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from tests.support import standard_webhooks_verifies
from tests.unit.notifier.builders import T0, opening_snapshot, proposal
from tests.unit.notifier.test_handlers_in_memory import HOOK, WEBHOOK_KEY, World, registered
from wbl_common.secrets import webhook_secret
from wbl_notifier.domain import (
    CANDIDATE_PROPOSED,
    OFFER_EXPIRED,
    OFFER_WITHDRAWN,
    PLACEMENT_CONFIRMED,
    PLACEMENT_DECLINED,
    Audience,
    Channel,
    DeliveryStatus,
    OpeningSummary,
    delivery_id,
    employer_delivery,
)
from wbl_notifier.messages import employer_webhook_body
from wbl_notifier.webhooks import (
    WebhookVerificationError,
    signed_headers,
    verify_headers,
    verify_standard,
)
from wbl_schemas.events import (
    EmployerProfile,
    EmployerRegistered,
    EmployerUpdated,
    MatchProposed,
    MatchWithdrawal,
    MatchWithdrawn,
    OpeningPublished,
    PlacementConfirmed,
    PlacementDecision,
    PlacementDeclined,
    WithdrawalReason,
)

pytestmark = pytest.mark.unit

EMPLOYER_HOOK = "https://hr.baystate.example.org/wbl"


@pytest.fixture
def world() -> World:
    return World()


def employer(version: int = 1, **changes: object) -> EmployerProfile:
    fields: dict[str, object] = {
        "employer_id": "emp_1",
        "version": version,
        "webhook_url": EMPLOYER_HOOK,
    }
    return EmployerProfile.model_validate(fields | changes)


async def hear_employer(world: World, profile: EmployerProfile) -> None:
    kind = EmployerRegistered if profile.version == 1 else EmployerUpdated
    await world.notifier.on_employer_event(kind(producer="registry", payload=profile))


def proposed(match_id: str = "mat_1") -> MatchProposed:
    return MatchProposed(producer="matcher", payload=proposal(match_id))


def decision(match_id: str = "mat_1") -> PlacementDecision:
    p = proposal(match_id)
    return PlacementDecision(
        match_id=match_id,
        student_id=p.student_id,
        school_id=p.school_id,
        opening_id=p.opening_id,
        coordinator_id="coo_a",
    )


def withdrawn(match_id: str = "mat_1", code: WithdrawalReason = "expired") -> MatchWithdrawn:
    p = proposal(match_id)
    ended = MatchWithdrawal(
        match_id=match_id,
        round_id=p.round_id,
        student_id=p.student_id,
        school_id=p.school_id,
        opening_id=p.opening_id,
        reason_code=code,
        reason="The offer's window ended without a decision.",
    )
    return MatchWithdrawn(producer="matcher", payload=ended)


def employer_posts(world: World) -> list[dict[str, object]]:
    return [body for url, body in world.hooks.posted if url == EMPLOYER_HOOK]


# -- what the body says (pure) ---------------------------------------------------------------


def test_the_body_names_the_match_the_opening_and_its_status_and_nothing_of_the_student() -> None:
    [d] = employer_delivery(employer(), CANDIDATE_PROPOSED, proposal("mat_1"), T0)
    opening = OpeningSummary.of(opening_snapshot())
    body = json.loads(employer_webhook_body(d, {"opn_1": opening}))
    assert body == {
        "event_id": d.delivery_id,
        "event_type": "CandidateProposed",
        "employer_id": "emp_1",
        "created_at": T0.isoformat(),
        "match": {
            "match_id": "mat_1",
            "opening_id": "opn_1",
            "opening_title": "Medical assistant intern",
            "status": "proposed",
        },
    }
    # The delivery itself keeps nothing of the student either: no reference, no explanation.
    assert (d.matches[0].student_ref, d.matches[0].explanation) == ("", ())


@pytest.mark.parametrize(
    ("event_type", "status"),
    [
        (PLACEMENT_CONFIRMED, "confirmed"),
        (PLACEMENT_DECLINED, "declined"),
        (OFFER_EXPIRED, "withdrawn"),
        (OFFER_WITHDRAWN, "withdrawn"),
    ],
)
def test_each_event_states_the_status_the_employer_s_match_list_then_shows(
    event_type: str, status: str
) -> None:
    [d] = employer_delivery(employer(), event_type, proposal("mat_1"), T0)
    body = json.loads(employer_webhook_body(d, {}))
    assert (body["event_type"], body["match"]["status"]) == (event_type, status)
    assert body["match"]["opening_title"] is None  # the opening not heard yet: no title


def test_an_employer_without_a_webhook_or_with_a_revoked_key_gets_none() -> None:
    p = proposal("mat_1")
    assert employer_delivery(None, CANDIDATE_PROPOSED, p, T0) == []
    assert employer_delivery(employer(webhook_url=None), CANDIDATE_PROPOSED, p, T0) == []
    assert employer_delivery(employer(active=False), CANDIDATE_PROPOSED, p, T0) == []


def test_an_employer_delivery_is_keyed_like_every_delivery() -> None:
    [d] = employer_delivery(employer(), PLACEMENT_CONFIRMED, proposal("mat_1"), T0)
    later = T0 + timedelta(hours=1)
    [again] = employer_delivery(employer(), PLACEMENT_CONFIRMED, proposal("mat_1"), later)
    assert d.delivery_id == again.delivery_id
    assert d.delivery_id == delivery_id("emp_1", "mat_1", Channel.WEBHOOK, PLACEMENT_CONFIRMED)
    assert (d.audience, d.channel, d.target, d.status) == (
        Audience.EMPLOYER,
        Channel.WEBHOOK,
        EMPLOYER_HOOK,
        DeliveryStatus.PENDING,
    )


# -- when each event goes, once -----------------------------------------------------------------


async def test_the_employer_hears_the_candidate_then_the_confirmation_once_each(
    world: World,
) -> None:
    await hear_employer(world, employer())
    await world.notifier.on_coordinator_event(registered("coo_a", "sch_1", webhook=True))
    await world.notifier.on_opening_event(
        OpeningPublished(producer="registry", payload=opening_snapshot())
    )
    for _ in range(2):  # redelivered events add nothing
        await world.notifier.on_match_event(proposed())
        await world.send_due()
    for _ in range(2):
        await world.notifier.on_placement_event(
            PlacementConfirmed(producer="registry", payload=decision())
        )
        await world.send_due()
    assert [(b["event_type"], b["match"]) for b in employer_posts(world)] == [
        (
            "CandidateProposed",
            {
                "match_id": "mat_1",
                "opening_id": "opn_1",
                "opening_title": "Medical assistant intern",
                "status": "proposed",
            },
        ),
        (
            "PlacementConfirmed",
            {
                "match_id": "mat_1",
                "opening_id": "opn_1",
                "opening_title": "Medical assistant intern",
                "status": "confirmed",
            },
        ),
    ]
    # The coordinator's webhook went as before, and never to the employer's address.
    assert [u for u, b in world.hooks.posted if b.get("coordinator_id") == "coo_a"] == [HOOK]
    assert await world.inbox("emp_1") == []  # employers have no inbox


async def test_a_declined_placement_is_told_too(world: World) -> None:
    await hear_employer(world, employer())
    await world.notifier.on_match_event(proposed())
    await world.notifier.on_placement_event(
        PlacementDeclined(producer="registry", payload=decision())
    )
    await world.send_due()
    assert [b["event_type"] for b in employer_posts(world)] == [
        "CandidateProposed",
        "PlacementDeclined",
    ]


@pytest.mark.parametrize(
    ("code", "event_type"),
    [("expired", "OfferExpired"), ("opening_closed", "OfferWithdrawn")],
)
async def test_an_offer_that_ends_undecided_is_told_as_expired_or_withdrawn(
    world: World, code: WithdrawalReason, event_type: str
) -> None:
    await hear_employer(world, employer())
    await world.notifier.on_match_event(proposed())
    for _ in range(2):
        await world.notifier.on_match_event(withdrawn(code=code))
    await world.send_due()
    told = employer_posts(world)
    assert [b["event_type"] for b in told] == ["CandidateProposed", event_type]
    assert "reason" not in json.dumps(told[-1])  # why is the student's business


async def test_an_offer_never_told_to_the_employer_ends_without_a_message(world: World) -> None:
    await world.notifier.on_match_event(proposed())  # no webhook yet
    await hear_employer(world, employer())
    await world.notifier.on_match_event(withdrawn())
    await world.send_due()
    assert employer_posts(world) == []


async def test_an_ending_crossed_by_a_decision_is_not_sent(world: World) -> None:
    await hear_employer(world, employer())
    await world.notifier.on_match_event(proposed())
    await world.send_due()
    await world.notifier.on_match_event(withdrawn())  # recorded, pending
    await world.notifier.on_placement_event(
        PlacementConfirmed(producer="registry", payload=decision())
    )
    await world.send_due()
    assert [b["event_type"] for b in employer_posts(world)] == [
        "CandidateProposed",
        "PlacementConfirmed",
    ]
    [ending] = [
        d for d in await world.deliveries("emp_1", "mat_1") if d.event_type == OFFER_EXPIRED
    ]
    assert ending.status is DeliveryStatus.CANCELLED


async def test_a_revoked_employer_or_a_removed_webhook_hears_nothing_more(world: World) -> None:
    await hear_employer(world, employer())
    await hear_employer(world, employer(version=2, active=False))
    await hear_employer(world, employer(version=1))  # replayed, older: changes nothing
    await world.notifier.on_match_event(proposed("mat_1"))
    await hear_employer(world, employer(version=3, webhook_url=None))
    await world.notifier.on_match_event(proposed("mat_2"))
    await world.send_due()
    assert employer_posts(world) == []


# -- how it is signed ----------------------------------------------------------------------------


async def test_the_employer_s_webhook_is_signed_both_ways_with_its_own_secret(
    world: World,
) -> None:
    await hear_employer(world, employer())
    await world.notifier.on_match_event(proposed())
    await world.send_due()
    [(body, headers)] = world.hooks.signed
    secret = webhook_secret(WEBHOOK_KEY, "emp_1", 1)
    at = float(headers["webhook-timestamp"])
    assert headers["webhook-id"] == headers["X-WBL-Event-Id"] == json.loads(body)["event_id"]
    assert standard_webhooks_verifies(secret, body, headers)
    verify_standard(secret, headers, body, now=lambda: at)
    verify_headers(secret, headers, body, now=lambda: at)
    assert not standard_webhooks_verifies(webhook_secret(WEBHOOK_KEY, "coo_1", 1), body, headers)


async def test_after_a_rotation_both_secrets_sign_until_the_grace_ends(world: World) -> None:
    grace_ends = T0 + timedelta(hours=1)
    await hear_employer(
        world,
        employer(version=2, webhook_secret_generation=2, previous_generation_until=grace_ends),
    )
    await world.notifier.on_match_event(proposed("mat_1"))
    await world.send_due()
    world.clock.now = grace_ends + timedelta(seconds=1)
    await world.notifier.on_match_event(proposed("mat_2"))
    await world.send_due()
    (first, first_headers), (later, later_headers) = world.hooks.signed
    old, new = (webhook_secret(WEBHOOK_KEY, "emp_1", g) for g in (1, 2))
    assert standard_webhooks_verifies(old, first, first_headers)
    assert standard_webhooks_verifies(new, first, first_headers)
    assert standard_webhooks_verifies(new, later, later_headers)
    assert not standard_webhooks_verifies(old, later, later_headers)


def test_a_signature_for_other_bytes_or_a_stale_one_is_refused() -> None:
    secret = webhook_secret(WEBHOOK_KEY, "emp_1", 1)
    sent_at = int(datetime(2027, 1, 1).timestamp())
    headers = signed_headers((secret,), "evt_1", b'{"a":1}', sent_at)
    verify_standard(secret, headers, b'{"a":1}', now=lambda: sent_at)
    with pytest.raises(WebhookVerificationError, match="does not match"):
        verify_standard(secret, headers, b'{"a":2}', now=lambda: sent_at)
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify_standard(secret, headers, b'{"a":1}', now=lambda: sent_at + 301)
