"""Notifier use cases: keep the coordinator directory, turn match events into inbox
notifications (exactly one per coordinator and match) and pending deliveries over each
coordinator's channels (exactly one per coordinator, match, channel and event type) and to
each employer's webhook (exactly one per employer, match and event type), and
record each match's outcomes, from which its notifications' status follows. Handlers only
record; the delivery worker sends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from wbl_common.secrets import hash_secret
from wbl_notifier.adapters import PlacementDesk, RegistryAnswer
from wbl_notifier.domain import (
    CANDIDATE_PROPOSED,
    PLACEMENT_CONFIRMED,
    PLACEMENT_DECLINED,
    Delivery,
    MatchOutcome,
    Notification,
    NotificationStatus,
    OpeningSummary,
    deliveries_for,
    employer_delivery,
    employer_ending,
    notifications_for,
    told_employer,
    withdrawal_deliveries,
)
from wbl_notifier.links import ActionLink, Decision, Signer
from wbl_notifier.parties import first_emails, hours_steps, signing_steps
from wbl_notifier.store import Cursor, NotifierStore
from wbl_schemas.events import (
    AgreementComplete,
    AgreementIssued,
    AnyEvent,
    CoordinatorProfile,
    CoordinatorRegistered,
    CoordinatorRemoved,
    CoordinatorUpdated,
    EmployerProfile,
    EmployerRegistered,
    EmployerUpdated,
    MatchProposal,
    MatchProposed,
    MatchWithdrawn,
    OpeningPublished,
    OpeningUpdated,
    PermitRecorded,
    PlacementClosed,
    PlacementCompleted,
    PlacementConfirmed,
    PlacementDeclined,
    SeasonState,
)

log = structlog.get_logger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Changes:
    """Wakes this process's live inbox streams when a handler changed something. Streams
    also poll the database, so changes made by another notifier instance arrive too."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, at_most_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), at_most_s)


