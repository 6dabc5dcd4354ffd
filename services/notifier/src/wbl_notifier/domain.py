"""Notifier's domain: who hears about a match, and how a notification's status moves.
Pure: no I/O. Notifications carry ids and the matcher's explanation, no personal data."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from wbl_schemas.events import CoordinatorProfile, MatchProposal


class NotificationStatus(StrEnum):
    PROPOSED = "proposed"
    WITHDRAWN = "withdrawn"
    CONFIRMED = "confirmed"
    DECLINED = "declined"


# A decision or withdrawal is final; a late, redelivered proposal cannot reopen it.
FINAL = frozenset(
    {NotificationStatus.WITHDRAWN, NotificationStatus.CONFIRMED, NotificationStatus.DECLINED}
)


@dataclass(frozen=True)
class Notification:
    coordinator_id: str
    match_id: str
    student_id: str
    school_id: str
    opening_id: str
    employer_id: str
    career_field: str
    explanation: tuple[str, ...]
    status: NotificationStatus
    created_at: datetime
    updated_at: datetime
    history: tuple[str, ...] = field(default_factory=tuple)


def recipients(school_id: str, coordinators: list[CoordinatorProfile]) -> list[CoordinatorProfile]:
    """Every coordinator of the student's school."""
    return [c for c in coordinators if school_id in c.school_ids]


def notifications_for(
    proposal: MatchProposal, coordinators: list[CoordinatorProfile], now: datetime
) -> list[Notification]:
    return [
        Notification(
            coordinator_id=c.coordinator_id,
            match_id=proposal.match_id,
            student_id=proposal.student_id,
            school_id=proposal.school_id,
            opening_id=proposal.opening_id,
            employer_id=proposal.employer_id,
            career_field=proposal.career_field,
            explanation=proposal.explanation,
            status=NotificationStatus.PROPOSED,
            created_at=now,
            updated_at=now,
        )
        for c in recipients(proposal.school_id, coordinators)
    ]


# -- deliveries over the coordinator's own channels ------------------------------------------

PROPOSED_EVENT = "MatchProposed"
DIGEST_EVENT = "MatchDigest"


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # the delivery worker sends it (and retries it)
    HELD = "held"  # waits for the coordinator's next digest
    BUNDLED = "bundled"  # travels inside a digest delivery, which carries the outcome
    SENT = "sent"
    FAILED = "failed"  # every attempt failed; recorded and dead-lettered


@dataclass(frozen=True)
class MatchSummary:
    """What a message may say about a match: ids, never personal data."""

    match_id: str
    student_ref: str
    opening_id: str
    career_field: str
    explanation: tuple[str, ...]

    @classmethod
    def of(cls, n: Notification) -> MatchSummary:
        return cls(n.match_id, n.student_id, n.opening_id, n.career_field, n.explanation)


@dataclass(frozen=True)
class Delivery:
    """One message to one coordinator over one channel; unique on
    (coordinator_id, match_id, channel, event_type). A digest's match_id names its period."""

    delivery_id: str
    coordinator_id: str
    match_id: str
    channel: Channel
    event_type: str
    target: str
    status: DeliveryStatus
    matches: tuple[MatchSummary, ...]
    created_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    last_error: str | None = None
    digest_id: str | None = None
    dead_lettered: bool = False

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.coordinator_id, self.match_id, self.channel.value, self.event_type)


def channel_targets(profile: CoordinatorProfile) -> list[tuple[Channel, str]]:
    targets: list[tuple[Channel, str]] = []
    if profile.channels.email:
        targets.append((Channel.EMAIL, profile.channels.email))
    if profile.channels.webhook_url:
        targets.append((Channel.WEBHOOK, profile.channels.webhook_url))
    return targets


def deliveries_for(
    notification: Notification,
    profile: CoordinatorProfile,
    now: datetime,
    new_id: Callable[[], str],
) -> list[Delivery]:
    """A proposal's messages to one coordinator: sent now, or held for a daily digest."""
    status = DeliveryStatus.HELD if profile.channels.digest == "daily" else DeliveryStatus.PENDING
    return [
        Delivery(
            delivery_id=new_id(),
            coordinator_id=profile.coordinator_id,
            match_id=notification.match_id,
            channel=channel,
            event_type=PROPOSED_EVENT,
            target=target,
            status=status,
            matches=(MatchSummary.of(notification),),
            created_at=now,
            next_attempt_at=now,
        )
        for channel, target in channel_targets(profile)
    ]


def digest_period(moment: datetime, period_s: float) -> int:
    """The index of the digest period `moment` falls in (periods start at the epoch, UTC)."""
    return int(moment.timestamp() // period_s)


def period_start(index: int, period_s: float) -> datetime:
    return datetime.fromtimestamp(0, UTC) + timedelta(seconds=index * period_s)


def digests_due(
    held: list[Delivery], now: datetime, period_s: float, new_id: Callable[[], str]
) -> list[tuple[Delivery, list[Delivery]]]:
    """One digest per coordinator, channel and closed period, with the held deliveries it
    bundles. The digest's key comes from the period, so recomputing it after a crash yields
    the same key and the unique index keeps a single digest. Digests start held too, and
    are released for sending only once their matches are bundled into them."""
    current = digest_period(now, period_s)
    groups: dict[tuple[str, Channel, int], list[Delivery]] = defaultdict(list)
    for d in held:
        period = digest_period(d.created_at, period_s)
        if d.status is DeliveryStatus.HELD and d.event_type != DIGEST_EVENT and period < current:
            groups[(d.coordinator_id, d.channel, period)].append(d)
    digests = []
    for (coordinator_id, channel, period), bundled in sorted(groups.items()):
        ordered = sorted(bundled, key=lambda d: (d.created_at, d.match_id))
        # One digest per channel and period: if the address changed within the period,
        # it goes to the newest one.
        target = ordered[-1].target
        digest = Delivery(
            delivery_id=new_id(),
            coordinator_id=coordinator_id,
            match_id=f"digest:{period_start(period, period_s).isoformat()}",
            channel=channel,
            event_type=DIGEST_EVENT,
            target=target,
            status=DeliveryStatus.HELD,
            matches=tuple(m for d in ordered for m in d.matches),
            created_at=now,
            next_attempt_at=now,
        )
        digests.append((digest, ordered))
    return digests
