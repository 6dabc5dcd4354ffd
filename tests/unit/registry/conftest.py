"""The registry's HTTP app over the in-memory store (no lifespan, so no I/O)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from wbl_common.workers import InlineWorkers
from wbl_registry.app import create_app
from wbl_registry.config import RegistrySettings
from wbl_registry.handlers import Registry
from wbl_registry.party_links import PartyLinks
from wbl_registry.placement_store import InMemoryPlacementStore
from wbl_registry.placements import Placements
from wbl_registry.store import InMemoryRegistryStore
from wbl_registry.work_hours import load_hours_limits
from wbl_schemas.envelope import Envelope
from wbl_schemas.reference import load_reference

ADMIN_TOKEN = "admin-" + "a" * 30
WEBHOOK_KEY = "whk-" + "w" * 40
BODY_LIMIT = 64 * 1024


def settings(**changes: object) -> RegistrySettings:
    return RegistrySettings.model_validate(
        {
            "WBL_ADMIN_TOKEN": ADMIN_TOKEN,
            "WBL_WEBHOOK_KEY": WEBHOOK_KEY,
            "max_body_bytes": BODY_LIMIT,
            "mongo": {"database": "unused"},
            **changes,
        }
    )


@pytest.fixture
def memory_store() -> InMemoryRegistryStore:
    return InMemoryRegistryStore()


@pytest.fixture
def app(memory_store: InMemoryRegistryStore) -> FastAPI:
    app = create_app(settings())
    app.state.registry = Registry(
        store=memory_store, reference=load_reference(), webhook_key=WEBHOOK_KEY
    )
    app.state.class_lists = InlineWorkers()
    app.state.placements = Placements(
        registry=app.state.registry,
        store=InMemoryPlacementStore(),
        links=PartyLinks("links-" + "l" * 40, 3600),
        limits=load_hours_limits(),
    )
    return app


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://registry"
    ) as client:
        yield client


def events_on(store: InMemoryRegistryStore, topic: str) -> list[Envelope]:
    """The events `store` holds for `topic` (creating an employer publishes one too)."""
    return [e for e in store.events if e.topic == topic]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
