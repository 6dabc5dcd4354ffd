"""Both sides' rankings of eligible pairs (DESIGN.md, "Matching", steps 2 and 3).

Employer side, lexicographic, best first:

1. partner program (the student's program is one of the employer's partner programs);
2. partner school;
3. number of preferred credentials held;
4. a seeded lottery number, then the student id (never reached in practice).

Never languages, nor anything else that proxies a protected characteristic: an opening
may require a language (eligibility), but speaking one ranks no student higher.

Student side, best first: career-field interest order (own fields in the student's
order, then related fields), explicit favourites, distance in 5 km bands, paid
before unpaid, exact distance, then opening id.

The lottery is single tie-breaking, as in school-choice systems: each student gets
one number per round, drawn from the round's seed and the student id. It is
reproducible, independent of input order, and the same whichever career-field
partition the student is solved in.

The matcher sorts with composite integer keys that order exactly like these
(see ``rounds.propose_matches``); the functions here are the reference, and the
tests check rounds against them.
"""

from __future__ import annotations

from hashlib import blake2b

from .profiles import HiringPreferences, StudentProfile

__all__ = [
    "DISTANCE_BAND_KM",
    "EmployerKey",
    "StudentKey",
    "employer_key",
    "lottery_fraction",
    "lottery_number",
    "student_key",
]

DISTANCE_BAND_KM = 5.0

# Lower sorts first: negated counts so "more" ranks higher.
EmployerKey = tuple[int, int, int, int, str]
StudentKey = tuple[int, int, int, int, float, str]

_LOTTERY_SPAN = 2**64


def lottery_number(seed: int, student_id: str) -> int:
    """The student's lottery number for the round with ``seed`` (0 <= n < 2**64).

    BLAKE2b of the seed and the id: a fixed, auditable function, so a round can
    be replayed from its seed alone.
    """
    digest = blake2b(f"{seed}:{student_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def lottery_fraction(number: int) -> float:
    """A lottery number as a fraction in [0, 1) for display."""
    return number / _LOTTERY_SPAN


def employer_key(
    preferences: HiringPreferences, student: StudentProfile, lottery: int
) -> EmployerKey:
    """Sort key of ``student`` for an opening with ``preferences`` (lower = preferred)."""
    return (
        0 if student.program in preferences.partner_programs else 1,
        0 if student.school_id in preferences.partner_schools else 1,
        -len(preferences.preferred_credentials & student.credentials),
        lottery,
        student.id,
    )


def student_key(
    interest: int, favourite: bool, km: float, paid: bool, opening_id: str
) -> StudentKey:
    """Sort key of an opening for a student (lower = wanted more)."""
    return (
        interest,
        0 if favourite else 1,
        int(km // DISTANCE_BAND_KM),
        0 if paid else 1,
        km,
        opening_id,
    )
