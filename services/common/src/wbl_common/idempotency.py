"""The one idempotency helper every consumer uses: a unique key on (consumer, event_id)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from wbl_common.mongo import Document, find_by_ids, insert_each


class ProcessedEvents(Protocol):
    async def seen(self, consumer: str, event_id: UUID) -> bool: ...

    async def mark(self, consumer: str, event_id: UUID) -> None: ...

    async def seen_among(self, consumer: str, event_ids: Sequence[UUID]) -> set[UUID]:
        """Which of `event_ids` were processed: one query for a whole batch."""
        ...

    async def mark_all(self, consumer: str, event_ids: Sequence[UUID]) -> None: ...


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

    async def seen_among(self, consumer: str, event_ids: Sequence[UUID]) -> set[UUID]:
        if not event_ids:
            return set()
        ids = {_mark_id(consumer, e): e for e in event_ids}
        found = await find_by_ids(self._events, ids, {"_id": 1})
        return {ids[mark_id] for mark_id in found}

    async def mark_all(self, consumer: str, event_ids: Sequence[UUID]) -> None:
        docs = [
            {"_id": _mark_id(consumer, e), "consumer": consumer, "event_id": str(e)}
            for e in event_ids
        ]
        await insert_each(self._events, docs)


def _mark_id(consumer: str, event_id: UUID) -> str:
    return f"{consumer}/{event_id}"


class InMemoryProcessedEvents:
    def __init__(self) -> None:
        self.marks: set[tuple[str, UUID]] = set()

    async def seen(self, consumer: str, event_id: UUID) -> bool:
        return (consumer, event_id) in self.marks

    async def mark(self, consumer: str, event_id: UUID) -> None:
        self.marks.add((consumer, event_id))

    async def seen_among(self, consumer: str, event_ids: Sequence[UUID]) -> set[UUID]:
        return {e for e in event_ids if (consumer, e) in self.marks}

    async def mark_all(self, consumer: str, event_ids: Sequence[UUID]) -> None:
        self.marks.update((consumer, e) for e in event_ids)
