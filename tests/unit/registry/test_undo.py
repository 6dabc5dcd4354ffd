"""Undoing a decision within its window, over the in-memory store: the window's rules, the
held event (sent only once the window has passed, never once undone), what the employer
sees meanwhile, and the HTTP endpoint's refusals."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from tests.unit.registry.conftest import bearer
from tests.unit.registry.test_handlers import of_type, offered_until, placed_scene, status_of
from wbl_registry.domain import (
    Conflict,
    Decision,
    DecisionKind,
    Employer,
    MatchStatus,
    as_sent,
    undo_deadline,
)
from wbl_registry.handlers import Placement, Registry
from wbl_registry.store import InMemoryRegistryStore
from wbl_schemas.events import NotificationChannels, PlacementConfirmed, PlacementDeclined
from wbl_schemas.reference import load_reference

pytestmark = pytest.mark.unit

START = datetime(2027, 5, 1, 9, tzinfo=UTC)
WINDOW = timedelta(seconds=60)


@dataclass
class Clock:
    now: datetime = START
    ticks: list[datetime] = field(default_factory=list)

    def __call__(self) -> datetime:
        return self.now

    def pass_(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> InMemoryRegistryStore:
    return InMemoryRegistryStore(clock=clock)


@pytest.fixture
def registry(store: InMemoryRegistryStore, clock: Clock) -> Registry:
    return Registry(store=store, reference=load_reference(), clock=clock, undo_window=WINDOW)


def decisions(store: InMemoryRegistryStore) -> list[object]:
    return [*of_type(store, PlacementConfirmed), *of_type(store, PlacementDeclined)]


async def employer_view(registry: Registry, employer: Employer, match_id: str) -> Placement:
    found = await registry.matches_for_employer(employer, None, 1, 50)
    return next(p for p in found if p.match.id == match_id)


# -- the window, pure ----------------------------------------------------------------------


def test_the_window_runs_from_the_decision_and_stops_at_the_offers_deadline() -> None:
    assert undo_deadline(START, WINDOW, None) == START + WINDOW
    assert undo_deadline(START, WINDOW, START + timedelta(days=7)) == START + WINDOW
    # Decided 20 s before the offer expires: undo for 20 s only, never onto an expired offer.
    assert undo_deadline(START, WINDOW, START + timedelta(seconds=20)) == START + timedelta(
        seconds=20
    )
    assert undo_deadline(START, timedelta(0), None) is None  # 0 turns undo off


# -- inside the window ---------------------------------------------------------------------


async def test_an_undo_inside_the_window_sends_nothing_and_gives_everything_back(
    registry: Registry, store: InMemoryRegistryStore, clock: Clock
) -> None:
    scene = await placed_scene(registry, seats=1)
    match_id = scene.match_id(0)
    confirmed = await registry.confirm_match(scene.coordinator, match_id, "spoke to the family")
    assert confirmed.status == MatchStatus.CONFIRMED
    assert confirmed.undo_until == START + WINDOW
    assert store.openings[scene.opening.id].seats_remaining == 0
    # Held: not on the bus, and the employer still sees the match awaiting a decision.
    store.relay()
    assert decisions(store) == []
    seen = await employer_view(registry, scene.employer, match_id)
    assert seen.match.status == MatchStatus.PROPOSED and seen.coordinator is None
    assert await registry.count_matches_for(scene.employer, "confirmed") == 0

    clock.pass_(59)
    undone = await registry.undo_decision(scene.coordinator, match_id)
    assert undone.status == MatchStatus.PROPOSED
    assert undone.decided_by is None and undone.undo_until is None
    assert undone.expires_at == confirmed.expires_at  # the offer's own deadline, unchanged
    assert store.openings[scene.opening.id].seats_remaining == 1
    assert store.placements == {}
    clock.pass_(3600)
    store.relay()
    assert decisions(store) == []  # never sent, not even after the window

    # The match can be decided again; that decision has a window of its own.
    declined = await registry.decline_match(scene.coordinator, match_id)
    assert declined.status == MatchStatus.DECLINED
    clock.pass_(61)
    store.relay()
    [event] = decisions(store)
    assert isinstance(event, PlacementDeclined)


async def test_a_colleague_at_the_same_school_may_undo_and_others_cannot_see_it(
    registry: Registry, store: InMemoryRegistryStore
) -> None:
    scene = await placed_scene(registry, seats=1)
    match_id = scene.match_id(0)
    colleague, _ = await registry.create_coordinator("Eli", ("sch_1",), NotificationChannels())
    stranger, _ = await registry.create_coordinator("Fay", ("sch_9",), NotificationChannels())
    await registry.decline_match(scene.coordinator, match_id)
    with pytest.raises(Exception, match="no match"):
        await registry.undo_decision(stranger, match_id)
    undone = await registry.undo_decision(colleague, match_id)
    assert undone.status == MatchStatus.PROPOSED


# -- after the window ----------------------------------------------------------------------


async def test_after_the_window_the_decision_is_sent_once_and_cannot_be_undone(
    registry: Registry, store: InMemoryRegistryStore, clock: Clock
) -> None:
    scene = await placed_scene(registry, seats=1)
    match_id = scene.match_id(0)
    await registry.confirm_match(scene.coordinator, match_id)
    clock.pass_(60)
    store.relay()
    store.relay()
    [event] = decisions(store)
    assert isinstance(event, PlacementConfirmed)
    with pytest.raises(Conflict, match="already sent to Acme"):
        await registry.undo_decision(scene.coordinator, match_id)
    seen = await employer_view(registry, scene.employer, match_id)
    assert seen.match.status == MatchStatus.CONFIRMED and seen.student is not None


async def test_the_relay_sealing_first_wins_over_an_undo_a_clock_still_allows(
    registry: Registry, store: InMemoryRegistryStore, clock: Clock
) -> None:
    """Another replica's relay, its clock ahead, sent the event: the undo loses the fate."""
    scene = await placed_scene(registry, seats=1)
    match_id = scene.match_id(0)
    await registry.confirm_match(scene.coordinator, match_id)
    clock.pass_(60)
    store.relay()  # the relay's replica saw the deadline pass
    clock.pass_(-5)  # this replica's clock is behind
    with pytest.raises(Conflict, match="already sent to Acme"):
        await registry.undo_decision(scene.coordinator, match_id)
    assert await status_of(store, match_id) == MatchStatus.CONFIRMED
    assert len(decisions(store)) == 1


