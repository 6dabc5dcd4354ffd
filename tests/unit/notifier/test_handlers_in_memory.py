"""The notifier's handlers and delivery worker over the in-memory store, with fakes for the
mailer, the webhook sender and the dead-letter bus (no I/O)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Literal

import pytest

from tests.support import eventually
from tests.unit.notifier.builders import proposal
from wbl_common.bus import Message
from wbl_common.secrets import webhook_secret
from wbl_notifier.adapters import DeliveryError
from wbl_notifier.domain import (
    REMINDER_EVENT,
    WITHDRAWN_EVENT,
    Channel,
    Delivery,
    DeliveryStatus,
    NotificationStatus,
)
from wbl_notifier.handlers import Notifier
from wbl_notifier.lease import InMemoryLeaseStore, Lease
from wbl_notifier.links import Signer
from wbl_notifier.reminders import Reminders
from wbl_notifier.store import InMemoryNotifierStore
from wbl_notifier.webhooks import SIGNATURE, WebhookVerificationError, verify_headers
from wbl_notifier.worker import DeliveryPolicy, DeliveryWorker
from wbl_schemas.events import (
    AnyEvent,
    CoordinatorProfile,
    CoordinatorRef,
    CoordinatorRegistered,
    CoordinatorRemoved,
    CoordinatorUpdated,
    MatchProposed,
    MatchWithdrawal,
    MatchWithdrawn,
    NotificationChannels,
    PlacementConfirmed,
    PlacementDecision,
    PlacementDeclined,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOOK = "https://hooks.example.org/wbl"
WEBHOOK_KEY = "k" * 40


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Mailbox:
    """A Mailer that keeps every message it is given."""

    sent: list[EmailMessage] = field(default_factory=list)

    async def send(self, message: EmailMessage) -> None:
        self.sent.append(message)

    def to(self) -> list[str]:
        return sorted(str(m["To"]) for m in self.sent)


@dataclass
class Hooks:
    """A WebhookSender that keeps every request it is given; `failing` answers 500."""

    posted: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    signed: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)  # raw, as sent
    failing: bool = False

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        self.posted.append((url, json.loads(body)))
        self.signed.append((body, headers))
        if self.failing:
            raise DeliveryError("HTTP 500")


@dataclass
class DeadLetters:
    """A MessageBus for the worker's dead letters; `down` makes publishing fail."""

    published: list[Message] = field(default_factory=list)
    down: bool = False

    async def publish(
        self, topic: str, key: str, value: bytes, headers: dict[str, str] | None = None
    ) -> None:
        if self.down:
            raise ConnectionError("broker unreachable")
        self.published.append((topic, key, value))

    async def publish_many(self, messages: list[Message]) -> None:
        self.published.extend(messages)

    async def publish_each(self, messages: list[Message]) -> list[BaseException | None]:
        await self.publish_many(messages)
        return [None] * len(messages)


@dataclass
class World:
    clock: Clock = field(default_factory=Clock)
    store: InMemoryNotifierStore = field(default_factory=InMemoryNotifierStore)
    mailbox: Mailbox = field(default_factory=Mailbox)
    hooks: Hooks = field(default_factory=Hooks)
    dead_letters: DeadLetters = field(default_factory=DeadLetters)
    wakes: int = 0

    def __post_init__(self) -> None:
        self.notifier = Notifier(store=self.store, clock=self.clock, on_deliveries=self._woken)
        self.leases = InMemoryLeaseStore()
        self.worker = self.replica("replica-1")

    def replica(self, holder: str) -> DeliveryWorker:
        """A delivery worker as one replica runs it, on this world's store and clock."""
        return DeliveryWorker(
            store=self.store,
            mailer=self.mailbox,
            webhooks=self.hooks,
            dead_letters=self.dead_letters,
            signer=Signer("s" * 32, link_ttl_s=3600, ticket_ttl_s=60),
            policy=DeliveryPolicy(
                max_attempts=3,
                backoff_initial_s=0,
                backoff_max_s=0,
                poll_s=1,
                concurrency=1,
                digest_period_s=DAY.total_seconds(),
                digest_check_s=3600,
                lease_s=60,
            ),
            webhook_key=WEBHOOK_KEY,
            inbox_url="https://wbl.example.org/inbox",
            sender="WBL <notifier@wbl.example.org>",
            clock=self.clock,
            holder=holder,
            digest_lease=Lease(self.leases, "digests", holder, timedelta(minutes=3), self.clock),
        )

    def _woken(self) -> None:
        self.wakes += 1

    async def send_due(self, worker: DeliveryWorker | None = None) -> None:
        """What the worker's loop does, one attempt at a time, until nothing is due."""
        worker = worker or self.worker
        while True:
            claimed = [
                (d, claim)
                for d in await self.store.due(self.clock(), 100)
                if (claim := await worker.claim(d)) is not None
            ]
            if not claimed:
                return
            for delivery, claim in claimed:
                await worker.attempt(delivery, claim)

    async def inbox(self, coordinator_id: str) -> list[str]:
        return [n.match_id for n in await self.notifier.inbox(coordinator_id, None, 1, 50)]

    async def deliveries(self, coordinator_id: str, *match_ids: str) -> list[Delivery]:
        return await self.store.deliveries_of(coordinator_id, list(match_ids))


