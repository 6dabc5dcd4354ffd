"""Matcher use cases over the in-memory store: events in, rounds solved, differences queued."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support import eventually
from tests.unit.test_matcher_domain import opening, student
from wbl_matcher.handlers import Matcher
from wbl_matcher.store import InMemoryMatcherStore
from wbl_matcher.why_not import WhyNotCache, why_not
from wbl_schemas.envelope import Envelope
from wbl_schemas.events import (
    MatchProposed,
    MatchWithdrawn,
    OpeningClosed,
    OpeningPublished,
    OpeningRef,
    PlacementConfirmed,
    PlacementDecision,
    PlacementDeclined,
    StudentRef,
    StudentRegistered,
    StudentUpdated,
    StudentWithdrawn,
)

pytestmark = pytest.mark.unit

CYBER = "cybersecurity"


@pytest.fixture
def store() -> InMemoryMatcherStore:
    return InMemoryMatcherStore()


@pytest.fixture
def matcher(store: InMemoryMatcherStore) -> Matcher:
    return Matcher(store=store, related={}, seed=7)


async def publish(matcher: Matcher, opening_id: str, seats: int = 1) -> None:
    snapshot = opening(opening_id).model_copy(update={"seats": seats, "seats_remaining": seats})
    await matcher.on_opening_event(OpeningPublished(producer="test", payload=snapshot))


async def register(matcher: Matcher, *student_ids: str) -> None:
    for sid in student_ids:
        await matcher.on_student_event(StudentRegistered(producer="test", payload=student(sid)))


def counts(marks: dict[str, list[str]]) -> dict[str, int]:
    return {f: len(ids) for f, ids in marks.items()}


def decision(student_id: str, opening_id: str, match_id: str | None = None) -> PlacementDecision:
    return PlacementDecision(
        match_id=match_id or f"mat_{student_id}",
        student_id=student_id,
        school_id="sch_1",
        opening_id=opening_id,
        coordinator_id="coo_1",
    )


def history(store: InMemoryMatcherStore, student_id: str) -> list[tuple[type[Envelope], str]]:
    """The queued events about a student, as (kind, opening id)."""
    return [
        (type(e), e.payload.opening_id)
        for e in store.events
        if isinstance(e, MatchProposed | MatchWithdrawn) and e.payload.student_id == student_id
    ]


async def place(
    matcher: Matcher, store: InMemoryMatcherStore, student_id: str, opening_id: str
) -> None:
    """An opening and a student, proposed in a round, then the placement confirmed."""
    await publish(matcher, opening_id)
    await register(matcher, student_id)
    await dirty_round(matcher, store)
    proposed = (await store.proposals([student_id]))[student_id]
    await matcher.on_placement_event(
        PlacementConfirmed(
            producer="test", payload=decision(student_id, opening_id, proposed.match_id)
        )
    )


async def dirty_round(matcher: Matcher, store: InMemoryMatcherStore) -> int:
    """One pass of the background loop: solve the dirty fields, clear them; the proposals."""
    marks = await store.dirty_fields()
    record = await matcher.run_round(set(marks))
    await store.clear_dirty(marks)
    return record.proposed


async def test_an_opening_and_students_arriving_are_proposed_once(
    matcher: Matcher, store: InMemoryMatcherStore
) -> None:
    await publish(matcher, "o1", seats=2)
    await register(matcher, "s1", "s2")
    assert counts(await store.dirty_fields()) == {CYBER: 3}
    assert await dirty_round(matcher, store) == 2
    assert {sid: p.opening_id for sid, p in (await store.proposals(["s1", "s2"])).items()} == {
        "s1": "o1",
        "s2": "o1",
    }
    record = await store.latest_round()
    assert record is not None and (record.career_fields, record.matched) == ((CYBER,), 2)
    assert await store.dirty_fields() == {}
    # A redelivered registration marks its field again (a crash may have cut the first
    # delivery short), and the round it causes, like a full round, queues nothing new.
    await register(matcher, "s1")
    assert counts(await store.dirty_fields()) == {CYBER: 1}
    assert await dirty_round(matcher, store) == 0
    assert (await matcher.run_round(None)).proposed == 0
    assert history(store, "s1") == history(store, "s2") == [(MatchProposed, "o1")]


async def test_a_confirmed_placement_takes_the_seat_from_later_rounds(
    matcher: Matcher, store: InMemoryMatcherStore
) -> None:
    await place(matcher, store, "s1", "o1")
    assert counts(await store.dirty_fields()) == {CYBER: 1}
    await register(matcher, "s2")
    assert await dirty_round(matcher, store) == 0
    assert await store.proposals(["s2"]) == {}
    why = await why_not(store, {}, WhyNotCache(), "s2")
    assert why is not None and why.reasons[0].startswith("o1: no seats left")
    assert history(store, "s1") == [(MatchProposed, "o1")]  # the placed proposal: no withdrawal


async def test_a_declined_opening_is_not_proposed_again(
    matcher: Matcher, store: InMemoryMatcherStore
) -> None:
    await publish(matcher, "o1")
    await publish(matcher, "o2")
    await register(matcher, "s1")
    await dirty_round(matcher, store)
    [(_, first)] = history(store, "s1")
    await matcher.on_placement_event(
        PlacementDeclined(producer="test", payload=decision("s1", first))
    )
    assert await dirty_round(matcher, store) == 1
    [other] = {"o1", "o2"} - {first}
    # The coordinator's decline ends the offer: nothing to withdraw, the student is free.
    assert history(store, "s1") == [(MatchProposed, first), (MatchProposed, other)]


async def test_closing_an_opening_withdraws_its_proposal_exactly_once(
    matcher: Matcher, store: InMemoryMatcherStore
) -> None:
    await publish(matcher, "o1")
    await register(matcher, "s1")
    await dirty_round(matcher, store)
    ref = OpeningRef(opening_id="o1", employer_id="emp_1", version=2)
    await matcher.on_opening_event(OpeningClosed(producer="test", payload=ref))
    assert counts(await store.dirty_fields()) == {CYBER: 1}
    await dirty_round(matcher, store)
    await matcher.run_round(None)  # re-solving must not withdraw again
    assert history(store, "s1") == [(MatchProposed, "o1"), (MatchWithdrawn, "o1")]
    assert await store.proposals(["s1"]) == {}


async def test_a_stale_student_update_changes_nothing(
    matcher: Matcher, store: InMemoryMatcherStore
) -> None:
    newer = student("s1").model_copy(update={"version": 2, "career_fields": ("welding",)})
    await matcher.on_student_event(StudentUpdated(producer="test", payload=newer))
    await store.clear_dirty(await store.dirty_fields())
    await register(matcher, "s1")  # version 1 arrives late: marked, but the view keeps v2
    assert await store.interests({CYBER}) == []
    assert await store.student_fields("s1") == ("welding",)


def withdrawal(student_id: str) -> StudentWithdrawn:
    return StudentWithdrawn(
        producer="test", payload=StudentRef(student_id=student_id, school_id="sch_1", version=2)
    )


async def test_a_withdrawn_students_open_proposal_is_withdrawn_once(
    matcher: Matcher, store: InMemoryMatcherStore
) -> None:
    await publish(matcher, "o1")
    await register(matcher, "s1")
    await dirty_round(matcher, store)
    await matcher.on_student_event(withdrawal("s1"))
    await matcher.on_student_event(withdrawal("s1"))  # redelivered
    await dirty_round(matcher, store)
    assert history(store, "s1") == [(MatchProposed, "o1"), (MatchWithdrawn, "o1")]
    [gone] = [e for e in store.events if isinstance(e, MatchWithdrawn)]
    assert isinstance(gone, MatchWithdrawn) and gone.payload.reason_code == "student_withdrawn"
    assert await store.proposals(["s1"]) == {}
    # The seat is free again for the next student.
    await register(matcher, "s2")
    assert await dirty_round(matcher, store) == 1


async def test_a_placed_students_withdrawal_leaves_the_placement_to_registry(
    matcher: Matcher, store: InMemoryMatcherStore
) -> None:
    await place(matcher, store, "s1", "o1")
    await matcher.on_student_event(withdrawal("s1"))
    assert history(store, "s1") == [(MatchProposed, "o1")]


async def _rounds_running(matcher: Matcher, window_s: float) -> asyncio.Task[None]:
    task = asyncio.create_task(matcher.run_rounds(window_s))
    await asyncio.sleep(0)  # its start-up pass over marks left from before
    return task


async def test_an_event_after_a_quiet_spell_is_solved_at_once(
    matcher: Matcher, store: InMemoryMatcherStore
) -> None:
    rounds = await _rounds_running(matcher, window_s=30)
    try:
        await publish(matcher, "o1")
        await register(matcher, "s1")

        async def proposed() -> bool:
            return bool(await store.proposals(["s1"]))

        # Far sooner than the 30 s window: the window only spaces rounds out.
        await eventually(proposed, within=5, what="the proposal of a lone registration")
    finally:
        rounds.cancel()


async def test_a_burst_of_registrations_is_gathered_into_few_rounds(
    matcher: Matcher, store: InMemoryMatcherStore
) -> None:
    window_s = 0.3
    rounds = await _rounds_running(matcher, window_s)
    try:
        started = time.monotonic()
        await publish(matcher, "o1", seats=50)
        for n in range(50):  # a class list arriving over about a quarter of a second
            await register(matcher, f"s{n:02}")
            await asyncio.sleep(0.005)
        burst_s = time.monotonic() - started

        async def all_proposed() -> bool:
            return len(await store.proposals(f"s{n:02}" for n in range(50))) == 50

        await eventually(all_proposed, within=10, what="50 proposals")
    finally:
        rounds.cancel()
    # One round at the first event, then at most one per window while the burst lasts
    # (on a loaded machine the burst itself stretches).
    assert len(store.rounds) <= 2 + burst_s / window_s, (
        burst_s,
        [r.proposed for r in store.rounds],
    )
    assert len(store.rounds) < 10


async def test_a_placement_through_another_match_withdraws_the_open_proposal_once(
    matcher: Matcher, store: InMemoryMatcherStore
) -> None:
    """The coordinator confirmed an earlier match while the matcher had moved the student:
    the placement stands, and the student's newer open proposal is withdrawn, once."""
    await publish(matcher, "o1")
    await register(matcher, "s1")
    await dirty_round(matcher, store)
    placed_elsewhere = PlacementConfirmed(
        producer="test", payload=decision("s1", "o_earlier", "mat_earlier")
    )
    await matcher.on_placement_event(placed_elsewhere)
    await matcher.on_placement_event(placed_elsewhere)  # redelivered
    assert history(store, "s1") == [(MatchProposed, "o1"), (MatchWithdrawn, "o1")]
    [withdrawal] = [e for e in store.events if isinstance(e, MatchWithdrawn)]
    assert withdrawal.payload.reason_code == "placed_elsewhere"
    assert await store.proposals(["s1"]) == {}
