"""Entities that change only through version claims, so a read-modify-write can never
silently overwrite another (ETag / If-Match on the API).

An entity's current document lives in its collection (`_id`, `version`, ...). Creating it is
inserting that document; changing it to version v is inserting the claim `<id>@<v>` (holding
the whole new state) into `<collection>_versions`: of two writers that read version v-1, one
inserts the claim and the other gets a duplicate key. The current document is then brought up
to date; should that step be lost (a crash), a read by id finds the next claim and catches up.
Both writes go through the outbox (`wbl_common.outbox`) with the change's events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from wbl_common.mongo import Document
from wbl_common.outbox import WRITE_ID, Change, Commit, Projection, project
from wbl_schemas.envelope import Envelope

# Fields the outbox keeps on a document for itself, never part of the entity.
BOOKKEEPING = ("_id", WRITE_ID)


def claims_of(collection: str) -> str:
    return f"{collection}_versions"


def claim_id(entity_id: Any, version: int) -> str:
    return f"{entity_id}@{version}"


def created(collection: str, document: Document, events: Sequence[Envelope] = ()) -> Change:
    """A new entity at version 1: its insert is the commit (a duplicate `_id` loses)."""
    return Change(
        key=f"{collection}/{document['_id']}",
        seq=document["version"],
        commit=Commit(collection, document),
        events=tuple(events),
    )


def revised(collection: str, document: Document, events: Sequence[Envelope] = ()) -> Change:
    """`document` at its new version, committed by claiming `<id>@<version>`."""
    entity_id, version = document["_id"], document["version"]
    return Change(
        key=f"{collection}/{entity_id}",
        seq=version,
        commit=Commit(
            claims_of(collection), {"_id": claim_id(entity_id, version), "state": document}
        ),
        events=tuple(events),
        projection=Projection(collection, entity_id, document),
    )


async def current(db: AsyncDatabase[Document], collection: str, entity_id: Any) -> Document | None:
    """The entity's newest committed state, catching its document up on the way."""
    doc = await db[collection].find_one({"_id": entity_id})
    if doc is None:
        return None
    claims = db[claims_of(collection)]
    while True:
        claim = await claims.find_one({"_id": claim_id(entity_id, doc["version"] + 1)})
        if claim is None:
            return doc
        await project(db, Projection(collection, entity_id, claim["state"]))
        doc = {**claim["state"], WRITE_ID: doc.get(WRITE_ID)}


def entity_fields(doc: Document) -> Document:
    """`doc` without the outbox's bookkeeping (and with `_id` as `id`)."""
    return {"id": doc["_id"], **{k: v for k, v in doc.items() if k not in BOOKKEEPING}}