@dataclass
class Notifier:
    store: NotifierStore
    clock: Callable[[], datetime] = utcnow
    # Called after deliveries were recorded (wakes the delivery worker).
    on_deliveries: Callable[[], None] = lambda: None
    changes: Changes = field(default_factory=Changes)

    async def on_coordinator_event(self, event: AnyEvent) -> None:
        if isinstance(event, CoordinatorRegistered | CoordinatorUpdated):
            await self.store.save_coordinator(event.payload)
            if not await self._is_current(event.payload):
                return  # replayed after a newer profile or the removal: that one stands
            # Matches proposed before this coordinator was known still reach them.
            backlog = await self.store.open_matches_of(event.payload.school_ids)
            await self._notify(
                [n for p in backlog for n in notifications_for(p, [event.payload], self.clock())],
                [event.payload],
            )
        elif isinstance(event, CoordinatorRemoved):
            await self.store.remove_coordinator(event.payload.coordinator_id, event.payload.version)

    async def _is_current(self, profile: CoordinatorProfile) -> bool:
        """Whether `profile` is the stored one: still true when this very event is redelivered
        (so a crash before its backlog is filled in is repaired), false when it is stale."""
        stored = await self.store.coordinators_of(profile.school_ids[0])
        return any(
            (c.coordinator_id, c.version) == (profile.coordinator_id, profile.version)
            for c in stored
        )

    async def on_employer_event(self, event: AnyEvent) -> None:
        """Where each employer's webhooks go (the newest profile heard stands)."""
        if isinstance(event, EmployerRegistered | EmployerUpdated):
            await self.store.save_employer(event.payload)

    async def on_match_event(self, event: AnyEvent) -> None:
        await self.on_match_events([event])

    async def on_match_events(self, events: Sequence[AnyEvent]) -> None:
        """Proposals are saved and notified with one write per collection for the batch
        (a class list's matches arrive together); withdrawals are recorded one by one."""
        proposals = [e.payload for e in events if isinstance(e, MatchProposed)]
        if proposals:
            await self.store.save_matches(proposals)
            schools = {p.school_id for p in proposals}
            coordinators = {s: await self.store.coordinators_of(s) for s in sorted(schools)}
            now = self.clock()
            notifications = [
                n for p in proposals for n in notifications_for(p, coordinators[p.school_id], now)
            ]
            await self._notify(notifications, [c for cs in coordinators.values() for c in cs])
            await self._tell_employers([(p, CANDIDATE_PROPOSED) for p in proposals])
        for e in events:
            if isinstance(e, MatchWithdrawn):
                w = e.payload
                await self._record(
                    w.match_id, NotificationStatus.WITHDRAWN, f"withdrawn: {w.reason}"
                )
                await self._tell_withdrawal(w.match_id, w.school_id, w.reason)
                await self._tell_employer_ending(w.match_id, w.reason_code)

    async def _tell_withdrawal(self, match_id: str, school_id: str, reason: str) -> None:
        """Whoever was sent the offer is sent why it ended (keyed: once, whatever replays)."""
        now = self.clock()
        deliveries: list[Delivery] = []
        for profile in await self.store.coordinators_of(school_id):
            notification = await self.store.notification(profile.coordinator_id, match_id)
            if notification is None or notification.status is not NotificationStatus.WITHDRAWN:
                continue  # never told, or a decision that crossed the withdrawal stands
            told = await self.store.deliveries_of(profile.coordinator_id, [match_id])
            deliveries += withdrawal_deliveries(notification, told, reason, now)
        if deliveries and await self.store.add_deliveries(deliveries):
            self.on_deliveries()

    async def _tell_employers(self, events: Sequence[tuple[MatchProposal, str]]) -> None:
        """Each event to the employer of the match's opening, by its webhook if it has one
        (keyed: once per employer, match and event, whatever replays)."""
        now = self.clock()
        profiles: dict[str, EmployerProfile | None] = {}
        deliveries: list[Delivery] = []
        for proposal, event_type in events:
            if proposal.employer_id not in profiles:  # read once per employer and batch
                profiles[proposal.employer_id] = await self.store.employer(proposal.employer_id)
            deliveries += employer_delivery(
                profiles[proposal.employer_id], event_type, proposal, now
            )
        if deliveries and await self.store.add_deliveries(deliveries):
            self.on_deliveries()

    async def _tell_employer_ending(self, match_id: str, reason_code: str | None) -> None:
        """An offer that ended undecided is told to the employer if the candidate was."""
        proposal = await self.store.match(match_id)
        if proposal is None:
            return  # never heard proposed: never told
        if await self.store.match_status(match_id) is not NotificationStatus.WITHDRAWN:
            return  # a decision that crossed the ending stands
        told = await self.store.deliveries_of(proposal.employer_id, [match_id])
        if told_employer(told):
            await self._tell_employers([(proposal, employer_ending(reason_code))])

    async def _tell_employer_decision(self, match_id: str, event_type: str) -> None:
        proposal = await self.store.match(match_id)
        if proposal is None:  # its proposal never reached us: no employer to name
            log.info(
                "decision on a match not heard of; its employer is not told", match_id=match_id
            )
            return
        await self._tell_employers([(proposal, event_type)])

    async def _notify(
        self, notifications: list[Notification], coordinators: list[CoordinatorProfile]
    ) -> None:
        """Inbox entries first, then their deliveries: both keyed, so a redelivered event
        or a crash between the two writes only fills in what is missing."""
        await self.store.add_notifications(notifications)
        profiles = {c.coordinator_id: c for c in coordinators}
        now = self.clock()
        deliveries: list[Delivery] = [
            d for n in notifications for d in deliveries_for(n, profiles[n.coordinator_id], now)
        ]
        if await self.store.add_deliveries(deliveries):
            self.on_deliveries()
        self.changes.notify()

    async def on_season_event(self, event: AnyEvent) -> None:
        """`SeasonScheduled` and `MainRoundRun` both carry the whole season: keep the newest."""
        if isinstance(event.payload, SeasonState):
            await self.store.save_season(event.payload)
            self.changes.notify()

    async def season(self) -> SeasonState | None:
        return await self.store.season()

    async def on_opening_event(self, event: AnyEvent) -> None:
        """What each opening is (title, employer, town, dates, hours, pay), for the inbox
        and the messages. A closed opening's summary stays: its matches still name it."""
        if isinstance(event, OpeningPublished | OpeningUpdated):
            await self.store.save_opening(OpeningSummary.of(event.payload))
            self.changes.notify()

    async def openings(self, opening_ids: Sequence[str]) -> dict[str, OpeningSummary]:
        return await self.store.openings(opening_ids)

    async def on_placement_event(self, event: AnyEvent) -> None:
        await self._follow_placement(event)
        if isinstance(event, PlacementConfirmed):
            status = NotificationStatus.CONFIRMED
        elif isinstance(event, PlacementDeclined):
            status = NotificationStatus.DECLINED
        else:
            return
        by = event.payload.coordinator_id
        await self._record(event.payload.match_id, status, f"{status.value} by coordinator", by)
        told = PLACEMENT_CONFIRMED if status is NotificationStatus.CONFIRMED else PLACEMENT_DECLINED
        await self._tell_employer_decision(event.payload.match_id, told)

    async def _follow_placement(self, event: AnyEvent) -> None:
        """A placement's life on wbl.placements (ids only): kept as its match and school,
        ended once completed or closed; the parties' first emails of a step are recorded
        here (keyed, so a replay writes none twice) and the worker fills them in from
        registry at send time."""
        payload = event.payload
        match_id, school_id = (
            getattr(payload, "match_id", None),
            getattr(payload, "school_id", None),
        )
        if not isinstance(match_id, str) or not isinstance(school_id, str):
            return
        if isinstance(event, PlacementDeclined):
            return
        await self.store.follow_placement(match_id, school_id)
        if isinstance(event, PlacementCompleted | PlacementClosed):
            await self.store.end_placement(match_id)
            return
        steps = []
        if isinstance(event, AgreementIssued):
            steps = signing_steps(event.payload.text_hash)
        elif isinstance(event, AgreementComplete | PermitRecorded):
            steps = hours_steps()
        if not steps or await self.store.ended_placements([match_id]):
            return
        existing = await self.store.party_deliveries(match_id)
        new = first_emails(match_id, steps, existing, self.clock())
        if new and await self.store.add_deliveries(new):
            self.on_deliveries()

    async def _record(
        self, match_id: str, status: NotificationStatus, note: str, decided_by: str = ""
    ) -> None:
        """A withdrawal or decision is a fact of its own: whichever arrives first, and on
        whichever replica, the notification's status ends the same (a decision outranks a
        withdrawal that crossed it)."""
        outcome = MatchOutcome(match_id, status, note, self.clock(), decided_by)
        await self.store.record_outcome(outcome)
        self.changes.notify()

    async def inbox(
        self,
        coordinator_id: str,
        status: NotificationStatus | None,
        page: int,
        size: int,
        schools: tuple[str, ...] | None = None,
        after: Cursor | None = None,
    ) -> list[Notification]:
        skip = 0 if after is not None else (page - 1) * size
        return await self.store.inbox(coordinator_id, status, skip, size, schools, after)

    async def scope(self, coordinator_id: str, vouched: tuple[str, ...]) -> tuple[str, ...] | None:
        """The schools a coordinator may see now: registry's word (cached briefly) narrowed
        by the latest profile consumed from wbl.coordinators, read on every request; None
        once the coordinator is removed."""
        heard = await self.store.schools_of(coordinator_id)
        if heard is None:  # their registration has not reached us yet
            return vouched
        if not heard:
            return None
        return tuple(s for s in vouched if s in heard)

    async def schools_of(self, coordinator_id: str) -> tuple[str, ...] | None:
        return await self.store.schools_of(coordinator_id)

    async def deliveries_of(
        self, coordinator_id: str, notifications: list[Notification]
    ) -> dict[str, list[Delivery]]:
        """Each notification's deliveries (digests show through the deliveries they bundle)."""
        found = await self.store.deliveries_of(coordinator_id, [n.match_id for n in notifications])
        by_match: dict[str, list[Delivery]] = {n.match_id: [] for n in notifications}
        for d in found:
            by_match[d.match_id].append(d)
        return by_match

    async def changed_since(
        self, coordinator_id: str, since: datetime, schools: tuple[str, ...] | None = None
    ) -> list[Notification]:
        return await self.store.changed_since(coordinator_id, since, schools)

    async def notification(
        self, coordinator_id: str, match_id: str, schools: tuple[str, ...] | None
    ) -> Notification | None:
        found = await self.store.notification(coordinator_id, match_id)
        if found is None or (schools is not None and found.school_id not in schools):
            return None
        return found

    async def claim_ticket(self, ticket: str) -> bool:
        """True the first time a stream ticket is used: an insert, so even two concurrent
        uses cannot both pass (FerretDB does not isolate conditional updates)."""
        return await self.store.spend_link(f"ticket:{hash_secret(ticket)}", self.clock())


