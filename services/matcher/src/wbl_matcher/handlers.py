"""Matcher use cases: keep the view current from events, end offers for their named
reasons, and run rounds over the free pool of the career-field partitions events touched."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, cast
from uuid import UUID, uuid5

import structlog
from prometheus_client import CollectorRegistry

from wbl_common.metrics import RoundMetrics
from wbl_common.workers import InlineWorkers, Workers
from wbl_matcher.config import OfferSettings
from wbl_matcher.domain import (
    Change,
    Ending,
    Placement,
    RoundRecord,
    Season,
    changes_for,
    expand,
    free_pool,
    new_round_id,
    plain_reason,
    solve_free_pool,
    tallies,
)
from wbl_matcher.store import MatcherStore
from wbl_matcher.why_not import WhyNotCache
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
    PlacementClosed,
    PlacementCompleted,
    PlacementConfirmed,
    PlacementDeclined,
    StudentRegistered,
    StudentUpdated,
    StudentWithdrawn,
    WithdrawalReason,
)

PRODUCER = "matcher"
EVENT_NAMESPACE = UUID("2d7f6c3a-9c55-4a0e-8f3e-6b1f0c9d7a21")


class RoundsLease(Protocol):
    async def hold(self) -> bool: ...

    async def still_held(self) -> bool: ...


class AlwaysHeld:
    """The lease of a matcher that runs alone (unit tests)."""

    async def hold(self) -> bool:
        return True

    async def still_held(self) -> bool:
        return True


class LeaseLost(Exception):
    """Another replica took the rounds lease: this round's changes are not written."""


