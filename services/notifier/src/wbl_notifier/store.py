"""Notifier persistence: the coordinator directory (from `wbl.coordinators`), the employers'
webhooks (from `wbl.employers`), the matches and their outcomes, the inbox (one notification
per coordinator and match), the deliveries over email and webhook (one per recipient, match,
channel and event type), the claims of their sending attempts and the spent action links.
`InMemoryNotifierStore` keeps the same contract in dicts, for unit tests.

Every "only once" is an insert against a unique key, never check-then-insert and never a
conditional update: FerretDB 1.24 isolates neither across processes, while of concurrent
inserts of one `_id` exactly one wins. For the same reason a document two replicas could
write at once is never updated in a way that loses anything: outcomes are facts of their
own, notifications change only their `updated_at`, and a delivery is written only by the
holder of its current attempt. Lookups are by exact `_id` wherever they are frequent, as
FerretDB scans the collection for any other filter."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from pydantic import TypeAdapter
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from wbl_common.mongo import Document, find_by_ids, insert_each, upsert_if_newer
from wbl_notifier.domain import (
    DIGEST_EVENT,
    AttemptClaim,
    Audience,
    Delivery,
    DeliveryStatus,
    MatchOutcome,
    MatchSummary,
    Notification,
    NotificationStatus,
    OpeningSummary,
    bundled_ids,
    notification_key,
    outcome_keys,
    status_of,
    with_outcomes,
)
from wbl_notifier.parties import PARTIES, recipient
from wbl_schemas.events import CoordinatorProfile, EmployerProfile, MatchProposal, SeasonState

T = TypeVar("T")

NOTIFICATION = TypeAdapter(Notification)
DELIVERY = TypeAdapter(Delivery)
OUTCOME = TypeAdapter(MatchOutcome)
CLAIM = TypeAdapter(AttemptClaim)
OPENING = TypeAdapter(OpeningSummary)
SUMMARIES = TypeAdapter(tuple[MatchSummary, ...])
# Derived from the match's outcomes on every read, so never stored with a notification.
DERIVED = {"status", "history", "decided_by", "reminded_at"}
# An inbox page's cursor: the last item's (created_at, match_id); the page goes on after it.
Cursor = tuple[datetime, str]
INBOX_BATCH = 200  # notifications read at a time when the inbox is filtered by status


class NotifierStore(Protocol):
    async def save_coordinator(self, profile: CoordinatorProfile) -> None: ...

    async def remove_coordinator(self, coordinator_id: str, version: int) -> None: ...

    async def coordinators_of(self, school_id: str) -> list[CoordinatorProfile]: ...

    async def schools_of(self, coordinator_id: str) -> tuple[str, ...] | None: ...

    async def last_profile(self, coordinator_id: str) -> CoordinatorProfile | None:
        """The coordinator's newest profile heard, also once removed (a delivery still
        pending then is signed with the secret generation it last named); None if none."""
        ...

    async def save_employer(self, profile: EmployerProfile) -> None:
        """Keep the newest profile heard (by version); older or repeated ones change nothing."""
        ...

    async def employer(self, employer_id: str) -> EmployerProfile | None: ...

    async def save_season(self, season: SeasonState) -> None:
        """Keep the newest season heard (by version); older or repeated ones change nothing."""
        ...

    async def season(self) -> SeasonState | None: ...

    async def save_matches(self, proposals: Sequence[MatchProposal]) -> None: ...

    async def save_opening(self, opening: OpeningSummary) -> None: ...

    async def openings(self, opening_ids: Sequence[str]) -> dict[str, OpeningSummary]: ...

    async def open_matches_of(self, school_ids: tuple[str, ...]) -> list[MatchProposal]: ...

    async def match(self, match_id: str) -> MatchProposal | None:
        """The match as first proposed; None if its proposal has not reached us."""
        ...

    async def match_status(self, match_id: str) -> NotificationStatus:
        """What the match's outcomes make it (PROPOSED while it has none)."""
        ...

    async def record_outcome(self, outcome: MatchOutcome) -> bool: ...

    async def settled(self, match_ids: list[str]) -> set[str]: ...

    async def add_notifications(self, notifications: list[Notification]) -> int: ...

    async def inbox(
        self,
        coordinator_id: str,
        status: NotificationStatus | None,
        skip: int,
        limit: int,
        schools: tuple[str, ...] | None = None,
        after: Cursor | None = None,
    ) -> list[Notification]: ...

    async def changed_since(
        self, coordinator_id: str, since: datetime, schools: tuple[str, ...] | None = None
    ) -> list[Notification]: ...

    async def offers_ending(self, now: datetime, until: datetime) -> list[Notification]:
        """Notifications whose offer ends after `now` and at or before `until`."""
        ...

    async def record_reminders(self, keys: list[str], at: datetime) -> int:
        """Mark coordinators reminded of matches (`notification_key`s), each once; returns
        how many were new."""
        ...

    async def reminded(self, keys: list[str]) -> dict[str, datetime]:
        """Of `notification_key`s, those reminded, with when."""
        ...

    async def notification(self, coordinator_id: str, match_id: str) -> Notification | None: ...

    async def add_deliveries(self, deliveries: list[Delivery]) -> int: ...

    async def due(self, now: datetime, limit: int) -> list[Delivery]: ...

    async def delivery(self, delivery_id: str) -> Delivery | None: ...

    async def claim_attempt(self, claim: AttemptClaim) -> bool: ...

    async def attempt_claim(self, delivery_id: str, number: int) -> AttemptClaim | None: ...

    async def postpone(self, delivery_id: str, until: datetime) -> None: ...

    async def retry_later(
        self, delivery_id: str, attempts: int, error: str, at: datetime
    ) -> None: ...

    async def finish(self, delivery: Delivery, now: datetime) -> None: ...

    async def undead_lettered(self) -> list[Delivery]: ...

    async def mark_dead_lettered(self, delivery_id: str) -> None: ...

    async def held(self) -> list[Delivery]: ...

    async def set_digest_matches(
        self, delivery_id: str, matches: tuple[MatchSummary, ...]
    ) -> None: ...

    async def bundle(self, delivery_ids: list[str], digest_id: str) -> None: ...

    async def release_digests(self, now: datetime) -> int: ...

    async def deliveries_of(self, coordinator_id: str, match_ids: list[str]) -> list[Delivery]: ...

    async def spend_link(self, use_key: str, now: datetime) -> bool: ...

    async def release_link(self, use_key: str) -> None: ...

    async def link_spent(self, use_key: str) -> bool: ...

    async def follow_placement(self, match_id: str, school_id: str) -> None:
        """Keep that the placement exists (its match and school: nothing personal)."""
        ...

    async def end_placement(self, match_id: str) -> None:
        """The placement completed or closed: its parties are emailed no more."""
        ...

    async def ended_placements(self, match_ids: list[str]) -> set[str]: ...

    async def party_deliveries(self, match_id: str) -> list[Delivery]:
        """The emails to the placement's parties (`parties.py`), whatever their status."""
        ...


