"""Matcher's composition: the one place that builds clients and wires the use cases."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from wbl_common.directory import RegistryDirectory
from wbl_common.lease import Lease
from wbl_common.metrics import RoundMetrics
from wbl_common.runtime import Runtime, open_runtime
from wbl_common.workers import open_workers
from wbl_matcher.config import MatcherSettings
from wbl_matcher.handlers import Matcher
from wbl_matcher.store import MongoMatcherStore
from wbl_matcher.why_not_words import Names
from wbl_schemas import topics
from wbl_schemas.reference import load_reference
from wbl_schemas.topics import TOPIC_SPECS

SPECS = {spec.name: spec for spec in TOPIC_SPECS}


@dataclass
class MatcherService:
    matcher: Matcher
    runtime: Runtime
    directory: RegistryDirectory  # vouches for coordinator tokens (why-not)
    names: Names  # reference codes to names, for the coordinator's why-not


@contextlib.asynccontextmanager
async def bootstrap(settings: MatcherSettings) -> AsyncIterator[MatcherService]:
    async with (
        open_runtime(settings.consumer_name, settings.kafka, settings.mongo) as runtime,
        open_workers(settings.rounds) as round_workers,
        httpx.AsyncClient(
            base_url=settings.registry.url, timeout=settings.registry.timeout_s
        ) as registry_http,
    ):
        store = MongoMatcherStore(runtime.db)
        await store.ensure_indexes()
        reference = load_reference()
        rounds_lease = runtime.keep_lease(Lease(runtime.db, "rounds"))
        relay = runtime.relay_outbox(store.outbox, ("proposals", "season"))
        matcher = Matcher(
            store=store,
            related=reference.related_fields,
            seed=settings.lottery_seed,
            written=relay.wake,
            lease=rounds_lease,
            metrics=RoundMetrics(runtime.metrics),
            workers=round_workers,
            offers=settings.offer,
        )
        runtime.consume(
            SPECS[topics.OPENINGS], matcher.on_opening_event, batches=matcher.on_opening_events
        )
        runtime.consume(
            SPECS[topics.STUDENTS], matcher.on_student_event, batches=matcher.on_student_events
        )
        runtime.consume(SPECS[topics.PLACEMENTS], matcher.on_placement_event)
        await runtime.start()
        runtime.spawn(lambda: matcher.run_rounds(settings.batch_window_ms / 1000), "rounds")
        directory = RegistryDirectory(
            registry_http,
            settings.registry.identity_cache_s,
            settings.registry.unknown_token_cache_s,
        )
        yield MatcherService(matcher, runtime, directory, Names.of(reference))