@pytest.fixture
def world() -> World:
    return World()


def registered(
    coordinator_id: str,
    *school_ids: str,
    version: int = 1,
    webhook: bool = False,
    digest: Literal["immediate", "daily"] = "immediate",
) -> CoordinatorRegistered:
    channels = NotificationChannels(
        email=f"{coordinator_id}@school.example.org",
        webhook_url=HOOK if webhook else None,
        digest=digest,
    )
    profile = CoordinatorProfile(
        coordinator_id=coordinator_id, version=version, school_ids=school_ids, channels=channels
    )
    return CoordinatorRegistered(producer="test", payload=profile)


def proposed(match_id: str, school_id: str = "sch_1") -> MatchProposed:
    why = "career field cybersecurity matches"
    return MatchProposed(producer="test", payload=proposal(match_id, school_id, why))


async def test_a_match_reaches_each_coordinator_of_its_school_once_per_channel(
    world: World,
) -> None:
    await world.notifier.on_coordinator_event(registered("coo_a", "sch_1", webhook=True))
    await world.notifier.on_coordinator_event(registered("coo_b", "sch_2", "sch_1"))
    await world.notifier.on_coordinator_event(registered("coo_c", "sch_2"))
    await world.notifier.on_match_event(proposed("mat_1"))
    assert [await world.inbox(c) for c in ("coo_a", "coo_b", "coo_c")] == [["mat_1"], ["mat_1"], []]
    assert [(d.channel, d.target) for d in await world.deliveries("coo_a", "mat_1")] == [
        (Channel.EMAIL, "coo_a@school.example.org"),
        (Channel.WEBHOOK, HOOK),
    ]
    assert [d.channel for d in await world.deliveries("coo_b", "mat_1")] == [Channel.EMAIL]
    assert await world.deliveries("coo_c", "mat_1") == []
    assert world.wakes == 1
    await world.send_due()
    assert world.mailbox.to() == ["coo_a@school.example.org", "coo_b@school.example.org"]
    assert [(url, body["coordinator_id"]) for url, body in world.hooks.posted] == [(HOOK, "coo_a")]


async def test_a_redelivered_match_adds_and_sends_nothing(world: World) -> None:
    await world.notifier.on_coordinator_event(registered("coo_a", "sch_1", webhook=True))
    event = proposed("mat_1")
    await world.notifier.on_match_event(event)
    await world.send_due()
    world.clock.now += timedelta(minutes=5)
    await world.notifier.on_match_event(event)
    await world.send_due()
    [n] = await world.notifier.inbox("coo_a", None, 1, 50)
    assert (n.match_id, n.created_at) == ("mat_1", T0)
    assert len(await world.deliveries("coo_a", "mat_1")) == 2
    assert (len(world.mailbox.sent), len(world.hooks.posted), world.wakes) == (1, 1, 1)