async def test_with_a_zero_window_decisions_are_sent_at_once_and_final(
    store: InMemoryRegistryStore, clock: Clock
) -> None:
    registry = Registry(store=store, reference=load_reference(), clock=clock)
    scene = await placed_scene(registry, seats=1)
    confirmed = await registry.confirm_match(scene.coordinator, scene.match_id(0))
    assert confirmed.undo_until is None
    assert len(decisions(store)) == 1
    with pytest.raises(Conflict, match="already sent to Acme"):
        await registry.undo_decision(scene.coordinator, scene.match_id(0))


async def test_the_window_ends_at_the_offers_deadline(
    registry: Registry, store: InMemoryRegistryStore, clock: Clock
) -> None:
    scene = await placed_scene(registry, seats=2)
    offer = await offered_until(registry, scene, START + timedelta(seconds=10))
    match_id = offer.payload.match_id
    confirmed = await registry.confirm_match(scene.coordinator, match_id)
    assert confirmed.undo_until == START + timedelta(seconds=10)
    clock.pass_(10)
    with pytest.raises(Conflict, match="already sent"):
        await registry.undo_decision(scene.coordinator, match_id)
    store.relay()
    assert len(decisions(store)) == 1


async def test_nothing_to_undo_is_refused_in_plain_words(registry: Registry) -> None:
    scene = await placed_scene(registry, seats=1)
    with pytest.raises(Conflict, match="no decision to undo: the match is proposed"):
        await registry.undo_decision(scene.coordinator, scene.match_id(0))


