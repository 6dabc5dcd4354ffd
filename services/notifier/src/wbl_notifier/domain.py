"""Notifier's domain: who hears about a match, what a notification's status is, and which
messages go out. Pure: no I/O. Notifications carry ids and the matcher's explanation, no
personal data.

A notification's status is never stored as such: it is derived from the match's outcomes,
facts each written once (a withdrawal, a decision), so it ends the same whatever order the
two topics deliver them in and whichever replica records them."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from uuid import UUID, uuid5

from wbl_schemas.events import (
    CoordinatorProfile,
    EmployerProfile,
    MatchProposal,
    OpeningSnapshot,
    SeasonState,
)


class NotificationStatus(StrEnum):
    PROPOSED = "proposed"
    WITHDRAWN = "withdrawn"
    CONFIRMED = "confirmed"
    DECLINED = "declined"


# Which outcome stands when a match has several: the coordinator's decision outranks a
# withdrawal that crossed it (registry keeps the decision), and either outranks a proposal.
RANK = {
    NotificationStatus.PROPOSED: 0,
    NotificationStatus.WITHDRAWN: 1,
    NotificationStatus.CONFIRMED: 2,
    NotificationStatus.DECLINED: 2,
}


@dataclass(frozen=True)
class MatchOutcome:
    """A fact about a match, recorded once: its withdrawal or the coordinator's decision."""

    match_id: str
    status: NotificationStatus
    note: str
    recorded_at: datetime
    decided_by: str = ""  # the coordinator who decided (a decision only)

    @property
    def kind(self) -> str:
        """One withdrawal and one decision per match: the first recorded of each stands."""
        return "withdrawal" if self.status is NotificationStatus.WITHDRAWN else "decision"

    @property
    def key(self) -> str:
        return f"{self.match_id}#{self.kind}"


def outcome_keys(match_id: str) -> tuple[str, str]:
    return (f"{match_id}#withdrawal", f"{match_id}#decision")


def status_of(outcomes: Iterable[MatchOutcome]) -> NotificationStatus:
    return max(
        (o.status for o in outcomes), key=RANK.__getitem__, default=NotificationStatus.PROPOSED
    )


def with_outcomes(notification: Notification, outcomes: Iterable[MatchOutcome]) -> Notification:
    """The notification as its match's outcomes make it: status, history, who decided."""
    ordered = sorted(outcomes, key=lambda o: (o.recorded_at, o.kind))
    decided = [o.decided_by for o in ordered if o.kind == "decision" and o.decided_by]
    return replace(
        notification,
        status=status_of(ordered),
        history=tuple(o.note for o in ordered),
        decided_by=decided[0] if decided else None,
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
    # When the offer stops holding its seat (None: an offer published without a window).
    expires_at: datetime | None = None
    # When the coordinator was reminded that it ends (derived, never stored with it).
    reminded_at: datetime | None = None
    decided_by: str | None = None  # derived from the outcomes, like status and history


def recipients(school_id: str, coordinators: list[CoordinatorProfile]) -> list[CoordinatorProfile]:
    """Every coordinator of the student's school."""
    return [c for c in coordinators if school_id in c.school_ids]


def notification_key(coordinator_id: str, match_id: str) -> str:
    return f"{coordinator_id}#{match_id}"


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
            expires_at=proposal.expires_at,
        )
        for c in recipients(proposal.school_id, coordinators)
    ]


# -- what the opening is ---------------------------------------------------------------------


@dataclass(frozen=True)
class OpeningSummary:
    """What a coordinator needs to know of an opening to decide: none of it student data.
    Kept from wbl.openings (the latest version heard)."""

    opening_id: str
    version: int
    title: str
    employer_name: str
    career_field: str
    town: str | None  # None: remote
    starts_on: date
    ends_on: date
    hours_per_week: int
    paid: bool

    @classmethod
    def of(cls, o: OpeningSnapshot) -> OpeningSummary:
        town = None if o.remote or o.location is None else o.location.town
        return cls(
            opening_id=o.opening_id,
            version=o.version,
            title=o.title,
            employer_name=o.employer_name,
            career_field=o.career_field,
            town=town,
            starts_on=o.starts_on,
            ends_on=o.ends_on,
            hours_per_week=o.hours_per_week,
            paid=o.paid,
        )


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DASH = "\u2013"  # an en dash between the two dates


