"""A confirmation and a withdrawal of one match cross (registry kept the confirmation; the
matcher had moved the student meanwhile): the notifier shows "confirmed" whichever topic
delivers first, and when two replicas record them at the same moment."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from tests.integration.notifier.conftest import SmtpServer
from tests.support import eventually
from wbl_common.mongo import Document
from wbl_notifier.bootstrap import NotifierService, bootstrap
from wbl_notifier.domain import NotificationStatus
from wbl_notifier.handlers import Notifier
from wbl_notifier.store import MongoNotifierStore
from wbl_schemas import topics
from wbl_schemas.envelope import Envelope
from wbl_schemas.events import (
    CoordinatorProfile,
    CoordinatorRegistered,
    MatchProposal,
    MatchProposed,
    MatchWithdrawal,
    MatchWithdrawn,
    PlacementConfirmed,
    PlacementDecision,
)

pytestmark = pytest.mark.integration

CONFIRMED = NotificationStatus.CONFIRMED


class Match:
    def __init__(self, tag: str, n: int = 1) -> None:
        self.school, self.coordinator_id = f"sch_{tag}", f"coo_{tag}"
        self.match_id, self.student = f"mat_{tag}_{n}", f"stu_{tag}_{n}"

    def coordinator(self) -> CoordinatorRegistered:
        profile = CoordinatorProfile(
            coordinator_id=self.coordinator_id, version=1, school_ids=(self.school,)
        )
        return CoordinatorRegistered(producer="test", payload=profile)

    def proposed(self) -> MatchProposed:
        return MatchProposed(
            producer="test",
            payload=MatchProposal(
                match_id=self.match_id,
                round_id="rnd_1",
                student_id=self.student,
                school_id=self.school,
                opening_id="opn_1",
                employer_id="emp_1",
                career_field="cybersecurity",
            ),
        )

    def withdrawn(self) -> MatchWithdrawn:
        withdrawal = MatchWithdrawal(
            match_id=self.match_id,
            round_id="rnd_2",
            student_id=self.student,
            school_id=self.school,
            opening_id="opn_1",
            reason="the student moved to another opening",
        )
        return MatchWithdrawn(producer="test", payload=withdrawal)

    def confirmed(self) -> PlacementConfirmed:
        decision = PlacementDecision(
            match_id=self.match_id,
            student_id=self.student,
            school_id=self.school,
            opening_id="opn_1",
            coordinator_id=self.coordinator_id,
        )
        return PlacementConfirmed(producer="test", payload=decision)


async def processed(service: NotifierService, event: Envelope) -> None:
    runtime = service.runtime

    async def marked() -> bool:
        return await runtime.processed.seen(f"{runtime.service}.{event.topic}", event.event_id)

    await eventually(marked, what=f"{event.event_type} processed")


@pytest.mark.parametrize(
    "withdrawal_first", [True, False], ids=["withdrawn-first", "confirmed-first"]
)
async def test_a_confirmation_wins_over_a_crossing_withdrawal_in_either_order(
    settings_for: Any, smtp: SmtpServer, publish: Any, withdrawal_first: bool
) -> None:
    match = Match(secrets.token_hex(4))
    async with bootstrap(settings_for(smtp.port)) as service:
        before: list[Envelope] = [match.coordinator(), match.proposed()]
        for event in before:
            await publish(event)
            await processed(service, event)
        crossing: list[Envelope] = [match.withdrawn(), match.confirmed()]
        for event in crossing if withdrawal_first else reversed(crossing):
            await publish(event)
            await processed(service, event)  # so this one is recorded first, for sure
        [n] = await service.notifier.inbox(match.coordinator_id, None, 1, 50)
        confirmed = await service.notifier.inbox(match.coordinator_id, CONFIRMED, 1, 50)
    assert n.status is CONFIRMED
    assert set(n.history) == {
        "withdrawn: the student moved to another opening",
        "confirmed by coordinator",
    }
    assert [c.match_id for c in confirmed] == [match.match_id]
    assert {topics.MATCHES, topics.PLACEMENTS} == {e.topic for e in crossing}


async def test_two_replicas_recording_both_at_once_end_confirmed(
    db: AsyncDatabase[Document], mongo_uri: str
) -> None:
    """Each replica with its own connection to one database, as two processes have: the
    withdrawal and the confirmation of each match handled at the same moment."""
    clients: list[AsyncMongoClient[Document]] = [
        AsyncMongoClient(mongo_uri, tz_aware=True) for _ in range(2)
    ]
    try:
        stores = [MongoNotifierStore(client[db.name]) for client in clients]
        await stores[0].ensure_indexes()
        one, other = (Notifier(store=store) for store in stores)
        tag = secrets.token_hex(4)
        matches = [Match(tag, n) for n in range(12)]
        await one.on_coordinator_event(matches[0].coordinator())
        for match in matches:
            await one.on_match_event(match.proposed())
        await asyncio.gather(
            *(
                task
                for match in matches
                for task in (
                    one.on_match_event(match.withdrawn()),
                    other.on_placement_event(match.confirmed()),
                )
            )
        )
        inbox = await one.inbox(matches[0].coordinator_id, None, 1, 50)
    finally:
        for client in clients:
            await client.close()
    assert {n.match_id: n.status for n in inbox} == {m.match_id: CONFIRMED for m in matches}
