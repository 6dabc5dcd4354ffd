"""Registry persistence: a `RegistryStore` protocol, its MongoDB implementation, and an
in-memory one for unit tests. Every state change and its event are one document write;
replacements are conditional on the stored version, so a concurrent change is detected."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from pydantic import TypeAdapter
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from wbl_common.mongo import Document
from wbl_common.outbox import new_with_outbox, outbox_lock, with_outbox
from wbl_registry.domain import (
    Conflict,
    Coordinator,
    Decision,
    DecisionKind,
    Employer,
    Match,
    MatchStatus,
    Opening,
    OutcomeFacts,
    Student,
)
from wbl_schemas.envelope import Envelope

T = TypeVar("T")

DUPLICATE_KEY = 11000
ALREADY_REGISTERED = "a student with this email is already registered at this school"


class AlreadyRegistered(Conflict):
    def __init__(self) -> None:
        super().__init__(ALREADY_REGISTERED, "email")


class SeatTaken(StrEnum):
    TAKEN = "taken"  # this call took the seat
    ALREADY = "already"  # the match held a seat before this call (a retry)
    NONE = "none"  # no seat left, or the opening is closed


class RegistryStore(Protocol):
    # -- employers
    async def add_employer(self, employer: Employer) -> None: ...

    async def employer(self, employer_id: str) -> Employer | None: ...

    async def employer_by_key_hash(self, key_hash: str) -> Employer | None: ...

    async def save_employer(self, employer: Employer) -> None: ...

    # -- coordinators
    async def add_coordinator(self, coordinator: Coordinator, event: Envelope) -> None: ...

    async def coordinator(self, coordinator_id: str) -> Coordinator | None: ...

    async def coordinator_by_token_hash(self, token_hash: str) -> Coordinator | None: ...

    async def replace_coordinator(self, coordinator: Coordinator, event: Envelope) -> bool:
        """Store `coordinator` if the stored version is one less; False if not."""
        ...

    async def coordinators_by_id(self, coordinator_ids: Sequence[str]) -> list[Coordinator]: ...

    # -- openings
    async def add_opening(self, opening: Opening, event: Envelope) -> None: ...

    async def opening(self, opening_id: str) -> Opening | None: ...

    async def replace_opening(self, opening: Opening, event: Envelope) -> bool:
        """Store `opening` if the stored version is `opening.version - 1`; False if not."""
        ...

    async def openings_of(
        self, employer_id: str, status: str | None, career_field: str | None, skip: int, limit: int
    ) -> list[Opening]: ...

    async def take_seat(self, opening_id: str, match_id: str) -> SeatTaken:
        """Take one seat of an open opening for `match_id`, at most once per match and never
        more than the opening's seats, however many callers race."""
        ...

    # -- students
    async def add_student(self, student: Student, event: Envelope) -> None:
        """Raises AlreadyRegistered when the school has a student with that email."""
        ...

    async def add_students(self, batch: Sequence[tuple[Student, Envelope]]) -> dict[int, str]:
        """Insert each student with its event; returns why, by position, those not stored."""
        ...

    async def student(self, student_id: str) -> Student | None: ...

    async def students_by_id(self, student_ids: Sequence[str]) -> list[Student]: ...

    async def students_of(
        self, school_ids: Sequence[str], status: str | None, skip: int, limit: int
    ) -> list[Student]: ...

    async def replace_student(self, student: Student, event: Envelope) -> bool: ...

    async def outcome_facts(self, school_ids: Sequence[str] | None) -> list[OutcomeFacts]: ...

    # -- matches
    async def save_proposal(self, match: Match) -> bool:
        """Store a new match; False when the match is already known (a redelivery)."""
        ...

    async def claim_decision(self, decision: Decision) -> Decision:
        """Record `decision` unless the match has one; returns the one that stands."""
        ...

    async def release_decision(self, decision: Decision) -> None:
        """Drop a claimed decision that could not be carried out (no seat left)."""
        ...

    async def settle_decision(self, match_id: str) -> None: ...

    async def unsettled_confirmations(self) -> list[Decision]: ...

    async def match(self, match_id: str) -> Match | None: ...

    async def replace_match(self, match: Match, event: Envelope | None) -> bool: ...

    async def matches_of_schools(
        self, school_ids: Sequence[str], status: str | None, skip: int, limit: int
    ) -> list[Match]: ...

    async def matches_of_employer(
        self, employer_id: str, status: str | None, skip: int, limit: int
    ) -> list[Match]: ...

    async def placed_students(self, school_ids: Sequence[str] | None) -> set[str]: ...


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


