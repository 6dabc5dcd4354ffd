"""Shared helpers: hypothesis strategies, brute force and the `matching` reference."""

from __future__ import annotations

import itertools
import warnings
from typing import Any

from hypothesis import strategies as st

from wbl_matcher.engine.stable import Instance, OpeningPrefs, StudentPrefs


@st.composite
def instances(draw: st.DrawFn, max_students: int = 8, max_openings: int = 5) -> Instance:
    """Small random instances, with unacceptable and one-sided pairs and zero capacities."""
    n = draw(st.integers(0, max_students))
    m = draw(st.integers(0, max_openings))
    student_ids = [f"s{i}" for i in range(n)]
    opening_ids = [f"o{j}" for j in range(m)]
    students = [
        StudentPrefs(sid, draw(st.permutations(opening_ids).flatmap(_prefix)))
        for sid in student_ids
    ]
    openings = [
        OpeningPrefs(
            oid, draw(st.integers(0, 3)), draw(st.permutations(student_ids).flatmap(_prefix))
        )
        for oid in opening_ids
    ]
    return Instance(students, openings)


def _prefix(values: list[str]) -> st.SearchStrategy[list[str]]:
    return st.integers(0, len(values)).map(lambda k: list(values[:k]))


def mutually_acceptable(instance: Instance, student: str, opening: str) -> bool:
    s = next(x for x in instance.students if x.id == student)
    o = next(x for x in instance.openings if x.id == opening)
    return opening in s.ranking and student in o.ranking


def brute_force_stable(instance: Instance) -> list[dict[str, str | None]]:
    """Every stable matching, by enumerating all assignments (tiny instances only)."""
    from wbl_matcher.engine.stable import blocking_pairs

    options: list[list[str | None]] = []
    for s in instance.students:
        acceptable: list[str | None] = [
            o for o in s.ranking if mutually_acceptable(instance, s.id, o)
        ]
        options.append([None, *acceptable])
    capacity = {o.id: o.capacity for o in instance.openings}
    stable: list[dict[str, str | None]] = []
    for combo in itertools.product(*options):
        used: dict[str, int] = {}
        for o in combo:
            if o is not None:
                used[o] = used.get(o, 0) + 1
        if any(used[o] > capacity[o] for o in used):
            continue
        assignment = {s.id: o for s, o in zip(instance.students, combo, strict=True)}
        if not blocking_pairs(instance, assignment):
            stable.append(assignment)
    return stable


def solve_with_matching_package(instance: Instance) -> dict[str, str | None]:
    """Resident-optimal HospitalResident solution of the `matching` package (1.4.3)."""
    from matching.games import HospitalResident

    capacity = {o.id: o.capacity for o in instance.openings if o.capacity > 0}
    ranks = {o.id: set(o.ranking) for o in instance.openings}
    resident_prefs: dict[str, list[str]] = {}
    for s in instance.students:
        prefs = [o for o in s.ranking if o in capacity and s.id in ranks[o]]
        if prefs:
            resident_prefs[s.id] = prefs
    hospital_prefs: dict[str, list[str]] = {}
    for o in instance.openings:
        if o.id not in capacity:
            continue
        prefs = [s for s in o.ranking if o.id in resident_prefs.get(s, ())]
        if prefs:
            hospital_prefs[o.id] = prefs
    result: dict[str, str | None] = {s.id: None for s in instance.students}
    if not resident_prefs:
        return result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        game: Any = HospitalResident.create_from_dictionaries(
            resident_prefs, hospital_prefs, {h: capacity[h] for h in hospital_prefs}
        )
        matching = game.solve(optimal="resident")
    for hospital, residents in matching.items():
        for resident in residents:
            result[resident.name] = hospital.name
    return result
