"""The use cases of a confirmed placement's life (ADR 6): the training agreement issued by
the coordinator and signed by each party through a link, the work permit, hours logged
within the minors' limits and verified weekly, the supervisor's evaluations, and the end
(completed, or closed early by the coordinator), which gives the seat back. The rules live
in the pure modules (`agreements`, `evaluations`, `party_links`, `placement_life`,
`work_hours`); this module gathers the facts, asks the rules and writes the new fact with
its event."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid5

import structlog

from wbl_common.signed import LinkRefused
from wbl_registry.agreements import (
    AgreementTerms,
    Signatory,
    Signature,
    agreement_hash,
    agreement_pdf,
    agreement_text,
)
from wbl_registry.domain import (
    Conflict,
    Coordinator,
    DomainError,
    Match,
    MatchStatus,
    NotFound,
    Opening,
    Student,
)
from wbl_registry.evaluations import (
    LABELS,
    Competencies,
    Competency,
    FieldError,
    check_submission,
    load_competencies,
)
from wbl_registry.handlers import EVENT_NAMESPACE, PRODUCER, Registry
from wbl_registry.party_links import Party, PartyAction, PartyLink, PartyLinks
from wbl_registry.placement_life import (
    ADULT,
    Evaluation,
    PlacementFacts,
    Stage,
    completes,
    evaluation_due,
    has_ended,
    hours_behind,
    is_minor_at_start,
    not_yet_signed,
    parties_to_sign,
    planned_hours,
    stage,
    why_not_started,
)
from wbl_registry.placement_store import PlacementStore, Versioned, hours_id
from wbl_registry.work_hours import (
    HoursLimit,
    Refusal,
    SchoolCalendar,
    age_on,
    refusals,
    week_of,
)
from wbl_registry.work_hours import Placement as HoursPlacement
from wbl_schemas.events import (
    AgreementComplete,
    AgreementIssued,
    AgreementRef,
    AgreementSignature,
    AgreementSigned,
    EvaluationRef,
    EvaluationSubmitted,
    HoursEntry,
    HoursLogged,
    PermitRecorded,
    PlacementClosed,
    PlacementCompleted,
    PlacementEnd,
    PlacementFact,
    WeekRef,
    WeekVerified,
)

log = structlog.get_logger(__name__)

PARTY_ORDER = (Party.SCHOOL, Party.EMPLOYER, Party.STUDENT, Party.GUARDIAN)
HOURS_SUBJECT = "hours"  # an hours link names the placement's hours as a whole
HOURS_PARTIES = (Party.STUDENT, Party.EMPLOYER)
MOST_VERIFY_LINKS = 8  # weeks to verify offered at once, the latest first
ACTIVE_GRACE = timedelta(days=60)  # swept for outreach this long after its end date
COMPLETED, CLOSED = "completed", "closed"  # how a placement ended


class LinkInvalid(DomainError):
    """Not one of our links, or tampered with (400)."""


class LinkGone(DomainError):
    """Expired, or already used (410)."""


class AgreementChanged(Conflict):
    """The link names an agreement text that is no longer the current one (409)."""


class NotStarted(Conflict):
    """Hours before the placement may start: the reasons, in words (409)."""

    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__(" ".join(reasons))
        self.reasons = list(reasons)


class PlacementEnded(Conflict):
    """The placement was completed or closed early: it takes nothing more (409)."""


class EvaluationRefused(DomainError):
    """The ratings do not fit the competencies: each error names its competency (422)."""

    def __init__(self, found: Sequence[FieldError]) -> None:
        super().__init__(" ".join(e.message for e in found), found[0].field if found else None)
        self.errors = list(found)


class HoursRefused(DomainError):
    """The entry breaks the rules: each refusal names its rule (422)."""

    def __init__(self, found: Sequence[Refusal]) -> None:
        super().__init__(" ".join(r.message for r in found))
        self.refusals = list(found)


@dataclass(frozen=True)
class Contact:
    name: str
    email: str


@dataclass(frozen=True)
class AgreementRequest:
    """What the coordinator gives that registry does not know."""

    supervisor: Contact
    safety_training: str
    hourly_wage: Decimal | None
    guardian: Contact | None = None


@dataclass(frozen=True)
class PlacementContext:
    """What registry holds of a confirmed placement apart from its own facts."""

    match: Match
    opening: Opening
    employer_name: str
    school_name: str
    student: Student

    @property
    def student_name(self) -> str:
        return f"{self.student.person.first_name} {self.student.person.last_name}"


@dataclass(frozen=True)
class Issue:
    """The standing issue of the agreement."""

    version: int
    text_hash: str
    issued_at: datetime
    issued_by: str
    starts_on: date
    ends_on: date
    hours_per_week: int
    supervisor: Contact
    guardian: Contact | None

    @classmethod
    def of(cls, found: Versioned) -> Issue:
        d = found.doc
        guardian = d.get("guardian")
        return cls(
            version=found.version,
            text_hash=d["text_hash"],
            issued_at=d["issued_at"],
            issued_by=d["issued_by"],
            starts_on=date.fromisoformat(d["starts_on"]),
            ends_on=date.fromisoformat(d["ends_on"]),
            hours_per_week=int(d["hours_per_week"]),
            supervisor=Contact(**d["supervisor"]),
            guardian=Contact(**guardian) if guardian else None,
        )


@dataclass(frozen=True)
class Permit:
    number: str
    issued_by: str
    issued_on: date
    recorded_at: datetime


@dataclass(frozen=True)
class DayHours:
    day: date
    hours: Decimal
    version: int
    logged_by: str
    logged_at: datetime


@dataclass(frozen=True)
class EvaluationRecord:
    """The supervisor's evaluation, as submitted."""

    kind: Evaluation
    by: str  # the name the supervisor typed
    submitted_at: datetime
    career_field: str  # whose competencies were rated
    ratings: dict[str, int]  # competency id -> 1..4
    comment: str | None