async def test_a_withdrawal_changes_the_notification_and_tells_why_once(world: World) -> None:
    await world.notifier.on_coordinator_event(registered("coo_a", "sch_1"))
    await world.notifier.on_match_event(proposed("mat_1"))
    before = await world.deliveries("coo_a", "mat_1")
    world.clock.now += timedelta(minutes=5)
    p = proposed("mat_1").payload
    withdrawal = MatchWithdrawal(
        match_id=p.match_id,
        round_id=p.round_id,
        student_id=p.student_id,
        school_id=p.school_id,
        opening_id=p.opening_id,
        reason="opening closed",
    )
    for _ in range(2):  # a replayed withdrawal adds nothing more
        await world.notifier.on_match_event(MatchWithdrawn(producer="test", payload=withdrawal))
    [n] = await world.notifier.inbox("coo_a", None, 1, 50)
    assert (n.status, n.history, n.updated_at) == (
        NotificationStatus.WITHDRAWN,
        ("withdrawn: opening closed",),
        world.clock.now,
    )
    after = await world.deliveries("coo_a", "mat_1")
    told = [d for d in after if d not in before]
    assert [(d.channel, d.event_type) for d in told] == [
        (d.channel, WITHDRAWN_EVENT) for d in before
    ]
    assert {d.matches[0].withdrawal_reason for d in told} == {"opening closed"}
    # No longer open: a coordinator who registers now does not hear of it.
    await world.notifier.on_coordinator_event(registered("coo_late", "sch_1"))
    assert await world.inbox("coo_late") == []


async def test_a_daily_coordinator_s_matches_are_held_then_sent_as_one_digest(
    world: World,
) -> None:
    await world.notifier.on_coordinator_event(registered("coo_d", "sch_1", digest="daily"))
    await world.notifier.on_match_event(proposed("mat_1"))
    await world.notifier.on_match_event(proposed("mat_2"))
    held = await world.deliveries("coo_d", "mat_1", "mat_2")
    assert [d.status for d in held] == [DeliveryStatus.HELD] * 2
    await world.send_due()
    assert world.mailbox.sent == []
    world.clock.now += DAY
    assert await world.worker.send_digests(world.clock()) == 1
    await world.send_due()
    [digest] = world.mailbox.sent
    assert digest["Subject"] == "WBL placements: 2 new matches to review"
    bundled = await world.deliveries("coo_d", "mat_1", "mat_2")
    assert {(d.status, d.digest_id) for d in bundled} == {
        (DeliveryStatus.SENT, digest["X-WBL-Event-Id"])
    }
    assert await world.worker.send_digests(world.clock()) == 0
    await world.send_due()
    assert len(world.mailbox.sent) == 1


async def test_a_coordinator_registered_after_a_match_still_hears_of_it(world: World) -> None:
    await world.notifier.on_match_event(proposed("mat_1"))
    # As after a crash between the coordinator's save and its backlog: the replay fills in.
    await world.store.save_coordinator(registered("coo_a", "sch_1").payload)
    await world.notifier.on_coordinator_event(registered("coo_a", "sch_1"))
    assert await world.inbox("coo_a") == ["mat_1"]
    assert len(await world.deliveries("coo_a", "mat_1")) == 1


async def test_a_stale_coordinator_event_notifies_no_one(world: World) -> None:
    """At-least-once delivery can replay an older profile after a newer one or a removal;
    it must reach neither a removed coordinator nor the schools a coordinator left."""
    await world.notifier.on_coordinator_event(registered("coo_a", "sch_1", version=1))
    await world.notifier.on_coordinator_event(
        CoordinatorRemoved(
            producer="test", payload=CoordinatorRef(coordinator_id="coo_a", version=2)
        )
    )
    await world.notifier.on_coordinator_event(registered("coo_b", "sch_2", version=2))
    await world.notifier.on_match_event(proposed("mat_1", "sch_1"))
    await world.notifier.on_match_event(proposed("mat_2", "sch_2"))
    await world.notifier.on_coordinator_event(registered("coo_a", "sch_1", version=1))
    await world.notifier.on_coordinator_event(registered("coo_b", "sch_1", "sch_2", version=1))
    assert (await world.inbox("coo_a"), await world.inbox("coo_b")) == ([], ["mat_2"])
    assert await world.deliveries("coo_a", "mat_1") == []
    assert await world.deliveries("coo_b", "mat_1") == []


