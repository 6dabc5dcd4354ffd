"""The statewide outcomes report tries to hide small groups; these tests attack it by
subtraction, as the probe of issue 12 did, within a dimension and across dimensions that
share the one total (every active student counts once by program, career field and
school), and find no hidden figure."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.registry.builders import PLAN, person
from tests.unit.registry.conftest import ADMIN_TOKEN, bearer
from wbl_registry.domain import (
    MatchStatus,
    Outcome,
    OutcomeFacts,
    OutcomeRow,
    Student,
    outcomes,
    suppress_small_groups,
)
from wbl_registry.store import InMemoryRegistryStore

pytestmark = pytest.mark.unit

# Dimensions in which every active student is counted exactly once: their cells sum to the
# same total of students (and of placements).
PARTITIONS = ("program", "career_field", "school")
Cell = tuple[str, str]  # (dimension, group)
Figures = tuple[int, int]  # students, placed


def recover_by_subtraction(report: list[dict[str, Any]]) -> dict[Cell, Figures]:
    """Every hidden cell whose figures follow from the shown ones: the total from any
    partition dimension shown in full, then each partition dimension's lone hidden cell as
    the total less its shown cells."""
    by_dimension: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in report:
        by_dimension[row["dimension"]].append(row)
    totals = {
        (sum(r["students"] for r in rows), sum(r["placed"] for r in rows))
        for d, rows in by_dimension.items()
        if d in PARTITIONS and not any(r["suppressed"] for r in rows)
    }
    recovered: dict[Cell, Figures] = {}
    for total_students, total_placed in totals:
        for dimension in PARTITIONS:
            rows = by_dimension.get(dimension, [])
            hidden = [r for r in rows if r["suppressed"]]
            if len(hidden) != 1:
                continue
            shown = [r for r in rows if not r["suppressed"]]
            recovered[(dimension, hidden[0]["group"])] = (
                total_students - sum(r["students"] for r in shown),
                total_placed - sum(r["placed"] for r in shown),
            )
    return recovered


def published(rows: list[OutcomeRow]) -> list[dict[str, Any]]:
    return [
        {
            "dimension": r.dimension,
            "group": r.group,
            "students": None if r.suppressed else r.students,
            "placed": None if r.suppressed else r.placed,
            "suppressed": r.suppressed,
        }
        for r in rows
    ]


def enrol(store: InMemoryRegistryStore, school: str, count: int, placed: int, *flags: str) -> None:
    for n in range(count):
        student_id = f"stu_{school}_{n}"
        store.students[student_id] = Student(
            student_id, school, person(), PLAN, special_populations=flags
        )
        if n < placed:
            store.placements[student_id] = f"mat_{student_id}"
            store.outcomes[f"mat_{student_id}"] = Outcome(
                f"mat_{student_id}", MatchStatus.CONFIRMED, "coo_1"
            )


async def test_a_small_school_cannot_be_recovered_from_the_statewide_totals(
    http: httpx.AsyncClient, memory_store: InMemoryRegistryStore
) -> None:
    # The probe's case: a school of 3, none placed, all three the only students with
    # disabilities; every student in one program, so the program row gives the total.
    enrol(memory_store, "sch_big", 40, 20)
    enrol(memory_store, "sch_mid", 15, 9)
    enrol(memory_store, "sch_small", 3, 0, "students-with-disabilities")
    response = await http.get("/v1/reports/outcomes", headers=bearer(ADMIN_TOKEN))
    report = response.json()
    cells = {(r["dimension"], r["group"]): r for r in report}
    assert cells[("program", "stem-tech-academy")]["students"] == 58  # the total is public
    assert cells[("school", "sch_small")]["suppressed"]
    assert cells[("school", "sch_mid")]["suppressed"]  # its complement, the next smallest
    assert not cells[("school", "sch_big")]["suppressed"]
    assert recover_by_subtraction(report) == {}


def test_the_attack_recovers_a_lone_hidden_cell_from_a_shared_total() -> None:
    """The attack works where suppression is by cell alone (the report before issue 12)."""
    facts = [
        OutcomeFacts(f"s{n}", school, "p-tech", "robotics", (), True)
        for n, school in enumerate(["a"] * 12 + ["b"] * 11 + ["x"] * 3)
    ]
    rows = outcomes(facts, placed={"s0", "s1", "s12"})
    by_cell_alone = [replace(r, suppressed=r.students < 10) for r in rows]
    assert recover_by_subtraction(published(by_cell_alone)) == {("school", "x"): (3, 0)}
    assert recover_by_subtraction(published(suppress_small_groups(rows, 10))) == {}


GROUPS = {"program": ["p1", "p2", "p3"], "career_field": ["f1", "f2"], "school": list("abcdef")}
POPULATIONS = ["english-learners", "high-needs", "students-with-disabilities"]


@st.composite
def students(draw: st.DrawFn) -> list[tuple[OutcomeFacts, bool]]:
    count = draw(st.integers(0, 60))
    return [
        (
            OutcomeFacts(
                student_id=f"s{n}",
                school_id=draw(st.sampled_from(GROUPS["school"])),
                program=draw(st.sampled_from(GROUPS["program"])),
                career_field=draw(st.sampled_from(GROUPS["career_field"])),
                special_populations=tuple(draw(st.sets(st.sampled_from(POPULATIONS)))),
                active=draw(st.booleans()) or draw(st.booleans()),
            ),
            draw(st.booleans()),
        )
        for n in range(count)
    ]


@settings(max_examples=300, deadline=None)
@given(students(), st.integers(1, 12))
def test_no_hidden_cell_follows_from_the_shown_ones(
    cohort: list[tuple[OutcomeFacts, bool]], min_group: int
) -> None:
    facts = [f for f, _ in cohort]
    placed = {f.student_id for f, is_placed in cohort if is_placed}
    # Every group listed, as the reference data lists them: some stay empty (shown as 0).
    listed = {**GROUPS, "program": [*GROUPS["program"], "p-empty"]}
    listed["special_population"] = POPULATIONS
    rows = suppress_small_groups(outcomes(facts, placed, groups=listed), min_group)
    assert recover_by_subtraction(published(rows)) == {}
    by_dimension: dict[str, list[OutcomeRow]] = defaultdict(list)
    for row in rows:
        by_dimension[row.dimension].append(row)
    for dimension, cells in by_dimension.items():
        hidden = [r for r in cells if r.suppressed]
        # Each small group is hidden; a dimension hides none of its cells or two at least.
        assert all(r.suppressed for r in cells if 0 < r.students < min_group)
        assert len(hidden) != 1 or len(cells) == 1, dimension
