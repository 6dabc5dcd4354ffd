"""Offers hold their seat (issue 11): over the real broker and database, a later class list
never displaces an earlier offer; only the named reasons end one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.integration.matcher.test_matcher_service import (
    FIELD,
    Running,
    match_events,
    matcher_service,
    opening,
    running,
    student,
)
from tests.support import eventually
from wbl_common.bus import publish_event
from wbl_matcher.config import OfferSettings
from wbl_schemas.envelope import Envelope
from wbl_schemas.events import (
    HiringPreferences,
    MatchProposed,
    MatchWithdrawn,
    OpeningClosed,
    OpeningPublished,
    OpeningRef,
    PlacementDecision,
    PlacementDeclined,
    StudentRegistered,
)

pytestmark = pytest.mark.integration

__all__ = ["running"]  # the fixture, shared with the matcher service tests


WINDOW_S = 3.0


@pytest.fixture
async def short_offers(kafka_bootstrap: str, mongo_uri: str) -> AsyncIterator[Running]:
    """A matcher whose offers hold their seat for a few seconds, swept often."""
    offers = OfferSettings(window_days=WINDOW_S / 86_400, grace_s=0, sweep_interval_s=0.2)
    async with matcher_service(kafka_bootstrap, mongo_uri, offer=offers) as run:
        yield run


async def settled(run: Running, student_ids: list[str]) -> dict[str, Any]:
    """Every student holds a proposal and no partition is left to solve."""

    async def done() -> dict[str, Any]:
        found = await run.store.proposals(student_ids)
        if len(found) < len(student_ids) or await run.store.dirty_fields():
            return {}
        return found

    return await eventually(done, what="every student proposed and no round pending")


async def openings_in_view(run: Running, opening_ids: list[str]) -> None:
    """Openings and students arrive on different topics: a round solved before an opening
    is seen offers what is there, and that offer holds."""

    async def seen() -> bool:
        return len(await run.store.open_openings(opening_ids)) == len(opening_ids)

    await eventually(seen, what="the openings in the matcher's view")


async def events_until_current(bootstrap: str, current: dict[str, Any]) -> list[Envelope]:
    """The wbl.matches events about these students, up to each one's current proposal."""
    wanted = {p.match_id for p in current.values()}
    events: list[Envelope] = []
    count = len(current)
    while True:
        events = await match_events(bootstrap, set(current), count)
        seen = {e.payload.match_id for e in events if isinstance(e, MatchProposed)}
        if wanted <= seen:
            return events
        count = len(events) + 1


async def test_a_second_class_list_into_the_same_field_withdraws_nothing(
    running: Running, kafka_bootstrap: str
) -> None:
    """The reported defect: a later class list the employers prefer (a partner school)
    displaced the first list's offers ("moved to opening ..."). Offers hold their seat."""
    tag = running.tag
    preferred = [f"opn_pref{i}_{tag}" for i in range(3)]
    others = [f"opn_plain{i}_{tag}" for i in range(3)]
    partner = HiringPreferences(partner_schools=("sch_partner",))
    for oid in preferred:
        snapshot = opening(oid).model_copy(update={"hiring_preferences": partner})
        await publish_event(running.bus, OpeningPublished(producer="test", payload=snapshot))
    for oid in others:
        await publish_event(running.bus, OpeningPublished(producer="test", payload=opening(oid)))
    await openings_in_view(running, preferred + others)
    first = [f"stu_first{i}_{tag}" for i in range(3)]
    second = [f"stu_second{i}_{tag}" for i in range(3)]
    for sid in first:
        profile = student(sid).model_copy(update={"favourites": tuple(preferred)})
        await publish_event(running.bus, StudentRegistered(producer="test", payload=profile))
    held = await settled(running, first)
    assert {p.opening_id for p in held.values()} == set(preferred)

    for sid in second:
        profile = student(sid).model_copy(
            update={"school_id": "sch_partner", "favourites": tuple(preferred)}
        )
        await publish_event(running.bus, StudentRegistered(producer="test", payload=profile))
    everyone = await settled(running, first + second)

    events = await events_until_current(kafka_bootstrap, everyone)
    withdrawn = [e.payload.reason for e in events if isinstance(e, MatchWithdrawn)]
    assert withdrawn == []
    assert {sid: everyone[sid].opening_id for sid in first} == {
        sid: held[sid].opening_id for sid in first
    }
    assert {everyone[sid].opening_id for sid in second} == set(others)


