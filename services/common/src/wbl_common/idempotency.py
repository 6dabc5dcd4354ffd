"""The one idempotency helper every consumer uses: a unique key on (consumer, event_id)."""

from __future__ import annotations

import contextlib
from typing import Protocol
from uuid import UUID

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from wbl_common.mongo import Document


class ProcessedEvents(Protocol):
    async def seen(self, consumer: str, event_id: UUID) -> bool: ...

    async def mark(self, consumer: str, event_id: UUID) -> None: ...


class MongoProcessedEvents:
    """Marks are written after the handler's own write; handlers are idempotent on their
    natural keys too, so a crash between the two only replays a harmless handler. A mark's
    `_id` is its key: FerretDB finds a document by index only for a filter that is exactly
    `{_id}` (any other filter scans the collection, which grows with every event)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._events = db["processed_events"]

    async def ensure_indexes(self) -> None:
        """The key is the `_id` (see `_mark_id`): unique, and the one filter FerretDB
        answers from an index, so a look-up stays quick however many events were processed."""

    async def seen(self, consumer: str, event_id: UUID) -> bool:
        return await self._events.find_one({"_id": _mark_id(consumer, event_id)}) is not None

    async def mark(self, consumer: str, event_id: UUID) -> None:
        with contextlib.suppress(DuplicateKeyError):
            await self._events.insert_one(
                {
                    "_id": _mark_id(consumer, event_id),
                    "consumer": consumer,
                    "event_id": str(event_id),
                }
            )


def _mark_id(consumer: str, event_id: UUID) -> str:
    return f"{consumer}/{event_id}"


class InMemoryProcessedEvents:
    def __init__(self) -> None:
        self.marks: set[tuple[str, UUID]] = set()

    async def seen(self, consumer: str, event_id: UUID) -> bool:
        return (consumer, event_id) in self.marks

    async def mark(self, consumer: str, event_id: UUID) -> None:
        self.marks.add((consumer, event_id))
