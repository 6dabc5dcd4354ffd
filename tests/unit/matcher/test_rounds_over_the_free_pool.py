"""Properties of rolling rounds (issue 11): over the free pool, a held offer never moves;
each round is the stable matching of its pool; one round over everyone is deferred
acceptance over all its students."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.matcher_engine.test_engine_profiles import _blocking_pairs
from tests.unit.test_matcher_domain import opening, student
from wbl_matcher.domain import (
    Change,
    MatchingInputs,
    OfferHead,
    changes_for,
    free_pool,
    opening_profile,
    review_offers,
    solve_round,
    student_profile,
)
from wbl_matcher.engine.rounds import propose_matches
from wbl_matcher.handlers import Matcher
from wbl_matcher.store import InMemoryMatcherStore
from wbl_schemas.events import (
    HiringPreferences,
    MatchWithdrawn,
    OpeningPublished,
    OpeningSnapshot,
    Place,
    StudentMatchProfile,
    StudentRegistered,
)

pytestmark = pytest.mark.unit

FIELDS = ("cybersecurity", "information-support-services")
SCHOOLS = ("sch_1", "sch_2", "sch_3")
NOW = datetime(2027, 5, 1, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=7)
SEED = 11


def place(north: float) -> Place:
    return Place(town="Lowell", lat=42.64 + north, lon=-71.31)


@st.composite
def openings(draw: st.DrawFn) -> list[OpeningSnapshot]:
    found = []
    for i in range(draw(st.integers(1, 6))):
        seats = draw(st.integers(1, 3))
        found.append(
            opening(f"o{i}", draw(st.sampled_from(FIELDS))).model_copy(
                update={
                    "seats": seats,
                    "seats_remaining": seats,
                    "location": place(draw(st.floats(0, 0.3))),
                    "paid": draw(st.booleans()),
                    "hiring_preferences": HiringPreferences(
                        partner_schools=tuple(draw(st.sets(st.sampled_from(SCHOOLS), max_size=2)))
                    ),
                }
            )
        )
    return found


@st.composite
def students(draw: st.DrawFn, opening_ids: list[str]) -> list[StudentMatchProfile]:
    found = []
    for i in range(draw(st.integers(1, 14))):
        fields = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=2, unique=True))
        favourites = draw(st.lists(st.sampled_from(opening_ids), max_size=2, unique=True))
        found.append(
            student(f"s{i:02d}", tuple(fields)).model_copy(
                update={
                    "school_id": draw(st.sampled_from(SCHOOLS)),
                    "home": place(draw(st.floats(0, 0.2))),
                    "favourites": tuple(favourites),
                }
            )
        )
    return found


@st.composite
def seasons(
    draw: st.DrawFn,
) -> tuple[list[OpeningSnapshot], list[list[StudentMatchProfile]]]:
    """Openings, and their students arriving in batches (class lists)."""
    offered = draw(openings())
    everyone = draw(students([o.opening_id for o in offered]))
    cuts = sorted(draw(st.sets(st.integers(1, len(everyone)), max_size=3)) | {len(everyone)})
    batches, start = [], 0
    for cut in cuts:
        batches.append(everyone[start:cut])
        start = cut
    return offered, [b for b in batches if b]


def applied(heads: dict[str, OfferHead], changes: list[Change]) -> dict[str, OfferHead]:
    after = dict(heads)
    for c in changes:
        after[c.student_id] = OfferHead(c.version + 1, c.propose)
    return after


@settings(max_examples=60, deadline=None)
@given(seasons())
def test_rolling_rounds_never_move_a_held_offer_and_each_is_stable_for_its_pool(
    season: tuple[list[OpeningSnapshot], list[list[StudentMatchProfile]]],
) -> None:
    offered, batches = season
    by_id = {o.opening_id: o for o in offered}
    heads: dict[str, OfferHead] = {}
    arrived: list[StudentMatchProfile] = []
    for number, batch in enumerate(batches):
        arrived += batch
        inputs = MatchingInputs(tuple(offered), tuple(arrived))
        review = review_offers(arrived, by_id, heads, frozenset(), {}, NOW)
        held_before = {sid: h.current for sid, h in heads.items() if h.current is not None}
        assert review.held == held_before and review.ending == {}
        pool = free_pool(inputs, review)
        outcome = solve_round(pool, SEED, {})
        changes = changes_for(
            f"rnd_{number}", pool.students, by_id, heads, outcome.assignments, review, EXPIRES
        )
        assert all(c.withdraw is None and c.student_id not in held_before for c in changes)
        heads = applied(heads, changes)
        # The round is the stable matching of its pool, under the engine's rankings.
        pool_openings = [opening_profile(o) for o in offered]
        pool_students = [student_profile(s) for s in pool.students]
        solved = propose_matches(
            pool_openings, pool_students, seed=SEED, taken_seats=pool.seats_taken
        )
        assert {s: a.opening_id if a else None for s, a in outcome.assignments.items()} == dict(
            solved.assignments
        )
        taken = dict(pool.seats_taken)
        assert _blocking_pairs(solved, pool_openings, pool_students, {}, taken) == []
        # No opening holds more offers than seats.
        load: dict[str, int] = {}
        for h in heads.values():
            if h.current is not None:
                load[h.current.opening_id] = load.get(h.current.opening_id, 0) + 1
        assert all(n <= by_id[oid].seats for oid, n in load.items())


async def one_round_over_everyone(
    offered: list[OpeningSnapshot], everyone: list[StudentMatchProfile]
) -> tuple[dict[str, str | None], int]:
    store = InMemoryMatcherStore()
    matcher = Matcher(store=store, related={}, seed=SEED, clock=lambda: NOW)
    for o in offered:
        await matcher.on_opening_event(OpeningPublished(producer="test", payload=o))
    for s in everyone:
        await matcher.on_student_event(StudentRegistered(producer="test", payload=s))
    await matcher.run_round(None)
    current = await store.proposals(s.student_id for s in everyone)
    withdrawals = sum(isinstance(e, MatchWithdrawn) for e in store.events)
    return {
        s.student_id: current[s.student_id].opening_id if s.student_id in current else None
        for s in everyone
    }, withdrawals


@settings(max_examples=40, deadline=None)
@given(seasons())
def test_one_round_over_everyone_is_deferred_acceptance_over_all_its_students(
    season: tuple[list[OpeningSnapshot], list[list[StudentMatchProfile]]],
) -> None:
    offered, batches = season
    everyone = [s for batch in batches for s in batch]
    found, withdrawals = asyncio.run(one_round_over_everyone(offered, everyone))
    direct = propose_matches(
        [opening_profile(o) for o in offered], [student_profile(s) for s in everyone], seed=SEED
    )
    assert found == dict(direct.assignments)
    assert withdrawals == 0


def test_offers_made_now_expire_after_the_window() -> None:
    found, _ = asyncio.run(one_round_over_everyone([opening("o1")], [student("s1")]))
    assert found == {"s1": "o1"}
    assert (
        timedelta(days=7)
        == Matcher(store=InMemoryMatcherStore(), related={}, seed=SEED).offers.window
    )


async def rolling_rounds(
    offered: list[OpeningSnapshot], batches: list[list[StudentMatchProfile]]
) -> tuple[list[str], dict[str, str]]:
    """Each class list followed by a round; the withdrawals, and offers that changed."""
    store = InMemoryMatcherStore()
    matcher = Matcher(store=store, related={}, seed=SEED)
    for o in offered:
        await matcher.on_opening_event(OpeningPublished(producer="test", payload=o))
    moved: dict[str, str] = {}
    held: dict[str, str] = {}
    for batch in batches:
        for s in batch:
            await matcher.on_student_event(StudentRegistered(producer="test", payload=s))
        await matcher.run_round(None)
        now = {sid: p.match_id for sid, p in (await store.proposals(held)).items()}
        moved |= {sid: mid for sid, mid in held.items() if now.get(sid) != mid}
        everyone = [s.student_id for b in batches for s in b]
        held = {sid: p.match_id for sid, p in (await store.proposals(everyone)).items()}
    reasons = [e.payload.reason for e in store.events if isinstance(e, MatchWithdrawn)]
    return reasons, moved


@settings(max_examples=60, deadline=None)
@given(seasons())
def test_later_class_lists_withdraw_and_move_nothing(
    season: tuple[list[OpeningSnapshot], list[list[StudentMatchProfile]]],
) -> None:
    assert asyncio.run(rolling_rounds(*season)) == ([], {})
