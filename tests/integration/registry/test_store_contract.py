"""One contract, two stores: the in-memory fake behaves as the MongoDB store on FerretDB."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from tests.support import contract_store
from tests.unit.registry.builders import TERMS, application, proposed
from wbl_common.mongo import Document
from wbl_registry.domain import (
    PLACED_ELSEWHERE,
    Coordinator,
    Decision,
    DecisionKind,
    Employer,
    Match,
    MatchStatus,
    Opening,
    Outcome,
    Student,
    close_opening,
    enrol_student,
    revoke_key,
    rotate_key,
    withdraw_student,
)
from wbl_registry.store import (
    AlreadyRegistered,
    InMemoryRegistryStore,
    MongoRegistryStore,
    RegistryStore,
    SeatTaken,
)
from wbl_schemas.events import (
    CoordinatorRegistered,
    NotificationChannels,
    OpeningPublished,
    PlacementConfirmed,
    PlacementDecision,
    StudentRegistered,
)

pytestmark = pytest.mark.integration


@pytest.fixture(params=["memory", "mongo"])
async def store(request: pytest.FixtureRequest, db: AsyncDatabase[Document]) -> RegistryStore:
    return await contract_store(
        request.param, InMemoryRegistryStore, lambda: MongoRegistryStore(db)
    )


def new_student(school_id: str = "sch_1") -> tuple[Student, StudentRegistered]:
    a = application(school_id)
    student = enrol_student(a.school_id, a.person, a.plan, ("high-needs",))
    return student, StudentRegistered(producer="test", payload=student.match_profile())


async def new_opening(store: RegistryStore, seats: int, employer_id: str = "emp_1") -> Opening:
    opening = Opening(
        id=f"opn_{seats}_{employer_id}",
        employer_id=employer_id,
        terms=replace(TERMS, seats=seats),
        seats_remaining=seats,
    )
    await store.add_opening(opening, OpeningPublished(producer="test", payload=opening.snapshot()))
    return opening


def match_of(student_id: str, opening_id: str, school_id: str = "sch_1") -> Match:
    p = proposed(student_id, school_id, opening_id, "emp_1").payload
    return Match(
        id=p.match_id,
        round_id=p.round_id,
        student_id=p.student_id,
        school_id=p.school_id,
        opening_id=p.opening_id,
        employer_id=p.employer_id,
        career_field=p.career_field,
        status=MatchStatus.PROPOSED,
    )


async def test_employers_by_key_hash_and_saved_changes(store: RegistryStore) -> None:
    employer = Employer(id="emp_1", name="Acme", key_hash="h1")
    await store.add_employer(employer)
    assert await store.employer_by_key_hash("h1") == employer
    assert await store.replace_employer(revoke_key(employer))
    assert not await store.replace_employer(revoke_key(employer))  # stale: version 2 is stored
    assert (await store.employer("emp_1")) == replace(employer, status="revoked", version=2)
    assert await store.employer_by_key_hash("nope") is None
    rotated = replace(rotate_key(revoke_key(employer), "h2"), version=3)
    assert await store.replace_employer(rotated)
    assert await store.employer_by_key_hash("h2") == rotated
    assert await store.employer_by_key_hash("h1") is None  # the old key stops at once


async def test_coordinators_replace_only_from_the_stored_version(store: RegistryStore) -> None:
    coordinator = Coordinator("coo_1", "Dana", ("sch_1",), NotificationChannels(), "t1")
    event = CoordinatorRegistered(producer="test", payload=coordinator.profile())
    await store.add_coordinator(coordinator, event)
    assert await store.coordinator_by_token_hash("t1") == coordinator
    revised = replace(coordinator, school_ids=("sch_1", "sch_2"), version=2)
    assert await store.replace_coordinator(revised, event)
    assert not await store.replace_coordinator(revised, event)  # stale: version 1 is gone
    assert await store.coordinators_by_id(["coo_1", "coo_x"]) == [revised]


async def test_openings_list_filter_and_page(store: RegistryStore) -> None:
    for seats in (1, 2, 3):
        await new_opening(store, seats)
    other = await new_opening(store, 1, employer_id="emp_2")
    first = await store.opening("opn_1_emp_1")
    assert first is not None
    closed = close_opening(first)
    assert await store.replace_opening(
        closed, OpeningPublished(producer="t", payload=closed.snapshot())
    )
    assert [o.id for o in await store.openings_of("emp_1", None, None, 0, 2)] == [
        "opn_1_emp_1",
        "opn_2_emp_1",
    ]
    assert [o.id for o in await store.openings_of("emp_1", "open", None, 0, 10)] == [
        "opn_2_emp_1",
        "opn_3_emp_1",
    ]
    assert await store.openings_of("emp_1", None, "cybersecurity", 0, 10) == []
    assert [o.id for o in await store.openings_of("emp_2", None, None, 0, 10)] == [other.id]
    assert await store.count_openings_of("emp_1", None, None) == 3
    assert await store.count_openings_of("emp_1", "open", None) == 2
    assert await store.count_openings_of("emp_1", None, "cybersecurity") == 0


async def test_a_seat_is_taken_once_per_match_and_never_below_zero(store: RegistryStore) -> None:
    opening = await new_opening(store, 1)
    assert await store.take_seat(opening.id, "mat_a") == SeatTaken.TAKEN
    assert await store.take_seat(opening.id, "mat_a") == SeatTaken.ALREADY
    assert await store.take_seat(opening.id, "mat_b") == SeatTaken.NONE
    stored = await store.opening(opening.id)
    assert stored is not None
    assert (stored.seats_remaining, stored.seat_holders) == (0, ("mat_a",))
    assert await store.take_seat("opn_missing", "mat_a") == SeatTaken.NONE


async def test_a_closed_opening_gives_no_seat(store: RegistryStore) -> None:
    opening = await new_opening(store, 2)
    closed = close_opening(opening)
    assert await store.replace_opening(
        closed, OpeningPublished(producer="t", payload=closed.snapshot())
    )
    assert await store.take_seat(opening.id, "mat_a") == SeatTaken.NONE


async def test_students_are_unique_by_school_and_email(store: RegistryStore) -> None:
    student, event = new_student()
    await store.add_student(student, event)
    twin = replace(student, id="stu_twin")
    with pytest.raises(AlreadyRegistered):
        await store.add_student(twin, event)
    elsewhere = replace(twin, id="stu_elsewhere", school_id="sch_2")
    fresh, fresh_event = new_student()
    failed = await store.add_students(
        [(elsewhere, event), (replace(twin, id="stu_t2"), event), (fresh, fresh_event)]
    )
    assert list(failed) == [1]
    assert {
        s.id for s in await store.students_by_id([student.id, elsewhere.id, fresh.id, "stu_t2"])
    } == {student.id, elsewhere.id, fresh.id}


async def test_students_replace_list_and_report_facts(store: RegistryStore) -> None:
    student, event = new_student()
    other, other_event = new_student("sch_2")
    await store.add_students([(student, event), (other, other_event)])
    gone = withdraw_student(student)
    assert await store.replace_student(gone, event)
    assert not await store.replace_student(gone, event)
    assert [s.id for s in await store.students_of(["sch_1"], "withdrawn", 0, 10)] == [student.id]
    assert await store.students_of(["sch_1"], "active", 0, 10) == []
    assert await store.count_students_of(["sch_1"], "withdrawn") == 1
    assert await store.count_students_of(["sch_1"], "active") == 0
    assert await store.student_by_email(student.school_id, student.person.email.upper()) == gone
    assert await store.student_by_email("sch_elsewhere", student.person.email) is None
    facts = {f.student_id: f for f in await store.outcome_facts(None)}
    assert facts[student.id].active is False and facts[other.id].active is True
    assert facts[other.id].special_populations == ("high-needs",)
    assert (facts[other.id].available_from, facts[other.id].available_to) == (
        other.plan.available_from,
        other.plan.available_to,
    )
    assert [f.student_id for f in await store.outcome_facts(["sch_2"])] == [other.id]


async def test_students_with_an_offer_awaiting_a_decision(store: RegistryStore) -> None:
    now = datetime(2026, 12, 2, 16, 0, tzinfo=UTC)
    waiting = replace(match_of("stu_1", "opn_1"), expires_at=now + timedelta(days=2))
    lapsed = replace(match_of("stu_2", "opn_1"), expires_at=now - timedelta(seconds=1))
    open_ended = match_of("stu_3", "opn_1", "sch_2")  # no deadline
    withdrawn = match_of("stu_4", "opn_1")
    placed = match_of("stu_5", "opn_1")
    await store.save_proposals([waiting, lapsed, open_ended, withdrawn, placed])
    await store.record_withdrawals([(withdrawn.id, "the opening closed")])
    await store.claim_placement("stu_5", placed.id, "opn_1")
    event = PlacementConfirmed(producer="test", payload=decision_of(placed))
    await store.record_outcome(Outcome(placed.id, MatchStatus.CONFIRMED, "coo_1"), event)
    assert await store.offered_students(None, now) == {"stu_1", "stu_3"}
    assert await store.offered_students(["sch_1"], now) == {"stu_1"}
    assert await store.offered_students(["sch_9"], now) == set()


async def test_a_match_keeps_its_offer_deadline(store: RegistryStore) -> None:
    deadline = datetime(2027, 5, 8, 12, 30, 15, 123000, tzinfo=UTC)
    match = replace(match_of("stu_9", "opn_9"), expires_at=deadline)
    assert await store.save_proposals([match]) == 1
    stored = await store.match(match.id)
    assert stored is not None and stored.expires_at == deadline
    assert stored.expires_at.utcoffset() == timedelta(0)


async def test_a_match_status_follows_its_facts(store: RegistryStore) -> None:
    match = match_of("stu_1", "opn_1")
    assert await store.save_proposals([match]) == 1
    assert await store.save_proposals([match]) == 0
    assert (await store.match(match.id)) == match
    confirm = Decision(match.id, DecisionKind.CONFIRM, "coo_1", "ok")
    assert await store.claim_decision(confirm) == confirm
    assert await store.claim_placement("stu_1", match.id, "opn_1") == match.id
    # A withdrawal during the decision is kept; the carried-out decision stands over it.
    assert await store.record_withdrawals([(match.id, "the opening closed")]) == 1
    assert await store.record_withdrawals([(match.id, "again")]) == 0
    assert await store.placed_students(None) == set()  # not carried out yet
    outcome = Outcome(match.id, MatchStatus.CONFIRMED, "coo_1", "ok")
    event = PlacementConfirmed(producer="test", payload=decision_of(match))
    await store.record_outcome(outcome, event)
    await store.record_outcome(outcome, event)  # a repeat writes nothing more
    confirmed = replace(match, status=MatchStatus.CONFIRMED, decided_by="coo_1", note="ok")
    assert await store.match(match.id) == confirmed
    assert await store.placed_students(None) == {"stu_1"}
    assert await store.placed_students(["sch_2"]) == set()
    assert await store.matches_of_schools(["sch_1"], "confirmed", 0, 10) == [confirmed]
    assert await store.matches_of_employer("emp_1", "proposed", 0, 10) == []
    assert await store.matches_of_employer("emp_1", None, 0, 10) == [confirmed]
    assert await store.count_matches_of_schools(["sch_1"], "confirmed") == 1
    assert await store.count_matches_of_employer("emp_1", "proposed") == 0
    assert await store.count_matches_of_employer("emp_1", None) == 1
    # Another match of the placed student reads as withdrawn, and cannot be placed.
    other = match_of("stu_1", "opn_2")
    await store.save_proposals([other])
    found = await store.match(other.id)
    assert found is not None and (found.status, found.note) == (
        MatchStatus.WITHDRAWN,
        PLACED_ELSEWHERE,
    )
    assert await store.claim_placement("stu_1", other.id, "opn_2") == match.id


async def test_a_withdrawn_match_without_a_decision_is_withdrawn(store: RegistryStore) -> None:
    match = match_of("stu_1", "opn_1")
    await store.save_proposals([match])
    await store.record_withdrawals([(match.id, "moved to another opening")])
    found = await store.match(match.id)
    assert found is not None
    assert (found.status, found.note) == (MatchStatus.WITHDRAWN, "moved to another opening")


async def test_proposals_saved_as_a_batch_are_kept_once(store: RegistryStore) -> None:
    batch = [match_of(f"stu_{i}", "opn_1") for i in range(120)]
    assert await store.save_proposals(batch[:70]) == 70
    assert await store.save_proposals(batch) == 50  # a redelivered batch adds only the new
    assert await store.known_matches([m.id for m in batch] + ["mat_unknown"]) == {
        m.id for m in batch
    }
    assert await store.record_withdrawals([(m.id, "expired") for m in batch[:3]]) == 3
    assert await store.record_withdrawals([(m.id, "again") for m in batch[:4]]) == 1
    withdrawn = await store.match(batch[0].id)
    assert withdrawn is not None and withdrawn.status == MatchStatus.WITHDRAWN


async def test_the_first_decision_claimed_stands(store: RegistryStore) -> None:
    confirm = Decision("mat_1", DecisionKind.CONFIRM, "coo_1", "ok")
    decline = Decision("mat_1", DecisionKind.DECLINE, "coo_2")
    assert await store.claim_decision(confirm) == confirm
    assert await store.claim_decision(decline) == confirm
    assert await store.pending_decisions(timedelta(0)) == [confirm]
    assert await store.pending_decisions(timedelta(hours=1)) == []  # too recent to sweep
    await store.release_decision(decline)  # not the standing one: no effect on it
    assert await store.claim_decision(decline) == confirm
    other = Decision("mat_2", DecisionKind.CONFIRM, "coo_1")
    await store.claim_decision(other)
    await store.release_decision(other)
    assert await store.claim_decision(decline_of("mat_2")) == decline_of("mat_2")


def decline_of(match_id: str) -> Decision:
    return Decision(match_id, DecisionKind.DECLINE, "coo_2")


def decision_of(match: Match) -> PlacementDecision:
    return PlacementDecision(
        match_id=match.id,
        student_id=match.student_id,
        school_id=match.school_id,
        opening_id=match.opening_id,
        coordinator_id="coo_1",
    )


async def test_seats_are_counted_on_reading_an_opening(store: RegistryStore) -> None:
    opening = await new_opening(store, 3)
    await store.take_seat(opening.id, "mat_b")
    await store.take_seat(opening.id, "mat_a")
    [listed] = await store.openings_of("emp_1", None, None, 0, 10)
    assert (listed.seats_remaining, listed.seat_holders) == (1, ("mat_a", "mat_b"))


async def test_the_roster_reads_names_of_a_school_and_matches_of_students(
    store: RegistryStore,
) -> None:
    """What the roster reads: each student's id and name (by id), and their matches with
    the status the facts give them."""
    (ana, ana_event), (ben, ben_event), (far, far_event) = (
        new_student(),
        new_student(),
        new_student("sch_2"),
    )
    for student, event in ((ana, ana_event), (ben, ben_event), (far, far_event)):
        await store.add_student(student, event)
    await store.replace_student(withdraw_student(ben), ben_event)
    entries = await store.roster_entries(["sch_1"], None)
    assert [e.student_id for e in entries] == sorted([ana.id, ben.id])
    assert {e.first_name for e in entries} == {ana.person.first_name}
    assert [e.student_id for e in await store.roster_entries(["sch_1"], "active")] == [ana.id]
    opening = await new_opening(store, 1)
    kept, gone = match_of(ana.id, opening.id), match_of(far.id, opening.id, "sch_2")
    await store.save_proposals([kept, gone])
    await store.record_withdrawals([(gone.id, "the employer closed the opening")])
    assert [(m.id, m.status) for m in await store.matches_of_students([ana.id])] == [
        (kept.id, MatchStatus.PROPOSED)
    ]
    statuses = {m.id: m.status for m in await store.matches_of_students([ana.id, far.id])}
    assert statuses == {kept.id: MatchStatus.PROPOSED, gone.id: MatchStatus.WITHDRAWN}
    assert await store.matches_of_students([]) == []


async def test_a_withdrawn_decision_reads_undecided_and_its_revert_gives_all_back(
    store: RegistryStore,
) -> None:
    opening = await new_opening(store, seats=1)
    match = match_of("stu_u", opening.id)
    await store.save_proposals([match])
    until = datetime.now(UTC) + timedelta(minutes=5)
    confirm = Decision(match.id, DecisionKind.CONFIRM, "coo_1", "", "att1")
    assert await store.claim_decision(confirm) == confirm
    assert await store.claim_placement("stu_u", match.id, opening.id) == match.id
    assert await store.take_seat(opening.id, match.id) == SeatTaken.TAKEN
    outcome = Outcome(match.id, MatchStatus.CONFIRMED, "coo_1", "", "att1", until)
    await store.record_outcome(
        outcome, PlacementConfirmed(producer="t", payload=decision_of(match))
    )
    decided = await store.match(match.id)
    assert decided is not None and (decided.status, decided.attempt) == (
        MatchStatus.CONFIRMED,
        "att1",
    )
    assert decided.undo_until == until
    # Still inside its window: the employer sees it awaiting a decision.
    [seen] = await store.matches_of_employer("emp_1", None, 0, 10)
    assert seen.status == MatchStatus.PROPOSED and seen.decided_by is None
    assert await store.count_matches_of_employer("emp_1", "confirmed") == 0
    assert await store.decision_fate(match.id, "att1") is None

    assert await store.withdraw_decision(match.id, "att1")
    assert await store.withdraw_decision(match.id, "att1")  # a retried undo: still withdrawn
    assert await store.decision_fate(match.id, "att1") == "withdrawn"
    undone = await store.match(match.id)
    assert undone is not None and undone.status == MatchStatus.PROPOSED  # before any revert
    assert await store.withdrawn_decisions(timedelta(0)) == [(match.id, "att1")]
    await store.revert_decision(match.id, "att1")
    await store.revert_decision(match.id, "att1")  # safe to repeat
    assert await store.withdrawn_decisions(timedelta(0)) == []
    reopened = await store.opening(opening.id)
    assert reopened is not None and reopened.seats_remaining == 1
    again = Decision(match.id, DecisionKind.DECLINE, "coo_2", "", "att2")
    assert await store.claim_decision(again) == again  # the claim was given back
    assert await store.claim_placement("stu_u", "mat_other", opening.id) == "mat_other"