EMPLOYERS, COORDINATORS, OPENINGS, STUDENTS, MATCHES = (
    _Codec(Employer),
    _Codec(Coordinator),
    _Codec(Opening),
    _Codec(Student),
    _Codec(Match),
)
DECISIONS = TypeAdapter(Decision)
# Seats are counted from the `seats` collection, never stored on the opening document.
DERIVED_OPENING_FIELDS = ("seats_remaining", "seat_holders")


def _opening_doc(opening: Opening) -> Document:
    doc = OPENINGS.to_doc(opening)
    for name in DERIVED_OPENING_FIELDS:
        doc.pop(name)
    return doc


def _filter(base: dict[str, Any], status: str | None) -> dict[str, Any]:
    return {**base, "status": status} if status else base


class MongoRegistryStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.employers = db["employers"]
        self.coordinators = db["coordinators"]
        self.openings = db["openings"]
        self.students = db["students"]
        self.matches = db["matches"]
        # Claims by unique insert: FerretDB 1.24 does not apply concurrent updates of one
        # document atomically (lost $inc, stale conditional findAndModify), but it does
        # enforce unique indexes; so seats and decisions are claimed by inserting.
        self.seats = db["seats"]
        self.decisions = db["decisions"]

    @property
    def outbox_collections(self) -> list[AsyncCollection[Document]]:
        return [self.coordinators, self.openings, self.students, self.matches]

    async def ensure_indexes(self) -> None:
        await self.employers.create_index("key_hash", unique=True)
        await self.coordinators.create_index("token_hash", unique=True)
        await self.openings.create_index([("employer_id", ASCENDING), ("status", ASCENDING)])
        await self.students.create_index(
            [("school_id", ASCENDING), ("person.email", ASCENDING)], unique=True
        )
        await self.matches.create_index([("school_id", ASCENDING), ("status", ASCENDING)])
        await self.matches.create_index([("employer_id", ASCENDING), ("status", ASCENDING)])
        await self.seats.create_index("match_id", unique=True)
        await self.seats.create_index("opening_id")
        await self.decisions.create_index([("kind", ASCENDING), ("settled", ASCENDING)])
        for collection in self.outbox_collections:
            await collection.create_index("outbox_pending")

    # -- employers

    async def add_employer(self, employer: Employer) -> None:
        await self.employers.insert_one(EMPLOYERS.to_doc(employer))

    async def employer(self, employer_id: str) -> Employer | None:
        doc = await self.employers.find_one({"_id": employer_id})
        return EMPLOYERS.from_doc(doc) if doc else None

    async def employer_by_key_hash(self, key_hash: str) -> Employer | None:
        doc = await self.employers.find_one({"key_hash": key_hash})
        return EMPLOYERS.from_doc(doc) if doc else None

    async def save_employer(self, employer: Employer) -> None:
        doc = EMPLOYERS.to_doc(employer)
        await self.employers.update_one({"_id": doc.pop("_id")}, {"$set": doc})

    # -- coordinators

    async def add_coordinator(self, coordinator: Coordinator, event: Envelope) -> None:
        await self.coordinators.insert_one(new_with_outbox(COORDINATORS.to_doc(coordinator), event))

    async def coordinator(self, coordinator_id: str) -> Coordinator | None:
        doc = await self.coordinators.find_one({"_id": coordinator_id})
        return COORDINATORS.from_doc(doc) if doc else None

    async def coordinator_by_token_hash(self, token_hash: str) -> Coordinator | None:
        doc = await self.coordinators.find_one({"token_hash": token_hash})
        return COORDINATORS.from_doc(doc) if doc else None

    async def replace_coordinator(self, coordinator: Coordinator, event: Envelope) -> bool:
        return await _replace(self.coordinators, COORDINATORS.to_doc(coordinator), event)

    async def coordinators_by_id(self, coordinator_ids: Sequence[str]) -> list[Coordinator]:
        cursor = self.coordinators.find({"_id": {"$in": list(coordinator_ids)}})
        return [COORDINATORS.from_doc(doc) async for doc in cursor]

    # -- openings

    async def add_opening(self, opening: Opening, event: Envelope) -> None:
        await self.openings.insert_one(new_with_outbox(_opening_doc(opening), event))

    async def opening(self, opening_id: str) -> Opening | None:
        doc = await self.openings.find_one({"_id": opening_id})
        return (await self._with_seats([doc]))[0] if doc else None

    async def _with_seats(self, docs: list[Document]) -> list[Opening]:
        holders: dict[str, list[str]] = {doc["_id"]: [] for doc in docs}
        async for seat in self.seats.find({"opening_id": {"$in": list(holders)}}):
            holders[seat["opening_id"]].append(seat["match_id"])
        return [
            OPENINGS.from_doc(
                {
                    **doc,
                    "seats_remaining": max(doc["terms"]["seats"] - len(holders[doc["_id"]]), 0),
                    "seat_holders": sorted(holders[doc["_id"]]),
                }
            )
            for doc in docs
        ]

    async def replace_opening(self, opening: Opening, event: Envelope) -> bool:
        return await _replace(self.openings, _opening_doc(opening), event)

    async def openings_of(
        self, employer_id: str, status: str | None, career_field: str | None, skip: int, limit: int
    ) -> list[Opening]:
        query = _filter({"employer_id": employer_id}, status)
        if career_field:
            query["terms.career_field"] = career_field
        cursor = self.openings.find(query).sort("_id", ASCENDING).skip(skip).limit(limit)
        return await self._with_seats([doc async for doc in cursor])

    async def take_seat(self, opening_id: str, match_id: str) -> SeatTaken:
        """Each seat is a slot document `<opening>#<n>`: inserting one claims it. The unique
        `_id` lets one caller have each slot; the unique `match_id` one slot per match."""
        opening = await self.opening(opening_id)
        if opening is not None and match_id in opening.seat_holders:
            return SeatTaken.ALREADY
        if opening is None or opening.status != "open":
            return SeatTaken.NONE
        taken = {
            doc["_id"] async for doc in self.seats.find({"opening_id": opening_id}, {"_id": 1})
        }
        for slot in range(opening.terms.seats):
            slot_id = f"{opening_id}#{slot}"
            if slot_id in taken:
                continue
            try:
                await self.seats.insert_one(
                    {"_id": slot_id, "opening_id": opening_id, "match_id": match_id}
                )
            except DuplicateKeyError:
                if await self.seats.find_one({"match_id": match_id}) is not None:
                    return SeatTaken.ALREADY
                continue
            return SeatTaken.TAKEN
        return SeatTaken.NONE

    # -- students

    async def add_student(self, student: Student, event: Envelope) -> None:
        try:
            await self.students.insert_one(new_with_outbox(STUDENTS.to_doc(student), event))
        except DuplicateKeyError:
            raise AlreadyRegistered() from None

    async def add_students(self, batch: Sequence[tuple[Student, Envelope]]) -> dict[int, str]:
        if not batch:
            return {}
        docs = [new_with_outbox(STUDENTS.to_doc(s), e) for s, e in batch]
        try:
            # Never alongside the relay's clearing: FerretDB 1.24 has hung on that race.
            async with outbox_lock(self.students):
                await self.students.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            return {
                int(e["index"]): ALREADY_REGISTERED
                if e.get("code") == DUPLICATE_KEY
                else f"not stored: {e.get('errmsg', 'write error')}"
                for e in error.details.get("writeErrors", [])
            }
        return {}

    async def student(self, student_id: str) -> Student | None:
        doc = await self.students.find_one({"_id": student_id})
        return STUDENTS.from_doc(doc) if doc else None

    async def students_by_id(self, student_ids: Sequence[str]) -> list[Student]:
        cursor = self.students.find({"_id": {"$in": list(student_ids)}})
        return [STUDENTS.from_doc(doc) async for doc in cursor]

    async def students_of(
        self, school_ids: Sequence[str], status: str | None, skip: int, limit: int
    ) -> list[Student]:
        query = _filter({"school_id": {"$in": list(school_ids)}}, status)
        cursor = self.students.find(query).sort("_id", ASCENDING).skip(skip).limit(limit)
        return [STUDENTS.from_doc(doc) async for doc in cursor]

    async def replace_student(self, student: Student, event: Envelope) -> bool:
        return await _replace(self.students, STUDENTS.to_doc(student), event)

    async def outcome_facts(self, school_ids: Sequence[str] | None) -> list[OutcomeFacts]:
        query: dict[str, Any] = (
            {} if school_ids is None else {"school_id": {"$in": list(school_ids)}}
        )
        projection = {
            "school_id": 1,
            "status": 1,
            "special_populations": 1,
            "plan.program": 1,
            "plan.career_fields": 1,
        }
        return [
            OutcomeFacts(
                student_id=doc["_id"],
                school_id=doc["school_id"],
                program=doc["plan"]["program"],
                career_field=doc["plan"]["career_fields"][0],
                special_populations=tuple(doc.get("special_populations", ())),
                active=doc["status"] == "active",
            )
            async for doc in self.students.find(query, projection)
        ]

    # -- matches

    async def save_proposal(self, match: Match) -> bool:
        try:
            await self.matches.insert_one(MATCHES.to_doc(match))
        except DuplicateKeyError:
            return False
        return True

    async def claim_decision(self, decision: Decision) -> Decision:
        doc = DECISIONS.dump_python(decision, mode="json")
        doc["_id"] = doc.pop("match_id")
        try:
            await self.decisions.insert_one(doc)
        except DuplicateKeyError:
            stood = await self.decisions.find_one({"_id": decision.match_id})
            assert stood is not None, "a decision is never deleted once another exists"
            return _decision(stood)
        return decision

    async def release_decision(self, decision: Decision) -> None:
        await self.decisions.delete_one(
            {"_id": decision.match_id, "kind": decision.kind.value, "by": decision.by}
        )

    async def settle_decision(self, match_id: str) -> None:
        await self.decisions.update_one({"_id": match_id}, {"$set": {"settled": True}})

    async def unsettled_confirmations(self) -> list[Decision]:
        cursor = self.decisions.find({"kind": DecisionKind.CONFIRM.value, "settled": False})
        return [_decision(doc) async for doc in cursor]

    async def match(self, match_id: str) -> Match | None:
        doc = await self.matches.find_one({"_id": match_id})
        return MATCHES.from_doc(doc) if doc else None

    async def replace_match(self, match: Match, event: Envelope | None) -> bool:
        return await _replace(self.matches, MATCHES.to_doc(match), event)

    async def matches_of_schools(
        self, school_ids: Sequence[str], status: str | None, skip: int, limit: int
    ) -> list[Match]:
        return await self._matches(
            _filter({"school_id": {"$in": list(school_ids)}}, status), skip, limit
        )

    async def matches_of_employer(
        self, employer_id: str, status: str | None, skip: int, limit: int
    ) -> list[Match]:
        return await self._matches(_filter({"employer_id": employer_id}, status), skip, limit)

    async def _matches(self, query: dict[str, Any], skip: int, limit: int) -> list[Match]:
        cursor = self.matches.find(query).sort("_id", ASCENDING).skip(skip).limit(limit)
        return [MATCHES.from_doc(doc) async for doc in cursor]

    async def placed_students(self, school_ids: Sequence[str] | None) -> set[str]:
        query: dict[str, Any] = {"status": MatchStatus.CONFIRMED.value}
        if school_ids is not None:
            query["school_id"] = {"$in": list(school_ids)}
        return {doc["student_id"] async for doc in self.matches.find(query, {"student_id": 1})}


