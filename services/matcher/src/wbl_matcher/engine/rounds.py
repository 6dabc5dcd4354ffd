"""A matching round in profile mode: eligibility, rankings, stable assignment, explanations.

:func:`propose_matches` is the engine's entry point for the matcher service. It is
pure: the same inputs and seed always give the same :class:`Round`, whose
``fingerprint`` identifies those inputs so the round can be replayed and audited.

:func:`partition_by_career_field` splits the inputs into independent partitions
(career fields linked by some student's interests, directly or through a related
field). Solving each partition with the same seed gives exactly the assignments of
solving everything at once, so the service re-solves only touched partitions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

import numpy as np

from .acceptance import InstanceError, NoGC, deferred_acceptance
from .bulk import eligible_pairs, rank_pairs
from .eligibility import EligibilityIndex
from .explain import (
    DECLINED,
    SEAT_FREE,
    SEAT_HELD,
    Explanation,
    WhyNot,
    explain_proposal,
    why_not_opening,
)
from .profiles import HiringPreferences, Location, OpeningProfile, StudentProfile
from .ranking import DISTANCE_BAND_KM, lottery_number

__all__ = [
    "ENGINE_VERSION",
    "Partition",
    "Round",
    "partition_by_career_field",
    "propose_matches",
    "round_fingerprint",
    "why_not_for_student",
]

ENGINE_VERSION = "2"  # 2: languages no longer rank; openings may require them
STAGES = ("eligibility", "ranking", "assignment", "explanation", "fingerprint")
WHY_NOT_MIN_RADIUS_KM = 50.0

_BAND = DISTANCE_BAND_KM
_BANDS = 1 << 32  # more distance bands than any distance on Earth needs
_COUNTS = 1 << 12  # more preferred credentials than any opening lists

_NO_RELATED: Mapping[str, frozenset[str]] = {}
_NO_TAKEN: Mapping[str, int] = {}


@dataclass(frozen=True, slots=True)
class Round:
    """The outcome of one matching round.

    - ``assignments``: every student id -> proposed opening id, or ``None``;
    - ``explanations``: for each proposed student, why this opening;
    - ``why_not``: for each unmatched student, why not each opening in their fields
      (their eligible openings in their own order, then the nearest ineligible ones
      within max(50 km, twice their commute limit), up to ``why_not_limit``);
    - ``seed`` and ``fingerprint`` (SHA-256 of the canonical inputs) to replay it;
    - ``timings``: seconds per stage (not part of equality).
    """

    seed: int
    fingerprint: str
    assignments: Mapping[str, str | None]
    explanations: Mapping[str, Explanation]
    why_not: Mapping[str, tuple[WhyNot, ...]]
    engine_version: str = ENGINE_VERSION
    timings: Mapping[str, float] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class Partition:
    """Career fields that must be solved together, with their openings and students."""

    career_fields: frozenset[str]
    openings: tuple[OpeningProfile, ...]
    students: tuple[StudentProfile, ...]


# --------------------------------------------------------------------------- fingerprint


def _location(loc: Location | None) -> list[Any] | None:
    return None if loc is None else [loc.town, loc.lat, loc.lon]


def _prefs(p: HiringPreferences) -> list[list[str]]:
    return [
        sorted(p.partner_programs),
        sorted(p.partner_schools),
        sorted(p.preferred_credentials),
    ]


def round_fingerprint(
    openings: Iterable[OpeningProfile],
    students: Iterable[StudentProfile],
    *,
    seed: int,
    related_fields: Mapping[str, frozenset[str]],
    taken_seats: Mapping[str, int],
    why_not_limit: int | None,
) -> str:
    """``sha256:<hex>`` of a canonical JSON form of every input of a round.

    Independent of input order; changes when anything the round reads changes.
    """
    canonical = {
        "engine_version": ENGINE_VERSION,
        "seed": seed,
        "why_not_limit": why_not_limit,
        "related_fields": {k: sorted(v) for k, v in sorted(related_fields.items())},
        "taken_seats": dict(sorted(taken_seats.items())),
        "openings": sorted(
            [
                o.id,
                o.employer_id,
                o.career_field,
                o.seats,
                _location(o.location),
                o.remote,
                o.starts_on.isoformat(),
                o.ends_on.isoformat(),
                o.hours_per_week,
                o.paid,
                o.hazardous,
                o.min_age,
                o.min_grade,
                sorted(o.required_credentials),
                sorted(o.required_languages),
                _prefs(o.hiring_preferences),
            ]
            for o in openings
        ),
        "students": sorted(
            [
                s.id,
                s.school_id,
                s.program,
                list(s.career_fields),
                s.grade,
                s.age,
                _location(s.home),
                s.max_commute_km,
                s.available_from.isoformat(),
                s.available_to.isoformat(),
                s.hours_per_week,
                sorted(s.credentials),
                sorted(s.languages),
                sorted(s.favourites),
            ]
            for s in students
        ),
    }
    text = json.dumps(canonical, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- validation


def _check_inputs(
    openings: Sequence[OpeningProfile],
    students: Sequence[StudentProfile],
    seed: int,
    taken_seats: Mapping[str, int],
) -> None:
    if type(seed) is not int:
        raise InstanceError(f"seed must be an integer, got {seed!r}")
    seen: set[str] = set()
    for o in openings:
        if not isinstance(o, OpeningProfile):
            raise InstanceError(f"openings must be OpeningProfile, got {type(o).__name__}")
        if o.id in seen:
            raise InstanceError(f"duplicate opening id {o.id!r}")
        seen.add(o.id)
    seen.clear()
    for s in students:
        if not isinstance(s, StudentProfile):
            raise InstanceError(f"students must be StudentProfile, got {type(s).__name__}")
        if s.id in seen:
            raise InstanceError(f"duplicate student id {s.id!r}")
        seen.add(s.id)
    for opening_id, taken in taken_seats.items():
        if type(taken) is not int or taken < 0:
            raise InstanceError(f"taken_seats[{opening_id!r}] must be an integer >= 0")


# --------------------------------------------------------------------------- the round


def propose_matches(
    openings: Sequence[OpeningProfile],
    students: Sequence[StudentProfile],
    *,
    seed: int,
    related_fields: Mapping[str, frozenset[str]] | None = None,
    taken_seats: Mapping[str, int] | None = None,
    why_not_limit: int | None = 10,
    excluded_pairs: Collection[tuple[str, str]] = (),
    on_stage: Callable[[str, float], None] | None = None,
) -> Round:
    """Run one matching round and return its proposals, explanations and why-nots.

    ``related_fields[f]`` lists the opening career fields also open to a student
    interested in ``f``. ``taken_seats[opening_id]`` counts seats already taken by
    confirmed placements (confirmed students should not be passed in).
    ``why_not_limit`` caps the why-not entries per unmatched student (``None``: no
    cap). ``excluded_pairs`` holds (student id, opening id) pairs that must not be
    matched (a declined proposal). ``on_stage(name, seconds)`` is called after each
    stage (for benchmarks).
    Raises :class:`InstanceError` on duplicate ids or wrongly typed inputs.
    """
    related = _NO_RELATED if related_fields is None else related_fields
    taken = _NO_TAKEN if taken_seats is None else taken_seats
    _check_inputs(openings, students, seed, taken)
    timings: dict[str, float] = {}
    clock = time.perf_counter

    def stage_done(name: str, started: float) -> float:
        now = clock()
        timings[name] = now - started
        if on_stage is not None:
            on_stage(name, timings[name])
        return now

    with NoGC():
        t = clock()
        # 1. eligibility
        index = EligibilityIndex(openings, related)
        pairs = eligible_pairs(index, students)
        if excluded_pairs:  # pairs a coordinator declined stay apart in later rounds
            position = {o.id: oi for oi, o in enumerate(openings)}
            at = {s.id: si for si, s in enumerate(students)}
            excluded = {
                (at[s], position[o]) for s, o in excluded_pairs if s in at and o in position
            }
            keep = np.array(
                [
                    (s, o) not in excluded
                    for s, o in zip(pairs.student.tolist(), pairs.opening.tolist(), strict=True)
                ],
                dtype=np.bool_,
            )
            pairs = pairs.where(keep)
        t = stage_done("eligibility", t)

        # 2-3. rankings (composite integer keys that order exactly like
        # ranking.student_key and ranking.employer_key, sorted as arrays)
        n = len(students)
        lottery = [lottery_number(seed, s.id) for s in students]
        by_lottery = sorted(range(n), key=lambda si: (lottery[si], students[si].id))
        lottery_rank = [0] * n
        for place, si in enumerate(by_lottery):
            lottery_rank[si] = place
        choices, kms, ranked = rank_pairs(pairs, openings, students, lottery_rank, _BAND)
        negative_rank_of = [
            dict(zip(group, range(0, -len(group), -1), strict=True)) for group in ranked
        ]
        capacities = [max(0, o.seats - taken.get(o.id, 0)) for o in openings]
        t = stage_done("ranking", t)

        # 4. stable assignment
        assignment, _ = deferred_acceptance(choices, negative_rank_of, ranked, capacities)
        assignments: dict[str, str | None] = {
            s.id: (openings[oi].id if oi >= 0 else None)
            for s, oi in zip(students, assignment, strict=True)
        }
        t = stage_done("assignment", t)

        # 5. explanations
        explanations: dict[str, Explanation] = {}
        why_not: dict[str, tuple[WhyNot, ...]] = {}
        for si, (student, oi) in enumerate(zip(students, assignment, strict=True)):
            if oi >= 0:
                opening = openings[oi]
                explanations[student.id] = explain_proposal(
                    opening,
                    student,
                    related,
                    seed=seed,
                    lottery=lottery[si],
                    km=kms[si][choices[si].index(oi)],
                    employer_rank=-negative_rank_of[oi][si] + 1,
                    eligible_students=len(ranked[oi]),
                    student_choice=choices[si].index(oi) + 1,
                    eligible_openings=len(choices[si]),
                )
            elif why_not_limit != 0:  # 0: the service asks on demand (why_not_for_student)
                why_not[student.id] = _why_not(
                    index, student, choices[si], capacities, related, why_not_limit
                )
        t = stage_done("explanation", t)

        fingerprint = round_fingerprint(
            openings,
            students,
            seed=seed,
            related_fields=related,
            taken_seats=taken,
            why_not_limit=why_not_limit,
        )
        stage_done("fingerprint", t)
    return Round(
        seed=seed,
        fingerprint=fingerprint,
        assignments=assignments,
        explanations=explanations,
        why_not=why_not,
        timings=timings,
    )


def _student_order(
    pairs: list[tuple[int, int, float]],
    ids: Sequence[str],
    unpaid: Sequence[int],
    favourites: frozenset[str],
) -> list[tuple[int, float, str, int]]:
    """A student's eligible openings in their order (ranking.student_key as one integer)."""
    keyed = [
        (
            ((interest * 2 + (ids[oi] not in favourites)) * _BANDS + int(km // _BAND)) * 2
            + unpaid[oi],
            km,
            ids[oi],
            oi,
        )
        for oi, interest, km in pairs
    ]
    keyed.sort()
    return keyed


def why_not_for_student(
    openings: Sequence[OpeningProfile],
    student: StudentProfile,
    *,
    related_fields: Mapping[str, frozenset[str]] | None = None,
    seats_left: Mapping[str, int],
    declined: Collection[str] = (),
    limit: int | None = 10,
) -> tuple[WhyNot, ...]:
    """One unmatched student's why-nots after a round, worded as a round with
    ``why_not_limit=limit`` words them, from ``openings`` (at least those in the student's
    fields) and each one's seats free now (missing: none), so an eligible opening with a
    free seat says the next round may offer it. Openings in ``declined`` (declined for this
    student) say so first."""
    related = _NO_RELATED if related_fields is None else related_fields
    index = EligibilityIndex(openings, related)
    ids = [o.id for o in openings]
    unpaid = [0 if o.paid else 1 for o in openings]
    refused = set(declined)
    out = [WhyNot(opening_id, (DECLINED,)) for opening_id in sorted(refused & set(ids))][:limit]
    order = [
        k[3]
        for k in _student_order(index.eligible(student), ids, unpaid, student.favourites)
        if ids[k[3]] not in refused
    ]
    capacities = [max(0, seats_left.get(oid, 0)) for oid in ids]
    rest = None if limit is None else limit - len(out)
    if rest == 0:
        return tuple(out)
    found = _why_not(index, student, order, capacities, related, rest)
    free = (SEAT_FREE,)
    return (
        *out,
        *(
            WhyNot(w.opening_id, free) if w.reasons == (SEAT_HELD,) else w
            for w in found
            if w.opening_id not in refused
        ),
    )


def _why_not(
    index: EligibilityIndex,
    student: StudentProfile,
    eligible_in_order: list[int],
    capacities: list[int],
    related: Mapping[str, frozenset[str]],
    limit: int | None,
) -> tuple[WhyNot, ...]:
    """Reasons for an unmatched student: eligible openings first, then nearest others."""
    openings = index.openings
    out: list[WhyNot] = []
    for oi in eligible_in_order:
        if limit is not None and len(out) >= limit:
            return tuple(out)
        out.append(why_not_opening(openings[oi], student, related, seats_left=capacities[oi]))
    eligible = set(eligible_in_order)
    # the nearest ineligible openings: widen the search until enough are found
    radius = max(5.0, student.max_commute_km)
    widest = max(WHY_NOT_MIN_RADIUS_KM, 2 * student.max_commute_km)
    while True:
        radius = min(radius, widest)
        others = [
            (km, openings[oi].id, oi)
            for oi, km in index.near(student, radius)
            if oi not in eligible
        ]
        if radius >= widest or (limit is not None and len(out) + len(others) >= limit):
            break
        radius *= 2
    others.sort()
    for _, _, oi in others:
        if limit is not None and len(out) >= limit:
            break
        out.append(why_not_opening(openings[oi], student, related, seats_left=capacities[oi]))
    return tuple(out)


# --------------------------------------------------------------------------- partitions


def partition_by_career_field(
    openings: Iterable[OpeningProfile],
    students: Iterable[StudentProfile],
    related_fields: Mapping[str, frozenset[str]] | None = None,
) -> list[Partition]:
    """Split a round into independent partitions of career fields.

    Two fields share a partition when some student could be placed in both (as own
    fields or through ``related_fields``). Each opening and each student lands in
    exactly one partition; students with no career field share one with no fields.
    Partitions come sorted by their smallest field name.
    """
    related = _NO_RELATED if related_fields is None else related_fields
    parent: dict[str, str] = {}

    def find(f: str) -> str:
        root = parent.setdefault(f, f)
        while root != parent[root]:
            root = parent[root]
        while parent[f] != root:  # path compression
            parent[f], f = root, parent[f]
        return root

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    opening_list = list(openings)
    student_list = list(students)
    for o in opening_list:
        find(o.career_field)
    for s in student_list:
        reach = [*s.career_fields, *(r for f in s.career_fields for r in related.get(f, ()))]
        for f in reach[1:]:
            union(reach[0], f)
        if reach:
            find(reach[0])

    fields_of: dict[str, set[str]] = {}
    for f in parent:
        fields_of.setdefault(find(f), set()).add(f)
    by_root_openings: dict[str, list[OpeningProfile]] = {r: [] for r in fields_of}
    by_root_students: dict[str, list[StudentProfile]] = {r: [] for r in fields_of}
    fieldless: list[StudentProfile] = []
    for o in opening_list:
        by_root_openings[find(o.career_field)].append(o)
    for s in student_list:
        if s.career_fields:
            by_root_students[find(s.career_fields[0])].append(s)
        else:
            fieldless.append(s)
    partitions = [
        Partition(frozenset(fields_of[r]), tuple(by_root_openings[r]), tuple(by_root_students[r]))
        for r in sorted(fields_of, key=lambda r: min(fields_of[r]))
    ]
    if fieldless:
        partitions.append(Partition(frozenset(), (), tuple(fieldless)))
    return partitions
