"""Registry's domain: employers, coordinators, openings, students and matches, and their
rules.

Pure: no I/O. Functions here decide; the handlers persist and publish.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from wbl_schemas.events import (
    MIN_AGES,
    CoordinatorProfile,
    EmployerProfile,
    HiringPreferences,
    NotificationChannels,
    OpeningSnapshot,
    Place,
    StudentMatchProfile,
    age_band,
)
from wbl_schemas.reference import ReferenceData

HAZARDOUS_MIN_AGE = 18


class DomainError(Exception):
    """A request the domain refuses; `field` names the offending input when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(DomainError):
    pass


class Forbidden(DomainError):
    pass


class Conflict(DomainError):
    pass


class PreconditionFailed(DomainError):
    """The entity is no longer at the version the caller read (If-Match)."""


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


@dataclass(frozen=True)
class Employer:
    id: str
    name: str
    key_hash: str
    status: str = "active"  # "revoked": the key no longer opens anything
    version: int = 1
    # Where the employer hears of its openings' matches (signed webhooks), as for coordinators.
    webhook_url: str | None = None
    webhook_secret_generation: int = 1
    previous_generation_until: datetime | None = None  # the old secret still signs till then

    def profile(self) -> EmployerProfile:
        return EmployerProfile(
            employer_id=self.id,
            version=self.version,
            active=self.status == "active",
            webhook_url=self.webhook_url,
            webhook_secret_generation=self.webhook_secret_generation,
            previous_generation_until=self.previous_generation_until,
        )


def rotate_key(employer: Employer, key_hash: str) -> Employer:
    """A new key replaces the old one at once; rotating a revoked employer reinstates it."""
    return replace(employer, key_hash=key_hash, status="active", version=employer.version + 1)


def revoke_key(employer: Employer) -> Employer:
    return replace(employer, status="revoked", version=employer.version + 1)


def set_employer_webhook(employer: Employer, webhook_url: str | None) -> Employer:
    """A new webhook URL, or none (None): the employer then polls GET /v1/matches."""
    return replace(employer, webhook_url=webhook_url, version=employer.version + 1)


def rotate_employer_webhook_secret(employer: Employer, previous_until: datetime) -> Employer:
    """As for coordinators: the next generation signs from now on, the current one also
    until `previous_until`."""
    if employer.webhook_url is None:
        raise Conflict("there is no webhook to sign for: set a webhook URL first", "webhook_url")
    return replace(
        employer,
        webhook_secret_generation=employer.webhook_secret_generation + 1,
        previous_generation_until=previous_until,
        version=employer.version + 1,
    )


@dataclass(frozen=True)
class Coordinator:
    id: str
    name: str
    school_ids: tuple[str, ...]
    channels: NotificationChannels
    token_hash: str
    version: int = 1
    status: str = "active"  # "removed": the token no longer opens anything
    webhook_secret_generation: int = 1
    previous_generation_until: datetime | None = None  # the old secret still signs till then

    def profile(self) -> CoordinatorProfile:
        return CoordinatorProfile(
            coordinator_id=self.id,
            version=self.version,
            school_ids=self.school_ids,
            channels=self.channels,
            webhook_secret_generation=self.webhook_secret_generation,
            previous_generation_until=self.previous_generation_until,
        )

    def serves(self, school_id: str) -> bool:
        return school_id in self.school_ids


def revise_coordinator(
    coordinator: Coordinator,
    name: str | None,
    school_ids: tuple[str, ...] | None,
    channels: NotificationChannels | None,
) -> Coordinator:
    if coordinator.status != "active":
        raise Conflict("a removed coordinator cannot be changed")
    return replace(
        coordinator,
        name=coordinator.name if name is None else name,
        school_ids=coordinator.school_ids if school_ids is None else _distinct(school_ids),
        channels=coordinator.channels if channels is None else channels,
        version=coordinator.version + 1,
    )


def reissue_token(coordinator: Coordinator, token_hash: str) -> Coordinator:
    """A new token replaces the old one at once (a lost or leaked token)."""
    if coordinator.status != "active":
        raise Conflict("a removed coordinator cannot get a new token")
    return replace(coordinator, token_hash=token_hash, version=coordinator.version + 1)


