"""Plain-words explanations a school coordinator can read (DESIGN.md, step 5).

An :class:`Explanation` accompanies each proposal: the constraints that held and
what each preference, the employer's and the student's, contributed. A
:class:`WhyNot` tells an unmatched student's coordinator why one opening did not
come through: which constraint failed, or that the seats went to students the
employer ranks higher.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .eligibility import check_pair, failed_reasons, ordinal
from .profiles import OpeningProfile, StudentProfile
from .ranking import DISTANCE_BAND_KM, lottery_fraction

__all__ = [
    "ROUNDS",
    "SEATS_TAKEN",
    "SEAT_HELD",
    "Contribution",
    "Explanation",
    "WhyNot",
    "explain_proposal",
    "why_not_opening",
]

SEAT_HELD = "seat held by students the employer ranks higher"
DECLINED = "the coordinator declined this opening's offer, so it is not offered again"
SEAT_FREE = (
    "a seat is free now: the next round offers it to the student "
    "unless a student the employer ranks higher takes it"
)
SEATS_TAKEN = "no seats left: every seat is taken by a placement or held by an earlier offer"
ROUNDS = (
    "How offers are made: each round matches the students still waiting for an offer to the "
    "seats still free, giving every student the best opening they can have without another "
    "student both wanting it more and being preferred by the employer; an offer, once made, "
    "keeps its seat, so no student registered later can take it away."
)


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one preference contributed to a ranking.

    ``side`` is "employer", "student" or "lottery"; ``factor`` a stable code
    (e.g. "partner_program"); ``helped`` whether it raised this pair's rank.
    """

    side: str
    factor: str
    helped: bool
    text: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a student was proposed for an opening."""

    student_id: str
    opening_id: str
    constraints_held: tuple[str, ...]
    employer_preferences: tuple[Contribution, ...]
    student_preferences: tuple[Contribution, ...]
    employer_rank: int  # 1-based position among the opening's eligible students
    eligible_students: int
    student_choice: int  # 1-based position in the student's list of eligible openings
    eligible_openings: int

    def lines(self) -> list[str]:
        """The explanation as short lines of text, in reading order."""
        out = [f"Eligible: {text}" for text in self.constraints_held]
        out.append(
            f"The employer ranked this student {ordinal(self.employer_rank)} of "
            f"{self.eligible_students} eligible students."
        )
        out.extend(c.text for c in self.employer_preferences)
        out.append(
            f"This is the student's {ordinal(self.student_choice)} choice of "
            f"{self.eligible_openings} eligible openings."
        )
        out.extend(c.text for c in self.student_preferences)
        out.append(ROUNDS)
        return out


@dataclass(frozen=True, slots=True)
class WhyNot:
    """Why ``opening_id`` did not go to the student: one or more reasons."""

    opening_id: str
    reasons: tuple[str, ...]


def _employer_contributions(
    opening: OpeningProfile, student: StudentProfile, seed: int, lottery: int
) -> tuple[Contribution, ...]:
    prefs = opening.hiring_preferences
    out: list[Contribution] = []
    if prefs.partner_programs:
        if student.program in prefs.partner_programs:
            out.append(
                Contribution(
                    "employer",
                    "partner_program",
                    True,
                    f"Partner program ({student.program}): +1 rank tier, ahead of every "
                    "student outside the employer's partner programs",
                )
            )
        else:
            partners = ", ".join(sorted(prefs.partner_programs))
            out.append(
                Contribution(
                    "employer",
                    "partner_program",
                    False,
                    f"Not in a partner program (the employer partners with {partners})",
                )
            )
    if prefs.partner_schools:
        helped = student.school_id in prefs.partner_schools
        text = (
            f"Partner school ({student.school_id}): ahead of students from other schools "
            "in the same tier"
            if helped
            else "Not from a partner school"
        )
        out.append(Contribution("employer", "partner_school", helped, text))
    if prefs.preferred_credentials:
        held = sorted(prefs.preferred_credentials & student.credentials)
        total = len(prefs.preferred_credentials)
        if held:
            text = (
                f"Preferred credentials held: {', '.join(held)} ({len(held)} of {total}); "
                "each one ranks ahead of students with fewer"
            )
        else:
            text = f"Holds none of the {total} preferred credentials"
        out.append(Contribution("employer", "preferred_credentials", bool(held), text))
    if not out:
        out.append(
            Contribution("employer", "none", False, "The employer stated no hiring preference")
        )
    out.append(
        Contribution(
            "lottery",
            "lottery",
            False,
            f"Lottery number {lottery_fraction(lottery):.4f} (round seed {seed}) decides "
            "between students the preferences rank equally",
        )
    )
    return tuple(out)


def _student_contributions(
    opening: OpeningProfile,
    student: StudentProfile,
    interest_text: str,
    km: float,
) -> tuple[Contribution, ...]:
    out = [Contribution("student", "career_field", True, f"Career field: {interest_text}")]
    if opening.id in student.favourites:
        out.append(
            Contribution(
                "student",
                "favourite",
                True,
                "One of the student's favourites: ahead of other openings in the same field",
            )
        )
    if opening.remote:
        out.append(Contribution("student", "distance", True, "Remote: no commute"))
    else:
        band = int(km // DISTANCE_BAND_KM)
        lo, hi = band * DISTANCE_BAND_KM, (band + 1) * DISTANCE_BAND_KM
        out.append(
            Contribution(
                "student",
                "distance",
                band == 0,
                f"Distance {km:.1f} km (the {lo:g}-{hi:g} km band; nearer bands come first)",
            )
        )
    out.append(
        Contribution(
            "student",
            "paid",
            opening.paid,
            "Paid: ahead of unpaid openings at a similar distance"
            if opening.paid
            else "Unpaid: after paid openings at a similar distance",
        )
    )
    return tuple(out)


def explain_proposal(
    opening: OpeningProfile,
    student: StudentProfile,
    related_fields: Mapping[str, frozenset[str]],
    *,
    seed: int,
    lottery: int,
    km: float,
    employer_rank: int,
    eligible_students: int,
    student_choice: int,
    eligible_openings: int,
) -> Explanation:
    """Build the explanation of proposing ``student`` for ``opening``."""
    checks = check_pair(opening, student, related_fields)
    held = tuple(c.text for c in checks if c.held)
    interest_text = next(c.text for c in checks if c.name == "career_field")
    return Explanation(
        student_id=student.id,
        opening_id=opening.id,
        constraints_held=held,
        employer_preferences=_employer_contributions(opening, student, seed, lottery),
        student_preferences=_student_contributions(opening, student, interest_text, km),
        employer_rank=employer_rank,
        eligible_students=eligible_students,
        student_choice=student_choice,
        eligible_openings=eligible_openings,
    )


def why_not_opening(
    opening: OpeningProfile,
    student: StudentProfile,
    related_fields: Mapping[str, frozenset[str]],
    *,
    seats_left: int,
    km: float | None = None,
) -> WhyNot:
    """Why an unmatched student did not get ``opening`` (``km``: distance, if known)."""
    failed = failed_reasons(opening, student, related_fields, km)
    if failed:
        return WhyNot(opening.id, failed)
    if seats_left <= 0:
        return WhyNot(opening.id, (SEATS_TAKEN,))
    return WhyNot(opening.id, (SEAT_HELD,))
