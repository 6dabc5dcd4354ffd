"""Registry persistence: a `RegistryStore` protocol, its MongoDB implementation, and an
in-memory one for unit tests.

FerretDB does not isolate concurrent updates of one document, so nothing here relies on a
conditional update. Employers, coordinators, openings and students change through version
claims (`wbl_common.versions`); a match's life is a set of facts each written once by a
unique insert (the proposal, a withdrawal, the decision claim, the student's one placement,
the seat, the outcome), and its status is derived from them (`domain.match_status`). Every
change and its events go through the outbox (`wbl_common.outbox`)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from pydantic import TypeAdapter
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from wbl_common.mongo import Document, find_by_ids, insert_each
from wbl_common.outbox import GRACE, WITHDRAWN, Change, Commit, Hold, Outbox, ParkedChange
from wbl_common.versions import created, current, entity_fields, revised
from wbl_registry.domain import (
    Conflict,
    Coordinator,
    Decision,
    Employer,
    Match,
    MatchStatus,
    Opening,
    Outcome,
    OutcomeFacts,
    Student,
    as_sent,
    fate_id,
    match_status,
)
from wbl_registry.roster import RosterEntry
from wbl_schemas.envelope import Envelope

T = TypeVar("T")

# The fate of each held decision event: "sent" by the relay, or "withdrawn" by an undo.
FATES = "decision_fates"

ALREADY_REGISTERED = "a student with this email is already registered at this school"


class AlreadyRegistered(Conflict):
    def __init__(self) -> None:
        super().__init__(ALREADY_REGISTERED, "email")


class SeatTaken(StrEnum):
    TAKEN = "taken"  # this call took the seat
    ALREADY = "already"  # the match held a seat before this call (a retry)
    NONE = "none"  # no seat left, or the opening is closed


def utcnow() -> datetime:
    return datetime.now(UTC)


class RegistryStore(Protocol):
    # -- employers
    async def add_employer(self, employer: Employer, events: Sequence[Envelope] = ()) -> None: ...

    async def employer(self, employer_id: str) -> Employer | None: ...

    async def employer_by_key_hash(self, key_hash: str) -> Employer | None: ...

    async def replace_employer(self, employer: Employer, events: Sequence[Envelope] = ()) -> bool:
        """Store `employer` (and its events) if the stored version is one less; False if not."""
        ...

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

    async def count_openings_of(
        self, employer_id: str, status: str | None, career_field: str | None
    ) -> int: ...

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

    async def student_by_email(self, school_id: str, email: str) -> Student | None:
        """The student who holds this email at this school, if any."""
        ...

    async def students_by_id(self, student_ids: Sequence[str]) -> list[Student]: ...

    async def students_of(
        self, school_ids: Sequence[str], status: str | None, skip: int, limit: int
    ) -> list[Student]: ...

    async def count_students_of(self, school_ids: Sequence[str], status: str | None) -> int: ...

    async def roster_entries(
        self, school_ids: Sequence[str], status: str | None
    ) -> list[RosterEntry]:
        """Every student of the schools (of that status), by id: names only."""
        ...

    async def replace_student(self, student: Student, event: Envelope) -> bool:
        """As `replace_opening`; raises AlreadyRegistered if the new email is taken."""
        ...

    async def outcome_facts(self, school_ids: Sequence[str] | None) -> list[OutcomeFacts]: ...

    # -- matches: facts, each written once
    async def save_proposals(self, matches: Sequence[Match]) -> int:
        """Store the new matches (one write for a batch); how many were not yet known
        (the others are redeliveries)."""
        ...

    async def record_withdrawals(self, withdrawals: Sequence[tuple[str, str]]) -> int:
        """Keep the matcher's withdrawals (match id, reason), whatever else is true of each
        match; how many were new."""
        ...

    async def known_matches(self, match_ids: Sequence[str]) -> set[str]:
        """Which of `match_ids` are stored."""
        ...

    async def claim_decision(self, decision: Decision) -> Decision:
        """Record `decision` unless the match has one; returns the one that stands."""
        ...

    async def release_decision(self, decision: Decision) -> None:
        """Drop a claimed decision that could not be carried out (no seat left)."""
        ...

    async def pending_decisions(self, older_than: timedelta) -> list[Decision]:
        """Claimed decisions not yet carried out, claimed at least `older_than` ago."""
        ...

    async def claim_placement(self, student_id: str, match_id: str, opening_id: str) -> str:
        """Make `match_id` the student's one placement unless another is; returns the match
        that holds it."""
        ...

    async def release_placement(self, student_id: str, match_id: str) -> None: ...

    async def release_seat(self, match_id: str) -> None:
        """Give back the seat `match_id` holds (its placement ended); the student stays
        placed. Safe to repeat."""
        ...

    async def record_outcome(self, outcome: Outcome, event: Envelope) -> None:
        """Write the carried-out decision and its event (once: a repeat is a no-op). With an
        `undo_until`, the event is held till then (unless the decision is undone first)."""
        ...

    async def withdraw_decision(self, match_id: str, attempt: str) -> bool:
        """Undo: withdraw the decision's held event; False when it has already been sent.
        From True on, the event is never sent and the decision reads as not taken."""
        ...

    async def decision_fate(self, match_id: str, attempt: str) -> str | None:
        """ "sent", "withdrawn", or None while the decision's event is held (or never was)."""
        ...

    async def revert_decision(self, match_id: str, attempt: str) -> None:
        """Give back what a withdrawn decision held: its seat, the student's placement, its
        outcome and claim (so the match can be decided again). Safe to repeat."""
        ...

    async def withdrawn_decisions(self, older_than: timedelta) -> list[tuple[str, str]]:
        """(match id, attempt) of decisions withdrawn at least `older_than` ago whose
        revert has not been completed (an undo interrupted by a crash)."""
        ...

    async def match(self, match_id: str) -> Match | None: ...

    async def matches_of_students(self, student_ids: Sequence[str]) -> list[Match]:
        """Every match of these students, with its status."""
        ...

    async def matches_of_schools(
        self, school_ids: Sequence[str], status: str | None, skip: int, limit: int
    ) -> list[Match]: ...

    async def matches_of_employer(
        self, employer_id: str, status: str | None, skip: int, limit: int
    ) -> list[Match]: ...

    async def count_matches_of_schools(
        self, school_ids: Sequence[str], status: str | None
    ) -> int: ...

    async def count_matches_of_employer(self, employer_id: str, status: str | None) -> int: ...

    async def placed_students(self, school_ids: Sequence[str] | None) -> set[str]: ...

    async def offered_students(self, school_ids: Sequence[str] | None, now: datetime) -> set[str]:
        """Students with an offer awaiting a decision: proposed and not expired at `now`."""
        ...

    async def parked_changes(self) -> list[ParkedChange]:
        """Changes whose events the broker refused (see `wbl_common.outbox`)."""
        ...


