"""Deferred acceptance on explicit preference lists: stability, optimality, validation."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wbl_matcher.engine.generate import random_instance_document
from wbl_matcher.engine.stable import (
    Instance,
    InstanceError,
    OpeningPrefs,
    StudentPrefs,
    blocking_pairs,
    parse_instance,
    solve,
    solve_document,
)

from ._instances import (
    brute_force_stable,
    instances,
    mutually_acceptable,
    solve_with_matching_package,
)

pytestmark = pytest.mark.unit


def _rank(instance: Instance, student: str, opening: str | None) -> int:
    ranking = next(s.ranking for s in instance.students if s.id == student)
    return len(ranking) if opening is None else list(ranking).index(opening)


def test_contract_example() -> None:
    instance = parse_instance(
        {
            "students": [
                {"id": "s1", "ranking": ["o2", "o1"]},
                {"id": "s2", "ranking": ["o1"]},
                {"id": "s3", "ranking": ["o1", "o2"]},
            ],
            "openings": [
                {"id": "o1", "capacity": 1, "ranking": ["s1", "s3", "s2"]},
                {"id": "o2", "capacity": 1, "ranking": ["s3", "s1"]},
            ],
        }
    )
    # s1 holds o2; s3 displaces s2 at o1 (o1 prefers s3), and s2 has nowhere else to go.
    assert solve(instance).assignments == {"s1": "o2", "s2": None, "s3": "o1"}


def test_student_optimal_not_opening_optimal() -> None:
    # Two stable matchings exist; students get their first choices in the one we return.
    instance = Instance(
        [StudentPrefs("a", ["x", "y"]), StudentPrefs("b", ["y", "x"])],
        [OpeningPrefs("x", 1, ["b", "a"]), OpeningPrefs("y", 1, ["a", "b"])],
    )
    assert solve(instance).assignments == {"a": "x", "b": "y"}


def test_one_sided_ranking_is_not_acceptable() -> None:
    instance = Instance(
        [StudentPrefs("a", ["x"]), StudentPrefs("b", [])],
        [OpeningPrefs("x", 2, ["b"])],
    )
    assert solve(instance).assignments == {"a": None, "b": None}


def test_zero_capacity_takes_nobody() -> None:
    instance = Instance([StudentPrefs("a", ["x"])], [OpeningPrefs("x", 0, ["a"])])
    assert solve(instance).assignments == {"a": None}


def test_displaced_student_moves_down_their_list() -> None:
    instance = Instance(
        [StudentPrefs("a", ["x", "y"]), StudentPrefs("b", ["x"])],
        [OpeningPrefs("x", 1, ["b", "a"]), OpeningPrefs("y", 1, ["a"])],
    )
    assert solve(instance).assignments == {"a": "y", "b": "x"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_result_is_stable_within_capacity_and_acceptable(instance: Instance) -> None:
    assignments = solve(instance).assignments
    assert set(assignments) == {s.id for s in instance.students}
    capacity = {o.id: o.capacity for o in instance.openings}
    load: dict[str, int] = {}
    for student, opening in assignments.items():
        if opening is not None:
            assert mutually_acceptable(instance, student, opening)
            load[opening] = load.get(opening, 0) + 1
    assert all(load[o] <= capacity[o] for o in load)
    assert blocking_pairs(instance, assignments) == []


@settings(max_examples=200, deadline=None)
@given(instances(max_students=4, max_openings=3))
def test_equals_brute_force_student_optimal(instance: Instance) -> None:
    stable = brute_force_stable(instance)
    assert stable, "a stable matching always exists"
    ours = solve(instance).assignments
    assert ours in stable
    for student in ours:
        best = min(_rank(instance, student, m[student]) for m in stable)
        assert _rank(instance, student, ours[student]) == best


@settings(max_examples=150, deadline=None)
@given(instances(max_students=12, max_openings=6))
def test_equals_matching_package(instance: Instance) -> None:
    assert solve(instance).assignments == solve_with_matching_package(instance)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_equals_matching_package_on_generated_instances(seed: int) -> None:
    instance = parse_instance(
        random_instance_document(students=150, openings=30, fields=3, choices=6, seed=seed)
    )
    assert solve(instance).assignments == solve_with_matching_package(instance)


@settings(max_examples=100, deadline=None)
@given(instances())
def test_solve_document_equals_solve(instance: Instance) -> None:
    document = {
        "students": [{"id": s.id, "ranking": list(s.ranking)} for s in instance.students],
        "openings": [
            {"id": o.id, "capacity": o.capacity, "ranking": list(o.ranking)}
            for o in instance.openings
        ],
    }
    assert solve_document(document) == solve(instance)


@settings(max_examples=100, deadline=None)
@given(instances(), st.randoms(use_true_random=False))
def test_input_order_does_not_matter(instance: Instance, rng: random.Random) -> None:
    students = list(instance.students)
    openings = list(instance.openings)
    rng.shuffle(students)
    rng.shuffle(openings)
    assert solve(Instance(students, openings)).assignments == solve(instance).assignments


def test_blocking_pairs_detects_an_unstable_assignment() -> None:
    instance = Instance([StudentPrefs("a", ["x"])], [OpeningPrefs("x", 1, ["a"])])
    assert blocking_pairs(instance, {"a": None}) == [("a", "x")]


def test_generated_statewide_shape_is_stable() -> None:
    instance = parse_instance(
        random_instance_document(students=3000, openings=600, fields=8, choices=10, seed=5)
    )
    assert blocking_pairs(instance, solve(instance).assignments) == []


# ----------------------------------------------------------------------------- validation


def _document(**changes: object) -> dict[str, object]:
    document: dict[str, object] = {
        "students": [{"id": "s1", "ranking": ["o1"]}, {"id": "s2", "ranking": []}],
        "openings": [{"id": "o1", "capacity": 1, "ranking": ["s1", "s2"]}],
    }
    document.update(changes)
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "instance must be a JSON object"),
        ({"students": []}, "missing field 'openings'"),
        (_document(students={"s1": []}), "'students' must be a list"),
        (_document(students=[{"ranking": []}]), "students[0]: missing field 'id'"),
        (_document(students=[{"id": 7, "ranking": []}]), "'id' must be a string"),
        (_document(students=[{"id": "s1"}]), "students[0]: missing field 'ranking'"),
        (_document(students=[{"id": "s1", "ranking": "o1"}]), "'ranking' must be a list"),
        (_document(students=["s1"]), "students[0] must be an object"),
        (_document(openings=[{"id": "o1", "ranking": []}]), "missing field 'capacity'"),
        (
            _document(openings=[{"id": "o1", "capacity": "2", "ranking": []}]),
            "opening 'o1': capacity must be an integer",
        ),
        (
            _document(openings=[{"id": "o1", "capacity": True, "ranking": []}]),
            "capacity must be an integer",
        ),
        (
            _document(openings=[{"id": "o1", "capacity": 1.5, "ranking": []}]),
            "capacity must be an integer",
        ),
    ],
)
def test_parse_rejects_malformed_documents(document: object, message: str) -> None:
    with pytest.raises(InstanceError) as caught:
        solve(parse_instance(document))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    with pytest.raises(InstanceError) as again:
        solve_document(document)
    assert str(again.value) == str(caught.value)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            _document(students=[{"id": "s1", "ranking": ["o9"]}]),
            "student 's1' ranks unknown opening 'o9'",
        ),
        (
            _document(openings=[{"id": "o1", "capacity": 1, "ranking": ["s1", "s7"]}]),
            "opening 'o1' ranks unknown student 's7'",
        ),
        (
            _document(students=[{"id": "s1", "ranking": []}, {"id": "s1", "ranking": []}]),
            "duplicate student id 's1'",
        ),
        (
            _document(
                openings=[
                    {"id": "o1", "capacity": 1, "ranking": []},
                    {"id": "o1", "capacity": 2, "ranking": []},
                ]
            ),
            "duplicate opening id 'o1'",
        ),
        (
            _document(students=[{"id": "s1", "ranking": ["o1", "o1"]}]),
            "student 's1' ranks opening 'o1' more than once",
        ),
        (
            _document(openings=[{"id": "o1", "capacity": 1, "ranking": ["s1", "s2", "s1"]}]),
            "opening 'o1' ranks student 's1' more than once",
        ),
        (
            _document(openings=[{"id": "o1", "capacity": -1, "ranking": []}]),
            "opening 'o1': capacity must be >= 0, got -1",
        ),
        (
            _document(students=[{"id": "s1", "ranking": [3]}]),
            "student 's1': ranking entries must be opening ids (strings), got 3",
        ),
        (
            _document(students=[{"id": "s1", "ranking": [["o1"]]}]),
            "student 's1': ranking entries must be opening ids (strings), got ['o1']",
        ),
        (
            _document(openings=[{"id": "o1", "capacity": 1, "ranking": [None]}]),
            "opening 'o1': ranking entries must be student ids (strings), got None",
        ),
    ],
)
def test_solve_rejects_bad_references(document: object, message: str) -> None:
    with pytest.raises(InstanceError) as caught:
        solve(parse_instance(document))
    assert str(caught.value) == message
    with pytest.raises(InstanceError) as again:
        solve_document(document)
    assert str(again.value) == message


def test_instance_error_is_a_value_error() -> None:
    assert issubclass(InstanceError, ValueError)
