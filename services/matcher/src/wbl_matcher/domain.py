"""Matcher's domain: which career-field partitions an event touches, which offers hold their
seat and which end (and why), the free pool a round solves, how a solved round becomes the
changes to publish, and the round's audit record. Pure: no I/O."""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

from wbl_matcher.engine.eligibility import EligibilityIndex
from wbl_matcher.engine.profiles import (
    HiringPreferences,
    Location,
    OpeningProfile,
    StudentProfile,
)
from wbl_matcher.engine.rounds import propose_matches
from wbl_schemas.events import AGE_BAND_STARTS, OpeningSnapshot, StudentMatchProfile


@dataclass(frozen=True)
class Proposal:
    """The opening the matcher currently proposes for a student."""

    match_id: str
    round_id: str
    student_id: str
    school_id: str
    opening_id: str
    employer_id: str
    career_field: str
    explanation: tuple[str, ...] = ()
    expires_at: datetime | None = None  # None: made before offers had a window


class Ending(StrEnum):
    """Why an offer ends. The first five are announced as a withdrawal (`reason_code`); a
    coordinator's own decision ends it without one."""

    EXPIRED = "expired"
    OPENING_CLOSED = "opening_closed"
    NO_LONGER_ELIGIBLE = "no_longer_eligible"
    STUDENT_WITHDRAWN = "student_withdrawn"
    PLACED_ELSEWHERE = "placed_elsewhere"
    DECLINED = "declined"
    CONFIRMED = "confirmed"

    @property
    def announced(self) -> bool:
        return self not in (Ending.DECLINED, Ending.CONFIRMED)


def plain_reason(ending: Ending, offer: Proposal) -> str:
    """The withdrawal as a coordinator reads it."""
    expires = offer.expires_at.date().isoformat() if offer.expires_at else "its deadline"
    return {
        Ending.EXPIRED: f"The offer expired on {expires} without a decision; "
        "its seat has been offered again.",
        Ending.OPENING_CLOSED: f"The employer closed the opening {offer.opening_id}.",
        Ending.NO_LONGER_ELIGIBLE: f"The opening {offer.opening_id} or the student's profile "
        "changed, and the student no longer meets the opening's requirements.",
        Ending.STUDENT_WITHDRAWN: "The student was withdrawn from placement.",
        Ending.PLACED_ELSEWHERE: "The student was placed at another opening.",
        Ending.DECLINED: "The coordinator declined the offer.",
        Ending.CONFIRMED: "The coordinator confirmed the offer.",
    }[ending]


@dataclass(frozen=True)
class Placement:
    """A confirmed placement: the seat is gone and the student leaves later rounds."""

    student_id: str
    opening_id: str


@dataclass(frozen=True)
class MatchingInputs:
    """Everything one round of one set of partitions solves over."""

    openings: tuple[OpeningSnapshot, ...]
    students: tuple[StudentMatchProfile, ...]
    seats_taken: Mapping[str, int] = field(default_factory=dict)
    declined: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Assignment:
    opening_id: str
    explanation: tuple[str, ...]


@dataclass(frozen=True)
class OfferHead:
    """A student's proposal record: its current proposal, and how many changes it has seen
    (the version a change claims the next of, so two rounds cannot both change it)."""

    version: int = 0
    current: Proposal | None = None


@dataclass(frozen=True)
class Change:
    """What one student's proposal becomes: end the old (for `ending`), propose the new, or
    both, computed from the record at `version`."""

    student_id: str
    withdraw: Proposal | None
    propose: Proposal | None
    version: int = 0
    ending: Ending | None = None  # why `withdraw` ends (None only when nothing ends)


@dataclass(frozen=True)
class OfferReview:
    """The round's students' offers: those that keep their seat, and those that end."""

    held: dict[str, Proposal]
    ending: dict[str, tuple[Proposal, Ending]]


def review_offers(
    students: Iterable[StudentMatchProfile],
    open_openings: Mapping[str, OpeningSnapshot],
    heads: Mapping[str, OfferHead],
    declined: frozenset[tuple[str, str]],
    related: Mapping[str, frozenset[str]],
    expired_before: datetime,
) -> OfferReview:
    """An offer holds its seat unless it was declined, expired (before `expired_before`), its
    opening is no longer open (`open_openings` holds every open opening offered), or the
    opening or student changed so the student is no longer eligible. Nothing else ends it."""
    offers = {
        s.student_id: (s, heads[s.student_id].current)
        for s in students
        if s.student_id in heads and heads[s.student_id].current is not None
    }
    offered = sorted({p.opening_id for _, p in offers.values() if p is not None})
    live = [open_openings[oid] for oid in offered if oid in open_openings]
    index = EligibilityIndex([opening_profile(o) for o in live], related)
    position = {o.opening_id: i for i, o in enumerate(live)}
    held: dict[str, Proposal] = {}
    ending: dict[str, tuple[Proposal, Ending]] = {}
    for sid, (student, offer) in offers.items():
        assert offer is not None
        why = _offer_ending(student, offer, position, index, declined, expired_before)
        if why is None:
            held[sid] = offer
        else:
            ending[sid] = (offer, why)
    return OfferReview(held, ending)


