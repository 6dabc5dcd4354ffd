"""The transactional outbox without transactions (ADR 3).

FerretDB serves no multi-document transactions and does not isolate concurrent updates of one
document (two writers can both "win" a conditional update). What it does make atomic is an
insert against a unique index. So a change and its events are written in three steps:

1. an *intent* goes into the small `outbox` collection: the events, and the one insert that
   commits the change (its `Commit`: a new entity document, a version claim `<id>@<version>`,
   or a fact such as a placement, each with a unique `_id`);
2. the commit insert itself. A duplicate key means another writer committed first: the intent
   is deleted and the caller told. Then the entity's current document (its `Projection`, read
   by lists) is brought up to date;
3. the intent is marked committed.

The relay publishes committed intents, in order per entity, then deletes them. An intent left
unmarked (its writer crashed, or lost the database) is checked once it is older than a grace
period: committed → published; no commit → the relay commits it itself, so a change either
takes effect whole, events and all, or not at all; another writer's commit → discarded. Every
write the protocol makes is an insert, a delete, or an update of a document only one writer
touches; no update command carries more than one statement per document, far under the 100
that wedge FerretDB 1.24.

A change may *hold* its events until a deadline (a `Hold`: a decision the coordinator may
still undo). Who gets a held event is settled by one insert into the hold's fate collection:
the relay, once the deadline has passed, inserts `sent` before it publishes; `withdraw` (the
undo) inserts `withdrawn`. One of the two wins however they interleave, across replicas and
clocks: a `withdrawn` event is never published (the relay drops it), a `sent` one can no
longer be withdrawn. The relay seals before it settles, so it never rolls forward a change
that was withdrawn meanwhile; a held event goes out once its deadline has passed, whoever
restarted in between.

Only one replica's relay works at a time (a `Lease`); should two overlap, an event is
published twice with one `event_id`, which consumers skip. An event the broker refuses for
good (e.g. larger than its limit) is *parked*: moved to `outbox_parked`, counted and shown,
while the relay goes on with everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from wbl_common.bus import MessageBus, serialize
from wbl_common.lease import Lease
from wbl_common.metrics import OutboxMetrics
from wbl_common.mongo import Document, find_by_ids, insert_each
from wbl_schemas.envelope import Envelope

log = structlog.get_logger(__name__)

INTENTS = "outbox"
PARKED = "outbox_parked"
WRITE_ID = "write_id"
# How long an unmarked intent is left to its writer before the relay settles it.
GRACE = timedelta(seconds=10)
# Passes an intent may fail while others go through before it is parked.
STRIKES = 3
# Broker errors about one message, not about the broker: retrying cannot help. Not
# UnknownTopicOrPartitionError: a broker just restarted answers it for partitions it has not
# loaded yet (seen in the Kafka kill test), so it is retried like any transient error.
PERMANENT_ERRORS = (
    "MessageSizeTooLargeError",
    "RecordTooLargeError",
    "InvalidTopicError",
    "CorruptRecordException",
)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Commit:
    """The one insert that makes a change happen; its unique `_id` lets one writer win."""

    collection: str
    document: Document


@dataclass(frozen=True)
class Projection:
    """The entity's current document, brought up to date once the change is committed.
    Reads and lists use it; it is never the arbiter of anything."""

    collection: str
    doc_id: Any
    document: Document  # the whole new state; `version` orders it


SENT, WITHDRAWN = "sent", "withdrawn"


@dataclass(frozen=True)
class Hold:
    """Hold a change's events until `until`, unless withdrawn first. The fate of the events
    is the document `fate_id` of `collection`, inserted once (see the module docstring)."""

    collection: str
    fate_id: str
    until: datetime


@dataclass(frozen=True)
class Change:
    """One change of one entity: `key` names the entity and orders its changes by `seq`."""

    key: str
    seq: int
    commit: Commit
    events: tuple[Envelope, ...] = ()
    projection: Projection | None = None
    hold: Hold | None = None


def _event(event: Envelope) -> Document:
    return {
        "event_id": str(event.event_id),
        "event_type": event.event_type,
        "topic": event.topic,
        "key": event.key(),
        "value": serialize(event).decode(),
    }


def _intent(change: Change, write_id: str, now: datetime) -> Document:
    projection = change.projection
    return {
        "_id": write_id,
        "key": change.key,
        "seq": change.seq,
        "commit": {"collection": change.commit.collection, "document": change.commit.document},
        "projection": None
        if projection is None
        else {
            "collection": projection.collection,
            "doc_id": projection.doc_id,
            "document": projection.document,
        },
        "events": [_event(e) for e in change.events],
        "hold": None
        if change.hold is None
        else {
            "collection": change.hold.collection,
            "fate_id": change.hold.fate_id,
            "until": change.hold.until,
        },
        "queued_at": now,
        "committed": False,
    }


class Outbox:
    """Writes changes with their events (see the module docstring)."""

    def __init__(self, db: AsyncDatabase[Document], clock: Callable[[], datetime] = utcnow):
        self.db = db
        self.intents = db[INTENTS]
        self.parked = db[PARKED]
        self.clock = clock

    async def write(self, change: Change) -> bool:
        """Commit `change` and queue its events; False when another writer committed first."""
        return (await self.write_many([change]))[0]

    async def write_many(self, changes: Sequence[Change]) -> list[bool]:
        """Commit each change (each on its own: one may lose while the others win)."""
        if not changes:
            return []
        now = self.clock()
        write_ids = [secrets.token_hex(12) for _ in changes]
        await self.intents.insert_many(
            [_intent(c, w, now) for c, w in zip(changes, write_ids, strict=True)], ordered=False
        )
        won = await self._commit(changes, write_ids)
        lost = [w for w, ok in zip(write_ids, won, strict=True) if not ok]
        if lost:
            await self.intents.delete_many({"_id": {"$in": lost}})
        for change, ok in zip(changes, won, strict=True):
            if ok and change.projection is not None:
                await project(self.db, change.projection)
        committed = [w for w, ok in zip(write_ids, won, strict=True) if ok]
        if committed:
            await self.intents.update_many(
                {"_id": {"$in": committed}}, {"$set": {"committed": True}}
            )
        return won

    async def _commit(self, changes: Sequence[Change], write_ids: Sequence[str]) -> list[bool]:
        """Insert every commit document, grouped by collection; True where ours stands."""
        won = [True] * len(changes)
        groups: dict[str, list[int]] = defaultdict(list)
        for index, change in enumerate(changes):
            groups[change.commit.collection].append(index)
        for collection, indexes in groups.items():
            docs = [{**changes[i].commit.document, WRITE_ID: write_ids[i]} for i in indexes]
            for position in await insert_each(self.db[collection], docs):
                index = indexes[position]
                won[index] = await self._ours(changes[index].commit, write_ids[index])
        return won

    async def _ours(self, commit: Commit, write_id: str) -> bool:
        """After a duplicate key: whether the stored commit is this write's own (the relay
        may have rolled a slow writer's intent forward)."""
        stored = await self.db[commit.collection].find_one({"_id": commit.document["_id"]})
        return stored is not None and stored.get(WRITE_ID) == write_id

    async def withdraw(self, hold: Hold) -> bool:
        """Withdraw held events before they are sent: True when they never will be (this
        call or an earlier one withdrew them), False when the relay has sent them."""
        return await seal(self.db, hold, WITHDRAWN, self.clock()) == WITHDRAWN

    async def fates(self, collection: str, fate_ids: Sequence[str]) -> dict[str, str]:
        """The settled fate (`sent` or `withdrawn`) of each held change that has one."""
        found = await find_by_ids(self.db[collection], fate_ids, {"fate": 1})
        return {fate_id: str(doc["fate"]) for fate_id, doc in found.items()}

    async def backlog(self) -> tuple[int, float, int]:
        """Pending events, the oldest one's age in seconds, and parked events. Events held
        until a deadline still ahead are not pending yet (as in the relay's gauges)."""
        pending = 0
        oldest: datetime | None = None
        now = self.clock()
        async for doc in self.intents.find({}, {"events": 1, "queued_at": 1, "hold": 1}):
            if held(doc, now):
                continue
            pending += len(doc.get("events", ()))
            queued = doc["queued_at"]
            oldest = queued if oldest is None or queued < oldest else oldest
        parked = await self.parked.count_documents({})
        age = 0.0 if oldest is None else max(0.0, (self.clock() - oldest).total_seconds())
        return pending, age, parked

    async def parked_events(self, limit: int = 200) -> list[ParkedChange]:
        """What an operator needs to act on a parked change: no payloads."""
        docs = await self.parked.find({}, {"commit": 0, "projection": 0}).to_list(None)
        docs.sort(key=lambda d: d["parked_at"], reverse=True)
        return [
            ParkedChange(
                entity=d["key"],
                version=d["seq"],
                events=tuple(e["event_type"] for e in d["events"]),
                error=d["error"],
                parked_at=d["parked_at"],
            )
            for d in docs[:limit]
        ]


