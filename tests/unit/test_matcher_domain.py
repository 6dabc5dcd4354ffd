from __future__ import annotations

from datetime import date

import pytest

from wbl_matcher.domain import Assignment, OfferHead, Proposal, changes_for, fields_of
from wbl_schemas.events import OpeningSnapshot, Place, StudentMatchProfile

pytestmark = pytest.mark.unit

HOME = Place(town="Lowell", lat=42.64, lon=-71.31)


def opening(opening_id: str, field: str = "cybersecurity") -> OpeningSnapshot:
    return OpeningSnapshot(
        opening_id=opening_id,
        employer_id="emp_1",
        version=1,
        title="Intern",
        career_field=field,
        seats=1,
        seats_remaining=1,
        location=HOME,
        starts_on=date(2027, 6, 1),
        ends_on=date(2027, 8, 1),
        hours_per_week=20,
        paid=True,
        min_age=16,
    )


def student(student_id: str, fields: tuple[str, ...] = ("cybersecurity",)) -> StudentMatchProfile:
    return StudentMatchProfile(
        student_id=student_id,
        school_id="sch_1",
        version=1,
        program="p-tech",
        career_fields=fields,
        grade=11,
        age_band="16-17",
        home=HOME,
        max_commute_km=30,
        available_from=date(2027, 6, 1),
        available_to=date(2027, 8, 1),
        hours_per_week=20,
    )


def proposal(student_id: str, opening_id: str) -> Proposal:
    return Proposal("mat_old", "rnd_old", student_id, "sch_1", opening_id, "emp_1", "cybersecurity")


OPENINGS = {o.opening_id: o for o in (opening("o1"), opening("o2"))}


def test_a_kept_pair_publishes_nothing() -> None:
    changes = changes_for(
        "rnd_2",
        [student("s1")],
        OPENINGS,
        {"s1": OfferHead(1, proposal("s1", "o1"))},
        {"s1": Assignment("o1", ())},
    )
    assert changes == []


def test_a_new_pair_is_proposed_once() -> None:
    [change] = changes_for("rnd_2", [student("s1")], OPENINGS, {}, {"s1": Assignment("o2", ("x",))})
    assert change.withdraw is None
    assert change.propose is not None
    assert (change.propose.opening_id, change.propose.round_id) == ("o2", "rnd_2")
    assert change.propose.explanation == ("x",)


def test_a_moved_student_is_withdrawn_and_proposed_again() -> None:
    old = proposal("s1", "o1")
    [change] = changes_for(
        "rnd_2", [student("s1")], OPENINGS, {"s1": OfferHead(1, old)}, {"s1": Assignment("o2", ())}
    )
    assert change.withdraw == old
    assert change.propose is not None and change.propose.opening_id == "o2"


def test_an_unmatched_student_loses_their_proposal() -> None:
    old = proposal("s1", "o1")
    [change] = changes_for(
        "rnd_2", [student("s1")], OPENINGS, {"s1": OfferHead(1, old)}, {"s1": None}
    )
    assert (change.withdraw, change.propose) == (old, None)


def test_related_fields_widen_a_students_partition() -> None:
    related = {"cybersecurity": frozenset({"programming-and-web-development"})}
    assert fields_of(student("s1"), related) == {"cybersecurity", "programming-and-web-development"}


def test_the_same_change_gets_the_same_match_id_wherever_it_is_computed() -> None:
    head = {"s1": OfferHead(3, proposal("s1", "o1"))}
    one, two = (
        changes_for(r, [student("s1")], OPENINGS, head, {"s1": Assignment("o2", ())})
        for r in ("rnd_a", "rnd_b")
    )
    assert one[0].propose is not None and two[0].propose is not None
    assert one[0].propose.match_id == two[0].propose.match_id
    assert one[0].version == 3
    # The same pair after the record moved on is another match.
    [later] = changes_for(
        "rnd_c", [student("s1")], OPENINGS, {"s1": OfferHead(5, None)}, {"s1": Assignment("o2", ())}
    )
    assert later.propose is not None and later.propose.match_id != one[0].propose.match_id
