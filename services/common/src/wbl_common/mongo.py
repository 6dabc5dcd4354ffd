"""MongoDB client construction; only features FerretDB also serves are used."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from wbl_common.config import MongoSettings

Document = dict[str, Any]
DUPLICATE_KEY = 11000
# FerretDB 1.24 answers from an index only a filter that is exactly `{_id: <value>}` (and that
# only as patched by deploy/local, ADR 1); every other filter, `$in` included, reads the whole
# collection. So batches are read one `_id` at a time, a few at once.
BY_ID_CONCURRENCY = 8


def connect_mongo(settings: MongoSettings) -> AsyncMongoClient[Document]:
    """Build a client; PyMongo connects lazily, so nothing touches the network here."""
    return AsyncMongoClient(
        settings.uri,
        serverSelectionTimeoutMS=settings.server_selection_timeout_ms,
        tz_aware=True,
    )


async def ping(db: AsyncDatabase[Document]) -> None:
    await db.command("ping")


async def upsert_if_newer(
    collection: AsyncCollection[Document], doc_id: str, version: int, fields: Document
) -> bool:
    """Store `fields` at `version` unless that or a newer version is stored; redelivered
    and out-of-date events become no-ops. True when something was written. Read and write
    by `_id` alone (the only filter FerretDB answers from an index)."""
    stored = await collection.find_one({"_id": doc_id}, {"version": 1})
    if stored is not None and stored.get("version", 0) >= version:
        return False
    if stored is None:
        try:
            await collection.insert_one({"_id": doc_id, **fields, "version": version})
            return True
        except DuplicateKeyError:  # written meanwhile: judge that one
            return await upsert_if_newer(collection, doc_id, version, fields)
    await collection.update_one({"_id": doc_id}, {"$set": {**fields, "version": version}})
    return True


async def find_by_ids(
    collection: AsyncCollection[Document], ids: Iterable[Any], projection: Document | None = None
) -> dict[Any, Document]:
    """The documents with these `_id`s (those that exist), by `_id`."""
    wanted = list(dict.fromkeys(ids))
    slots = asyncio.Semaphore(BY_ID_CONCURRENCY)

    async def one(doc_id: Any) -> Document | None:
        async with slots:
            return await collection.find_one({"_id": doc_id}, projection)

    found = await asyncio.gather(*(one(i) for i in wanted))
    return {doc["_id"]: doc for doc in found if doc is not None}


async def insert_each(collection: AsyncCollection[Document], docs: list[Document]) -> list[int]:
    """Insert all (unordered); the positions refused as duplicates. Any other write error
    is raised: the caller must not take it for a lost race."""
    if not docs:
        return []
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as error:
        errors = error.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return sorted(int(e["index"]) for e in errors)
    return []


# How a batch writes an entity: from the stored document (None if unknown), the fields to set.
FieldsFrom = Callable[[Document | None], Document]


async def upsert_all_if_newer(
    collection: AsyncCollection[Document],
    entities: Mapping[str, tuple[int, FieldsFrom]],
    projection: Document,
) -> dict[str, Document]:
    """`upsert_if_newer` for a batch: one read of every `_id`, one insert of the unknown, an
    update each for the newer. Returns each entity's document as it now stands (`projection`
    of the stored one where nothing newer was written), so a redelivered batch reads the
    same as the first."""
    stored = await find_by_ids(collection, entities, {**projection, "version": 1})
    standing: dict[str, Document] = {}
    inserts: list[Document] = []
    for doc_id, (version, fields_from) in entities.items():
        found = stored.get(doc_id)
        if found is not None and found.get("version", 0) >= version:
            standing[doc_id] = found
            continue
        fields = {**fields_from(found), "version": version}
        standing[doc_id] = {"_id": doc_id, **fields}
        if found is None:
            inserts.append(standing[doc_id])
        else:
            await collection.update_one({"_id": doc_id}, {"$set": fields})
    for position in await insert_each(collection, inserts):  # written meanwhile: judge that
        doc_id = inserts[position]["_id"]
        version, fields_from = entities[doc_id]
        found = await collection.find_one({"_id": doc_id})
        await upsert_if_newer(collection, doc_id, version, fields_from(found))
        standing[doc_id] = await collection.find_one({"_id": doc_id}, projection) or {}
    return standing