def _offer_ending(
    student: StudentMatchProfile,
    offer: Proposal,
    position: Mapping[str, int],
    index: EligibilityIndex,
    declined: frozenset[tuple[str, str]],
    expired_before: datetime,
) -> Ending | None:
    if (student.student_id, offer.opening_id) in declined:
        return Ending.DECLINED
    if offer.expires_at is not None and offer.expires_at <= expired_before:
        return Ending.EXPIRED
    if offer.opening_id not in position:
        return Ending.OPENING_CLOSED
    eligible = {oi for oi, _, _ in index.eligible(student_profile(student))}
    return None if position[offer.opening_id] in eligible else Ending.NO_LONGER_ELIGIBLE


def free_pool(inputs: MatchingInputs, review: OfferReview) -> MatchingInputs:
    """What a round solves: students without a held offer, over the seats neither placed nor
    held. A lapsed offer's pair stays apart, as a declined one does."""
    held_seats = Counter(p.opening_id for p in review.held.values())
    lapsed = {
        (sid, p.opening_id) for sid, (p, why) in review.ending.items() if why is Ending.EXPIRED
    }
    return MatchingInputs(
        openings=inputs.openings,
        students=tuple(s for s in inputs.students if s.student_id not in review.held),
        seats_taken=dict(Counter(inputs.seats_taken) + held_seats),
        declined=inputs.declined | lapsed,
    )


def match_id_for(student_id: str, opening_id: str, version: int) -> str:
    """The same on every replica that computes the same change from the same record, so a
    change is identified by what it is, not by who computed it."""
    digest = hashlib.sha256(f"{student_id}|{opening_id}|{version}".encode()).hexdigest()
    return f"mat_{digest[:16]}"


def new_round_id() -> str:
    return f"rnd_{secrets.token_hex(8)}"


def expand(interests: Iterable[str], related: Mapping[str, frozenset[str]]) -> set[str]:
    """Career fields of interest plus the related fields declared for them."""
    fields = set(interests)
    for own in list(fields):
        fields |= related.get(own, frozenset())
    return fields


def fields_of(student: StudentMatchProfile, related: Mapping[str, frozenset[str]]) -> set[str]:
    """The career fields a student can be matched in: their own plus declared related ones."""
    return expand(student.career_fields, related)


def changes_for(
    round_id: str,
    pool: Iterable[StudentMatchProfile],
    openings: Mapping[str, OpeningSnapshot],
    heads: Mapping[str, OfferHead],
    assignments: Mapping[str, Assignment | None],
    review: OfferReview,
    expires_at: datetime,
) -> list[Change]:
    """The free pool's changes: each ending offer ends for its reason, and each assigned
    student is offered the opening until `expires_at`. Held offers are not in the pool, so
    no round ever moves one; nothing is ever proposed twice."""
    changes: list[Change] = []
    for student in pool:
        sid = student.student_id
        head = heads.get(sid, OfferHead())
        before, ending = review.ending.get(sid, (None, None))
        after = assignments.get(sid)
        if before is None and after is None:
            continue
        proposal = None
        if after is not None:
            opening = openings[after.opening_id]
            proposal = Proposal(
                match_id=match_id_for(sid, opening.opening_id, head.version + 1),
                round_id=round_id,
                student_id=sid,
                school_id=student.school_id,
                opening_id=opening.opening_id,
                employer_id=opening.employer_id,
                career_field=opening.career_field,
                explanation=after.explanation,
                expires_at=expires_at,
            )
        changes.append(Change(sid, before, proposal, version=head.version, ending=ending))
    return changes


SeasonStage = Literal["rolling", "gathering", "main_round"]


@dataclass(frozen=True)
class Season:
    """A season's main round (DESIGN.md): before its cut-off registrations are gathered and
    no round runs; at it, one round over everyone; after it, rolling rounds."""

    main_round_at: datetime | None = None  # None: rolling rounds only (the default)
    main_round_id: str | None = None  # the round that was this cut-off's main round

    def stage(self, now: datetime) -> SeasonStage:
        if self.main_round_at is None or self.main_round_id is not None:
            return "rolling"
        return "gathering" if now < self.main_round_at else "main_round"


@dataclass(frozen=True)
class Tally:
    considered: int = 0
    matched: int = 0

    @property
    def unmatched(self) -> int:
        return self.considered - self.matched


@dataclass(frozen=True)
class RoundRecord:
    """What a round did, kept so it can be audited and replayed (same seed, same inputs)."""

    round_id: str
    seed: int
    fingerprint: str
    career_fields: tuple[str, ...]
    eligible: int
    matched: int
    unmatched: int
    proposed: int
    withdrawn: int
    by_career_field: dict[str, Tally] = field(default_factory=dict)
    by_program: dict[str, Tally] = field(default_factory=dict)
    conflicts: int = 0  # changes another round wrote first (solved again next round)


