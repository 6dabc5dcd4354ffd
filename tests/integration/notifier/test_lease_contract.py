"""The digest lease on both stores: one holder per epoch (an insert), renewed by its holder,
taken over once expired; the MongoDB store on FerretDB behaves as the in-memory one."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from tests.unit.notifier.builders import T0
from wbl_common.mongo import Document
from wbl_notifier.lease import Epoch, InMemoryLeaseStore, Lease, LeaseStore, MongoLeaseStore

pytestmark = pytest.mark.integration

TTL = timedelta(minutes=3)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["memory", "mongo"])
def leases(request: pytest.FixtureRequest, db: AsyncDatabase[Document]) -> LeaseStore:
    return InMemoryLeaseStore() if request.param == "memory" else MongoLeaseStore(db)


def lease(store: LeaseStore, holder: str, clock: Clock) -> Lease:
    return Lease(store, "digests", holder, TTL, clock)


async def test_an_epoch_is_taken_once_and_the_latest_is_the_highest(leases: LeaseStore) -> None:
    assert await leases.latest("digests") is None
    first = Epoch("digests", 1, "a", T0 + TTL)
    assert await leases.take(first)
    assert not await leases.take(Epoch("digests", 1, "b", T0 + TTL))
    assert await leases.take(Epoch("digests", 2, "b", T0 + 2 * TTL))
    assert await leases.take(Epoch("rounds", 7, "c", T0))
    assert await leases.latest("digests") == Epoch("digests", 2, "b", T0 + 2 * TTL)
    await leases.renew(Epoch("digests", 2, "b", T0 + 3 * TTL))
    assert await leases.latest("digests") == Epoch("digests", 2, "b", T0 + 3 * TTL)
    await leases.forget_before("digests", 2)
    assert await leases.latest("digests") == Epoch("digests", 2, "b", T0 + 3 * TTL)
    assert await leases.latest("rounds") == Epoch("rounds", 7, "c", T0)


async def test_one_holder_at_a_time_and_a_take_over_once_it_expires(leases: LeaseStore) -> None:
    clock = Clock()
    a, b = lease(leases, "a", clock), lease(leases, "b", clock)
    assert await a.hold() and not await b.hold()
    clock.now += TTL - timedelta(seconds=1)
    assert await a.hold()  # renewed for another TTL
    clock.now += TTL - timedelta(seconds=1)
    assert not await b.hold()
    clock.now += timedelta(seconds=2)  # a stopped renewing (crashed): expired
    assert await b.hold() and not await a.hold()
    assert await leases.latest("digests") == Epoch("digests", 2, "b", clock.now + TTL)


async def test_of_replicas_taking_a_free_lease_at_once_exactly_one_holds_it(
    leases: LeaseStore,
) -> None:
    clock = Clock()
    contenders = [lease(leases, f"replica-{i}", clock) for i in range(6)]
    held = await asyncio.gather(*(c.hold() for c in contenders))
    assert held.count(True) == 1
