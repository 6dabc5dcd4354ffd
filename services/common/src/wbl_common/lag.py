"""Consumer lag, measured at the broker: for each of this service's consumer groups and
each partition of its topic, the end offset minus the group's committed offset. Read from
the broker rather than from the subscribers, so a stuck consumer's lag still grows."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import Gauge

from wbl_schemas.topics import TopicSpec

log = structlog.get_logger(__name__)

SAMPLE_SECONDS = 5.0


@dataclass
class ConsumerLag:
    bootstrap_servers: str
    client_id: str
    gauge: Gauge
    groups: dict[str, TopicSpec] = field(default_factory=dict)  # group id → its topic
    sample_seconds: float = SAMPLE_SECONDS
    _admin: AIOKafkaAdminClient | None = None
    _offsets: AIOKafkaConsumer | None = None

    def watch(self, group: str, topic: TopicSpec) -> None:
        self.groups[group] = topic

    async def run(self) -> None:
        failing = False
        try:
            while True:
                try:
                    await self.sample()
                    failing = False
                except Exception as error:  # broker unreachable: the gauges keep their values
                    await self.close()
                    if not failing:
                        log.warning(
                            "consumer lag not measured",
                            error=type(error).__name__,
                            detail=str(error)[:300],
                        )
                    failing = True
                await asyncio.sleep(self.sample_seconds)
        finally:
            await self.close()

    async def sample(self) -> dict[tuple[str, TopicPartition], int]:
        """Measure every watched group's lag now, set the gauge, and return it."""
        admin, offsets = await self._clients()
        lags: dict[tuple[str, TopicPartition], int] = {}
        for group, topic in self.groups.items():
            partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
            committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
            ends = await offsets.end_offsets(partitions)
            starts = await offsets.beginning_offsets(partitions)
            for tp in partitions:
                position = committed[tp].offset if tp in committed else -1
                # No commit yet: the group starts at the earliest offset (auto_offset_reset).
                lag = max(0, ends[tp] - (position if position >= 0 else starts[tp]))
                self.gauge.labels(group, tp.topic, str(tp.partition)).set(lag)
                lags[(group, tp)] = lag
        return lags

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._offsets is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap_servers, client_id=self.client_id
            )
            offsets = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap_servers,
                client_id=self.client_id,
                enable_auto_commit=False,
            )
            self._admin, self._offsets = admin, offsets
            await admin.start()
            await offsets.start()
        return self._admin, self._offsets

    async def close(self) -> None:
        admin, offsets = self._admin, self._offsets
        self._admin = self._offsets = None
        if offsets is not None:
            with contextlib.suppress(Exception):
                await offsets.stop()
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()
