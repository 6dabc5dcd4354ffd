"""Two notifier processes on one database and one consumer group, through a burst of
proposals to coordinators with email and webhooks, immediate and daily, and to the
employer's webhook: nothing is lost and nothing doubled, also when one replica is killed
with SIGKILL mid-burst."""

from __future__ import annotations

import os
import re
import secrets
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from tests.integration.notifier.conftest import WEBHOOK_KEY, SmtpServer, WebhookReceiver
from tests.process_replicas import Replica, environment, replicas
from tests.support import eventually, start_groups_at_the_end
from wbl_common.mongo import Document
from wbl_schemas.events import (
    CoordinatorProfile,
    CoordinatorRegistered,
    EmployerProfile,
    EmployerRegistered,
    MatchProposal,
    MatchProposed,
    NotificationChannels,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

SCHOOLS = 8
DIGEST_SCHOOLS = 2
PROPOSALS = 200
DIGEST_PERIOD_S = 10
MATCH_LINK = re.compile(r"#match-(\S+)")
Key = tuple[str, str]  # (coordinator_id, match_id)


@dataclass(frozen=True)
class Burst:
    """Per school a coordinator who hears at once, and in some schools one who takes a daily
    digest, all by email and webhook; proposals spread over the schools (and the topic's
    partitions)."""

    tag: str
    hook_url: str

    @property
    def schools(self) -> list[str]:
        return [f"sch_{self.tag}_{i}" for i in range(SCHOOLS)]

    def coordinator(self, school: str, digest: str) -> CoordinatorRegistered:
        coordinator_id = f"coo_{school}_{digest}"
        profile = CoordinatorProfile(
            coordinator_id=coordinator_id,
            version=1,
            school_ids=(school,),
            channels=NotificationChannels(
                email=f"{coordinator_id}@school.example.org",
                webhook_url=self.hook_url,
                digest="daily" if digest == "daily" else "immediate",
            ),
        )
        return CoordinatorRegistered(producer="test", payload=profile)

    @property
    def employer(self) -> EmployerRegistered:
        """The employer of every opening in the burst, with a webhook."""
        profile = EmployerProfile(
            employer_id=f"emp_{self.tag}", version=1, webhook_url=self.hook_url
        )
        return EmployerRegistered(producer="test", payload=profile)

    @property
    def coordinators(self) -> list[CoordinatorRegistered]:
        return [self.coordinator(s, d) for s in self.schools for d in self.kinds(s)]

    def kinds(self, school: str) -> tuple[str, ...]:
        """Every school's coordinators hear at once; those of the first two take digests too."""
        return ("now", "daily") if school in self.schools[:DIGEST_SCHOOLS] else ("now",)

    @property
    def proposals(self) -> list[MatchProposed]:
        return [
            MatchProposed(
                producer="test",
                payload=MatchProposal(
                    match_id=f"mat_{self.tag}_{n}",
                    round_id="rnd_burst",
                    student_id=f"stu_{self.tag}_{n}",
                    school_id=self.schools[n % SCHOOLS],
                    opening_id=f"opn_{n % 13}",
                    employer_id=f"emp_{self.tag}",
                    career_field="advanced-manufacturing",
                    explanation=("career field matches",),
                ),
            )
            for n in range(PROPOSALS)
        ]

    def expected(self, digest: str) -> set[Key]:
        """(coordinator, match) pairs each coordinator of `digest` kind must hear of."""
        return {
            (f"coo_{p.payload.school_id}_{digest}", p.payload.match_id)
            for p in self.proposals
            if digest in self.kinds(p.payload.school_id)
        }

    @property
    def employer_expected(self) -> set[Key]:
        """(employer, match): the employer hears of every candidate, once."""
        return {(f"emp_{self.tag}", p.payload.match_id) for p in self.proposals}


def email_matches(message: Message) -> list[str]:
    plain = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    text = plain.get_payload(decode=True).decode()  # type: ignore[union-attr]
    return MATCH_LINK.findall(text)


@dataclass
class Received:
    """Per channel: (coordinator, match) -> the delivery ids of every message about it; the
    employer's webhooks under "employer", keyed (employer, match)."""

    by_channel: dict[str, dict[Key, list[str]]]

    @classmethod
    def of(cls, smtp: SmtpServer, hooks: WebhookReceiver, tag: str) -> Received:
        by_channel: dict[str, dict[Key, list[str]]] = {
            "email": defaultdict(list),
            "webhook": defaultdict(list),
            "employer": defaultdict(list),
        }
        for message in list(smtp.mailbox.messages):
            coordinator_id = str(message["To"]).split("@")[0]
            if tag in coordinator_id:
                for match_id in email_matches(message):
                    key = (coordinator_id, match_id)
                    by_channel["email"][key].append(str(message["X-WBL-Event-Id"]))
        for hook in list(hooks.received):
            assert hook.verified and hook.standard, hook
            if tag in hook.body.get("employer_id", ""):
                key = (hook.body["employer_id"], hook.body["match"]["match_id"])
                by_channel["employer"][key].append(hook.event_id)
            elif tag in hook.body["coordinator_id"]:
                for match in hook.body["matches"]:
                    key = (hook.body["coordinator_id"], match["match_id"])
                    by_channel["webhook"][key].append(hook.event_id)
        return cls(by_channel)

    def missing(self, expected: set[Key], employer: set[Key]) -> dict[str, list[Key]]:
        gaps = {
            c: sorted((employer if c == "employer" else expected) - set(heard))
            for c, heard in self.by_channel.items()
        }
        return {channel: keys for channel, keys in gaps.items() if keys}


@pytest.fixture
async def notifier_env(
    kafka_bootstrap: str,
    mongo_uri: str,
    db: AsyncDatabase[Document],
    smtp: SmtpServer,
) -> AsyncIterator[dict[str, str]]:
    consumer = f"notifier-replicas-{secrets.token_hex(4)}"
    await start_groups_at_the_end(kafka_bootstrap, consumer)
    yield environment(
        {
            "WBL_WEBHOOK_KEY": WEBHOOK_KEY,
            "WBL_NOTIFIER_LINK_SECRET": secrets.token_urlsafe(32),
            "WBL_NOTIFIER_LOG_LEVEL": "INFO",
            "WBL_NOTIFIER_CONSUMER_NAME": consumer,
            "WBL_NOTIFIER_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
            "WBL_NOTIFIER_MONGO__URI": mongo_uri,
            "WBL_NOTIFIER_MONGO__DATABASE": db.name,
            "WBL_NOTIFIER_SMTP__HOST": "127.0.0.1",
            "WBL_NOTIFIER_SMTP__PORT": str(smtp.port),
            "WBL_NOTIFIER_SMTP__SECURITY": "none",
            "WBL_NOTIFIER_SMTP__TIMEOUT_S": "2",
            "WBL_NOTIFIER_DELIVERY__LEASE_S": "8",
            "WBL_NOTIFIER_DELIVERY__POLL_S": "0.2",
            "WBL_NOTIFIER_DELIVERY__BACKOFF_INITIAL_S": "0.05",
            "WBL_NOTIFIER_DELIVERY__BACKOFF_MAX_S": "0.2",
            "WBL_NOTIFIER_DELIVERY__WEBHOOK_TIMEOUT_S": "2",
            "WBL_NOTIFIER_DELIVERY__ALLOW_LOOPBACK": "true",  # the receiver is on loopback
            "WBL_NOTIFIER_DIGEST__PERIOD_S": str(DIGEST_PERIOD_S),
            "WBL_NOTIFIER_DIGEST__CHECK_S": "0.5",
            "WBL_NOTIFIER_DIGEST__LEASE_S": "15",
        }
    )


def replica_ports() -> list[int]:
    """Beside the e2e services' ports (base + 1..3) in this suite's block."""
    base = int(os.environ.get("WBL_TEST_HTTP_BASE", "18000"))
    return [base + 4, base + 5]


async def publish_coordinators(publish: Any, db: AsyncDatabase[Document], burst: Burst) -> None:
    for event in burst.coordinators:
        await publish(event)
    await publish(burst.employer)

    async def all_known() -> bool:
        ids = [e.payload.coordinator_id for e in burst.coordinators]
        known = await db["coordinators"].count_documents({"_id": {"$in": ids}}) == len(ids)
        return known and await db["employers"].find_one({"_id": f"emp_{burst.tag}"}) is not None

    await eventually(all_known, what="every coordinator and the employer known to the notifier")


async def heard_everything(
    burst: Burst, smtp: SmtpServer, hooks: WebhookReceiver, db: AsyncDatabase[Document]
) -> Received:
    expected = burst.expected("now") | burst.expected("daily")

    async def complete() -> Received | None:
        received = Received.of(smtp, hooks, burst.tag)
        return None if received.missing(expected, burst.employer_expected) else received

    try:
        received = await eventually(complete, within=150, what="every message of the burst")
    except AssertionError as error:
        missing = Received.of(smtp, hooks, burst.tag).missing(expected, burst.employer_expected)
        counts = {channel: (len(keys), keys[:5]) for channel, keys in missing.items()}
        found = [(d["status"], d["event_type"]) async for d in db["deliveries"].find({})]
        unsent = await db["deliveries"].find({"status": "pending"}).to_list(3)
        claims = (
            await db["delivery_attempts"]
            .find({"delivery_id": {"$in": [d["_id"] for d in unsent]}})
            .to_list(None)
        )
        raise AssertionError(
            f"missing {counts}; deliveries: {Counter(found)}; unsent: {unsent}; claims: {claims}"
        ) from error
    assert received is not None
    return received


async def assert_one_notification_each(burst: Burst, db: AsyncDatabase[Document]) -> None:
    found = Counter(
        [
            (n["coordinator_id"], n["match_id"])
            async for n in db["notifications"].find({}, {"coordinator_id": 1, "match_id": 1})
        ]
    )
    expected = burst.expected("now") | burst.expected("daily")
    assert set(found) == expected
    assert set(found.values()) == {1}


async def all_recorded_sent(db: AsyncDatabase[Document]) -> None:
    """A receiver has a message a moment before its sender records it sent (and a killed
    sender's attempt is made again once its claim expires): wait for the records too."""

    async def unsent() -> list[tuple[str, str, str, str]]:
        return [
            (d["status"], d["event_type"], d["coordinator_id"], d["match_id"])
            async for d in db["deliveries"].find({"status": {"$ne": "sent"}})
        ]

    async def none_left() -> bool:
        return not await unsent()

    try:
        await eventually(none_left, within=60, what="every delivery recorded as sent")
    except AssertionError as error:
        raise AssertionError(f"not recorded as sent: {await unsent()}") from error


def assert_one_delivery_id_each(received: Received, burst: Burst) -> None:
    """At most one distinct delivery id per coordinator, match and channel: a receiver may
    see a retry of one delivery, never two deliveries of one match."""
    for channel, heard in received.by_channel.items():
        doubled = {key: ids for key, ids in heard.items() if len(set(ids)) != 1}
        assert doubled == {}, channel
        if channel == "employer":
            assert set(heard) == burst.employer_expected
            continue
        immediate = {key[1] for key in heard if key[0].endswith("_now")}
        assert immediate == {p.payload.match_id for p in burst.proposals}, channel


async def test_two_replicas_notify_each_coordinator_once_per_match_and_channel(
    notifier_env: dict[str, str],
    db: AsyncDatabase[Document],
    smtp: SmtpServer,
    webhook_receiver: WebhookReceiver,
    publish: Any,
    tmp_path: Path,
) -> None:
    burst = Burst(secrets.token_hex(3), webhook_receiver.url)
    async with replicas(
        "wbl-notifier", "WBL_NOTIFIER_HTTP__PORT", notifier_env, replica_ports(), tmp_path
    ):
        await publish_coordinators(publish, db, burst)
        for event in burst.proposals:
            await publish(event)
        await heard_everything(burst, smtp, webhook_receiver, db)
        await all_recorded_sent(db)
    # Both replicas stopped: nothing more can be sent; count what was.
    received = Received.of(smtp, webhook_receiver, burst.tag)
    await assert_one_notification_each(burst, db)
    assert_one_delivery_id_each(received, burst)
    for channel, heard in received.by_channel.items():
        # No crash here, so no retry either: exactly one message per match and channel.
        assert {key: ids for key, ids in heard.items() if len(ids) != 1} == {}, channel


async def test_a_replica_killed_mid_burst_loses_nothing_and_doubles_nothing(
    notifier_env: dict[str, str],
    db: AsyncDatabase[Document],
    smtp: SmtpServer,
    webhook_receiver: WebhookReceiver,
    publish: Any,
    tmp_path: Path,
) -> None:
    """Killed while it holds claims of attempts under way: the survivor makes those attempts
    again once the claims expire, under the same delivery ids."""
    webhook_receiver.answer_after_s = 0.3  # so webhooks are under way when the kill comes
    burst = Burst(secrets.token_hex(3), webhook_receiver.url)
    async with replicas(
        "wbl-notifier", "WBL_NOTIFIER_HTTP__PORT", notifier_env, replica_ports(), tmp_path
    ) as running:
        await publish_coordinators(publish, db, burst)
        for event in burst.proposals:
            await publish(event)
        victim: Replica = running[0]

        async def victim_mid_send() -> list[str]:
            under_way = await claims_under_way(db, victim)
            return under_way if len(under_way) >= 3 else []

        left = await eventually(victim_mid_send, within=120, what="the victim sending")
        victim.kill()
        await heard_everything(burst, smtp, webhook_receiver, db)
        await all_recorded_sent(db)
    received = Received.of(smtp, webhook_receiver, burst.tag)
    await assert_one_notification_each(burst, db)
    assert_one_delivery_id_each(received, burst)
    # What the victim left under way was made again by the survivor.
    retried = {
        c["delivery_id"]
        async for c in db["delivery_attempts"].find({"delivery_id": {"$in": left}})
        if c["number"] >= 2 and holder_pid(c["holder"]) != victim.process.pid
    }
    assert retried, "no attempt of the killed replica was made again"


def holder_pid(holder: str) -> int:
    return int(holder.split(":")[-2])  # host:pid:tag (wbl_notifier.bootstrap.replica_name)


async def claims_under_way(db: AsyncDatabase[Document], replica: Replica) -> list[str]:
    """Deliveries whose current attempt `replica` has claimed and not finished."""
    now = datetime.now(UTC)
    claims = await db["delivery_attempts"].find({"lease_until": {"$gt": now}}).to_list(None)
    ours = [c["delivery_id"] for c in claims if holder_pid(c["holder"]) == replica.process.pid]
    if not ours:
        return []
    pending = db["deliveries"].find({"_id": {"$in": ours}, "status": "pending"}, {"_id": 1})
    return [d["_id"] async for d in pending]