class _Codec(Generic[T]):
    """Domain dataclass ⇄ MongoDB document (dates as ISO strings, `id` as `_id`)."""

    def __init__(self, kind: type[T]) -> None:
        self._adapter = TypeAdapter(kind)

    def to_doc(self, item: T) -> Document:
        doc: Document = self._adapter.dump_python(item, mode="json")
        doc["_id"] = doc.pop("id")
        return doc

    def from_doc(self, doc: Document) -> T:
        return self._adapter.validate_python(entity_fields(doc))


EMPLOYERS, COORDINATORS, OPENINGS, STUDENTS = (
    _Codec(Employer),
    _Codec(Coordinator),
    _Codec(Opening),
    _Codec(Student),
)
DECISIONS = TypeAdapter(Decision)
OUTCOMES = TypeAdapter(Outcome)
# Seats are counted from the `seats` collection, never stored on the opening document.
DERIVED_OPENING_FIELDS = ("seats_remaining", "seat_holders")
# A match's own fields, as the proposal stated them; status and decision come from facts.
PROPOSAL_FIELDS = (
    "round_id",
    "student_id",
    "school_id",
    "opening_id",
    "employer_id",
    "career_field",
    "explanation",
    "expires_at",
)


def _opening_doc(opening: Opening) -> Document:
    doc = OPENINGS.to_doc(opening)
    for name in DERIVED_OPENING_FIELDS:
        doc.pop(name)
    return doc


def _filter(base: dict[str, Any], status: str | None) -> dict[str, Any]:
    return {**base, "status": status} if status else base


def email_key(school_id: str, email: str) -> str:
    return f"{school_id}|{email.strip().lower()}"


