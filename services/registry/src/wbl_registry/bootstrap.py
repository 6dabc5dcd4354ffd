"""Registry's composition: the one place that builds clients and wires the use cases."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from wbl_common.runtime import Runtime, open_runtime
from wbl_common.secrets import derive_secret
from wbl_registry.config import RegistrySettings
from wbl_registry.evaluations import load_competencies
from wbl_registry.handlers import Registry
from wbl_registry.party_links import PartyLinks
from wbl_registry.placement_store import PlacementStore
from wbl_registry.placements import Placements
from wbl_registry.store import MongoRegistryStore
from wbl_registry.work_hours import load_hours_limits
from wbl_schemas import topics
from wbl_schemas.reference import load_reference
from wbl_schemas.topics import TOPIC_SPECS

SPECS = {spec.name: spec for spec in TOPIC_SPECS}
DECISION_SWEEP_S = 15.0


@dataclass
class RegistryService:
    registry: Registry
    runtime: Runtime
    placements: Placements


@contextlib.asynccontextmanager
async def bootstrap(settings: RegistrySettings) -> AsyncIterator[RegistryService]:
    async with open_runtime(settings.consumer_name, settings.kafka, settings.mongo) as runtime:
        store = MongoRegistryStore(runtime.db)
        await store.ensure_indexes()
        relay = runtime.relay_outbox(
            store.outbox,
            ("coordinators", "employers", "openings", "students", "matches", "placements"),
        )
        registry = Registry(
            store=store,
            reference=load_reference(),
            written=relay.wake,
            webhook_key=settings.webhook_key.get_secret_value(),
            report_min_group=settings.report_min_group,
            school_year_start_month=settings.school_year_start_month,
            webhook_loopback=settings.webhook_loopback,
            webhook_grace=timedelta(seconds=settings.webhook_grace_s),
            schools_listed_only=settings.schools_listed_only,
            undo_window=timedelta(seconds=settings.undo_s),
        )
        placements = Placements(
            registry=registry,
            store=PlacementStore(runtime.db, store.outbox),
            links=PartyLinks(link_key(settings), settings.party_link_ttl_s),
            limits=load_hours_limits(),
            written=relay.wake,
            competencies=load_competencies(),
        )
        runtime.consume(
            SPECS[topics.MATCHES], registry.on_match_event, batches=registry.on_match_events
        )
        await runtime.start()
        # Decisions a crash interrupted take (or give back) their seat.
        runtime.every(DECISION_SWEEP_S, registry.resume_decisions, "decision sweep")
        yield RegistryService(registry=registry, runtime=runtime, placements=placements)


def link_key(settings: RegistrySettings) -> str:
    """WBL_REGISTRY_LINK_KEY, else a key derived from WBL_WEBHOOK_KEY for this one purpose."""
    if settings.link_key is not None:
        return settings.link_key.get_secret_value()
    return derive_secret(settings.webhook_key.get_secret_value(), "party-link", "registry")
