"""One contract, two stores: the in-memory fake behaves as the MongoDB store on FerretDB."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from tests.support import contract_store
from tests.unit.test_matcher_domain import opening, student
from wbl_common.mongo import Document
from wbl_matcher.domain import Change, Placement, Proposal, RoundRecord, Season, Tally
from wbl_matcher.store import InMemoryMatcherStore, MatcherStore, MongoMatcherStore
from wbl_schemas.envelope import Envelope
from wbl_schemas.events import (
    MatchProposal,
    MatchProposed,
    MatchWithdrawal,
    MatchWithdrawn,
    OpeningSnapshot,
    StudentMatchProfile,
)

pytestmark = pytest.mark.integration

CYBER = "cybersecurity"


@pytest.fixture(params=["memory", "mongo"])
async def store(request: pytest.FixtureRequest, db: AsyncDatabase[Document]) -> MatcherStore:
    return await contract_store(request.param, InMemoryMatcherStore, lambda: MongoMatcherStore(db))


def opening_v(opening_id: str, version: int, field: str = CYBER) -> OpeningSnapshot:
    return opening(opening_id, field).model_copy(update={"version": version})


def student_v(student_id: str, version: int, *fields: str) -> StudentMatchProfile:
    return student(student_id, fields or (CYBER,)).model_copy(update={"version": version})


def proposal(student_id: str, opening_id: str, match_id: str) -> Proposal:
    return Proposal(match_id, "rnd_1", student_id, "sch_1", opening_id, "emp_1", CYBER, ("why",))


def proposed(p: Proposal) -> MatchProposed:
    return MatchProposed(producer="test", payload=MatchProposal(**asdict(p)))


def withdrawn(p: Proposal) -> MatchWithdrawn:
    payload = MatchWithdrawal(
        match_id=p.match_id,
        round_id=p.round_id,
        student_id=p.student_id,
        school_id=p.school_id,
        opening_id=p.opening_id,
        reason_code="opening_closed",
        reason="test",
    )
    return MatchWithdrawn(producer="test", payload=payload)


async def queued(store: MatcherStore) -> dict[str, list[str]]:
    """Each student's queued event ids in order: the fake's `events`, or the outbox."""
    if isinstance(store, InMemoryMatcherStore):
        found: dict[str, list[str]] = {}
        for event in store.events:
            found.setdefault(event.key(), []).append(str(event.event_id))
        return found
    assert isinstance(store, MongoMatcherStore)
    found = {}
    intents = await store.outbox.intents.find({}).to_list(None)
    for intent in sorted(intents, key=lambda i: (i["key"], i["seq"])):
        student_id = intent["key"].removeprefix("proposals/")
        found.setdefault(student_id, []).extend(e["event_id"] for e in intent["events"])
    return found


def ids(events: list[Envelope]) -> list[str]:
    return [str(e.event_id) for e in events]


async def in_view(store: MatcherStore, fields: set[str] | None = None) -> tuple[set[str], set[str]]:
    """(open opening ids, unplaced active student ids) the next round would solve over."""
    inputs = await store.inputs_for(fields)
    return {o.opening_id for o in inputs.openings}, {s.student_id for s in inputs.students}


async def test_an_opening_is_kept_at_its_newest_version(store: MatcherStore) -> None:
    assert await store.save_opening(opening_v("o1", 1))
    assert not await store.save_opening(opening_v("o1", 1))  # a redelivery
    assert await store.save_opening(opening_v("o1", 3))
    assert not await store.save_opening(opening_v("o1", 2))  # stale
    [kept] = (await store.inputs_for(None)).openings
    assert kept == opening_v("o1", 3)
    assert await store.career_field_of("o1") == CYBER
    assert await store.career_field_of("o_unknown") is None


async def test_a_closed_opening_leaves_the_view_until_a_newer_version(store: MatcherStore) -> None:
    await store.save_opening(opening_v("o1", 1))
    assert await store.close_opening("o1", 1) is None  # stale: the open version 1 stands
    assert await in_view(store) == ({"o1"}, set())
    assert await store.close_opening("o1", 2) == CYBER
    assert await in_view(store) == (set(), set())
    assert not await store.save_opening(opening_v("o1", 2))
    assert await store.save_opening(opening_v("o1", 3))  # reopened
    assert await in_view(store) == ({"o1"}, set())


async def test_a_closure_seen_before_the_opening_wins_over_older_versions(
    store: MatcherStore,
) -> None:
    assert await store.close_opening("o2", 2) is None  # no career field known yet
    assert await store.career_field_of("o2") is None
    assert not await store.save_opening(opening_v("o2", 1))
    assert await store.close_opening("o2", 3) is None  # closed again: still nothing to touch
    assert await in_view(store) == (set(), set())


async def test_a_student_is_kept_at_their_newest_version(store: MatcherStore) -> None:
    assert await store.save_student(student_v("s1", 1))
    assert not await store.save_student(student_v("s1", 1))
    assert await store.save_student(student_v("s1", 3, CYBER, "welding"))
    assert not await store.save_student(student_v("s1", 2))
    [kept] = (await store.inputs_for(None)).students
    assert kept == student_v("s1", 3, CYBER, "welding")


async def test_a_batch_of_students_keeps_the_newest_and_names_the_fields_touched(
    store: MatcherStore,
) -> None:
    assert await store.save_student(student_v("s0", 5, "welding"))
    batch = [student_v(f"s{i}", 1) for i in range(60)]
    batch += [student_v("s1", 2, "culinary"), student_v("s1", 1)]  # the newest of s1 wins
    # s0 moves from welding to cybersecurity: both fields are touched.
    touched = await store.save_students([*batch, student_v("s0", 6)])
    assert touched == {CYBER, "culinary", "welding"}
    kept = {s.student_id: s for s in (await store.inputs_for(None)).students}
    assert len(kept) == 60 and kept["s1"] == student_v("s1", 2, "culinary")
    # Redelivered (with one older version among it), the batch names the same fields.
    assert await store.save_students([*batch, student_v("s0", 6)]) == touched
    assert await store.student_fields("s0") == (CYBER, "welding")


async def test_a_batch_of_openings_names_the_fields_before_and_after(store: MatcherStore) -> None:
    assert await store.save_opening(opening_v("o0", 1, "welding"))
    touched = await store.save_openings([opening_v("o0", 2), opening_v("o1", 1, "culinary")])
    assert touched == {CYBER, "welding", "culinary"}
    assert await store.save_openings([opening_v("o0", 1, "welding")]) == {CYBER, "welding"}
    assert {o.opening_id for o in (await store.inputs_for({CYBER})).openings} == {"o0"}


async def test_a_withdrawn_student_leaves_the_view_and_names_their_fields(
    store: MatcherStore,
) -> None:
    await store.save_student(student_v("s1", 1, CYBER, "welding"))
    assert await store.withdraw_student("s1", 1) == []  # stale
    assert await in_view(store) == (set(), {"s1"})
    assert await store.withdraw_student("s1", 2) == [CYBER, "welding"]
    assert await in_view(store) == (set(), set())
    assert await store.interests({CYBER}) == []
    assert not await store.save_student(student_v("s1", 2))
    # Withdrawn before ever seen: nothing to touch, and the older profile is refused.
    assert await store.withdraw_student("s2", 2) == []
    assert not await store.save_student(student_v("s2", 1))
    assert await in_view(store) == (set(), set())


async def test_a_decline_before_the_profile_neither_blocks_it_nor_is_lost(
    store: MatcherStore,
) -> None:
    await store.record_decline("s1", "o1")
    await store.record_decline("s1", "o1")  # a redelivery
    assert await store.save_student(student_v("s1", 1))
    await store.record_decline("s1", "o2")
    inputs = await store.inputs_for({CYBER})
    assert [s.student_id for s in inputs.students] == ["s1"]
    assert inputs.declined == {("s1", "o1"), ("s1", "o2")}
    await store.record_decline("s2", "o1")
    assert await store.withdraw_student("s2", 1) == []  # no profile yet: no fields to touch


async def test_a_placement_is_kept_once_and_takes_student_and_seat(store: MatcherStore) -> None:
    await store.save_opening(opening_v("o1", 1))
    await store.save_opening(opening_v("o2", 1, "welding"))
    for sid in ("s1", "s2"):
        await store.save_student(student_v(sid, 1))
    await store.record_decline("s1", "o2")
    assert not await store.placed("s1")
    assert await store.record_placement(Placement("s1", "o1"))
    assert await store.placed("s1") and not await store.placed("s2")
    assert not await store.record_placement(Placement("s1", "o1"))
    assert not await store.record_placement(Placement("s1", "o2"))  # one placement a student
    inputs = await store.inputs_for({CYBER})
    assert [s.student_id for s in inputs.students] == ["s2"]
    assert inputs.declined == frozenset()  # declines of placed students are moot
    # Seats are counted whatever the scope: the placement's opening is keyed by id.
    assert (await store.inputs_for({"welding"})).seats_taken == {"o1": 1}


async def test_an_ended_placement_frees_its_seat_and_keeps_its_student_out(
    store: MatcherStore,
) -> None:
    await store.save_opening(opening_v("o1", 1))
    for sid in ("s1", "s2"):
        await store.save_student(student_v(sid, 1))
    assert await store.record_placement(Placement("s1", "o1"))
    for _ in range(2):  # a redelivered end changes nothing more
        await store.end_placement(Placement("s1", "o1"))
        inputs = await store.inputs_for({CYBER})
        assert [s.student_id for s in inputs.students] == ["s2"]
        assert inputs.seats_taken == {}
        assert (await store.seats_view({CYBER})).seats_taken == {}
    assert await store.placed("s1")
    assert not await store.record_placement(Placement("s1", "o1"))  # a redelivered confirm
    assert (await store.inputs_for({CYBER})).seats_taken == {}
    # An end seen before its confirmation (a view started late) keeps the student out too.
    await store.end_placement(Placement("s2", "o1"))
    assert await store.placed("s2") and (await store.inputs_for({CYBER})).students == ()


async def test_dirty_marks_survive_a_clear_of_older_marks(store: MatcherStore) -> None:
    assert await store.dirty_fields() == {}
    await store.mark_dirty([CYBER, "welding"])
    await store.mark_dirty([CYBER])
    marks = await store.dirty_fields()
    assert {f: len(m) for f, m in marks.items()} == {CYBER: 2, "welding": 1}
    await store.mark_dirty([CYBER])  # an event arrives while the round solves
    await store.clear_dirty(marks)
    left = await store.dirty_fields()
    assert {f: len(m) for f, m in left.items()} == {CYBER: 1}
    await store.clear_dirty(left)
    assert await store.dirty_fields() == {}


async def test_inputs_and_interests_follow_career_fields(store: MatcherStore) -> None:
    for oid, field in (("oa", "a"), ("ob", "b"), ("oc", "c")):
        await store.save_opening(opening_v(oid, 1, field))
    await store.save_student(student_v("sa", 1, "a"))
    await store.save_student(student_v("sbc", 1, "b", "c"))
    await store.save_student(student_v("sd", 1, "d"))
    await store.record_decline("sa", "oa")
    await store.record_decline("sbc", "ob")
    assert await in_view(store, {"a"}) == ({"oa"}, {"sa"})
    assert await in_view(store, {"c"}) == ({"oc"}, {"sbc"})
    assert await in_view(store, {"a", "d"}) == ({"oa"}, {"sa", "sd"})
    assert await in_view(store, set()) == (set(), set())
    assert await in_view(store, None) == ({"oa", "ob", "oc"}, {"sa", "sbc", "sd"})
    assert (await store.inputs_for({"a"})).declined == {("sa", "oa")}
    assert sorted(await store.interests({"c", "d"})) == [("b", "c"), ("d",)]
    assert await store.interests({"z"}) == []


async def test_apply_keeps_current_proposals_and_queues_their_events(
    store: MatcherStore,
) -> None:
    p1, p2 = proposal("s1", "o1", "mat_1"), proposal("s2", "o1", "mat_2")
    first: dict[str, list[Envelope]] = {"s1": [proposed(p1)], "s2": [proposed(p2)]}
    await store.apply([Change("s1", None, p1), Change("s2", None, p2)], first)
    assert await store.proposals(["s1", "s2", "s3"]) == {"s1": p1, "s2": p2}
    assert {s: h.version for s, h in (await store.offer_heads(["s1", "s2"])).items()} == {
        "s1": 1,
        "s2": 1,
    }
    # s1 loses their proposal; s2 moves to another opening.
    p3 = proposal("s2", "o2", "mat_3")
    second: dict[str, list[Envelope]] = {
        "s1": [withdrawn(p1)],
        "s2": [withdrawn(p2), proposed(p3)],
    }
    written = await store.apply(
        [Change("s1", p1, None, version=1), Change("s2", p2, p3, version=1)], second
    )
    assert len(written) == 2
    assert await store.proposals(iter(["s1", "s2"])) == {"s2": p3}
    # A change computed from a record that has moved on is not written (another round's).
    stale = Change("s2", p2, proposal("s2", "o3", "mat_4"), version=1)
    assert await store.apply([stale], {"s2": [proposed(p3)]}) == []
    assert await store.proposals(["s2"]) == {"s2": p3}
    assert await queued(store) == {
        "s1": ids(first["s1"] + second["s1"]),
        "s2": ids(first["s2"] + second["s2"]),
    }


async def test_standing_and_seats_view_answer_a_why_not(store: MatcherStore) -> None:
    """What a why-not asked on demand reads: the student's standing, and the seats open
    offers and placements take at the open openings of some fields."""
    assert await store.standing("s_unknown") is None
    await store.save_openings([opening_v("o1", 1), opening_v("o2", 1), opening_v("o3", 1, "law")])
    await store.close_opening("o2", 2)
    await store.save_students([student_v(sid, 1) for sid in ("s1", "s2", "s3", "s4")])
    await store.record_decline("s1", "o1")
    await store.record_placement(Placement("s2", "o1"))
    p3 = proposal("s3", "o1", "mat_3")
    assert len(await store.apply([Change("s3", None, p3)], {"s3": [proposed(p3)]})) == 1
    await store.withdraw_student("s4", 2)

    s1 = await store.standing("s1")
    assert s1 is not None and s1.profile is not None and s1.profile.student_id == "s1"
    assert (s1.declined, s1.placed_at, s1.offer) == (frozenset({"o1"}), None, None)
    s2, s3, s4 = [await store.standing(sid) for sid in ("s2", "s3", "s4")]
    assert s2 is not None and s2.placed_at == "o1"
    assert s3 is not None and s3.offer == p3
    assert s4 is not None and (s4.profile, s4.withdrawn) == (None, True)
    assert s1.withdrawn is False
    await store.record_decline("s_early", "o1")  # a decline seen before the profile
    early = await store.standing("s_early")
    assert early is not None and (early.profile, early.withdrawn) == (None, False)
    # Whose student, for a coordinator's why-not: kept after a withdrawal, unknown before a profile.
    assert (s1.school_id, s4.school_id, early.school_id) == (
        student_v("s1", 1).school_id,
        student_v("s4", 1).school_id,
        None,
    )

    view = await store.seats_view({CYBER})
    assert [o.opening_id for o in view.openings] == ["o1"]  # o2 closed, o3 in another field
    assert view.seats_taken == {"o1": 2}  # s2's placement and s3's open offer
    assert (await store.seats_view({"law"})).seats_taken == {}
    assert (await store.seats_view({"culinary-arts"})).openings == ()


def round_record(round_id: str, matched: int) -> RoundRecord:
    return RoundRecord(
        round_id=round_id,
        seed=7,
        fingerprint=f"fp-{round_id}",
        career_fields=(CYBER, "welding"),
        eligible=3,
        matched=matched,
        unmatched=3 - matched,
        proposed=matched,
        withdrawn=0,
        by_career_field={CYBER: Tally(3, matched)},
        by_program={"p-tech": Tally(3, matched)},
    )


async def test_the_latest_round_is_the_last_saved(store: MatcherStore) -> None:
    assert await store.latest_round() is None
    # Saved in the opposite order of their ids: "latest" is by saving, not by id.
    await store.save_round(round_record("rnd_b", 1))
    await store.save_round(round_record("rnd_a", 2))
    assert await store.latest_round() == round_record("rnd_a", 2)


async def test_the_season_keeps_its_cut_off_and_its_main_round_once(store: MatcherStore) -> None:
    assert await store.season() == Season()
    cut_off = datetime(2027, 3, 1, 9, tzinfo=UTC)
    await store.set_season(cut_off)
    assert await store.season() == Season(cut_off)
    await store.record_main_round(cut_off, "rnd_main")
    await store.record_main_round(cut_off, "rnd_again")  # a repeat keeps the first
    assert await store.season() == Season(cut_off, "rnd_main")
    later = cut_off + timedelta(days=365)  # next season: its own main round
    await store.set_season(later)
    assert await store.season() == Season(later)
    await store.set_season(None)
    assert await store.season() == Season()
