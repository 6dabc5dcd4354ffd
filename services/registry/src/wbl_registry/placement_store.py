"""A confirmed placement's facts in MongoDB (ADR 6), each inserted once against a unique
`_id` through the outbox (ADR 3): FerretDB does not isolate concurrent updates, so nothing
here updates a document in place.

- `agreements`, `<match>@<text hash>`: the agreement's canonical text (content-addressed;
  the same text is the same document).
- `agreement_issues`, `<match>#<n>`: the n-th issue of the agreement, naming its text hash
  and the contacts the text does not carry (the supervisor's and guardian's email). The
  highest n stands; the commit of `AgreementIssued`. A reissue of an earlier text is a new
  issue naming that text again, so which text is current never depends on insert order.
- `spent_links`, the link's `use_key`: a signature. The spent-link record and the signature
  are one document, so one insert spends the link and records who signed what, when: a
  crash cannot spend a link without its signature, and of two requests with one link
  exactly one signs (the other's insert is a duplicate). A week's verification by the
  supervisor is kept the same way, its use key naming the hash of the week's entries, and
  each evaluation (the ratings and comment), its use key naming "midpoint" or "final".
- `agreements_complete`, `<match>@<text hash>`: every required party signed that text.
- `permits`, `<match>#<n>`: the work permit; a correction is the next n.
- `hours`, `<match>:<day>@<n>`: a day's hours; a correction is the next n, the history kept.
- `placements_ended`, `<match>`: the placement completed or was closed early (with the
  coordinator's reason). One `_id` for both, so a completion and a close that race cannot
  both stand: whichever insert wins is how the placement ended.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from itertools import count
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from wbl_common.mongo import Document, find_by_ids
from wbl_common.outbox import Change, Commit, Outbox
from wbl_schemas.envelope import Envelope

AGREEMENTS = "agreements"
ISSUES = "agreement_issues"
SPENT_LINKS = "spent_links"
COMPLETE = "agreements_complete"
PERMITS = "permits"
HOURS = "hours"
ENDED = "placements_ended"
# Versions are looked up by `_id` (the one filter FerretDB answers from an index), a block
# at a time until one is missing.
PROBE_BLOCK = 8


@dataclass(frozen=True)
class Versioned:
    version: int
    doc: Document


def version_id(base: str, version: int) -> str:
    return f"{base}#{version}"


def hours_id(match_id: str, day: date, version: int) -> str:
    return f"{match_id}:{day.isoformat()}@{version}"


class PlacementStore:
    """The facts over MongoDB; every read is by `_id`, every write an insert."""

    def __init__(self, db: AsyncDatabase[Document], outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox

    async def _write(self, match_id: str, collection: str, doc: Document, event: Envelope) -> bool:
        """Commit one fact with its event; False when the fact was there already."""
        change = Change(
            key=f"placements/{match_id}", seq=0, commit=Commit(collection, doc), events=(event,)
        )
        return await self.outbox.write(change)

    async def _by_ids(self, collection: str, ids: Sequence[str]) -> dict[str, Document]:
        return await find_by_ids(self.db[collection], ids)

    async def _keep(self, collection: str, doc: Document) -> None:
        """Insert a document that carries no event, once (a repeat is the same document)."""
        with contextlib.suppress(DuplicateKeyError):
            await self.db[collection].insert_one(doc)

    async def _latest(self, collection: str, base: str) -> Versioned | None:
        """The highest version `<base>#<n>` stored (versions are inserted 1, 2, ...)."""
        latest: Versioned | None = None
        for start in count(1, PROBE_BLOCK):
            ids = [version_id(base, n) for n in range(start, start + PROBE_BLOCK)]
            found = await self._by_ids(collection, ids)
            for n in range(start, start + PROBE_BLOCK):
                if version_id(base, n) not in found:
                    return latest
                latest = Versioned(n, found[version_id(base, n)])
        return latest  # pragma: no cover (count never ends)

    # -- the agreement

    async def current_issue(self, match_id: str) -> Versioned | None:
        return await self._latest(ISSUES, match_id)

    async def agreement_text(self, match_id: str, text_hash: str) -> str | None:
        doc = (await self._by_ids(AGREEMENTS, [f"{match_id}@{text_hash}"])).get(
            f"{match_id}@{text_hash}"
        )
        return None if doc is None else str(doc["text"])

    async def issue(
        self, match_id: str, version: int, text: str, issue: Document, event: Envelope
    ) -> bool:
        """The text (once per text), then the issue `version` with its event; False when
        another issue took that version first."""
        text_hash = issue["text_hash"]
        await self._keep(
            AGREEMENTS, {"_id": f"{match_id}@{text_hash}", "match_id": match_id, "text": text}
        )
        doc = {"_id": version_id(match_id, version), "match_id": match_id, **issue}
        return await self._write(match_id, ISSUES, doc, event)

    async def spent(self, use_keys: Sequence[str]) -> dict[str, Document]:
        """The signatures and week verifications recorded under these links' use keys."""
        return await self._by_ids(SPENT_LINKS, use_keys)

    async def spend(self, match_id: str, use_key: str, act: Document, event: Envelope) -> bool:
        """Spend the link and record what it did (a signature, a week verified) in one
        insert; False: already spent."""
        return await self._write(match_id, SPENT_LINKS, {"_id": use_key, **act}, event)

    async def is_complete(self, match_id: str, text_hash: str) -> bool:
        return bool(await self._by_ids(COMPLETE, [f"{match_id}@{text_hash}"]))

    async def mark_complete(self, match_id: str, text_hash: str, event: Envelope) -> bool:
        doc = {"_id": f"{match_id}@{text_hash}", "match_id": match_id, "text_hash": text_hash}
        return await self._write(match_id, COMPLETE, doc, event)

    # -- the permit

    async def permit(self, match_id: str) -> Versioned | None:
        return await self._latest(PERMITS, match_id)

    async def record_permit(
        self, match_id: str, version: int, permit: Document, event: Envelope
    ) -> bool:
        doc = {"_id": version_id(match_id, version), "match_id": match_id, **permit}
        return await self._write(match_id, PERMITS, doc, event)

    # -- the end

    async def ending(self, match_id: str) -> Document | None:
        return (await self._by_ids(ENDED, [match_id])).get(match_id)

    async def end(self, match_id: str, ending: Document, event: Envelope) -> bool:
        """Record how the placement ended, once; False when it had ended already."""
        return await self._write(match_id, ENDED, {"_id": match_id, **ending}, event)

    # -- hours

    async def hours(self, match_id: str, days: Sequence[date]) -> dict[date, Versioned]:
        """Each day's standing entry (its highest version), for the days that have one."""
        firsts = await self._by_ids(HOURS, [hours_id(match_id, d, 1) for d in days])
        standing: dict[date, Versioned] = {}
        for day in days:
            first = firsts.get(hours_id(match_id, day, 1))
            if first is not None:
                standing[day] = await self._latest_hours(match_id, day, Versioned(1, first))
        return standing

    async def _latest_hours(self, match_id: str, day: date, latest: Versioned) -> Versioned:
        while True:
            ids = [hours_id(match_id, day, latest.version + i) for i in range(1, PROBE_BLOCK + 1)]
            found = await self._by_ids(HOURS, ids)
            for doc_id in ids:
                if doc_id not in found:
                    return latest
                latest = Versioned(latest.version + 1, found[doc_id])

    async def history(self, match_id: str, day: date, upto: int) -> list[Document]:
        found = await self._by_ids(HOURS, [hours_id(match_id, day, n) for n in range(1, upto + 1)])
        return [found[k] for k in sorted(found, key=lambda k: int(k.rsplit("@", 1)[1]))]

    async def log_hours(
        self, match_id: str, day: date, version: int, entry: dict[str, Any], event: Envelope
    ) -> bool:
        doc = {"_id": hours_id(match_id, day, version), "match_id": match_id, **entry}
        return await self._write(match_id, HOURS, doc, event)


class InMemoryPlacementStore(PlacementStore):
    """The same facts in dictionaries, for unit tests; `events` stands in for the outbox."""

    def __init__(self) -> None:
        self.collections: dict[str, dict[str, Document]] = defaultdict(dict)
        self.events: list[Envelope] = []

    async def _write(self, match_id: str, collection: str, doc: Document, event: Envelope) -> bool:
        stored = self.collections[collection]
        if doc["_id"] in stored:
            return False
        stored[doc["_id"]] = doc
        self.events.append(event)
        return True

    async def _by_ids(self, collection: str, ids: Sequence[str]) -> dict[str, Document]:
        stored = self.collections[collection]
        return {i: stored[i] for i in ids if i in stored}

    async def _keep(self, collection: str, doc: Document) -> None:
        self.collections[collection].setdefault(doc["_id"], doc)
