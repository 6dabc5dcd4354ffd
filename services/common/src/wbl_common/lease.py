"""A lease: at most one replica does a piece of work at a time, and each holder has a fencing
token (its epoch) that grows with every change of holder.

Built from inserts only, the one write FerretDB makes atomic: each epoch is a document
`<name>#<epoch>`, and taking the lease is inserting the next epoch once the current one has
expired, so of two contenders one wins. The holder renews by updating its own epoch's
document, which nobody else writes. A holder acts only while its lease has at least
`margin` left by its own clock, so a paused holder stops before another can take over.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from wbl_common.mongo import Document

LEASES = "leases"
log = structlog.get_logger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Lease:
    db: AsyncDatabase[Document]
    name: str
    ttl: timedelta = timedelta(seconds=10)
    margin: timedelta = timedelta(seconds=3)
    clock: Callable[[], datetime] = utcnow
    holder: str = field(default_factory=lambda: secrets.token_hex(8))
    epoch: int = 0  # ours, while we hold it; 0 when we do not
    _until: datetime | None = None

    async def hold(self) -> bool:
        """Take or renew the lease; True when this holder may act now."""
        now = self.clock()
        if self.epoch and self._until and now < self._until - self.ttl / 2:
            return True  # renewed recently enough
        current = await self._current()
        if current is not None and current["expires_at"] > now:
            if current["holder"] == self.holder:
                return await self._renew(current["epoch"], now)
            self.epoch, self._until = 0, None
            return False
        # Free, or expired (ours too: once expired, another may be taking it, so compete).
        return await self._take((current or {"epoch": 0})["epoch"] + 1, now)

    async def keep(self) -> None:
        """Hold the lease for as long as this runs: renew it while ours, take it when it is
        free (a standby), so long work (a round) is not cut off by the lease's expiry."""
        while True:
            try:
                await self.hold()
            except Exception as error:  # the database is away: we may lose it, and stop acting
                log.warning("lease not renewed", lease=self.name, error=type(error).__name__)
            await asyncio.sleep(self.ttl.total_seconds() / 3)

    async def release(self) -> None:
        """Give the lease up (on shutdown), so another replica need not wait for expiry."""
        if self.epoch:
            await self._epochs.update_one(
                {"_id": _doc_id(self.name, self.epoch)}, {"$set": {"expires_at": self.clock()}}
            )
        self.epoch, self._until = 0, None

    @property
    def _epochs(self) -> AsyncCollection[Document]:
        return self.db[LEASES]

    async def _current(self) -> Document | None:
        docs = await self._epochs.find({"name": self.name}).to_list(None)
        return max(docs, key=lambda d: d["epoch"], default=None)

    async def _take(self, epoch: int, now: datetime) -> bool:
        until = now + self.ttl
        try:
            await self._epochs.insert_one(
                {
                    "_id": _doc_id(self.name, epoch),
                    "name": self.name,
                    "epoch": epoch,
                    "holder": self.holder,
                    "expires_at": until,
                }
            )
        except DuplicateKeyError:  # another replica took it first
            self.epoch, self._until = 0, None
            return False
        self.epoch, self._until = epoch, until
        for old in range(max(1, epoch - 5), epoch):  # keep the collection small
            with contextlib.suppress(Exception):
                await self._epochs.delete_one({"_id": _doc_id(self.name, old)})
        return True

    async def _renew(self, epoch: int, now: datetime) -> bool:
        until = now + self.ttl
        await self._epochs.update_one(
            {"_id": _doc_id(self.name, epoch)}, {"$set": {"expires_at": until}}
        )
        newest = await self._current()
        if newest is None or newest["epoch"] != epoch:  # someone took over meanwhile
            self.epoch, self._until = 0, None
            return False
        self.epoch, self._until = epoch, until
        return True

    async def still_held(self) -> bool:
        """Whether our epoch is still the newest (a fencing check before a critical write)."""
        if not self.epoch or self._until is None or self.clock() >= self._until - self.margin:
            return False
        newest = await self._current()
        return newest is not None and newest["epoch"] == self.epoch


def _doc_id(name: str, epoch: int) -> str:
    return f"{name}#{epoch:012d}"