class LinkSpent(Exception):
    """The coordinator already acted on this match from an email link."""


class LinkNotYours(Exception):
    """The link was issued to another coordinator, match or decision."""


@dataclass
class Decisions:
    """A coordinator's confirm or decline, taken by registry under their own token; an email
    link, when given, must be theirs, unexpired and unused. It is claimed first (an insert,
    so two concurrent uses cannot both pass) and released unless registry took the decision:
    a refused one (no seat left now, say) may be tried again."""

    store: NotifierStore
    signer: Signer
    placements: PlacementDesk
    clock: Callable[[], datetime] = utcnow

    async def check_link(self, token: str) -> ActionLink:
        """Read a link without spending it: mail scanners open links, only a person posts."""
        link = self.signer.read_action_link(token)
        if await self.store.link_spent(link.use_key):
            raise LinkSpent("this link was already used")
        return link

    async def decide(
        self,
        token: str,
        coordinator_id: str,
        match_id: str,
        decision: Decision,
        link_token: str | None,
        note: str = "",
    ) -> RegistryAnswer:
        spent: str | None = None
        if link_token is not None:
            link = self.signer.read_action_link(link_token)
            if link != ActionLink(coordinator_id, match_id, decision):
                raise LinkNotYours("this link is for another coordinator, match or decision")
            if not await self.store.spend_link(link.use_key, self.clock()):
                raise LinkSpent("this link was already used")
            spent = link.use_key
        try:
            answer = await self.placements.decide(token, match_id, decision.value, note)
        except Exception:
            if spent is not None:  # registry never decided: the link stays usable
                await self.store.release_link(spent)
            raise
        if spent is not None and answer.status_code >= 400:  # not taken: usable again
            await self.store.release_link(spent)
        return answer

    async def undo(self, token: str, match_id: str) -> RegistryAnswer:
        """Registry undoes a decision still inside its window. Nothing to take back here:
        the notifier learns decisions from their events, which registry holds until the
        window ends and never sends for an undone one, so the notification never left
        "proposed" (and no email or webhook about the decision went out)."""
        return await self.placements.undo(token, match_id)

    async def student(self, token: str, student_id: str) -> RegistryAnswer:
        return await self.placements.student(token, student_id)
