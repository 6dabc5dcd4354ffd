"""End to end through the running system: how long a coordinator waits for a match.

For each of N students registered one after another (``POST /v1/students`` on
registry), the time until the match notification is in the coordinator's inbox
(``GET /v1/inbox`` on notifier, polled every 20 ms). On the way: registry's outbox and
relay, ``wbl.students``, the matcher's burst window (``WBL_MATCHER_BATCH_WINDOW_MS``,
200 ms by default) and round, its outbox, ``wbl.matches``, and notifier's consumer.

Baseline, measured in the same run against the same broker: one bare Kafka round trip
(produce with acks=all, then consume it) on a scratch topic. The pipeline crosses
Kafka twice, so twice the baseline is its floor before any work of ours.

It starts its own Kafka, FerretDB and three services (free ports, a temporary run
directory, empty databases), so earlier data never enlarges the rounds, and stops them
after. Needs what `make up` needs (the cache from `make setup`/`make up`).

    .venv/bin/python bench/bench_pipeline.py [--students N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from _engine_bench import ROOT, machine
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

sys.path.insert(0, str(ROOT / "deploy" / "local"))

import demo  # the scenario's request bodies
import infra
import run_services

FIELD = "robotics-and-automation-technology"


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"p50 {statistics.median(ordered) * 1e3:7.1f} ms, p95 {p95 * 1e3:7.1f} ms, "
        f"max {ordered[-1] * 1e3:7.1f} ms"
    )


async def kafka_round_trips(bootstrap: str, count: int) -> list[float]:
    """Bare produce (acks=all) -> consume round trips on a scratch topic, removed after."""
    topic = f"wbl.bench.{secrets.token_hex(4)}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await producer.start()
    await consumer.start()
    try:
        await producer.send_and_wait(topic, b"warm-up")
        await consumer.getone()
        samples = []
        for n in range(count):
            started = time.perf_counter()
            await producer.send_and_wait(topic, str(n).encode())
            await consumer.getone()
            samples.append(time.perf_counter() - started)
        return samples
    finally:
        await consumer.stop()
        await producer.stop()
        await admin.delete_topics([topic])
        await admin.close()


async def pipeline(registry: str, notifier: str, admin: dict[str, str], count: int) -> list[float]:
    school = f"sch_bench_{secrets.token_hex(3)}"
    async with httpx.AsyncClient(timeout=30) as http:

        async def created(path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
            response = await http.post(f"{registry}{path}", json=body, headers=headers)
            if response.status_code != 201:
                sys.exit(f"error: POST {path} answered {response.status_code}: {response.text}")
            return response.json()

        employer = await created("/v1/employers", {"name": "Bench Robotics"}, admin)
        coordinator = await created(
            "/v1/coordinators", {"name": "Bench", "school_ids": [school]}, admin
        )
        token = {"Authorization": f"Bearer {coordinator['token']}"}
        await created(
            "/v1/openings",
            demo.opening_body(seats=count),
            {"Authorization": f"Bearer {employer['api_key']}"},
        )
        samples = []
        for n in range(count):
            body = demo.student(f"Bench{n}", school, date(2008, 3, 14), [FIELD], school)
            started = time.perf_counter()
            student_id = (await created("/v1/students", body, token))["id"]
            while True:
                inbox = await http.get(f"{notifier}/v1/inbox?size=200", headers=token)
                if any(item["student_id"] == student_id for item in inbox.json()):
                    break
                if time.perf_counter() - started > 30:
                    sys.exit(f"error: no notification for student {n} within 30 s")
                await asyncio.sleep(0.02)
            samples.append(time.perf_counter() - started)
        return samples


@contextlib.contextmanager
def private_system() -> Iterator[tuple[infra.Config, dict[str, str]]]:
    """Kafka, FerretDB and the three services on free ports in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="wbl-bench-") as run_dir:
        kafka, controller, mongo, *http = sorted({infra.free_port() for _ in range(6)})
        config = replace(
            infra.Config.from_env(),
            run_dir=Path(run_dir),
            kafka_port=kafka,
            controller_port=controller,
            mongo_port=mongo,
        )
        env = dict(os.environ)
        env["WBL_RUN_DIR"] = run_dir
        # The benchmarks make up their schools (sch_bench_…, sch_season…): not listed ones.
        env["WBL_REGISTRY_SCHOOLS_LISTED_ONLY"] = "false"
        for name in run_services.SECRETS:
            env[name] = secrets.token_urlsafe(32)
        for service, port in zip(run_services.SERVICES, http, strict=True):
            env[f"{service.prefix}HTTP__PORT"] = str(port)
        # A run stopped with kill or timeout (SIGTERM) unwinds too, so it leaves no servers.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        try:  # a start that fails halfway still stops what it started
            infra.start(config, timeout_s=120)
            yield config, run_services.start(config, env)
        finally:
            run_services.stop(config)
            infra.stop(config)


async def measure(
    config: infra.Config, env: dict[str, str], students: int
) -> tuple[list[float], list[float]]:
    registry, notifier = run_services.SERVICES[0].url(env), run_services.SERVICES[2].url(env)
    admin = {"Authorization": f"Bearer {env['WBL_ADMIN_TOKEN']}"}
    baseline = await kafka_round_trips(config.bootstrap_servers, students)
    return baseline, await pipeline(registry, notifier, admin, students)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    # infra's health checks run their own event loops: start the system outside ours.
    with private_system() as (config, env):
        baseline, ours = asyncio.run(measure(config, env, args.students))
    print(f"{args.students} students, one at a time, registered -> in the coordinator's inbox")
    print(f"  bare Kafka round trip (baseline): {percentiles(baseline)}")
    print(f"  our pipeline:                     {percentiles(ours)}")
    ratio = statistics.median(ours) / statistics.median(baseline)
    print(
        f"  ratio of medians: {ratio:.0f}x the bare round trip (the pipeline crosses Kafka twice)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
