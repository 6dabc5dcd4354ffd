"""The whole system as real processes for the crash and replica tests: Kafka and FerretDB
of an instance of their own (deploy/local/infra), registry, matcher and notifier replicas
(tests/replicas.py), a burst of registrations, a kill -9 mid-burst, and the accounting of
what every request left behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import infra
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient

from tests.replicas import Fleet, Replica
from tests.support import eventually, fresh_school, start_groups_at_the_end
from tests.unit.registry.builders import FIELD, opening_body, student_body
from wbl_common.mongo import Document
from wbl_common.web import DATABASE_UNREACHABLE
from wbl_schemas.events import MatchProposal, MatchWithdrawal, parse_event

INFRA_CLI = [sys.executable, str(infra.REPO_ROOT / "deploy" / "local" / "infra")]
# Offsets from WBL_TEST_HTTP_BASE, beside the other tests' (1-5, 21-22, 31-32).
KAFKA, CONTROLLER, MONGO, FIRST_SERVICE = 40, 41, 42, 43
SINGLES = 120  # POST /v1/students
CLASS_LISTS, CLASS_SIZE = 4, 20  # POST /v1/students/bulk, JSON arrays
CLIENTS = 6  # requests under way at once
# One opening per career field with a seat for every student of that field: each student
# has one place to go, so a proposal is never moved (the solver moves students between
# full openings as others arrive, which is legitimate but makes each a withdrawal).
FIELDS = (FIELD, "business-technology")
SEATS = 200
REQUEST_TIMEOUT_S = 30.0
UNREACHABLE_RETRY_S = 0.2  # a refused connection was never a request: it is sent again
Target = Literal["registry", "matcher", "notifier", "kafka", "ferretdb"]
# 2xx; another answer; no answer, or the database went away mid-request (its 503 says the
# request may have been saved: "check whether it was saved before sending it again").
Answer = Literal["accepted", "refused", "unknown"]


def http_base() -> int:
    return int(os.environ.get("WBL_TEST_HTTP_BASE", "18000"))


@dataclass(frozen=True)
class Infra:
    """Kafka and FerretDB of the crash tests' own instance, driven by the project's script."""

    env: dict[str, str]

    @classmethod
    def at(cls, run_dir: Path) -> Infra:
        base = http_base()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("WBL_") or k in ("WBL_CACHE_DIR", "WBL_REFERENCE_DIR")
        }
        env.update(
            {
                "WBL_RUN_DIR": str(run_dir),
                "WBL_KAFKA_PORT": str(base + KAFKA),
                "WBL_KAFKA_CONTROLLER_PORT": str(base + CONTROLLER),
                "WBL_MONGO_PORT": str(base + MONGO),
            }
        )
        return cls(env)

    @property
    def config(self) -> infra.Config:
        return infra.Config.from_env(self.env)

    def command(self, name: str) -> None:
        done = subprocess.run(
            [*INFRA_CLI, name], env=self.env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"infra {name}: {done.stdout}{done.stderr}"

    def kill(self, server: Literal["kafka", "ferretdb"]) -> None:
        """kill -9 of the server's process, as a crash of its machine would."""
        pid = infra.read_pid(server, self.config.run_dir)
        assert pid is not None, f"{server} is not running"
        os.kill(pid, signal.SIGKILL)
        infra.wait_until(
            lambda: infra.read_pid(server, self.config.run_dir) is None, 10, f"{server} gone"
        )


@contextlib.contextmanager
def infrastructure(run_dir: Path) -> Iterator[Infra]:
    instance = Infra.at(run_dir)
    instance.command("start")
    try:
        yield instance
    finally:
        instance.command("stop")


@dataclass(frozen=True)
class Registration:
    """One request of the burst: a single student, or a class list of several."""

    number: int
    bodies: tuple[dict[str, Any], ...]

    @property
    def single(self) -> bool:
        return len(self.bodies) == 1


