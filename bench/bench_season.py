"""A season's intake through the running system: class lists of 500 until every student
has exactly one live notification.

It starts its own Kafka, FerretDB and three services (as bench_pipeline.py does), posts
(N + 500)/5 openings of 5 seats over K career fields (a seat for every student),
registers one coordinator per school, and uploads N students as class lists of 500
spread over S schools (two uploads at a time).
It times the intake from the first upload until every student's match notification is in
their coordinator's inbox (read from the notifier's database, so polling does not load
the APIs), counts withdrawals, and samples the registry's and the inbox's API latency
while it runs. Then one more class list of 500 into the loaded system.

The floor, measured in the same run on the same servers after the intake: the same number
of documents written three times one at a time to FerretDB, plus the same number of
messages produced and consumed three times one at a time on Kafka (a registration crosses
the database and the broker about three times on its way to an inbox). The ratio says how
far the pipeline is from doing that work one item at a time.

    .venv/bin/python bench/bench_season.py [--students 20000] [--schools 40] [--fields 4]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import httpx
from _engine_bench import ROOT, machine
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from wbl_common.mongo import Document

sys.path.insert(0, str(ROOT / "deploy" / "local"))

import demo  # the scenario's request bodies
import infra
import run_services
from bench_pipeline import private_system

FIELDS = (
    "robotics-and-automation-technology",
    "carpentry",
    "health-assisting",
    "culinary-arts",
    "marketing",
    "animal-science",
)
CLASS_SIZE = 500
SEATS = 5
TIMEOUT_S = 1_800.0


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] if ordered else 0.0


class Season:
    def __init__(self, registry: str, notifier: str, admin: dict[str, str], mongo: str) -> None:
        self.registry, self.notifier, self.admin = registry, notifier, admin
        self.http = httpx.AsyncClient(timeout=120)
        self.db: AsyncDatabase[Document] = AsyncMongoClient(mongo)["wbl_notifier"]
        self.tokens: dict[str, dict[str, str]] = {}
        self.latency: dict[str, list[float]] = {"registry": [], "inbox": []}

    async def created(self, path: str, body: Any, headers: dict[str, str]) -> Any:
        response = await self.http.post(f"{self.registry}{path}", json=body, headers=headers)
        if response.status_code not in (200, 201):
            sys.exit(f"error: POST {path} answered {response.status_code}: {response.text[:500]}")
        return response.json()

    async def prepare(self, schools: list[str], openings: int, fields: tuple[str, ...]) -> None:
        employer = await self.created("/v1/employers", {"name": "Season Employer"}, self.admin)
        key = {"Authorization": f"Bearer {employer['api_key']}"}
        slots = asyncio.Semaphore(8)

        async def post(n: int) -> None:
            body = {**demo.opening_body(seats=SEATS), "career_field": fields[n % len(fields)]}
            async with slots:
                await self.created("/v1/openings", body, key)

        await asyncio.gather(*(post(n) for n in range(openings)))
        for school in schools:
            body = {"name": f"Coordinator {school}", "school_ids": [school]}
            coordinator = await self.created("/v1/coordinators", body, self.admin)
            self.tokens[school] = {"Authorization": f"Bearer {coordinator['token']}"}

    async def upload(self, school: str, count: int, fields: tuple[str, ...], tag: str) -> None:
        rows = [
            demo.student(
                f"Student{n}",
                f"Class{tag}",
                date(2008, 3, 14),
                [fields[n % len(fields)]],
                school,
                email=f"s{tag}x{n}.{school}@students.example.org",
            )
            for n in range(count)
        ]
        answer = await self.created("/v1/students/bulk", rows, self.tokens[school])
        if answer["errors"] or len(answer["registered"]) != count:
            sys.exit(f"error: class list refused rows: {answer['errors'][:3]}")

    async def live(self) -> tuple[int, int]:
        """(students with a live notification, withdrawals recorded)."""
        withdrawn = {
            doc["match_id"] async for doc in self.db["match_outcomes"].find({"status": "withdrawn"})
        }
        students = set()
        async for doc in self.db["notifications"].find({}, {"student_id": 1, "match_id": 1}):
            if doc["match_id"] not in withdrawn:
                students.add(doc["student_id"])
        return len(students), len(withdrawn)

    async def until_notified(self, total: int, started: float) -> tuple[float, int]:
        last_report = time.perf_counter()
        while True:
            notified, withdrawn = await self.live()
            now = time.perf_counter()
            if notified >= total:
                return now - started, withdrawn
            if now - started > TIMEOUT_S:
                sys.exit(f"error: {notified} of {total} notified after {TIMEOUT_S:.0f} s")
            if now - last_report >= 10:
                print(f"  ... {now - started:6.1f} s: {notified} of {total} notified", flush=True)
                last_report = now
            await asyncio.sleep(0.5)

    async def sample_latency(self, school: str) -> None:
        """Forever: a coordinator's student list at registry and inbox at the notifier."""
        token = self.tokens[school]
        urls = {
            "registry": f"{self.registry}/v1/students?size=50",
            "inbox": f"{self.notifier}/v1/inbox?size=50",
        }
        while True:
            for name, url in urls.items():
                started = time.perf_counter()
                await self.http.get(url, headers=token)
                self.latency[name].append(time.perf_counter() - started)
            await asyncio.sleep(0.25)


