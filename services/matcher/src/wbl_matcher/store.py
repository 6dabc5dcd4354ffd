"""Matcher persistence: its own view of open openings and unplaced students (built from the
compacted topics), its current proposals with their outgoing events, and round records.
A `MatcherStore` protocol, its MongoDB implementation, and an in-memory one for unit tests."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from wbl_common.mongo import (
    Document,
    FieldsFrom,
    find_by_ids,
    upsert_all_if_newer,
    upsert_if_newer,
)
from wbl_common.outbox import Change as OutboxChange
from wbl_common.outbox import Commit, Outbox, Projection
from wbl_common.versions import created, revised
from wbl_matcher.domain import (
    Change,
    MatchingInputs,
    OfferHead,
    Placement,
    Proposal,
    RoundRecord,
    Season,
    SeatsView,
    Standing,
    Tally,
)
from wbl_schemas.envelope import Envelope
from wbl_schemas.events import (
    MainRoundRun,
    OpeningSnapshot,
    SeasonScheduled,
    SeasonState,
    StudentMatchProfile,
)

E = TypeVar("E", OpeningSnapshot, StudentMatchProfile)


class MatcherStore(Protocol):
    async def save_opening(self, opening: OpeningSnapshot) -> bool: ...

    async def close_opening(self, opening_id: str, version: int) -> str | None: ...

    async def save_student(self, student: StudentMatchProfile) -> bool: ...

    async def save_students(self, students: Sequence[StudentMatchProfile]) -> set[str]:
        """Save a batch (the newest version of each student wins); the career fields the
        students' latest changes touched, as `student_fields` reads them."""
        ...

    async def save_openings(self, openings: Sequence[OpeningSnapshot]) -> set[str]:
        """As `save_students`, for openings."""
        ...

    async def withdraw_student(self, student_id: str, version: int) -> list[str]: ...

    async def career_field_of(self, opening_id: str) -> str | None: ...

    async def student_fields(self, student_id: str) -> tuple[str, ...]:
        """The career fields the student's latest change touched: their fields now and those
        it replaced (none if unknown). Read after the write, so a redelivery finds the same."""
        ...

    async def opening_fields(self, opening_id: str) -> tuple[str, ...]:
        """As `student_fields`, for an opening (whose field an update may change)."""
        ...

    async def record_placement(self, placement: Placement) -> bool: ...

    async def end_placement(self, placement: Placement) -> None:
        """The placement ended (completed or closed early): its seat is free again, and the
        student stays out of later rounds. Safe to repeat, and to see before the placement."""
        ...

    async def placed(self, student_id: str) -> bool: ...

    async def record_decline(self, student_id: str, opening_id: str) -> None: ...

    async def mark_dirty(self, career_fields: Iterable[str]) -> None: ...

    async def dirty_fields(self) -> dict[str, list[str]]:
        """Each dirty career field with the marks that made it so."""
        ...

    async def clear_dirty(self, marks: dict[str, list[str]]) -> None:
        """Remove these marks (those made since stay, for the next round)."""
        ...

    async def inputs_for(self, career_fields: set[str] | None) -> MatchingInputs: ...

    async def open_openings(self, opening_ids: Iterable[str]) -> dict[str, OpeningSnapshot]:
        """Those of `opening_ids` still open, by id."""
        ...

    async def expiring_fields(self, before: datetime) -> set[str]:
        """The career fields of open offers that expired before `before`."""
        ...

    async def proposals(self, student_ids: Iterable[str]) -> dict[str, Proposal]: ...

    async def offer_heads(self, student_ids: Iterable[str]) -> dict[str, OfferHead]: ...

    async def apply(self, changes: list[Change], events: dict[str, list[Envelope]]) -> list[Change]:
        """Write each change with its events unless its student's record moved on since the
        change was computed; returns the changes written."""
        ...

    async def interests(self, career_fields: set[str]) -> list[tuple[str, ...]]: ...

    async def standing(self, student_id: str) -> Standing | None:
        """The student's profile (if active), declines, placement and open offer; None for
        a student the view has never seen."""
        ...

    async def seats_view(self, career_fields: set[str]) -> SeatsView:
        """The open openings of `career_fields` and the seats placements and open offers
        take at them (what a why-not asked on demand weighs)."""
        ...

    async def save_round(self, record: RoundRecord) -> None: ...

    async def latest_round(self) -> RoundRecord | None: ...

    async def season(self) -> Season: ...

    async def set_season(self, main_round_at: datetime | None) -> None: ...

    async def record_main_round(self, main_round_at: datetime, round_id: str) -> None:
        """Once per cut-off: a repeat keeps the first."""
        ...