@dataclass(frozen=True)
class Ending:
    """How the placement ended: completed (by registry, once its conditions held) or closed
    early by a coordinator, with their reason."""

    how: str  # COMPLETED or CLOSED
    at: datetime
    by: str  # the coordinator's id, or "registry"
    reason: str | None = None


@dataclass(frozen=True)
class PlacementState:
    context: PlacementContext
    issue: Issue | None
    signatures: dict[Party, Signature]
    permit: Permit | None
    hours: dict[date, DayHours]
    facts: PlacementFacts
    today: date
    verified_weeks: frozenset[date] = frozenset()
    evaluations: dict[Evaluation, EvaluationRecord] = field(default_factory=dict)
    ending: Ending | None = None

    @property
    def logged_hours(self) -> Decimal:
        return sum((h.hours for h in self.hours.values()), Decimal(0))

    def reasons_not_started(self) -> list[str]:
        if self.issue is None:
            return ["No training agreement has been issued yet."]
        return why_not_started(self.facts)

    def stage(self) -> str:
        return "awaiting-agreement" if self.issue is None else stage(self.facts).value

    def behind(self) -> Decimal:
        return hours_behind(self.facts, self.today)


@dataclass(frozen=True)
class IssuedLink:
    party: Party
    action: PartyAction
    link: str
    send_to: Contact | None
    expires_at: datetime
    week_of: date | None = None  # the week a verification link is for
    evaluation: Evaluation | None = None  # the evaluation an evaluate link is for


@dataclass(frozen=True)
class Outreach:
    """What the notifier sends for a placement: its links, and the coordinator who issued
    the agreement (whom the parties ask)."""

    state: PlacementState
    coordinator: Coordinator | None
    links: list[IssuedLink]


@dataclass(frozen=True)
class PartyAgreement:
    """What a party's link shows: the text, who they sign for, who has signed."""

    party: Party
    text: str
    text_hash: str
    signed: dict[Party, Signature]
    still_to_sign: frozenset[Party]
    student_name: str
    opening_title: str
    employer_name: str


@dataclass(frozen=True)
class PartyPlacement:
    """Whose placement a party's link is for, in words: a party's page names it."""

    student_name: str
    opening_title: str
    employer_name: str
    starts_on: date
    ends_on: date
    hours_per_week: int


@dataclass(frozen=True)
class EvaluationForm:
    """What the supervisor's evaluation link shows: whom and what to rate, on which scale."""

    kind: Evaluation
    opening_title: str
    employer_name: str
    student_name: str
    competencies: tuple[Competency, ...]
    submitted: bool


@dataclass(frozen=True)
class Week:
    monday: date
    days: list[DayHours]
    history: dict[date, list[DayHours]]
    verified: bool = False

    @property
    def total(self) -> Decimal:
        return sum((d.hours for d in self.days), Decimal(0))


def week_subject(match_id: str, monday: date, days: Sequence[DayHours]) -> str:
    """What a week's verification link names: the Monday and a hash of the week's standing
    entries (day, version, hours). A correction changes it, so an older link is refused
    and an earlier verification no longer counts."""
    lines = [match_id, monday.isoformat()] + [
        f"{d.day.isoformat()}={d.version}:{d.hours.normalize():f}"
        for d in sorted(days, key=lambda d: d.day)
    ]
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return f"{monday.isoformat()}@{digest}"


def _verify_link(match_id: str, subject: str) -> PartyLink:
    return PartyLink(PartyAction.VERIFY_WEEK, match_id, Party.EMPLOYER, subject)


def _evaluate_link(match_id: str, kind: Evaluation) -> PartyLink:
    """Single use per kind: the spent-link record is the evaluation."""
    return PartyLink(PartyAction.EVALUATE, match_id, Party.EMPLOYER, kind.value)


def _by_week(hours: dict[date, DayHours]) -> dict[date, list[DayHours]]:
    weeks: dict[date, list[DayHours]] = defaultdict(list)
    for day, entry in hours.items():
        weeks[week_of(day)[0]].append(entry)
    return weeks


def school_calendar(starts_on: date, ends_on: date) -> SchoolCalendar:
    """Until school calendars are data, a school year is taken to run from 1 September to
    30 June on weekdays: the stricter limits for 14-15 year olds then apply on every such
    day, holidays included (safe side)."""
    years = range(starts_on.year - 1, ends_on.year + 1)
    return SchoolCalendar(terms=tuple((date(y, 9, 1), date(y + 1, 6, 30)) for y in years))


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _event_id(fact_id: str) -> Any:
    return uuid5(EVENT_NAMESPACE, fact_id)


