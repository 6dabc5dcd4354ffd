"""Seats stay exact under concurrent confirmations against real FerretDB: several
clients (as several registry processes would be) confirm at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from tests.unit.registry.builders import TERMS, application, proposed
from wbl_common.mongo import Document
from wbl_registry.domain import Conflict, Coordinator, MatchStatus
from wbl_registry.handlers import Registry
from wbl_registry.store import MongoRegistryStore
from wbl_schemas.events import NotificationChannels
from wbl_schemas.reference import load_reference

pytestmark = pytest.mark.integration

SEATS = 25
CANDIDATES = 100
PROCESSES = 4


@pytest.fixture
async def registries(mongo_uri: str, db: AsyncDatabase[Document]) -> AsyncIterator[list[Registry]]:
    clients: list[AsyncMongoClient[Document]] = [
        AsyncMongoClient(mongo_uri, tz_aware=True) for _ in range(PROCESSES)
    ]
    stores = [MongoRegistryStore(client[db.name]) for client in clients]
    await stores[0].ensure_indexes()
    try:
        yield [Registry(store=store, reference=load_reference()) for store in stores]
    finally:
        for client in clients:
            await client.close()


async def scene(registry: Registry, candidates: int) -> tuple[str, Coordinator, list[str]]:
    employer, _ = await registry.create_employer("Acme")
    opening = await registry.post_opening(employer, replace(TERMS, seats=SEATS))
    coordinator, _ = await registry.create_coordinator("Dana", ("sch_1",), NotificationChannels())
    match_ids = []
    for _ in range(candidates):
        a = application("sch_1")
        student = await registry.register_student(coordinator, "sch_1", a.person, a.plan)
        event = proposed(student.id, "sch_1", opening.id, employer.id)
        await registry.on_match_event(event)
        match_ids.append(event.payload.match_id)
    return opening.id, coordinator, match_ids


async def outcome(registry: Registry, coordinator: Coordinator, match_id: str) -> str:
    try:
        await registry.confirm_match(coordinator, match_id)
    except Conflict:
        return "refused"
    return "confirmed"


async def test_concurrent_confirmations_take_exactly_the_seats_there_are(
    registries: list[Registry], db: AsyncDatabase[Document]
) -> None:
    opening_id, coordinator, match_ids = await scene(registries[0], CANDIDATES)
    started = time.perf_counter()
    results = await asyncio.gather(
        *(
            outcome(registries[i % PROCESSES], coordinator, match_id)
            for i, match_id in enumerate(match_ids)
        )
    )
    elapsed = time.perf_counter() - started
    print(f"\n{CANDIDATES} concurrent confirmations for {SEATS} seats: {elapsed:.2f}s")
    assert results.count("confirmed") == SEATS
    assert results.count("refused") == CANDIDATES - SEATS
    opening = await registries[0].store.opening(opening_id)
    assert opening is not None
    assert opening.seats_remaining == 0
    confirmed = {m for m, r in zip(match_ids, results, strict=True) if r == "confirmed"}
    assert set(opening.seat_holders) == confirmed
    assert await db["seats"].count_documents({"opening_id": opening_id}) == SEATS
    matches = [await registries[0].store.match(m) for m in match_ids]
    statuses = [m.status for m in matches if m is not None]
    assert statuses.count(MatchStatus.CONFIRMED) == SEATS
    assert statuses.count(MatchStatus.PROPOSED) == CANDIDATES - SEATS  # given back
    assert await db["placements"].count_documents({}) == SEATS
    queued = [
        e["event_type"]
        async for intent in db["outbox"].find({"key": {"$regex": "^matches/"}})
        for e in intent["events"]
    ]
    assert queued == ["PlacementConfirmed"] * SEATS


async def test_the_same_match_confirmed_at_once_takes_one_seat(
    registries: list[Registry], db: AsyncDatabase[Document]
) -> None:
    opening_id, coordinator, [match_id] = await scene(registries[0], 1)
    results = await asyncio.gather(
        *(outcome(registries[i % PROCESSES], coordinator, match_id) for i in range(20))
    )
    print(f"\n20 concurrent confirmations of one match: {results.count('confirmed')} answered 200")
    assert "confirmed" in results
    opening = await registries[0].store.opening(opening_id)
    assert opening is not None
    assert (opening.seats_remaining, opening.seat_holders) == (SEATS - 1, (match_id,))
    match = await registries[0].store.match(match_id)
    assert match is not None and match.status == MatchStatus.CONFIRMED
    # Racing writes of the same decision queue the one event once (one outcome commits).
    queued = [
        e["event_id"]
        async for intent in db["outbox"].find({"key": f"matches/{match_id}"})
        for e in intent["events"]
    ]
    assert len(queued) == 1