def _decision(doc: Document) -> Decision:
    return DECISIONS.validate_python({**doc, "match_id": doc["_id"]})


async def _replace(
    collection: AsyncCollection[Document], doc: Document, event: Envelope | None
) -> bool:
    doc_id = doc.pop("_id")
    update: Document = {"$set": doc}
    async with outbox_lock(collection):
        result = await collection.update_one(
            {"_id": doc_id, "version": doc["version"] - 1},
            with_outbox(update, event) if event is not None else update,
        )
    return result.matched_count == 1


@dataclass
class InMemoryRegistryStore:
    """Same contract as the MongoDB store; `events` stands in for the outbox."""

    employers: dict[str, Employer] = field(default_factory=dict)
    coordinators: dict[str, Coordinator] = field(default_factory=dict)
    openings: dict[str, Opening] = field(default_factory=dict)
    students: dict[str, Student] = field(default_factory=dict)
    matches: dict[str, Match] = field(default_factory=dict)
    decisions: dict[str, Decision] = field(default_factory=dict)
    events: list[Envelope] = field(default_factory=list)

    # -- employers

    async def add_employer(self, employer: Employer) -> None:
        self.employers[employer.id] = employer

    async def employer(self, employer_id: str) -> Employer | None:
        return self.employers.get(employer_id)

    async def employer_by_key_hash(self, key_hash: str) -> Employer | None:
        return next((e for e in self.employers.values() if e.key_hash == key_hash), None)

    async def save_employer(self, employer: Employer) -> None:
        if employer.id in self.employers:
            self.employers[employer.id] = employer

    # -- coordinators

    async def add_coordinator(self, coordinator: Coordinator, event: Envelope) -> None:
        self.coordinators[coordinator.id] = coordinator
        self.events.append(event)

    async def coordinator(self, coordinator_id: str) -> Coordinator | None:
        return self.coordinators.get(coordinator_id)

    async def coordinator_by_token_hash(self, token_hash: str) -> Coordinator | None:
        return next((c for c in self.coordinators.values() if c.token_hash == token_hash), None)

    async def replace_coordinator(self, coordinator: Coordinator, event: Envelope) -> bool:
        return self._replace(self.coordinators, coordinator, event)

    async def coordinators_by_id(self, coordinator_ids: Sequence[str]) -> list[Coordinator]:
        return [self.coordinators[i] for i in coordinator_ids if i in self.coordinators]

    # -- openings

    async def add_opening(self, opening: Opening, event: Envelope) -> None:
        self.openings[opening.id] = opening
        self.events.append(event)

    async def opening(self, opening_id: str) -> Opening | None:
        return self.openings.get(opening_id)

    async def replace_opening(self, opening: Opening, event: Envelope) -> bool:
        return self._replace(self.openings, opening, event)

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
        return _page(found, skip, limit)

    async def take_seat(self, opening_id: str, match_id: str) -> SeatTaken:
        opening = self.openings.get(opening_id)
        if opening is not None and match_id in opening.seat_holders:
            return SeatTaken.ALREADY
        if opening is None or opening.status != "open" or opening.seats_remaining <= 0:
            return SeatTaken.NONE
        self.openings[opening_id] = replace(
            opening,
            seats_remaining=opening.seats_remaining - 1,
            seat_holders=tuple(sorted((*opening.seat_holders, match_id))),
        )
        return SeatTaken.TAKEN

    # -- students

    async def add_student(self, student: Student, event: Envelope) -> None:
        if self._email_taken(student):
            raise AlreadyRegistered()
        self.students[student.id] = student
        self.events.append(event)

    async def add_students(self, batch: Sequence[tuple[Student, Envelope]]) -> dict[int, str]:
        failed: dict[int, str] = {}
        for index, (student, event) in enumerate(batch):
            try:
                await self.add_student(student, event)
            except AlreadyRegistered:
                failed[index] = ALREADY_REGISTERED
        return failed

    def _email_taken(self, student: Student) -> bool:
        return any(
            s.school_id == student.school_id and s.person.email == student.person.email
            for s in self.students.values()
        )

    async def student(self, student_id: str) -> Student | None:
        return self.students.get(student_id)

    async def students_by_id(self, student_ids: Sequence[str]) -> list[Student]:
        return [self.students[i] for i in student_ids if i in self.students]

    async def students_of(
        self, school_ids: Sequence[str], status: str | None, skip: int, limit: int
    ) -> list[Student]:
        found = sorted(
            (
                s
                for s in self.students.values()
                if s.school_id in school_ids and (status is None or s.status == status)
            ),
            key=lambda s: s.id,
        )
        return _page(found, skip, limit)

    async def replace_student(self, student: Student, event: Envelope) -> bool:
        return self._replace(self.students, student, event)

    async def outcome_facts(self, school_ids: Sequence[str] | None) -> list[OutcomeFacts]:
        return [
            OutcomeFacts(
                student_id=s.id,
                school_id=s.school_id,
                program=s.plan.program,
                career_field=s.plan.career_fields[0],
                special_populations=s.special_populations,
                active=s.status == "active",
            )
            for s in self.students.values()
            if school_ids is None or s.school_id in school_ids
        ]

    # -- matches

    async def save_proposal(self, match: Match) -> bool:
        if match.id in self.matches:
            return False
        self.matches[match.id] = match
        return True

    async def claim_decision(self, decision: Decision) -> Decision:
        return self.decisions.setdefault(decision.match_id, decision)

    async def release_decision(self, decision: Decision) -> None:
        stood = self.decisions.get(decision.match_id)
        if stood is not None and (stood.kind, stood.by) == (decision.kind, decision.by):
            del self.decisions[decision.match_id]

    async def settle_decision(self, match_id: str) -> None:
        if match_id in self.decisions:
            self.decisions[match_id] = replace(self.decisions[match_id], settled=True)

    async def unsettled_confirmations(self) -> list[Decision]:
        return [
            d for d in self.decisions.values() if d.kind == DecisionKind.CONFIRM and not d.settled
        ]

    async def match(self, match_id: str) -> Match | None:
        return self.matches.get(match_id)

    async def replace_match(self, match: Match, event: Envelope | None) -> bool:
        return self._replace(self.matches, match, event)

    async def matches_of_schools(
        self, school_ids: Sequence[str], status: str | None, skip: int, limit: int
    ) -> list[Match]:
        return self._matches(
            lambda m: m.school_id in school_ids and (status is None or m.status == status),
            skip,
            limit,
        )

    async def matches_of_employer(
        self, employer_id: str, status: str | None, skip: int, limit: int
    ) -> list[Match]:
        return self._matches(
            lambda m: m.employer_id == employer_id and (status is None or m.status == status),
            skip,
            limit,
        )

    def _matches(self, keep: Any, skip: int, limit: int) -> list[Match]:
        return _page(
            sorted((m for m in self.matches.values() if keep(m)), key=lambda m: m.id), skip, limit
        )

    async def placed_students(self, school_ids: Sequence[str] | None) -> set[str]:
        return {
            m.student_id
            for m in self.matches.values()
            if m.status == MatchStatus.CONFIRMED
            and (school_ids is None or m.school_id in school_ids)
        }

    def _replace(self, items: dict[str, Any], item: Any, event: Envelope | None) -> bool:
        stored = items.get(item.id)
        if stored is None or stored.version != item.version - 1:
            return False
        items[item.id] = item
        if event is not None:
            self.events.append(event)
        return True


def _page(items: list[T], skip: int, limit: int) -> list[T]:
    """`limit` 0 means no limit, as in MongoDB."""
    return items[skip : skip + limit] if limit else items[skip:]