async def test_a_match_held_just_as_its_period_closed_gets_a_digest_of_its_own(
    world: World,
) -> None:
    await world.notifier.on_coordinator_event(registered("coo_d", "sch_1", digest="daily"))
    await world.notifier.on_match_event(proposed("mat_1"))
    world.clock.now += DAY
    assert await world.worker.send_digests(world.clock()) == 1
    await world.send_due()
    # Written with yesterday's time, but only after yesterday's digest went out.
    world.clock.now -= DAY
    await world.notifier.on_match_event(proposed("mat_2"))
    world.clock.now += DAY
    assert await world.worker.send_digests(world.clock()) == 1
    await world.send_due()
    assert [m["Subject"] for m in world.mailbox.sent] == [
        "WBL placements: 1 new match to review"
    ] * 2
    [late] = await world.deliveries("coo_d", "mat_2")
    assert late.status is DeliveryStatus.SENT
    assert await world.worker.send_digests(world.clock()) == 0


async def test_a_final_failure_is_dead_lettered_once_even_if_the_broker_was_down(
    world: World,
) -> None:
    await world.notifier.on_coordinator_event(registered("coo_a", "sch_1", webhook=True))
    world.hooks.failing = True
    world.dead_letters.down = True
    await world.notifier.on_match_event(proposed("mat_1"))
    await world.send_due()
    webhook = [d for d in await world.deliveries("coo_a", "mat_1") if d.channel is Channel.WEBHOOK]
    assert [(d.status, d.attempts) for d in webhook] == [(DeliveryStatus.FAILED, 3)]
    assert world.dead_letters.published == []
    assert [d.delivery_id for d in await world.store.undead_lettered()] == [webhook[0].delivery_id]
    world.dead_letters.down = False
    await world.worker.dead_letter_failed()  # the worker loop's sweep
    await world.worker.dead_letter_failed()
    assert [(topic, key) for topic, key, _ in world.dead_letters.published] == [
        ("wbl.matches.dlq", "coo_a")
    ]
    assert await world.store.undead_lettered() == []