@dataclass
class Placements:
    registry: Registry
    store: PlacementStore
    links: PartyLinks
    limits: tuple[HoursLimit, ...]
    written: Callable[[], None] = lambda: None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    competencies: Competencies = field(default_factory=load_competencies)

    # -- reading what stands

    async def _context(self, match: Match) -> PlacementContext:
        if match.status != MatchStatus.CONFIRMED:
            raise Conflict(
                f"the match is {match.status.value}: only a confirmed placement has an agreement"
            )
        store = self.registry.store
        opening = await store.opening(match.opening_id)
        student = await store.student(match.student_id)
        if opening is None or student is None:
            raise NotFound("the placement's opening or student is no longer on record")
        employer = await store.employer(opening.employer_id)
        schools = {s.code: s.name for s in self.registry.reference.schools}
        return PlacementContext(
            match=match,
            opening=opening,
            employer_name=employer.name if employer else opening.employer_id,
            school_name=schools.get(match.school_id, match.school_id),
            student=student,
        )

    async def _coordinators(self, coordinator: Coordinator, match_id: str) -> PlacementContext:
        return await self._context(await self.registry.match_for(coordinator, match_id))

    async def _state(self, context: PlacementContext) -> PlacementState:
        match_id, today = context.match.id, self.clock().date()
        found = await self.store.current_issue(match_id)
        issue = Issue.of(found) if found else None
        signatures = await self._signatures(match_id, issue.text_hash) if issue else {}
        permit = await self.store.permit(match_id)
        starts, ends, weekly = self._dates(context, issue)
        hours = await self._hours(match_id, _days(starts, min(ends, today)))
        verified = await self._verified(match_id, _by_week(hours))
        evaluations = await self._evaluations(match_id)
        ending = _ending(await self.store.ending(match_id))
        facts = PlacementFacts(
            starts_on=starts,
            ends_on=ends,
            hours_per_week=weekly,
            born_on=context.student.person.date_of_birth,
            signed=frozenset(signatures) if issue else frozenset(),
            permit_on_file=permit is not None,
            hours_logged=bool(hours),
            verified_hours=sum(
                (h.hours for h in hours.values() if week_of(h.day)[0] in verified), Decimal(0)
            ),
            evaluations=frozenset(evaluations),
            closed_reason=ending.reason if ending and ending.how == CLOSED else None,
            completed=ending is not None and ending.how == COMPLETED,
        )
        return PlacementState(
            context=context,
            issue=issue,
            signatures=signatures,
            permit=_permit(permit),
            hours=hours,
            facts=facts,
            today=today,
            verified_weeks=frozenset(verified),
            evaluations=evaluations,
            ending=ending,
        )

    async def _evaluations(self, match_id: str) -> dict[Evaluation, EvaluationRecord]:
        keys = {kind: _evaluate_link(match_id, kind).use_key for kind in Evaluation}
        found = await self.store.spent(list(keys.values()))
        return {
            kind: _evaluation(kind, doc)
            for kind, key in keys.items()
            if (doc := found.get(key)) is not None
        }

    async def _verified(self, match_id: str, weeks: dict[date, list[DayHours]]) -> set[date]:
        """The weeks whose standing entries the supervisor verified as they stand."""
        keys = {
            monday: _verify_link(match_id, week_subject(match_id, monday, days)).use_key
            for monday, days in weeks.items()
        }
        found = await self.store.spent(list(keys.values()))
        return {monday for monday, key in keys.items() if key in found}

    @staticmethod
    def _dates(context: PlacementContext, issue: Issue | None) -> tuple[date, date, int]:
        """The agreement's dates and hours once issued (the terms signed), else the opening's."""
        if issue is not None:
            return issue.starts_on, issue.ends_on, issue.hours_per_week
        t = context.opening.terms
        return t.starts_on, t.ends_on, t.hours_per_week

    async def _signatures(self, match_id: str, text_hash: str) -> dict[Party, Signature]:
        keys = {p: _sign_link(match_id, p, text_hash).use_key for p in PARTY_ORDER}
        found = await self.store.spent(list(keys.values()))
        return {
            party: Signature(party, doc["name"], doc["signed_at"], doc["text_hash"])
            for party, key in keys.items()
            if (doc := found.get(key)) is not None
        }

    async def _hours(self, match_id: str, days: Sequence[date]) -> dict[date, DayHours]:
        found = await self.store.hours(match_id, days)
        return {day: _day_hours(day, v) for day, v in found.items()}

    async def standing(self, match: Match) -> PlacementState:
        """Where a confirmed match's placement stands, for a caller that has already checked
        the match is in its scope (the coordinator's lists)."""
        return await self._state(await self._context(match))

    async def view(self, coordinator: Coordinator, match_id: str) -> PlacementState:
        context = await self._coordinators(coordinator, match_id)
        state = await self._state(context)
        await self._complete_if_signed(state)  # rolls forward a completion a crash missed
        if state.ending is not None:
            await self._free_seat(state)  # rolls forward a seat a crash kept after the end
        elif completes(state.facts):
            await self._end_if_complete(state)  # as a crash after the last insert left it
            state = await self._state(context)
        return state

    # -- the agreement

    async def issue_agreement(
        self, coordinator: Coordinator, match_id: str, request: AgreementRequest
    ) -> PlacementState:
        """Issue the agreement from the placement and the coordinator's details; with
        changed terms, a new text (signatures of the old one no longer count). The same
        terms and contacts again change nothing."""
        context = await self._coordinators(coordinator, match_id)
        _refuse_if_ended(await self._state(context))
        terms = self._terms(context, coordinator, request)
        text = agreement_text(terms)
        issue = _issue_doc(terms, agreement_hash(text), coordinator.id, request, self.clock())
        current = await self.store.current_issue(match_id)
        if current is not None and _same_issue(current.doc, issue):
            return await self._state(context)
        version = 1 if current is None else current.version + 1
        event = AgreementIssued(
            event_id=_event_id(f"{match_id}#{version}"),
            producer=PRODUCER,
            payload=AgreementRef(**_ids(context.match), text_hash=issue["text_hash"]),
        )
        if not await self.store.issue(match_id, version, text, issue, event):
            raise Conflict("the agreement was issued meanwhile by someone else; read it again")
        self.written()
        log.info("agreement issued", match_id=match_id, version=version)
        return await self._state(context)

    def _terms(
        self, context: PlacementContext, coordinator: Coordinator, request: AgreementRequest
    ) -> AgreementTerms:
        opening = context.opening.terms
        minor = age_on(context.student.person.date_of_birth, opening.starts_on) < ADULT
        check_request(request, paid=opening.paid, minor=minor)
        signatories = [
            Signatory(Party.SCHOOL, coordinator.name, context.school_name),
            Signatory(Party.EMPLOYER, request.supervisor.name, context.employer_name),
            Signatory(Party.STUDENT, context.student_name, context.student_name),
        ]
        if request.guardian is not None:
            signatories.append(
                Signatory(Party.GUARDIAN, request.guardian.name, context.student_name)
            )
        place = "remote" if opening.remote or opening.location is None else opening.location.town
        return AgreementTerms(
            match_id=context.match.id,
            opening_title=opening.title,
            employer_name=context.employer_name,
            school_name=context.school_name,
            student_name=context.student_name,
            place=place,
            starts_on=opening.starts_on,
            ends_on=opening.ends_on,
            hours_per_week=opening.hours_per_week,
            hourly_wage=request.hourly_wage,
            supervisor=request.supervisor.name,
            safety_training=request.safety_training,
            signatories=tuple(signatories),
        )

    async def agreement_pdf(self, coordinator: Coordinator, match_id: str) -> bytes:
        state = await self._state(await self._coordinators(coordinator, match_id))
        if state.issue is None:
            raise NotFound("no training agreement has been issued for this placement yet")
        text = await self._text(match_id, state.issue.text_hash)
        signed = tuple(state.signatures[p] for p in PARTY_ORDER if p in state.signatures)
        return agreement_pdf(text, state.issue.issued_at, signed)

    async def _text(self, match_id: str, text_hash: str) -> str:
        text = await self.store.agreement_text(match_id, text_hash)
        if text is None:  # the text is written before its issue commits
            raise NotFound("the agreement's text is missing")
        return text

    async def party_links(self, coordinator: Coordinator, match_id: str) -> list[IssuedLink]:
        """A fresh signing link for each party who has not signed the current text, and,
        once the placement may start, the student's and supervisor's links for hours."""
        state = await self._state(await self._coordinators(coordinator, match_id))
        return await self._links(state, coordinator)

    async def outreach(self, match_id: str) -> Outreach:
        """The links `party_links` gives, for the notifier to send: the school's go to the
        coordinator who issued the agreement (None once they are removed)."""
        match = await self.registry.store.match(match_id)
        if match is None:
            raise NotFound("no such placement")
        state = await self._state(await self._context(match))
        if state.issue is None:
            return Outreach(state, None, [])  # nothing to send before the agreement
        issuer = state.issue.issued_by
        coordinator = await self.registry.store.coordinator(issuer) if issuer else None
        if coordinator is not None and coordinator.status != "active":
            coordinator = None
        return Outreach(state, coordinator, await self._links(state, coordinator))

    async def active(self, after: str, limit: int) -> tuple[list[str], str | None]:
        """Placements the notifier sweeps, by match id after `after`: those not ended, with
        an agreement issued, whose end date is at most `ACTIVE_GRACE` past (time to verify the
        last weeks and hand in the final evaluation). The next page's `after`, or None at the
        end."""
        ids, more = await self.store.issued_after(after, limit)
        today = self.clock().date()
        active = []
        for match_id in ids:
            found = await self.store.current_issue(match_id)
            if found is None or Issue.of(found).ends_on + ACTIVE_GRACE < today:
                continue
            if await self.store.ending(match_id) is None:  # completed or closed: done
                active.append(match_id)
        return active, (ids[-1] if more and ids else None)

    async def _links(
        self, state: PlacementState, coordinator: Coordinator | None
    ) -> list[IssuedLink]:
        match_id = state.context.match.id
        if state.issue is None:
            raise Conflict("issue the training agreement first")
        if has_ended(state.facts):
            return []  # nothing is left for a party to do
        issue = state.issue
        expires = self.clock() + timedelta(seconds=self.links.ttl_s)
        found = [
            IssuedLink(
                party,
                PartyAction.SIGN_AGREEMENT,
                self.links.issue(_sign_link(match_id, party, issue.text_hash)),
                _contact(state, party, coordinator),
                expires,
            )
            for party in PARTY_ORDER
            if party in not_yet_signed(state.facts)
        ]
        if not state.reasons_not_started():
            found += [
                IssuedLink(
                    party,
                    PartyAction.LOG_HOURS,
                    self.links.issue(
                        PartyLink(PartyAction.LOG_HOURS, match_id, party, HOURS_SUBJECT)
                    ),
                    _contact(state, party, coordinator),
                    expires,
                )
                for party in HOURS_PARTIES
            ]
            found += self._verify_links(state, coordinator, expires)
            found += self._evaluate_links(state, coordinator, expires)
        return found

    def _evaluate_links(
        self, state: PlacementState, coordinator: Coordinator | None, expires: datetime
    ) -> list[IssuedLink]:
        """The supervisor's link for the evaluation due, if one is."""
        due = evaluation_due(state.facts, state.today)
        if due is None:
            return []
        link = self.links.issue(_evaluate_link(state.context.match.id, due))
        to = _contact(state, Party.EMPLOYER, coordinator)
        return [IssuedLink(Party.EMPLOYER, PartyAction.EVALUATE, link, to, expires, evaluation=due)]

    def _verify_links(
        self, state: PlacementState, coordinator: Coordinator | None, expires: datetime
    ) -> list[IssuedLink]:
        """The supervisor's link for each week with hours not verified as they stand."""
        match_id = state.context.match.id
        weeks = _by_week(state.hours)
        waiting = sorted((m for m in weeks if m not in state.verified_weeks), reverse=True)
        return [
            IssuedLink(
                Party.EMPLOYER,
                PartyAction.VERIFY_WEEK,
                self.links.issue(_verify_link(match_id, week_subject(match_id, m, weeks[m]))),
                _contact(state, Party.EMPLOYER, coordinator),
                expires,
                week_of=m,
            )
            for m in waiting[:MOST_VERIFY_LINKS]
        ]

    # -- parties by link

    def _read(self, token: str, action: PartyAction) -> PartyLink:
        try:
            link = self.links.read(token)
        except LinkRefused as refused:
            if refused.expired:
                raise LinkGone(
                    "this link has expired; ask the school's coordinator for a new one"
                ) from refused
            raise LinkInvalid("this link is not valid; copy it again from the message") from refused
        if link.action != action:
            raise LinkInvalid(f"this link is for another step ({link.action.value})")
        return link

    async def _by_link(self, link: PartyLink) -> PlacementState:
        match = await self.registry.store.match(link.placement_id)
        if match is None:
            raise LinkInvalid("this link is not valid; copy it again from the message")
        return await self._state(await self._context(match))

    async def about_link(self, token: str, action: PartyAction) -> PartyPlacement:
        """The placement a party's link is for (the dates as the current agreement has them)."""
        state = await self._by_link(self._read(token, action))
        context, facts = state.context, state.facts
        return PartyPlacement(
            student_name=context.student_name,
            opening_title=context.opening.terms.title,
            employer_name=context.employer_name,
            starts_on=facts.starts_on,
            ends_on=facts.ends_on,
            hours_per_week=facts.hours_per_week,
        )

    async def _agreement_for(self, token: str) -> tuple[PartyLink, PlacementState]:
        link = self._read(token, PartyAction.SIGN_AGREEMENT)
        state = await self._by_link(link)
        if state.issue is None or state.issue.text_hash != link.subject:
            raise AgreementChanged(
                "the agreement changed after this link was sent; ask the school's "
                "coordinator for a new link"
            )
        if link.party not in parties_to_sign(state.facts):
            raise AgreementChanged(f"no {link.party.value} signs this agreement")
        return link, state

    async def party_agreement(self, token: str) -> PartyAgreement:
        link, state = await self._agreement_for(token)
        assert state.issue is not None
        return self._party_view(
            link.party, state, await self._text(link.placement_id, link.subject)
        )

    @staticmethod
    def _party_view(party: Party, state: PlacementState, text: str) -> PartyAgreement:
        assert state.issue is not None
        return PartyAgreement(
            party=party,
            text=text,
            text_hash=state.issue.text_hash,
            signed=state.signatures,
            still_to_sign=not_yet_signed(state.facts),
            student_name=state.context.student_name,
            opening_title=state.context.opening.terms.title,
            employer_name=state.context.employer_name,
        )

    async def sign(self, token: str, name: str) -> PartyAgreement:
        """Spend the link and record the signature in one insert: of two requests with one
        link exactly one signs; a replay is told the link was used."""
        link, state = await self._agreement_for(token)
        before = state.signatures.get(link.party)
        if before is not None:
            raise LinkGone(_used(before))
        _refuse_if_ended(state)
        signed_at = self.clock()
        doc = {
            "match_id": link.placement_id,
            "action": link.action.value,
            "party": link.party.value,
            "name": name,
            "signed_at": signed_at,
            "text_hash": link.subject,
        }
        event = AgreementSigned(
            event_id=_event_id(link.use_key),
            producer=PRODUCER,
            payload=AgreementSignature(
                **_ids(state.context.match), text_hash=link.subject, party=link.party.value
            ),
        )
        if not await self.store.spend(link.placement_id, link.use_key, doc, event):
            raise LinkGone("this link has already been used: the signature is on record")
        self.written()
        log.info("agreement signed", match_id=link.placement_id, party=link.party.value)
        after = await self._state(state.context)  # read after our insert: the last signer
        await self._complete_if_signed(after)  # sees every signature and completes
        return self._party_view(
            link.party, after, await self._text(link.placement_id, link.subject)
        )

    async def _complete_if_signed(self, state: PlacementState) -> None:
        issue = state.issue
        if issue is None or not_yet_signed(state.facts):
            return
        match_id = state.context.match.id
        if await self.store.is_complete(match_id, issue.text_hash):
            return
        event = AgreementComplete(
            event_id=_event_id(f"{match_id}@{issue.text_hash}:complete"),
            producer=PRODUCER,
            payload=AgreementRef(**_ids(state.context.match), text_hash=issue.text_hash),
        )
        if await self.store.mark_complete(match_id, issue.text_hash, event):
            self.written()
            log.info("agreement complete", match_id=match_id)

    # -- the permit

    async def record_permit(
        self, coordinator: Coordinator, match_id: str, number: str, issued_by: str, issued_on: date
    ) -> PlacementState:
        context = await self._coordinators(coordinator, match_id)
        state = await self._state(context)
        _refuse_if_ended(state)
        if not is_minor_at_start(state.facts):
            raise Conflict(
                "the student is 18 or over when the placement starts: no permit is needed"
            )
        if issued_on > state.today:
            raise DomainError("the permit's issue date is in the future", "issued_on")
        permit = {
            "number": number,
            "issued_by": issued_by,
            "issued_on": issued_on.isoformat(),
            "recorded_by": coordinator.id,
            "recorded_at": self.clock(),
        }
        current = await self.store.permit(match_id)
        if current is not None and all(
            current.doc[k] == permit[k] for k in ("number", "issued_by", "issued_on")
        ):
            return state
        version = 1 if current is None else current.version + 1
        event = PermitRecorded(
            event_id=_event_id(f"{match_id}#permit{version}"),
            producer=PRODUCER,
            payload=PlacementFact(**_ids(context.match)),
        )
        if not await self.store.record_permit(match_id, version, permit, event):
            raise Conflict("the permit was recorded meanwhile by someone else; read it again")
        self.written()
        return await self._state(context)

    # -- hours

    async def log_hours(
        self, coordinator: Coordinator, match_id: str, day: date, hours: Decimal
    ) -> Week:
        context = await self._coordinators(coordinator, match_id)
        return await self._log(context, day, hours, f"coordinator {coordinator.name}")

    async def log_hours_by_link(self, token: str, day: date, hours: Decimal) -> Week:
        link = self._read(token, PartyAction.LOG_HOURS)
        if link.party not in HOURS_PARTIES:
            raise LinkInvalid("this link is not for logging hours")
        state = await self._by_link(link)
        return await self._log(state.context, day, hours, link.party.value)

    async def _log(self, context: PlacementContext, day: date, hours: Decimal, by: str) -> Week:
        state = await self._state(context)
        _refuse_if_ended(state)
        reasons = state.reasons_not_started()
        if reasons:
            raise NotStarted(reasons)
        match_id = context.match.id
        monday, sunday = week_of(day)
        week = await self._hours(match_id, _days(monday, sunday))
        found = refusals(
            day,
            hours,
            HoursPlacement(state.facts.starts_on, state.facts.ends_on, state.facts.born_on),
            today=state.today,
            week={d: h.hours for d, h in week.items()},
            calendar=school_calendar(state.facts.starts_on, state.facts.ends_on),
            limits=self.limits,
        )
        if found:
            raise HoursRefused(found)
        current = week.get(day)
        if current is not None and current.hours == hours:
            return await self._week(match_id, day)
        version = 1 if current is None else current.version + 1
        entry = {"day": day.isoformat(), "hours": str(hours), "by": by, "at": self.clock()}
        event = HoursLogged(
            event_id=_event_id(hours_id(match_id, day, version)),
            producer=PRODUCER,
            payload=HoursEntry(**_ids(context.match), day=day, version=version),
        )
        if not await self.store.log_hours(match_id, day, version, entry, event):
            raise Conflict("the day's hours were changed meanwhile; read them again")
        self.written()
        return await self._week(match_id, day)

    async def week(self, coordinator: Coordinator, match_id: str, day: date) -> Week:
        context = await self._coordinators(coordinator, match_id)
        return await self._week(context.match.id, day)

    async def week_by_link(self, token: str, day: date) -> Week:
        link = self._read(token, PartyAction.LOG_HOURS)
        state = await self._by_link(link)
        return await self._week(state.context.match.id, day)

    async def _week(self, match_id: str, day: date) -> Week:
        monday, sunday = week_of(day)
        standing = await self._hours(match_id, _days(monday, sunday))
        history = {
            d: [_day_hours(d, Versioned(n + 1, doc)) for n, doc in enumerate(docs)]
            for d, h in standing.items()
            if h.version > 1 and (docs := await self.store.history(match_id, d, h.version))
        }
        days = [standing[d] for d in sorted(standing)]
        verified = bool(days) and monday in await self._verified(match_id, {monday: days})
        return Week(monday, days, history, verified)

    async def _week_for(self, token: str) -> tuple[PartyLink, PlacementState, Week]:
        link = self._read(token, PartyAction.VERIFY_WEEK)
        try:
            monday = date.fromisoformat(link.subject.split("@", 1)[0])
        except ValueError as error:
            raise LinkInvalid("this link is not valid; copy it again from the message") from error
        state = await self._by_link(link)
        week = await self._week(link.placement_id, monday)
        if week_subject(link.placement_id, monday, week.days) != link.subject:
            raise AgreementChanged(
                "the week's hours were corrected after this link was sent; ask the school's "
                "coordinator for a new link"
            )
        return link, state, week

    async def week_to_verify(self, token: str) -> Week:
        return (await self._week_for(token))[2]

    async def verify_week(self, token: str) -> Week:
        """The supervisor verifies the week as it stands: spent once, like a signature."""
        link, state, week = await self._week_for(token)
        if week.verified:
            raise LinkGone("this link has already been used: the week is verified")
        _refuse_if_ended(state)
        doc = {
            "match_id": link.placement_id,
            "action": link.action.value,
            "party": link.party.value,
            "week_of": week.monday.isoformat(),
            "hours": str(week.total),
            "verified_at": self.clock(),
        }
        event = WeekVerified(
            event_id=_event_id(link.use_key),
            producer=PRODUCER,
            payload=WeekRef(**_ids(state.context.match), week_of=week.monday),
        )
        if not await self.store.spend(link.placement_id, link.use_key, doc, event):
            raise LinkGone("this link has already been used: the week is verified")
        self.written()
        log.info("week verified", match_id=link.placement_id, week_of=week.monday.isoformat())
        await self._end_if_complete(await self._state(state.context))  # read after our insert
        return await self._week(link.placement_id, week.monday)

    # -- evaluations

    async def _evaluation_for(self, token: str) -> tuple[PartyLink, PlacementState, Evaluation]:
        link = self._read(token, PartyAction.EVALUATE)
        try:
            kind = Evaluation(link.subject)
        except ValueError as error:
            raise LinkInvalid("this link is not valid; copy it again from the message") from error
        if link.party is not Party.EMPLOYER:
            raise LinkInvalid("this link is not for an evaluation")
        return link, await self._by_link(link), kind

    def _form(self, state: PlacementState, kind: Evaluation) -> EvaluationForm:
        context = state.context
        return EvaluationForm(
            kind=kind,
            opening_title=context.opening.terms.title,
            employer_name=context.employer_name,
            student_name=context.student_name,
            competencies=self.competencies.for_field(context.opening.terms.career_field),
            submitted=kind in state.evaluations,
        )

    async def evaluation_form(self, token: str) -> EvaluationForm:
        _, state, kind = await self._evaluation_for(token)
        return self._form(state, kind)

    async def submit_evaluation(
        self, token: str, name: str, ratings: dict[str, int], comment: str | None
    ) -> EvaluationForm:
        """Spend the link and record the evaluation in one insert (as a signature): a replay
        is told it was used. Then, read after the insert, the placement may be complete."""
        link, state, kind = await self._evaluation_for(token)
        before = state.evaluations.get(kind)
        if before is not None:
            raise LinkGone(_evaluated(before))
        _refuse_if_ended(state)
        if kind is Evaluation.MIDPOINT and Evaluation.FINAL in state.evaluations:
            raise Conflict("the final evaluation is in already: the midpoint one is not needed")
        form = self._form(state, kind)
        errors = check_submission(form.competencies, ratings, comment)
        if errors:
            raise EvaluationRefused(errors)
        doc = {
            "match_id": link.placement_id,
            "action": link.action.value,
            "party": link.party.value,
            "kind": kind.value,
            "name": name,
            "career_field": state.context.opening.terms.career_field,
            # A list, not a mapping: competency ids are data, and keys are not for data.
            "ratings": [{"id": c.id, "value": ratings[c.id]} for c in form.competencies],
            "comment": comment or None,
            "submitted_at": self.clock(),
        }
        event = EvaluationSubmitted(
            event_id=_event_id(link.use_key),
            producer=PRODUCER,
            payload=EvaluationRef(**_ids(state.context.match), kind=kind.value),
        )
        if not await self.store.spend(link.placement_id, link.use_key, doc, event):
            raise LinkGone("this link has already been used: the evaluation is on record")
        self.written()
        log.info("evaluation submitted", match_id=link.placement_id, kind=kind.value)
        after = await self._state(state.context)  # read after our insert: of a last week
        await self._end_if_complete(after)  # verified meanwhile, at least one of us sees both
        return self._form(after, kind)

    async def evaluations(self, coordinator: Coordinator, match_id: str) -> PlacementState:
        return await self._state(await self._coordinators(coordinator, match_id))

    # -- the end

    async def close(self, coordinator: Coordinator, match_id: str, reason: str) -> PlacementState:
        """Close the placement early, with the coordinator's reason (kept in registry); its
        seat goes back. 409 once it has ended, however it ended."""
        if not reason.strip():
            raise DomainError("give the reason the placement is closed early", "reason")
        context = await self._coordinators(coordinator, match_id)
        state = await self._state(context)
        _refuse_if_ended(state)
        ending = {"how": CLOSED, "at": self.clock(), "by": coordinator.id, "reason": reason}
        if not await self._end(state, ending, PlacementClosed):
            _refuse_if_ended(await self._state(context))  # it ended meanwhile: say how
        return await self._state(context)

    async def _end_if_complete(self, state: PlacementState) -> None:
        if completes(state.facts):
            ending = {"how": COMPLETED, "at": self.clock(), "by": "registry", "reason": None}
            await self._end(state, ending, PlacementCompleted)

    async def _end(
        self,
        state: PlacementState,
        ending: dict[str, Any],
        kind: type[PlacementCompleted] | type[PlacementClosed],
    ) -> bool:
        """Record the end once (a completion and a close share one `_id`: one of them
        stands), then give the seat back; False when it had ended already."""
        match = state.context.match
        event = kind(
            event_id=_event_id(f"{match.id}:ended"),
            producer=PRODUCER,
            payload=PlacementEnd(**_ids(match), opening_id=match.opening_id),
        )
        ended = await self.store.end(match.id, ending, event)
        if ended:
            self.written()
            log.info("placement ended", match_id=match.id, how=ending["how"])
        await self._free_seat(state)  # also when an earlier end stopped before it
        return ended

    async def _free_seat(self, state: PlacementState) -> None:
        await self.registry.store.release_seat(state.context.match.id)