DUPLICATE_KEY = 11000


def _inserted_despite_duplicates(error: BulkWriteError) -> int:
    """How many were inserted when only duplicates were refused; any other write error
    is raised, so the consumer redelivers instead of losing the rest."""
    if any(e.get("code") != DUPLICATE_KEY for e in error.details.get("writeErrors", [])):
        raise error
    return int(error.details.get("nInserted", 0))


def _profile(doc: Document) -> CoordinatorProfile:
    return CoordinatorProfile.model_validate(
        {k: v for k, v in doc.items() if k not in ("_id", "removed")}
    )


class MongoNotifierStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.coordinators = db["coordinators"]
        self.notifications = db["notifications"]
        self.matches = db["matches"]
        self.outcomes = db["match_outcomes"]
        self.deliveries = db["deliveries"]
        self.attempts = db["delivery_attempts"]
        self.spent_links = db["spent_links"]
        self.reminders = db["offer_reminders"]
        self.seasons = db["season"]
        self.openings_ = db["openings"]
        self.employers = db["employers"]
        self.placements = db["placements"]  # `_id`: the match; its school
        self.placements_ended = db["placements_ended"]  # `_id`: the match, once ended

    async def ensure_indexes(self) -> None:
        await self.coordinators.create_index("school_ids")
        await self.notifications.create_index(
            [("coordinator_id", ASCENDING), ("match_id", ASCENDING)], unique=True
        )
        await self.notifications.create_index("match_id")
        await self.notifications.create_index("expires_at")
        await self.matches.create_index("school_id")
        await self.notifications.create_index(
            [("coordinator_id", ASCENDING), ("created_at", DESCENDING)]
        )
        await self.notifications.create_index(
            [("coordinator_id", ASCENDING), ("updated_at", ASCENDING)]
        )
        await self.deliveries.create_index(
            [
                ("coordinator_id", ASCENDING),
                ("match_id", ASCENDING),
                ("channel", ASCENDING),
                ("event_type", ASCENDING),
            ],
            unique=True,
        )
        await self.deliveries.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        await self.deliveries.create_index("digest_id")

    # -- coordinators ------------------------------------------------------------------------

    async def save_coordinator(self, profile: CoordinatorProfile) -> None:
        fields = {**profile.model_dump(mode="json", exclude={"version"}), "removed": False}
        await upsert_if_newer(self.coordinators, profile.coordinator_id, profile.version, fields)

    async def remove_coordinator(self, coordinator_id: str, version: int) -> None:
        await upsert_if_newer(self.coordinators, coordinator_id, version, {"removed": True})

    async def schools_of(self, coordinator_id: str) -> tuple[str, ...] | None:
        """The coordinator's schools as last heard: () once removed, None if never heard of."""
        doc = await self.coordinators.find_one({"_id": coordinator_id})
        if doc is None:
            return None
        return () if doc.get("removed") else tuple(doc.get("school_ids", ()))

    async def last_profile(self, coordinator_id: str) -> CoordinatorProfile | None:
        doc = await self.coordinators.find_one({"_id": coordinator_id})
        # A removal heard before any profile stores no profile fields.
        return None if doc is None or "coordinator_id" not in doc else _profile(doc)

    async def coordinators_of(self, school_id: str) -> list[CoordinatorProfile]:
        cursor = self.coordinators.find({"school_ids": school_id, "removed": False})
        return [_profile(doc) async for doc in cursor]

    # -- employers (from `wbl.employers`) ----------------------------------------------------

    async def save_employer(self, profile: EmployerProfile) -> None:
        fields = profile.model_dump(mode="json", exclude={"version"})
        await upsert_if_newer(self.employers, profile.employer_id, profile.version, fields)

    async def employer(self, employer_id: str) -> EmployerProfile | None:
        doc = await self.employers.find_one({"_id": employer_id})
        if doc is None:
            return None
        return EmployerProfile.model_validate({k: v for k, v in doc.items() if k != "_id"})

    # -- the season (from `wbl.seasons`) -----------------------------------------------------

    async def save_season(self, season: SeasonState) -> None:
        fields = season.model_dump(mode="python", exclude={"version"})
        await upsert_if_newer(self.seasons, season.season_id, season.version, fields)

    async def season(self) -> SeasonState | None:
        doc = await self.seasons.find_one({"_id": "current"})
        if doc is None:
            return None
        return SeasonState.model_validate({k: v for k, v in doc.items() if k != "_id"})

    # -- matches and their outcomes ----------------------------------------------------------

    async def save_matches(self, proposals: Sequence[MatchProposal]) -> None:
        """Kept so a coordinator who registers after the match still hears of it; the first
        proposal of a match id stands. One write for a batch."""
        docs = [
            {"_id": p.match_id, "proposal": p.model_dump(mode="json"), "school_id": p.school_id}
            for p in proposals
        ]
        await insert_each(self.matches, docs)

    async def save_opening(self, opening: OpeningSummary) -> None:
        """The latest version heard stands (a replayed older one changes nothing)."""
        fields = OPENING.dump_python(opening, mode="json", exclude={"version"})
        await upsert_if_newer(self.openings_, opening.opening_id, opening.version, fields)

    async def openings(self, opening_ids: Sequence[str]) -> dict[str, OpeningSummary]:
        found = await find_by_ids(self.openings_, opening_ids)
        return {i: OPENING.validate_python(d) for i, d in found.items()}

    async def open_matches_of(self, school_ids: tuple[str, ...]) -> list[MatchProposal]:
        """The schools' matches with no outcome yet."""
        cursor = self.matches.find({"school_id": {"$in": list(school_ids)}})
        proposals = [MatchProposal.model_validate(doc["proposal"]) async for doc in cursor]
        decided = await self._outcomes_of([p.match_id for p in proposals])
        return [p for p in proposals if not decided.get(p.match_id)]

    async def match(self, match_id: str) -> MatchProposal | None:
        doc = await self.matches.find_one({"_id": match_id})
        return None if doc is None else MatchProposal.model_validate(doc["proposal"])

    async def match_status(self, match_id: str) -> NotificationStatus:
        return status_of((await self._outcomes_of([match_id]))[match_id])

    async def record_outcome(self, outcome: MatchOutcome) -> bool:
        """Store the fact once (True the first time), then touch the match's notifications
        so live streams show the change, also when a redelivery finds the fact stored."""
        doc: Document = {"_id": outcome.key, **OUTCOME.dump_python(outcome, mode="python")}
        try:
            await self.outcomes.insert_one(doc)
            recorded = True
        except DuplicateKeyError:
            recorded = False
        await self.notifications.update_many(
            {"match_id": outcome.match_id}, {"$set": {"updated_at": outcome.recorded_at}}
        )
        return recorded

    async def settled(self, match_ids: list[str]) -> set[str]:
        """Of `match_ids`, those withdrawn or decided."""
        return {m for m, outcomes in (await self._outcomes_of(match_ids)).items() if outcomes}

    async def _outcomes_of(self, match_ids: list[str]) -> dict[str, list[MatchOutcome]]:
        found: dict[str, list[MatchOutcome]] = {m: [] for m in match_ids}
        if not match_ids:
            return found
        keys = [key for m in match_ids for key in outcome_keys(m)]
        async for doc in self.outcomes.find({"_id": {"$in": keys}}, {"_id": 0}):
            outcome = OUTCOME.validate_python(doc)
            found.setdefault(outcome.match_id, []).append(outcome)
        return found

    # -- the inbox ---------------------------------------------------------------------------

    async def add_notifications(self, notifications: list[Notification]) -> int:
        if not notifications:
            return 0
        docs = [_notification_doc(n) for n in notifications]
        try:
            result = await self.notifications.insert_many(docs, ordered=False)
            return len(result.inserted_ids)
        except BulkWriteError as error:  # redelivery: the unique key keeps one per coordinator
            return _inserted_despite_duplicates(error)

    async def inbox(
        self,
        coordinator_id: str,
        status: NotificationStatus | None,
        skip: int,
        limit: int,
        schools: tuple[str, ...] | None = None,
        after: Cursor | None = None,
    ) -> list[Notification]:
        newest_first = [("created_at", DESCENDING), ("match_id", ASCENDING)]
        query = _in_schools({"coordinator_id": coordinator_id}, schools)
        if after is not None:
            at, match_id = after
            query["$or"] = [
                {"created_at": {"$lt": at}},
                {"created_at": at, "match_id": {"$gt": match_id}},
            ]
        cursor = self.notifications.find(query).sort(newest_first)
        if status is None:
            return await self._derived(cursor.skip(skip).limit(limit))
        # The status is derived, so a filtered page is found by reading in batches.
        page: list[Notification] = []
        batch: list[Document] = []
        async for doc in cursor:
            batch.append(doc)
            if len(batch) == INBOX_BATCH:
                page += [n for n in await self._with_outcomes(batch) if n.status == status]
                batch = []
                if len(page) >= skip + limit > 0:
                    break
        page += [n for n in await self._with_outcomes(batch) if n.status == status]
        return _page(page, skip, limit)

    async def notification(self, coordinator_id: str, match_id: str) -> Notification | None:
        doc = await self.notifications.find_one({"_id": notification_key(coordinator_id, match_id)})
        return None if doc is None else (await self._with_outcomes([doc]))[0]

    async def changed_since(
        self, coordinator_id: str, since: datetime, schools: tuple[str, ...] | None = None
    ) -> list[Notification]:
        """Notifications created or changed at or after `since`, oldest change first (the
        inbox's live stream polls this; FerretDB serves no change streams)."""
        query = _in_schools(
            {"coordinator_id": coordinator_id, "updated_at": {"$gte": since}}, schools
        )
        cursor = self.notifications.find(query).sort(
            [("updated_at", ASCENDING), ("match_id", ASCENDING)]
        )
        return await self._derived(cursor)

    async def _derived(self, cursor: AsyncIterator[Document]) -> list[Notification]:
        return await self._with_outcomes([doc async for doc in cursor])

    async def _with_outcomes(self, docs: list[Document]) -> list[Notification]:
        outcomes = await self._outcomes_of(sorted({doc["match_id"] for doc in docs}))
        reminded = await self.reminded([doc["_id"] for doc in docs])
        return [
            replace(
                with_outcomes(_notification(doc), outcomes.get(doc["match_id"], [])),
                reminded_at=reminded.get(doc["_id"]),
            )
            for doc in docs
        ]

    # -- reminders before an offer ends ------------------------------------------------------

    async def offers_ending(self, now: datetime, until: datetime) -> list[Notification]:
        cursor = self.notifications.find({"expires_at": {"$gt": now, "$lte": until}})
        return [_notification(doc) async for doc in cursor]

    async def record_reminders(self, keys: list[str], at: datetime) -> int:
        """Inserts against the notifications' keys, so of replicas racing one wins each;
        then the notifications are touched so live inbox streams show the reminders."""
        if not keys:
            return 0
        try:
            result = await self.reminders.insert_many(
                [{"_id": key, "reminded_at": at} for key in keys], ordered=False
            )
            recorded = len(result.inserted_ids)
        except BulkWriteError as error:  # another replica or an earlier sweep wrote some
            recorded = _inserted_despite_duplicates(error)
        await self.notifications.update_many({"_id": {"$in": keys}}, {"$set": {"updated_at": at}})
        return recorded

    async def reminded(self, keys: list[str]) -> dict[str, datetime]:
        if not keys:
            return {}
        cursor = self.reminders.find({"_id": {"$in": keys}})
        return {doc["_id"]: _bson_time(doc["reminded_at"]) async for doc in cursor}

    # -- deliveries --------------------------------------------------------------------------

    async def add_deliveries(self, deliveries: list[Delivery]) -> int:
        if not deliveries:
            return 0
        docs = [_delivery_doc(d) for d in deliveries]
        try:
            result = await self.deliveries.insert_many(docs, ordered=False)
            return len(result.inserted_ids)
        except BulkWriteError as error:  # redelivery or restart: the unique key keeps one
            return _inserted_despite_duplicates(error)

    async def due(self, now: datetime, limit: int) -> list[Delivery]:
        cursor = (
            self.deliveries.find(
                {"status": DeliveryStatus.PENDING.value, "next_attempt_at": {"$lte": now}}
            )
            .sort([("next_attempt_at", ASCENDING)])
            .limit(limit)
        )
        return [_delivery(doc) async for doc in cursor]

    async def delivery(self, delivery_id: str) -> Delivery | None:
        doc = await self.deliveries.find_one({"_id": delivery_id})
        return None if doc is None else _delivery(doc)

    async def claim_attempt(self, claim: AttemptClaim) -> bool:
        """True for the one replica whose insert of this attempt's claim won."""
        doc: Document = {"_id": claim.key, **CLAIM.dump_python(claim, mode="python")}
        try:
            await self.attempts.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def attempt_claim(self, delivery_id: str, number: int) -> AttemptClaim | None:
        doc = await self.attempts.find_one({"_id": f"{delivery_id}#{number}"}, {"_id": 0})
        return None if doc is None else CLAIM.validate_python(doc)

    async def postpone(self, delivery_id: str, until: datetime) -> None:
        await self.deliveries.update_one({"_id": delivery_id}, {"$set": {"next_attempt_at": until}})

    async def retry_later(self, delivery_id: str, attempts: int, error: str, at: datetime) -> None:
        await self.deliveries.update_one(
            {"_id": delivery_id},
            {"$set": {"attempts": attempts, "last_error": error, "next_attempt_at": at}},
        )

    async def finish(self, delivery: Delivery, now: datetime) -> None:
        """Record the outcome on the delivery, on the deliveries a digest bundles, and touch
        the notifications so the inbox's live stream shows it."""
        outcome = {
            "status": delivery.status.value,
            "attempts": delivery.attempts,
            "last_error": delivery.last_error,
        }
        if delivery.event_type == DIGEST_EVENT:
            # The bundled deliveries first: a crash before the digest's own write leaves the
            # digest due, so it is sent again and all of it is recorded then. One by `_id`
            # each, which FerretDB finds without a scan.
            for bundled_id in bundled_ids(delivery):
                await self.deliveries.update_one({"_id": bundled_id}, {"$set": outcome})
        await self.deliveries.update_one({"_id": delivery.delivery_id}, {"$set": outcome})
        keys = [notification_key(delivery.coordinator_id, m.match_id) for m in delivery.matches]
        touch = {"$set": {"updated_at": now}}
        if len(keys) == 1:
            await self.notifications.update_one({"_id": keys[0]}, touch)
        else:
            await self.notifications.update_many({"_id": {"$in": keys}}, touch)

    async def undead_lettered(self) -> list[Delivery]:
        cursor = self.deliveries.find(
            {"status": DeliveryStatus.FAILED.value, "dead_lettered": False}
        )
        return [_delivery(doc) async for doc in cursor]

    async def mark_dead_lettered(self, delivery_id: str) -> None:
        await self.deliveries.update_one({"_id": delivery_id}, {"$set": {"dead_lettered": True}})

    async def held(self) -> list[Delivery]:
        cursor = self.deliveries.find({"status": DeliveryStatus.HELD.value})
        return [_delivery(doc) async for doc in cursor]

    async def set_digest_matches(self, delivery_id: str, matches: tuple[MatchSummary, ...]) -> None:
        await self.deliveries.update_one(
            {"_id": delivery_id}, {"$set": {"matches": SUMMARIES.dump_python(matches)}}
        )

    async def bundle(self, delivery_ids: list[str], digest_id: str) -> None:
        """Held deliveries travel in `digest_id` from now on. Only the digest task writes
        held deliveries, and it runs on one replica at a time (under a lease)."""
        bundled = {"$set": {"status": DeliveryStatus.BUNDLED.value, "digest_id": digest_id}}
        for delivery_id in delivery_ids:  # by `_id`: FerretDB scans for any other filter
            await self.deliveries.update_one({"_id": delivery_id}, bundled)

    async def release_digests(self, now: datetime) -> int:
        """Digests whose matches are bundled become due."""
        result = await self.deliveries.update_many(
            {"event_type": DIGEST_EVENT, "status": DeliveryStatus.HELD.value},
            {"$set": {"status": DeliveryStatus.PENDING.value, "next_attempt_at": now}},
        )
        return result.modified_count

    async def deliveries_of(self, coordinator_id: str, match_ids: list[str]) -> list[Delivery]:
        cursor = self.deliveries.find(
            {"coordinator_id": coordinator_id, "match_id": {"$in": match_ids}}
        ).sort([("channel", ASCENDING), ("event_type", ASCENDING)])
        return [_delivery(doc) async for doc in cursor]

    # -- decision links ----------------------------------------------------------------------

    async def spend_link(self, use_key: str, now: datetime) -> bool:
        """True the first time; the unique `_id` makes a second use fail, even concurrently."""
        try:
            await self.spent_links.insert_one({"_id": use_key, "spent_at": now})
        except DuplicateKeyError:
            return False
        return True

    async def release_link(self, use_key: str) -> None:
        await self.spent_links.delete_one({"_id": use_key})

    async def link_spent(self, use_key: str) -> bool:
        return await self.spent_links.find_one({"_id": use_key}) is not None

    # -- placements, followed for the parties' emails -------------------------------------

    async def follow_placement(self, match_id: str, school_id: str) -> None:
        with contextlib.suppress(DuplicateKeyError):  # inserted once, never updated
            await self.placements.insert_one({"_id": match_id, "school_id": school_id})

    async def end_placement(self, match_id: str) -> None:
        with contextlib.suppress(DuplicateKeyError):  # a fact of its own, inserted once
            await self.placements_ended.insert_one({"_id": match_id})

    async def ended_placements(self, match_ids: list[str]) -> set[str]:
        return set(await find_by_ids(self.placements_ended, match_ids, {"_id": 1}))

    async def party_deliveries(self, match_id: str) -> list[Delivery]:
        # The unique index's leading fields, so FerretDB answers from it.
        cursor = self.deliveries.find(
            {"coordinator_id": {"$in": [recipient(p) for p in PARTIES]}, "match_id": match_id}
        )
        return [_delivery(doc) async for doc in cursor]


