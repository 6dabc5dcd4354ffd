"""Kafka down: writes are still accepted; Kafka back: every event arrives exactly once.

Runs its own Kafka and FerretDB (own run directory, free ports) so stopping Kafka never
disturbs the other tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import infra
import pytest
from pymongo import AsyncMongoClient

from tests.integration.registry.conftest import integration_settings
from tests.support import eventually, read_topic
from tests.unit.registry.builders import opening_body, student_body
from tests.unit.registry.conftest import ADMIN_TOKEN, bearer
from wbl_common.mongo import Document
from wbl_registry.app import create_app

pytestmark = pytest.mark.integration

STUDENTS = 12


@pytest.fixture(scope="module")
def private_infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[infra.Config]:
    run_dir = Path(tmp_path_factory.mktemp("outbox-infra"))
    ports = {infra.free_port() for _ in range(3)}
    assert len(ports) == 3
    kafka, controller, mongo = sorted(ports)
    config = replace(
        infra.Config.from_env(),
        run_dir=run_dir,
        kafka_port=kafka,
        controller_port=controller,
        mongo_port=mongo,
    )
    infra.start(config, timeout_s=120)
    try:
        yield config
    finally:
        infra.stop(config)


@pytest.fixture
async def mongo(private_infra: infra.Config) -> AsyncIterator[AsyncMongoClient[Document]]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(private_infra.mongo_url, tz_aware=True)
    yield client
    await client.close()


def kafka_up(config: infra.Config) -> bool:
    return infra.kafka.healthy(config, attempt_timeout_s=5)


@pytest.mark.timeout(420)  # starts its own Kafka and FerretDB, and waits up to 120 s twice
async def test_events_written_while_kafka_is_down_arrive_exactly_once(
    private_infra: infra.Config, mongo: AsyncMongoClient[Document]
) -> None:
    config = private_infra
    app = create_app(
        integration_settings(config.bootstrap_servers, config.mongo_url, "outbox_kafka_down")
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://registry", timeout=60
        ) as http,
    ):
        await eventually(
            lambda: _ready(http), within=60, what="registry connected to the private Kafka"
        )
        assert infra.stop_process(infra.kafka.NAME, config.run_dir, timeout_s=60)

        # Writes are accepted while Kafka is down; their events wait in the outbox.
        admin = bearer(ADMIN_TOKEN)
        employer = (await http.post("/v1/employers", json={"name": "Acme"}, headers=admin)).json()
        coordinator = await http.post(
            "/v1/coordinators", json={"name": "Dana", "school_ids": ["sch_k"]}, headers=admin
        )
        assert coordinator.status_code == 201
        opening = await http.post(
            "/v1/openings", json=opening_body(), headers=bearer(employer["api_key"])
        )
        assert opening.status_code == 201
        token = bearer(coordinator.json()["token"])
        student_ids = set()
        for n in range(STUDENTS):
            created = await http.post(
                "/v1/students", json=student_body("sch_k", f"K{n}"), headers=token
            )
            assert created.status_code == 201, created.text
            student_ids.add(created.json()["id"])
        db = mongo["outbox_kafka_down"]
        waiting = await db["outbox"].find({"key": {"$regex": "^students/"}}).to_list(None)
        assert len(waiting) == STUDENTS

        started = time.monotonic()
        infra.kafka.start(config)
        # infra's health probe runs its own event loop: give it a thread.
        await eventually(
            lambda: asyncio.to_thread(kafka_up, config), within=120, what="Kafka back up"
        )

        async def outboxes_empty() -> bool:
            return await db["outbox"].count_documents({}) == 0

        await eventually(outboxes_empty, within=120, what="every outbox relayed")
        print(f"\noutbox drained {time.monotonic() - started:.1f}s after Kafka was started")

    students = await read_topic(
        config.bootstrap_servers,
        "wbl.students",
        lambda rs: student_ids <= {r.key.decode() for r in rs if r.key},
    )
    openings = await read_topic(
        config.bootstrap_servers,
        "wbl.openings",
        lambda rs: opening.json()["id"] in {r.key.decode() for r in rs if r.key},
    )
    coordinators = await read_topic(
        config.bootstrap_servers,
        "wbl.coordinators",
        lambda rs: coordinator.json()["id"] in {r.key.decode() for r in rs if r.key},
    )
    event_ids = Counter(
        json.loads(r.value)["event_id"] for r in (*students, *openings, *coordinators)
    )
    assert len(event_ids) == STUDENTS + 2
    assert set(event_ids.values()) == {1}, "an event arrived more than once"


async def _ready(http: httpx.AsyncClient) -> bool:
    return (await http.get("/readyz")).status_code == 200