def short_date(d: date, with_year: bool) -> str:
    day = f"{d.day} {MONTHS[d.month - 1]}"
    return f"{day} {d.year}" if with_year else day


def date_range(start: date, end: date) -> str:
    """'12 Jan' to '20 Mar' within a year; with the years when it spans two."""
    years = start.year != end.year
    return f"{short_date(start, years)}{DASH}{short_date(end, years)}"


def describe_opening(o: OpeningSummary) -> str:
    """One line: 'Medical assistant intern at Baystate Health · Springfield · 12 Jan to
    20 Mar (an en dash) · 15 h/week · paid'."""
    who = f"{o.title} at {o.employer_name}" if o.employer_name else o.title
    parts = [
        who,
        o.town or "remote",
        date_range(o.starts_on, o.ends_on),
        f"{o.hours_per_week} h/week",
        "paid" if o.paid else "unpaid",
    ]
    return " · ".join(parts)


def describe_match_opening(
    opening_id: str, career_field: str, opening: OpeningSummary | None
) -> str:
    """The opening's line, or while its details have not reached this notifier yet, what
    the match itself says."""
    if opening is None:
        return f"An opening in {career_field} (reference {opening_id})"
    return describe_opening(opening)


# -- deliveries over the coordinator's own channels ------------------------------------------

PROPOSED_EVENT = "MatchProposed"
DIGEST_EVENT = "MatchDigest"
REMINDER_EVENT = "OfferExpiring"
WITHDRAWN_EVENT = "MatchWithdrawn"


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class Audience(StrEnum):
    """Who a delivery is for: a coordinator (of the student's school) or the employer (of
    the opening). An employer's delivery holds the employer's id in `coordinator_id`, the
    recipient's place in every key (ids are prefixed `coo_`/`emp_`, so never the same)."""

    COORDINATOR = "coordinator"
    EMPLOYER = "employer"
    PARTY = "party"  # a placement's party by email (`parties.py`): `coordinator_id` names it


# What an employer hears of the matches on its own openings, by webhook only.
CANDIDATE_PROPOSED = "CandidateProposed"
PLACEMENT_CONFIRMED = "PlacementConfirmed"
PLACEMENT_DECLINED = "PlacementDeclined"
OFFER_EXPIRED = "OfferExpired"
OFFER_WITHDRAWN = "OfferWithdrawn"
# The match's status each event leaves it in, as GET /v1/matches shows it to the employer.
EMPLOYER_EVENTS = {
    CANDIDATE_PROPOSED: "proposed",
    PLACEMENT_CONFIRMED: "confirmed",
    PLACEMENT_DECLINED: "declined",
    OFFER_EXPIRED: "withdrawn",
    OFFER_WITHDRAWN: "withdrawn",
}


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # the delivery worker sends it (and retries it)
    HELD = "held"  # waits for the coordinator's next digest
    BUNDLED = "bundled"  # travels inside a digest delivery, which carries the outcome
    SENT = "sent"
    FAILED = "failed"  # every attempt failed; recorded and dead-lettered
    CANCELLED = "cancelled"  # a reminder whose offer ended, or a party's step done, before it left


@dataclass(frozen=True)
class MatchSummary:
    """What a message may say about a match: ids, never personal data."""

    match_id: str
    student_ref: str
    opening_id: str
    career_field: str
    explanation: tuple[str, ...]
    employer_id: str = ""
    expires_at: datetime | None = None
    withdrawal_reason: str = ""  # set on a withdrawal's message: why the offer ended

    @classmethod
    def of(cls, n: Notification) -> MatchSummary:
        return cls(
            n.match_id,
            n.student_id,
            n.opening_id,
            n.career_field,
            n.explanation,
            n.employer_id,
            n.expires_at,
        )


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
    audience: Audience = Audience.COORDINATOR

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.coordinator_id, self.match_id, self.channel.value, self.event_type)


# Delivery ids are derived from the delivery's key, so every replica and every retry of
# the same delivery has the same id (the id receivers dedupe on).
DELIVERY_IDS = UUID("0f6d2a4e-5b1c-4e8a-9a57-3c2d8b7e1f40")


def delivery_id(coordinator_id: str, match_id: str, channel: Channel, event_type: str) -> str:
    return str(uuid5(DELIVERY_IDS, "\n".join((coordinator_id, match_id, channel, event_type))))


