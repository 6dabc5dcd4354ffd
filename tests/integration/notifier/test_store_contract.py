"""One contract, two stores: the in-memory fake behaves as the MongoDB store on FerretDB.
Where MongoDB leaves the order unspecified (no sort), results are compared as sets."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from tests.support import contract_store
from tests.unit.notifier.builders import T0, notification, proposal
from wbl_common.mongo import Document
from wbl_notifier.domain import (
    DIGEST_EVENT,
    PROPOSED_EVENT,
    AttemptClaim,
    Channel,
    Delivery,
    DeliveryStatus,
    MatchOutcome,
    MatchSummary,
    Notification,
    NotificationStatus,
    OpeningSummary,
    delivery_id,
)
from wbl_notifier.parties import Step, party_delivery
from wbl_notifier.store import InMemoryNotifierStore, MongoNotifierStore, NotifierStore
from wbl_schemas.events import CoordinatorProfile, NotificationChannels

pytestmark = pytest.mark.integration

MINUTE = timedelta(minutes=1)
PERIOD = "digest:2026-03-02"  # a digest's match_id names its period
PROPOSED, WITHDRAWN, CONFIRMED = (
    NotificationStatus.PROPOSED,
    NotificationStatus.WITHDRAWN,
    NotificationStatus.CONFIRMED,
)
PENDING, HELD, BUNDLED, SENT, FAILED = (
    DeliveryStatus.PENDING,
    DeliveryStatus.HELD,
    DeliveryStatus.BUNDLED,
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
)


@pytest.fixture(params=["memory", "mongo"])
async def store(request: pytest.FixtureRequest, db: AsyncDatabase[Document]) -> NotifierStore:
    return await contract_store(
        request.param, InMemoryNotifierStore, lambda: MongoNotifierStore(db)
    )


def profile(
    coordinator_id: str, version: int = 1, school_ids: tuple[str, ...] = ("sch_1",)
) -> CoordinatorProfile:
    return CoordinatorProfile(
        coordinator_id=coordinator_id,
        version=version,
        school_ids=school_ids,
        channels=NotificationChannels(email=f"{coordinator_id}@school.example.org"),
    )


def note(
    coordinator_id: str, match_id: str, created: datetime = T0, updated: datetime | None = None
) -> Notification:
    return notification(match_id, coordinator_id, created=created, updated=updated)


def delivery(
    delivery_id: str,
    match_id: str = "mat_1",
    *,
    coordinator_id: str = "coo_1",
    channel: Channel = Channel.EMAIL,
    event_type: str = PROPOSED_EVENT,
    status: DeliveryStatus = PENDING,
    due: datetime = T0,
    matches: tuple[str, ...] | None = None,
) -> Delivery:
    return Delivery(
        delivery_id=delivery_id,
        coordinator_id=coordinator_id,
        match_id=match_id,
        channel=channel,
        event_type=event_type,
        target="coo_1@school.example.org",
        status=status,
        matches=tuple(
            MatchSummary(m, f"stu_{m}", "opn_1", "cybersecurity", ("fits",))
            for m in (matches if matches is not None else (match_id,))
        ),
        created_at=T0,
        next_attempt_at=due,
    )


def digest(delivery_id: str, *match_ids: str) -> Delivery:
    return delivery(delivery_id, PERIOD, event_type=DIGEST_EVENT, status=HELD, matches=match_ids)


async def stored(store: NotifierStore, delivery_id: str, match_id: str = "mat_1") -> Delivery:
    [found] = [
        d for d in await store.deliveries_of("coo_1", [match_id]) if d.delivery_id == delivery_id
    ]
    return found


def ids_of(deliveries: list[Delivery]) -> set[str]:
    return {d.delivery_id for d in deliveries}


# -- coordinators ---------------------------------------------------------------------------


async def test_a_coordinator_is_stored_only_from_a_newer_version(store: NotifierStore) -> None:
    await store.save_coordinator(profile("coo_1", 2))
    await store.save_coordinator(profile("coo_1", 1, ("sch_1", "sch_old")))  # older
    await store.save_coordinator(profile("coo_1", 2, ("sch_1", "sch_same")))  # redelivered
    assert await store.coordinators_of("sch_1") == [profile("coo_1", 2)]
    assert await store.coordinators_of("sch_old") == []
    await store.save_coordinator(profile("coo_1", 3, ("sch_2",)))
    assert await store.coordinators_of("sch_1") == []
    assert await store.coordinators_of("sch_2") == [profile("coo_1", 3, ("sch_2",))]


async def test_a_removal_hides_a_coordinator_until_a_newer_version(store: NotifierStore) -> None:
    await store.save_coordinator(profile("coo_1", 1))
    await store.remove_coordinator("coo_1", 2)
    assert await store.coordinators_of("sch_1") == []
    await store.save_coordinator(profile("coo_1", 2))  # not newer than the removal
    assert await store.coordinators_of("sch_1") == []
    await store.save_coordinator(profile("coo_1", 3))
    await store.remove_coordinator("coo_1", 3)  # not newer than the stored profile
    assert await store.coordinators_of("sch_1") == [profile("coo_1", 3)]


async def test_a_removal_that_arrives_first_outranks_older_profiles(store: NotifierStore) -> None:
    await store.remove_coordinator("coo_1", 5)
    await store.save_coordinator(profile("coo_1", 4))
    assert await store.coordinators_of("sch_1") == []
    await store.save_coordinator(profile("coo_1", 6))
    assert await store.coordinators_of("sch_1") == [profile("coo_1", 6)]


async def test_coordinators_of_lists_every_coordinator_of_the_school(
    store: NotifierStore,
) -> None:
    await store.save_coordinator(profile("coo_a"))
    await store.save_coordinator(profile("coo_b", school_ids=("sch_2", "sch_1")))
    await store.save_coordinator(profile("coo_c", school_ids=("sch_2",)))
    assert {c.coordinator_id for c in await store.coordinators_of("sch_1")} == {"coo_a", "coo_b"}
    assert {c.coordinator_id for c in await store.coordinators_of("sch_2")} == {"coo_b", "coo_c"}
    assert await store.coordinators_of("sch_9") == []


async def test_a_coordinator_s_last_profile_keeps_its_webhook_secret_generation(
    store: NotifierStore,
) -> None:
    assert await store.last_profile("coo_1") is None
    rotated = profile("coo_1", 2).model_copy(
        update={"webhook_secret_generation": 2, "previous_generation_until": T0 + MINUTE}
    )
    await store.save_coordinator(profile("coo_1", 1))
    await store.save_coordinator(rotated)
    await store.save_coordinator(profile("coo_1", 1))  # older: ignored
    found = await store.last_profile("coo_1")
    assert found == rotated
    assert found is not None and found.previous_generation_until == T0 + MINUTE
    await store.remove_coordinator("coo_1", 3)
    removed = await store.last_profile("coo_1")  # pending webhooks still sign with gen 2
    assert removed is not None
    assert (removed.webhook_secret_generation, removed.previous_generation_until) == (
        2,
        T0 + MINUTE,
    )
    await store.remove_coordinator("coo_2", 1)  # a removal heard before any profile
    assert await store.last_profile("coo_2") is None


# -- matches and their outcomes -------------------------------------------------------------


def outcome(match_id: str, status: NotificationStatus, at: datetime = T0 + MINUTE) -> MatchOutcome:
    return MatchOutcome(match_id, status, f"{status.value}: because", at)


async def test_open_matches_are_those_of_the_schools_with_no_outcome(store: NotifierStore) -> None:
    for match_id, school_id in (("mat_1", "sch_1"), ("mat_2", "sch_2"), ("mat_3", "sch_3")):
        await store.save_matches([proposal(match_id, school_id)])
    assert await store.record_outcome(outcome("mat_2", CONFIRMED))
    assert await store.open_matches_of(("sch_1", "sch_2")) == [proposal("mat_1")]
    assert await store.record_outcome(outcome("mat_1", WITHDRAWN))
    assert await store.open_matches_of(("sch_1", "sch_2")) == []
    assert await store.open_matches_of(("sch_3",)) == [proposal("mat_3", "sch_3")]


async def test_a_redelivered_match_keeps_its_first_proposal_and_never_reopens(
    store: NotifierStore,
) -> None:
    await store.save_matches([proposal("mat_1")])
    await store.save_matches([proposal("mat_1", why="fits better")])
    assert await store.open_matches_of(("sch_1",)) == [proposal("mat_1")]
    await store.record_outcome(outcome("mat_1", CONFIRMED))
    await store.save_matches([proposal("mat_1")])
    assert await store.open_matches_of(("sch_1",)) == []


async def test_an_outcome_recorded_before_its_proposal_still_closes_the_match(
    store: NotifierStore,
) -> None:
    """The placements and matches topics are consumed apart: a decision may come first."""
    await store.record_outcome(outcome("mat_1", CONFIRMED))
    await store.save_matches([proposal("mat_1")])
    assert await store.open_matches_of(("sch_1",)) == []
    await store.add_notifications([note("coo_1", "mat_1")])
    [n] = await store.inbox("coo_1", None, 0, 10)
    assert n.status is CONFIRMED


# -- the inbox ------------------------------------------------------------------------------


async def test_notifications_are_one_per_coordinator_and_match(store: NotifierStore) -> None:
    assert await store.add_notifications([]) == 0
    assert await store.add_notifications([note("coo_1", "mat_1"), note("coo_2", "mat_1")]) == 2
    redelivered = replace(note("coo_1", "mat_1"), explanation=("changed",))
    assert await store.add_notifications([redelivered, note("coo_1", "mat_2")]) == 1
    assert await store.add_notifications([note("coo_3", "mat_1"), note("coo_3", "mat_1")]) == 1
    assert await store.inbox("coo_1", None, 0, 10) == [
        note("coo_1", "mat_1"),
        note("coo_1", "mat_2"),
    ]


async def test_an_outcome_reaches_every_notification_of_the_match_once(
    store: NotifierStore,
) -> None:
    await store.add_notifications(
        [note("coo_1", "mat_1"), note("coo_2", "mat_1"), note("coo_1", "mat_2")]
    )
    later = T0 + MINUTE
    withdrawal = MatchOutcome("mat_1", WITHDRAWN, "withdrawn: filled", later)
    assert await store.record_outcome(withdrawal)
    changed = replace(
        note("coo_1", "mat_1"), status=WITHDRAWN, updated_at=later, history=("withdrawn: filled",)
    )
    assert await store.inbox("coo_1", None, 0, 10) == [changed, note("coo_1", "mat_2")]
    assert await store.inbox("coo_2", None, 0, 10) == [replace(changed, coordinator_id="coo_2")]
    again = MatchOutcome("mat_1", WITHDRAWN, "withdrawn: again", T0 + 2 * MINUTE)
    assert not await store.record_outcome(again)  # the first withdrawal stands
    [kept, _] = await store.inbox("coo_1", None, 0, 10)
    assert kept.history == ("withdrawn: filled",)
    assert await store.record_outcome(outcome("mat_9", WITHDRAWN))  # no notification: kept


@pytest.mark.parametrize(
    "withdrawal_first", [True, False], ids=["withdrawn-first", "decided-first"]
)
async def test_a_decision_outranks_a_withdrawal_whichever_is_recorded_first(
    store: NotifierStore, withdrawal_first: bool
) -> None:
    await store.add_notifications([note("coo_1", "mat_1")])
    withdrawal = MatchOutcome("mat_1", WITHDRAWN, "withdrawn: moved", T0 + MINUTE)
    decision = MatchOutcome("mat_1", CONFIRMED, "confirmed by coordinator", T0 + 2 * MINUTE)
    for fact in (withdrawal, decision) if withdrawal_first else (decision, withdrawal):
        assert await store.record_outcome(fact)
    [n] = await store.inbox("coo_1", None, 0, 10)
    assert (n.status, n.history) == (
        CONFIRMED,
        ("withdrawn: moved", "confirmed by coordinator"),  # in the order they happened
    )


async def test_the_inbox_is_newest_first_filtered_and_paged(store: NotifierStore) -> None:
    hour = timedelta(hours=1)
    await store.add_notifications(
        [
            note("coo_1", "mat_c", T0 + hour),
            note("coo_1", "mat_a", T0),
            note("coo_1", "mat_d", T0 + 2 * hour),
            note("coo_1", "mat_b", T0 + hour),
            note("coo_2", "mat_e", T0 + 3 * hour),
        ]
    )

    async def inbox(status: NotificationStatus | None, skip: int, limit: int) -> list[str]:
        return [n.match_id for n in await store.inbox("coo_1", status, skip, limit)]

    assert await inbox(None, 0, 0) == ["mat_d", "mat_b", "mat_c", "mat_a"]  # 0: no limit
    assert await inbox(None, 1, 2) == ["mat_b", "mat_c"]
    assert await inbox(None, 4, 2) == []
    await store.record_outcome(outcome("mat_b", WITHDRAWN, T0 + 4 * hour))
    assert await inbox(WITHDRAWN, 0, 10) == ["mat_b"]
    assert await inbox(PROPOSED, 0, 10) == ["mat_d", "mat_c", "mat_a"]
    assert await inbox(PROPOSED, 1, 1) == ["mat_c"]
    assert await inbox(PROPOSED, 0, 0) == ["mat_d", "mat_c", "mat_a"]
    assert await inbox(CONFIRMED, 0, 10) == []


async def test_the_inbox_pages_on_after_a_cursor_ties_broken_by_match_id(
    store: NotifierStore,
) -> None:
    hour = timedelta(hours=1)
    await store.add_notifications(
        [
            note("coo_1", "mat_c", T0 + hour),
            note("coo_1", "mat_a", T0),
            note("coo_1", "mat_d", T0 + 2 * hour),
            note("coo_1", "mat_b", T0 + hour),
        ]
    )

    async def after(cursor: tuple[datetime, str], status: NotificationStatus | None) -> list[str]:
        found = await store.inbox("coo_1", status, 0, 10, None, cursor)
        return [n.match_id for n in found]

    assert await after((T0 + 2 * hour, "mat_d"), None) == ["mat_b", "mat_c", "mat_a"]
    assert await after((T0 + hour, "mat_b"), None) == ["mat_c", "mat_a"]
    await store.record_outcome(outcome("mat_c", WITHDRAWN, T0 + 4 * hour))
    assert await after((T0 + hour, "mat_b"), PROPOSED) == ["mat_a"]
    assert await after((T0, "mat_a"), None) == []


async def test_one_notification_is_read_with_its_outcomes_and_who_decided(
    store: NotifierStore,
) -> None:
    await store.add_notifications([note("coo_1", "mat_1")])
    decision = MatchOutcome("mat_1", CONFIRMED, "confirmed by coordinator", T0, "coo_9")
    await store.record_outcome(decision)
    found = await store.notification("coo_1", "mat_1")
    assert found is not None
    assert (found.status, found.decided_by) == (CONFIRMED, "coo_9")
    assert await store.notification("coo_2", "mat_1") is None


async def test_an_opening_is_kept_at_its_latest_version(store: NotifierStore) -> None:
    summary = OpeningSummary(
        "opn_1",
        2,
        "Medical assistant intern",
        "Baystate Health",
        "health-assisting",
        "Springfield",
        date(2027, 1, 12),
        date(2027, 3, 20),
        15,
        True,
    )
    await store.save_opening(summary)
    await store.save_opening(replace(summary, version=1, title="Older"))
    remote = replace(summary, opening_id="opn_2", town=None, version=1)
    await store.save_opening(remote)
    assert await store.openings(["opn_1", "opn_2", "opn_x"]) == {"opn_1": summary, "opn_2": remote}
    await store.save_opening(replace(summary, version=3, title="Newer"))
    assert (await store.openings(["opn_1"]))["opn_1"].title == "Newer"


async def test_changed_since_lists_changes_from_that_moment_oldest_first(
    store: NotifierStore,
) -> None:
    await store.add_notifications(
        [
            note("coo_1", "mat_3", T0, T0 + 2 * MINUTE),
            note("coo_1", "mat_1", T0),
            note("coo_1", "mat_2", T0, T0 + MINUTE),
            note("coo_2", "mat_4", T0, T0 + 3 * MINUTE),
        ]
    )

    async def changed(since: datetime) -> list[str]:
        return [n.match_id for n in await store.changed_since("coo_1", since)]

    assert await changed(T0 + MINUTE) == ["mat_2", "mat_3"]  # at `since` counts
    await store.record_outcome(outcome("mat_2", WITHDRAWN, T0 + 5 * MINUTE))
    assert await changed(T0 + MINUTE) == ["mat_3", "mat_2"]
    [n] = await store.changed_since("coo_1", T0 + 5 * MINUTE)
    assert n.status is WITHDRAWN
    assert await changed(T0 + 10 * MINUTE) == []


async def test_times_come_back_in_utc_to_the_millisecond(store: NotifierStore) -> None:
    odd = datetime(2026, 3, 2, 11, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2026, 3, 2, 9, 30)  # taken as UTC
    await store.add_notifications([note("coo_1", "mat_1", odd), note("coo_1", "mat_2", naive)])
    [late, early] = await store.inbox("coo_1", None, 0, 10)
    assert (early.created_at, early.updated_at) == (T0.replace(microsecond=123000),) * 2
    assert early.created_at.utcoffset() == timedelta(0)
    assert late.created_at == naive.replace(tzinfo=UTC)
    # `since` loses its sub-millisecond part too: changed at .123 counts at .1235.
    since = T0.replace(microsecond=123500)
    assert [n.match_id for n in await store.changed_since("coo_1", since)] == ["mat_1", "mat_2"]
    await store.add_deliveries([delivery("dlv_1", due=T0.replace(microsecond=123999))])
    assert ids_of(await store.due(since.replace(tzinfo=None), 10)) == {"dlv_1"}


# -- deliveries -----------------------------------------------------------------------------


async def test_deliveries_are_one_per_coordinator_match_channel_and_event_type(
    store: NotifierStore,
) -> None:
    assert await store.add_deliveries([]) == 0
    email, webhook = delivery("dlv_1"), delivery("dlv_2", channel=Channel.WEBHOOK)
    assert await store.add_deliveries([email, webhook]) == 2
    again = delivery("dlv_3", due=T0 + MINUTE)  # the same message under a new id
    other_type = delivery("dlv_4", event_type="MatchReminder")
    assert await store.add_deliveries([again, other_type]) == 1
    reused_id = delivery("dlv_1", "mat_2")  # a new message under a taken id
    assert await store.add_deliveries([reused_id]) == 0
    assert await store.deliveries_of("coo_1", ["mat_1", "mat_2"]) == [email, other_type, webhook]
    assert await store.delivery("dlv_2") == webhook
    assert await store.delivery("dlv_3") is None


async def test_deliveries_of_a_coordinator_s_matches_by_channel_then_event_type(
    store: NotifierStore,
) -> None:
    webhook = delivery("dlv_1", channel=Channel.WEBHOOK)
    email_proposed = delivery("dlv_2")
    email_digest = delivery("dlv_3", event_type=DIGEST_EVENT)
    others = [delivery("dlv_4", coordinator_id="coo_2"), delivery("dlv_5", "mat_2")]
    await store.add_deliveries([webhook, email_proposed, email_digest, *others])
    assert await store.deliveries_of("coo_1", ["mat_1", "mat_9"]) == [
        email_digest,
        email_proposed,
        webhook,
    ]
    assert await store.deliveries_of("coo_1", []) == []


async def test_due_lists_pending_deliveries_earliest_first_up_to_a_limit(
    store: NotifierStore,
) -> None:
    await store.add_deliveries(
        [
            delivery("late", "mat_1", due=T0 + 2 * MINUTE),
            delivery("early", "mat_2", due=T0 + MINUTE),
            delivery("future", "mat_3", due=T0 + 60 * MINUTE),
            delivery("held", "mat_4", status=HELD),
            delivery("sent", "mat_5", status=SENT),
        ]
    )
    now = T0 + 5 * MINUTE
    assert [d.delivery_id for d in await store.due(now, 10)] == ["early", "late"]
    assert [d.delivery_id for d in await store.due(now, 1)] == ["early"]
    await store.postpone("early", T0 + 10 * MINUTE)  # claimed: not due while the claim holds
    assert [d.delivery_id for d in await store.due(now, 10)] == ["late"]
    assert [d.delivery_id for d in await store.due(T0 + 10 * MINUTE, 10)] == ["late", "early"]


async def test_each_attempt_is_claimed_once(store: NotifierStore) -> None:
    first = AttemptClaim("dlv_1", 1, "replica-a", T0, T0 + MINUTE)
    assert await store.claim_attempt(first)
    assert not await store.claim_attempt(replace(first, holder="replica-b"))
    assert await store.attempt_claim("dlv_1", 1) == first
    assert await store.attempt_claim("dlv_1", 2) is None
    assert await store.claim_attempt(replace(first, number=2, holder="replica-b"))
    assert await store.claim_attempt(replace(first, delivery_id="dlv_2"))


async def test_a_failed_attempt_records_its_error_and_when_to_try_again(
    store: NotifierStore,
) -> None:
    await store.add_deliveries([delivery("dlv_1")])
    await store.retry_later("dlv_1", 2, "SMTPException: busy", T0 + 30 * MINUTE)
    assert await store.due(T0 + 29 * MINUTE, 10) == []
    [resumed] = await store.due(T0 + 30 * MINUTE, 10)
    assert resumed == replace(
        delivery("dlv_1", due=T0 + 30 * MINUTE), attempts=2, last_error="SMTPException: busy"
    )


def proposed_id(match_id: str) -> str:
    """The id a proposal's email delivery to coo_1 has (a digest finds what it bundles so)."""
    return delivery_id("coo_1", match_id, Channel.EMAIL, PROPOSED_EVENT)


