"""Registry persistence: a `RegistryStore` protocol, its MongoDB implementation, and an
in-memory one for unit tests. Every state change and its event are one document write."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pydantic import TypeAdapter
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from wbl_common.mongo import Document
from wbl_common.outbox import new_with_outbox, with_outbox
from wbl_registry.domain import Coordinator, Employer, Opening, Student
from wbl_schemas.envelope import Envelope

T = TypeVar("T")


class RegistryStore(Protocol):
    async def add_employer(self, employer: Employer) -> None: ...

    async def employer_by_key_hash(self, key_hash: str) -> Employer | None: ...

    async def add_coordinator(self, coordinator: Coordinator, event: Envelope) -> None: ...

    async def coordinator_by_token_hash(self, token_hash: str) -> Coordinator | None: ...

    async def add_opening(self, opening: Opening, event: Envelope) -> None: ...

    async def opening(self, opening_id: str) -> Opening | None: ...

    async def replace_opening(self, opening: Opening, event: Envelope) -> bool:
        """Store `opening` if the stored version is `opening.version - 1`; False if not."""
        ...

    async def openings_of(
        self, employer_id: str, status: str | None, career_field: str | None, skip: int, limit: int
    ) -> list[Opening]: ...

    async def add_student(self, student: Student, event: Envelope) -> None: ...

    async def student(self, student_id: str) -> Student | None: ...


class _Codec(Generic[T]):
    """Domain dataclass ⇄ MongoDB document (dates as ISO strings, `id` as `_id`)."""

    def __init__(self, kind: type[T]) -> None:
        self._adapter = TypeAdapter(kind)

    def to_doc(self, item: T) -> Document:
        doc: Document = self._adapter.dump_python(item, mode="json")
        doc["_id"] = doc.pop("id")
        return doc

    def from_doc(self, doc: Document) -> T:
        fields = {k: v for k, v in doc.items() if k not in ("_id", "outbox", "outbox_pending")}
        return self._adapter.validate_python({"id": doc["_id"], **fields})


EMPLOYERS, COORDINATORS, OPENINGS, STUDENTS = (
    _Codec(Employer),
    _Codec(Coordinator),
    _Codec(Opening),
    _Codec(Student),
)


class MongoRegistryStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.employers = db["employers"]
        self.coordinators = db["coordinators"]
        self.openings = db["openings"]
        self.students = db["students"]

    @property
    def outbox_collections(self) -> list[AsyncCollection[Document]]:
        return [self.coordinators, self.openings, self.students]

    async def ensure_indexes(self) -> None:
        await self.employers.create_index("key_hash", unique=True)
        await self.coordinators.create_index("token_hash", unique=True)
        await self.openings.create_index([("employer_id", ASCENDING), ("status", ASCENDING)])
        for collection in self.outbox_collections:
            await collection.create_index("outbox_pending")

    async def add_employer(self, employer: Employer) -> None:
        await self.employers.insert_one(EMPLOYERS.to_doc(employer))

    async def employer_by_key_hash(self, key_hash: str) -> Employer | None:
        doc = await self.employers.find_one({"key_hash": key_hash})
        return EMPLOYERS.from_doc(doc) if doc else None

    async def add_coordinator(self, coordinator: Coordinator, event: Envelope) -> None:
        await self.coordinators.insert_one(new_with_outbox(COORDINATORS.to_doc(coordinator), event))

    async def coordinator_by_token_hash(self, token_hash: str) -> Coordinator | None:
        doc = await self.coordinators.find_one({"token_hash": token_hash})
        return COORDINATORS.from_doc(doc) if doc else None

    async def add_opening(self, opening: Opening, event: Envelope) -> None:
        await self.openings.insert_one(new_with_outbox(OPENINGS.to_doc(opening), event))

    async def opening(self, opening_id: str) -> Opening | None:
        doc = await self.openings.find_one({"_id": opening_id})
        return OPENINGS.from_doc(doc) if doc else None

    async def replace_opening(self, opening: Opening, event: Envelope) -> bool:
        doc = OPENINGS.to_doc(opening)
        doc_id = doc.pop("_id")
        result = await self.openings.update_one(
            {"_id": doc_id, "version": opening.version - 1}, with_outbox({"$set": doc}, event)
        )
        return result.matched_count == 1

    async def openings_of(
        self, employer_id: str, status: str | None, career_field: str | None, skip: int, limit: int
    ) -> list[Opening]:
        query: dict[str, Any] = {"employer_id": employer_id}
        if status:
            query["status"] = status
        if career_field:
            query["terms.career_field"] = career_field
        cursor = self.openings.find(query).sort("_id", ASCENDING).skip(skip).limit(limit)
        return [OPENINGS.from_doc(doc) async for doc in cursor]

    async def add_student(self, student: Student, event: Envelope) -> None:
        await self.students.insert_one(new_with_outbox(STUDENTS.to_doc(student), event))

    async def student(self, student_id: str) -> Student | None:
        doc = await self.students.find_one({"_id": student_id})
        return STUDENTS.from_doc(doc) if doc else None


@dataclass
class InMemoryRegistryStore:
    """Same contract as the MongoDB store; `events` stands in for the outbox."""

    employers: dict[str, Employer] = field(default_factory=dict)
    coordinators: dict[str, Coordinator] = field(default_factory=dict)
    openings: dict[str, Opening] = field(default_factory=dict)
    students: dict[str, Student] = field(default_factory=dict)
    events: list[Envelope] = field(default_factory=list)

    async def add_employer(self, employer: Employer) -> None:
        self.employers[employer.id] = employer

    async def employer_by_key_hash(self, key_hash: str) -> Employer | None:
        return next((e for e in self.employers.values() if e.key_hash == key_hash), None)

    async def add_coordinator(self, coordinator: Coordinator, event: Envelope) -> None:
        self.coordinators[coordinator.id] = coordinator
        self.events.append(event)

    async def coordinator_by_token_hash(self, token_hash: str) -> Coordinator | None:
        return next((c for c in self.coordinators.values() if c.token_hash == token_hash), None)

    async def add_opening(self, opening: Opening, event: Envelope) -> None:
        self.openings[opening.id] = opening
        self.events.append(event)

    async def opening(self, opening_id: str) -> Opening | None:
        return self.openings.get(opening_id)

    async def replace_opening(self, opening: Opening, event: Envelope) -> bool:
        stored = self.openings.get(opening.id)
        if stored is None or stored.version != opening.version - 1:
            return False
        self.openings[opening.id] = opening
        self.events.append(event)
        return True

    async def openings_of(
        self, employer_id: str, status: str | None, career_field: str | None, skip: int, limit: int
    ) -> list[Opening]:
        found = sorted(
            (
                o
                for o in self.openings.values()
                if o.employer_id == employer_id
                and (status is None or o.status == status)
                and (career_field is None or o.terms.career_field == career_field)
            ),
            key=lambda o: o.id,
        )
        return found[skip : skip + limit]

    async def add_student(self, student: Student, event: Envelope) -> None:
        self.students[student.id] = student
        self.events.append(event)

    async def student(self, student_id: str) -> Student | None:
        return self.students.get(student_id)