def check_request(request: AgreementRequest, *, paid: bool, minor: bool) -> None:
    """What the coordinator gives must fit the opening and the student: a wage exactly when
    the opening is paid, a guardian exactly when the student is under 18 at the start."""
    if paid and request.hourly_wage is None:
        raise DomainError("the opening is paid: give the hourly wage", "hourly_wage")
    if not paid and request.hourly_wage is not None:
        raise DomainError("the opening is unpaid: leave the hourly wage out", "hourly_wage")
    if minor and request.guardian is None:
        raise DomainError(
            "the student is under 18 when the placement starts: give the parent's or "
            "guardian's name and email, who signs too",
            "guardian",
        )
    if not minor and request.guardian is not None:
        raise DomainError(
            "the student is 18 or over when the placement starts and signs alone: "
            "leave the guardian out",
            "guardian",
        )


def _sign_link(match_id: str, party: Party, text_hash: str) -> PartyLink:
    return PartyLink(PartyAction.SIGN_AGREEMENT, match_id, party, text_hash)


def _ids(match: Match) -> dict[str, str]:
    return {"match_id": match.id, "student_id": match.student_id, "school_id": match.school_id}


def _issue_doc(
    terms: AgreementTerms,
    text_hash: str,
    issued_by: str,
    request: AgreementRequest,
    now: datetime,
) -> dict[str, Any]:
    guardian = request.guardian
    return {
        "text_hash": text_hash,
        "issued_at": now,
        "issued_by": issued_by,
        "starts_on": terms.starts_on.isoformat(),
        "ends_on": terms.ends_on.isoformat(),
        "hours_per_week": terms.hours_per_week,
        "supervisor": {"name": request.supervisor.name, "email": request.supervisor.email},
        "guardian": None if guardian is None else {"name": guardian.name, "email": guardian.email},
    }