async def test_finish_records_the_outcome_on_a_digest_and_what_it_bundles(
    store: NotifierStore,
) -> None:
    await store.add_notifications(
        [
            note("coo_1", "mat_1"),
            note("coo_1", "mat_2"),
            note("coo_1", "mat_3"),
            note("coo_2", "mat_1"),
        ]
    )
    held = [delivery(proposed_id(m), m, status=HELD) for m in ("mat_1", "mat_2")]
    await store.add_deliveries([*held, digest("dg", "mat_1", "mat_2")])
    await store.bundle([d.delivery_id for d in held], "dg")
    await store.release_digests(T0)
    [released] = await store.due(T0, 10)
    done = T0 + 2 * MINUTE
    await store.finish(replace(released, status=SENT, attempts=3, last_error=None), done)
    outcomes = await store.deliveries_of("coo_1", [PERIOD, "mat_1", "mat_2"])
    assert sorted(outcomes, key=lambda d: d.match_id) == [
        replace(digest("dg", "mat_1", "mat_2"), status=SENT, attempts=3, next_attempt_at=T0),
        *(replace(h, status=SENT, attempts=3, digest_id="dg") for h in held),
    ]
    touched = {n.match_id: n.updated_at for n in await store.changed_since("coo_1", T0)}
    assert touched == {"mat_1": done, "mat_2": done, "mat_3": T0}
    assert [n.updated_at for n in await store.inbox("coo_2", None, 0, 10)] == [T0]


