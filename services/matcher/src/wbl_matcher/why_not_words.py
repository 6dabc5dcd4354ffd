"""Why a student has no offer, in words a coordinator reads: where the student stands, one
line that says it (e.g. "No opening in Culinary Arts within 25 km; 3 would be within 40 km."),
each opening that came close and why not, and what would change it. Names, not codes;
openings by title and employer, not id; distances as the inbox writes them; no seeds or
lottery numbers. Pure: the caller brings the view."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from wbl_matcher.domain import SeatsView, Standing, expand, opening_profile, student_profile
from wbl_matcher.engine.eligibility import failed_reasons, haversine_km
from wbl_matcher.engine.explain import DECLINED, SEAT_FREE, SEAT_HELD
from wbl_matcher.engine.profiles import OpeningProfile, StudentProfile
from wbl_matcher.engine.rounds import why_not_for_student
from wbl_schemas.events import OpeningSnapshot
from wbl_schemas.reference import ReferenceData

MatchingState = Literal["waiting", "unmatched", "offered", "placed", "withdrawn"]
DETAIL_LIMIT = 5  # openings explained one by one
RADIUS_STEP_KM = 5  # "would be within 40 km": the reach rounded up to a step


@dataclass(frozen=True)
class Names:
    """Codes to the names the reference lists give them."""

    names: Mapping[str, str]

    @classmethod
    def of(cls, reference: ReferenceData) -> Names:
        entries = (*reference.career_fields, *reference.credentials, *reference.programs)
        return cls({e.code: e.name for e in entries})

    def name(self, code: str) -> str:
        return self.names.get(code, code)

    def listing(self, codes: Sequence[str]) -> str:
        named = [self.name(c) for c in codes]
        return named[0] if len(named) == 1 else f"{', '.join(named[:-1])} or {named[-1]}"

    def plain(self, text: str) -> str:
        """A reason with each code written as its name."""
        return re.sub(r"[a-z0-9]+(?:-[a-z0-9]+)+", lambda m: self.name(m.group(0)), text)


@dataclass(frozen=True)
class Verdict:
    state: MatchingState
    summary: str
    details: tuple[str, ...] = ()  # an opening that came close, and why not
    changes: tuple[str, ...] = ()  # what would change it


def describe(opening: OpeningSnapshot | None) -> str:
    if opening is None:
        return "an opening that has since closed"
    employer = f" at {opening.employer_name}" if opening.employer_name else ""
    where = "remote" if opening.remote or opening.location is None else opening.location.town
    return f"{opening.title}{employer} · {where}"


def waiting(standing: Standing, main_round_at: datetime | None, pending: bool) -> Verdict | None:
    """Not (yet) for a round to have said: placed, offered, withdrawn or waiting; None when
    a round has considered the student as they are and left them without an offer."""
    if standing.withdrawn and standing.profile is None:
        return Verdict("withdrawn", "Withdrawn from placement: no round considers them.")
    if standing.profile is None:
        return Verdict(
            "waiting", "Registered: matching has not received the student yet; look again soon."
        )
    if main_round_at is not None:
        return Verdict(
            "waiting",
            f"Waiting for the main round on {main_round_at:%-d %B %Y at %H:%M} UTC: students "
            "registered before it are matched together then.",
        )
    if pending:
        return Verdict(
            "waiting", "Waiting for the next round, which considers the student shortly."
        )
    return None


def verdict(
    standing: Standing,
    seats: SeatsView,
    related: Mapping[str, frozenset[str]],
    names: Names,
    main_round_at: datetime | None = None,
    pending: bool = False,
) -> Verdict:
    """Where the student stands and, if a round left them unmatched, why in words."""
    by_id = {o.opening_id: o for o in seats.openings}
    if standing.placed_at is not None:
        return Verdict("placed", f"Placed: {describe(by_id.get(standing.placed_at))}.")
    if standing.offer is not None:
        offer = describe(by_id.get(standing.offer.opening_id))
        return Verdict("offered", f"Has an offer awaiting your decision: {offer}.")
    early = waiting(standing, main_round_at, pending)
    if early is not None or standing.profile is None:
        return early or Verdict("waiting", "Waiting for a round.")
    return unmatched(standing, seats, related, names)


def unmatched(
    standing: Standing, seats: SeatsView, related: Mapping[str, frozenset[str]], names: Names
) -> Verdict:
    assert standing.profile is not None
    profile = standing.profile
    fields = sorted(expand(profile.career_fields, related))
    in_fields = [o for o in seats.openings if o.career_field in fields]
    if not in_fields:
        wanted = names.listing(fields)
        return Verdict(
            "unmatched",
            f"No opening in {wanted} this season.",
            changes=(
                f"The next round considers the student as soon as an employer posts an opening "
                f"in {wanted}; or add a career field the student would also work in.",
            ),
        )
    student = student_profile(profile)
    profiles = {o.opening_id: opening_profile(o) for o in in_fields}
    by_id = {o.opening_id: o for o in in_fields}
    found = why_not_for_student(
        list(profiles.values()),
        student,
        related_fields=related,
        seats_left={
            o.opening_id: o.seats - seats.seats_taken.get(o.opening_id, 0) for o in in_fields
        },
        declined=standing.declined,
        limit=DETAIL_LIMIT,
    )
    details = tuple(
        f"{describe(by_id.get(w.opening_id))}: {names.plain('; '.join(w.reasons))}." for w in found
    )
    causes = {r for w in found for r in w.reasons}
    eligible = [
        o
        for o, p in profiles.items()
        if o not in standing.declined and not failed_reasons(p, student, related)
    ]
    far = _too_far_only(student, list(profiles.values()), related)
    summary, changes = _headline(names.listing(fields), student, causes, eligible, far)
    preferences = (_preference_change(by_id[o], student, names) for o in eligible)
    return Verdict("unmatched", summary, details, (*changes, *(p for p in preferences if p)))


def _headline(
    wanted: str, student: StudentProfile, causes: set[str], eligible: list[str], far: list[float]
) -> tuple[str, tuple[str, ...]]:
    """The one line, and what would change it, from what kept the student out."""
    changes: list[str] = []
    if far:
        reach = math.ceil(max(far) / RADIUS_STEP_KM) * RADIUS_STEP_KM
        more = f"{len(far)} more opening{'s' if len(far) != 1 else ''}"
        changes.append(f"With a commute limit of {reach} km the next round would consider {more}.")
    if SEAT_FREE in causes:
        summary = (
            "A seat that fits the student is free now: the next round offers it unless a "
            "student the employer ranks higher takes it."
        )
    elif not eligible and far:
        count = len(far)
        summary = (
            f"No opening in {wanted} within {student.max_commute_km:g} km; "
            f"{count} would be within {reach} km."
        )
    elif not eligible and DECLINED in causes:
        summary = f"You declined the offer that fitted; no other opening in {wanted} fits now."
    elif not eligible:
        summary = f"No opening in {wanted} fits the student now."
    elif SEAT_HELD in causes:
        summary = (
            f"Openings in {wanted} fit the student, but their seats went to students the "
            "employers rank higher."
        )
    else:
        summary = f"Every seat in {wanted} that fits the student is taken."
        changes.append("A seat frees when another student's offer is declined or expires.")
    return summary, tuple(changes)


def _too_far_only(
    student: StudentProfile,
    openings: Sequence[OpeningProfile],
    related: Mapping[str, frozenset[str]],
) -> list[float]:
    """The distances of openings the student would be eligible for but for the commute."""
    out = []
    for o in openings:
        if o.remote or o.location is None:
            continue
        km = haversine_km(student.home.lat, student.home.lon, o.location.lat, o.location.lon)
        if km > student.max_commute_km and not failed_reasons(o, student, related, 0.0):
            out.append(km)
    return out


def _preference_change(opening: OpeningSnapshot, student: StudentProfile, names: Names) -> str:
    """The employer's hiring preferences the student does not meet, as what would help."""
    prefs = opening.hiring_preferences
    wants = []
    if prefs.partner_programs and student.program not in prefs.partner_programs:
        wants.append(f"students of {names.listing(prefs.partner_programs)}")
    if prefs.partner_schools and student.school_id not in prefs.partner_schools:
        wants.append("students of its partner schools")
    missing = [c for c in prefs.preferred_credentials if c not in student.credentials]
    if missing:
        wants.append(f"students holding {names.listing(missing)}")
    if not wants:
        return ""
    return f"{describe(opening)} gives preference to {' and to '.join(wants)}."
