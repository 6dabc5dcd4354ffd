"""The transactional outbox without transactions.

An entity document carries its own pending events in an `outbox` list, written in the same
single-document update as the entity change (`$push`, and a flag the relay
queries), so the two cannot diverge. The relay
publishes each document's pending events in order, then removes exactly those entries with
a write conditioned on the document's `version`; a concurrent writer bumps the version and
the relay retries the removal. Kafka down means events wait in the documents, never lost;
a crash after publishing and before removal republishes, and consumers are idempotent on
`event_id`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import CollectorRegistry
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from wbl_common.bus import MessageBus, serialize
from wbl_common.metrics import OutboxMetrics
from wbl_common.mongo import Document
from wbl_schemas.envelope import Envelope

log = structlog.get_logger(__name__)


def outbox_entry(event: Envelope) -> Document:
    return {
        "event_id": str(event.event_id),
        "topic": event.topic,
        "key": event.key(),
        "value": serialize(event).decode(),
        # The event was made for this write; how long it has waited is the relay's gauge.
        "queued_at": event.occurred_at,
    }


_LOCKS: dict[tuple[int, str, str], asyncio.Lock] = {}


def outbox_lock(collection: AsyncCollection[Document]) -> asyncio.Lock:
    """The lock a process holds while it updates outbox-bearing documents of `collection`.

    FerretDB 1.24 applies concurrent updates to one document as read-modify-write without
    isolation (40 concurrent `$inc`s left a counter at 6 in our tests), so the relay's
    clearing could overwrite a writer's `$push` and lose an event. Within one service
    process, writers of outbox updates and the relay take this lock; MongoDB itself makes
    single-document updates atomic, so replicas against MongoDB need nothing more.
    """
    key = (id(asyncio.get_running_loop()), collection.database.name, collection.name)
    lock = _LOCKS.get(key)
    if lock is None:
        lock = _LOCKS[key] = asyncio.Lock()
    return lock


def with_outbox(update: Document, *events: Envelope) -> Document:
    """`update` plus the fragments that queue `events` in the same single-document write."""
    merged: Document = {op: dict(fields) for op, fields in update.items()}
    merged.setdefault("$push", {})["outbox"] = {"$each": [outbox_entry(e) for e in events]}
    merged.setdefault("$set", {})["outbox_pending"] = True
    return merged


def new_with_outbox(document: Document, *events: Envelope) -> Document:
    """A new entity document that already carries its first events."""
    return {**document, "outbox": [outbox_entry(e) for e in events], "outbox_pending": True}


class OutboxRelay:
    def __init__(
        self,
        collections: Sequence[AsyncCollection[Document]],
        bus: MessageBus,
        poll_seconds: float = 1.0,
        batch: int = 500,
        metrics: OutboxMetrics | None = None,
    ) -> None:
        self._collections = collections
        self._bus = bus
        self._poll_seconds = poll_seconds
        self._batch = batch
        self._wake = asyncio.Event()
        self._metrics = metrics or OutboxMetrics(CollectorRegistry())
        for collection in collections:
            self._metrics.expect(collection.name)

    def wake(self) -> None:
        """Called after a local write so the event leaves now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                while await self.publish_pending() > 0:
                    pass
            except Exception as error:  # broker or database down: keep the events, try later
                log.warning("outbox relay paused", error=type(error).__name__, detail=str(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
            self._wake.clear()

    async def publish_pending(self) -> int:
        """Publish one batch of pending events per collection; returns how many were sent."""
        sent = 0
        for collection in self._collections:
            docs = await collection.find(
                {"outbox_pending": True}, {"outbox": 1, "version": 1}
            ).to_list(self._batch)
            self._metrics.found(collection.name, _queued_at(docs), datetime.now(UTC))
            if not docs:
                continue
            messages = [
                (e["topic"], e["key"], e["value"].encode()) for doc in docs for e in doc["outbox"]
            ]
            await self._bus.publish_many(messages)
            await self._clear(collection, docs)
            sent += len(messages)
        return sent

    async def _clear(self, collection: AsyncCollection[Document], docs: list[Document]) -> None:
        """Remove the published entries: one bulk write conditioned on each version; the
        documents a writer touched meanwhile are then settled one by one."""
        async with outbox_lock(collection):
            result = await self._clear_all(collection, docs)
        if result == len(docs):
            return
        for doc in docs:
            await self._remove(collection, doc["_id"], {e["event_id"] for e in doc["outbox"]})

    async def _clear_all(self, collection: AsyncCollection[Document], docs: list[Document]) -> int:
        result = await collection.bulk_write(
            [
                UpdateOne(
                    {"_id": doc["_id"], "version": doc["version"]},
                    {"$set": {"outbox": [], "outbox_pending": False}},
                )
                for doc in docs
            ],
            ordered=False,
        )
        return result.matched_count

    async def _remove(
        self, collection: AsyncCollection[Document], doc_id: Any, event_ids: set[str]
    ) -> None:
        while True:
            doc = await collection.find_one({"_id": doc_id}, {"outbox": 1, "version": 1})
            if doc is None:
                return
            remaining = [e for e in doc["outbox"] if e["event_id"] not in event_ids]
            async with outbox_lock(collection):
                result = await collection.update_one(
                    {"_id": doc_id, "version": doc["version"]},
                    {"$set": {"outbox": remaining, "outbox_pending": bool(remaining)}},
                )
            if result.matched_count == 1:
                return


def _queued_at(docs: list[Document]) -> list[datetime]:
    # Entries queued before `queued_at` existed count as queued now.
    now = datetime.now(UTC)
    return [e.get("queued_at") or now for doc in docs for e in doc["outbox"]]