SEASON_KEY = "season/current"
SEASON_RETRIES = 5


def season_scheduled(version: int, main_round_at: datetime | None) -> SeasonScheduled:
    """The season's `version`-th setting as `wbl.seasons` carries it. Event versions are
    2v for a setting and 2v+1 for its main round, so consumers order the two."""
    state = SeasonState(version=2 * version, main_round_at=main_round_at)
    return SeasonScheduled(producer="matcher", payload=state)


def main_round_run(version: int, main_round_at: datetime, round_id: str) -> MainRoundRun:
    state = SeasonState(
        version=2 * version + 1, main_round_at=main_round_at, main_round_id=round_id
    )
    return MainRoundRun(producer="matcher", payload=state)


def _head(doc: Document) -> OfferHead:
    current = doc.get("current")
    proposal = (
        None
        if current is None
        else Proposal(**{**current, "explanation": tuple(current["explanation"])})
    )
    return OfferHead(version=doc["version"], current=proposal)


def _json(model: OpeningSnapshot | StudentMatchProfile) -> Document:
    return model.model_dump(mode="json")


class MongoMatcherStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.openings = db["openings"]
        self.students = db["students"]
        self.placements = db["placements"]
        self.proposals_ = db["proposals"]
        # One document per mark, inserted by events and deleted by the round that solved
        # them: no counter to update, so no write can be lost between the two.
        self.dirty = db["dirty_marks"]
        self.rounds = db["rounds"]
        self.seasons = db["season"]
        # One document per cut-off whose main round ran: a unique insert, so once.
        self.main_rounds = db["main_rounds"]
        self.outbox = Outbox(db)

    async def ensure_indexes(self) -> None:
        await self.openings.create_index([("career_field", ASCENDING), ("status", ASCENDING)])
        await self.students.create_index("career_fields")
        await self.placements.create_index("opening_id")
        await self.rounds.create_index("started_seq")

    async def save_opening(self, opening: OpeningSnapshot) -> bool:
        before = await self.career_field_of(opening.opening_id)
        doc = {
            "snapshot": _json(opening),
            "career_field": opening.career_field,
            "status": "open",
            "fields_before": [before] if before else [],
        }
        return await upsert_if_newer(self.openings, opening.opening_id, opening.version, doc)

    async def close_opening(self, opening_id: str, version: int) -> str | None:
        found = await self.openings.find_one({"_id": opening_id})
        closed = await upsert_if_newer(self.openings, opening_id, version, {"status": "closed"})
        # `get`: a closure can precede the opening's publication, so no career field yet.
        return found.get("career_field") if closed and found else None

    async def save_student(self, student: StudentMatchProfile) -> bool:
        found = await self.students.find_one({"_id": student.student_id}, {"career_fields": 1})
        doc = {
            "profile": _json(student),
            "career_fields": list(student.career_fields),
            "status": "active",
            "fields_before": list(found.get("career_fields", [])) if found else [],
        }
        return await upsert_if_newer(self.students, student.student_id, student.version, doc)

    async def save_students(self, students: Sequence[StudentMatchProfile]) -> set[str]:
        def fields_from(student: StudentMatchProfile) -> FieldsFrom:
            return lambda found: {
                "profile": _json(student),
                "career_fields": list(student.career_fields),
                "status": "active",
                "fields_before": list(found.get("career_fields", [])) if found else [],
            }

        newest = _newest(students, lambda s: s.student_id)
        standing = await upsert_all_if_newer(
            self.students,
            {sid: (s.version, fields_from(s)) for sid, s in newest.items()},
            {"career_fields": 1, "fields_before": 1},
        )
        return {
            f for doc in standing.values() for f in (*doc["career_fields"], *doc["fields_before"])
        }

    async def save_openings(self, openings: Sequence[OpeningSnapshot]) -> set[str]:
        def fields_from(opening: OpeningSnapshot) -> FieldsFrom:
            return lambda found: {
                "snapshot": _json(opening),
                "career_field": opening.career_field,
                "status": "open",
                "fields_before": [found["career_field"]]
                if found and "career_field" in found
                else [],
            }

        newest = _newest(openings, lambda o: o.opening_id)
        standing = await upsert_all_if_newer(
            self.openings,
            {oid: (o.version, fields_from(o)) for oid, o in newest.items()},
            {"career_field": 1, "fields_before": 1},
        )
        return {
            f
            for doc in standing.values()
            if "career_field" in doc
            for f in (doc["career_field"], *doc.get("fields_before", []))
        }

    async def withdraw_student(self, student_id: str, version: int) -> list[str]:
        found = await self.students.find_one({"_id": student_id})
        withdrawn = {"status": "withdrawn"}
        if not await upsert_if_newer(self.students, student_id, version, withdrawn):
            return []
        # `get`: a decline or withdrawal can precede the profile, so no career fields yet.
        return list(found.get("career_fields", [])) if found else []

    async def career_field_of(self, opening_id: str) -> str | None:
        found = await self.openings.find_one({"_id": opening_id}, {"career_field": 1})
        return found.get("career_field") if found else None

    async def student_fields(self, student_id: str) -> tuple[str, ...]:
        found = await self.students.find_one(
            {"_id": student_id}, {"career_fields": 1, "fields_before": 1}
        )
        if found is None:
            return ()
        return tuple(
            dict.fromkeys([*found.get("career_fields", []), *found.get("fields_before", [])])
        )

    async def opening_fields(self, opening_id: str) -> tuple[str, ...]:
        found = await self.openings.find_one(
            {"_id": opening_id}, {"career_field": 1, "fields_before": 1}
        )
        if found is None or "career_field" not in found:
            return ()
        return tuple(dict.fromkeys([found["career_field"], *found.get("fields_before", [])]))

    async def record_placement(self, placement: Placement) -> bool:
        try:
            await self.placements.insert_one(
                {"_id": placement.student_id, "opening_id": placement.opening_id}
            )
        except DuplicateKeyError:
            return False
        return True

    async def end_placement(self, placement: Placement) -> None:
        # One value set, whoever sets it: concurrent or repeated ends agree (FerretDB).
        await self.placements.update_one(
            {"_id": placement.student_id},
            {"$set": {"ended": True}, "$setOnInsert": {"opening_id": placement.opening_id}},
            upsert=True,
        )

    async def placed(self, student_id: str) -> bool:
        return await self.placements.find_one({"_id": student_id}) is not None

    async def record_decline(self, student_id: str, opening_id: str) -> None:
        # Version 0 on insert: `upsert_if_newer` never matches a document without a version,
        # so a decline seen before the student's profile would otherwise block it for good.
        await self.students.update_one(
            {"_id": student_id},
            {"$addToSet": {"declined": opening_id}, "$setOnInsert": {"version": 0}},
            upsert=True,
        )

    async def mark_dirty(self, career_fields: Iterable[str]) -> None:
        marks = [{"_id": secrets.token_hex(8), "field": f} for f in set(career_fields)]
        if marks:
            await self.dirty.insert_many(marks)

    async def dirty_fields(self) -> dict[str, list[str]]:
        marks: dict[str, list[str]] = {}
        async for doc in self.dirty.find({}):
            marks.setdefault(doc["field"], []).append(doc["_id"])
        return marks

    async def clear_dirty(self, marks: dict[str, list[str]]) -> None:
        ids = [mark for field_marks in marks.values() for mark in field_marks]
        for start in range(0, len(ids), 500):
            await self.dirty.delete_many({"_id": {"$in": ids[start : start + 500]}})

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
        # Every placement keeps its student out; only those not ended hold a seat.
        placed = {doc["_id"]: doc async for doc in self.placements.find({})}
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
        for doc in placed.values():
            if not doc.get("ended"):
                taken[doc["opening_id"]] = taken.get(doc["opening_id"], 0) + 1
        return MatchingInputs(
            openings=tuple(openings),
            students=tuple(students),
            seats_taken=taken,
            declined=frozenset(declined),
        )

    async def open_openings(self, opening_ids: Iterable[str]) -> dict[str, OpeningSnapshot]:
        found = await find_by_ids(self.openings, opening_ids)
        return {
            oid: OpeningSnapshot.model_validate(doc["snapshot"])
            for oid, doc in found.items()
            if doc.get("status") == "open" and "snapshot" in doc
        }

    async def expiring_fields(self, before: datetime) -> set[str]:
        # A scan of the proposals (FerretDB), hence only every sweep interval.
        cursor = self.proposals_.find(
            {"current.expires_at": {"$lte": before}}, {"current.career_field": 1}
        )
        return {doc["current"]["career_field"] async for doc in cursor}

    async def interests(self, career_fields: set[str]) -> list[tuple[str, ...]]:
        """The career fields of active students interested in any of `career_fields`."""
        cursor = self.students.find(
            {"status": "active", "career_fields": {"$in": sorted(career_fields)}},
            {"career_fields": 1},
        )
        return [tuple(doc["career_fields"]) async for doc in cursor]

    async def proposals(self, student_ids: Iterable[str]) -> dict[str, Proposal]:
        heads = await self.offer_heads(student_ids)
        return {sid: h.current for sid, h in heads.items() if h.current is not None}

    async def offer_heads(self, student_ids: Iterable[str]) -> dict[str, OfferHead]:
        return {
            sid: _head(doc)
            for sid, doc in (await find_by_ids(self.proposals_, student_ids)).items()
        }

    async def apply(self, changes: list[Change], events: dict[str, list[Envelope]]) -> list[Change]:
        """Each change claims the next version of its student's record (with its events), so
        of two rounds (replicas) that computed a change from the same record one writes it."""
        writes = []
        for change in changes:
            doc = {
                "_id": change.student_id,
                "version": change.version + 1,
                "current": asdict(change.propose) if change.propose else None,
            }
            kind = created if change.version == 0 else revised
            writes.append(kind("proposals", doc, events[change.student_id]))
        stored = await self.outbox.write_many(writes)
        return [c for c, ok in zip(changes, stored, strict=True) if ok]

    async def standing(self, student_id: str) -> Standing | None:
        doc = await self.students.find_one({"_id": student_id})
        if doc is None:
            return None
        placed = await self.placements.find_one({"_id": student_id})
        head = (await self.offer_heads([student_id])).get(student_id)
        active = doc.get("status") == "active" and "profile" in doc
        return Standing(
            profile=StudentMatchProfile.model_validate(doc["profile"]) if active else None,
            withdrawn=doc.get("status") == "withdrawn",
            declined=frozenset(doc.get("declined", [])),
            placed_at=placed["opening_id"] if placed else None,
            offer=head.current if head else None,
            school_id=doc["profile"]["school_id"] if "profile" in doc else None,
        )

    async def seats_view(self, career_fields: set[str]) -> SeatsView:
        openings = [
            OpeningSnapshot.model_validate(doc["snapshot"])
            async for doc in self.openings.find(
                {"status": "open", "career_field": {"$in": sorted(career_fields)}}
            )
        ]
        ids = sorted(o.opening_id for o in openings)
        taken: Counter[str] = Counter()
        if ids:
            held = {"opening_id": {"$in": ids}, "ended": {"$ne": True}}
            async for doc in self.placements.find(held):
                taken[doc["opening_id"]] += 1
            offers = self.proposals_.find(
                {"current.opening_id": {"$in": ids}}, {"current.opening_id": 1}
            )
            async for doc in offers:
                taken[doc["current"]["opening_id"]] += 1
        return SeatsView(tuple(openings), dict(taken))

    async def save_round(self, record: RoundRecord) -> None:
        seq = await self.rounds.count_documents({})
        await self.rounds.insert_one({"_id": record.round_id, "started_seq": seq, **asdict(record)})

    async def season(self) -> Season:
        doc = await self.seasons.find_one({"_id": "current"})
        at = doc.get("main_round_at") if doc else None
        if at is None:
            return Season()
        ran = await self.main_rounds.find_one({"_id": at.isoformat()})
        return Season(at, ran["round_id"] if ran else None)

    async def _season_version(self) -> int:
        doc = await self.seasons.find_one({"_id": "current"})
        return int(doc.get("version", 0)) if doc else 0

    async def set_season(self, main_round_at: datetime | None) -> None:
        """The next version of the season, with its `SeasonScheduled` event, through the
        outbox: of two admins writing at once one claims the version, the other the next."""
        for _ in range(SEASON_RETRIES):
            version = await self._season_version() + 1
            state = {"version": version, "main_round_at": main_round_at}
            change = OutboxChange(
                key=SEASON_KEY,
                seq=2 * version,
                commit=Commit("season_versions", {"_id": f"current@{version}", **state}),
                events=(season_scheduled(version, main_round_at),),
                projection=Projection("season", "current", state),
            )
            if await self.outbox.write(change):
                return
        raise RuntimeError("the season kept changing while it was being set; try again")

    async def record_main_round(self, main_round_at: datetime, round_id: str) -> None:
        """Once per cut-off (its insert is the commit), with its `MainRoundRun` event."""
        version = await self._season_version()
        change = OutboxChange(
            key=SEASON_KEY,
            seq=2 * version + 1,
            commit=Commit("main_rounds", {"_id": main_round_at.isoformat(), "round_id": round_id}),
            events=(main_round_run(version, main_round_at, round_id),),
        )
        await self.outbox.write(change)  # False: this cut-off's main round is on record

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
    fields_before: tuple[str, ...] = ()


