from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from wbl_matcher.domain import (
    Assignment,
    Ending,
    MatchingInputs,
    OfferHead,
    OfferReview,
    Proposal,
    changes_for,
    fields_of,
    free_pool,
    review_offers,
)
from wbl_schemas.events import OpeningSnapshot, Place, StudentMatchProfile

pytestmark = pytest.mark.unit

HOME = Place(town="Lowell", lat=42.64, lon=-71.31)
FAR = Place(town="Pittsfield", lat=42.45, lon=-73.25)


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


NOW = datetime(2027, 5, 1, 12, tzinfo=UTC)
LATER = NOW + timedelta(days=7)
NO_REVIEW = OfferReview({}, {})


def review(heads: dict[str, OfferHead], *students: StudentMatchProfile, **kw: Any) -> OfferReview:
    return review_offers(
        students or [student(sid) for sid in heads],
        kw.get("openings", OPENINGS),
        heads,
        kw.get("declined", frozenset()),
        {},
        expired_before=kw.get("now", NOW),
    )


def test_an_offer_holds_its_seat_and_its_student_leaves_the_pool() -> None:
    heads = {"s1": OfferHead(1, proposal("s1", "o1"))}
    found = review(heads)
    assert found.held == {"s1": proposal("s1", "o1")} and found.ending == {}
    inputs = MatchingInputs(
        tuple(OPENINGS.values()), (student("s1"), student("s2")), seats_taken={"o2": 1}
    )
    pool = free_pool(inputs, found)
    assert [s.student_id for s in pool.students] == ["s2"]
    assert pool.seats_taken == {"o1": 1, "o2": 1}


def test_a_new_pair_is_offered_once_until_its_expiry() -> None:
    [change] = changes_for(
        "rnd_2", [student("s1")], OPENINGS, {}, {"s1": Assignment("o2", ("x",))}, NO_REVIEW, LATER
    )
    assert change.withdraw is None
    assert change.propose is not None
    assert (change.propose.opening_id, change.propose.round_id) == ("o2", "rnd_2")
    assert change.propose.explanation == ("x",)
    assert change.propose.expires_at == LATER


def test_an_offer_of_a_closed_opening_ends_as_such_and_its_student_is_offered_again() -> None:
    old = proposal("s1", "o1")
    heads = {"s1": OfferHead(1, old)}
    found = review(heads, openings={"o2": OPENINGS["o2"]})
    assert found.ending == {"s1": (old, Ending.OPENING_CLOSED)}
    [change] = changes_for(
        "rnd_2", [student("s1")], OPENINGS, heads, {"s1": Assignment("o2", ())}, found, LATER
    )
    assert (change.withdraw, change.ending) == (old, Ending.OPENING_CLOSED)
    assert change.propose is not None and change.propose.opening_id == "o2"


def test_an_offer_the_student_no_longer_qualifies_for_ends_as_such() -> None:
    old = proposal("s1", "o1")
    moved_away = student("s1").model_copy(update={"max_commute_km": 0.0, "home": FAR})
    found = review({"s1": OfferHead(1, old)}, moved_away)
    assert found.ending == {"s1": (old, Ending.NO_LONGER_ELIGIBLE)}


def test_an_expired_offer_ends_and_its_pair_stays_apart() -> None:
    old = replace(proposal("s1", "o1"), expires_at=NOW)
    found = review({"s1": OfferHead(1, old)}, now=NOW - timedelta(seconds=1))
    assert found.held == {"s1": old}  # not yet (the grace is the caller's)
    found = review({"s1": OfferHead(1, old)}, now=NOW)
    assert found.ending == {"s1": (old, Ending.EXPIRED)}
    pool = free_pool(MatchingInputs(tuple(OPENINGS.values()), (student("s1"),)), found)
    assert [s.student_id for s in pool.students] == ["s1"]
    assert pool.declined == {("s1", "o1")} and pool.seats_taken == {}


def test_a_declined_offer_ends_without_an_announcement() -> None:
    old = proposal("s1", "o1")
    found = review({"s1": OfferHead(1, old)}, declined=frozenset({("s1", "o1")}))
    assert found.ending == {"s1": (old, Ending.DECLINED)}
    assert not Ending.DECLINED.announced and Ending.EXPIRED.announced


def test_an_unmatched_student_whose_offer_ended_has_it_withdrawn() -> None:
    old = proposal("s1", "o1")
    found = OfferReview({}, {"s1": (old, Ending.NO_LONGER_ELIGIBLE)})
    [change] = changes_for(
        "rnd_2", [student("s1")], OPENINGS, {"s1": OfferHead(1, old)}, {"s1": None}, found, LATER
    )
    assert (change.withdraw, change.propose, change.ending) == (
        old,
        None,
        Ending.NO_LONGER_ELIGIBLE,
    )


def test_related_fields_widen_a_students_partition() -> None:
    related = {"cybersecurity": frozenset({"programming-and-web-development"})}
    assert fields_of(student("s1"), related) == {"cybersecurity", "programming-and-web-development"}


def test_the_same_change_gets_the_same_match_id_wherever_it_is_computed() -> None:
    head = {"s1": OfferHead(3, proposal("s1", "o1"))}
    one, two = (
        changes_for(
            r, [student("s1")], OPENINGS, head, {"s1": Assignment("o2", ())}, NO_REVIEW, LATER
        )
        for r in ("rnd_a", "rnd_b")
    )
    assert one[0].propose is not None and two[0].propose is not None
    assert one[0].propose.match_id == two[0].propose.match_id
    assert one[0].version == 3
    # The same pair after the record moved on is another match.
    [later] = changes_for(
        "rnd_c",
        [student("s1")],
        OPENINGS,
        {"s1": OfferHead(5, None)},
        {"s1": Assignment("o2", ())},
        NO_REVIEW,
        LATER,
    )
    assert later.propose is not None and later.propose.match_id != one[0].propose.match_id