def channel_targets(profile: CoordinatorProfile) -> list[tuple[Channel, str]]:
    targets: list[tuple[Channel, str]] = []
    if profile.channels.email:
        targets.append((Channel.EMAIL, profile.channels.email))
    if profile.channels.webhook_url:
        targets.append((Channel.WEBHOOK, profile.channels.webhook_url))
    return targets


def keyed_delivery(
    coordinator_id: str,
    channel: Channel,
    target: str,
    event_type: str,
    status: DeliveryStatus,
    match: MatchSummary,
    now: datetime,
    audience: Audience = Audience.COORDINATOR,
) -> Delivery:
    """One match's message, its id derived from its key (so every replica makes the same)."""
    return Delivery(
        delivery_id=delivery_id(coordinator_id, match.match_id, channel, event_type),
        coordinator_id=coordinator_id,
        match_id=match.match_id,
        channel=channel,
        event_type=event_type,
        target=target,
        status=status,
        matches=(match,),
        created_at=now,
        next_attempt_at=now,
        audience=audience,
    )


def deliveries_for(
    notification: Notification, profile: CoordinatorProfile, now: datetime
) -> list[Delivery]:
    """A proposal's messages to one coordinator: sent now, or held for a daily digest."""
    status = DeliveryStatus.HELD if profile.channels.digest == "daily" else DeliveryStatus.PENDING
    match = MatchSummary.of(notification)
    return [
        keyed_delivery(profile.coordinator_id, channel, target, PROPOSED_EVENT, status, match, now)
        for channel, target in channel_targets(profile)
    ]


def withdrawal_deliveries(
    notification: Notification, told: Sequence[Delivery], reason: str, now: datetime
) -> list[Delivery]:
    """A withdrawal's messages: on each channel and to each address the proposal went out
    on (or is going out on), so whoever was told of the offer hears why it ended. A proposal
    still held for a digest is dropped from it instead, so it gets none."""
    summary = replace(MatchSummary.of(notification), withdrawal_reason=reason)
    pending, event = DeliveryStatus.PENDING, WITHDRAWN_EVENT
    return [
        keyed_delivery(p.coordinator_id, p.channel, p.target, event, pending, summary, now)
        for p in told
        if p.event_type == PROPOSED_EVENT
        and p.status in (DeliveryStatus.PENDING, DeliveryStatus.SENT)
    ]


# -- the employer's webhooks ------------------------------------------------------------------


def employer_match(proposal: MatchProposal) -> MatchSummary:
    """What an employer's delivery keeps of a match: which match on which opening, nothing
    of the student (not even the pseudonymous reference) and not the explanation, which is
    written for the coordinator. GET /v1/matches gives the employer the rest."""
    return MatchSummary(
        match_id=proposal.match_id,
        student_ref="",
        opening_id=proposal.opening_id,
        career_field=proposal.career_field,
        explanation=(),
        employer_id=proposal.employer_id,
    )


def employer_delivery(
    profile: EmployerProfile | None, event_type: str, proposal: MatchProposal, now: datetime
) -> list[Delivery]:
    """The employer's webhook for one event of a match on its opening: none without a
    webhook URL, or while its key is revoked. Keyed (employer, match, event): once each."""
    if profile is None or not profile.active or not profile.webhook_url:
        return []
    return [
        keyed_delivery(
            profile.employer_id,
            Channel.WEBHOOK,
            profile.webhook_url,
            event_type,
            DeliveryStatus.PENDING,
            employer_match(proposal),
            now,
            Audience.EMPLOYER,
        )
    ]


def employer_ending(reason_code: str | None) -> str:
    """The employer's event for an offer that ended without a decision."""
    return OFFER_EXPIRED if reason_code == "expired" else OFFER_WITHDRAWN


def told_employer(told: Sequence[Delivery]) -> bool:
    """Whether the employer was (or is being) sent the candidate: an offer's end is told
    only to whoever was told of the offer."""
    return any(
        d.event_type == CANDIDATE_PROPOSED
        and d.status in (DeliveryStatus.PENDING, DeliveryStatus.SENT)
        for d in told
    )


# -- the season -------------------------------------------------------------------------------


def waiting_for_main_round(season: SeasonState | None) -> datetime | None:
    """When the main round runs, while it is scheduled and has not run; else None (rolling
    rounds: offers arrive as students register)."""
    if season is None or season.main_round_at is None or season.main_round_id is not None:
        return None
    return season.main_round_at


