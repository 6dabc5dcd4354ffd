"""One contract, two stores: the in-memory fake behaves as the MongoDB store on FerretDB.
Where MongoDB leaves the order unspecified (no sort), results are compared as sets."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from tests.support import contract_store
from tests.unit.notifier.builders import T0, notification, proposal
from wbl_common.mongo import Document
from wbl_notifier.domain import (
    DIGEST_EVENT,
    PROPOSED_EVENT,
    Channel,
    Delivery,
    DeliveryStatus,
    MatchSummary,
    Notification,
    NotificationStatus,
)
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


# -- matches --------------------------------------------------------------------------------


async def test_open_matches_are_the_proposed_ones_of_the_schools(store: NotifierStore) -> None:
    for match_id, school_id in (("mat_1", "sch_1"), ("mat_2", "sch_2"), ("mat_3", "sch_3")):
        await store.save_match(proposal(match_id, school_id))
    await store.set_match_status("mat_2", CONFIRMED)
    assert await store.open_matches_of(("sch_1", "sch_2")) == [proposal("mat_1")]
    await store.set_match_status("mat_1", WITHDRAWN)
    assert await store.open_matches_of(("sch_1", "sch_2")) == []
    assert await store.open_matches_of(("sch_3",)) == [proposal("mat_3", "sch_3")]


async def test_a_redelivered_match_refreshes_its_proposal_but_keeps_its_status(
    store: NotifierStore,
) -> None:
    await store.save_match(proposal("mat_1"))
    await store.save_match(proposal("mat_1", why="fits better"))
    assert await store.open_matches_of(("sch_1",)) == [proposal("mat_1", why="fits better")]
    await store.set_match_status("mat_1", CONFIRMED)
    await store.save_match(proposal("mat_1"))
    assert await store.open_matches_of(("sch_1",)) == []


async def test_a_status_for_an_unknown_match_is_not_kept(store: NotifierStore) -> None:
    await store.set_match_status("mat_1", CONFIRMED)
    await store.save_match(proposal("mat_1"))
    assert await store.open_matches_of(("sch_1",)) == [proposal("mat_1")]


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


async def test_a_status_change_reaches_every_open_notification_of_the_match(
    store: NotifierStore,
) -> None:
    await store.add_notifications(
        [note("coo_1", "mat_1"), note("coo_2", "mat_1"), note("coo_1", "mat_2")]
    )
    later = T0 + MINUTE
    assert await store.set_status("mat_1", WITHDRAWN, "withdrawn: filled", later) == 2
    changed = replace(
        note("coo_1", "mat_1"), status=WITHDRAWN, updated_at=later, history=("withdrawn: filled",)
    )
    assert await store.inbox("coo_1", None, 0, 10) == [changed, note("coo_1", "mat_2")]
    assert await store.inbox("coo_2", None, 0, 10) == [replace(changed, coordinator_id="coo_2")]
    assert await store.set_status("mat_9", WITHDRAWN, "nothing", later) == 0


async def test_a_final_status_is_never_changed_again(store: NotifierStore) -> None:
    await store.add_notifications([note("coo_1", "mat_1")])
    assert await store.set_status("mat_1", CONFIRMED, "confirmed by coordinator", T0 + MINUTE) == 1
    assert await store.set_status("mat_1", WITHDRAWN, "withdrawn: late", T0 + 2 * MINUTE) == 0
    [kept] = await store.inbox("coo_1", None, 0, 10)
    assert (kept.status, kept.updated_at, kept.history) == (
        CONFIRMED,
        T0 + MINUTE,
        ("confirmed by coordinator",),
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
    await store.set_status("mat_b", WITHDRAWN, "withdrawn: x", T0 + 4 * hour)
    assert await inbox(WITHDRAWN, 0, 10) == ["mat_b"]
    assert await inbox(PROPOSED, 0, 10) == ["mat_d", "mat_c", "mat_a"]
    assert await inbox(CONFIRMED, 0, 10) == []


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
    await store.set_status("mat_2", WITHDRAWN, "withdrawn: x", T0 + 5 * MINUTE)
    assert await changed(T0 + MINUTE) == ["mat_3", "mat_2"]
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
    assert await store.claim_due(since.replace(tzinfo=None), T0 + MINUTE) is not None


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


async def test_claim_due_leases_the_earliest_due_pending_delivery(store: NotifierStore) -> None:
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
    first = await store.claim_due(now, T0 + 10 * MINUTE)
    assert first == delivery("early", "mat_2", due=T0 + 10 * MINUTE)
    second = await store.claim_due(now, T0 + 15 * MINUTE)
    assert second is not None and second.delivery_id == "late"
    assert await store.claim_due(now, T0 + 20 * MINUTE) is None  # both leased
    assert await store.claim_due(T0 + 10 * MINUTE - timedelta(milliseconds=1), T0) is None
    again = await store.claim_due(T0 + 10 * MINUTE, T0 + 30 * MINUTE)  # the lease has ended
    assert again is not None and again.delivery_id == "early"
    assert await store.claim_due(T0 + 10 * MINUTE, T0 + 30 * MINUTE) is None


async def test_an_attempt_records_its_error_and_pushes_the_lease(store: NotifierStore) -> None:
    await store.add_deliveries([delivery("dlv_1")])
    assert await store.claim_due(T0, T0 + MINUTE) is not None
    await store.record_attempt("dlv_1", 2, "SMTPException: busy", T0 + 30 * MINUTE)
    assert await store.claim_due(T0 + 29 * MINUTE, T0 + 60 * MINUTE) is None
    resumed = await store.claim_due(T0 + 30 * MINUTE, T0 + 60 * MINUTE)
    assert resumed == replace(
        delivery("dlv_1", due=T0 + 60 * MINUTE), attempts=2, last_error="SMTPException: busy"
    )


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
    held = [delivery("h1", "mat_1", status=HELD), delivery("h2", "mat_2", status=HELD)]
    await store.add_deliveries([*held, digest("dg", "mat_1", "mat_2")])
    await store.bundle(["h1", "h2"], "dg")
    await store.release_digests(T0)
    claimed = await store.claim_due(T0, T0 + MINUTE)
    assert claimed is not None
    done = T0 + 2 * MINUTE
    await store.finish(replace(claimed, status=SENT, attempts=3, last_error=None), done)
    outcomes = await store.deliveries_of("coo_1", [PERIOD, "mat_1", "mat_2"])
    assert sorted(outcomes, key=lambda d: d.delivery_id) == [
        replace(
            digest("dg", "mat_1", "mat_2"), status=SENT, attempts=3, next_attempt_at=T0 + MINUTE
        ),
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
            delivery("p1", "mat_3", due=T0 + 60 * MINUTE),
            digest("dg", "mat_1"),
        ]
    )
    assert ids_of(await store.held()) == {"h1", "h2", "dg"}
    await store.bundle(["h1", "p1", "missing"], "dg")  # only held ones are bundled
    assert await stored(store, "h1") == replace(
        delivery("h1", status=HELD), status=BUNDLED, digest_id="dg"
    )
    assert await stored(store, "p1", "mat_3") == delivery("p1", "mat_3", due=T0 + 60 * MINUTE)
    assert ids_of(await store.held()) == {"h2", "dg"}
    assert await store.claim_due(T0 + MINUTE, T0 + 2 * MINUTE) is None  # the digest waits
    assert await store.release_digests(T0 + MINUTE) == 1
    assert await store.release_digests(T0 + MINUTE) == 0
    assert ids_of(await store.held()) == {"h2"}
    assert await stored(store, "dg", PERIOD) == replace(
        digest("dg", "mat_1"), status=PENDING, next_attempt_at=T0 + MINUTE
    )
    released = await store.claim_due(T0 + MINUTE, T0 + 2 * MINUTE)
    assert released == replace(
        digest("dg", "mat_1"), status=PENDING, next_attempt_at=T0 + 2 * MINUTE
    )


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
