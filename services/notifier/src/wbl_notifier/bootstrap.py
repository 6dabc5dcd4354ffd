"""Notifier's composition: the one place that builds clients and wires the use cases."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from wbl_common.runtime import Runtime, open_runtime
from wbl_notifier.adapters import RegistryDirectory
from wbl_notifier.config import NotifierSettings
from wbl_notifier.handlers import Notifier
from wbl_notifier.store import MongoNotifierStore
from wbl_schemas import topics
from wbl_schemas.topics import TOPIC_SPECS

SPECS = {spec.name: spec for spec in TOPIC_SPECS}


@dataclass
class NotifierService:
    notifier: Notifier
    directory: RegistryDirectory
    runtime: Runtime


@contextlib.asynccontextmanager
async def bootstrap(settings: NotifierSettings) -> AsyncIterator[NotifierService]:
    async with (
        open_runtime("notifier", settings.kafka, settings.mongo) as runtime,
        httpx.AsyncClient(
            base_url=settings.registry.url, timeout=settings.registry.timeout_s
        ) as registry_http,
    ):
        store = MongoNotifierStore(runtime.db)
        await store.ensure_indexes()
        notifier = Notifier(store=store)
        runtime.consume(SPECS[topics.COORDINATORS], notifier.on_coordinator_event)
        runtime.consume(SPECS[topics.MATCHES], notifier.on_match_event)
        runtime.consume(SPECS[topics.PLACEMENTS], notifier.on_placement_event)
        await runtime.start()
        directory = RegistryDirectory(registry_http, settings.registry.identity_cache_s)
        yield NotifierService(notifier=notifier, directory=directory, runtime=runtime)