def rotate_webhook_secret(coordinator: Coordinator, previous_until: datetime) -> Coordinator:
    """The next secret generation signs from now on; the current one also signs until
    `previous_until`, so the receiver can switch without refusing a webhook."""
    if coordinator.status != "active":
        raise Conflict("a removed coordinator has no webhook secret")
    if coordinator.channels.webhook_url is None:
        raise Conflict(
            "there is no webhook to sign for: set a webhook URL first", "channels.webhook_url"
        )
    return replace(
        coordinator,
        webhook_secret_generation=coordinator.webhook_secret_generation + 1,
        previous_generation_until=previous_until,
        version=coordinator.version + 1,
    )


def remove_coordinator(coordinator: Coordinator) -> Coordinator:
    return replace(coordinator, status="removed", version=coordinator.version + 1)


def _distinct(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class OpeningTerms:
    """What an employer states about an opening."""

    title: str
    career_field: str
    seats: int
    location: Place | None
    remote: bool
    starts_on: date
    ends_on: date
    hours_per_week: int
    paid: bool
    hazardous: bool = False
    min_age: int = 16
    min_grade: int = 9
    required_credentials: tuple[str, ...] = ()
    required_languages: tuple[str, ...] = ()  # a bilingual role: eligibility, never ranking
    hiring_preferences: HiringPreferences = field(default_factory=HiringPreferences)


@dataclass(frozen=True)
class Opening:
    id: str
    employer_id: str
    terms: OpeningTerms
    seats_remaining: int
    status: str = "open"
    version: int = 1
    # The confirmed (or being confirmed) matches holding a seat, as the store counts them.
    seat_holders: tuple[str, ...] = ()

    def snapshot(self, employer_name: str = "") -> OpeningSnapshot:
        t = self.terms
        return OpeningSnapshot(
            opening_id=self.id,
            employer_id=self.employer_id,
            version=self.version,
            title=t.title,
            employer_name=employer_name[:200],
            career_field=t.career_field,
            seats=t.seats,
            seats_remaining=self.seats_remaining,
            location=t.location,
            remote=t.remote,
            starts_on=t.starts_on,
            ends_on=t.ends_on,
            hours_per_week=t.hours_per_week,
            paid=t.paid,
            hazardous=t.hazardous,
            min_age=t.min_age,
            min_grade=t.min_grade,
            required_credentials=t.required_credentials,
            required_languages=t.required_languages,
            hiring_preferences=t.hiring_preferences,
        )


def check_opening_terms(terms: OpeningTerms, reference: ReferenceData) -> OpeningTerms:
    """Apply the domain rules; returns the terms or raises DomainError naming the field."""
    if terms.career_field not in reference.codes("career_fields"):
        raise DomainError(f"unknown career field code {terms.career_field!r}", "career_field")
    _known_codes(terms.required_credentials, reference, "required_credentials")
    prefs = terms.hiring_preferences
    _known_codes(prefs.preferred_credentials, reference, "hiring_preferences.preferred_credentials")
    unknown_programs = set(prefs.partner_programs) - reference.codes("programs")
    if unknown_programs:
        raise DomainError(
            f"unknown program code(s) {sorted(unknown_programs)}",
            "hiring_preferences.partner_programs",
        )
    if terms.ends_on < terms.starts_on:  # a one-day opening (a shadow day) ends as it starts
        raise DomainError("ends_on must be on or after starts_on", "ends_on")
    if terms.min_age not in MIN_AGES:
        raise DomainError(
            "min_age must be 14, 16, 18 or 21: the ages the work rules turn on, and all that "
            "matching learns of a student's age",
            "min_age",
        )
    if terms.hazardous and terms.min_age < HAZARDOUS_MIN_AGE:
        raise DomainError("hazardous work needs min_age of at least 18", "min_age")
    if not terms.remote and terms.location is None:
        raise DomainError("give a location, or set remote to true", "location")
    if len(set(terms.required_credentials)) != len(terms.required_credentials):
        raise DomainError("required_credentials lists a credential twice", "required_credentials")
    return terms


def unknown_schools(school_ids: Sequence[str], reference: ReferenceData) -> list[str]:
    """The ids not among the reference schools (`/v1/reference/schools`)."""
    listed = reference.codes("schools")
    return [s for s in dict.fromkeys(school_ids) if s not in listed]


def check_start(terms: OpeningTerms, today: date, stored_start: date | None = None) -> None:
    """An opening may not be posted, or moved, to start before today: no student could be
    placed in it in time. An opening already under way keeps its start when it is changed
    (its seats or hours corrected) and stays open until its employer closes it."""
    if terms.starts_on < today and terms.starts_on != stored_start:
        raise DomainError(
            f"starts_on {terms.starts_on.isoformat()} has passed: an opening must start "
            f"today ({today.isoformat()}) or later",
            "starts_on",
        )


def _known_codes(codes: tuple[str, ...], reference: ReferenceData, field_name: str) -> None:
    unknown = set(codes) - reference.codes("credentials")
    if unknown:
        raise DomainError(f"unknown credential code(s) {sorted(unknown)}", field_name)


def open_opening(employer_id: str, terms: OpeningTerms) -> Opening:
    return Opening(
        id=new_id("opn"), employer_id=employer_id, terms=terms, seats_remaining=terms.seats
    )


def revise_opening(opening: Opening, terms: OpeningTerms) -> Opening:
    if opening.status != "open":
        raise DomainError("a closed opening cannot be changed", "status")
    taken = opening.terms.seats - opening.seats_remaining
    if terms.seats < taken:
        raise DomainError(f"{taken} seat(s) are already taken; seats cannot go below", "seats")
    return replace(
        opening, terms=terms, seats_remaining=terms.seats - taken, version=opening.version + 1
    )


def close_opening(opening: Opening) -> Opening:
    return replace(opening, status="closed", version=opening.version + 1)


@dataclass(frozen=True)
class PersonalDetails:
    """Stays in registry: never on the bus, never in logs."""

    first_name: str
    last_name: str
    email: str
    date_of_birth: date


@dataclass(frozen=True)
class StudentPlan:
    """The matching side of a student: what the matcher receives, under a pseudonym."""

    program: str
    career_fields: tuple[str, ...]
    credentials: tuple[str, ...]
    grade: int
    languages: tuple[str, ...]
    home: Place
    max_commute_km: float
    available_from: date
    available_to: date
    hours_per_week: int


# Registry-only flags for the outcomes report; never on the bus, never inputs to matching.
SPECIAL_POPULATIONS = (
    "economically-disadvantaged",
    "students-with-disabilities",
    "english-learners",
    "high-needs",
    "first-generation",
)


@dataclass(frozen=True)
class Student:
    id: str
    school_id: str
    person: PersonalDetails
    plan: StudentPlan
    status: str = "active"  # "withdrawn": out of matching, kept for the outcomes report
    version: int = 1
    special_populations: tuple[str, ...] = ()

    def match_profile(self) -> StudentMatchProfile:
        p = self.plan
        return StudentMatchProfile(
            student_id=self.id,
            school_id=self.school_id,
            version=self.version,
            program=p.program,
            career_fields=p.career_fields,
            credentials=p.credentials,
            grade=p.grade,
            age_band=age_band(age_on(self.person.date_of_birth, p.available_from)),
            languages=p.languages,
            home=coarse(p.home),
            max_commute_km=p.max_commute_km,
            available_from=p.available_from,
            available_to=p.available_to,
            hours_per_week=p.hours_per_week,
        )


# Degrees a home is rounded to on the bus: about 1.1 km north-south, 0.8 km east-west at
# Massachusetts' latitude; enough for commute limits given in whole kilometres.
HOME_GRID_DEG = 2


def coarse(home: Place) -> Place:
    """A home on the ~1 km grid: the exact address stays in registry."""
    return Place(
        town=home.town, lat=round(home.lat, HOME_GRID_DEG), lon=round(home.lon, HOME_GRID_DEG)
    )


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def check_student_plan(plan: StudentPlan, born: date, reference: ReferenceData) -> StudentPlan:
    problems = student_plan_problems(plan, born, reference)
    if problems:
        raise problems[0]
    return plan


def student_plan_problems(
    plan: StudentPlan, born: date, reference: ReferenceData
) -> list[DomainError]:
    """Every rule a student's plan breaks, so that a class-list row reports them all."""
    problems: list[DomainError] = []
    if plan.program not in reference.codes("programs"):
        problems.append(DomainError(f"unknown program code {plan.program!r}", "program"))
    unknown_fields = [f for f in plan.career_fields if f not in reference.codes("career_fields")]
    if unknown_fields:
        problems.append(
            DomainError(f"unknown career field code(s) {unknown_fields}", "career_fields")
        )
    if len(set(plan.career_fields)) != len(plan.career_fields):
        problems.append(DomainError("career_fields lists a field twice", "career_fields"))
    unknown_creds = set(plan.credentials) - reference.codes("credentials")
    if unknown_creds:
        problems.append(
            DomainError(f"unknown credential code(s) {sorted(unknown_creds)}", "credentials")
        )
    if plan.available_to <= plan.available_from:
        problems.append(DomainError("available_to must be after available_from", "available_to"))
    age = age_on(born, plan.available_from)
    if not 13 <= age <= 99:
        problems.append(
            DomainError(f"age {age} at available_from is outside 13-99", "date_of_birth")
        )
    return problems


def check_special_populations(flags: tuple[str, ...]) -> tuple[str, ...]:
    unknown = sorted(set(flags) - set(SPECIAL_POPULATIONS))
    if unknown:
        raise DomainError(f"unknown special population(s) {unknown}", "special_populations")
    return _distinct(flags)


def enrol_student(
    school_id: str, person: PersonalDetails, plan: StudentPlan, special_populations: tuple[str, ...]
) -> Student:
    return Student(
        id=new_id("stu"),
        school_id=school_id,
        person=person,
        plan=plan,
        special_populations=special_populations,
    )


def same_student(stored: Student, candidate: Student) -> bool:
    """A class-list row naming a student already registered, unchanged and still active."""
    return stored.status == "active" and (
        stored.school_id,
        stored.person,
        stored.plan,
        stored.special_populations,
    ) == (candidate.school_id, candidate.person, candidate.plan, candidate.special_populations)


def revise_student(
    student: Student,
    person: PersonalDetails,
    plan: StudentPlan,
    special_populations: tuple[str, ...],
) -> Student:
    if student.status != "active":
        raise Conflict("a withdrawn student cannot be changed")
    return replace(
        student,
        person=person,
        plan=plan,
        special_populations=special_populations,
        version=student.version + 1,
    )


def withdraw_student(student: Student) -> Student:
    return replace(student, status="withdrawn", version=student.version + 1)


# -- matches and placements ---------------------------------------------------------------


class MatchStatus(StrEnum):
    PROPOSED = "proposed"
    WITHDRAWN = "withdrawn"
    CONFIRMED = "confirmed"
    DECLINED = "declined"


@dataclass(frozen=True)
class Match:
    """A proposal from the matcher and what became of it. Its status is derived from facts
    that are each written once (see `match_status`), never updated in place."""

    id: str
    round_id: str
    student_id: str
    school_id: str
    opening_id: str
    employer_id: str | None
    career_field: str | None
    status: MatchStatus
    explanation: tuple[str, ...] = ()
    decided_by: str | None = None
    note: str = ""
    expires_at: datetime | None = None  # the offer's deadline for a decision
    # The decision that stands: its attempt, and until when it may still be undone (its
    # event is held till then; the employer and the matcher learn of it only after).
    attempt: str = ""
    undo_until: datetime | None = None


class DecisionKind(StrEnum):
    CONFIRM = "confirm"
    DECLINE = "decline"


@dataclass(frozen=True)
class Decision:
    """The one decision a match gets. Claimed by a unique insert keyed by the match, so of
    concurrent deciders exactly one wins."""

    match_id: str
    kind: DecisionKind
    by: str
    note: str = ""
    # Tells this decision from one taken after it was undone ("" before undo existed).
    attempt: str = ""


@dataclass(frozen=True)
class Outcome:
    """A decision carried out: the placement taken (confirmed) or the offer declined."""

    match_id: str
    status: MatchStatus  # CONFIRMED or DECLINED
    by: str
    note: str = ""
    attempt: str = ""
    undo_until: datetime | None = None  # None: final at once


def new_attempt() -> str:
    return secrets.token_hex(6)


def fate_id(match_id: str, attempt: str) -> str:
    """Names the fate of one decision's held event: sent, or withdrawn by an undo."""
    return f"{match_id}:{attempt}"


def undo_deadline(
    decided_at: datetime, window: timedelta, expires_at: datetime | None
) -> datetime | None:
    """Until when a decision taken at `decided_at` may be undone: `window` later, but never
    past the offer's own deadline, so an undo can only return a match to an offer that is
    still open (and the decision reaches the matcher before it frees an expired seat).
    None: undo is off (a zero window)."""
    if window <= timedelta(0):
        return None
    until = decided_at + window
    return until if expires_at is None else min(until, expires_at)


def undoable(match: Match, now: datetime) -> bool:
    decided = match.status in (MatchStatus.CONFIRMED, MatchStatus.DECLINED)
    return decided and match.undo_until is not None and now < match.undo_until


def as_sent(match: Match, now: datetime) -> Match:
    """The match as everyone but its school sees it: a decision that may still be undone
    has not been sent, so the match is still awaiting one."""
    if not undoable(match, now):
        return match
    return replace(
        match, status=MatchStatus.PROPOSED, decided_by=None, note="", attempt="", undo_until=None
    )


def check_undo(match: Match, now: datetime, employer_name: str) -> None:
    """Refuse an undo, in plain words, unless the decision is still held."""
    if match.status not in (MatchStatus.CONFIRMED, MatchStatus.DECLINED):
        raise Conflict(f"there is no decision to undo: the match is {match.status.value}")
    if match.undo_until is None or now >= match.undo_until:
        raise Conflict(already_sent(match, employer_name))


def already_sent(match: Match, employer_name: str) -> str:
    told = employer_name or "the employer"
    return f"already sent to {told}: the {match.status.value} decision can no longer be undone"


PLACED_ELSEWHERE = "the student was placed at another opening"


def match_status(
    outcome: Outcome | None, withdrawal: str | None, placement: str | None, match_id: str
) -> tuple[MatchStatus, str]:
    """What a match is, from its facts: a carried-out decision stands over everything; then a
    withdrawal (kept even when it came during a decision); then a placement of the student
    through another match. With the reason or note that goes with it."""
    if outcome is not None:
        return outcome.status, outcome.note
    if withdrawal is not None:
        return MatchStatus.WITHDRAWN, withdrawal
    if placement is not None and placement != match_id:
        return MatchStatus.WITHDRAWN, PLACED_ELSEWHERE
    return MatchStatus.PROPOSED, ""


# -- outcomes report ------------------------------------------------------------------------

DIMENSIONS = ("program", "career_field", "school", "special_population")


@dataclass(frozen=True)
class OutcomeFacts:
    """What the outcomes report needs of a student: no personal details."""

    student_id: str
    school_id: str
    program: str
    career_field: str  # the first choice
    special_populations: tuple[str, ...]
    active: bool
    # When the student is available for a placement: which report periods they fall in.
    available_from: date | None = None
    available_to: date | None = None


class Suppression(StrEnum):
    SMALL_GROUP = "small-group"  # fewer students than the minimum
    COMPLEMENT = "complement"  # withheld with a small group so neither follows from the total


@dataclass(frozen=True)
class OutcomeRow:
    dimension: str  # program, career_field, school or special_population
    group: str
    students: int
    placed: int
    suppressed: bool = False  # too few students to publish without singling them out
    pending: int = 0  # an offer awaiting the coordinator's decision
    suppression: Suppression | None = None  # why, when suppressed
    hours_verified: Decimal = Decimal(0)  # by the supervisors, over the group's placements
    completed: int = 0  # placements completed (not closed early)
    cte_concentrators: int = 0  # students of a CTE program (Perkins 5S3's denominator)
    wbl_participants: int = 0  # of those, verified hours reaching the threshold

    @property
    def placement_rate(self) -> float:
        return round(self.placed / self.students, 4) if self.students else 0.0

    @property
    def completion_rate(self) -> float:
        return round(self.completed / self.placed, 4) if self.placed else 0.0

    @property
    def five_s3_rate(self) -> float:
        """Perkins V 5S3: the share of CTE concentrators who took part in work-based
        learning (0 for a group with none)."""
        if not self.cte_concentrators:
            return 0.0
        return round(self.wbl_participants / self.cte_concentrators, 4)

    @property
    def not_placed(self) -> int:
        return self.students - self.placed - self.pending


def _withheld(row: OutcomeRow, why: Suppression) -> OutcomeRow:
    return replace(row, suppressed=True, suppression=why)


def suppress_small_groups(rows: list[OutcomeRow], min_group: int) -> list[OutcomeRow]:
    """Hide groups of fewer than `min_group` students, whose rates would reveal how
    individual students fared (the small-cell rule of published education statistics), and
    their complements: program, career field and school each count every student once, so
    any of them shown in full gives the total, and a dimension's one hidden cell would be
    that total less its shown cells. So a dimension hides none of its cells or two at least:
    with one hidden, the next smallest goes too (a group with students before an empty one:
    an empty group is shown as 0, unless nothing else can hide with the small one). (Special
    populations have no shared total; the same rule keeps them from giving each other away.)
    An empty group reveals no one: it is never suppressed for its size."""
    marked = [
        _withheld(r, Suppression.SMALL_GROUP) if 0 < r.students < min_group else r for r in rows
    ]
    for dimension in dict.fromkeys(r.dimension for r in marked):
        cells = [i for i, r in enumerate(marked) if r.dimension == dimension]
        if sum(marked[i].suppressed for i in cells) != 1:
            continue
        shown = [i for i in cells if not marked[i].suppressed]
        if shown:
            complement = min(
                shown, key=lambda i: (marked[i].students == 0, marked[i].students, marked[i].group)
            )
            marked[complement] = _withheld(marked[complement], Suppression.COMPLEMENT)
    return marked


# The programs whose students count as CTE concentrators for Perkins 5S3: Chapter 74 and
# the Perkins-funded Career Connections (N74) programs (REFERENCE.md, program types). We
# count program membership; the course-count definition of a concentrator is the state's.
CTE_PROGRAMS = frozenset({"chapter-74", "career-connections"})
WBL_HOURS_THRESHOLD = Decimal(54)  # New York's figure (ADR 6): the state plan sets it


@dataclass(frozen=True)
class WorkBasedLearning:
    """A placed student's work-based learning: hours their supervisor verified, and whether
    the placement completed."""

    verified_hours: Decimal
    completed: bool


@dataclass
class _Tally:
    students: int = 0
    placed: int = 0
    pending: int = 0
    hours: Decimal = Decimal(0)
    completed: int = 0
    cte: int = 0
    participants: int = 0


def outcomes(
    students: Iterable[OutcomeFacts],
    placed: set[str],
    pending: set[str] | frozenset[str] = frozenset(),
    groups: Mapping[str, Sequence[str]] | None = None,
    learning: Mapping[str, WorkBasedLearning] | None = None,
    threshold: Decimal = WBL_HOURS_THRESHOLD,
) -> list[OutcomeRow]:
    """Placement rates of the students (withdrawn ones excluded) by program, first-choice
    career field, school and special population; a student counts in each population.
    A placed student is never also pending. Every group listed in `groups` (by dimension:
    the reference data) has a row, with 0 students when none is in it. With `learning`
    (by student): verified hours, completions and Perkins 5S3, whose participants are the
    CTE students with at least `threshold` verified hours."""
    tallies = {
        (dimension, group): _Tally()
        for dimension, listed in (groups or {}).items()
        for group in listed
    }
    done = learning or {}
    for student in students:
        if not student.active:
            continue
        is_placed = student.student_id in placed
        work = done.get(student.student_id) if is_placed else None
        cte = student.program in CTE_PROGRAMS
        keys = [
            ("program", student.program),
            ("career_field", student.career_field),
            ("school", student.school_id),
            *(("special_population", p) for p in student.special_populations),
        ]
        for key in keys:
            tally = tallies.setdefault(key, _Tally())
            tally.students += 1
            tally.placed += int(is_placed)
            tally.pending += int(not is_placed and student.student_id in pending)
            tally.cte += int(cte)
            if work is not None:
                tally.hours += work.verified_hours
                tally.completed += int(work.completed)
                tally.participants += int(cte and work.verified_hours >= threshold)
    return [
        OutcomeRow(
            dimension,
            group,
            t.students,
            t.placed,
            pending=t.pending,
            hours_verified=t.hours,
            completed=t.completed,
            cte_concentrators=t.cte,
            wbl_participants=t.participants,
        )
        for (dimension, group), t in sorted(tallies.items())
    ]
