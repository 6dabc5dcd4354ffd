"""The registry app in-process against the real Kafka and FerretDB of the test run."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from tests.support import start_groups_at_the_end
from tests.unit.registry.conftest import ADMIN_TOKEN, bearer, settings
from wbl_common.mongo import Document
from wbl_registry.app import create_app
from wbl_registry.config import RegistrySettings
from wbl_registry.handlers import Registry


@dataclass
class RunningRegistry:
    app: FastAPI
    http: httpx.AsyncClient
    db: AsyncDatabase[Document]

    @property
    def registry(self) -> Registry:
        registry: Registry = self.app.state.registry
        return registry

    async def employer(self, name: str = "Acme") -> dict[str, str]:
        created = await self.http.post(
            "/v1/employers", json={"name": name}, headers=bearer(ADMIN_TOKEN)
        )
        assert created.status_code == 201, created.text
        body: dict[str, str] = created.json()
        return body

    async def coordinator(self, *school_ids: str) -> dict[str, str]:
        created = await self.http.post(
            "/v1/coordinators",
            json={
                "name": "Dana Coordinator",
                "school_ids": list(school_ids),
                "channels": {"email": "dana@school.example.org"},
            },
            headers=bearer(ADMIN_TOKEN),
        )
        assert created.status_code == 201, created.text
        body: dict[str, str] = created.json()
        return body


def integration_settings(
    kafka: str, mongo: str, database: str, **changes: object
) -> RegistrySettings:
    return settings(
        kafka={"bootstrap_servers": kafka, "request_timeout_ms": 5000},
        mongo={"uri": mongo, "database": database, "server_selection_timeout_ms": 5000},
        max_body_bytes=8 * 1024 * 1024,
        # Decisions final at once, unless a test is about undoing them.
        **{"undo_s": 0, **changes},
    )


@pytest.fixture
async def running(kafka_bootstrap: str, mongo_uri: str) -> AsyncIterator[RunningRegistry]:
    async with registry_app(kafka_bootstrap, mongo_uri) as app:
        yield app


@contextlib.asynccontextmanager
async def registry_app(
    kafka_bootstrap: str, mongo_uri: str, **changes: object
) -> AsyncIterator[RunningRegistry]:
    """The app on a fresh database that is left in place afterwards: FerretDB 1.24 can hang
    for good when a database is dropped while a write to it is still in flight, which the
    outbox relay's last write may be as the app stops. The test run directory (removed by
    `make test` before each run) takes the data away."""
    tag = secrets.token_hex(6)
    name = f"test_registry_{tag}"
    # A consumer group of its own: members of earlier tests' apps never share (or delay)
    # this app's group joins, and it hears only what is published from now on.
    consumer = f"registry-test-{tag}"
    await start_groups_at_the_end(kafka_bootstrap, consumer)
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_uri, tz_aware=True)
    app = create_app(
        integration_settings(kafka_bootstrap, mongo_uri, name, consumer_name=consumer, **changes)
    )
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app), base_url="http://registry", timeout=120
            ) as http,
        ):
            yield RunningRegistry(app=app, http=http, db=client[name])
    finally:
        await client.close()