# -- interrupted and crossing calls -------------------------------------------------------


async def test_an_undo_cut_short_by_a_crash_is_finished_by_the_sweep(
    registry: Registry, store: InMemoryRegistryStore, clock: Clock
) -> None:
    scene = await placed_scene(registry, seats=1)
    match_id = scene.match_id(0)
    confirmed = await registry.confirm_match(scene.coordinator, match_id)
    # The crash: the held event withdrawn, nothing given back yet.
    assert await store.withdraw_decision(match_id, confirmed.attempt)
    assert await status_of(store, match_id) == MatchStatus.PROPOSED  # derived: undone
    with pytest.raises(Conflict, match="still being cleared"):
        await registry.decline_match(scene.coordinator, match_id)
    assert await registry.resume_decisions(older_than=timedelta(0)) == 1
    assert store.openings[scene.opening.id].seats_remaining == 1
    assert await registry.resume_decisions(older_than=timedelta(0)) == 0
    await registry.decline_match(scene.coordinator, match_id)
    clock.pass_(120)
    store.relay()
    assert [type(e) for e in decisions(store)] == [PlacementDeclined]


async def test_a_call_finishing_an_undone_claim_stops(
    registry: Registry, store: InMemoryRegistryStore
) -> None:
    """A second confirm that picked up the first one's claim just before it was undone does
    not take the seat back."""
    scene = await placed_scene(registry, seats=1)
    match_id = scene.match_id(0)
    confirmed = await registry.confirm_match(scene.coordinator, match_id)
    claim = Decision(match_id, DecisionKind.CONFIRM, scene.coordinator.id, "", confirmed.attempt)
    await registry.undo_decision(scene.coordinator, match_id)
    match = await store.match(match_id)
    assert match is not None
    with pytest.raises(Conflict, match="undone meanwhile"):
        await registry._carry_out_confirmation(match, claim)
    assert store.openings[scene.opening.id].seats_remaining == 1


def test_as_sent_hides_only_a_decision_still_inside_its_window() -> None:
    from tests.unit.registry.builders import proposed
    from wbl_registry.handlers import _proposed

    match = _proposed(proposed("stu_1", "sch_1", "opn_1", "emp_1").payload)
    decided = match.__class__(
        **{**match.__dict__, "status": MatchStatus.CONFIRMED, "undo_until": START + WINDOW}
    )
    assert as_sent(decided, START).status == MatchStatus.PROPOSED
    assert as_sent(decided, START + WINDOW).status == MatchStatus.CONFIRMED
    assert as_sent(match, START) == match


# -- HTTP ----------------------------------------------------------------------------------


async def test_the_undo_endpoint_answers_the_match_or_a_plain_refusal(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    registry: Registry = app.state.registry
    registry.undo_window = WINDOW
    scene = await placed_scene(registry, seats=1)
    _, token = await registry.reissue_coordinator_token(scene.coordinator.id)
    match_id = scene.match_id(0)
    confirmed = await http.post(f"/v1/matches/{match_id}/confirm", headers=bearer(token))
    assert confirmed.status_code == 200 and confirmed.json()["undo_until"] is not None
    undone = await http.post(f"/v1/matches/{match_id}/undo", headers=bearer(token))
    assert undone.status_code == 200, undone.text
    assert undone.json()["status"] == "proposed" and undone.json()["undo_until"] is None
    again = await http.post(f"/v1/matches/{match_id}/undo", headers=bearer(token))
    assert again.status_code == 409
    assert "no decision to undo" in again.json()["detail"]
    registry.undo_window = timedelta(0)
    await http.post(f"/v1/matches/{match_id}/decline", headers=bearer(token))
    late = await http.post(f"/v1/matches/{match_id}/undo", headers=bearer(token))
    assert late.status_code == 409
    assert late.headers["content-type"].startswith("application/problem+json")
    assert late.json()["detail"].startswith("already sent to Acme")
