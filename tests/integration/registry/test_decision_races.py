"""A withdrawal that arrives while a confirmation is under way is never lost.

Seen: the matcher withdrew a match while its coordinator's confirmation was between claiming
the decision and taking a seat; registry dropped the withdrawal because a decision existed,
then the confirmation found no seat and gave its claim back, so the match stayed "proposed"
for good. Here the confirmation is held at the seat step while the withdrawal is handled."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from tests.unit.registry.builders import TERMS, application, proposed, withdrawn
from wbl_common.mongo import Document
from wbl_registry.domain import Conflict, MatchStatus
from wbl_registry.handlers import Registry
from wbl_registry.store import MongoRegistryStore, SeatTaken
from wbl_schemas.events import NotificationChannels
from wbl_schemas.reference import load_reference

pytestmark = pytest.mark.integration


class HeldAtTheSeat(MongoRegistryStore):
    """Takes seats only once `go` is set, and says when a confirmation reached that step."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        super().__init__(db)
        self.reached = asyncio.Event()
        self.go = asyncio.Event()

    async def take_seat(self, opening_id: str, match_id: str) -> SeatTaken:
        self.reached.set()
        await self.go.wait()
        return await super().take_seat(opening_id, match_id)


async def test_a_withdrawal_during_a_confirmation_that_finds_no_seat_is_kept(
    db: AsyncDatabase[Document],
) -> None:
    store = HeldAtTheSeat(db)
    await store.ensure_indexes()
    registry = Registry(store=store, reference=load_reference())
    employer, _ = await registry.create_employer("Acme")
    opening = await registry.post_opening(employer, replace(TERMS, seats=1))
    coordinator, _ = await registry.create_coordinator("Dana", ("sch_1",), NotificationChannels())
    matches = []
    for _ in range(2):
        a = application("sch_1")
        student = await registry.register_student(coordinator, "sch_1", a.person, a.plan)
        event = proposed(student.id, "sch_1", opening.id, employer.id)
        await registry.on_match_event(event)
        matches.append(event)
    holder, late = matches
    store.go.set()
    await registry.confirm_match(coordinator, holder.payload.match_id)  # the only seat
    store.go.clear()
    store.reached.clear()

    confirming = asyncio.create_task(registry.confirm_match(coordinator, late.payload.match_id))
    await asyncio.wait_for(store.reached.wait(), timeout=10)
    await registry.on_match_event(withdrawn(late, "the opening closed"))
    store.go.set()
    with pytest.raises(Conflict):
        await confirming

    found = await registry.match_for(coordinator, late.payload.match_id)
    assert found.status == MatchStatus.WITHDRAWN