async def about(bootstrap: str, student_ids: set[str], count: int) -> dict[str, list[str]]:
    """Each student's wbl.matches events in order (one partition per student): the opening
    proposed or the reason code withdrawn."""
    history: dict[str, list[str]] = {}
    for e in await match_events(bootstrap, student_ids, count):
        if isinstance(e, MatchWithdrawn):
            history.setdefault(e.key(), []).append(f"withdrawn:{e.payload.reason_code}")
        elif isinstance(e, MatchProposed):
            history.setdefault(e.key(), []).append(f"proposed:{e.payload.opening_id}")
    return history


async def one_offer_and_one_waiting(run: Running, opening_id: str) -> tuple[str, str, str]:
    """One seat, two students: the first holds the offer, the second waits for the seat."""
    s1, s2 = f"stu_one_{run.tag}", f"stu_two_{run.tag}"
    await publish_event(run.bus, OpeningPublished(producer="test", payload=opening(opening_id)))
    await openings_in_view(run, [opening_id])
    await publish_event(run.bus, StudentRegistered(producer="test", payload=student(s1)))
    offer = (await settled(run, [s1]))[s1]
    await publish_event(run.bus, StudentRegistered(producer="test", payload=student(s2)))

    async def waiting() -> bool:
        known = {s.student_id for s in (await run.store.inputs_for({FIELD})).students}
        return s2 in known and not await run.store.dirty_fields()

    await eventually(waiting, what="the second student solved over a held seat")
    assert s2 not in await run.store.proposals([s2])
    return s1, s2, offer.match_id


async def test_an_expired_offer_frees_its_seat_for_the_next_round(
    short_offers: Running, kafka_bootstrap: str
) -> None:
    run = short_offers
    o1 = f"opn_exp_{run.tag}"
    s1, s2, _ = await one_offer_and_one_waiting(run, o1)
    await settled(run, [s2])  # the sweep ends the first offer after its window
    assert await run.store.proposals([s1]) == {}  # the lapsed pair is not offered again
    assert await about(kafka_bootstrap, {s1, s2}, 3) == {
        s1: [f"proposed:{o1}", "withdrawn:expired"],
        s2: [f"proposed:{o1}"],
    }


async def test_a_declined_offer_frees_its_seat_and_is_not_offered_again(
    running: Running, kafka_bootstrap: str
) -> None:
    o1 = f"opn_dec_{running.tag}"
    s1, s2, match_id = await one_offer_and_one_waiting(running, o1)
    decision = PlacementDecision(
        match_id=match_id, student_id=s1, school_id="sch_hvac", opening_id=o1, coordinator_id="c"
    )
    await publish_event(running.bus, PlacementDeclined(producer="test", payload=decision))
    await settled(running, [s2])
    assert await running.store.proposals([s1]) == {}
    # A decline is the coordinator's own decision: nothing is withdrawn.
    assert await about(kafka_bootstrap, {s1, s2}, 2) == {
        s1: [f"proposed:{o1}"],
        s2: [f"proposed:{o1}"],
    }


async def test_a_closed_opening_withdraws_its_offer_as_such_and_the_student_gets_another(
    running: Running, kafka_bootstrap: str
) -> None:
    first, second = f"opn_fav_{running.tag}", f"opn_next_{running.tag}"
    for oid in (first, second):
        await publish_event(running.bus, OpeningPublished(producer="test", payload=opening(oid)))
    await openings_in_view(running, [first, second])
    s1 = f"stu_close_{running.tag}"
    profile = student(s1).model_copy(update={"favourites": (first,)})
    await publish_event(running.bus, StudentRegistered(producer="test", payload=profile))
    assert (await settled(running, [s1]))[s1].opening_id == first
    ref = OpeningRef(opening_id=first, employer_id="emp_hvac", version=2)
    await publish_event(running.bus, OpeningClosed(producer="test", payload=ref))
    events = await match_events(kafka_bootstrap, {s1}, 3)
    [gone] = [e for e in events if isinstance(e, MatchWithdrawn)]
    assert gone.payload.reason_code == "opening_closed"
    assert gone.payload.reason == f"The employer closed the opening {first}."
    assert [e.payload.opening_id for e in events if isinstance(e, MatchProposed)] == [
        first,
        second,
    ]
