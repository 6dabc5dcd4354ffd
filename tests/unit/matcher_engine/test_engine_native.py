"""The C solvers (wbl_match_core) against the Python ones, which define the results.

On ids (``solve``) and on indices (``deferred_acceptance``, the profile-mode rounds'),
each must give the same assignment and work count on every well-formed instance, and
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

from wbl_matcher.engine import acceptance
from wbl_matcher.engine.acceptance import (
    Columns,
    InstanceError,
    columns_of_document,
    deferred_acceptance_in_python,
    native_deferred_acceptance,
    native_solve,
    solve_columns,
    solve_columns_in_python,
)
from wbl_matcher.engine.generate import random_instance_document, random_profiles
from wbl_matcher.engine.rounds import propose_matches
from wbl_matcher.engine.stable import Instance, parse_instance

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


# --------------------------------------------------------------------------- on indices


def _indices(instance: Instance) -> tuple[list[list[int]], list[list[int]], list[int]]:
    """(student choices, opening rankings, capacities) as indices, as rounds.py builds them."""
    student_at = {s.id: i for i, s in enumerate(instance.students)}
    opening_at = {o.id: j for j, o in enumerate(instance.openings)}
    choices = [[opening_at[o] for o in s.ranking] for s in instance.students]
    ranked = [[student_at[s] for s in o.ranking] for o in instance.openings]
    return choices, ranked, [o.capacity for o in instance.openings]


def _in_python(
    choices: list[list[int]], ranked: list[list[int]], capacities: list[int]
) -> tuple[list[int], int]:
    negative_rank_of = [{s: -r for r, s in enumerate(group)} for group in ranked]
    return deferred_acceptance_in_python(choices, negative_rank_of, ranked, capacities)


@needs_native
@settings(max_examples=400, deadline=None)
@given(instances(max_students=10, max_openings=6))
def test_indices_equal_python_on_small_instances(instance: Instance) -> None:
    assert native_deferred_acceptance is not None
    choices, ranked, capacities = _indices(instance)
    assert native_deferred_acceptance(choices, ranked, capacities) == _in_python(
        choices, ranked, capacities
    )


@needs_native
def test_indices_equal_python_on_a_generated_instance() -> None:
    assert native_deferred_acceptance is not None
    document = random_instance_document(students=3_000, openings=600, fields=5, seed=6)
    choices, ranked, capacities = _indices(parse_instance(document))
    solved = native_deferred_acceptance(choices, ranked, capacities)
    assert solved is not None
    assert solved == _in_python(choices, ranked, capacities)


@needs_native
@pytest.mark.parametrize(
    ("choices", "ranked", "capacities"),
    [
        ([[1]], [[0]], [1]),  # opening index out of range
        ([[0]], [[1]], [1]),  # student index out of range
        ([[-1]], [[0]], [1]),  # negative index
        ([[0, 0]], [[0]], [1]),  # an opening chosen twice
        ([[0]], [[0, 0]], [1]),  # a student ranked twice
        ([[True]], [[0]], [1]),  # a bool is not an index
        ([[0]], [[0]], [1, 1]),  # a capacity per opening
        ([[0]], [[0]], [-1]),
        (((0,),), [[0]], [1]),  # not a list
    ],
)
def test_indices_declined(choices: Any, ranked: Any, capacities: Any) -> None:
    assert native_deferred_acceptance is not None
    assert native_deferred_acceptance(choices, ranked, capacities) is None


def test_rounds_give_the_same_round_with_and_without_the_c_solver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    openings, students, related = random_profiles(students=500, openings=120, fields=4, seed=8)
    with_c = propose_matches(openings, students, seed=3, related_fields=related)
    monkeypatch.setattr(acceptance, "native_deferred_acceptance", None)
    in_python = propose_matches(openings, students, seed=3, related_fields=related)
    assert with_c == in_python
    assert with_c.assignments and any(with_c.assignments.values())
