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

from wbl_notifier.domain import notification_key, reminder_deliveries, reminders_due
from wbl_notifier.lease import Lease
from wbl_notifier.store import NotifierStore

log = structlog.get_logger(__name__)

SWEEP_LIMIT = 5_000  # offers reminded per sweep at most; the next sweep takes the rest


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
        count = 0
        for offer in due:
            if not await self.store.schools_of(offer.coordinator_id):
                continue  # removed: they hear of nothing more
            profile = await self.store.last_profile(offer.coordinator_id)
            deliveries = [] if profile is None else reminder_deliveries(offer, profile, now)
            if await self.store.add_deliveries(deliveries):
                self.on_deliveries()
            if await self.store.record_reminder(offer.coordinator_id, offer.match_id, now):
                count += 1
        if due:
            log.info("offers reminded", reminded=count, due=len(due))
            self.on_change()
        return count