def held(intent: Document, now: datetime) -> bool:
    """Whether `intent`'s events are held until a deadline still ahead."""
    hold = intent.get("hold")
    return hold is not None and now < _aware(hold["until"])


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def seal(db: AsyncDatabase[Document], hold: Hold, fate: str, now: datetime) -> str:
    """Settle the fate of held events by one insert; returns the fate that stands."""
    collection = db[hold.collection]
    try:
        await collection.insert_one({"_id": hold.fate_id, "fate": fate, "at": now})
    except DuplicateKeyError:
        stood = await collection.find_one({"_id": hold.fate_id})
        if stood is None:  # fates are never deleted
            raise
        return str(stood["fate"])
    return fate


def _hold(intent: Document) -> Hold | None:
    h = intent.get("hold")
    return None if h is None else Hold(h["collection"], h["fate_id"], _aware(h["until"]))


async def project(db: AsyncDatabase[Document], projection: Projection) -> None:
    """Bring the current document up to `projection` unless it is already there or newer.
    A plain update by `_id`: one writer per version (the commit's), and FerretDB uses an
    index only for a filter that is exactly `{_id}`."""
    collection = db[projection.collection]
    stored = await collection.find_one({"_id": projection.doc_id}, {"version": 1})
    version = projection.document.get("version", 0)
    if stored is not None and stored.get("version", 0) >= version:
        return
    fields = {k: v for k, v in projection.document.items() if k != "_id"}
    await collection.update_one({"_id": projection.doc_id}, {"$set": fields}, upsert=True)


