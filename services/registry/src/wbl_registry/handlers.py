"""Registry use cases. Each receives its collaborators; none knows about HTTP or Kafka."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wbl_common.secrets import hash_secret, new_secret
from wbl_registry.domain import (
    Coordinator,
    DomainError,
    Employer,
    NotFound,
    Opening,
    OpeningTerms,
    PersonalDetails,
    Student,
    StudentPlan,
    check_opening_terms,
    check_student_plan,
    close_opening,
    new_id,
    open_opening,
    revise_opening,
)
from wbl_registry.store import RegistryStore
from wbl_schemas.events import (
    CoordinatorRegistered,
    NotificationChannels,
    OpeningClosed,
    OpeningPublished,
    OpeningRef,
    OpeningUpdated,
    StudentRegistered,
)
from wbl_schemas.reference import ReferenceData

PRODUCER = "registry"


class Forbidden(DomainError):
    pass


class Conflict(DomainError):
    pass


@dataclass
class Registry:
    """The registry's use cases over its store; `written` wakes the outbox relay."""

    store: RegistryStore
    reference: ReferenceData
    written: Callable[[], None] = lambda: None

    # -- identities ----------------------------------------------------------------------

    async def create_employer(self, name: str) -> tuple[Employer, str]:
        api_key = new_secret("emp")
        employer = Employer(id=new_id("emp"), name=name, key_hash=hash_secret(api_key))
        await self.store.add_employer(employer)
        return employer, api_key

    async def create_coordinator(
        self, name: str, school_ids: tuple[str, ...], channels: NotificationChannels
    ) -> tuple[Coordinator, str]:
        token = new_secret("coo")
        coordinator = Coordinator(
            id=new_id("coo"),
            name=name,
            school_ids=school_ids,
            channels=channels,
            token_hash=hash_secret(token),
        )
        event = CoordinatorRegistered(producer=PRODUCER, payload=coordinator.profile())
        await self.store.add_coordinator(coordinator, event)
        self.written()
        return coordinator, token

    async def employer_for(self, api_key: str) -> Employer | None:
        return await self.store.employer_by_key_hash(hash_secret(api_key))

    async def coordinator_for(self, token: str) -> Coordinator | None:
        return await self.store.coordinator_by_token_hash(hash_secret(token))

    # -- openings ------------------------------------------------------------------------

    async def post_opening(self, employer: Employer, terms: OpeningTerms) -> Opening:
        opening = open_opening(employer.id, check_opening_terms(terms, self.reference))
        event = OpeningPublished(producer=PRODUCER, payload=opening.snapshot())
        await self.store.add_opening(opening, event)
        self.written()
        return opening

    async def opening_of(self, employer: Employer, opening_id: str) -> Opening:
        opening = await self.store.opening(opening_id)
        if opening is None or opening.employer_id != employer.id:
            raise NotFound(f"no opening {opening_id!r} among yours")
        return opening

    async def openings_of(
        self, employer: Employer, status: str | None, career_field: str | None, page: int, size: int
    ) -> list[Opening]:
        return await self.store.openings_of(
            employer.id, status, career_field, (page - 1) * size, size
        )

    async def revise_opening(
        self, employer: Employer, opening_id: str, terms: OpeningTerms
    ) -> Opening:
        current = await self.opening_of(employer, opening_id)
        revised = revise_opening(current, check_opening_terms(terms, self.reference))
        event = OpeningUpdated(producer=PRODUCER, payload=revised.snapshot())
        if not await self.store.replace_opening(revised, event):
            raise Conflict("the opening changed meanwhile; read it again and retry")
        self.written()
        return revised

    async def close_opening(self, employer: Employer, opening_id: str) -> Opening:
        current = await self.opening_of(employer, opening_id)
        if current.status == "closed":
            return current
        closed = close_opening(current)
        ref = OpeningRef(
            opening_id=closed.id, employer_id=closed.employer_id, version=closed.version
        )
        if not await self.store.replace_opening(
            closed, OpeningClosed(producer=PRODUCER, payload=ref)
        ):
            raise Conflict("the opening changed meanwhile; read it again and retry")
        self.written()
        return closed

    # -- students ------------------------------------------------------------------------

    async def register_student(
        self, coordinator: Coordinator, school_id: str, person: PersonalDetails, plan: StudentPlan
    ) -> Student:
        if not coordinator.serves(school_id):
            raise Forbidden(f"you do not coordinate school {school_id!r}", "school_id")
        check_student_plan(plan, person.date_of_birth, self.reference)
        student = Student(id=new_id("stu"), school_id=school_id, person=person, plan=plan)
        event = StudentRegistered(producer=PRODUCER, payload=student.match_profile())
        await self.store.add_student(student, event)
        self.written()
        return student

    async def student_for(self, coordinator: Coordinator, student_id: str) -> Student:
        student = await self.store.student(student_id)
        if student is None or not coordinator.serves(student.school_id):
            raise NotFound(f"no student {student_id!r} at your schools")
        return student
