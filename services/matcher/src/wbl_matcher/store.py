"""Matcher persistence: its own view of open openings and unplaced students (built from the
compacted topics), its current proposals with their outgoing events, and round records.
A `MatcherStore` protocol, its MongoDB implementation, and an in-memory one for unit tests."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from wbl_common.mongo import Document, upsert_if_newer
from wbl_common.outbox import outbox_lock, with_outbox
from wbl_matcher.domain import Change, MatchingInputs, Placement, Proposal, RoundRecord, Tally
from wbl_schemas.envelope import Envelope
from wbl_schemas.events import OpeningSnapshot, StudentMatchProfile


class MatcherStore(Protocol):
    async def save_opening(self, opening: OpeningSnapshot) -> bool: ...

    async def close_opening(self, opening_id: str, version: int) -> str | None: ...

    async def save_student(self, student: StudentMatchProfile) -> bool: ...

    async def withdraw_student(self, student_id: str, version: int) -> list[str]: ...

    async def career_field_of(self, opening_id: str) -> str | None: ...

    async def record_placement(self, placement: Placement) -> bool: ...

    async def placed(self, student_id: str) -> bool: ...

    async def record_decline(self, student_id: str, opening_id: str) -> None: ...

    async def mark_dirty(self, career_fields: Iterable[str]) -> None: ...

    async def dirty_fields(self) -> dict[str, int]: ...

    async def clear_dirty(self, marks: dict[str, int]) -> None: ...

    async def inputs_for(self, career_fields: set[str] | None) -> MatchingInputs: ...

    async def proposals(self, student_ids: Iterable[str]) -> dict[str, Proposal]: ...

    async def apply(self, changes: list[Change], events: dict[str, list[Envelope]]) -> None: ...

    async def save_why_not(
        self, round_id: str, why_not: dict[str, tuple[str, ...]], matched: list[str]
    ) -> None: ...

    async def interests(self, career_fields: set[str]) -> list[tuple[str, ...]]: ...

    async def why_not(self, student_id: str) -> tuple[str, tuple[str, ...]] | None: ...

    async def save_round(self, record: RoundRecord) -> None: ...

    async def latest_round(self) -> RoundRecord | None: ...


def _json(model: OpeningSnapshot | StudentMatchProfile) -> Document:
    return model.model_dump(mode="json")


class MongoMatcherStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.openings = db["openings"]
        self.students = db["students"]
        self.placements = db["placements"]
        self.proposals_ = db["proposals"]
        self.dirty = db["dirty_fields"]
        self.rounds = db["rounds"]
        self.why_not_ = db["why_not"]
        # FerretDB 1.24 does not isolate concurrent writes to one document (ADR 3): a
        # dirty mark's $inc racing the round's clearing was lost, and so was the re-solve.
        # The view's writers (the three consumers and the round loop) take turns here.
        self._view_writes = asyncio.Lock()

    @property
    def outbox_collections(self) -> list[AsyncCollection[Document]]:
        return [self.proposals_]

    async def ensure_indexes(self) -> None:
        await self.openings.create_index([("career_field", ASCENDING), ("status", ASCENDING)])
        await self.students.create_index("career_fields")
        await self.placements.create_index("opening_id")
        await self.proposals_.create_index("outbox_pending")
        await self.rounds.create_index("started_seq")

    async def save_opening(self, opening: OpeningSnapshot) -> bool:
        doc = {"snapshot": _json(opening), "career_field": opening.career_field, "status": "open"}
        async with self._view_writes:
            return await upsert_if_newer(self.openings, opening.opening_id, opening.version, doc)

    async def close_opening(self, opening_id: str, version: int) -> str | None:
        async with self._view_writes:
            found = await self.openings.find_one({"_id": opening_id})
            closed = await upsert_if_newer(self.openings, opening_id, version, {"status": "closed"})
        # `get`: a closure can precede the opening's publication, so no career field yet.
        return found.get("career_field") if closed and found else None

    async def save_student(self, student: StudentMatchProfile) -> bool:
        doc = {
            "profile": _json(student),
            "career_fields": list(student.career_fields),
            "status": "active",
        }
        async with self._view_writes:
            return await upsert_if_newer(self.students, student.student_id, student.version, doc)

    async def withdraw_student(self, student_id: str, version: int) -> list[str]:
        async with self._view_writes:
            found = await self.students.find_one({"_id": student_id})
            withdrawn = {"status": "withdrawn"}
            if not await upsert_if_newer(self.students, student_id, version, withdrawn):
                return []
        # `get`: a decline or withdrawal can precede the profile, so no career fields yet.
        return list(found.get("career_fields", [])) if found else []

    async def career_field_of(self, opening_id: str) -> str | None:
        found = await self.openings.find_one({"_id": opening_id}, {"career_field": 1})
        return found.get("career_field") if found else None

    async def record_placement(self, placement: Placement) -> bool:
        try:
            await self.placements.insert_one(
                {"_id": placement.student_id, "opening_id": placement.opening_id}
            )
        except DuplicateKeyError:
            return False
        return True

    async def placed(self, student_id: str) -> bool:
        return await self.placements.find_one({"_id": student_id}) is not None

    async def record_decline(self, student_id: str, opening_id: str) -> None:
        # Version 0 on insert: `upsert_if_newer` never matches a document without a version,
        # so a decline seen before the student's profile would otherwise block it for good.
        async with self._view_writes:
            await self.students.update_one(
                {"_id": student_id},
                {"$addToSet": {"declined": opening_id}, "$setOnInsert": {"version": 0}},
                upsert=True,
            )

    async def mark_dirty(self, career_fields: Iterable[str]) -> None:
        async with self._view_writes:
            for career_field in career_fields:
                await self.dirty.update_one({"_id": career_field}, {"$inc": {"n": 1}}, upsert=True)

    async def dirty_fields(self) -> dict[str, int]:
        return {doc["_id"]: doc["n"] async for doc in self.dirty.find({})}

    async def clear_dirty(self, marks: dict[str, int]) -> None:
        async with self._view_writes:
            for career_field, n in marks.items():
                await self.dirty.delete_one({"_id": career_field, "n": n})

    async def inputs_for(self, career_fields: set[str] | None) -> MatchingInputs:
        """Open openings and active, unplaced students of `career_fields` (None: all)."""
        field_filter: dict[str, Any] = (
            {} if career_fields is None else {"$in": sorted(career_fields)}
        )
        opening_query: Document = {"status": "open"}
        student_query: Document = {"status": "active", "profile": {"$exists": True}}
        if career_fields is not None:
            opening_query["career_field"] = field_filter
            student_query["career_fields"] = field_filter
        placed = {doc["_id"]: doc["opening_id"] async for doc in self.placements.find({})}
        openings = [
            OpeningSnapshot.model_validate(doc["snapshot"])
            async for doc in self.openings.find(opening_query)
        ]
        students: list[StudentMatchProfile] = []
        declined: set[tuple[str, str]] = set()
        async for doc in self.students.find(student_query):
            if doc["_id"] in placed:
                continue
            students.append(StudentMatchProfile.model_validate(doc["profile"]))
            declined.update((doc["_id"], o) for o in doc.get("declined", []))
        taken: dict[str, int] = {}
        for opening_id in placed.values():
            taken[opening_id] = taken.get(opening_id, 0) + 1
        return MatchingInputs(
            openings=tuple(openings),
            students=tuple(students),
            seats_taken=taken,
            declined=frozenset(declined),
        )

    async def interests(self, career_fields: set[str]) -> list[tuple[str, ...]]:
        """The career fields of active students interested in any of `career_fields`."""
        cursor = self.students.find(
            {"status": "active", "career_fields": {"$in": sorted(career_fields)}},
            {"career_fields": 1},
        )
        return [tuple(doc["career_fields"]) async for doc in cursor]

    async def proposals(self, student_ids: Iterable[str]) -> dict[str, Proposal]:
        ids = list(student_ids)
        found: dict[str, Proposal] = {}
        async for doc in self.proposals_.find({"_id": {"$in": ids}, "current": {"$ne": None}}):
            found[doc["_id"]] = Proposal(
                **{**doc["current"], "explanation": tuple(doc["current"]["explanation"])}
            )
        return found

    async def apply(self, changes: list[Change], events: dict[str, list[Envelope]]) -> None:
        """Each student's new proposal and its events: one single-document write."""
        async with outbox_lock(self.proposals_):
            for change in changes:
                current = asdict(change.propose) if change.propose else None
                await self.proposals_.update_one(
                    {"_id": change.student_id},
                    with_outbox(
                        {"$set": {"current": current}, "$inc": {"version": 1}},
                        *events[change.student_id],
                    ),
                    upsert=True,
                )

    async def save_why_not(
        self, round_id: str, why_not: dict[str, tuple[str, ...]], matched: list[str]
    ) -> None:
        """The latest reasons per unmatched student, so a coordinator can act on them."""
        if matched:
            await self.why_not_.delete_many({"_id": {"$in": matched}})
        if not why_not:
            return
        await self.why_not_.bulk_write(
            [
                UpdateOne(
                    {"_id": sid},
                    {"$set": {"round_id": round_id, "reasons": list(reasons)}},
                    upsert=True,
                )
                for sid, reasons in why_not.items()
            ],
            ordered=False,
        )

    async def why_not(self, student_id: str) -> tuple[str, tuple[str, ...]] | None:
        doc = await self.why_not_.find_one({"_id": student_id})
        return (doc["round_id"], tuple(doc["reasons"])) if doc else None

    async def save_round(self, record: RoundRecord) -> None:
        seq = await self.rounds.count_documents({})
        await self.rounds.insert_one({"_id": record.round_id, "started_seq": seq, **asdict(record)})

    async def latest_round(self) -> RoundRecord | None:
        doc = await self.rounds.find_one({}, sort=[("started_seq", -1)])
        if doc is None:
            return None
        fields = {k: v for k, v in doc.items() if k not in ("_id", "started_seq")}
        fields["career_fields"] = tuple(fields["career_fields"])
        for table in ("by_career_field", "by_program"):
            fields[table] = {k: Tally(**v) for k, v in fields.get(table, {}).items()}
        return RoundRecord(**fields)


