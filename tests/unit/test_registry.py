from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from wbl_registry.domain import (
    DomainError,
    NotFound,
    OpeningTerms,
    PersonalDetails,
    StudentPlan,
    age_on,
)
from wbl_registry.handlers import Forbidden, Registry
from wbl_registry.store import InMemoryRegistryStore
from wbl_schemas.events import (
    CoordinatorRegistered,
    NotificationChannels,
    OpeningClosed,
    OpeningPublished,
    Place,
    StudentRegistered,
)
from wbl_schemas.reference import load_reference
from wbl_schemas.topics import EMPLOYERS

pytestmark = pytest.mark.unit

WORCESTER = Place(town="Worcester", lat=42.2626, lon=-71.8023)
TERMS = OpeningTerms(
    title="Robotics intern",
    career_field="robotics-and-automation-technology",
    seats=2,
    location=WORCESTER,
    remote=False,
    starts_on=date(2027, 6, 1),
    ends_on=date(2027, 8, 31),
    hours_per_week=20,
    paid=True,
)
PERSON = PersonalDetails("Ana", "Souza", "ana@example.org", date(2010, 3, 14))
PLAN = StudentPlan(
    program="stem-tech-academy",
    career_fields=("robotics-and-automation-technology",),
    credentials=("osha-10-general",),
    grade=11,
    languages=("pt",),
    home=WORCESTER,
    max_commute_km=20,
    available_from=date(2027, 6, 1),
    available_to=date(2027, 8, 31),
    hours_per_week=20,
)


@pytest.fixture
def registry() -> Registry:
    return Registry(store=InMemoryRegistryStore(), reference=load_reference())


def events(registry: Registry) -> list[object]:
    """The events queued, but for the employers' own (tests/unit/registry has those)."""
    store = registry.store
    assert isinstance(store, InMemoryRegistryStore)
    return [e for e in store.events if e.topic != EMPLOYERS]


async def test_posting_an_opening_stores_it_and_queues_its_event(registry: Registry) -> None:
    employer, api_key = await registry.create_employer("Acme")
    opening = await registry.post_opening(employer, TERMS)
    assert await registry.employer_for(api_key) == employer
    assert opening.seats_remaining == 2
    [event] = events(registry)
    assert isinstance(event, OpeningPublished)
    assert event.payload.opening_id == opening.id
    assert event.payload.employer_name == "Acme"  # for coordinators' notifications
    assert event.key() == opening.id


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"career_field": "basket-weaving"}, "career_field"),
        ({"ends_on": date(2027, 5, 1)}, "ends_on"),
        ({"hazardous": True, "min_age": 16}, "min_age"),
        ({"location": None}, "location"),
        ({"required_credentials": ("osha-99",)}, "required_credentials"),
    ],
)
async def test_opening_rules_name_the_field_and_store_nothing(
    registry: Registry, changes: dict[str, object], field: str
) -> None:
    employer, _ = await registry.create_employer("Acme")
    with pytest.raises(DomainError) as caught:
        await registry.post_opening(employer, replace(TERMS, **changes))  # type: ignore[arg-type]
    assert caught.value.field == field
    assert events(registry) == []


async def test_an_employer_cannot_see_or_close_another_employers_opening(
    registry: Registry,
) -> None:
    owner, _ = await registry.create_employer("Acme")
    other, _ = await registry.create_employer("Globex")
    opening = await registry.post_opening(owner, TERMS)
    with pytest.raises(NotFound):
        await registry.opening_of(other, opening.id)
    with pytest.raises(NotFound):
        await registry.close_opening(other, opening.id)
    closed = await registry.close_opening(owner, opening.id)
    assert closed.status == "closed"
    assert isinstance(events(registry)[-1], OpeningClosed)


async def test_student_events_carry_a_pseudonym_and_no_personal_data(registry: Registry) -> None:
    coordinator, _ = await registry.create_coordinator(
        "Dana", ("sch_1",), NotificationChannels(email="dana@school.example.org")
    )
    student = await registry.register_student(coordinator, "sch_1", PERSON, PLAN)
    registered = events(registry)[-1]
    assert isinstance(registered, StudentRegistered)
    assert isinstance(events(registry)[0], CoordinatorRegistered)
    raw = registered.model_dump_json()
    for secret in ("Ana", "Souza", "ana@example.org", "2010-03-14"):
        assert secret not in raw
    assert registered.payload.student_id == student.id
    # Only the band the work rules turn on: no exact age on the bus (issue 12, finding 9).
    assert registered.payload.age_band == "16-17"
    payload = registered.payload.model_dump()
    assert "age_at_start" not in payload and 17 not in payload.values()


async def test_a_coordinator_registers_students_only_at_their_schools(registry: Registry) -> None:
    coordinator, _ = await registry.create_coordinator("Dana", ("sch_1",), NotificationChannels())
    with pytest.raises(Forbidden):
        await registry.register_student(coordinator, "sch_2", PERSON, PLAN)
    assert [e for e in events(registry) if isinstance(e, StudentRegistered)] == []


def test_age_counts_whole_years_up_to_the_day() -> None:
    assert age_on(date(2010, 3, 14), date(2027, 3, 13)) == 16
    assert age_on(date(2010, 3, 14), date(2027, 3, 14)) == 17
