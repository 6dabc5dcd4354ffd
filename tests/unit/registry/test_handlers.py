"""Registry use cases over the in-memory store: identities, students, matches, reports."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.unit.registry.builders import PLAN, TERMS, application, proposed, withdrawn
from wbl_common.secrets import derive_secret, webhook_secret
from wbl_registry.domain import (
    Conflict,
    Coordinator,
    Decision,
    DecisionKind,
    DomainError,
    Employer,
    MatchStatus,
    NotFound,
    Opening,
    Suppression,
)
from wbl_registry.handlers import Registry
from wbl_registry.store import InMemoryRegistryStore, SeatTaken
from wbl_schemas.envelope import Envelope
from wbl_schemas.events import (
    CoordinatorRemoved,
    CoordinatorUpdated,
    MatchProposed,
    NotificationChannels,
    Place,
    PlacementConfirmed,
    PlacementDeclined,
    StudentRegistered,
    StudentUpdated,
    StudentWithdrawn,
)
from wbl_schemas.reference import load_reference

pytestmark = pytest.mark.unit

WEBHOOK_KEY = "k" * 40


@pytest.fixture
def store() -> InMemoryRegistryStore:
    return InMemoryRegistryStore()


@pytest.fixture
def registry(store: InMemoryRegistryStore) -> Registry:
    return Registry(store=store, reference=load_reference(), webhook_key=WEBHOOK_KEY)


async def status_of(store: InMemoryRegistryStore, match_id: str) -> MatchStatus | None:
    match = await store.match(match_id)
    return match.status if match else None


def of_type(store: InMemoryRegistryStore, kind: type[Envelope]) -> list[Envelope]:
    return [e for e in store.events if isinstance(e, kind)]


# -- employers -----------------------------------------------------------------------------


async def test_a_rotated_key_replaces_the_old_one_at_once(registry: Registry) -> None:
    employer, old_key = await registry.create_employer("Acme")
    _, new_key = await registry.rotate_employer_key(employer.id)
    assert await registry.employer_for(old_key) is None
    found = await registry.employer_for(new_key)
    assert found is not None and found.id == employer.id


async def test_a_revoked_key_opens_nothing_until_an_admin_rotates_it(registry: Registry) -> None:
    employer, key = await registry.create_employer("Acme")
    await registry.revoke_employer_key(employer.id)
    assert await registry.employer_for(key) is None
    _, reinstated = await registry.rotate_employer_key(employer.id)
    assert await registry.employer_for(reinstated) is not None


async def test_rotating_an_unknown_employer_is_not_found(registry: Registry) -> None:
    with pytest.raises(NotFound):
        await registry.rotate_employer_key("emp_nobody")


# -- coordinators --------------------------------------------------------------------------


async def test_the_webhook_secret_is_derived_from_the_key_not_stored(registry: Registry) -> None:
    hook = NotificationChannels(webhook_url="https://example.org/hook")
    coordinator, _ = await registry.create_coordinator("Dana", ("sch_1",), hook)
    assert registry.webhook_secret(coordinator) == derive_secret(
        WEBHOOK_KEY, "whsec", coordinator.id
    )
    plain, _ = await registry.create_coordinator("Lee", ("sch_1",), NotificationChannels())
    assert registry.webhook_secret(plain) is None


async def test_rotating_the_webhook_secret_shows_a_new_one_and_publishes_no_secret(
    registry: Registry, store: InMemoryRegistryStore
) -> None:
    """Issue 12, finding 5: the secret could not be rotated (it was fixed by key and id)."""
    now = datetime(2026, 12, 2, 8, tzinfo=UTC)
    registry.clock = lambda: now
    hook = NotificationChannels(webhook_url="https://example.org/hook")
    coordinator, _ = await registry.create_coordinator("Dana", ("sch_1",), hook)
    old = registry.webhook_secret(coordinator)
    assert old == webhook_secret(WEBHOOK_KEY, coordinator.id, 1)
    rotated, new = await registry.rotate_webhook_secret(coordinator.id)
    assert new != old
    assert new == webhook_secret(WEBHOOK_KEY, coordinator.id, 2)
    assert registry.webhook_secret(rotated) == new
    assert rotated.webhook_secret_generation == 2
    assert rotated.previous_generation_until == now + timedelta(hours=24)
    [event] = of_type(store, CoordinatorUpdated)
    assert isinstance(event, CoordinatorUpdated)
    assert event.payload.webhook_secret_generation == 2
    assert event.payload.previous_generation_until == now + timedelta(hours=24)
    assert event.payload.version == rotated.version == 2
    assert new not in event.model_dump_json() and old not in event.model_dump_json()
    _, third = await registry.rotate_webhook_secret(coordinator.id)
    assert third == webhook_secret(WEBHOOK_KEY, coordinator.id, 3) not in (old, new)


async def test_a_webhook_secret_cannot_be_rotated_without_a_webhook(
    registry: Registry, store: InMemoryRegistryStore
) -> None:
    plain, _ = await registry.create_coordinator("Lee", ("sch_1",), NotificationChannels())
    with pytest.raises(Conflict) as caught:
        await registry.rotate_webhook_secret(plain.id)
    assert caught.value.field == "channels.webhook_url"
    assert store.coordinators[plain.id] == plain and of_type(store, CoordinatorUpdated) == []
    with pytest.raises(NotFound):
        await registry.rotate_webhook_secret("coo_nobody")
    removed = await registry.remove_coordinator(plain.id)
    with pytest.raises(NotFound):
        await registry.rotate_webhook_secret(removed.id)


async def test_a_rotation_that_loses_to_a_concurrent_change_is_a_conflict(
    registry: Registry, store: InMemoryRegistryStore
) -> None:
    hook = NotificationChannels(webhook_url="https://example.org/hook")
    coordinator, _ = await registry.create_coordinator("Dana", ("sch_1",), hook)
    real = store.coordinator

    async def read_then_someone_else_writes(coordinator_id: str) -> Coordinator | None:
        found = await real(coordinator_id)
        assert found is not None
        store.coordinators[coordinator_id] = replace(found, version=found.version + 1)
        return found

    store.coordinator = read_then_someone_else_writes  # type: ignore[method-assign]
    with pytest.raises(Conflict):
        await registry.rotate_webhook_secret(coordinator.id)
    assert store.coordinators[coordinator.id].webhook_secret_generation == 1
    assert of_type(store, CoordinatorUpdated) == []


async def test_webhooks_are_refused_when_no_webhook_key_is_configured(
    store: InMemoryRegistryStore,
) -> None:
    keyless = Registry(store=store, reference=load_reference())
    with pytest.raises(Conflict) as caught:
        await keyless.create_coordinator(
            "Dana", ("sch_1",), NotificationChannels(webhook_url="https://example.org/hook")
        )
    assert caught.value.field == "channels.webhook_url"
    assert store.coordinators == {}


async def test_updating_a_coordinator_publishes_its_new_profile(
    registry: Registry, store: InMemoryRegistryStore
) -> None:
    coordinator, _ = await registry.create_coordinator("Dana", ("sch_1",), NotificationChannels())
    hook = NotificationChannels(webhook_url="https://example.org/hook", digest="daily")
    revised, secret = await registry.update_coordinator(
        coordinator.id, None, ("sch_1", "sch_2"), hook
    )
    assert secret == derive_secret(WEBHOOK_KEY, "whsec", coordinator.id)
    [event] = of_type(store, CoordinatorUpdated)
    assert isinstance(event, CoordinatorUpdated)
    assert event.payload.school_ids == ("sch_1", "sch_2")
    assert event.payload.channels.digest == "daily"
    assert event.payload.version == revised.version == 2
    _, again = await registry.update_coordinator(coordinator.id, "Dana R.", None, None)
    assert again is None  # the secret is shown only when a webhook is first set


async def test_a_removed_coordinator_loses_access_and_is_announced(
    registry: Registry, store: InMemoryRegistryStore
) -> None:
    coordinator, token = await registry.create_coordinator(
        "Dana", ("sch_1",), NotificationChannels()
    )
    await registry.remove_coordinator(coordinator.id)
    assert await registry.coordinator_for(token) is None
    [event] = of_type(store, CoordinatorRemoved)
    assert isinstance(event, CoordinatorRemoved) and event.payload.coordinator_id == coordinator.id
    with pytest.raises(NotFound):
        await registry.remove_coordinator(coordinator.id)


async def test_a_reissued_token_replaces_the_old_one_at_once(
    registry: Registry, store: InMemoryRegistryStore
) -> None:
    coordinator, old_token = await registry.create_coordinator(
        "Dana", ("sch_1",), NotificationChannels()
    )
    revised, new_token = await registry.reissue_coordinator_token(coordinator.id)
    assert new_token != old_token
    assert await registry.coordinator_for(old_token) is None
    found = await registry.coordinator_for(new_token)
    assert found is not None and found.id == coordinator.id
    [event] = of_type(store, CoordinatorUpdated)
    assert isinstance(event, CoordinatorUpdated)
    assert event.payload.version == revised.version == 2
    assert event.payload.school_ids == ("sch_1",)  # the profile itself is unchanged


async def test_a_removed_coordinator_gets_no_new_token(registry: Registry) -> None:
    coordinator, _ = await registry.create_coordinator("Dana", ("sch_1",), NotificationChannels())
    await registry.remove_coordinator(coordinator.id)
    with pytest.raises(NotFound):
        await registry.reissue_coordinator_token(coordinator.id)


# -- students ------------------------------------------------------------------------------


async def test_update_and_withdrawal_publish_matching_attributes_only(
    registry: Registry, store: InMemoryRegistryStore
) -> None:
    coordinator, _ = await registry.create_coordinator("Dana", ("sch_1",), NotificationChannels())
    a = application("sch_1", special_populations=("english-learners",))
    student = await registry.register_student(
        coordinator, a.school_id, a.person, a.plan, a.special_populations
    )
    updated = await registry.update_student(
        coordinator, student.id, replace(a, plan=replace(PLAN, grade=12))
    )
    withdrawn_student = await registry.withdraw_student(coordinator, student.id)
    assert (updated.version, withdrawn_student.version) == (2, 3)
    [update] = of_type(store, StudentUpdated)
    [withdrawal] = of_type(store, StudentWithdrawn)
    assert isinstance(update, StudentUpdated) and update.payload.grade == 12
    assert isinstance(withdrawal, StudentWithdrawn) and withdrawal.payload.version == 3
    for event in (update, withdrawal):
        raw = event.model_dump_json()
        assert "english-learners" not in raw and a.person.email not in raw
    with pytest.raises(Conflict):
        await registry.update_student(coordinator, student.id, a)


async def test_a_student_stays_at_their_school(registry: Registry) -> None:
    coordinator, _ = await registry.create_coordinator(
        "Dana", ("sch_1", "sch_2"), NotificationChannels()
    )
    a = application("sch_1")
    student = await registry.register_student(coordinator, a.school_id, a.person, a.plan)
    with pytest.raises(DomainError) as caught:
        await registry.update_student(coordinator, student.id, replace(a, school_id="sch_2"))
    assert caught.value.field == "school_id"


async def test_unknown_special_populations_are_refused(registry: Registry) -> None:
    coordinator, _ = await registry.create_coordinator("Dana", ("sch_1",), NotificationChannels())
    a = application("sch_1")
    with pytest.raises(DomainError) as caught:
        await registry.register_student(coordinator, "sch_1", a.person, a.plan, ("left-handed",))
    assert caught.value.field == "special_populations"


async def test_a_class_keeps_its_good_rows_and_reports_each_bad_one(
    registry: Registry, store: InMemoryRegistryStore
) -> None:
    coordinator, _ = await registry.create_coordinator("Dana", ("sch_1",), NotificationChannels())
    good = application("sch_1")
    rows = [
        (1, good),
        (2, application("sch_2")),  # not their school
        (3, replace(good, plan=replace(PLAN, program="juggling"))),
        (4, replace(good, plan=replace(PLAN, available_to=date(2027, 1, 1)))),
        (5, application("sch_1")),
        (6, good),  # the same email again at the same school
    ]
    outcome = await registry.register_class(coordinator, rows)
    assert [row for row, _ in outcome.registered] == [1, 5]
    assert [(p.row, p.field) for p in outcome.problems] == [
        (2, "school_id"),
        (3, "program"),
        (4, "available_to"),
    ]
    # Row 6 is row 1's student again, unchanged: reported as registered before, not an error.
    assert [(row, s.id) for row, s in outcome.already_registered] == [
        (6, outcome.registered[0][1].id)
    ]
    assert len(store.students) == 2 and len(store.events) == 1 + 2


# -- matches -------------------------------------------------------------------------------


@dataclass
class Scene:
    employer: Employer
    opening: Opening
    coordinator: Coordinator
    proposals: list[MatchProposed]

    def match_id(self, index: int) -> str:
        return self.proposals[index].payload.match_id


async def placed_scene(registry: Registry, seats: int = 1) -> Scene:
    employer, _ = await registry.create_employer("Acme")
    opening = await registry.post_opening(employer, replace(TERMS, seats=seats))
    coordinator, _ = await registry.create_coordinator(
        "Dana", ("sch_1",), NotificationChannels(email="dana@school.example.org")
    )
    students = []
    for _ in range(seats + 1):
        a = application("sch_1")
        students.append(await registry.register_student(coordinator, "sch_1", a.person, a.plan))
    proposals = [proposed(s.id, "sch_1", opening.id, employer.id) for s in students]
    for event in proposals:
        await registry.on_match_event(event)
    return Scene(employer, opening, coordinator, proposals)


async def test_confirmations_take_seats_until_none_is_left(
    registry: Registry, store: InMemoryRegistryStore
) -> None:
    scene = await placed_scene(registry, seats=1)
    opening, coordinator, proposals = scene.opening, scene.coordinator, scene.proposals
    first, second = (p.payload.match_id for p in proposals)
    confirmed = await registry.confirm_match(coordinator, first, "ok")
    assert confirmed.status == MatchStatus.CONFIRMED
    with pytest.raises(Conflict):
        await registry.confirm_match(coordinator, second)
    assert await status_of(store, second) == MatchStatus.PROPOSED
    assert store.openings[opening.id].seats_remaining == 0
    [event] = of_type(store, PlacementConfirmed)
    assert isinstance(event, PlacementConfirmed)
    assert event.key() == proposals[0].payload.student_id
    assert event.payload.coordinator_id == coordinator.id
    with pytest.raises(Conflict):  # already decided
        await registry.confirm_match(coordinator, first)


async def test_an_interrupted_confirmation_resumes_without_a_second_seat(
    registry: Registry, store: InMemoryRegistryStore
) -> None:
    scene = await placed_scene(registry, seats=2)
    match_id = scene.match_id(0)
    # A crash after claiming the decision and taking the seat, before recording it:
    await store.claim_decision(Decision(match_id, DecisionKind.CONFIRM, scene.coordinator.id))
    student_id = store.matches[match_id].student_id
    assert await store.claim_placement(student_id, match_id, scene.opening.id) == match_id
    assert await store.take_seat(scene.opening.id, match_id) == SeatTaken.TAKEN
    assert await registry.resume_decisions(older_than=timedelta(0)) == 1
    assert store.openings[scene.opening.id].seats_remaining == 1
    assert await status_of(store, match_id) == MatchStatus.CONFIRMED
    assert len(of_type(store, PlacementConfirmed)) == 1
    assert await store.pending_decisions(timedelta(0)) == []
    assert await registry.resume_decisions(older_than=timedelta(0)) == 0


async def test_a_retry_after_a_crash_before_the_seat_finishes_the_confirmation(
    registry: Registry, store: InMemoryRegistryStore
) -> None:
    scene = await placed_scene(registry, seats=2)
    match_id = scene.match_id(0)
    await store.claim_decision(Decision(match_id, DecisionKind.CONFIRM, scene.coordinator.id))
    confirmed = await registry.confirm_match(scene.coordinator, match_id)
    assert confirmed.status == MatchStatus.CONFIRMED
    assert store.openings[scene.opening.id].seats_remaining == 1
    with pytest.raises(Conflict):  # and it cannot be turned into a decline afterwards
        await registry.decline_match(scene.coordinator, match_id)


async def test_a_decline_in_flight_blocks_a_confirmation(
    registry: Registry, store: InMemoryRegistryStore
) -> None:
    scene = await placed_scene(registry, seats=2)
    match_id = scene.match_id(0)
    await store.claim_decision(Decision(match_id, DecisionKind.DECLINE, scene.coordinator.id))
    with pytest.raises(Conflict):
        await registry.confirm_match(scene.coordinator, match_id)
    assert store.openings[scene.opening.id].seats_remaining == 2


async def test_a_placement_event_id_is_derived_from_the_match() -> None:
    """Two writes of the same decision (a retry racing the original, which finishes the
    claim that stood: attempt "a1") carry one event id, so consumers, idempotent on event_id,
    see one placement."""
    ids = []
    for _ in range(2):
        store = InMemoryRegistryStore()
        registry = Registry(store=store, reference=load_reference())
        coordinator, _ = await registry.create_coordinator(
            "Dana", ("sch_1",), NotificationChannels()
        )
        a = application("sch_1")
        student = await registry.register_student(coordinator, "sch_1", a.person, a.plan)
        employer, _ = await registry.create_employer("Acme")
        opening = await registry.post_opening(employer, TERMS)
        event = proposed(student.id, "sch_1", opening.id, employer.id, match_id="mat_fixed")
        await registry.on_match_event(event)
        await store.claim_decision(
            Decision("mat_fixed", DecisionKind.CONFIRM, coordinator.id, "", "a1")
        )
        await registry.confirm_match(coordinator, "mat_fixed")
        [placement] = of_type(store, PlacementConfirmed)
        ids.append(placement.event_id)
    assert ids[0] == ids[1]


async def test_decline_withdrawal_and_scope(
    registry: Registry, store: InMemoryRegistryStore
) -> None:
    scene = await placed_scene(registry, seats=1)
    coordinator, proposals = scene.coordinator, scene.proposals
    other, _ = await registry.create_coordinator("Lee", ("sch_9",), NotificationChannels())
    first, second = proposals
    with pytest.raises(NotFound):
        await registry.decline_match(other, first.payload.match_id)
    declined = await registry.decline_match(coordinator, first.payload.match_id, "dates")
    assert declined.status == MatchStatus.DECLINED
    [event] = of_type(store, PlacementDeclined)
    # The note stays in registry: free text never goes on the bus (issue 12, finding 9).
    assert isinstance(event, PlacementDeclined) and "note" not in event.payload.model_dump()
    assert "dates" not in event.model_dump_json()
    assert (await store.match(first.payload.match_id)).note == "dates"  # type: ignore[union-attr]
    await registry.on_match_event(withdrawn(second))
    with pytest.raises(Conflict):
        await registry.confirm_match(coordinator, second.payload.match_id)
    await registry.on_match_event(withdrawn(first))  # a decided match stays decided
    assert await status_of(store, first.payload.match_id) == MatchStatus.DECLINED


async def test_proposals_are_kept_once_and_a_withdrawal_first_wins(
    registry: Registry, store: InMemoryRegistryStore
) -> None:
    event = proposed("stu_1", "sch_1", "opn_1", "emp_1")
    await registry.on_match_event(withdrawn(event))
    await registry.on_match_event(event)
    await registry.on_match_event(event)
    assert list(store.matches) == [event.payload.match_id]
    assert await status_of(store, event.payload.match_id) == MatchStatus.WITHDRAWN


async def test_employers_see_anonymous_candidates_until_confirmed(registry: Registry) -> None:
    scene = await placed_scene(registry, seats=1)
    employer, coordinator, proposals = scene.employer, scene.coordinator, scene.proposals
    await registry.confirm_match(coordinator, proposals[0].payload.match_id)
    seen = {p.match.id: p for p in await registry.matches_for_employer(employer, None, 1, 50)}
    placed = seen[proposals[0].payload.match_id]
    pending = seen[proposals[1].payload.match_id]
    assert placed.coordinator is not None and placed.coordinator.id == coordinator.id
    assert pending.coordinator is None
    other, _ = await registry.create_employer("Globex")
    assert await registry.matches_for_employer(other, None, 1, 50) == []


async def test_outcomes_count_placements_by_group(registry: Registry) -> None:
    scene = await placed_scene(registry, seats=1)
    coordinator, proposals = scene.coordinator, scene.proposals
    await registry.confirm_match(coordinator, proposals[0].payload.match_id)
    rows = {(r.dimension, r.group): r for r in (await registry.outcomes(("sch_1",))).rows}
    school = rows[("school", "sch_1")]
    assert (school.students, school.placed, school.placement_rate) == (2, 1, 0.5)
    assert rows[("program", "stem-tech-academy")].placed == 1
    # Another school's coordinator: every group listed, no one in any.
    other = (await registry.outcomes(("sch_9",))).rows
    assert other and all(r.students == 0 for r in other)
    assert {r.group for r in other if r.dimension == "school"} == {"sch_9"}


async def test_the_statewide_report_withholds_groups_below_the_minimum(
    registry: Registry,
) -> None:
    scene = await placed_scene(registry, seats=1)
    await registry.confirm_match(scene.coordinator, scene.proposals[0].payload.match_id)
    registry.report_min_group = 2  # the scene has 2 students at sch_1
    state = {(r.dimension, r.group): r for r in (await registry.outcomes(None)).rows}
    assert not state[("school", "sch_1")].suppressed
    registry.report_min_group = 3
    state = {(r.dimension, r.group): r for r in (await registry.outcomes(None)).rows}
    assert all(r.suppressed for r in state.values() if r.students)
    # An empty group is never hidden for its size; only as the one other cell of a dimension
    # whose every other group is empty (else the hidden one would be the total).
    empty_hidden = [r for r in state.values() if not r.students and r.suppressed]
    assert {r.suppression for r in empty_hidden} <= {Suppression.COMPLEMENT}
    assert len([r for r in state.values() if r.dimension == "school" and r.suppressed]) == 2
    own = (await registry.outcomes(("sch_1",))).rows
    assert own and not any(r.suppressed for r in own)


async def test_a_student_goes_on_the_bus_with_a_coarse_home_only(
    registry: Registry, store: InMemoryRegistryStore
) -> None:
    coordinator, _ = await registry.create_coordinator("Dana", ("sch_1",), NotificationChannels())
    a = application("sch_1")
    exact = replace(a.plan, home=Place(town="Worcester", lat=42.263456789, lon=-71.802345678))
    await registry.register_student(coordinator, "sch_1", a.person, exact)
    [event] = of_type(store, StudentRegistered)
    home = event.payload.home  # type: ignore[attr-defined]
    assert (home.lat, home.lon) == (42.26, -71.8)  # a grid of about 1 km
    assert "42.2634" not in event.model_dump_json() and "71.8023" not in event.model_dump_json()


# -- the offer window: of a decision and an expiry, one wins ---------------------------

DEADLINE = datetime(2027, 5, 8, 12, tzinfo=UTC)


async def offered_until(registry: Registry, scene: Scene, expires: datetime) -> MatchProposed:
    """A new offer with a deadline to the scene's first student."""
    p = scene.proposals[0].payload
    event = proposed(p.student_id, p.school_id, p.opening_id, scene.employer.id)
    offer = event.payload.model_copy(update={"expires_at": expires})
    event = event.model_copy(update={"payload": offer})
    await registry.on_match_event(event)
    return event


