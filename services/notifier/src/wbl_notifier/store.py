"""Notifier persistence: the coordinator directory (from `wbl.coordinators`) and the
inbox, one notification per coordinator and match (a unique key, never check-then-insert)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from pydantic import TypeAdapter
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from wbl_common.mongo import Document, upsert_if_newer
from wbl_notifier.domain import FINAL, Notification, NotificationStatus
from wbl_schemas.events import CoordinatorProfile, MatchProposal

NOTIFICATION = TypeAdapter(Notification)


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


class MongoNotifierStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.coordinators = db["coordinators"]
        self.notifications = db["notifications"]
        self.matches = db["matches"]

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
            return int(error.details.get("nInserted", 0))

    async def set_status(
        self, match_id: str, status: NotificationStatus, note: str, now: datetime
    ) -> int:
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