def burst_of(tag: str, school: str) -> list[Registration]:
    """SINGLES single registrations with a class list every SINGLES/CLASS_LISTS of them;
    every email unique to the run."""

    def body(n: int) -> dict[str, Any]:
        return student_body(
            school,
            first=f"S{n}",
            email=f"s{n}.{tag}@pupils.example.org",
            career_fields=[FIELDS[n % len(FIELDS)]],
        )

    requests: list[Registration] = []
    n = 0
    for i in range(SINGLES):
        requests.append(Registration(len(requests), (body(n),)))
        n += 1
        if (i + 1) % (SINGLES // CLASS_LISTS) == 0:
            requests.append(
                Registration(len(requests), tuple(body(n + k) for k in range(CLASS_SIZE)))
            )
            n += CLASS_SIZE
    return requests


@dataclass
class Answers:
    """What each email's request was answered, and the id of each student accepted."""

    by_email: dict[str, Answer] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)  # email -> student id, when accepted
    accepted_count: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def record(self, email: str, answer: Answer, student_id: str | None = None) -> None:
        self.by_email[email] = answer
        if student_id is not None:
            self.ids[email] = student_id
        if answer == "accepted":
            self.accepted_count += 1
            async with self.changed:
                self.changed.notify_all()

    async def wait_accepted(self, count: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: self.accepted_count >= count)

    def of(self, answer: Answer) -> set[str]:
        return {email for email, a in self.by_email.items() if a == answer}


@dataclass
class Scenario:
    """A school with its coordinator, an employer with openings, on one fleet."""

    fleet: Fleet
    tag: str
    school: str
    coordinator_token: str
    coordinator_id: str

    def registry(self, n: int) -> str:
        replicas = self.fleet.of("registry")
        return replicas[n % len(replicas)].url

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.coordinator_token}"}


async def prepare(fleet: Fleet, http: httpx.AsyncClient, coordinator_email: str | None) -> Scenario:
    tag = fleet.tag
    school = fresh_school("crash")
    registry = fleet.of("registry")[0].url
    employer = await http.post(
        f"{registry}/v1/employers", json={"name": f"Crash Works {tag}"}, headers=fleet.admin
    )
    assert employer.status_code == 201, employer.text
    key = {"Authorization": f"Bearer {employer.json()['api_key']}"}
    for career_field in FIELDS:
        posted = await http.post(
            f"{registry}/v1/openings",
            json=opening_body(career_field=career_field, seats=SEATS),
            headers=key,
        )
        assert posted.status_code == 201, posted.text
    channels = {"email": coordinator_email} if coordinator_email else {}
    created = await http.post(
        f"{registry}/v1/coordinators",
        json={"name": "Crash Coordinator", "school_ids": [school], "channels": channels},
        headers=fleet.admin,
    )
    assert created.status_code == 201, created.text
    coordinator = created.json()
    return Scenario(fleet, tag, school, coordinator["token"], coordinator["id"])


async def send(
    scenario: Scenario, http: httpx.AsyncClient, request: Registration, answers: Answers
) -> None:
    """Send until it reaches a registry; then record the answer of each email."""
    emails = [b["email"] for b in request.bodies]
    url = scenario.registry(request.number)
    path, body = (
        ("/v1/students", request.bodies[0])
        if request.single
        else ("/v1/students/bulk", request.bodies)
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            response = await http.post(f"{url}{path}", json=body, headers=scenario.bearer)
            break
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(UNREACHABLE_RETRY_S)  # nothing reached the server: try again
        except httpx.TransportError:  # sent, and no answer: it may or may not be stored
            for email in emails:
                await answers.record(email, "unknown")
            return
    if not response.is_success:
        lost_database = response.status_code == 503 and (
            response.json().get("detail") == DATABASE_UNREACHABLE
        )
        for email in emails:
            await answers.record(email, "unknown" if lost_database else "refused")
        return
    if request.single:
        await answers.record(emails[0], "accepted", response.json()["id"])
        return
    rows = {r["row"]: r["id"] for r in response.json()["registered"]}
    for row, email in enumerate(emails, start=1):
        if row in rows:
            await answers.record(email, "accepted", rows[row])
        else:
            await answers.record(email, "refused")


async def run_burst(scenario: Scenario, requests: list[Registration], answers: Answers) -> None:
    queue: asyncio.Queue[Registration] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)

    async def client() -> None:
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as http:
            while not queue.empty():
                await send(scenario, http, queue.get_nowait(), answers)

    await asyncio.gather(*(client() for _ in range(CLIENTS)))


# -- what the system ended with -----------------------------------------------------------


async def stored_students(
    fleet: Fleet, mongo: str, school: str, emails: set[str]
) -> dict[str, str]:
    """email -> student id of each email whose student registry's database holds."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo, serverSelectionTimeoutMS=5000)
    try:
        db = client[fleet.env["WBL_REGISTRY_MONGO__DATABASE"]]
        keys = [f"{school}|{email}" for email in emails]
        claims = await db["student_emails"].find({"_id": {"$in": keys}}).to_list(None)
        by_id = {c["student_id"]: c["_id"].split("|", 1)[1] for c in claims}
        found = await db["students"].find({"_id": {"$in": list(by_id)}}, {"_id": 1}).to_list(None)
        return {by_id[doc["_id"]]: doc["_id"] for doc in found}
    finally:
        await client.close()


async def live_notifications(scenario: Scenario, http: httpx.AsyncClient) -> Counter[str]:
    """Per student, how many notifications in the coordinator's inbox are still live."""
    notifier = scenario.fleet.of("notifier")[0].url
    live: Counter[str] = Counter()
    page = 1
    while True:
        response = await http.get(
            f"{notifier}/v1/inbox", params={"page": page, "size": 200}, headers=scenario.bearer
        )
        assert response.status_code == 200, response.text
        items = response.json()
        live.update(n["student_id"] for n in items if n["status"] == "proposed")
        if len(items) < 200:
            return live
        page += 1


