"""Helpers shared by the integration and end-to-end tests: deadlines, not sleeps."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import logging
import shutil
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from wbl_schemas.reference import BUNDLED_DIR
from wbl_schemas.topics import TOPIC_SPECS

T = TypeVar("T")
S = TypeVar("S")


async def eventually(
    probe: Callable[[], Awaitable[T]], *, within: float = 30.0, what: str = "condition"
) -> T:
    """Await `probe` until it returns something truthy, or fail after `within` seconds."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} not reached within {within}s (last: {last!r})")


async def read_topic(
    bootstrap: str,
    topic: str,
    until: Callable[[list[ConsumerRecord[Any, Any]]], bool],
    *,
    within: float = 30.0,
) -> list[ConsumerRecord[Any, Any]]:
    """Every record of `topic` from the beginning, read until `until(records)` holds."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[ConsumerRecord[Any, Any]] = []
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for partition_records in batch.values():
                records.extend(partition_records)
            if until(records):
                return records
        raise AssertionError(f"{topic}: condition not met within {within}s ({len(records)} read)")
    finally:
        await consumer.stop()


async def start_groups_at_the_end(bootstrap: str, consumer: str) -> None:
    """Commit the consumer groups of `consumer` at the end of every topic, so a service
    started under that name hears only the events its test publishes from now on."""
    for spec in TOPIC_SPECS:
        group = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=f"{consumer}.{spec.name}",
            enable_auto_commit=False,
        )
        await group.start()
        try:
            partitions = [TopicPartition(spec.name, p) for p in range(spec.partitions)]
            group.assign(partitions)
            ends = await group.end_offsets(partitions)
            await group.commit(dict(ends.items()))
        finally:
            await group.stop()


class _Indexed(Protocol):
    async def ensure_indexes(self) -> None: ...


M = TypeVar("M", bound=_Indexed)


async def contract_store(kind: str, in_memory: Callable[[], S], on_mongo: Callable[[], M]) -> S | M:
    """The store a contract test runs against: the in-memory fake, or the MongoDB store
    (its indexes created) on the test's database."""
    if kind == "memory":
        return in_memory()
    store = on_mongo()
    await store.ensure_indexes()
    return store


# Loggers whose handlers, levels, filters or propagation `configure_logging` changes.
_CONFIGURED_LOGGERS = (
    *("faststream", "faststream.access.kafka", "uvicorn", "uvicorn.error", "uvicorn.access"),
    *("pymongo", "aiokafka", "httpx", "httpcore", "multipart", "python_multipart"),
)
LINE_FIELDS = {"timestamp", "level", "event", "service", "logger"}


@contextlib.contextmanager
def restored_logging() -> Iterator[None]:
    """`configure_logging` changes process-wide state: put it back afterwards."""
    root = logging.getLogger()
    saved_root = (list(root.handlers), root.level)
    saved = {
        name: (list(lg.handlers), lg.propagate, lg.level, list(lg.filters))
        for name in _CONFIGURED_LOGGERS
        for lg in [logging.getLogger(name)]
    }
    saved_hook, saved_structlog = sys.excepthook, structlog.get_config()
    try:
        yield
    finally:
        root.handlers[:], root.level = saved_root
        for name, (handlers, propagate, level, filters) in saved.items():
            lg = logging.getLogger(name)
            lg.handlers[:], lg.filters[:] = handlers, filters
            lg.propagate, lg.level = propagate, level
        sys.excepthook = saved_hook
        logging.captureWarnings(False)
        structlog.configure(**saved_structlog)


def json_lines(text: str) -> list[dict[str, Any]]:
    """Each line of a service's log output, parsed; fails on a line that is not one JSON
    object with the fields every line carries, or on ANSI colours."""
    assert "\x1b[" not in text
    parsed = []
    for line in text.splitlines():
        entry = json.loads(line)
        assert isinstance(entry, dict) and entry.keys() >= LINE_FIELDS, line
        parsed.append(entry)
    return parsed


def standard_webhooks_verifies(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    """Standard Webhooks as its specification reads, written apart from the notifier's
    signer: the key is the secret after `whsec_`, base64-decoded; the signed content is
    `id.timestamp.body`; `webhook-signature` lists space-separated `v1,<base64>`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if not {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(lowered):
        return False
    key = base64.b64decode(secret.split("_", 1)[1])
    content = f"{lowered['webhook-id']}.{lowered['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(f"v1,{expected}", s) for s in lowered["webhook-signature"].split(" ")
    )


# -- the schools tests may name ----------------------------------------------------------------
# Registry refuses a school id its reference data does not list (the default). The suite's
# reference directory (written by tests/conftest.py, named by WBL_REFERENCE_DIR for every
# registry the tests start, in-process or as a process) is the bundled one plus these.
# `sch_invented` is never listed: tests name it to be refused.
TEST_SCHOOLS = (
    *(f"sch_{n}" for n in (1, 2, 3, 9)),
    *(f"sch_{c}" for c in "kpqwxyz"),
    *(
        f"sch_{name}"
        for name in [
            "alone",
            "bad",
            "big",
            "bulk",
            "busy",
            "down",
            "dup",
            "elsewhere",
            "flow",
            "hook",
            "hvac",
            "json",
            "mid",
            "old",
            "openapi_test",
            "other",
            "partner",
            "priv",
            "races",
            "same",
            "small",
            "test",
            "wedge",
        ]
    ),
    # tests/unit/test_event_bounds.py: school ids at their longest (64 characters).
    *(f"sch_{n:03d}_" + "s" * 56 for n in range(400)),
)
# Tests that want a school of their own (e2e and crash systems are shared by many tests) take
# a fresh one: `fresh_school("page")`. Unique within a run, listed in the run's reference.
FRESH_PREFIXES = (
    *("craft", "page", "mail", "season", "ops", "tkt", "rm", "mv", "new", "crash"),
    *("after", "undo", "upload", "outcomes", "roster", "settings"),
    *("reach", "life", "desk", "party"),
)
FRESH_PER_PREFIX = 40
RUN_TAG = f"{time.time_ns() % 10**9:09d}"  # one run's fresh schools differ from another's
_fresh = {prefix: itertools.count() for prefix in FRESH_PREFIXES}


def fresh_school(prefix: str) -> str:
    """A school id of this run's reference that no other test names."""
    n = next(_fresh[prefix])
    assert n < FRESH_PER_PREFIX, f"more than {FRESH_PER_PREFIX} fresh {prefix} schools"
    return f"sch_{prefix}_{RUN_TAG}_{n:02d}"


def schools_for_tests() -> list[str]:
    fresh = [f"sch_{p}_{RUN_TAG}_{n:02d}" for p in FRESH_PREFIXES for n in range(FRESH_PER_PREFIX)]
    return [*TEST_SCHOOLS, *fresh]


def write_test_reference(directory: Path) -> Path:
    """The bundled reference files in `directory`, with the tests' schools added to
    schools.json: what ops do to list a school (an edited copy under WBL_REFERENCE_DIR)."""
    directory.mkdir(parents=True, exist_ok=True)
    for bundled in BUNDLED_DIR.glob("*.json"):
        shutil.copyfile(bundled, directory / bundled.name)
    schools = json.loads((BUNDLED_DIR / "schools.json").read_text())
    schools += [{"code": code, "name": f"Test school {code}"} for code in schools_for_tests()]
    (directory / "schools.json").write_text(json.dumps(schools, indent=1))
    return directory
