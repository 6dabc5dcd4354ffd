"""Notifier persistence: the coordinator directory (from `wbl.coordinators`), the inbox (one
notification per coordinator and match), the deliveries over email and webhook (one per
coordinator, match, channel and event type) and the spent action links. Every "only once"
is a unique key, never check-then-insert. `InMemoryNotifierStore` keeps the same contract
in dicts, for unit tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from pydantic import TypeAdapter
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from wbl_common.mongo import Document, upsert_if_newer
from wbl_notifier.domain import (
    DIGEST_EVENT,
    FINAL,
    Delivery,
    DeliveryStatus,
    Notification,
    NotificationStatus,
)
from wbl_schemas.events import CoordinatorProfile, MatchProposal

T = TypeVar("T")

NOTIFICATION = TypeAdapter(Notification)
DELIVERY = TypeAdapter(Delivery)


class NotifierStore(Protocol):
    async def save_coordinator(self, profile: CoordinatorProfile) -> None: ...

    async def remove_coordinator(self, coordinator_id: str, version: int) -> None: ...

    async def coordinators_of(self, school_id: str) -> list[CoordinatorProfile]: ...

    async def save_match(self, proposal: MatchProposal) -> None: ...

    async def set_match_status(self, match_id: str, status: NotificationStatus) -> None: ...

    async def open_matches_of(self, school_ids: tuple[str, ...]) -> list[MatchProposal]: ...

    async def add_notifications(self, notifications: list[Notification]) -> int: ...

    async def set_status(
        self, match_id: str, status: NotificationStatus, note: str, now: datetime
    ) -> int: ...

    async def inbox(
        self, coordinator_id: str, status: NotificationStatus | None, skip: int, limit: int
    ) -> list[Notification]: ...

    async def changed_since(self, coordinator_id: str, since: datetime) -> list[Notification]: ...

    async def add_deliveries(self, deliveries: list[Delivery]) -> int: ...

    async def claim_due(self, now: datetime, lease_until: datetime) -> Delivery | None: ...

    async def record_attempt(
        self, delivery_id: str, attempts: int, error: str, lease_until: datetime
    ) -> None: ...

    async def finish(self, delivery: Delivery, now: datetime) -> None: ...

    async def undead_lettered(self) -> list[Delivery]: ...

    async def mark_dead_lettered(self, delivery_id: str) -> None: ...

    async def held(self) -> list[Delivery]: ...

    async def bundle(self, delivery_ids: list[str], digest_id: str) -> None: ...

    async def release_digests(self, now: datetime) -> int: ...

    async def deliveries_of(self, coordinator_id: str, match_ids: list[str]) -> list[Delivery]: ...

    async def spend_link(self, use_key: str, now: datetime) -> bool: ...

    async def release_link(self, use_key: str) -> None: ...

    async def link_spent(self, use_key: str) -> bool: ...


DUPLICATE_KEY = 11000


def _inserted_despite_duplicates(error: BulkWriteError) -> int:
    """How many were inserted when only duplicates were refused; any other write error
    is raised, so the consumer redelivers instead of losing the rest."""
    if any(e.get("code") != DUPLICATE_KEY for e in error.details.get("writeErrors", [])):
        raise error
    return int(error.details.get("nInserted", 0))


class MongoNotifierStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.coordinators = db["coordinators"]
        self.notifications = db["notifications"]
        self.matches = db["matches"]
        self.deliveries = db["deliveries"]
        self.spent_links = db["spent_links"]
        # FerretDB 1.24 does not isolate concurrent updates of one document (ADR 3): the
        # worker touching a notification as a delivery finishes could undo a consumer's
        # status change. Updates of notifications take turns within the process.
        self._notification_writes = asyncio.Lock()

    async def ensure_indexes(self) -> None:
        await self.coordinators.create_index("school_ids")
        await self.notifications.create_index(
            [("coordinator_id", ASCENDING), ("match_id", ASCENDING)], unique=True
        )
        await self.notifications.create_index("match_id")
        await self.matches.create_index("school_id")
        await self.notifications.create_index(
            [("coordinator_id", ASCENDING), ("created_at", DESCENDING)]
        )
        await self.notifications.create_index(
            [("coordinator_id", ASCENDING), ("updated_at", ASCENDING)]
        )
        await self.deliveries.create_index(
            [
                ("coordinator_id", ASCENDING),
                ("match_id", ASCENDING),
                ("channel", ASCENDING),
                ("event_type", ASCENDING),
            ],
            unique=True,
        )
        await self.deliveries.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        await self.deliveries.create_index("digest_id")

    async def save_coordinator(self, profile: CoordinatorProfile) -> None:
        fields = {**profile.model_dump(mode="json", exclude={"version"}), "removed": False}
        await upsert_if_newer(self.coordinators, profile.coordinator_id, profile.version, fields)

    async def remove_coordinator(self, coordinator_id: str, version: int) -> None:
        await upsert_if_newer(self.coordinators, coordinator_id, version, {"removed": True})

    async def coordinators_of(self, school_id: str) -> list[CoordinatorProfile]:
        cursor = self.coordinators.find({"school_ids": school_id, "removed": False})
        return [
            CoordinatorProfile.model_validate(
                {k: v for k, v in doc.items() if k not in ("_id", "removed")}
            )
            async for doc in cursor
        ]

    async def save_match(self, proposal: MatchProposal) -> None:
        """Kept so a coordinator who registers after the match still hears of it."""
        await self.matches.update_one(
            {"_id": proposal.match_id},
            {
                "$setOnInsert": {"status": NotificationStatus.PROPOSED.value},
                "$set": {
                    "proposal": proposal.model_dump(mode="json"),
                    "school_id": proposal.school_id,
                },
            },
            upsert=True,
        )

    async def set_match_status(self, match_id: str, status: NotificationStatus) -> None:
        await self.matches.update_one({"_id": match_id}, {"$set": {"status": status.value}})

    async def open_matches_of(self, school_ids: tuple[str, ...]) -> list[MatchProposal]:
        cursor = self.matches.find(
            {"school_id": {"$in": list(school_ids)}, "status": NotificationStatus.PROPOSED.value}
        )
        return [MatchProposal.model_validate(doc["proposal"]) async for doc in cursor]

    async def add_notifications(self, notifications: list[Notification]) -> int:
        if not notifications:
            return 0
        docs = [NOTIFICATION.dump_python(n, mode="python") for n in notifications]
        try:
            result = await self.notifications.insert_many(docs, ordered=False)
            return len(result.inserted_ids)
        except BulkWriteError as error:  # redelivery: the unique key keeps one per coordinator
            return _inserted_despite_duplicates(error)

    async def set_status(
        self, match_id: str, status: NotificationStatus, note: str, now: datetime
    ) -> int:
        async with self._notification_writes:
            result = await self.notifications.update_many(
                {"match_id": match_id, "status": {"$nin": [s.value for s in FINAL]}},
                {"$set": {"status": status.value, "updated_at": now}, "$push": {"history": note}},
            )
        return result.modified_count

    async def inbox(
        self, coordinator_id: str, status: NotificationStatus | None, skip: int, limit: int
    ) -> list[Notification]:
        query: dict[str, Any] = {"coordinator_id": coordinator_id}
        if status is not None:
            query["status"] = status.value
        cursor = (
            self.notifications.find(query, {"_id": 0})
            .sort([("created_at", DESCENDING), ("match_id", ASCENDING)])
            .skip(skip)
            .limit(limit)
        )
        return [NOTIFICATION.validate_python(doc) async for doc in cursor]

    async def changed_since(self, coordinator_id: str, since: datetime) -> list[Notification]:
        """Notifications created or changed at or after `since`, oldest change first (the
        inbox's live stream polls this; FerretDB serves no change streams)."""
        cursor = self.notifications.find(
            {"coordinator_id": coordinator_id, "updated_at": {"$gte": since}}, {"_id": 0}
        ).sort([("updated_at", ASCENDING), ("match_id", ASCENDING)])
        return [NOTIFICATION.validate_python(doc) async for doc in cursor]

    async def add_deliveries(self, deliveries: list[Delivery]) -> int:
        if not deliveries:
            return 0
        docs = [_delivery_doc(d) for d in deliveries]
        try:
            result = await self.deliveries.insert_many(docs, ordered=False)
            return len(result.inserted_ids)
        except BulkWriteError as error:  # redelivery or restart: the unique key keeps one
            return _inserted_despite_duplicates(error)

    async def claim_due(self, now: datetime, lease_until: datetime) -> Delivery | None:
        """Take the next due delivery for `lease_until`; a worker that dies leaves it due
        again once the lease passes, so a restart resumes it."""
        doc = await self.deliveries.find_one_and_update(
            {"status": DeliveryStatus.PENDING.value, "next_attempt_at": {"$lte": now}},
            {"$set": {"next_attempt_at": lease_until}},
            sort=[("next_attempt_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else _delivery(doc)

    async def record_attempt(
        self, delivery_id: str, attempts: int, error: str, lease_until: datetime
    ) -> None:
        await self.deliveries.update_one(
            {"_id": delivery_id},
            {"$set": {"attempts": attempts, "last_error": error, "next_attempt_at": lease_until}},
        )

    async def finish(self, delivery: Delivery, now: datetime) -> None:
        """Record the outcome on the delivery, on the deliveries a digest bundles, and touch
        the notifications so the inbox's live stream shows it."""
        outcome = {
            "status": delivery.status.value,
            "attempts": delivery.attempts,
            "last_error": delivery.last_error,
        }
        # The bundled deliveries first: a crash before the digest's own write leaves the
        # digest due, so it is sent again and all of it is recorded then.
        await self.deliveries.update_many({"digest_id": delivery.delivery_id}, {"$set": outcome})
        await self.deliveries.update_one({"_id": delivery.delivery_id}, {"$set": outcome})
        async with self._notification_writes:
            await self.notifications.update_many(
                {
                    "coordinator_id": delivery.coordinator_id,
                    "match_id": {"$in": [m.match_id for m in delivery.matches]},
                },
                {"$set": {"updated_at": now}},
            )

    async def undead_lettered(self) -> list[Delivery]:
        cursor = self.deliveries.find(
            {"status": DeliveryStatus.FAILED.value, "dead_lettered": False}
        )
        return [_delivery(doc) async for doc in cursor]

    async def mark_dead_lettered(self, delivery_id: str) -> None:
        await self.deliveries.update_one({"_id": delivery_id}, {"$set": {"dead_lettered": True}})

    async def held(self) -> list[Delivery]:
        cursor = self.deliveries.find({"status": DeliveryStatus.HELD.value})
        return [_delivery(doc) async for doc in cursor]

    async def bundle(self, delivery_ids: list[str], digest_id: str) -> None:
        await self.deliveries.update_many(
            {"_id": {"$in": delivery_ids}, "status": DeliveryStatus.HELD.value},
            {"$set": {"status": DeliveryStatus.BUNDLED.value, "digest_id": digest_id}},
        )

    async def release_digests(self, now: datetime) -> int:
        """Digests whose matches are bundled become due."""
        result = await self.deliveries.update_many(
            {"event_type": DIGEST_EVENT, "status": DeliveryStatus.HELD.value},
            {"$set": {"status": DeliveryStatus.PENDING.value, "next_attempt_at": now}},
        )
        return result.modified_count

    async def deliveries_of(self, coordinator_id: str, match_ids: list[str]) -> list[Delivery]:
        cursor = self.deliveries.find(
            {"coordinator_id": coordinator_id, "match_id": {"$in": match_ids}}
        ).sort([("channel", ASCENDING), ("event_type", ASCENDING)])
        return [_delivery(doc) async for doc in cursor]

    async def spend_link(self, use_key: str, now: datetime) -> bool:
        """True the first time; the unique `_id` makes a second use fail, even concurrently."""
        try:
            await self.spent_links.insert_one({"_id": use_key, "spent_at": now})
        except DuplicateKeyError:
            return False
        return True

    async def release_link(self, use_key: str) -> None:
        await self.spent_links.delete_one({"_id": use_key})

    async def link_spent(self, use_key: str) -> bool:
        return await self.spent_links.find_one({"_id": use_key}) is not None


def _delivery_doc(delivery: Delivery) -> Document:
    doc: Document = DELIVERY.dump_python(delivery, mode="python")
    doc["_id"] = doc.pop("delivery_id")
    return doc


def _delivery(doc: Document) -> Delivery:
    return DELIVERY.validate_python({**doc, "delivery_id": doc["_id"]})


def _bson_time(moment: datetime) -> datetime:
    """`moment` as MongoDB gives it back: in UTC (naive counts as UTC), to the millisecond
    below, so both stores order and compare times alike."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def _page(items: list[T], skip: int, limit: int) -> list[T]:
    """`limit` 0 means no limit, as in MongoDB."""
    return items[skip : skip + limit] if limit else items[skip:]


@dataclass
class InMemoryNotifierStore:
    """Same contract as the MongoDB store: each unique index is a dict key here, and the
    dicts keep insertion order where MongoDB's order is unspecified."""

    # coordinator_id -> (version, profile); None marks a removal, kept so that an older
    # event arriving late cannot bring the coordinator back.
    coordinators: dict[str, tuple[int, CoordinatorProfile | None]] = field(default_factory=dict)
    matches: dict[str, tuple[NotificationStatus, MatchProposal]] = field(default_factory=dict)
    notifications: dict[tuple[str, str], Notification] = field(default_factory=dict)
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    spent_links: set[str] = field(default_factory=set)

    async def save_coordinator(self, profile: CoordinatorProfile) -> None:
        self._if_newer(profile.coordinator_id, profile.version, profile)

    async def remove_coordinator(self, coordinator_id: str, version: int) -> None:
        self._if_newer(coordinator_id, version, None)

    def _if_newer(
        self, coordinator_id: str, version: int, profile: CoordinatorProfile | None
    ) -> None:
        stored = self.coordinators.get(coordinator_id)
        if stored is None or stored[0] < version:
            self.coordinators[coordinator_id] = (version, profile)

    async def coordinators_of(self, school_id: str) -> list[CoordinatorProfile]:
        return [
            profile
            for _, profile in self.coordinators.values()
            if profile is not None and school_id in profile.school_ids
        ]

    async def save_match(self, proposal: MatchProposal) -> None:
        # A redelivered proposal refreshes the proposal but never reopens a decided match.
        stored = self.matches.get(proposal.match_id)
        status = stored[0] if stored else NotificationStatus.PROPOSED
        self.matches[proposal.match_id] = (status, proposal)

    async def set_match_status(self, match_id: str, status: NotificationStatus) -> None:
        if match_id in self.matches:
            self.matches[match_id] = (status, self.matches[match_id][1])

    async def open_matches_of(self, school_ids: tuple[str, ...]) -> list[MatchProposal]:
        return [
            proposal
            for status, proposal in self.matches.values()
            if proposal.school_id in school_ids and status == NotificationStatus.PROPOSED
        ]

    async def add_notifications(self, notifications: list[Notification]) -> int:
        added = 0
        for n in notifications:
            key = (n.coordinator_id, n.match_id)
            if key not in self.notifications:
                self.notifications[key] = replace(
                    n, created_at=_bson_time(n.created_at), updated_at=_bson_time(n.updated_at)
                )
                added += 1
        return added

    async def set_status(
        self, match_id: str, status: NotificationStatus, note: str, now: datetime
    ) -> int:
        changed = 0
        for key, n in self.notifications.items():
            if n.match_id == match_id and n.status not in FINAL:
                self.notifications[key] = replace(
                    n, status=status, updated_at=_bson_time(now), history=(*n.history, note)
                )
                changed += 1
        return changed

    async def inbox(
        self, coordinator_id: str, status: NotificationStatus | None, skip: int, limit: int
    ) -> list[Notification]:
        found = sorted(
            (
                n
                for n in self.notifications.values()
                if n.coordinator_id == coordinator_id and (status is None or n.status == status)
            ),
            key=lambda n: n.match_id,
        )
        found.sort(key=lambda n: n.created_at, reverse=True)  # stable: match_id breaks ties
        return _page(found, skip, limit)

    async def changed_since(self, coordinator_id: str, since: datetime) -> list[Notification]:
        since = _bson_time(since)
        return sorted(
            (
                n
                for n in self.notifications.values()
                if n.coordinator_id == coordinator_id and n.updated_at >= since
            ),
            key=lambda n: (n.updated_at, n.match_id),
        )

    async def add_deliveries(self, deliveries: list[Delivery]) -> int:
        keys = {d.key for d in self.deliveries.values()}
        added = 0
        for d in deliveries:
            # Two unique indexes in MongoDB: the `_id` and the delivery's natural key.
            if d.delivery_id in self.deliveries or d.key in keys:
                continue
            self.deliveries[d.delivery_id] = replace(
                d,
                created_at=_bson_time(d.created_at),
                next_attempt_at=_bson_time(d.next_attempt_at),
            )
            keys.add(d.key)
            added += 1
        return added

    async def claim_due(self, now: datetime, lease_until: datetime) -> Delivery | None:
        now = _bson_time(now)
        due = [
            d
            for d in self.deliveries.values()
            if d.status == DeliveryStatus.PENDING and d.next_attempt_at <= now
        ]
        if not due:
            return None
        claimed = replace(
            min(due, key=lambda d: d.next_attempt_at), next_attempt_at=_bson_time(lease_until)
        )
        self.deliveries[claimed.delivery_id] = claimed
        return claimed

    async def record_attempt(
        self, delivery_id: str, attempts: int, error: str, lease_until: datetime
    ) -> None:
        if delivery_id in self.deliveries:
            self.deliveries[delivery_id] = replace(
                self.deliveries[delivery_id],
                attempts=attempts,
                last_error=error,
                next_attempt_at=_bson_time(lease_until),
            )

    async def finish(self, delivery: Delivery, now: datetime) -> None:
        for delivery_id, d in self.deliveries.items():
            if delivery.delivery_id in (delivery_id, d.digest_id):
                self.deliveries[delivery_id] = replace(
                    d,
                    status=delivery.status,
                    attempts=delivery.attempts,
                    last_error=delivery.last_error,
                )
        match_ids = {m.match_id for m in delivery.matches}
        for key, n in self.notifications.items():
            if n.coordinator_id == delivery.coordinator_id and n.match_id in match_ids:
                self.notifications[key] = replace(n, updated_at=_bson_time(now))

    async def undead_lettered(self) -> list[Delivery]:
        return [
            d
            for d in self.deliveries.values()
            if d.status == DeliveryStatus.FAILED and not d.dead_lettered
        ]

    async def mark_dead_lettered(self, delivery_id: str) -> None:
        if delivery_id in self.deliveries:
            self.deliveries[delivery_id] = replace(self.deliveries[delivery_id], dead_lettered=True)

    async def held(self) -> list[Delivery]:
        return [d for d in self.deliveries.values() if d.status == DeliveryStatus.HELD]

    async def bundle(self, delivery_ids: list[str], digest_id: str) -> None:
        for delivery_id in delivery_ids:
            d = self.deliveries.get(delivery_id)
            if d is not None and d.status == DeliveryStatus.HELD:
                self.deliveries[delivery_id] = replace(
                    d, status=DeliveryStatus.BUNDLED, digest_id=digest_id
                )

    async def release_digests(self, now: datetime) -> int:
        released = [
            d
            for d in self.deliveries.values()
            if d.event_type == DIGEST_EVENT and d.status == DeliveryStatus.HELD
        ]
        for d in released:
            self.deliveries[d.delivery_id] = replace(
                d, status=DeliveryStatus.PENDING, next_attempt_at=_bson_time(now)
            )
        return len(released)

    async def deliveries_of(self, coordinator_id: str, match_ids: list[str]) -> list[Delivery]:
        return sorted(
            (
                d
                for d in self.deliveries.values()
                if d.coordinator_id == coordinator_id and d.match_id in match_ids
            ),
            key=lambda d: (d.channel.value, d.event_type),
        )

    async def spend_link(self, use_key: str, now: datetime) -> bool:
        if use_key in self.spent_links:
            return False
        self.spent_links.add(use_key)
        return True

    async def release_link(self, use_key: str) -> None:
        self.spent_links.discard(use_key)

    async def link_spent(self, use_key: str) -> bool:
        return use_key in self.spent_links
