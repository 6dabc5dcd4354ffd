"""Matcher use cases: keep the view current from events, and run rounds over the
career-field partitions that events touched, publishing only the differences."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import structlog
from prometheus_client import CollectorRegistry

from wbl_common.metrics import RoundMetrics
from wbl_matcher.domain import (
    Change,
    Placement,
    RoundRecord,
    changes_for,
    expand,
    fields_of,
    new_round_id,
    solve_round,
    tallies,
)
from wbl_matcher.store import MatcherStore
from wbl_schemas.envelope import Envelope
from wbl_schemas.events import (
    AnyEvent,
    MatchProposal,
    MatchProposed,
    MatchWithdrawal,
    MatchWithdrawn,
    OpeningClosed,
    OpeningPublished,
    OpeningUpdated,
    PlacementConfirmed,
    PlacementDeclined,
    StudentRegistered,
    StudentUpdated,
    StudentWithdrawn,
)

PRODUCER = "matcher"
log = structlog.get_logger(__name__)


@dataclass
class Matcher:
    store: MatcherStore
    related: Mapping[str, frozenset[str]]
    seed: int
    written: Callable[[], None] = lambda: None
    metrics: RoundMetrics = field(default_factory=lambda: RoundMetrics(CollectorRegistry()))
    _pending: asyncio.Event = field(default_factory=asyncio.Event)
    # One round at a time: two rounds diffing against the same proposals would both
    # publish the same change (the background loop and an admin's full round).
    _solving: asyncio.Lock = field(default_factory=asyncio.Lock)

    # -- the view ------------------------------------------------------------------------

    async def on_opening_event(self, event: AnyEvent) -> None:
        touched: set[str] = set()
        if isinstance(event, OpeningPublished | OpeningUpdated):
            if await self.store.save_opening(event.payload):
                touched.add(event.payload.career_field)
        elif isinstance(event, OpeningClosed):
            closed_field = await self.store.close_opening(
                event.payload.opening_id, event.payload.version
            )
            if closed_field:
                touched.add(closed_field)
        await self._touch(touched)

    async def on_student_event(self, event: AnyEvent) -> None:
        touched: set[str] = set()
        if isinstance(event, StudentRegistered | StudentUpdated):
            if await self.store.save_student(event.payload):
                touched = fields_of(event.payload, self.related)
        elif isinstance(event, StudentWithdrawn):
            student_id = event.payload.student_id
            touched = set(await self.store.withdraw_student(student_id, event.payload.version))
            await self._withdraw_open_proposal(student_id)
        await self._touch(touched)

    async def _withdraw_open_proposal(self, student_id: str) -> None:
        """Rounds diff only the students still in the view, so a withdrawn student's open
        proposal is withdrawn here. Idempotent: a redelivery finds no proposal left."""
        async with self._solving:
            current = (await self.store.proposals([student_id])).get(student_id)
            if current is None or await self.store.placed(student_id):
                return  # a confirmed placement is the registry's to end, not ours
            change = Change(student_id, withdraw=current, propose=None)
            events = self._events(change, unmatched_because="the student was withdrawn")
            await self.store.apply([change], {student_id: events})
        self.written()

    async def on_placement_event(self, event: AnyEvent) -> None:
        if isinstance(event, PlacementConfirmed):
            decision = event.payload
            await self.store.record_placement(Placement(decision.student_id, decision.opening_id))
        elif isinstance(event, PlacementDeclined):
            await self.store.record_decline(event.payload.student_id, event.payload.opening_id)
        else:
            return
        career_field = await self.store.career_field_of(event.payload.opening_id)
        await self._touch({career_field} if career_field else set())

    async def _touch(self, career_fields: set[str]) -> None:
        """Durably mark partitions for the next round, so a crash loses no re-solve."""
        if career_fields:
            await self.store.mark_dirty(career_fields)
            self._pending.set()

    # -- rounds --------------------------------------------------------------------------

    async def run_rounds(self, batch_window_s: float) -> None:
        """Solve dirty partitions forever, at most one round per window: an event after a
        quiet spell is solved at once, and a burst (a class list) is gathered into the
        next round rather than solved event by event."""
        loop = asyncio.get_running_loop()
        last_round = -batch_window_s
        self._pending.set()  # whatever was left dirty before a restart
        while True:
            await self._pending.wait()
            if (wait := last_round + batch_window_s - loop.time()) > 0:
                await asyncio.sleep(wait)
            self._pending.clear()
            try:
                marks = await self.store.dirty_fields()
                if marks:
                    last_round = loop.time()
                    await self.run_round(set(marks))
                    await self.store.clear_dirty(marks)
            except Exception as error:  # database trouble: keep the marks, try again soon
                log.warning("round failed", error=type(error).__name__, detail=str(error))
                with contextlib.suppress(Exception):
                    await asyncio.sleep(1)
                self._pending.set()

    async def run_round(self, career_fields: set[str] | None) -> RoundRecord:
        """One round over the partitions (connected career fields) containing `career_fields`."""
        async with self._solving:
            return await self._solve(career_fields)

    async def _solve(self, career_fields: set[str] | None) -> RoundRecord:
        started = time.perf_counter()
        scope = await self._partition_closure(career_fields)
        inputs = await self.store.inputs_for(scope)
        round_id = new_round_id()
        outcome = solve_round(inputs, self.seed, self.related)
        assignments = outcome.assignments
        openings = {o.opening_id: o for o in inputs.openings}
        current = await self.store.proposals(s.student_id for s in inputs.students)
        changes = changes_for(round_id, inputs.students, openings, current, assignments)
        await self.store.apply(changes, {c.student_id: self._events(c) for c in changes})
        matched_ids = [sid for sid, a in assignments.items() if a is not None]
        await self.store.save_why_not(round_id, outcome.why_not, matched_ids)
        if changes:
            self.written()
        matched = len(matched_ids)
        by_field, by_program = tallies(inputs.students, assignments)
        record = RoundRecord(
            round_id=round_id,
            seed=self.seed,
            fingerprint=outcome.fingerprint,
            career_fields=tuple(sorted(scope)) if scope is not None else (),
            eligible=len(inputs.students),
            matched=matched,
            unmatched=len(inputs.students) - matched,
            proposed=sum(1 for c in changes if c.propose),
            withdrawn=sum(1 for c in changes if c.withdraw),
            by_career_field=by_field,
            by_program=by_program,
        )
        await self.store.save_round(record)
        self.metrics.observe(
            time.perf_counter() - started,
            students=len(inputs.students),
            openings=len(inputs.openings),
            proposed=record.proposed,
            withdrawn=record.withdrawn,
        )
        log.info(
            "round solved", round_id=round_id, proposed=record.proposed, withdrawn=record.withdrawn
        )
        return record

    async def _partition_closure(self, career_fields: set[str] | None) -> set[str] | None:
        """Grow the fields to whole partitions: fields joined by a student's interests
        (and their related fields), so a student is never solved in two partitions."""
        if career_fields is None:
            return None
        scope = set(career_fields)
        while True:
            grown = set(scope)
            # Students whose interests relate to a field in scope can be matched there too.
            reaching = scope | {f for f, rel in self.related.items() if rel & scope}
            for interests in await self.store.interests(reaching):
                grown |= expand(interests, self.related)
            if grown == scope:
                return scope
            scope = grown

    def _events(
        self, change: Change, unmatched_because: str = "no longer matched in this round"
    ) -> list[Envelope]:
        events: list[Envelope] = []
        if change.withdraw is not None:
            old = change.withdraw
            reason = (
                f"moved to opening {change.propose.opening_id}"
                if change.propose
                else unmatched_because
            )
            events.append(
                MatchWithdrawn(
                    producer=PRODUCER,
                    payload=MatchWithdrawal(
                        match_id=old.match_id,
                        round_id=change.propose.round_id if change.propose else old.round_id,
                        student_id=old.student_id,
                        school_id=old.school_id,
                        opening_id=old.opening_id,
                        reason=reason,
                    ),
                )
            )
        if change.propose is not None:
            new = change.propose
            events.append(
                MatchProposed(
                    producer=PRODUCER,
                    payload=MatchProposal(
                        match_id=new.match_id,
                        round_id=new.round_id,
                        student_id=new.student_id,
                        school_id=new.school_id,
                        opening_id=new.opening_id,
                        employer_id=new.employer_id,
                        career_field=new.career_field,
                        explanation=new.explanation,
                    ),
                )
            )
        return events