class MongoRegistryStore:
    def __init__(self, db: AsyncDatabase[Document], clock: Any = utcnow) -> None:
        self.db = db
        self.outbox = Outbox(db)
        self.clock = clock
        self.employers = db["employers"]
        self.coordinators = db["coordinators"]
        self.openings = db["openings"]
        self.students = db["students"]
        # Secret hash → owner, so a bearer secret is found by `_id` (the only filter
        # FerretDB answers from an index); the owner's document is the authority.
        self.credentials = db["credentials"]
        # School and email → student: one student per email and school, claimed by insert.
        self.student_emails = db["student_emails"]
        self.matches = db["matches"]
        self.withdrawals = db["withdrawals"]
        self.decisions = db["decisions"]
        self.pending = db["decisions_pending"]
        self.placements = db["placements"]  # `_id` is the student: one placement each
        self.seats = db["seats"]
        self.outcomes = db["outcomes"]
        self.fates = db[FATES]

    async def ensure_indexes(self) -> None:
        await self.openings.create_index([("employer_id", ASCENDING), ("status", ASCENDING)])
        await self.students.create_index([("school_id", ASCENDING), ("status", ASCENDING)])
        await self.matches.create_index("school_id")
        await self.matches.create_index("employer_id")
        await self.seats.create_index("match_id", unique=True)
        await self.seats.create_index("opening_id")

    # -- employers

    async def add_employer(self, employer: Employer, events: Sequence[Envelope] = ()) -> None:
        doc = EMPLOYERS.to_doc(employer)
        await self._credential(employer.key_hash, "employer", employer.id)
        await self.outbox.write(created("employers", doc, events))

    async def _credential(self, secret_hash: str, role: str, owner_id: str) -> None:
        await self.credentials.insert_one({"_id": secret_hash, "role": role, "owner": owner_id})

    async def employer(self, employer_id: str) -> Employer | None:
        doc = await current(self.db, "employers", employer_id)
        return EMPLOYERS.from_doc(doc) if doc else None

    async def employer_by_key_hash(self, key_hash: str) -> Employer | None:
        owner = await self._owner(key_hash, "employer")
        employer = await self.employer(owner) if owner else None
        return employer if employer is not None and employer.key_hash == key_hash else None

    async def _owner(self, secret_hash: str, role: str) -> str | None:
        found = await self.credentials.find_one({"_id": secret_hash})
        return str(found["owner"]) if found is not None and found["role"] == role else None

    async def replace_employer(self, employer: Employer, events: Sequence[Envelope] = ()) -> bool:
        before = await self.employer(employer.id)
        change = revised("employers", EMPLOYERS.to_doc(employer), events)
        return await self._with_new_secret(
            before.key_hash if before else None, employer.key_hash, "employer", employer.id, change
        )

    async def _with_new_secret(
        self, old_hash: str | None, new_hash: str, role: str, owner: str, change: Change
    ) -> bool:
        """Write `change`; a new secret is findable before it commits, the old one is not
        after (and an uncommitted new one is taken back)."""
        fresh = old_hash is not None and old_hash != new_hash
        if fresh:
            await self._credential(new_hash, role, owner)
        stored = await self.outbox.write(change)
        if fresh:
            await self.credentials.delete_one({"_id": old_hash if stored else new_hash})
        return stored

    # -- coordinators

    async def add_coordinator(self, coordinator: Coordinator, event: Envelope) -> None:
        await self._credential(coordinator.token_hash, "coordinator", coordinator.id)
        await self.outbox.write(created("coordinators", COORDINATORS.to_doc(coordinator), [event]))

    async def coordinator(self, coordinator_id: str) -> Coordinator | None:
        doc = await current(self.db, "coordinators", coordinator_id)
        return COORDINATORS.from_doc(doc) if doc else None

    async def coordinator_by_token_hash(self, token_hash: str) -> Coordinator | None:
        owner = await self._owner(token_hash, "coordinator")
        found = await self.coordinator(owner) if owner else None
        return found if found is not None and found.token_hash == token_hash else None

    async def replace_coordinator(self, coordinator: Coordinator, event: Envelope) -> bool:
        before = await self.coordinator(coordinator.id)
        change = revised("coordinators", COORDINATORS.to_doc(coordinator), [event])
        return await self._with_new_secret(
            before.token_hash if before else None,
            coordinator.token_hash,
            "coordinator",
            coordinator.id,
            change,
        )

    async def coordinators_by_id(self, coordinator_ids: Sequence[str]) -> list[Coordinator]:
        found = [await self.coordinator(i) for i in dict.fromkeys(coordinator_ids)]
        return [c for c in found if c is not None]

    # -- openings

    async def add_opening(self, opening: Opening, event: Envelope) -> None:
        await self.outbox.write(created("openings", _opening_doc(opening), [event]))

    async def opening(self, opening_id: str) -> Opening | None:
        doc = await current(self.db, "openings", opening_id)
        return (await self._with_seats([doc]))[0] if doc else None

    async def _with_seats(self, docs: list[Document]) -> list[Opening]:
        holders: dict[str, list[str]] = {doc["_id"]: [] for doc in docs}
        if holders:
            async for seat in self.seats.find({"opening_id": _one_of(list(holders))}):
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
        return await self.outbox.write(revised("openings", _opening_doc(opening), [event]))

    async def openings_of(
        self, employer_id: str, status: str | None, career_field: str | None, skip: int, limit: int
    ) -> list[Opening]:
        query = _openings_query(employer_id, status, career_field)
        cursor = self.openings.find(query).sort("_id", ASCENDING).skip(skip).limit(limit)
        return await self._with_seats([doc async for doc in cursor])

    async def count_openings_of(
        self, employer_id: str, status: str | None, career_field: str | None
    ) -> int:
        return await self.openings.count_documents(
            _openings_query(employer_id, status, career_field)
        )

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
        failed = await self.add_students([(student, event)])
        if failed:
            raise AlreadyRegistered()

    async def add_students(self, batch: Sequence[tuple[Student, Envelope]]) -> dict[int, str]:
        """Claim each email, then write each student with its event."""
        if not batch:
            return {}
        claims = [self._email_claim(s) for s, _ in batch]
        taken = set(await insert_each(self.student_emails, claims))
        for position in sorted(taken):
            if await self._free_orphan(claims[position]):
                taken.discard(position)
        written = [i for i in range(len(batch)) if i not in taken]
        changes = [
            created("students", STUDENTS.to_doc(batch[i][0]), [batch[i][1]]) for i in written
        ]
        stored = await self.outbox.write_many(changes)
        failed = {i: ALREADY_REGISTERED for i in taken}
        for i, ok in zip(written, stored, strict=True):
            if not ok:  # not expected: student ids are random
                failed[i] = "not stored: a student with this id exists"
                await self.student_emails.delete_one({"_id": claims[i]["_id"]})
        return failed

    def _email_claim(self, student: Student) -> Document:
        return {
            "_id": email_key(student.school_id, student.person.email),
            "student_id": student.id,
            "claimed_at": self.clock(),
        }

    async def student_by_email(self, school_id: str, email: str) -> Student | None:
        claim = await self.student_emails.find_one({"_id": email_key(school_id, email)})
        return None if claim is None else await self.student(claim["student_id"])

    async def _free_orphan(self, claim: Document) -> bool:
        """After a duplicate email: free and retake a claim its student no longer holds (a
        registration that crashed before writing the student, or an email since changed)."""
        stood = await self.student_emails.find_one({"_id": claim["_id"]})
        if stood is None:
            return await self._retake(claim)
        holder = await self.student(stood["student_id"])
        if holder is not None and email_key(holder.school_id, holder.person.email) == claim["_id"]:
            return False
        if holder is None and self.clock() - stood["claimed_at"] < GRACE:
            return False  # its registration may still be under way
        await self.student_emails.delete_one({"_id": claim["_id"]})
        return await self._retake(claim)

    async def _retake(self, claim: Document) -> bool:
        try:
            await self.student_emails.insert_one(claim)
        except DuplicateKeyError:
            return False
        return True

    async def student(self, student_id: str) -> Student | None:
        doc = await current(self.db, "students", student_id)
        return STUDENTS.from_doc(doc) if doc else None

    async def students_by_id(self, student_ids: Sequence[str]) -> list[Student]:
        found = await find_by_ids(self.students, student_ids)
        return [STUDENTS.from_doc(found[i]) for i in dict.fromkeys(student_ids) if i in found]

    async def students_of(
        self, school_ids: Sequence[str], status: str | None, skip: int, limit: int
    ) -> list[Student]:
        query = _filter({"school_id": _one_of(school_ids)}, status)
        cursor = self.students.find(query).sort("_id", ASCENDING).skip(skip).limit(limit)
        return [STUDENTS.from_doc(doc) async for doc in cursor]

    async def count_students_of(self, school_ids: Sequence[str], status: str | None) -> int:
        return await self.students.count_documents(
            _filter({"school_id": _one_of(school_ids)}, status)
        )

    async def roster_entries(
        self, school_ids: Sequence[str], status: str | None
    ) -> list[RosterEntry]:
        query = _filter({"school_id": _one_of(school_ids)}, status)
        projection = {"person.first_name": 1, "person.last_name": 1}
        return [
            RosterEntry(doc["_id"], doc["person"]["first_name"], doc["person"]["last_name"])
            async for doc in self.students.find(query, projection).sort("_id", ASCENDING)
        ]

    async def replace_student(self, student: Student, event: Envelope) -> bool:
        before = await self.student(student.id)
        moved = before is not None and email_key(
            before.school_id, before.person.email
        ) != email_key(student.school_id, student.person.email)
        if moved:
            claim = self._email_claim(student)
            if not await self._retake(claim) and not await self._free_orphan(claim):
                raise AlreadyRegistered()
        stored = await self.outbox.write(revised("students", STUDENTS.to_doc(student), [event]))
        if moved and before is not None:  # give back the email the student no longer uses
            gone = before if stored else student
            await self.student_emails.delete_one(
                {"_id": email_key(gone.school_id, gone.person.email)}
            )
        return stored

    async def outcome_facts(self, school_ids: Sequence[str] | None) -> list[OutcomeFacts]:
        query: dict[str, Any] = {} if school_ids is None else {"school_id": _one_of(school_ids)}
        projection = {
            "school_id": 1,
            "status": 1,
            "special_populations": 1,
            "plan.program": 1,
            "plan.career_fields": 1,
            "plan.available_from": 1,
            "plan.available_to": 1,
        }
        return [
            OutcomeFacts(
                student_id=doc["_id"],
                school_id=doc["school_id"],
                program=doc["plan"]["program"],
                career_field=doc["plan"]["career_fields"][0],
                special_populations=tuple(doc.get("special_populations", ())),
                active=doc["status"] == "active",
                available_from=_day(doc["plan"].get("available_from")),
                available_to=_day(doc["plan"].get("available_to")),
            )
            async for doc in self.students.find(query, projection)
        ]

    # -- matches

    async def save_proposals(self, matches: Sequence[Match]) -> int:
        docs = [
            {
                "_id": m.id,
                **{name: getattr(m, name) for name in PROPOSAL_FIELDS},
                "explanation": list(m.explanation),
            }
            for m in matches
        ]
        return len(docs) - len(await insert_each(self.matches, docs))

    async def record_withdrawals(self, withdrawals: Sequence[tuple[str, str]]) -> int:
        at = self.clock()
        docs = [{"_id": match_id, "reason": reason, "at": at} for match_id, reason in withdrawals]
        return len(docs) - len(await insert_each(self.withdrawals, docs))

    async def known_matches(self, match_ids: Sequence[str]) -> set[str]:
        return set(await find_by_ids(self.matches, match_ids, {"_id": 1}))

    async def claim_decision(self, decision: Decision) -> Decision:
        doc = DECISIONS.dump_python(decision, mode="json")
        doc["_id"] = doc.pop("match_id")
        # The pending mark first: a crash after the claim still leaves it to be swept.
        with contextlib.suppress(DuplicateKeyError):
            await self.pending.insert_one({"_id": decision.match_id, "at": self.clock()})
        try:
            await self.decisions.insert_one(doc)
        except DuplicateKeyError:
            stood = await self.decisions.find_one({"_id": decision.match_id})
            if stood is None:  # released meanwhile: try once more
                return await self.claim_decision(decision)
            return _decision(stood)
        return decision

    async def release_decision(self, decision: Decision) -> None:
        stood = await self.decisions.find_one({"_id": decision.match_id})
        if stood is not None and _decision(stood) == decision:
            await self.decisions.delete_one({"_id": decision.match_id})
        await self.pending.delete_one({"_id": decision.match_id})

    async def pending_decisions(self, older_than: timedelta) -> list[Decision]:
        cutoff = self.clock() - older_than
        marks = [doc["_id"] async for doc in self.pending.find({"at": {"$lte": cutoff}})]
        found = await find_by_ids(self.decisions, marks)
        settled = await find_by_ids(self.outcomes, marks, {"_id": 1})
        for match_id in marks:
            if match_id not in found or match_id in settled:
                await self.pending.delete_one({"_id": match_id})
        return [_decision(found[m]) for m in marks if m in found and m not in settled]

    async def claim_placement(self, student_id: str, match_id: str, opening_id: str) -> str:
        try:
            await self.placements.insert_one(
                {"_id": student_id, "match_id": match_id, "opening_id": opening_id}
            )
        except DuplicateKeyError:
            stood = await self.placements.find_one({"_id": student_id})
            if stood is None:  # released meanwhile
                return await self.claim_placement(student_id, match_id, opening_id)
            return str(stood["match_id"])
        return match_id

    async def release_placement(self, student_id: str, match_id: str) -> None:
        stood = await self.placements.find_one({"_id": student_id})
        if stood is not None and stood["match_id"] == match_id:
            await self.placements.delete_one({"_id": student_id})

    async def release_seat(self, match_id: str) -> None:
        seat = await self.seats.find_one({"match_id": match_id})
        if seat is not None:
            await self.seats.delete_one({"_id": seat["_id"]})

    async def record_outcome(self, outcome: Outcome, event: Envelope) -> None:
        doc = OUTCOMES.dump_python(outcome, mode="json")
        doc["_id"] = doc.pop("match_id")
        until = outcome.undo_until
        change = Change(
            key=f"matches/{outcome.match_id}",
            seq=2,
            commit=Commit("outcomes", doc),
            events=(event,),
            hold=None
            if until is None
            else Hold(FATES, fate_id(outcome.match_id, outcome.attempt), until),
        )
        await self.outbox.write(change)  # False: the same outcome was written already
        await self.pending.delete_one({"_id": outcome.match_id})

    async def withdraw_decision(self, match_id: str, attempt: str) -> bool:
        # The deadline is the relay's to check; an undo's is checked by the caller.
        return await self.outbox.withdraw(Hold(FATES, fate_id(match_id, attempt), self.clock()))

    async def decision_fate(self, match_id: str, attempt: str) -> str | None:
        key = fate_id(match_id, attempt)
        return (await self.outbox.fates(FATES, [key])).get(key)

    async def revert_decision(self, match_id: str, attempt: str) -> None:
        """The claim goes last: until it does no new decision is claimed, so nothing
        released here can have been taken again by this match meanwhile."""
        doc = await self.matches.find_one({"_id": match_id}, {"student_id": 1})
        await self.release_seat(match_id)
        if doc is not None:
            await self.release_placement(doc["student_id"], match_id)
        outcome = await self.outcomes.find_one({"_id": match_id})
        if outcome is not None and outcome.get("attempt", "") == attempt:
            await self.outcomes.delete_one({"_id": match_id})
        claim = await self.decisions.find_one({"_id": match_id})
        if claim is not None and claim.get("attempt", "") == attempt:
            await self.decisions.delete_one({"_id": match_id})
        await self.pending.delete_one({"_id": match_id})
        await self.fates.update_one(
            {"_id": fate_id(match_id, attempt)}, {"$set": {"cleared": True}}
        )

    async def withdrawn_decisions(self, older_than: timedelta) -> list[tuple[str, str]]:
        cutoff = self.clock() - older_than
        query = {"fate": WITHDRAWN, "cleared": {"$ne": True}, "at": {"$lte": cutoff}}
        return [_fate_key(doc["_id"]) async for doc in self.fates.find(query, {"_id": 1})]

    async def match(self, match_id: str) -> Match | None:
        doc = await self.matches.find_one({"_id": match_id})
        return (await self._with_facts([doc]))[0] if doc else None

    async def _with_facts(self, docs: list[Document]) -> list[Match]:
        ids = [d["_id"] for d in docs]
        outcomes = await self._standing_outcomes(ids)
        withdrawals = await find_by_ids(self.withdrawals, ids)
        placements = await find_by_ids(self.placements, [d["student_id"] for d in docs])
        found = []
        for doc in docs:
            decided = outcomes.get(doc["_id"])
            withdrawal = withdrawals.get(doc["_id"])
            placement = placements.get(doc["student_id"])
            status, note = match_status(
                decided,
                withdrawal["reason"] if withdrawal else None,
                placement["match_id"] if placement else None,
                doc["_id"],
            )
            found.append(
                Match(
                    id=doc["_id"],
                    round_id=doc["round_id"],
                    student_id=doc["student_id"],
                    school_id=doc["school_id"],
                    opening_id=doc["opening_id"],
                    employer_id=doc.get("employer_id"),
                    career_field=doc.get("career_field"),
                    status=status,
                    explanation=tuple(doc.get("explanation", ())),
                    decided_by=decided.by if decided else None,
                    note=note,
                    expires_at=doc.get("expires_at"),
                    attempt=decided.attempt if decided else "",
                    undo_until=decided.undo_until if decided else None,
                )
            )
        return found

    async def matches_of_students(self, student_ids: Sequence[str]) -> list[Match]:
        if not student_ids:
            return []
        cursor = self.matches.find({"student_id": _one_of(student_ids)}).sort("_id", ASCENDING)
        return await self._with_facts(await cursor.to_list(None))

    async def _standing_outcomes(self, match_ids: Sequence[str]) -> dict[str, Outcome]:
        """The matches' outcomes, less those an undo withdrew."""
        found = {k: _outcome(v) for k, v in (await find_by_ids(self.outcomes, match_ids)).items()}
        held = [fate_id(o.match_id, o.attempt) for o in found.values() if o.undo_until]
        fates = await self.outbox.fates(FATES, held) if held else {}
        return {
            k: o for k, o in found.items() if fates.get(fate_id(o.match_id, o.attempt)) != WITHDRAWN
        }

    async def matches_of_schools(
        self, school_ids: Sequence[str], status: str | None, skip: int, limit: int
    ) -> list[Match]:
        return await self._matches({"school_id": _one_of(school_ids)}, status, skip, limit)

    async def matches_of_employer(
        self, employer_id: str, status: str | None, skip: int, limit: int
    ) -> list[Match]:
        """As sent: a decision that may still be undone is not shown (`domain.as_sent`)."""
        return await self._matches({"employer_id": employer_id}, status, skip, limit, True)

    async def count_matches_of_schools(self, school_ids: Sequence[str], status: str | None) -> int:
        return await self._count_matches({"school_id": _one_of(school_ids)}, status)

    async def count_matches_of_employer(self, employer_id: str, status: str | None) -> int:
        return await self._count_matches({"employer_id": employer_id}, status, True)

    async def _count_matches(
        self, query: dict[str, Any], status: str | None, sent: bool = False
    ) -> int:
        """A count in the database, unless a status (derived from facts) must be read."""
        if status is None:
            return await self.matches.count_documents(query)
        return len(await self._matches(query, status, 0, 0, sent))

    async def _matches(
        self, query: dict[str, Any], status: str | None, skip: int, limit: int, sent: bool = False
    ) -> list[Match]:
        """The page, by id; with a status filter every match of the query is read, since
        the status is derived from facts. `sent`: as the employer sees them."""
        cursor = self.matches.find(query).sort("_id", ASCENDING)
        now = self.clock()

        def view(matches: list[Match]) -> list[Match]:
            return [as_sent(m, now) for m in matches] if sent else matches

        if status is None:
            return view(await self._with_facts(await cursor.skip(skip).limit(limit).to_list(None)))
        every = view(await self._with_facts(await cursor.to_list(None)))
        return _page([m for m in every if m.status == status], skip, limit)

    async def placed_students(self, school_ids: Sequence[str] | None) -> set[str]:
        """Students whose placement was carried out (a claim alone is still under way)."""
        holders = {doc["_id"]: doc["match_id"] async for doc in self.placements.find({})}
        confirmed = await self._standing_outcomes(list(holders.values()))
        done = {student for student, match in holders.items() if match in confirmed}
        if school_ids is None:
            return done
        return done & {f.student_id for f in await self.outcome_facts(school_ids)}

    async def offered_students(self, school_ids: Sequence[str] | None, now: datetime) -> set[str]:
        query: dict[str, Any] = {} if school_ids is None else {"school_id": _one_of(school_ids)}
        return _offered(await self._with_facts(await self.matches.find(query).to_list(None)), now)

    async def parked_changes(self) -> list[ParkedChange]:
        return await self.outbox.parked_events()


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else None


