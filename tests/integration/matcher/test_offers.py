"""Offers hold their seat (issue 11): over the real broker and database, a later class list
never displaces an earlier offer; only the named reasons end one."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.matcher.test_matcher_service import (
    Running,
    match_events,
    opening,
    running,
    student,
)
from tests.support import eventually
from wbl_common.bus import publish_event
from wbl_schemas.envelope import Envelope
from wbl_schemas.events import (
    HiringPreferences,
    MatchProposed,
    MatchWithdrawn,
    OpeningPublished,
    StudentRegistered,
)

pytestmark = pytest.mark.integration

__all__ = ["running"]  # the fixture, shared with the matcher service tests


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