@dataclass(frozen=True)
class ParkedChange:
    entity: str  # <collection>/<id>
    version: int
    events: tuple[str, ...]  # event types
    error: str
    parked_at: datetime


@dataclass
class RelayStats:
    published: int = 0
    parked: int = 0
    discarded: int = 0


@dataclass
class OutboxRelay:
    """Publishes committed intents in order per entity; one replica at a time (a lease)."""

    outbox: Outbox
    bus: MessageBus
    lease: Lease
    poll_seconds: float = 1.0
    batch: int = 1000
    grace: timedelta = GRACE
    metrics: OutboxMetrics | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _strikes: dict[str, int] = field(default_factory=dict)

    def wake(self) -> None:
        """Called after a local write so the event leaves now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                if await self.lease.hold():
                    while (await self.publish_pending()).published >= self.batch:
                        pass
            except Exception as error:  # broker or database down: keep the events, try later
                log.warning("outbox relay paused", error=type(error).__name__, detail=str(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            self._wake.clear()

    async def publish_pending(self) -> RelayStats:
        """One pass: settle, publish and delete up to `batch` intents."""
        stats = RelayStats()
        intents = await self.outbox.intents.find({}).to_list(self.batch)
        await self._measure(intents)
        ready: list[Document] = []
        for chain in _chains(intents):
            for intent in chain:
                verdict = await self._release(intent)
                if verdict == "publish":
                    verdict = await self._settle(intent)
                if verdict == "wait":
                    break  # later changes of this entity wait for this one
                if verdict == "discard":
                    await self.outbox.intents.delete_one({"_id": intent["_id"]})
                    stats.discarded += 1
                    continue
                ready.append(intent)
        published, parked = await self._publish(ready)
        stats.published, stats.parked = len(published), len(parked)
        if published:
            await self.outbox.intents.delete_many({"_id": {"$in": published}})
        return stats

    async def _measure(self, intents: list[Document]) -> None:
        if self.metrics is None:
            return
        queued: dict[str, list[datetime]] = defaultdict(list)
        now = self.outbox.clock()
        for intent in intents:
            if held(intent, now):  # not late: its deadline is still ahead
                continue
            collection = intent["key"].split("/", 1)[0]
            queued[collection].extend(intent["queued_at"] for _ in intent["events"])
        self.metrics.found(queued, self.outbox.clock())
        self.metrics.parked.set(await self.outbox.parked.count_documents({}))

    async def _release(self, intent: Document) -> str:
        """For held events: "wait" until the deadline, then seal them `sent` ("publish")
        unless withdrawn ("discard", once its writer is done with the intent)."""
        hold = _hold(intent)
        if hold is None:
            return "publish"
        now = self.outbox.clock()
        if now < hold.until:
            fate = (await self.outbox.fates(hold.collection, [hold.fate_id])).get(hold.fate_id)
        else:
            fate = await seal(self.outbox.db, hold, SENT, now)
        if fate == WITHDRAWN:
            writer_done = intent.get("committed") or now - intent["queued_at"] >= self.grace
            return "discard" if writer_done else "wait"
        return "publish" if fate == SENT else "wait"

    async def _settle(self, intent: Document) -> str:
        """ "publish", "wait" (its writer may still be at work) or "discard" (lost)."""
        if intent.get("committed"):
            return "publish"
        if self.outbox.clock() - intent["queued_at"] < self.grace:
            return "wait"
        commit = Commit(intent["commit"]["collection"], intent["commit"]["document"])
        stored = await self.outbox.db[commit.collection].find_one({"_id": commit.document["_id"]})
        if stored is None:  # the writer never committed: commit it now (roll forward)
            with contextlib.suppress(DuplicateKeyError):
                await self.outbox.db[commit.collection].insert_one(
                    {**commit.document, WRITE_ID: intent["_id"]}
                )
            stored = await self.outbox.db[commit.collection].find_one(
                {"_id": commit.document["_id"]}
            )
        if stored is None or stored.get(WRITE_ID) != intent["_id"]:
            log.info("outbox intent lost its race", key=intent["key"], seq=intent["seq"])
            return "discard"
        if intent.get("projection"):
            p = intent["projection"]
            await project(self.outbox.db, Projection(p["collection"], p["doc_id"], p["document"]))
        return "publish"

    async def _publish(self, intents: list[Document]) -> tuple[list[str], list[str]]:
        """Publish every event of `intents`; returns the intents sent and those parked.
        When nothing goes through, the broker is taken to be down and the error raised:
        everything waits for the next pass. An intent that fails while others go through
        is parked at once if the error is about the message, kept for later passes while the
        error is one Kafka marks retriable, else parked after `STRIKES` passes."""
        if not intents:
            return [], []
        messages = [
            (e["topic"], e["key"], e["value"].encode()) for i in intents for e in i["events"]
        ]
        errors = await self.bus.publish_each(messages)
        owners = [i for i in intents for _ in i["events"]]
        failed: dict[str, BaseException] = {}
        for owner, error in zip(owners, errors, strict=True):
            if error is not None:
                failed.setdefault(owner["_id"], error)
        if failed and len(failed) == len(intents) and not all(map(_permanent, failed.values())):
            raise next(iter(failed.values()))
        parked = []
        for intent in intents:
            error = failed.get(intent["_id"])
            if error is None:
                self._strikes.pop(intent["_id"], None)
                continue
            if _transient(error):  # the broker's state, not the message: next pass
                continue
            strikes = self._strikes[intent["_id"]] = self._strikes.get(intent["_id"], 0) + 1
            if _permanent(error) or strikes >= STRIKES:
                await self._park(intent, error)
                self._strikes.pop(intent["_id"], None)
                parked.append(intent["_id"])
        sent = [i["_id"] for i in intents if i["_id"] not in failed]
        return sent, parked

    async def _park(self, intent: Document, error: BaseException) -> None:
        reason = f"{type(error).__name__}: {error}"[:500]
        parked = {**intent, "error": reason, "parked_at": self.outbox.clock()}
        with contextlib.suppress(DuplicateKeyError):
            await self.outbox.parked.insert_one(parked)
        await self.outbox.intents.delete_one({"_id": intent["_id"]})
        log.error(
            "outbox event parked: the broker refuses it",
            key=intent["key"],
            seq=intent["seq"],
            events=[e["event_type"] for e in intent["events"]],
            reason=reason,
        )


def _chains(intents: Iterable[Document]) -> list[list[Document]]:
    """Intents grouped per entity in version order, oldest entity first."""
    chains: dict[str, list[Document]] = defaultdict(list)
    for intent in intents:
        chains[intent["key"]].append(intent)
    ordered = [sorted(c, key=lambda i: (i["seq"], i["queued_at"])) for c in chains.values()]
    return sorted(ordered, key=lambda c: min(i["queued_at"] for i in c))


def _permanent(error: BaseException) -> bool:
    return any(t.__name__ in PERMANENT_ERRORS for t in type(error).__mro__)


def _transient(error: BaseException) -> bool:
    """A broker error Kafka itself marks retriable (a leader moving, a partition not loaded
    yet, a request timing out): the event waits for a later pass however long it lasts, and
    the outbox's age metric and alert say when it lasts too long."""
    return not _permanent(error) and bool(getattr(error, "retriable", False))
