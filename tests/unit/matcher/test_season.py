"""A season's main round (issue 11, item 3): registrations before the cut-off wait and
are matched together at it, as one deferred acceptance; rolling rounds follow."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import eventually
from tests.unit.test_matcher_domain import opening, student
from wbl_matcher.domain import Season, opening_profile, student_profile
from wbl_matcher.engine.rounds import propose_matches
from wbl_matcher.handlers import Matcher
from wbl_matcher.store import InMemoryMatcherStore
from wbl_schemas.events import OpeningPublished, StudentRegistered

pytestmark = pytest.mark.unit

CUT_OFF = datetime(2027, 3, 1, 9, tzinfo=UTC)
SEED = 5


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def season_of(clock: Clock) -> tuple[Matcher, InMemoryMatcherStore]:
    store = InMemoryMatcherStore()
    matcher = Matcher(store=store, related={}, seed=SEED, clock=clock)
    await matcher.set_season(CUT_OFF)
    for oid in ("o1", "o2"):
        await matcher.on_opening_event(OpeningPublished(producer="test", payload=opening(oid)))
    return matcher, store


async def register(matcher: Matcher, *student_ids: str) -> None:
    for sid in student_ids:
        await matcher.on_student_event(StudentRegistered(producer="test", payload=student(sid)))


def test_no_main_round_means_rolling_rounds() -> None:
    assert Season().stage(CUT_OFF) == "rolling"
    assert Season(CUT_OFF, "rnd_1").stage(CUT_OFF - timedelta(days=1)) == "rolling"
    assert Season(CUT_OFF).stage(CUT_OFF - timedelta(seconds=1)) == "gathering"
    assert Season(CUT_OFF).stage(CUT_OFF) == "main_round"


async def test_before_the_cut_off_registrations_wait_and_at_it_one_round_matches_them_all() -> None:
    clock = Clock(CUT_OFF - timedelta(days=3))
    matcher, store = await season_of(clock)
    assert (await store.season()).stage(clock()) == "gathering"
    await register(matcher, "s1", "s2")
    assert await matcher.season_step() is False
    clock.now = CUT_OFF - timedelta(days=1)
    await register(matcher, "s3")  # a later registration joins the same main round
    assert await matcher.season_step() is False
    assert store.events == [] and await store.dirty_fields()  # the marks wait

    clock.now = CUT_OFF
    assert await matcher.season_step() is False  # the main round itself
    everyone = [student(s) for s in ("s1", "s2", "s3")]
    direct = propose_matches(
        [opening_profile(opening(o)) for o in ("o1", "o2")],
        [student_profile(s) for s in everyone],
        seed=SEED,
    )
    found = await store.proposals(["s1", "s2", "s3"])
    assert {s: p.opening_id for s, p in found.items()} == {
        s: o for s, o in direct.assignments.items() if o is not None
    }
    assert await store.dirty_fields() == {}
    season = await store.season()
    assert season.main_round_id == store.rounds[-1].round_id
    assert await matcher.season_step() is True  # rolling from now on


async def test_after_the_main_round_rolling_rounds_run_in_the_loop() -> None:
    clock = Clock(CUT_OFF)
    matcher, store = await season_of(clock)
    await register(matcher, "s1")
    loop = asyncio.create_task(matcher.run_rounds(0))
    try:
        await eventually(lambda: store.proposals(["s1"]), what="the main round's offer")
        await register(matcher, "s2")
        await eventually(lambda: store.proposals(["s2"]), what="a rolling round's offer")
    finally:
        loop.cancel()
    assert (
        len(store.rounds) == 2 and (await store.season()).main_round_id == store.rounds[0].round_id
    )