def _same_issue(stored: dict[str, Any], new: dict[str, Any]) -> bool:
    keys = ("text_hash", "supervisor", "guardian")
    return all(stored.get(k) == new[k] for k in keys)


def _permit(found: Versioned | None) -> Permit | None:
    if found is None:
        return None
    d = found.doc
    return Permit(d["number"], d["issued_by"], date.fromisoformat(d["issued_on"]), d["recorded_at"])


def _day_hours(day: date, found: Versioned) -> DayHours:
    d = found.doc
    return DayHours(day, Decimal(d["hours"]), found.version, d["by"], d["at"])


def _contact(
    state: PlacementState, party: Party, coordinator: Coordinator | None
) -> Contact | None:
    issue, person = state.issue, state.context.student.person
    if party is Party.SCHOOL:
        email = coordinator.channels.email if coordinator else None
        return Contact(coordinator.name, email) if coordinator and email else None
    if party is Party.EMPLOYER:
        return issue.supervisor if issue else None
    if party is Party.STUDENT:
        return Contact(state.context.student_name, person.email)
    return issue.guardian if issue else None


def _evaluation(kind: Evaluation, doc: dict[str, Any]) -> EvaluationRecord:
    return EvaluationRecord(
        kind=kind,
        by=doc["name"],
        submitted_at=doc["submitted_at"],
        career_field=doc["career_field"],
        ratings={r["id"]: int(r["value"]) for r in doc["ratings"]},
        comment=doc.get("comment"),
    )


