"""The parties' periodic sweep (ADR 6): every `sweep_s`, on whichever replica holds the
`party-sweep` lease, each active placement (registry's `/v1/placements/active`, less those
heard ended) is asked for its outstanding steps: a step with no live email gets its first
(a finished week to verify, an evaluation due), one whose last email is `remind_after` old
a reminder, at most `max_reminders`. Exactly once rests on the deliveries' keys, not on the
lease: two sweeps derive the same keys and one insert of each wins."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from wbl_notifier.adapters import OutreachSource
from wbl_notifier.lease import Lease
from wbl_notifier.parties import first_emails, outreach_view, reminders_due
from wbl_notifier.store import NotifierStore

log = structlog.get_logger(__name__)

PAGE = 100  # placements asked of registry at a time


@dataclass
class PartySweep:
    store: NotifierStore
    outreach: OutreachSource
    lease: Lease
    sweep_s: float
    remind_after: timedelta
    max_reminders: int
    clock: Callable[[], datetime]
    on_deliveries: Callable[[], None] = lambda: None

    async def run(self) -> None:
        while True:
            try:
                if await self.lease.hold():
                    await self.sweep()
            except Exception as error:  # registry or the database down: the next sweep
                log.warning(
                    "party sweep failed", error=type(error).__name__, detail=str(error)[:300]
                )
            await asyncio.sleep(self.sweep_s)

    async def sweep(self) -> int:
        """Record the emails due now; returns how many new."""
        created, after = 0, ""
        while True:
            ids, following = await self.outreach.active(after, PAGE)
            ended = await self.store.ended_placements(ids)
            for match_id in ids:
                if match_id not in ended:
                    created += await self.placement(match_id)
            if following is None or not ids:
                break
            after = following
            if not await self.lease.hold():  # renewed per page; lost: another goes on
                log.warning("party sweep lease lost; another replica goes on")
                break
        if created:
            log.info("party emails recorded", emails=created)
            self.on_deliveries()
        return created

    async def placement(self, match_id: str) -> int:
        body = await self.outreach.outreach(match_id)
        if body is None:
            return 0
        steps = outreach_view(body).steps  # held for this sweep only
        existing = await self.store.party_deliveries(match_id)
        now = self.clock()
        new = first_emails(match_id, steps, existing, now) + reminders_due(
            match_id, steps, existing, now, self.remind_after, self.max_reminders
        )
        return await self.store.add_deliveries(new)
