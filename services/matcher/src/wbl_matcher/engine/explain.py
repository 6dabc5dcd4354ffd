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

from wbl_schemas.events import EXPLANATION_DETAIL

from .eligibility import check_pair, failed_reasons, format_km, ordinal
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


# How the summary names an employer preference that raised the student's rank.
HELPED = {
    "partner_program": "a partner program",
    "partner_school": "a partner school",
    "preferred_credentials": "preferred credentials",
}


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
    field_text: str = ""  # the career field check, e.g. "x is the student's 1st career field"
    km: float = 0.0
    remote: bool = False
    paid: bool = False
    favourite: bool = False

    def summary(self) -> list[str]:
        """Three or four plain lines for the coordinator, in the third person: why the
        student fits, why this opening for them, how the employer ranked them, and what
        decides between equals (no lottery numbers: those are in the detail)."""
        fits = f"Fits: {self.field_text}; every requirement is met."
        where = "remote, no commute" if self.remote else f"{format_km(self.km)} from home"
        traits = [where, "paid" if self.paid else "unpaid"]
        if self.favourite:
            traits.insert(0, "one of the student's favourites")
        choice = (
            f"The student's {ordinal(self.student_choice)} choice of "
            f"{self.eligible_openings} opening{_s(self.eligible_openings)} they qualify for: "
            f"{', '.join(traits)}."
        )
        helped = [
            HELPED[c.factor] for c in self.employer_preferences if c.helped and c.factor in HELPED
        ]
        because = f", helped by {' and '.join(helped)}" if helped else ""
        ranked = (
            f"The employer's preferences rank them {ordinal(self.employer_rank)} of "
            f"{self.eligible_students} eligible student{_s(self.eligible_students)}{because}."
        )
        ties = "Equally ranked students are ordered by a random draw."
        return [fits, choice, ranked, ties]

    def detail(self) -> list[str]:
        """Everything behind the summary: each requirement met, each preference's part,
        how ties are broken (the lottery number and seed) and how rounds make offers."""
        out = [f"Requirement met: {text}" for text in self.constraints_held]
        out.extend(f"Employer: {c.text}" for c in self.employer_preferences if c.side != "lottery")
        out.extend(f"Student: {c.text}" for c in self.student_preferences)
        out.extend(
            f"How ties are broken: {c.text}"
            for c in self.employer_preferences
            if c.side == "lottery"
        )
        out.append(ROUNDS)
        return out

    def lines(self) -> list[str]:
        """The explanation as the match event carries it: the summary, then the detail
        after EXPLANATION_DETAIL (the inbox shows the detail behind a toggle)."""
        return [*self.summary(), EXPLANATION_DETAIL, *self.detail()]


def _s(n: int) -> str:
    return "" if n == 1 else "s"


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
            "students the preferences rank equally are ordered by a random draw: this "
            f"student's lottery number is {lottery_fraction(lottery):.4f} (round seed {seed}), "
            "lower first",
        )
    )
    return tuple(out)


def _student_contributions(
    opening: OpeningProfile,
    student: StudentProfile,
    km: float,
) -> tuple[Contribution, ...]:
    out: list[Contribution] = []
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
                f"{format_km(km)} from home, in the {lo:g}-{hi:g} km band "
                "(openings in nearer bands come first)",
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
        student_preferences=_student_contributions(opening, student, km),
        employer_rank=employer_rank,
        eligible_students=eligible_students,
        student_choice=student_choice,
        eligible_openings=eligible_openings,
        field_text=interest_text,
        km=km,
        remote=opening.remote,
        paid=opening.paid,
        favourite=opening.id in student.favourites,
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