def _offered(matches: Sequence[Match], now: datetime) -> set[str]:
    return {
        m.student_id
        for m in matches
        if m.status == MatchStatus.PROPOSED and (m.expires_at is None or m.expires_at > now)
    }


def _one_of(values: Sequence[str]) -> Any:
    """An equality filter for one value, `$in` for several (FerretDB scans either way, but
    reads less with equality)."""
    values = list(values)
    return values[0] if len(values) == 1 else {"$in": values}


def _fate_key(key: str) -> tuple[str, str]:
    match_id, _, attempt = key.rpartition(":")
    return match_id, attempt


def _decision(doc: Document) -> Decision:
    return DECISIONS.validate_python({**doc, "match_id": doc["_id"]})


def _outcome(doc: Document) -> Outcome:
    return OUTCOMES.validate_python(
        {k: v for k, v in {**doc, "match_id": doc["_id"]}.items() if k not in ("_id", "write_id")}
    )


@dataclass
class InMemoryRegistryStore:
    """Same contract as the MongoDB store; `events` stands in for the outbox."""

    employers: dict[str, Employer] = field(default_factory=dict)
    coordinators: dict[str, Coordinator] = field(default_factory=dict)
    openings: dict[str, Opening] = field(default_factory=dict)
    students: dict[str, Student] = field(default_factory=dict)
    matches: dict[str, Match] = field(default_factory=dict)
    withdrawals: dict[str, str] = field(default_factory=dict)
    decisions: dict[str, Decision] = field(default_factory=dict)
    pending: dict[str, datetime] = field(default_factory=dict)
    placements: dict[str, str] = field(default_factory=dict)  # student id -> match id
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    events: list[Envelope] = field(default_factory=list)
    clock: Any = utcnow
    # Held decision events, as the outbox holds them: (fate id, until, event).
    held: list[tuple[str, datetime, Envelope]] = field(default_factory=list)
    fates: dict[str, str] = field(default_factory=dict)
    cleared: set[str] = field(default_factory=set)

    # -- employers

    async def add_employer(self, employer: Employer, events: Sequence[Envelope] = ()) -> None:
        self.employers[employer.id] = employer
        self.events.extend(events)

    async def employer(self, employer_id: str) -> Employer | None:
        return self.employers.get(employer_id)

    async def employer_by_key_hash(self, key_hash: str) -> Employer | None:
        return next((e for e in self.employers.values() if e.key_hash == key_hash), None)

    async def replace_employer(self, employer: Employer, events: Sequence[Envelope] = ()) -> bool:
        return self._replace(self.employers, employer, events[0] if events else None)

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
        stored = self.openings.get(opening.id)
        if stored is not None:  # seats are the store's to count, as in MongoDB
            opening = replace(
                opening,
                seat_holders=stored.seat_holders,
                seats_remaining=max(opening.terms.seats - len(stored.seat_holders), 0),
            )
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
        key = email_key(student.school_id, student.person.email)
        return any(
            s.id != student.id and email_key(s.school_id, s.person.email) == key
            for s in self.students.values()
        )

    async def student(self, student_id: str) -> Student | None:
        return self.students.get(student_id)

    async def student_by_email(self, school_id: str, email: str) -> Student | None:
        key = email_key(school_id, email)
        return next(
            (s for s in self.students.values() if email_key(s.school_id, s.person.email) == key),
            None,
        )

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

    async def roster_entries(
        self, school_ids: Sequence[str], status: str | None
    ) -> list[RosterEntry]:
        return [
            RosterEntry(s.id, s.person.first_name, s.person.last_name)
            for s in await self.students_of(school_ids, status, 0, 0)
        ]

    async def replace_student(self, student: Student, event: Envelope) -> bool:
        if self._email_taken(student):
            raise AlreadyRegistered()
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
                available_from=s.plan.available_from,
                available_to=s.plan.available_to,
            )
            for s in self.students.values()
            if school_ids is None or s.school_id in school_ids
        ]

    # -- matches

    async def save_proposals(self, matches: Sequence[Match]) -> int:
        new = [m for m in matches if m.id not in self.matches]
        for m in new:
            self.matches[m.id] = replace(m, status=MatchStatus.PROPOSED, decided_by=None)
        return len(new)

    async def record_withdrawals(self, withdrawals: Sequence[tuple[str, str]]) -> int:
        new = [(m, r) for m, r in withdrawals if m not in self.withdrawals]
        self.withdrawals.update(new)
        return len(new)

    async def known_matches(self, match_ids: Sequence[str]) -> set[str]:
        return {m for m in match_ids if m in self.matches}

    async def claim_decision(self, decision: Decision) -> Decision:
        self.pending.setdefault(decision.match_id, self.clock())
        return self.decisions.setdefault(decision.match_id, decision)

    async def release_decision(self, decision: Decision) -> None:
        if self.decisions.get(decision.match_id) == decision:
            del self.decisions[decision.match_id]
        self.pending.pop(decision.match_id, None)

    async def pending_decisions(self, older_than: timedelta) -> list[Decision]:
        cutoff = self.clock() - older_than
        for match_id in [m for m in self.pending if m in self.outcomes or m not in self.decisions]:
            del self.pending[match_id]
        return [self.decisions[m] for m, at in self.pending.items() if at <= cutoff]

    async def claim_placement(self, student_id: str, match_id: str, opening_id: str) -> str:
        return self.placements.setdefault(student_id, match_id)

    async def release_placement(self, student_id: str, match_id: str) -> None:
        if self.placements.get(student_id) == match_id:
            del self.placements[student_id]

    async def release_seat(self, match_id: str) -> None:
        match = self.matches.get(match_id)
        opening = self.openings.get(match.opening_id) if match else None
        if opening is not None and match_id in opening.seat_holders:
            self.openings[opening.id] = replace(
                opening,
                seats_remaining=opening.seats_remaining + 1,
                seat_holders=tuple(h for h in opening.seat_holders if h != match_id),
            )

    async def record_outcome(self, outcome: Outcome, event: Envelope) -> None:
        if outcome.match_id not in self.outcomes:
            self.outcomes[outcome.match_id] = outcome
            if outcome.undo_until is None:
                self.events.append(event)
            else:
                key = fate_id(outcome.match_id, outcome.attempt)
                self.held.append((key, outcome.undo_until, event))
        self.pending.pop(outcome.match_id, None)

    def relay(self) -> None:
        """What the outbox relay does on a pass: send each held event that is due,
        unless it was withdrawn."""
        now, waiting = self.clock(), []
        for key, until, event in self.held:
            if now < until and self.fates.get(key) != WITHDRAWN:
                waiting.append((key, until, event))
            elif now >= until and self.fates.setdefault(key, "sent") == "sent":
                self.events.append(event)
        self.held = waiting

    async def withdraw_decision(self, match_id: str, attempt: str) -> bool:
        return self.fates.setdefault(fate_id(match_id, attempt), WITHDRAWN) == WITHDRAWN

    async def decision_fate(self, match_id: str, attempt: str) -> str | None:
        return self.fates.get(fate_id(match_id, attempt))

    async def revert_decision(self, match_id: str, attempt: str) -> None:
        match = self.matches.get(match_id)
        if match is not None:
            await self.release_seat(match_id)
            await self.release_placement(match.student_id, match_id)
        outcome = self.outcomes.get(match_id)
        if outcome is not None and outcome.attempt == attempt:
            del self.outcomes[match_id]
        claim = self.decisions.get(match_id)
        if claim is not None and claim.attempt == attempt:
            del self.decisions[match_id]
        self.pending.pop(match_id, None)
        self.cleared.add(fate_id(match_id, attempt))

    async def withdrawn_decisions(self, older_than: timedelta) -> list[tuple[str, str]]:
        return [
            _fate_key(k)
            for k, fate in self.fates.items()
            if fate == WITHDRAWN and k not in self.cleared
        ]

    def _with_facts(self, match: Match) -> Match:
        outcome = self.outcomes.get(match.id)
        if outcome is not None and self.fates.get(fate_id(match.id, outcome.attempt)) == WITHDRAWN:
            outcome = None
        status, note = match_status(
            outcome, self.withdrawals.get(match.id), self.placements.get(match.student_id), match.id
        )
        return replace(
            match,
            status=status,
            note=note,
            decided_by=outcome.by if outcome else None,
            attempt=outcome.attempt if outcome else "",
            undo_until=outcome.undo_until if outcome else None,
        )

    async def match(self, match_id: str) -> Match | None:
        found = self.matches.get(match_id)
        return self._with_facts(found) if found else None

    async def matches_of_students(self, student_ids: Sequence[str]) -> list[Match]:
        wanted = set(student_ids)
        return self._matches(lambda m: m.student_id in wanted, 0, 0)

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
        now = self.clock()
        every = (as_sent(self._with_facts(m), now) for m in self.matches.values())
        return _page(
            sorted(
                (
                    m
                    for m in every
                    if m.employer_id == employer_id and (status is None or m.status == status)
                ),
                key=lambda m: m.id,
            ),
            skip,
            limit,
        )

    # Counts as the lists, unbounded: the in-memory store holds little.
    async def count_openings_of(
        self, employer_id: str, status: str | None, career_field: str | None
    ) -> int:
        return len(await self.openings_of(employer_id, status, career_field, 0, 0))

    async def count_students_of(self, school_ids: Sequence[str], status: str | None) -> int:
        return len(await self.students_of(school_ids, status, 0, 0))

    async def count_matches_of_schools(self, school_ids: Sequence[str], status: str | None) -> int:
        return len(await self.matches_of_schools(school_ids, status, 0, 0))

    async def count_matches_of_employer(self, employer_id: str, status: str | None) -> int:
        return len(await self.matches_of_employer(employer_id, status, 0, 0))

    def _matches(self, keep: Any, skip: int, limit: int) -> list[Match]:
        every = (self._with_facts(m) for m in self.matches.values())
        return _page(sorted((m for m in every if keep(m)), key=lambda m: m.id), skip, limit)

    async def placed_students(self, school_ids: Sequence[str] | None) -> set[str]:
        done = {s for s, m in self.placements.items() if m in self.outcomes}
        if school_ids is None:
            return done
        return {s for s in done if s in self.students and self.students[s].school_id in school_ids}

    async def offered_students(self, school_ids: Sequence[str] | None, now: datetime) -> set[str]:
        mine = self._matches(lambda m: school_ids is None or m.school_id in school_ids, 0, 0)
        return _offered(mine, now)

    async def parked_changes(self) -> list[ParkedChange]:
        return []  # nothing is ever refused in memory

    def _replace(self, items: dict[str, Any], item: Any, event: Envelope | None) -> bool:
        stored = items.get(item.id)
        if stored is None or stored.version != item.version - 1:
            return False
        items[item.id] = item
        if event is not None:
            self.events.append(event)
        return True


def _openings_query(employer_id: str, status: str | None, career_field: str | None) -> Document:
    query = _filter({"employer_id": employer_id}, status)
    if career_field:
        query["terms.career_field"] = career_field
    return query


def _page(items: list[T], skip: int, limit: int) -> list[T]:
    """`limit` 0 means no limit, as in MongoDB."""
    return items[skip : skip + limit] if limit else items[skip:]
