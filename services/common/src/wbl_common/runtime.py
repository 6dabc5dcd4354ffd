"""What every service's composition root builds the same way: MongoDB, the Kafka broker,
the outbox relay, metrics (consumer lag included), and the readiness probe."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from wbl_common.bus import (
    BatchHandler,
    Consumer,
    ConsumerRetry,
    EventHandler,
    KafkaBus,
    build_broker,
    subscribe,
)
from wbl_common.config import KafkaSettings, MongoSettings
from wbl_common.idempotency import MongoProcessedEvents
from wbl_common.lag import ConsumerLag
from wbl_common.lease import Lease
from wbl_common.logs import quiet_data_loggers
from wbl_common.metrics import HttpMetrics, ServiceMetrics
from wbl_common.mongo import Document, connect_mongo
from wbl_common.outbox import Outbox, OutboxRelay
from wbl_schemas.topics import TopicSpec

log = structlog.get_logger(__name__)

STOP_STEP_SECONDS = 15.0


@dataclass
class Runtime:
    service: str
    mongo: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    broker: KafkaBroker
    bus: KafkaBus
    metrics: CollectorRegistry
    measures: ServiceMetrics
    lag: ConsumerLag
    processed: MongoProcessedEvents
    relay: OutboxRelay | None = None
    replica: str = field(default_factory=lambda: secrets.token_hex(6))
    retry: ConsumerRetry = field(default_factory=ConsumerRetry)
    broker_started: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _leases: list[Lease] = field(default_factory=list)

    def consume(
        self, topic: TopicSpec, handle: EventHandler, batches: BatchHandler | None = None
    ) -> None:
        """Subscribe `handle` to `topic` in this service's consumer group (before start).
        With `batches`, messages are consumed in batches and handed to it (`handle` takes
        the events one by one when a batch fails, so only a poison event is dead-lettered)."""
        consumer = Consumer(
            name=f"{self.service}.{topic.name}",
            topic=topic,
            handle=handle,
            processed=self.processed,
            dead_letters=self.bus,
            dead_lettered=self.measures.dead_letters,
            retry=self.retry,
            handle_batch=batches,
        )
        subscribe(self.broker, consumer)
        self.lag.watch(consumer.name, topic)

    @property
    def http_metrics(self) -> HttpMetrics:
        """What the HTTP middleware (wbl_common.metrics.install_http_metrics) records into."""
        return self.measures.http

    def relay_outbox(self, outbox: Outbox, collections: Sequence[str]) -> OutboxRelay:
        """Publish what `outbox` holds: one replica at a time, from start until stop. The
        outbox gauges show `collections` (those whose changes carry events) from the start."""
        for name in collections:
            self.measures.outbox.expect(name)
        self.relay = OutboxRelay(
            outbox, self.bus, Lease(self.db, "outbox-relay"), metrics=self.measures.outbox
        )
        return self.relay

    def keep_lease(self, lease: Lease) -> Lease:
        """Hold `lease` from start until stop (then give it up for another replica)."""
        self._leases.append(lease)
        self.spawn(lease.keep, f"lease {lease.name}")
        return lease

    def every(self, seconds: float, work: Callable[[], Awaitable[object]], name: str) -> None:
        """Run `work` now and every `seconds`; a failure is logged and retried next time."""

        async def repeat() -> None:
            while True:
                try:
                    await work()
                except Exception as error:
                    log.warning(f"{name} failed", error=type(error).__name__, detail=str(error))
                await asyncio.sleep(seconds)

        self.spawn(repeat, name)

    def spawn(self, work: Callable[[], Awaitable[None]], name: str) -> None:
        async def guarded() -> None:
            await work()

        self._tasks.append(asyncio.create_task(guarded(), name=name))

    async def ready(self) -> dict[str, str]:
        """Each dependency → "ok" or what is wrong; ready only when all are ok."""
        checks: dict[str, str] = {}
        try:
            # A write, not a ping: a database that answers pings but not writes is not ready.
            await asyncio.wait_for(self._write_probe(), timeout=2)
            checks["mongodb"] = "ok"
        except Exception as error:
            checks["mongodb"] = f"unavailable: {type(error).__name__}"
        if not self.broker_started.is_set():
            checks["kafka"] = "connecting"
        elif await self.broker.ping(timeout=2):
            checks["kafka"] = "ok"
        else:
            checks["kafka"] = "unavailable"
        return checks

    async def detail(self) -> dict[str, object]:
        """What an operator looks at beside readiness: the outbox's backlog and parked events."""
        if self.relay is None:
            return {}
        pending, oldest_s, parked = await asyncio.wait_for(self.relay.outbox.backlog(), 2)
        return {
            "outbox": {"pending": pending, "oldest_pending_s": round(oldest_s, 1), "parked": parked}
        }

    async def _write_probe(self) -> None:
        await self.db["heartbeats"].update_one(
            {"_id": self.replica}, {"$set": {"at": datetime.now(UTC)}}, upsert=True
        )

    async def _connect_broker(self) -> None:
        delay = 0.2
        while True:
            try:
                await self.broker.start()
            except Exception as error:
                log.warning(
                    "kafka not reachable yet", error=type(error).__name__, detail=str(error)[:300]
                )
                with contextlib.suppress(Exception):
                    await self.broker.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.broker_started.set()
            log.info("kafka connected")
            if self.relay is not None:
                self.relay.wake()
            return

    async def _measure_lag(self) -> None:
        await self.broker_started.wait()
        await self.lag.run()

    async def start(self) -> None:
        """Connect to Kafka in the background so HTTP is up (and not ready) meanwhile."""
        await self.processed.ensure_indexes()
        self.spawn(self._connect_broker, "connect-broker")
        self.spawn(self._measure_lag, "consumer-lag")
        if self.relay is not None:
            self.spawn(self.relay.run, "outbox-relay")

    async def stop(self) -> None:
        """Each step is bounded: a peer that stops answering (a consumer group mid-join, a
        stalled database) must not keep the process from exiting. At-least-once delivery
        and the outbox make an unfinished step safe: the work is redone after restart."""
        for task in self._tasks:
            task.cancel()
        await self._bounded(
            "background tasks", asyncio.gather(*self._tasks, return_exceptions=True)
        )
        # Another replica need not wait for our leases to expire.
        leases = [*self._leases, *([self.relay.lease] if self.relay else [])]
        for lease in leases:
            await self._bounded(f"lease {lease.name}", lease.release())
        await self._bounded("kafka", self.broker.stop())
        await self._bounded("mongodb", self.mongo.close())

    @staticmethod
    async def _bounded(step: str, work: Awaitable[object]) -> None:
        # asyncio.wait, not wait_for: wait_for would await a cancellation the stuck step
        # may never honour.
        task = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({task}, timeout=STOP_STEP_SECONDS)
        if not done:
            task.cancel()
            log.warning("shutdown step abandoned", step=step, after_s=STOP_STEP_SECONDS)
        elif not task.cancelled() and (error := task.exception()) is not None:
            log.warning(
                "shutdown step failed",
                step=step,
                error=type(error).__name__,
                detail=str(error)[:300],
            )


@contextlib.asynccontextmanager
async def open_runtime(
    service: str, kafka: KafkaSettings, mongo: MongoSettings
) -> AsyncIterator[Runtime]:
    quiet_data_loggers()
    metrics = CollectorRegistry()
    measures = ServiceMetrics(metrics)
    client = connect_mongo(mongo)
    db = client[mongo.database]
    broker = build_broker(kafka, client_id=f"wbl-{service}", metrics=metrics)
    runtime = Runtime(
        service=service,
        mongo=client,
        db=db,
        broker=broker,
        bus=KafkaBus(broker),
        metrics=metrics,
        measures=measures,
        lag=ConsumerLag(kafka.bootstrap_servers, f"wbl-{service}-lag", measures.consumer_lag),
        processed=MongoProcessedEvents(db),
        retry=ConsumerRetry.of(kafka),
    )
    try:
        yield runtime
    finally:
        await runtime.stop()