@dataclass(frozen=True)
class Proposals:
    """What wbl.matches carries for the scenario's students."""

    proposed: dict[str, Counter[str]]  # student -> match id -> MatchProposed records
    withdrawn: dict[str, set[str]]  # student -> withdrawn match ids

    def live(self, student_id: str) -> set[str]:
        return set(self.proposed.get(student_id, {})) - self.withdrawn.get(student_id, set())

    @property
    def copies(self) -> int:
        """Records repeating a proposal already on the topic (same match id)."""
        return sum(n - 1 for c in self.proposed.values() for n in c.values())

    @property
    def withdrawals(self) -> int:
        return sum(len(w) for w in self.withdrawn.values())


async def proposals_on_topic(bootstrap: str, students: set[str]) -> Proposals:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    proposed: dict[str, Counter[str]] = defaultdict(Counter)
    withdrawn: dict[str, set[str]] = defaultdict(set)
    try:
        partitions = [
            TopicPartition("wbl.matches", p)
            for p in consumer.partitions_for_topic("wbl.matches") or {0, 1, 2}
        ]
        end = await consumer.end_offsets(partitions)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        read = dict.fromkeys(partitions, 0)
        while any(read[tp] < end[tp] for tp in partitions):
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for record in records:
                    read[tp] = record.offset + 1
                    payload = parse_event("wbl.matches", record.value).payload
                    if isinstance(payload, MatchProposal) and payload.student_id in students:
                        proposed[payload.student_id][payload.match_id] += 1
                    elif isinstance(payload, MatchWithdrawal) and payload.student_id in students:
                        withdrawn[payload.student_id].add(payload.match_id)
    finally:
        await consumer.stop()
    return Proposals(dict(proposed), dict(withdrawn))


@dataclass(frozen=True)
class Tally:
    """The figures each scenario reports."""

    scenario: str
    requests: int
    accepted: int
    refused: int
    unknown: int
    stored: int
    notified: int
    lost: int
    doubled: int
    half_written: int
    withdrawals: int
    copies: int
    outage_s: float
    recovery_s: float

    def line(self) -> str:
        return (
            f"{self.scenario}: accepted {self.accepted}, notified {self.notified}, "
            f"lost {self.lost}, doubled {self.doubled}, half-written {self.half_written} "
            f"(refused {self.refused}, no answer {self.unknown}, withdrawals {self.withdrawals}, "
            f"repeated records {self.copies}); target down {self.outage_s:.1f}s, "
            f"recovered {self.recovery_s:.1f}s after the burst"
        )


REPORT: list[Tally] = []


@dataclass
class Ending:
    stored: dict[str, str]  # email -> student id
    live: Counter[str]
    proposals: Proposals
    complete_at: float  # time.monotonic() when every stored student had a notification


async def settled(scenario: Scenario, answers: Answers, instance: Infra, within: float) -> Ending:
    """Wait until every stored student has a live notification, then read wbl.matches."""
    emails = set(answers.by_email)
    mongo, bootstrap = instance.config.mongo_url, instance.config.bootstrap_servers
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as http:

        async def complete() -> tuple[dict[str, str], Counter[str]] | None:
            stored = await stored_students(scenario.fleet, mongo, scenario.school, emails)
            live = await live_notifications(scenario, http)
            return (stored, live) if set(stored.values()) <= set(live) else None

        try:
            found = await eventually(complete, within=within, what="every stored student notified")
        except AssertionError as error:
            raise AssertionError(await shortfall(scenario, http, emails, instance)) from error
    assert found is not None
    stored, live = found
    complete_at = time.monotonic()
    proposals = await proposals_on_topic(bootstrap, set(stored.values()))
    return Ending(stored, live, proposals, complete_at)