async def timed(work: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def floor(mongo: str, bootstrap: str, count: int) -> float:
    """`count` documents written three times one at a time, and `count` messages produced
    and consumed three times one at a time."""
    db: AsyncDatabase[Document] = AsyncMongoClient(mongo)[f"wbl_floor_{secrets.token_hex(3)}"]

    async def writes() -> None:
        for copy in range(3):
            for n in range(count):
                await db["docs"].insert_one({"_id": f"{copy}-{n}", "n": n})

    topic = f"wbl-floor-{secrets.token_hex(3)}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await producer.start()
    await consumer.start()

    async def messages() -> None:
        for _ in range(3):
            for n in range(count):
                await producer.send_and_wait(topic, str(n).encode())
                await consumer.getone()

    try:
        return await timed(writes) + await timed(messages)
    finally:
        await producer.stop()
        await consumer.stop()
        await db.client.drop_database(db.name)


async def season(config: infra.Config, env: dict[str, str], args: argparse.Namespace) -> int:
    registry, notifier = run_services.SERVICES[0].url(env), run_services.SERVICES[2].url(env)
    admin = {"Authorization": f"Bearer {env['WBL_ADMIN_TOKEN']}"}
    s = Season(registry, notifier, admin, config.mongo_url)
    fields = FIELDS[: args.fields]
    schools = [f"sch_season{n:03d}" for n in range(args.schools)]
    # Seats for everyone, the extra class list too: every student can be notified.
    openings = (args.students + CLASS_SIZE) // SEATS
    print(
        f"setting up: {openings} openings of {SEATS} seats over {len(fields)} fields, "
        f"{len(schools)} schools",
        flush=True,
    )
    await s.prepare([*schools, "sch_extra"], openings, fields)
    lists = [(schools[n % len(schools)], n) for n in range(args.students // CLASS_SIZE)]
    sampler = asyncio.create_task(s.sample_latency(schools[0]))
    slots = asyncio.Semaphore(2)

    async def upload(school: str, n: int) -> None:
        async with slots:
            await s.upload(school, CLASS_SIZE, fields, f"{n}")

    print(f"intake: {len(lists)} class lists of {CLASS_SIZE}", flush=True)
    started = time.perf_counter()
    uploads = asyncio.gather(*(upload(school, n) for school, n in lists))
    total = len(lists) * CLASS_SIZE
    intake_s, withdrawn = await s.until_notified(total, started)
    await uploads
    sampler.cancel()
    registry_p99, inbox_p99 = p99(s.latency["registry"]), p99(s.latency["inbox"])
    started = time.perf_counter()
    await s.upload("sch_extra", CLASS_SIZE, fields, "extra")
    extra_s, _ = await s.until_notified(total + CLASS_SIZE, started)
    floor_s = await floor(config.mongo_url, config.bootstrap_servers, total)
    print(f"{total} students in {len(lists)} class lists, {openings} openings")
    print(f"  every student notified:    {intake_s:7.1f} s ({total / intake_s:.0f} students/s)")
    print(f"  floor (same servers, run): {floor_s:7.1f} s  -> ratio {intake_s / floor_s:.2f}x")
    print(f"  withdrawals:               {withdrawn}")
    print(
        f"  registry GET p99:          {registry_p99 * 1e3:7.0f} ms "
        f"({len(s.latency['registry'])} samples, median "
        f"{statistics.median(s.latency['registry'] or [0]) * 1e3:.0f} ms)"
    )
    print(f"  inbox GET p99:             {inbox_p99 * 1e3:7.0f} ms")
    print(f"  one more class list of {CLASS_SIZE} into the loaded system: {extra_s:.1f} s")
    await s.http.aclose()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20_000)
    parser.add_argument("--schools", type=int, default=40)
    parser.add_argument("--fields", type=int, default=4, choices=range(1, len(FIELDS) + 1))
    args = parser.parse_args()
    if args.students % CLASS_SIZE:
        parser.error(f"--students must be a multiple of {CLASS_SIZE}")
    print(f"machine: {machine()}")
    with private_system() as (config, env):
        return asyncio.run(season(config, env, args))


if __name__ == "__main__":
    sys.exit(main())
