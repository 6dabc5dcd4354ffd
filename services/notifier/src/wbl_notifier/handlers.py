"""Notifier use cases: keep the coordinator directory, turn match events into inbox
notifications (exactly one per coordinator and match), and follow their status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from wbl_notifier.domain import Notification, NotificationStatus, notifications_for
from wbl_notifier.store import NotifierStore
from wbl_schemas.events import (
    AnyEvent,
    CoordinatorRegistered,
    CoordinatorRemoved,
    CoordinatorUpdated,
    MatchProposed,
    MatchWithdrawn,
    PlacementConfirmed,
    PlacementDeclined,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Notifier:
    store: NotifierStore
    clock: Callable[[], datetime] = utcnow

    async def on_coordinator_event(self, event: AnyEvent) -> None:
        if isinstance(event, CoordinatorRegistered | CoordinatorUpdated):
            await self.store.save_coordinator(event.payload)
            # Matches proposed before this coordinator was known still reach them.
            backlog = await self.store.open_matches_of(event.payload.school_ids)
            now = self.clock()
            await self.store.add_notifications(
                [n for p in backlog for n in notifications_for(p, [event.payload], now)]
            )
        elif isinstance(event, CoordinatorRemoved):
            await self.store.remove_coordinator(event.payload.coordinator_id, event.payload.version)

    async def on_match_event(self, event: AnyEvent) -> None:
        if isinstance(event, MatchProposed):
            await self.store.save_match(event.payload)
            coordinators = await self.store.coordinators_of(event.payload.school_id)
            await self.store.add_notifications(
                notifications_for(event.payload, coordinators, self.clock())
            )
        elif isinstance(event, MatchWithdrawn):
            await self.store.set_match_status(event.payload.match_id, NotificationStatus.WITHDRAWN)
            await self.store.set_status(
                event.payload.match_id,
                NotificationStatus.WITHDRAWN,
                f"withdrawn: {event.payload.reason}",
                self.clock(),
            )

    async def on_placement_event(self, event: AnyEvent) -> None:
        if isinstance(event, PlacementConfirmed):
            status = NotificationStatus.CONFIRMED
        elif isinstance(event, PlacementDeclined):
            status = NotificationStatus.DECLINED
        else:
            return
        await self.store.set_match_status(event.payload.match_id, status)
        await self.store.set_status(
            event.payload.match_id, status, f"{status.value} by coordinator", self.clock()
        )

    async def inbox(
        self, coordinator_id: str, status: NotificationStatus | None, page: int, size: int
    ) -> list[Notification]:
        return await self.store.inbox(coordinator_id, status, (page - 1) * size, size)