async def test_a_decision_after_the_offer_expired_is_refused_and_changes_nothing(
    registry: Registry, store: InMemoryRegistryStore
) -> None:
    scene = await placed_scene(registry, seats=2)
    offer = await offered_until(registry, scene, DEADLINE)
    match_id = offer.payload.match_id
    registry.clock = lambda: DEADLINE
    for decide in (registry.confirm_match, registry.decline_match):
        with pytest.raises(Conflict, match="this offer expired on 2027-05-08 12:00 UTC"):
            await decide(scene.coordinator, match_id, "")
    assert await status_of(store, match_id) == MatchStatus.PROPOSED
    assert store.openings[scene.opening.id].seats_remaining == 2
    assert of_type(store, PlacementConfirmed) == of_type(store, PlacementDeclined) == []
    # The matcher's expiry then withdraws it: the coordinator sees it withdrawn.
    await registry.on_match_event(withdrawn(offer, "The offer expired.", "expired"))
    assert await status_of(store, match_id) == MatchStatus.WITHDRAWN


async def test_a_confirmation_before_the_deadline_stands_over_a_later_expiry(
    registry: Registry, store: InMemoryRegistryStore
) -> None:
    scene = await placed_scene(registry, seats=2)
    offer = await offered_until(registry, scene, DEADLINE)
    match_id = offer.payload.match_id
    registry.clock = lambda: DEADLINE - timedelta(milliseconds=1)
    confirmed = await registry.confirm_match(scene.coordinator, match_id)
    assert confirmed.status == MatchStatus.CONFIRMED and confirmed.expires_at == DEADLINE
    # The matcher's expiry arriving afterwards (past its grace) changes nothing.
    await registry.on_match_event(withdrawn(offer, "The offer expired.", "expired"))
    assert await status_of(store, match_id) == MatchStatus.CONFIRMED
    assert len(of_type(store, PlacementConfirmed)) == 1
