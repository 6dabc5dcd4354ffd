"""The C solver (wbl_match_core) against the Python one, which defines the results.

It must give the same assignment and work count on every well-formed instance, and
decline (return None) every input the Python solver would reject, so that errors are
always Python's. Skipped where the extension was not built (no C compiler at install),
unless WBL_REQUIRE_NATIVE_SOLVER is set, as CI sets it.
"""

from __future__ import annotations

import os
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wbl_matcher.engine.acceptance import (
    Columns,
    InstanceError,
    columns_of_document,
    native_solve,
    solve_columns,
    solve_columns_in_python,
)
from wbl_matcher.engine.generate import random_instance_document
from wbl_matcher.engine.stable import Instance

from ._instances import instances

pytestmark = pytest.mark.unit

if native_solve is None and os.environ.get("WBL_REQUIRE_NATIVE_SOLVER"):
    pytest.fail(
        "WBL_REQUIRE_NATIVE_SOLVER is set but wbl_match_core._core was not built "
        "(is a C compiler installed? run uv sync again)",
        pytrace=False,
    )
needs_native = pytest.mark.skipif(
    native_solve is None, reason="the C solver was not built here (no C compiler at install)"
)


def _columns(instance: Instance) -> Columns:
    return Columns(
        [s.id for s in instance.students],
        [list(s.ranking) for s in instance.students],
        [o.id for o in instance.openings],
        [o.capacity for o in instance.openings],
        [list(o.ranking) for o in instance.openings],
    )


def _native(columns: Columns) -> tuple[dict[str, str | None], int] | None:
    assert native_solve is not None
    return native_solve(
        columns.student_ids,
        columns.student_rankings,
        columns.opening_ids,
        columns.capacities,
        columns.opening_rankings,
    )


@needs_native
@settings(max_examples=400, deadline=None)
@given(instances(max_students=10, max_openings=6))
def test_equals_python_on_small_instances(instance: Instance) -> None:
    columns = _columns(instance)
    assert _native(columns) == solve_columns_in_python(columns)


@needs_native
@pytest.mark.parametrize(
    ("students", "openings", "fields", "seed"),
    [(1_000, 200, 1, 1), (5_000, 1_000, 1, 2), (3_000, 600, 20, 3), (400, 400, 1, 4)],
)
def test_equals_python_on_generated_instances(
    students: int, openings: int, fields: int, seed: int
) -> None:
    document = random_instance_document(
        students=students, openings=openings, fields=fields, choices=10, seed=seed
    )
    columns = columns_of_document(document)
    native = _native(columns)
    assert native is not None
    assert native == solve_columns_in_python(columns)


@needs_native
def test_tuples_as_rankings_are_solved() -> None:
    columns = Columns(["s1", "s2"], [("o1",), ("o1",)], ["o1"], [1], [("s2", "s1")])
    assert _native(columns) == ({"s1": None, "s2": "o1"}, 2)


@needs_native
def test_a_huge_capacity_is_the_length_of_the_ranking() -> None:
    columns = Columns(["s1", "s2"], [["o1"], ["o1"]], ["o1"], [10**30], [["s1", "s2"]])
    assert _native(columns) == ({"s1": "o1", "s2": "o1"}, 2)
    assert solve_columns_in_python(columns) == ({"s1": "o1", "s2": "o1"}, 2)


class _Id(str):
    """Equal to a plain id, but not an exact str: the C solver declines it."""


def _faulty(columns: Columns, fault: str) -> Columns:
    """``columns`` with one defect of the kind ``fault``."""
    students: list[list[object]] = [list(r) for r in columns.student_rankings]
    openings: list[list[object]] = [list(r) for r in columns.opening_rankings]
    student_ids, opening_ids = list(columns.student_ids), list(columns.opening_ids)
    if fault == "unknown opening":
        students[0].append("nowhere")
    elif fault == "unknown student":
        openings[0].append("nobody")
    elif fault == "opening ranked twice":
        students[0] += [opening_ids[0], opening_ids[0]]
    elif fault == "student ranked twice":
        openings[0] += [student_ids[0], student_ids[0]]
    elif fault == "duplicate student id":
        student_ids.append(student_ids[0])
        students.append([])
    elif fault == "duplicate opening id":
        opening_ids.append(opening_ids[0])
        openings.append([])
    elif fault == "non-string entry":
        students[0].append(7)
    elif fault == "str subclass entry":
        openings[0] = [_Id(s) for s in openings[0]] or [_Id(student_ids[0])]
    capacities = list(columns.capacities) + [1] * (len(opening_ids) - len(columns.capacities))
    return Columns(student_ids, cast(Any, students), opening_ids, capacities, cast(Any, openings))


FAULTS = [
    "unknown opening",
    "unknown student",
    "opening ranked twice",
    "student ranked twice",
    "duplicate student id",
    "duplicate opening id",
    "non-string entry",
    "str subclass entry",
]


@needs_native
@settings(max_examples=300, deadline=None)
@given(instances(max_students=6, max_openings=4), st.sampled_from(FAULTS))
def test_declines_what_python_rejects_and_python_then_decides(
    instance: Instance, fault: str
) -> None:
    if not instance.students or not instance.openings:
        return
    columns = _faulty(_columns(instance), fault)
    assert _native(columns) is None
    try:
        expected: object = solve_columns_in_python(columns)
    except InstanceError as error:
        expected = str(error)
    try:
        got: object = solve_columns(columns)
    except InstanceError as error:
        got = str(error)
    assert got == expected
    if fault != "str subclass entry":  # equal to a real id, so Python accepts it
        assert isinstance(got, str)


@needs_native
def test_declines_columns_that_are_not_lists() -> None:
    assert native_solve is not None
    assert native_solve(["s1"], [["o1"]], ["o1"], [True], [["s1"]]) is None  # bool capacity
    assert native_solve(["s1"], [iter(["o1"])], ["o1"], [1], [["s1"]]) is None  # type: ignore[list-item]
    assert native_solve(("s1",), [["o1"]], ["o1"], [1], [["s1"]]) is None  # type: ignore[arg-type]
    assert native_solve(["s1"], [["o1"]], ["o1"], [1, 2], [["s1"]]) is None  # lengths differ
    assert native_solve(["s1"], [["o1"]], ["o1"], [-1], [["s1"]]) is None


@needs_native
def test_empty_instance() -> None:
    assert native_solve is not None
    assert native_solve([], [], [], [], []) == ({}, 0)


def test_solve_columns_uses_the_c_solver_when_built() -> None:
    columns = columns_of_document(random_instance_document(students=50, openings=10, seed=5))
    expected = solve_columns_in_python(columns)
    assert solve_columns(columns) == expected
    if native_solve is not None:
        assert _native(columns) == expected