async def test_a_failure_waits_for_its_dead_letter_until_marked(store: NotifierStore) -> None:
    await store.add_deliveries([delivery("dlv_1"), delivery("dlv_2", "mat_2")])
    await store.finish(replace(delivery("dlv_1"), status=FAILED, attempts=5, last_error="x"), T0)
    await store.finish(replace(delivery("dlv_2", "mat_2"), status=SENT, attempts=1), T0)
    assert await store.undead_lettered() == [
        replace(delivery("dlv_1"), status=FAILED, attempts=5, last_error="x")
    ]
    assert ids_of(await store.undead_lettered()) == {"dlv_1"}  # until published and marked
    await store.mark_dead_lettered("dlv_1")
    assert await store.undead_lettered() == []
    await store.mark_dead_lettered("dlv_missing")  # nothing to mark: no error
    assert ids_of(await store.undead_lettered()) == set()


async def test_held_deliveries_are_bundled_and_their_digest_released(
    store: NotifierStore,
) -> None:
    await store.add_deliveries(
        [
            delivery("h1", "mat_1", status=HELD),
            delivery("h2", "mat_2", status=HELD),
            digest("dg", "mat_1"),
        ]
    )
    assert ids_of(await store.held()) == {"h1", "h2", "dg"}
    await store.bundle(["h1", "missing"], "dg")  # an id that is not there: nothing happens
    assert await stored(store, "h1") == replace(
        delivery("h1", status=HELD), status=BUNDLED, digest_id="dg"
    )
    assert ids_of(await store.held()) == {"h2", "dg"}
    assert await store.due(T0 + MINUTE, 10) == []  # the digest waits
    assert await store.release_digests(T0 + MINUTE) == 1
    assert await store.release_digests(T0 + MINUTE) == 0
    assert ids_of(await store.held()) == {"h2"}
    assert await store.due(T0 + MINUTE, 10) == [
        replace(digest("dg", "mat_1"), status=PENDING, next_attempt_at=T0 + MINUTE)
    ]