@dataclass
class _StudentRow:
    version: int = 0  # 0: only declines are known, so any profile is newer
    status: str | None = None
    profile: StudentMatchProfile | None = None  # None: declined or withdrawn before seen
    declined: set[str] = field(default_factory=set)
    fields_before: tuple[str, ...] = ()


def _newest(entities: Sequence[E], key: Callable[[E], str]) -> dict[str, E]:
    """The highest version of each entity in a batch."""
    newest: dict[str, E] = {}
    for entity in entities:
        kept = newest.get(key(entity))
        if kept is None or kept.version < entity.version:
            newest[key(entity)] = entity
    return newest


def _newer(row: _OpeningRow | _StudentRow | None, version: int) -> bool:
    """As `upsert_if_newer`: an unknown entity takes any version, a known one a higher one."""
    return row is None or row.version < version


@dataclass
class InMemoryMatcherStore:
    """Same contract as the MongoDB store; `events` stands in for the proposals' outbox."""

    openings: dict[str, _OpeningRow] = field(default_factory=dict)
    students: dict[str, _StudentRow] = field(default_factory=dict)
    placements: dict[str, str] = field(default_factory=dict)  # student id -> opening id
    ended: set[str] = field(default_factory=set)  # students whose placement ended
    heads: dict[str, OfferHead] = field(default_factory=dict)
    dirty: dict[str, list[str]] = field(default_factory=dict)
    rounds: list[RoundRecord] = field(default_factory=list)
    events: list[Envelope] = field(default_factory=list)
    main_round_at: datetime | None = None
    main_rounds: dict[datetime, str] = field(default_factory=dict)
    season_events: list[Envelope] = field(default_factory=list)  # wbl.seasons' outbox

    async def save_opening(self, opening: OpeningSnapshot) -> bool:
        row = self.openings.get(opening.opening_id)
        if not _newer(row, opening.version):
            return False
        before = (row.snapshot.career_field,) if row and row.snapshot else ()
        self.openings[opening.opening_id] = _OpeningRow(opening.version, "open", opening, before)
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
        row.fields_before = row.profile.career_fields if row.profile else ()
        row.version, row.status, row.profile = student.version, "active", student
        return True

    async def save_students(self, students: Sequence[StudentMatchProfile]) -> set[str]:
        for student in _newest(students, lambda s: s.student_id).values():
            await self.save_student(student)
        return {f for s in students for f in await self.student_fields(s.student_id)}

    async def save_openings(self, openings: Sequence[OpeningSnapshot]) -> set[str]:
        for opening in _newest(openings, lambda o: o.opening_id).values():
            await self.save_opening(opening)
        return {f for o in openings for f in await self.opening_fields(o.opening_id)}

    async def withdraw_student(self, student_id: str, version: int) -> list[str]:
        if not _newer(self.students.get(student_id), version):
            return []
        row = self.students.setdefault(student_id, _StudentRow())
        row.version, row.status = version, "withdrawn"
        return list(row.profile.career_fields) if row.profile else []

    async def career_field_of(self, opening_id: str) -> str | None:
        row = self.openings.get(opening_id)
        return row.snapshot.career_field if row and row.snapshot else None

    async def student_fields(self, student_id: str) -> tuple[str, ...]:
        row = self.students.get(student_id)
        now = row.profile.career_fields if row and row.profile else ()
        return tuple(dict.fromkeys([*now, *(row.fields_before if row else ())]))

    async def opening_fields(self, opening_id: str) -> tuple[str, ...]:
        row = self.openings.get(opening_id)
        if row is None or row.snapshot is None:
            return ()
        return tuple(dict.fromkeys([row.snapshot.career_field, *row.fields_before]))

    async def record_placement(self, placement: Placement) -> bool:
        if placement.student_id in self.placements:
            return False
        self.placements[placement.student_id] = placement.opening_id
        return True

    async def end_placement(self, placement: Placement) -> None:
        self.placements.setdefault(placement.student_id, placement.opening_id)
        self.ended.add(placement.student_id)

    def _seats_held(self) -> list[str]:
        return [o for s, o in self.placements.items() if s not in self.ended]

    async def placed(self, student_id: str) -> bool:
        return student_id in self.placements

    async def record_decline(self, student_id: str, opening_id: str) -> None:
        self.students.setdefault(student_id, _StudentRow()).declined.add(opening_id)

    async def mark_dirty(self, career_fields: Iterable[str]) -> None:
        for career_field in set(career_fields):
            self.dirty.setdefault(career_field, []).append(secrets.token_hex(8))

    async def dirty_fields(self) -> dict[str, list[str]]:
        return {f: list(marks) for f, marks in self.dirty.items()}

    async def clear_dirty(self, marks: dict[str, list[str]]) -> None:
        for career_field, cleared in marks.items():
            left = [m for m in self.dirty.get(career_field, []) if m not in cleared]
            if left:  # marked again meanwhile: keep it
                self.dirty[career_field] = left
            else:
                self.dirty.pop(career_field, None)

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
            seats_taken=dict(Counter(self._seats_held())),
            declined=frozenset(
                (profile.student_id, o) for profile, row in unplaced for o in row.declined
            ),
        )

    async def open_openings(self, opening_ids: Iterable[str]) -> dict[str, OpeningSnapshot]:
        rows = {oid: self.openings.get(oid) for oid in opening_ids}
        return {
            oid: row.snapshot
            for oid, row in rows.items()
            if row is not None and row.status == "open" and row.snapshot is not None
        }

    async def expiring_fields(self, before: datetime) -> set[str]:
        return {
            head.current.career_field
            for head in self.heads.values()
            if head.current is not None
            and head.current.expires_at is not None
            and head.current.expires_at <= before
        }

    async def interests(self, career_fields: set[str]) -> list[tuple[str, ...]]:
        return [profile.career_fields for profile, _ in self._active(career_fields)]

    async def proposals(self, student_ids: Iterable[str]) -> dict[str, Proposal]:
        heads = await self.offer_heads(student_ids)
        return {sid: h.current for sid, h in heads.items() if h.current is not None}

    async def offer_heads(self, student_ids: Iterable[str]) -> dict[str, OfferHead]:
        return {sid: self.heads[sid] for sid in student_ids if sid in self.heads}

    async def apply(self, changes: list[Change], events: dict[str, list[Envelope]]) -> list[Change]:
        written = []
        for change in changes:
            if self.heads.get(change.student_id, OfferHead()).version != change.version:
                continue
            self.heads[change.student_id] = OfferHead(change.version + 1, change.propose)
            self.events.extend(events[change.student_id])
            written.append(change)
        return written

    async def standing(self, student_id: str) -> Standing | None:
        row = self.students.get(student_id)
        if row is None:
            return None
        head = self.heads.get(student_id)
        return Standing(
            profile=row.profile if row.status == "active" else None,
            withdrawn=row.status == "withdrawn",
            declined=frozenset(row.declined),
            placed_at=self.placements.get(student_id),
            offer=head.current if head else None,
            school_id=row.profile.school_id if row.profile else None,
        )

    async def seats_view(self, career_fields: set[str]) -> SeatsView:
        openings = [
            row.snapshot
            for row in self.openings.values()
            if row.status == "open"
            and row.snapshot is not None
            and row.snapshot.career_field in career_fields
        ]
        ids = {o.opening_id for o in openings}
        offered = [h.current.opening_id for h in self.heads.values() if h.current is not None]
        taken = Counter(oid for oid in [*self._seats_held(), *offered] if oid in ids)
        return SeatsView(tuple(openings), dict(taken))

    async def save_round(self, record: RoundRecord) -> None:
        self.rounds.append(record)

    async def latest_round(self) -> RoundRecord | None:
        return self.rounds[-1] if self.rounds else None

    async def season(self) -> Season:
        at = self.main_round_at
        return Season(at, self.main_rounds.get(at) if at else None)

    async def set_season(self, main_round_at: datetime | None) -> None:
        self.main_round_at = main_round_at
        version = sum(isinstance(e, SeasonScheduled) for e in self.season_events) + 1
        self.season_events.append(season_scheduled(version, main_round_at))

    async def record_main_round(self, main_round_at: datetime, round_id: str) -> None:
        if main_round_at not in self.main_rounds:
            self.main_rounds[main_round_at] = round_id
            version = sum(isinstance(e, SeasonScheduled) for e in self.season_events)
            self.season_events.append(main_round_run(version, main_round_at, round_id))
