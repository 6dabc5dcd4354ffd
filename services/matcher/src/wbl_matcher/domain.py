"""Matcher's domain: which career-field partitions an event touches, how a solved round
becomes the differences to publish, and the round's audit record. Pure: no I/O."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from wbl_schemas.events import OpeningSnapshot, StudentMatchProfile


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

    def fingerprint(self) -> str:
        """A digest of the inputs' ids and versions, so a round can be replayed and audited."""
        parts = sorted(f"o:{o.opening_id}:{o.version}" for o in self.openings)
        parts += sorted(f"s:{s.student_id}:{s.version}" for s in self.students)
        parts += sorted(f"t:{k}:{v}" for k, v in self.seats_taken.items())
        parts += sorted(f"d:{s}:{o}" for s, o in self.declined)
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Assignment:
    opening_id: str
    explanation: tuple[str, ...]


@dataclass(frozen=True)
class Change:
    """What one student's proposal becomes: withdraw the old, propose the new, or both."""

    student_id: str
    withdraw: Proposal | None
    propose: Proposal | None


def new_round_id() -> str:
    return f"rnd_{secrets.token_hex(8)}"


def fields_of(student: StudentMatchProfile, related: Mapping[str, frozenset[str]]) -> set[str]:
    """The career fields a student can be matched in: their own plus declared related ones."""
    fields = set(student.career_fields)
    for own in student.career_fields:
        fields |= related.get(own, frozenset())
    return fields


def changes_for(
    round_id: str,
    students: Iterable[StudentMatchProfile],
    openings: Mapping[str, OpeningSnapshot],
    current: Mapping[str, Proposal],
    assignments: Mapping[str, Assignment | None],
) -> list[Change]:
    """Only the differences: a kept pair publishes nothing; a moved student is withdrawn
    from the old opening and proposed the new one; nothing is ever proposed twice."""
    changes: list[Change] = []
    for student in students:
        sid = student.student_id
        before = current.get(sid)
        after = assignments.get(sid)
        if before is not None and after is not None and before.opening_id == after.opening_id:
            continue
        if before is None and after is None:
            continue
        proposal = None
        if after is not None:
            opening = openings[after.opening_id]
            proposal = Proposal(
                match_id=f"mat_{secrets.token_hex(8)}",
                round_id=round_id,
                student_id=sid,
                school_id=student.school_id,
                opening_id=opening.opening_id,
                employer_id=opening.employer_id,
                career_field=opening.career_field,
                explanation=after.explanation,
            )
        changes.append(Change(student_id=sid, withdraw=before, propose=proposal))
    return changes


@dataclass(frozen=True)
class RoundRecord:
    round_id: str
    seed: int
    fingerprint: str
    career_fields: tuple[str, ...]
    eligible: int
    matched: int
    unmatched: int
    proposed: int
    withdrawn: int


def solve_round(
    inputs: MatchingInputs, seed: int, related: Mapping[str, frozenset[str]]
) -> dict[str, Assignment | None]:
    """Interim career-field solver, replaced by the engine (wbl_matcher.engine)."""
    import random

    lottery = random.Random(seed)
    capacity = {
        o.opening_id: max(0, o.seats - inputs.seats_taken.get(o.opening_id, 0))
        for o in inputs.openings
    }
    by_field: dict[str, list[OpeningSnapshot]] = {}
    for o in sorted(inputs.openings, key=lambda o: o.opening_id):
        by_field.setdefault(o.career_field, []).append(o)
    result: dict[str, Assignment | None] = {}
    students = sorted(inputs.students, key=lambda s: s.student_id)
    lottery.shuffle(students)
    for s in students:
        result[s.student_id] = None
        for f in s.career_fields:
            for o in by_field.get(f, []):
                if (
                    capacity[o.opening_id] > 0
                    and (s.student_id, o.opening_id) not in inputs.declined
                ):
                    capacity[o.opening_id] -= 1
                    result[s.student_id] = Assignment(o.opening_id, (f"Career field {f} matches",))
                    break
            if result[s.student_id]:
                break
    return result