# -- reminders before an offer ends ----------------------------------------------------------


def reminders_due(
    offers: Iterable[Notification],
    settled: set[str],
    reminded: set[str],
    now: datetime,
    before: timedelta,
) -> list[Notification]:
    """The offers to remind their coordinator of now: undecided and not withdrawn, ending
    within `before` but not yet ended, and not reminded already (keys from
    `notification_key`). Pure, so every replica and every restart picks the same ones."""
    return [
        n
        for n in offers
        if n.expires_at is not None
        and n.match_id not in settled
        and notification_key(n.coordinator_id, n.match_id) not in reminded
        and n.expires_at - before <= now < n.expires_at
    ]


def reminder_deliveries(
    notification: Notification, profile: CoordinatorProfile, now: datetime
) -> list[Delivery]:
    """A reminder's messages: sent at once also to daily-digest coordinators, since a
    digest could arrive after the offer ended. Keyed like every delivery, so one each."""
    match, pending = MatchSummary.of(notification), DeliveryStatus.PENDING
    return [
        keyed_delivery(profile.coordinator_id, channel, target, REMINDER_EVENT, pending, match, now)
        for channel, target in channel_targets(profile)
    ]


def reminder_stale(delivery: Delivery, settled: set[str], now: datetime) -> bool:
    """A pending reminder is cancelled once its offer was decided, withdrawn or ran out."""
    match = delivery.matches[0]
    ended = match.expires_at is not None and now >= match.expires_at
    return match.match_id in settled or ended


def digest_period(moment: datetime, period_s: float) -> int:
    """The index of the digest period `moment` falls in (periods start at the epoch, UTC)."""
    return int(moment.timestamp() // period_s)


def period_start(index: int, period_s: float) -> datetime:
    return datetime.fromtimestamp(0, UTC) + timedelta(seconds=index * period_s)


def digests_due(
    held: list[Delivery], now: datetime, period_s: float
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
        match_id = f"digest:{period_start(period, period_s).isoformat()}"
        digest = Delivery(
            delivery_id=delivery_id(coordinator_id, match_id, channel, DIGEST_EVENT),
            coordinator_id=coordinator_id,
            match_id=match_id,
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


def late_digest(digest: Delivery, bundled: list[Delivery]) -> Delivery:
    """For held deliveries that missed their period's digest (it left already): a digest of
    their own, keyed by the first of them, so recomputing it after a crash finds the same."""
    match_id = f"{digest.match_id}+{bundled[0].delivery_id}"
    return replace(
        digest,
        match_id=match_id,
        delivery_id=delivery_id(digest.coordinator_id, match_id, digest.channel, DIGEST_EVENT),
    )


def carries_all(digest: Delivery, bundled: list[Delivery]) -> bool:
    """Whether `digest`'s message lists every match of `bundled` (a stored digest written
    before some of them existed does not)."""
    listed = {m.match_id for m in digest.matches}
    return all(m.match_id in listed for d in bundled for m in d.matches)


def bundled_ids(digest: Delivery) -> list[str]:
    """The ids of the deliveries whose matches `digest`'s message lists."""
    return [
        delivery_id(digest.coordinator_id, m.match_id, digest.channel, PROPOSED_EVENT)
        for m in digest.matches
    ]


def widened(digest: Delivery, bundled: list[Delivery]) -> tuple[MatchSummary, ...]:
    """`digest`'s matches and those of `bundled` it does not list yet, in order."""
    listed = {m.match_id for m in digest.matches}
    extra = [m for d in bundled for m in d.matches if m.match_id not in listed]
    return (*digest.matches, *extra)


# -- sending attempts ------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptClaim:
    """The right to make attempt `number` of a delivery: one document per attempt, inserted
    by the replica that makes it, so one replica sends each attempt. It expires at
    `lease_until`: if its holder crashed mid-send, another replica makes the next attempt."""

    delivery_id: str
    number: int
    holder: str
    claimed_at: datetime
    lease_until: datetime

    @property
    def key(self) -> str:
        return f"{self.delivery_id}#{self.number}"


def backoff_s(attempts: int, initial_s: float, max_s: float) -> float:
    """Exponential: initial_s after the first failed attempt, doubling, capped at max_s."""
    exponent = min(attempts - 1, 60)
    return min(max_s, initial_s * math.pow(2, exponent))
