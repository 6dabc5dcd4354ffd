"""Reminders before an offer ends (DESIGN.md, Offers and rounds): every `check_s`, on
whichever replica holds the `reminders` lease, each coordinator hearing of a still-undecided
offer that ends within `before` is reminded once, in the inbox and over their channels.

Exactly once rests on keys, not on the lease: the deliveries are keyed by (coordinator,
match, channel, `OfferExpiring`) and the inbox's record by (coordinator, match), so two
replicas, or a restart after a crash between the writes, write each at most once. The
deliveries are written before the record, since the record is what later sweeps skip on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from wbl_notifier.domain import Delivery, notification_key, reminder_deliveries, reminders_due
from wbl_notifier.lease import Lease
from wbl_notifier.store import NotifierStore
from wbl_schemas.events import CoordinatorProfile

log = structlog.get_logger(__name__)

SWEEP_LIMIT = 5_000  # offers reminded per sweep at most; the next sweep takes the rest
WRITE_BATCH = 500  # offers whose deliveries and records are written together


@dataclass
class Reminders:
    store: NotifierStore
    before: timedelta
    check_s: float
    lease: Lease
    clock: Callable[[], datetime]
    on_deliveries: Callable[[], None] = lambda: None
    on_change: Callable[[], None] = lambda: None

    async def run(self) -> None:
        while True:
            try:
                if await self.lease.hold():
                    await self.sweep()
            except Exception as error:  # database down: the next check tries again
                log.warning(
                    "reminder sweep failed", error=type(error).__name__, detail=str(error)[:300]
                )
            await asyncio.sleep(self.check_s)

    async def sweep(self) -> int:
        """Remind of the offers due now; returns how many coordinators were reminded."""
        now = self.clock()
        offers = await self.store.offers_ending(now, now + self.before)
        settled = await self.store.settled(sorted({n.match_id for n in offers}))
        keys = [notification_key(n.coordinator_id, n.match_id) for n in offers]
        reminded = set(await self.store.reminded(keys))
        due = reminders_due(offers, settled, reminded, now, self.before)[:SWEEP_LIMIT]
        profiles: dict[str, CoordinatorProfile | None] = {}
        deliveries: list[Delivery] = []
        for offer in due:
            if offer.coordinator_id not in profiles:  # read once per coordinator and sweep
                profiles[offer.coordinator_id] = await self._reachable(offer.coordinator_id)
            profile = profiles[offer.coordinator_id]
            if profile is not None:  # a removed coordinator hears of nothing more
                deliveries += reminder_deliveries(offer, profile, now)
        count = 0
        for start in range(0, len(due), WRITE_BATCH):  # a few writes per batch, not per offer
            batch = due[start : start + WRITE_BATCH]
            ids = {n.match_id for n in batch}
            if await self.store.add_deliveries([d for d in deliveries if d.match_id in ids]):
                self.on_deliveries()
            # Recorded also for a removed coordinator, so later sweeps skip the offer.
            keys = [notification_key(n.coordinator_id, n.match_id) for n in batch]
            count += await self.store.record_reminders(keys, now)
        if due:
            log.info("offers reminded", reminded=count, due=len(due))
            self.on_change()
        return count

    async def _reachable(self, coordinator_id: str) -> CoordinatorProfile | None:
        """The coordinator's profile, None once removed: they hear of nothing more."""
        if not await self.store.schools_of(coordinator_id):
            return None
        return await self.store.last_profile(coordinator_id)