@dataclass
class _OpeningRow:
    version: int
    status: str
    snapshot: OpeningSnapshot | None  # None: closed before its publication was seen


@dataclass
class _StudentRow:
    version: int = 0  # 0: only declines are known, so any profile is newer
    status: str | None = None
    profile: StudentMatchProfile | None = None  # None: declined or withdrawn before seen
    declined: set[str] = field(default_factory=set)


def _newer(row: _OpeningRow | _StudentRow | None, version: int) -> bool:
    """As `upsert_if_newer`: an unknown entity takes any version, a known one a higher one."""
    return row is None or row.version < version


@dataclass
class InMemoryMatcherStore:
    """Same contract as the MongoDB store; `events` stands in for the proposals' outbox."""

    openings: dict[str, _OpeningRow] = field(default_factory=dict)
    students: dict[str, _StudentRow] = field(default_factory=dict)
    placements: dict[str, str] = field(default_factory=dict)  # student id -> opening id
    current: dict[str, Proposal] = field(default_factory=dict)
    dirty: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    rounds: list[RoundRecord] = field(default_factory=list)
    events: list[Envelope] = field(default_factory=list)

    async def save_opening(self, opening: OpeningSnapshot) -> bool:
        if not _newer(self.openings.get(opening.opening_id), opening.version):
            return False
        self.openings[opening.opening_id] = _OpeningRow(opening.version, "open", opening)
        return True

    async def close_opening(self, opening_id: str, version: int) -> str | None:
        row = self.openings.get(opening_id)
        if not _newer(row, version):
            return None
        snapshot = row.snapshot if row else None
        self.openings[opening_id] = _OpeningRow(version, "closed", snapshot)
        return snapshot.career_field if snapshot else None

    async def save_student(self, student: StudentMatchProfile) -> bool:
        if not _newer(self.students.get(student.student_id), student.version):
            return False
        row = self.students.setdefault(student.student_id, _StudentRow())
        row.version, row.status, row.profile = student.version, "active", student
        return True

    async def withdraw_student(self, student_id: str, version: int) -> list[str]:
        if not _newer(self.students.get(student_id), version):
            return []
        row = self.students.setdefault(student_id, _StudentRow())
        row.version, row.status = version, "withdrawn"
        return list(row.profile.career_fields) if row.profile else []

    async def career_field_of(self, opening_id: str) -> str | None:
        row = self.openings.get(opening_id)
        return row.snapshot.career_field if row and row.snapshot else None

    async def record_placement(self, placement: Placement) -> bool:
        if placement.student_id in self.placements:
            return False
        self.placements[placement.student_id] = placement.opening_id
        return True

    async def placed(self, student_id: str) -> bool:
        return student_id in self.placements

    async def record_decline(self, student_id: str, opening_id: str) -> None:
        self.students.setdefault(student_id, _StudentRow()).declined.add(opening_id)

    async def mark_dirty(self, career_fields: Iterable[str]) -> None:
        for career_field in career_fields:
            self.dirty[career_field] = self.dirty.get(career_field, 0) + 1

    async def dirty_fields(self) -> dict[str, int]:
        return dict(self.dirty)

    async def clear_dirty(self, marks: dict[str, int]) -> None:
        for career_field, n in marks.items():
            if self.dirty.get(career_field) == n:  # marked again meanwhile: keep it
                del self.dirty[career_field]

    def _active(
        self, career_fields: set[str] | None
    ) -> list[tuple[StudentMatchProfile, _StudentRow]]:
        """Active students with a profile, interested in any of `career_fields` (None: all)."""
        return [
            (row.profile, row)
            for row in self.students.values()
            if row.status == "active"
            and row.profile is not None
            and (career_fields is None or not career_fields.isdisjoint(row.profile.career_fields))
        ]

    async def inputs_for(self, career_fields: set[str] | None) -> MatchingInputs:
        openings = [
            row.snapshot
            for row in self.openings.values()
            if row.status == "open"
            and row.snapshot is not None
            and (career_fields is None or row.snapshot.career_field in career_fields)
        ]
        unplaced = [
            (profile, row)
            for profile, row in self._active(career_fields)
            if profile.student_id not in self.placements
        ]
        return MatchingInputs(
            openings=tuple(openings),
            students=tuple(profile for profile, _ in unplaced),
            # Seats are counted over every placement, not only those in scope, as in MongoDB.
            seats_taken=dict(Counter(self.placements.values())),
            declined=frozenset(
                (profile.student_id, o) for profile, row in unplaced for o in row.declined
            ),
        )

    async def interests(self, career_fields: set[str]) -> list[tuple[str, ...]]:
        return [profile.career_fields for profile, _ in self._active(career_fields)]

    async def proposals(self, student_ids: Iterable[str]) -> dict[str, Proposal]:
        return {sid: self.current[sid] for sid in student_ids if sid in self.current}

    async def apply(self, changes: list[Change], events: dict[str, list[Envelope]]) -> None:
        for change in changes:
            if change.propose is not None:
                self.current[change.student_id] = change.propose
            else:
                self.current.pop(change.student_id, None)
            self.events.extend(events[change.student_id])

    async def save_why_not(
        self, round_id: str, why_not: dict[str, tuple[str, ...]], matched: list[str]
    ) -> None:
        for student_id in matched:
            self.reasons.pop(student_id, None)
        for student_id, reasons in why_not.items():
            self.reasons[student_id] = (round_id, reasons)

    async def why_not(self, student_id: str) -> tuple[str, tuple[str, ...]] | None:
        return self.reasons.get(student_id)

    async def save_round(self, record: RoundRecord) -> None:
        self.rounds.append(record)

    async def latest_round(self) -> RoundRecord | None:
        return self.rounds[-1] if self.rounds else None