async def test_a_held_digest_can_be_widened_by_matches_it_missed(store: NotifierStore) -> None:
    await store.add_deliveries([digest("dg", "mat_1")])
    wider = digest("dg", "mat_1", "mat_2").matches
    await store.set_digest_matches("dg", wider)
    assert await store.delivery("dg") == digest("dg", "mat_1", "mat_2")


# -- action links ---------------------------------------------------------------------------


async def test_a_link_is_spent_once_until_released(store: NotifierStore) -> None:
    assert not await store.link_spent("use_1")
    assert await store.spend_link("use_1", T0)
    assert not await store.spend_link("use_1", T0)
    assert await store.link_spent("use_1") and not await store.link_spent("use_2")
    await store.release_link("use_1")  # registry never decided: usable again
    assert not await store.link_spent("use_1")
    assert await store.spend_link("use_1", T0)
    await store.release_link("use_never_spent")


async def test_placements_are_followed_once_ended_once_and_their_party_emails_found(
    store: NotifierStore,
) -> None:
    await store.follow_placement("mat_p1", "sch_a")
    await store.follow_placement("mat_p1", "sch_a")  # a replay: no error, no second copy
    assert await store.ended_placements(["mat_p1", "mat_p2"]) == set()
    await store.end_placement("mat_p1")
    await store.end_placement("mat_p1")
    assert await store.ended_placements(["mat_p1", "mat_p2"]) == {"mat_p1"}

    step = Step("guardian", "sign-agreement", "a" * 64)
    first = party_delivery("mat_p1", step, 0, T0)
    assert await store.add_deliveries([first, party_delivery("mat_p2", step, 0, T0)]) == 2
    assert await store.add_deliveries([party_delivery("mat_p1", step, 0, T0)]) == 0
    found = await store.party_deliveries("mat_p1")
    assert [(d.delivery_id, d.target, d.audience.value) for d in found] == [
        (first.delivery_id, "", "party")
    ]