def _in_schools(query: Document, schools: tuple[str, ...] | None) -> Document:
    """`query` narrowed to notifications of `schools` (None: no narrowing)."""
    return query if schools is None else {**query, "school_id": {"$in": list(schools)}}


def _notification_doc(notification: Notification) -> Document:
    doc: Document = NOTIFICATION.dump_python(notification, mode="python", exclude=DERIVED)
    doc["_id"] = notification_key(notification.coordinator_id, notification.match_id)
    return doc


def _notification(doc: Document) -> Notification:
    fields = {k: v for k, v in doc.items() if k != "_id" and k not in DERIVED}
    return NOTIFICATION.validate_python({**fields, "status": NotificationStatus.PROPOSED})


def _delivery_doc(delivery: Delivery) -> Document:
    doc: Document = DELIVERY.dump_python(delivery, mode="python")
    doc["_id"] = doc.pop("delivery_id")
    return doc


def _delivery(doc: Document) -> Delivery:
    return DELIVERY.validate_python({**doc, "delivery_id": doc["_id"]})


def _bson_time(moment: datetime) -> datetime:
    """`moment` as MongoDB gives it back: in UTC (naive counts as UTC), to the millisecond
    below, so both stores order and compare times alike."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def _page(items: list[T], skip: int, limit: int) -> list[T]:
    """`limit` 0 means no limit, as in MongoDB."""
    return items[skip : skip + limit] if limit else items[skip:]


@dataclass
class InMemoryNotifierStore:
    """Same contract as the MongoDB store: each unique index is a dict key here, and the
    dicts keep insertion order where MongoDB's order is unspecified."""

    # coordinator_id -> (version, profile); None marks a removal, kept so that an older
    # event arriving late cannot bring the coordinator back.
    coordinators: dict[str, tuple[int, CoordinatorProfile | None]] = field(default_factory=dict)
    last_profiles: dict[str, CoordinatorProfile] = field(default_factory=dict)
    matches: dict[str, MatchProposal] = field(default_factory=dict)
    outcomes: dict[str, MatchOutcome] = field(default_factory=dict)
    notifications: dict[tuple[str, str], Notification] = field(default_factory=dict)
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    attempts: dict[str, AttemptClaim] = field(default_factory=dict)
    spent_links: set[str] = field(default_factory=set)
    placements: dict[str, str] = field(default_factory=dict)  # match id -> school id
    placements_ended: set[str] = field(default_factory=set)
    openings_: dict[str, OpeningSummary] = field(default_factory=dict)
    reminders: dict[str, datetime] = field(default_factory=dict)
    current_season: SeasonState | None = None
    employers: dict[str, EmployerProfile] = field(default_factory=dict)

    async def save_employer(self, profile: EmployerProfile) -> None:
        stored = self.employers.get(profile.employer_id)
        if stored is None or stored.version < profile.version:
            self.employers[profile.employer_id] = profile

    async def employer(self, employer_id: str) -> EmployerProfile | None:
        return self.employers.get(employer_id)

    async def match(self, match_id: str) -> MatchProposal | None:
        return self.matches.get(match_id)

    async def match_status(self, match_id: str) -> NotificationStatus:
        return status_of(self._outcomes_of(match_id))

    async def save_season(self, season: SeasonState) -> None:
        if self.current_season is None or self.current_season.version < season.version:
            self.current_season = season

    async def season(self) -> SeasonState | None:
        return self.current_season

    async def save_coordinator(self, profile: CoordinatorProfile) -> None:
        self._if_newer(profile.coordinator_id, profile.version, profile)

    async def remove_coordinator(self, coordinator_id: str, version: int) -> None:
        self._if_newer(coordinator_id, version, None)

    def _if_newer(
        self, coordinator_id: str, version: int, profile: CoordinatorProfile | None
    ) -> None:
        stored = self.coordinators.get(coordinator_id)
        if stored is None or stored[0] < version:
            self.coordinators[coordinator_id] = (version, profile)
            if profile is not None:
                self.last_profiles[coordinator_id] = profile

    async def schools_of(self, coordinator_id: str) -> tuple[str, ...] | None:
        stored = self.coordinators.get(coordinator_id)
        if stored is None:
            return None
        return () if stored[1] is None else stored[1].school_ids

    async def last_profile(self, coordinator_id: str) -> CoordinatorProfile | None:
        return self.last_profiles.get(coordinator_id)

    async def coordinators_of(self, school_id: str) -> list[CoordinatorProfile]:
        return [
            profile
            for _, profile in self.coordinators.values()
            if profile is not None and school_id in profile.school_ids
        ]

    async def save_matches(self, proposals: Sequence[MatchProposal]) -> None:
        for proposal in proposals:
            self.matches.setdefault(proposal.match_id, proposal)

    async def save_opening(self, opening: OpeningSummary) -> None:
        stored = self.openings_.get(opening.opening_id)
        if stored is None or stored.version < opening.version:
            self.openings_[opening.opening_id] = opening

    async def openings(self, opening_ids: Sequence[str]) -> dict[str, OpeningSummary]:
        return {i: self.openings_[i] for i in opening_ids if i in self.openings_}

    async def open_matches_of(self, school_ids: tuple[str, ...]) -> list[MatchProposal]:
        return [
            proposal
            for proposal in self.matches.values()
            if proposal.school_id in school_ids and not self._outcomes_of(proposal.match_id)
        ]

    async def record_outcome(self, outcome: MatchOutcome) -> bool:
        recorded = outcome.key not in self.outcomes
        if recorded:
            self.outcomes[outcome.key] = replace(
                outcome, recorded_at=_bson_time(outcome.recorded_at)
            )
        for key, n in self.notifications.items():
            if n.match_id == outcome.match_id:
                self.notifications[key] = replace(n, updated_at=_bson_time(outcome.recorded_at))
        return recorded

    async def settled(self, match_ids: list[str]) -> set[str]:
        return {m for m in match_ids if self._outcomes_of(m)}

    def _outcomes_of(self, match_id: str) -> list[MatchOutcome]:
        return [self.outcomes[k] for k in outcome_keys(match_id) if k in self.outcomes]

    def _derived(self, notification: Notification) -> Notification:
        key = notification_key(notification.coordinator_id, notification.match_id)
        return replace(
            with_outcomes(notification, self._outcomes_of(notification.match_id)),
            reminded_at=self.reminders.get(key),
        )

    async def offers_ending(self, now: datetime, until: datetime) -> list[Notification]:
        return [
            n
            for n in self.notifications.values()
            if n.expires_at is not None and now < n.expires_at <= until
        ]

    async def record_reminders(self, keys: list[str], at: datetime) -> int:
        recorded = 0
        for key in keys:
            if key not in self.reminders:
                self.reminders[key] = _bson_time(at)
                recorded += 1
        wanted = set(keys)
        for pair, n in self.notifications.items():
            if notification_key(*pair) in wanted:
                self.notifications[pair] = replace(n, updated_at=_bson_time(at))
        return recorded

    async def reminded(self, keys: list[str]) -> dict[str, datetime]:
        return {k: self.reminders[k] for k in keys if k in self.reminders}

    async def add_notifications(self, notifications: list[Notification]) -> int:
        added = 0
        for n in notifications:
            key = (n.coordinator_id, n.match_id)
            if key not in self.notifications:
                self.notifications[key] = replace(
                    n,
                    status=NotificationStatus.PROPOSED,
                    history=(),
                    reminded_at=None,
                    created_at=_bson_time(n.created_at),
                    updated_at=_bson_time(n.updated_at),
                    expires_at=None if n.expires_at is None else _bson_time(n.expires_at),
                )
                added += 1
        return added

    async def inbox(
        self,
        coordinator_id: str,
        status: NotificationStatus | None,
        skip: int,
        limit: int,
        schools: tuple[str, ...] | None = None,
        after: Cursor | None = None,
    ) -> list[Notification]:
        found = sorted(
            (
                self._derived(n)
                for n in self.notifications.values()
                if n.coordinator_id == coordinator_id
                and (schools is None or n.school_id in schools)
            ),
            key=lambda n: n.match_id,
        )
        found.sort(key=lambda n: n.created_at, reverse=True)  # stable: match_id breaks ties
        if after is not None:
            at, match_id = _bson_time(after[0]), after[1]
            found = [
                n
                for n in found
                if n.created_at < at or (n.created_at == at and n.match_id > match_id)
            ]
        return _page([n for n in found if status is None or n.status == status], skip, limit)

    async def notification(self, coordinator_id: str, match_id: str) -> Notification | None:
        found = self.notifications.get((coordinator_id, match_id))
        return None if found is None else self._derived(found)

    async def changed_since(
        self, coordinator_id: str, since: datetime, schools: tuple[str, ...] | None = None
    ) -> list[Notification]:
        since = _bson_time(since)
        return sorted(
            (
                self._derived(n)
                for n in self.notifications.values()
                if n.coordinator_id == coordinator_id
                and n.updated_at >= since
                and (schools is None or n.school_id in schools)
            ),
            key=lambda n: (n.updated_at, n.match_id),
        )

    async def add_deliveries(self, deliveries: list[Delivery]) -> int:
        keys = {d.key for d in self.deliveries.values()}
        added = 0
        for d in deliveries:
            # Two unique indexes in MongoDB: the `_id` and the delivery's natural key.
            if d.delivery_id in self.deliveries or d.key in keys:
                continue
            self.deliveries[d.delivery_id] = replace(
                d,
                created_at=_bson_time(d.created_at),
                next_attempt_at=_bson_time(d.next_attempt_at),
            )
            keys.add(d.key)
            added += 1
        return added

    async def due(self, now: datetime, limit: int) -> list[Delivery]:
        now = _bson_time(now)
        due = [
            d
            for d in self.deliveries.values()
            if d.status == DeliveryStatus.PENDING and d.next_attempt_at <= now
        ]
        return sorted(due, key=lambda d: d.next_attempt_at)[:limit]

    async def delivery(self, delivery_id: str) -> Delivery | None:
        return self.deliveries.get(delivery_id)

    async def claim_attempt(self, claim: AttemptClaim) -> bool:
        if claim.key in self.attempts:
            return False
        self.attempts[claim.key] = replace(
            claim,
            claimed_at=_bson_time(claim.claimed_at),
            lease_until=_bson_time(claim.lease_until),
        )
        return True

    async def attempt_claim(self, delivery_id: str, number: int) -> AttemptClaim | None:
        return self.attempts.get(f"{delivery_id}#{number}")

    async def postpone(self, delivery_id: str, until: datetime) -> None:
        self._update(delivery_id, next_attempt_at=_bson_time(until))

    async def retry_later(self, delivery_id: str, attempts: int, error: str, at: datetime) -> None:
        self._update(
            delivery_id, attempts=attempts, last_error=error, next_attempt_at=_bson_time(at)
        )

    def _update(self, delivery_id: str, **changes: Any) -> None:
        if delivery_id in self.deliveries:
            self.deliveries[delivery_id] = replace(self.deliveries[delivery_id], **changes)

    async def finish(self, delivery: Delivery, now: datetime) -> None:
        bundled = bundled_ids(delivery) if delivery.event_type == DIGEST_EVENT else []
        for delivery_id in (*bundled, delivery.delivery_id):
            self._update(
                delivery_id,
                status=delivery.status,
                attempts=delivery.attempts,
                last_error=delivery.last_error,
            )
        match_ids = {m.match_id for m in delivery.matches}
        for key, n in self.notifications.items():
            if n.coordinator_id == delivery.coordinator_id and n.match_id in match_ids:
                self.notifications[key] = replace(n, updated_at=_bson_time(now))

    async def undead_lettered(self) -> list[Delivery]:
        return [
            d
            for d in self.deliveries.values()
            if d.status == DeliveryStatus.FAILED and not d.dead_lettered
        ]

    async def mark_dead_lettered(self, delivery_id: str) -> None:
        self._update(delivery_id, dead_lettered=True)

    async def held(self) -> list[Delivery]:
        return [d for d in self.deliveries.values() if d.status == DeliveryStatus.HELD]

    async def set_digest_matches(self, delivery_id: str, matches: tuple[MatchSummary, ...]) -> None:
        self._update(delivery_id, matches=matches)

    async def bundle(self, delivery_ids: list[str], digest_id: str) -> None:
        for delivery_id in delivery_ids:
            self._update(delivery_id, status=DeliveryStatus.BUNDLED, digest_id=digest_id)

    async def release_digests(self, now: datetime) -> int:
        released = [
            d
            for d in self.deliveries.values()
            if d.event_type == DIGEST_EVENT and d.status == DeliveryStatus.HELD
        ]
        for d in released:
            self.deliveries[d.delivery_id] = replace(
                d, status=DeliveryStatus.PENDING, next_attempt_at=_bson_time(now)
            )
        return len(released)

    async def deliveries_of(self, coordinator_id: str, match_ids: list[str]) -> list[Delivery]:
        return sorted(
            (
                d
                for d in self.deliveries.values()
                if d.coordinator_id == coordinator_id and d.match_id in match_ids
            ),
            key=lambda d: (d.channel.value, d.event_type),
        )

    async def spend_link(self, use_key: str, now: datetime) -> bool:
        if use_key in self.spent_links:
            return False
        self.spent_links.add(use_key)
        return True

    async def release_link(self, use_key: str) -> None:
        self.spent_links.discard(use_key)

    async def link_spent(self, use_key: str) -> bool:
        return use_key in self.spent_links

    async def follow_placement(self, match_id: str, school_id: str) -> None:
        self.placements.setdefault(match_id, school_id)

    async def end_placement(self, match_id: str) -> None:
        self.placements_ended.add(match_id)

    async def ended_placements(self, match_ids: list[str]) -> set[str]:
        return {m for m in match_ids if m in self.placements_ended}

    async def party_deliveries(self, match_id: str) -> list[Delivery]:
        return [
            d
            for d in self.deliveries.values()
            if d.match_id == match_id and d.audience is Audience.PARTY
        ]