log = structlog.get_logger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


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
    # Only the holder solves; every replica's writes are also conditional on versions.
    lease: RoundsLease = field(default_factory=lambda: AlwaysHeld())
    standby_poll_s: float = 2.0
    offers: OfferSettings = field(default_factory=OfferSettings)
    clock: Callable[[], datetime] = utcnow
    # Where rounds are solved: a worker process in the service, so a statewide round does
    # not hold the event loop (consumers' heartbeats, health checks, the API).
    workers: Workers = field(default_factory=InlineWorkers)
    why_not_cache: WhyNotCache = field(default_factory=WhyNotCache)

    # -- the view ------------------------------------------------------------------------

    async def on_opening_event(self, event: AnyEvent) -> None:
        """Write the view, then mark the partitions the change touched, as the view now
        records them: a redelivery (after a failed mark, or a crash between the two) marks
        them again, so no re-solve is lost, and a round never solves a mark ahead of its
        write."""
        if isinstance(event, OpeningPublished | OpeningUpdated):
            await self.store.save_opening(event.payload)
        elif isinstance(event, OpeningClosed):
            await self.store.close_opening(event.payload.opening_id, event.payload.version)
        else:
            return
        await self._touch(set(await self.store.opening_fields(event.payload.opening_id)))

    async def on_opening_events(self, events: Sequence[AnyEvent]) -> None:
        """As `on_opening_event` for a batch: one write of the published and updated
        openings, one mark of the fields they touched."""
        saved = [e.payload for e in events if isinstance(e, OpeningPublished | OpeningUpdated)]
        touched = await self.store.save_openings(saved) if saved else set()
        for event in events:
            if isinstance(event, OpeningClosed):
                await self.on_opening_event(event)
        await self._touch(touched)

    async def on_student_events(self, events: Sequence[AnyEvent]) -> None:
        """As `on_student_event` for a batch (a class list's registrations)."""
        saved = [e.payload for e in events if isinstance(e, StudentRegistered | StudentUpdated)]
        touched = await self.store.save_students(saved) if saved else set()
        for event in events:
            if isinstance(event, StudentWithdrawn):
                await self.on_student_event(event)
        await self._touch(expand(touched, self.related))

    async def on_student_event(self, event: AnyEvent) -> None:
        if isinstance(event, StudentRegistered | StudentUpdated):
            await self.store.save_student(event.payload)
        elif isinstance(event, StudentWithdrawn):
            await self.store.withdraw_student(event.payload.student_id, event.payload.version)
            if not await self.store.placed(event.payload.student_id):
                # A placement is the registry's to end; an open offer ends here (rounds
                # review only students still in the view).
                await self._end_proposal(event.payload.student_id, Ending.STUDENT_WITHDRAWN)
        else:
            return
        fields = await self.store.student_fields(event.payload.student_id)
        await self._touch(expand(fields, self.related))

    async def _end_proposal(
        self, student_id: str, ending: Ending, decided: str | None = None
    ) -> None:
        """End the student's open offer for `ending`. A decision (`decided`: its match id)
        ends that offer silently, and any other offer of the student only when the decision
        placed them. Idempotent: a redelivery finds nothing left to end."""
        for _ in range(5):  # a round may change the record meanwhile: read it again
            head = (await self.store.offer_heads([student_id])).get(student_id)
            if head is None or head.current is None:
                return
            if decided is not None and head.current.match_id == decided:
                why = ending  # the decision itself: nothing to announce
            elif ending is Ending.CONFIRMED:
                why = Ending.PLACED_ELSEWHERE
            elif ending is Ending.DECLINED:
                return  # a decline of another match leaves this offer holding its seat
            else:
                why = ending
            change = Change(student_id, head.current, None, head.version, ending=why)
            if await self.store.apply([change], {student_id: self._events(change)}):
                self.written()
                return
        raise RuntimeError(f"could not end the proposal of {student_id}: it kept changing")

    async def on_placement_event(self, event: AnyEvent) -> None:
        if isinstance(event, PlacementCompleted | PlacementClosed):
            # The placement ended: its seat goes back, the student stays out of rounds.
            ended = event.payload
            await self.store.end_placement(Placement(ended.student_id, ended.opening_id))
            await self._touch(set(await self.store.opening_fields(ended.opening_id)))
            return
        if not isinstance(event, PlacementConfirmed | PlacementDeclined):
            return
        decision = event.payload
        if isinstance(event, PlacementConfirmed):
            await self.store.record_placement(Placement(decision.student_id, decision.opening_id))
            # Placed through one match: any other open offer of theirs ends (once).
            await self._end_proposal(decision.student_id, Ending.CONFIRMED, decision.match_id)
        else:
            # The pair stays apart from now on; the seat and the student are free again.
            await self.store.record_decline(decision.student_id, decision.opening_id)
            await self._end_proposal(decision.student_id, Ending.DECLINED, decision.match_id)
        await self._touch(set(await self.store.opening_fields(decision.opening_id)))

    async def _touch(self, career_fields: set[str]) -> None:
        """Durably mark partitions for the next round."""
        if career_fields:
            await self.store.mark_dirty(career_fields)
            self._pending.set()

    # -- rounds --------------------------------------------------------------------------

    async def run_rounds(self, batch_window_s: float) -> None:
        """Solve dirty partitions forever, at most one round per window: an event after a
        quiet spell is solved at once, and a burst (a class list) is gathered into the
        next round rather than solved event by event. Only the replica holding the rounds
        lease solves (and sweeps expired offers); the others wait to take over."""
        loop = asyncio.get_running_loop()
        last_round = -batch_window_s
        next_sweep = loop.time()
        poll = min(self.standby_poll_s, self.offers.sweep_interval_s)
        self._pending.set()  # whatever was left dirty before a restart
        while True:
            with contextlib.suppress(TimeoutError):  # a standby looks again now and then
                await asyncio.wait_for(self._pending.wait(), timeout=poll)
            if (wait := last_round + batch_window_s - loop.time()) > 0:
                await asyncio.sleep(wait)
            self._pending.clear()
            try:
                if not await self.lease.hold():
                    continue
                if loop.time() >= next_sweep:
                    next_sweep = loop.time() + self.offers.sweep_interval_s
                    await self.sweep_expired()
                if not await self.season_step():
                    continue
                marks = await self.store.dirty_fields()
                if marks:
                    last_round = loop.time()
                    record = await self.run_round(set(marks))
                    if record.conflicts:  # another round changed some records: solve again
                        self._pending.set()
                    else:
                        await self.store.clear_dirty(marks)
            except Exception as error:  # database trouble: keep the marks, try again soon
                log.warning("round failed", error=type(error).__name__, detail=str(error))
                with contextlib.suppress(Exception):
                    await asyncio.sleep(1)
                self._pending.set()

    async def season_step(self) -> bool:
        """Before the season's main round no round runs (the marks wait for it); at its
        cut-off, one round over everyone, once. Returns whether rolling rounds may run."""
        season = await self.store.season()
        stage = season.stage(self.clock())
        if stage == "main_round" and season.main_round_at is not None:
            marks = await self.store.dirty_fields()
            record = await self.run_round(None)
            await self.store.record_main_round(season.main_round_at, record.round_id)
            self.written()  # its MainRoundRun event leaves now
            if record.conflicts:  # the records those changes missed: solved again next
                self._pending.set()
            else:
                await self.store.clear_dirty(marks)
            log.info("main round solved", round_id=record.round_id, proposed=record.proposed)
        return stage == "rolling"

    async def set_season(self, main_round_at: datetime | None) -> Season:
        await self.store.set_season(main_round_at)
        self.written()  # its SeasonScheduled event leaves now
        self._pending.set()  # a cut-off removed or moved: rounds may be due now
        return await self.store.season()

    async def run_round(self, career_fields: set[str] | None) -> RoundRecord:
        """One round over the partitions (connected career fields) containing `career_fields`."""
        async with self._solving:
            return await self._solve(career_fields)

    async def _solve(self, career_fields: set[str] | None) -> RoundRecord:
        started = time.perf_counter()
        scope = await self._partition_closure(career_fields)
        inputs = await self.store.inputs_for(scope)
        round_id = new_round_id()
        now = self.clock()
        openings = {o.opening_id: o for o in inputs.openings}
        heads = await self.store.offer_heads(s.student_id for s in inputs.students)
        offered = {h.current.opening_id for h in heads.values() if h.current is not None}
        # An offer's opening may have left the scope (its career field changed): look it up.
        elsewhere = await self.store.open_openings(offered - openings.keys())
        review, outcome = await self.workers.run(
            solve_free_pool,
            inputs,
            heads,
            {**openings, **elsewhere},
            now - self.offers.grace,
            self.seed,
            self.related,
        )
        pool = free_pool(inputs, review)
        assignments = outcome.assignments
        changes = changes_for(
            round_id, pool.students, openings, heads, assignments, review, self._expiry(now)
        )
        if changes and not await self.lease.still_held():  # fenced: another replica took over
            raise LeaseLost("the rounds lease passed to another replica during the round")
        written = await self.store.apply(changes, {c.student_id: self._events(c) for c in changes})
        if written:
            self.written()
        matched = sum(1 for a in assignments.values() if a is not None)
        by_field, by_program = tallies(pool.students, assignments)
        record = RoundRecord(
            round_id=round_id,
            seed=self.seed,
            fingerprint=outcome.fingerprint,
            career_fields=tuple(sorted(scope)) if scope is not None else (),
            eligible=len(pool.students),
            matched=matched,
            unmatched=len(pool.students) - matched,
            proposed=sum(1 for c in written if c.propose),
            withdrawn=sum(1 for c in written if c.withdraw),
            by_career_field=by_field,
            by_program=by_program,
            conflicts=len(changes) - len(written),
        )
        await self.store.save_round(record)
        self.metrics.observe(
            time.perf_counter() - started,
            students=len(pool.students),
            openings=len(inputs.openings),
            proposed=record.proposed,
            withdrawn=record.withdrawn,
        )
        log.info(
            "round solved",
            round_id=round_id,
            proposed=record.proposed,
            withdrawn=record.withdrawn,
            conflicts=record.conflicts,
        )
        return record

    def _expiry(self, now: datetime) -> datetime:
        """When an offer made now expires, to the millisecond the database keeps."""
        expires = now + self.offers.window
        return expires.replace(microsecond=expires.microsecond // 1000 * 1000)

    async def sweep_expired(self) -> None:
        """Mark the partitions of offers past their window (and grace): their next round
        withdraws them as expired and offers the seats again."""
        await self._touch(await self.store.expiring_fields(self.clock() - self.offers.grace))

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

    def _events(self, change: Change) -> list[Envelope]:
        events: list[Envelope] = []
        if change.withdraw is not None and change.ending is not None and change.ending.announced:
            old = change.withdraw
            events.append(
                MatchWithdrawn(
                    event_id=uuid5(EVENT_NAMESPACE, f"{old.match_id}:withdrawn"),
                    producer=PRODUCER,
                    payload=MatchWithdrawal(
                        match_id=old.match_id,
                        round_id=change.propose.round_id if change.propose else old.round_id,
                        student_id=old.student_id,
                        school_id=old.school_id,
                        opening_id=old.opening_id,
                        reason_code=cast(WithdrawalReason, change.ending.value),
                        reason=plain_reason(change.ending, old),
                    ),
                )
            )
        if change.propose is not None:
            new = change.propose
            events.append(
                MatchProposed(
                    event_id=uuid5(EVENT_NAMESPACE, f"{new.match_id}:proposed"),
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
                        expires_at=new.expires_at,
                    ),
                )
            )
        return events
