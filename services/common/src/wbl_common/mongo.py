"""MongoDB client construction; only features FerretDB also serves are used."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from wbl_common.config import MongoSettings

Document = dict[str, Any]


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
    and out-of-date events become no-ops. True when something was written."""
    try:
        result = await collection.update_one(
            {"_id": doc_id, "version": {"$lt": version}},
            {"$set": {**fields, "version": version}},
            upsert=True,
        )
    except DuplicateKeyError:  # the document exists at the same or a newer version
        return False
    return result.modified_count == 1 or result.upserted_id is not None
