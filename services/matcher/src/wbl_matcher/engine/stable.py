"""Stable assignment with capacities on explicit preference lists.

Student-proposing deferred acceptance (Gale-Shapley, in its hospitals/residents
form, Roth 1984) returns the student-optimal stable matching: no student and
opening both prefer each other to what they got, every opening holds at most its
capacity, and every pair is mutually acceptable (each appears in the other's
ranking). It is strategy-proof for students.

The solver itself lives in :mod:`.acceptance` (plain lists and dicts, light
imports, for the command line); this module gives it frozen dataclasses.

Pure module: no I/O, stdlib only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .acceptance import (
    Columns,
    InstanceError,
    columns_of_document,
    deferred_acceptance,
    describe,
    solve_columns,
)

__all__ = [
    "Instance",
    "InstanceError",
    "OpeningPrefs",
    "StableMatching",
    "StudentPrefs",
    "blocking_pairs",
    "deferred_acceptance",
    "parse_instance",
    "solve",
    "solve_document",
]


@dataclass(frozen=True, slots=True)
class StudentPrefs:
    """A student and the openings they rank, most wanted first."""

    id: str
    ranking: Sequence[str]


@dataclass(frozen=True, slots=True)
class OpeningPrefs:
    """An opening, its capacity (seats) and the students it ranks, most preferred first."""

    id: str
    capacity: int
    ranking: Sequence[str]


@dataclass(frozen=True, slots=True)
class Instance:
    """An explicit preference-list instance (CONTRACTS.md, "Matching instances")."""

    students: Sequence[StudentPrefs]
    openings: Sequence[OpeningPrefs]


@dataclass(frozen=True, slots=True)
class StableMatching:
    """The student-optimal stable matching of an instance.

    ``assignments`` has every student id, mapped to an opening id or ``None``.
    ``examined`` counts the ranking entries deferred acceptance looked at (a work measure).
    """

    assignments: Mapping[str, str | None]
    examined: int = field(default=0, compare=False)


# --------------------------------------------------------------------------- parsing


def parse_instance(document: object) -> Instance:
    """Build an :class:`Instance` from a decoded JSON document.

    Checks shape and types (objects, lists, string ids, integer capacities >= 0).
    Cross-references (unknown ids, duplicates) are checked by :func:`solve`.
    Raises :class:`InstanceError` naming the first thing that is wrong.
    """
    columns = columns_of_document(document)
    return Instance(
        [
            StudentPrefs(i, r)
            for i, r in zip(columns.student_ids, columns.student_rankings, strict=True)
        ],
        [
            OpeningPrefs(i, c, r)
            for i, c, r in zip(
                columns.opening_ids, columns.capacities, columns.opening_rankings, strict=True
            )
        ],
    )


# --------------------------------------------------------------------------- indexing


def _columns_of_instance(instance: Instance) -> Columns:
    """Check an :class:`Instance`'s types; return its columns."""
    for student in instance.students:
        if not isinstance(student, StudentPrefs) or type(student.id) is not str:
            raise InstanceError(f"students must be StudentPrefs with string ids, got {student!r}")
        if isinstance(student.ranking, str | bytes):
            raise InstanceError(f"student {student.id!r}: ranking must be a sequence of ids")
    for opening in instance.openings:
        if not isinstance(opening, OpeningPrefs) or type(opening.id) is not str:
            raise InstanceError(f"openings must be OpeningPrefs with string ids, got {opening!r}")
        if type(opening.capacity) is not int:
            raise InstanceError(
                f"opening {opening.id!r}: capacity must be an integer, "
                f"got {describe(opening.capacity)}"
            )
        if opening.capacity < 0:
            raise InstanceError(
                f"opening {opening.id!r}: capacity must be >= 0, got {opening.capacity}"
            )
        if isinstance(opening.ranking, str | bytes):
            raise InstanceError(f"opening {opening.id!r}: ranking must be a sequence of ids")
    students, openings = instance.students, instance.openings
    return Columns(
        [s.id for s in students],
        [s.ranking for s in students],
        [o.id for o in openings],
        [o.capacity for o in openings],
        [o.ranking for o in openings],
    )


def solve(instance: Instance) -> StableMatching:
    """Return the student-optimal stable matching of ``instance``.

    Raises :class:`InstanceError` for unknown ids in a ranking, duplicate ids,
    an id ranked twice, a negative capacity or a wrongly typed field.
    """
    assignments, examined = solve_columns(_columns_of_instance(instance))
    return StableMatching(assignments, examined)


def solve_document(document: object) -> StableMatching:
    """``solve(parse_instance(document))`` without building the dataclasses (faster).

    ``document`` is a decoded JSON instance (CONTRACTS.md); raises the same
    :class:`InstanceError` messages.
    """
    assignments, examined = solve_columns(columns_of_document(document))
    return StableMatching(assignments, examined)


def blocking_pairs(
    instance: Instance, assignments: Mapping[str, str | None]
) -> list[tuple[str, str]]:
    """Return every (student, opening) pair that blocks ``assignments`` (empty if stable).

    A pair blocks when both rank each other, the student is unmatched or prefers the
    opening to their match, and the opening has a free seat or prefers the student to
    one it holds. Meant for audits and tests: O(total ranking length).
    """
    capacity = {o.id: o.capacity for o in instance.openings}
    rank = {o.id: {s: r for r, s in enumerate(o.ranking)} for o in instance.openings}
    held: dict[str, list[str]] = {o.id: [] for o in instance.openings}
    for student_id, opening_id in assignments.items():
        if opening_id is not None:
            held[opening_id].append(student_id)
    worst = {o: max((rank[o][s] for s in students), default=-1) for o, students in held.items()}
    pairs: list[tuple[str, str]] = []
    for student in instance.students:
        current = assignments.get(student.id)
        for opening_id in student.ranking:
            if opening_id == current:
                break
            r = rank[opening_id].get(student.id)
            if r is None:
                continue
            if len(held[opening_id]) < capacity[opening_id] or r < worst[opening_id]:
                pairs.append((student.id, opening_id))
    return pairs