def _ending(doc: dict[str, Any] | None) -> Ending | None:
    if doc is None:
        return None
    return Ending(how=doc["how"], at=doc["at"], by=doc["by"], reason=doc.get("reason"))


def ending_words(ending: Ending) -> str:
    on = f"{ending.at:%d %B %Y}"
    if ending.how == COMPLETED:
        return f"This placement was completed on {on}"
    return f"This placement was closed early on {on}"


def _refuse_if_ended(state: PlacementState) -> None:
    if state.ending is not None:
        raise PlacementEnded(
            f"{ending_words(state.ending)}: it takes no more hours, signatures, "
            "verifications or evaluations."
        )


def _evaluated(record: EvaluationRecord) -> str:
    return (
        f"this link has already been used: the {record.kind.value} evaluation was submitted "
        f"on {record.submitted_at:%d %B %Y at %H:%M} UTC"
    )


def rating_label(value: int) -> str:
    return LABELS.get(value, str(value))


def _used(signature: Signature) -> str:
    return (
        f"this link has already been used: the {signature.party.value} signed on "
        f"{signature.signed_at:%d %B %Y at %H:%M} UTC"
    )


def stage_words(state: PlacementState) -> str:
    """Where the placement stands, in a sentence for the coordinator."""
    if state.issue is None:
        return "No training agreement has been issued yet: issue it with the supervisor's details."
    current = stage(state.facts)
    if current is Stage.AWAITING_SIGNATURES:
        names = ", ".join(
            party_words(state, p) for p in PARTY_ORDER if p in not_yet_signed(state.facts)
        )
        return f"Waiting for signatures from {names}."
    if current is Stage.AWAITING_PERMIT:
        return (
            "Signed by everyone. The student is under 18: record the work permit before they start."
        )
    if current is Stage.READY:
        return "Signed, and ready to start: no hours logged yet."
    if current is Stage.UNDER_WAY:
        return (
            f"Under way: {state.logged_hours.normalize():f} of "
            f"{planned_hours(state.facts).normalize():f} planned hours logged, "
            f"{state.facts.verified_hours.normalize():f} verified by the supervisor."
        )
    verified = f"{state.facts.verified_hours.normalize():f}"
    if current is Stage.COMPLETE:
        return f"Complete: {verified} hours verified by the supervisor and the final evaluation in."
    ending = state.ending
    reason = f" The reason given: {ending.reason}" if ending and ending.reason else ""
    on = f" on {ending.at:%d %B %Y}" if ending else ""
    return f"Closed early{on}, with {verified} hours verified.{reason}"


def party_words(state: PlacementState, party: Party) -> str:
    issue = state.issue
    if party is Party.SCHOOL:
        return "the school (you or another coordinator)"
    if party is Party.EMPLOYER:
        who = f" ({issue.supervisor.name})" if issue else ""
        return f"the employer's supervisor{who}"
    if party is Party.STUDENT:
        return f"the student ({state.context.student_name})"
    who = f" ({issue.guardian.name})" if issue and issue.guardian else ""
    return f"the parent or guardian{who}"


def evaluation_words(state: PlacementState) -> tuple[str | None, str | None]:
    due = evaluation_due(state.facts, state.today) if state.issue else None
    if due is None:
        return None, None
    return due.value, f"The supervisor's {due.value} evaluation is due."
