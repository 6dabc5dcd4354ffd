"""A lease: work only one replica may do at a time (the daily digests), held in the
database so it survives a crash of its holder.

Each holding is an epoch, a document `<name>#<epoch>` inserted by its holder: of replicas
taking the lease at once, the one whose insert wins holds it (FerretDB 1.24 makes such an
insert atomic across processes, not a conditional update). The holder renews its own
epoch's expiry; once that passes, say after a kill -9, any replica takes the next epoch.
Until wbl_common has one, the notifier keeps this helper; it is built on the same idea.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from pydantic import TypeAdapter
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from wbl_common.mongo import Document


@dataclass(frozen=True)
class Epoch:
    name: str
    number: int
    holder: str
    expires_at: datetime

    @property
    def key(self) -> str:
        return f"{self.name}#{self.number}"


EPOCH = TypeAdapter(Epoch)


class LeaseStore(Protocol):
    async def latest(self, name: str) -> Epoch | None: ...

    async def take(self, epoch: Epoch) -> bool: ...

    async def renew(self, epoch: Epoch) -> None: ...

    async def forget_before(self, name: str, number: int) -> None: ...


@dataclass
class Lease:
    store: LeaseStore
    name: str
    holder: str
    ttl: timedelta
    clock: Callable[[], datetime]

    async def hold(self) -> bool:
        """Whether this replica holds the lease now: renews it when it does, takes the next
        epoch when the current one has expired (or none exists)."""
        now = self.clock()
        current = await self.store.latest(self.name)
        if current is not None and current.expires_at > now:
            if current.holder != self.holder:
                return False
            await self.store.renew(replace(current, expires_at=now + self.ttl))
            return True
        number = 1 if current is None else current.number + 1
        if not await self.store.take(Epoch(self.name, number, self.holder, now + self.ttl)):
            return False  # another replica took this epoch first
        await self.store.forget_before(self.name, number - 1)
        return True


class MongoLeaseStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.leases = db["leases"]

    async def latest(self, name: str) -> Epoch | None:
        # A handful of documents per lease (older epochs are forgotten), so the scan FerretDB
        # makes of this filter stays small.
        cursor = self.leases.find({"name": name}, {"_id": 0}).sort("number", DESCENDING)
        async for doc in cursor.limit(1):
            return EPOCH.validate_python(doc)
        return None

    async def take(self, epoch: Epoch) -> bool:
        try:
            await self.leases.insert_one({"_id": epoch.key, **EPOCH.dump_python(epoch)})
        except DuplicateKeyError:
            return False
        return True

    async def renew(self, epoch: Epoch) -> None:
        """Only the holder writes its epoch's document, so the update races no one."""
        await self.leases.update_one({"_id": epoch.key}, {"$set": {"expires_at": epoch.expires_at}})

    async def forget_before(self, name: str, number: int) -> None:
        await self.leases.delete_many({"name": name, "number": {"$lt": number}})


@dataclass
class InMemoryLeaseStore:
    epochs: dict[str, Epoch] = field(default_factory=dict)

    async def latest(self, name: str) -> Epoch | None:
        ours = [e for e in self.epochs.values() if e.name == name]
        return max(ours, key=lambda e: e.number, default=None)

    async def take(self, epoch: Epoch) -> bool:
        if epoch.key in self.epochs:
            return False
        self.epochs[epoch.key] = epoch
        return True

    async def renew(self, epoch: Epoch) -> None:
        self.epochs[epoch.key] = epoch

    async def forget_before(self, name: str, number: int) -> None:
        for key in [k for k, e in self.epochs.items() if e.name == name and e.number < number]:
            del self.epochs[key]