async def test_the_digest_loop_sends_a_closed_period_and_survives_a_failed_run(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.worker.policy = replace(world.worker.policy, digest_check_s=0.01, poll_s=0.01)
    await world.notifier.on_coordinator_event(registered("coo_d", "sch_1", digest="daily"))
    await world.notifier.on_match_event(proposed("mat_1"))
    world.clock.now += DAY
    held = world.store.held
    failures = 0

    async def held_once_broken() -> list[Delivery]:
        nonlocal failures
        if failures == 0:
            failures += 1
            raise ConnectionError("database hiccup")
        return await held()

    monkeypatch.setattr(world.store, "held", held_once_broken)
    loops = [
        asyncio.create_task(world.worker.run_digests()),
        asyncio.create_task(world.worker.run()),
    ]
    try:

        async def digest_sent() -> bool:
            return len(world.mailbox.sent) == 1

        await eventually(digest_sent, within=10, what="the digest sent by the loops")
    finally:
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
    assert failures == 1
    assert world.mailbox.sent[0]["Subject"] == "WBL placements: 1 new match to review"


async def test_a_digest_goes_to_the_newest_address_of_its_period(world: World) -> None:
    await world.notifier.on_coordinator_event(registered("coo_d", "sch_1", digest="daily"))
    await world.notifier.on_match_event(proposed("mat_1"))
    moved = registered("coo_d", "sch_1", version=2, digest="daily").payload
    moved = moved.model_copy(
        update={"channels": moved.channels.model_copy(update={"email": "dana@new.example.org"})}
    )
    await world.notifier.on_coordinator_event(CoordinatorRegistered(producer="t", payload=moved))
    world.clock.now += timedelta(hours=1)
    await world.notifier.on_match_event(proposed("mat_2"))
    world.clock.now += DAY
    assert await world.worker.send_digests(world.clock()) == 1
    await world.send_due()
    [digest] = world.mailbox.sent
    assert (digest["To"], digest["Subject"]) == (
        "dana@new.example.org",
        "WBL placements: 2 new matches to review",
    )


def withdrawn(match_id: str, reason: str = "the student moved") -> MatchWithdrawn:
    p = proposed(match_id).payload
    withdrawal = MatchWithdrawal(
        match_id=p.match_id,
        round_id=p.round_id,
        student_id=p.student_id,
        school_id=p.school_id,
        opening_id=p.opening_id,
        reason=reason,
    )
    return MatchWithdrawn(producer="test", payload=withdrawal)


def decided(match_id: str, decision: type[PlacementConfirmed | PlacementDeclined]) -> AnyEvent:
    p = proposed(match_id).payload
    return decision(
        producer="test",
        payload=PlacementDecision(
            match_id=p.match_id,
            student_id=p.student_id,
            school_id=p.school_id,
            opening_id=p.opening_id,
            coordinator_id="coo_a",
        ),
    )


@pytest.mark.parametrize("decision", [PlacementConfirmed, PlacementDeclined])
@pytest.mark.parametrize(
    "withdrawal_first", [True, False], ids=["withdrawn-first", "decided-first"]
)
async def test_a_decision_outranks_a_withdrawal_that_crossed_it_in_either_order(
    world: World,
    decision: type[PlacementConfirmed | PlacementDeclined],
    withdrawal_first: bool,
) -> None:
    await world.notifier.on_coordinator_event(registered("coo_a", "sch_1"))
    await world.notifier.on_match_event(proposed("mat_1"))
    outcomes = [
        world.notifier.on_match_event(withdrawn("mat_1")),
        world.notifier.on_placement_event(decided("mat_1", decision)),
    ]
    for outcome in outcomes if withdrawal_first else reversed(outcomes):
        world.clock.now += timedelta(minutes=1)
        await outcome
    [n] = await world.notifier.inbox("coo_a", None, 1, 50)
    expected = (
        NotificationStatus.CONFIRMED
        if decision is PlacementConfirmed
        else NotificationStatus.DECLINED
    )
    assert n.status is expected
    assert set(n.history) == {"withdrawn: the student moved", f"{expected.value} by coordinator"}
    assert await world.notifier.inbox("coo_a", expected, 1, 50) == [n]
    assert await world.notifier.inbox("coo_a", NotificationStatus.WITHDRAWN, 1, 50) == []
    # Nor is the coordinator told the offer was withdrawn: the decision stands.
    await world.send_due()
    subjects = [str(m["Subject"]) for m in world.mailbox.sent]
    assert len(subjects) == 1 and "new match" in subjects[0], subjects


async def test_of_two_replicas_only_one_makes_each_attempt(world: World) -> None:
    await world.notifier.on_coordinator_event(registered("coo_a", "sch_1"))
    await world.notifier.on_match_event(proposed("mat_1"))
    other = world.replica("replica-2")
    [delivery] = await world.store.due(world.clock(), 10)
    claims = [await w.claim(delivery) for w in (world.worker, other, world.worker)]
    assert [c is not None for c in claims] == [True, False, False]
    await world.send_due(other)  # postponed while claimed: not due for the other replica
    assert world.mailbox.sent == []
    assert claims[0] is not None
    await world.worker.attempt(delivery, claims[0])
    world.clock.now += timedelta(hours=1)
    await world.send_due(other)
    assert len(world.mailbox.sent) == 1


async def test_an_attempt_a_crashed_replica_left_is_made_again_once_its_claim_expires(
    world: World,
) -> None:
    await world.notifier.on_coordinator_event(registered("coo_a", "sch_1", webhook=True))
    await world.notifier.on_match_event(proposed("mat_1"))
    crashed, survivor = world.replica("crashed"), world.replica("survivor")
    due = await world.store.due(world.clock(), 10)
    assert all([await crashed.claim(d) for d in due])  # ...then it dies mid-send
    await world.send_due(survivor)
    assert world.hooks.posted == []  # the claims still hold
    world.clock.now += timedelta(seconds=61)  # the lease is 60 s
    await world.send_due(survivor)
    [(_, body)] = world.hooks.posted
    found = await world.deliveries("coo_a", "mat_1")
    assert {(d.status, d.attempts) for d in found} == {(DeliveryStatus.SENT, 2)}
    webhook = next(d for d in found if d.channel is Channel.WEBHOOK)
    assert body["event_id"] == webhook.delivery_id  # the same delivery, retried
    assert len(world.mailbox.sent) == 1


async def test_one_replica_at_a_time_holds_the_digest_lease_and_another_takes_it_over(
    world: World,
) -> None:
    first, second = world.replica("replica-1"), world.replica("replica-2")
    assert await first.digest_lease.hold()
    assert not await second.digest_lease.hold()
    world.clock.now += timedelta(minutes=2)
    assert await first.digest_lease.hold()  # renewed
    world.clock.now += timedelta(minutes=2)
    assert not await second.digest_lease.hold()
    world.clock.now += timedelta(minutes=2)  # the holder stopped renewing: it expired
    assert await second.digest_lease.hold()
    assert not await first.digest_lease.hold()
    assert sorted(world.leases.epochs) == ["digests#1", "digests#2"]


async def test_a_digest_leaves_out_matches_withdrawn_or_decided_before_it_leaves(
    world: World,
) -> None:
    """Issue 12, finding 13: no live decision links for what is settled already."""
    await world.notifier.on_coordinator_event(registered("coo_d", "sch_1", digest="daily"))
    for match_id in ("mat_open", "mat_gone", "mat_done"):
        await world.notifier.on_match_event(proposed(match_id))
    await world.notifier.on_match_event(withdrawn("mat_gone"))
    await world.notifier.on_placement_event(decided("mat_done", PlacementConfirmed))
    world.clock.now += DAY
    await world.worker.send_digests(world.clock())
    await world.send_due()
    [digest] = world.mailbox.sent
    text = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "mat_open" in text or "opn_" in text
    assert digest["Subject"] == "WBL placements: 1 new match to review"
    assert "mat_gone" not in text and "mat_done" not in text


async def test_a_digest_with_nothing_left_to_tell_sends_nothing(world: World) -> None:
    await world.notifier.on_coordinator_event(registered("coo_d", "sch_1", digest="daily"))
    await world.notifier.on_match_event(proposed("mat_gone"))
    await world.notifier.on_match_event(withdrawn("mat_gone"))
    world.clock.now += DAY
    await world.worker.send_digests(world.clock())
    await world.send_due()
    assert world.mailbox.sent == []
    [held] = await world.deliveries("coo_d", "mat_gone")
    assert held.status is DeliveryStatus.SENT  # settled: nothing is pending or held for ever


# -- webhook secret rotation ----------------------------------------------------------------


def rotated(coordinator_id: str, generation: int, until: datetime) -> CoordinatorUpdated:
    """Registry's event for a rotation: the generation numbers, no secret."""
    profile = registered(coordinator_id, "sch_1", webhook=True).payload.model_copy(
        update={
            "version": generation,
            "webhook_secret_generation": generation,
            "previous_generation_until": until,
        }
    )
    return CoordinatorUpdated(producer="test", payload=profile)


def verifies(world: World, secret: str, sent: tuple[bytes, dict[str, str]]) -> bool:
    body, headers = sent
    try:
        verify_headers(secret, headers, body, now=lambda: world.clock.now.timestamp())
    except WebhookVerificationError:
        return False
    return True


async def test_after_a_rotation_both_secrets_verify_until_the_grace_period_ends(
    world: World,
) -> None:
    """Issue 12, finding 5: a receiver holding the new secret verifies at once; one holding
    the old secret still verifies during the grace period, and not after it."""
    old, new = (webhook_secret(WEBHOOK_KEY, "coo_a", g) for g in (1, 2))
    await world.notifier.on_coordinator_event(registered("coo_a", "sch_1", webhook=True))
    await world.notifier.on_match_event(proposed("mat_1"))
    await world.send_due()
    before = world.hooks.signed[-1]
    assert verifies(world, old, before) and not verifies(world, new, before)
    assert "," not in before[1][SIGNATURE]  # one signature until a rotation

    grace_ends = T0 + timedelta(hours=24)
    await world.notifier.on_coordinator_event(rotated("coo_a", 2, grace_ends))
    world.clock.now = T0 + timedelta(hours=1)
    await world.notifier.on_match_event(proposed("mat_2"))
    await world.send_due()
    during = world.hooks.signed[-1]
    assert verifies(world, new, during) and verifies(world, old, during)
    assert len(during[1][SIGNATURE].split(",")) == 2

    world.clock.now = grace_ends
    await world.notifier.on_match_event(proposed("mat_3"))
    await world.send_due()
    after = world.hooks.signed[-1]
    assert verifies(world, new, after) and not verifies(world, old, after)
    assert len(world.hooks.signed) == 3


async def test_a_retry_after_a_rotation_signs_with_the_new_secret(world: World) -> None:
    await world.notifier.on_coordinator_event(registered("coo_a", "sch_1", webhook=True))
    world.hooks.failing = True
    await world.notifier.on_match_event(proposed("mat_1"))
    [webhook] = [
        d for d in await world.deliveries("coo_a", "mat_1") if d.channel is Channel.WEBHOOK
    ]
    worker_claim = await world.worker.claim(webhook)
    assert worker_claim is not None
    await world.worker.attempt(webhook, worker_claim)  # refused by the receiver: retried later
    await world.notifier.on_coordinator_event(rotated("coo_a", 2, T0))  # no grace at all
    world.hooks.failing = False
    world.clock.now += timedelta(minutes=1)
    await world.send_due()
    first, retry = world.hooks.signed
    assert verifies(world, webhook_secret(WEBHOOK_KEY, "coo_a", 1), first)
    assert verifies(world, webhook_secret(WEBHOOK_KEY, "coo_a", 2), retry)
    assert not verifies(world, webhook_secret(WEBHOOK_KEY, "coo_a", 1), retry)


def expiring(match_id: str, ends_in: timedelta) -> MatchProposed:
    event = proposed(match_id)
    payload = event.payload.model_copy(update={"expires_at": T0 + ends_in})
    return event.model_copy(update={"payload": payload})


async def test_a_pending_reminder_is_cancelled_when_its_offer_is_withdrawn(world: World) -> None:
    await world.notifier.on_coordinator_event(registered("coo_1", "sch_1", webhook=True))
    await world.notifier.on_match_event(expiring("mat_1", timedelta(hours=10)))
    await world.send_due()  # the proposal's own messages
    sent_before = (len(world.mailbox.sent), len(world.hooks.posted))
    reminders = Reminders(
        world.store,
        timedelta(hours=48),
        60,
        Lease(world.leases, "r", "x", DAY, world.clock),
        world.clock,
    )
    assert await reminders.sweep() == 1
    await world.notifier.on_match_event(withdrawn("mat_1"))  # before the reminder left
    await world.send_due()
    # What went out since is the withdrawal's own message on each channel, no reminder.
    assert (len(world.mailbox.sent), len(world.hooks.posted)) == (
        sent_before[0] + 1,
        sent_before[1] + 1,
    )
    assert "withdrawn" in str(world.mailbox.sent[-1]["Subject"])
    found = [d for d in await world.deliveries("coo_1", "mat_1") if d.event_type == REMINDER_EVENT]
    assert {d.status for d in found} == {DeliveryStatus.CANCELLED} and len(found) == 2


async def test_a_reminder_leaves_at_once_for_an_offer_still_open(world: World) -> None:
    await world.notifier.on_coordinator_event(
        registered("coo_1", "sch_1", webhook=True, digest="daily")
    )
    await world.notifier.on_match_event(expiring("mat_1", timedelta(hours=10)))
    reminders = Reminders(
        world.store,
        timedelta(hours=48),
        60,
        Lease(world.leases, "r", "x", DAY, world.clock),
        world.clock,
    )
    await reminders.sweep()
    await world.send_due()
    [mail] = world.mailbox.sent  # the proposal waits for the digest, the reminder does not
    assert "reminder" in str(mail["Subject"])
    [(_, hook)] = world.hooks.posted
    assert hook["event_type"] == REMINDER_EVENT