async def shortfall(
    scenario: Scenario, http: httpx.AsyncClient, emails: set[str], instance: Infra
) -> str:
    """What was missing when the system did not settle in time."""
    config = instance.config
    stored = await stored_students(scenario.fleet, config.mongo_url, scenario.school, emails)
    live = await live_notifications(scenario, http)
    unheard = sorted(set(stored.values()) - set(live))
    proposals = await proposals_on_topic(config.bootstrap_servers, set(unheard))
    client: AsyncMongoClient[Document] = AsyncMongoClient(config.mongo_url)
    try:
        db = client[scenario.fleet.env["WBL_NOTIFIER_MONGO__DATABASE"]]
        kept = await db["notifications"].find({"student_id": {"$in": unheard[:5]}}).to_list(None)
        outcomes = await db["outcomes"].find({}).to_list(None)
        matches = await db["matches"].count_documents({})
    finally:
        await client.close()
    by_match = defaultdict(list)
    for o in outcomes:
        by_match[o.get("match_id")].append(o.get("status"))
    notes = [(n["student_id"], n["match_id"], by_match.get(n["match_id"])) for n in kept]
    return (
        f"notifier holds {matches} matches; its notifications of those: {notes}; "
        f"{len(unheard)} of {len(stored)} stored students have no live notification, e.g. "
        f"{unheard[:5]}; their proposals on wbl.matches: "
        f"{ {s: dict(c) for s, c in list(proposals.proposed.items())[:5]} }, withdrawn: "
        f"{ {s: sorted(w) for s, w in list(proposals.withdrawn.items())[:5]} }"
    )


def tally(name: str, answers: Answers, ending: Ending, outage_s: float, recovery_s: float) -> Tally:
    accepted = answers.of("accepted")
    refused = answers.of("refused")
    stored_ids = set(ending.stored.values())
    lost = {e for e in accepted if answers.ids[e] not in stored_ids}
    lost |= {e for e, sid in ending.stored.items() if ending.live[sid] == 0}
    doubled = {
        sid for sid in stored_ids if ending.live[sid] > 1 or len(ending.proposals.live(sid)) > 1
    }
    return Tally(
        scenario=name,
        requests=len(answers.by_email),
        accepted=len(accepted),
        refused=len(refused),
        unknown=len(answers.of("unknown")),
        stored=len(stored_ids),
        notified=sum(1 for sid in stored_ids if ending.live[sid] == 1),
        lost=len(lost),
        doubled=len(doubled),
        half_written=len(refused & set(ending.stored)),
        withdrawals=ending.proposals.withdrawals,
        copies=ending.proposals.copies,
        outage_s=outage_s,
        recovery_s=recovery_s,
    )


def assert_whole(result: Tally, answers: Answers, ending: Ending) -> None:
    REPORT.append(result)
    # Every 2xx was stored under the id it answered, each stored student has one live
    # notification and one live proposal, and a refused request stored nothing.
    for email in answers.of("accepted"):
        assert ending.stored.get(email) == answers.ids[email], email
    assert (result.lost, result.doubled, result.half_written) == (0, 0, 0), result.line()
    for sid in ending.stored.values():
        assert len(ending.proposals.live(sid)) == 1, (sid, ending.proposals.proposed.get(sid))


# -- fleets ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fleet_of(
    instance: Infra, run_dir: Path, replicas: int, extra: dict[str, str] | None = None
) -> AsyncIterator[Fleet]:
    """Registry, matcher and notifier, `replicas` of each, started and ready; stopped after."""
    config = instance.config
    fleet = Fleet.create(run_dir, config.bootstrap_servers, config.mongo_url, extra=extra)
    for service in ("registry", "matcher", "notifier"):
        await start_groups_at_the_end(
            config.bootstrap_servers, fleet.env[f"WBL_{service.upper()}_CONSUMER_NAME"]
        )
    port = http_base() + FIRST_SERVICE
    for service in ("registry", "matcher", "notifier"):
        for _ in range(replicas):
            fleet.add(service, port)
            port += 1
    try:
        await asyncio.gather(*(asyncio.to_thread(fleet.start, r) for r in fleet.replicas))
        yield fleet
    finally:
        await asyncio.to_thread(fleet.stop_all)


def crash(instance: Infra, fleet: Fleet, target: Target) -> Callable[[], float]:
    """Kill the target now; returns the restart, which gives the seconds it was down."""
    killed = time.monotonic()
    replica: Replica | None = None
    if target in ("kafka", "ferretdb"):
        instance.kill(target)
    else:
        replica = fleet.of(target)[0]
        fleet.kill(replica)

    def restart() -> float:
        if replica is None:
            instance.command("start")  # starts what is not running, waits until healthy
        else:
            fleet.start(replica)
        return time.monotonic() - killed

    return restart
