"""Fixtures for the real servers.

`make test` starts Kafka and FerretDB on their own ports and sets `WBL_TEST_KAFKA_BOOTSTRAP`
and `WBL_TEST_MONGO_URI`. Where those are unset and a Docker engine answers, Kafka and
MongoDB are started with testcontainers instead. Otherwise tests that need them fail with
a message saying how to run them (they are never silently skipped).
"""

from __future__ import annotations

import asyncio
import io
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from tests.support import write_test_reference
from wbl_common.mongo import Document

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "deploy" / "local"))

# Registry refuses school ids its reference does not list; the tests' schools are listed in a
# reference directory of the run, as ops would list theirs. Set before any test module loads
# the reference data, and inherited by every registry process the tests start.
os.environ["WBL_REFERENCE_DIR"] = str(
    write_test_reference(
        Path(os.environ.get("WBL_RUN_DIR") or tempfile.mkdtemp(prefix="wbl-tests-"))
        / f"reference-{os.getpid()}"
    )
)

HOW_TO = "run the suite with `make test`, which starts Kafka and FerretDB for it"

_SESSION_LOOP: list[asyncio.AbstractEventLoop] = []


@pytest.fixture(scope="session", autouse=True)
async def _remember_the_event_loop() -> None:
    _SESSION_LOOP.append(asyncio.get_running_loop())


def pytest_configure(config: pytest.Config) -> None:
    """On a test timeout, pytest-timeout prints every thread's stack; an async test waits
    in the event loop's select, so print where each asyncio task is waiting too."""
    import pytest_timeout  # type: ignore[import-untyped]

    threads_only = pytest_timeout.dump_stacks

    def dump_stacks(terminal: Any) -> None:
        threads_only(terminal)
        for loop in _SESSION_LOOP:
            for task in asyncio.all_tasks(loop):
                terminal.sep("~", title=f"asyncio task {task.get_name()}")
                terminal.write(_awaiting(task.get_coro()))

    pytest_timeout.dump_stacks = dump_stacks


def _awaiting(coro: Any) -> str:
    """The chain of awaits a suspended coroutine is waiting in, outermost first."""
    lines = io.StringIO()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            code = frame.f_code
            lines.write(f"  {code.co_filename}:{frame.f_lineno} in {code.co_name}\n")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return lines.getvalue() or "  (not started or finished)\n"


def _docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    return probe.returncode == 0


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[str, str]]:
    """(Kafka bootstrap address, MongoDB URI) of real servers."""
    kafka = os.environ.get("WBL_TEST_KAFKA_BOOTSTRAP")
    mongo = os.environ.get("WBL_TEST_MONGO_URI")
    if kafka and mongo:
        yield kafka, mongo
        return
    if not _docker_available():
        pytest.fail(f"no Kafka/MongoDB configured and no Docker engine: {HOW_TO}")
    from infra import topics
    from testcontainers.kafka import KafkaContainer
    from testcontainers.mongodb import MongoDbContainer

    with KafkaContainer().with_kraft() as kafka_container, MongoDbContainer() as mongo_container:
        bootstrap = kafka_container.get_bootstrap_server()
        topics.create(bootstrap)
        yield bootstrap, mongo_container.get_connection_url()


@pytest.fixture(scope="session")
def kafka_bootstrap(servers: tuple[str, str]) -> str:
    return servers[0]


@pytest.fixture(scope="session")
def mongo_uri(servers: tuple[str, str]) -> str:
    return servers[1]


@pytest.fixture
async def db(mongo_uri: str) -> AsyncIterator[AsyncDatabase[Document]]:
    """A fresh database per test, dropped afterwards."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_uri, tz_aware=True)
    name = f"test_{secrets.token_hex(6)}"
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()