def tallies(
    students: Iterable[StudentMatchProfile], assignments: Mapping[str, Assignment | None]
) -> tuple[dict[str, Tally], dict[str, Tally]]:
    """Considered and matched students per first-choice career field and per program."""
    by_field: dict[str, Tally] = {}
    by_program: dict[str, Tally] = {}
    for student in students:
        matched = int(assignments.get(student.student_id) is not None)
        for table, key in ((by_field, student.career_fields[0]), (by_program, student.program)):
            before = table.get(key, Tally())
            table[key] = Tally(before.considered + 1, before.matched + matched)
    return by_field, by_program


@dataclass(frozen=True)
class RoundOutcome:
    """A solved round: each student's assignment (why-not is asked for on demand)."""

    assignments: dict[str, Assignment | None]
    fingerprint: str
    timings: Mapping[str, float]


@dataclass(frozen=True)
class Standing:
    """Where one student stands in the view, for a why-not asked on demand."""

    profile: StudentMatchProfile | None  # None: withdrawn, or no profile yet
    withdrawn: bool = False
    declined: frozenset[str] = frozenset()  # openings whose offer the coordinator declined
    placed_at: str | None = None
    offer: Proposal | None = None  # the open offer, if any
    school_id: str | None = None  # None: no profile seen yet (only a decline, say)


@dataclass(frozen=True)
class SeatsView:
    """Open openings of some career fields, with the seats placements and open offers take."""

    openings: tuple[OpeningSnapshot, ...]
    seats_taken: Mapping[str, int] = field(default_factory=dict)


def opening_profile(opening: OpeningSnapshot) -> OpeningProfile:
    prefs = opening.hiring_preferences
    location = opening.location
    return OpeningProfile(
        id=opening.opening_id,
        employer_id=opening.employer_id,
        career_field=opening.career_field,
        seats=opening.seats,
        starts_on=opening.starts_on,
        ends_on=opening.ends_on,
        hours_per_week=opening.hours_per_week,
        paid=opening.paid,
        location=Location(location.town, location.lat, location.lon) if location else None,
        remote=opening.remote,
        hazardous=opening.hazardous,
        min_age=opening.min_age,
        min_grade=opening.min_grade,
        required_credentials=frozenset(opening.required_credentials),
        required_languages=frozenset(opening.required_languages),
        hiring_preferences=HiringPreferences(
            partner_programs=frozenset(prefs.partner_programs),
            partner_schools=frozenset(prefs.partner_schools),
            preferred_credentials=frozenset(prefs.preferred_credentials),
        ),
    )


def student_profile(student: StudentMatchProfile) -> StudentProfile:
    home = student.home
    return StudentProfile(
        id=student.student_id,
        school_id=student.school_id,
        program=student.program,
        career_fields=student.career_fields,
        grade=student.grade,
        age=AGE_BAND_STARTS[student.age_band],  # the band's lowest age: never too young
        home=Location(home.town, home.lat, home.lon),
        max_commute_km=student.max_commute_km,
        available_from=student.available_from,
        available_to=student.available_to,
        hours_per_week=student.hours_per_week,
        credentials=frozenset(student.credentials),
        languages=frozenset(student.languages),
        favourites=frozenset(student.favourites),
    )


def solve_free_pool(
    inputs: MatchingInputs,
    heads: Mapping[str, OfferHead],
    open_openings: Mapping[str, OpeningSnapshot],
    expired_before: datetime,
    seed: int,
    related: Mapping[str, frozenset[str]],
) -> tuple[OfferReview, RoundOutcome]:
    """A round's computation, run in a worker process: review the offers and solve the
    free pool. (The pool is not sent back: `free_pool` is cheap to take again.)"""
    review = review_offers(
        inputs.students, open_openings, heads, inputs.declined, related, expired_before
    )
    return review, solve_round(free_pool(inputs, review), seed, related)


def solve_round(
    inputs: MatchingInputs, seed: int, related: Mapping[str, frozenset[str]]
) -> RoundOutcome:
    """Eligibility, both sides' rankings and the student-optimal stable assignment."""
    solved = propose_matches(
        [opening_profile(o) for o in inputs.openings],
        [student_profile(s) for s in inputs.students],
        seed=seed,
        related_fields=related,
        taken_seats=inputs.seats_taken,
        excluded_pairs=inputs.declined,
        why_not_limit=0,  # asked for on demand (why_not.py): most students never are
    )
    assignments: dict[str, Assignment | None] = {
        sid: Assignment(oid, tuple(solved.explanations[sid].lines())) if oid else None
        for sid, oid in solved.assignments.items()
    }
    # Declined pairs are inputs too: fold them in so a replay is checked against them.
    declined = ",".join(sorted(f"{sid}/{oid}" for sid, oid in inputs.declined))
    fingerprint = hashlib.sha256(f"{solved.fingerprint}|{declined}".encode()).hexdigest()
    return RoundOutcome(assignments, fingerprint, solved.timings)
