"""A service's shutdown is bounded even when a dependency stops answering."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from wbl_common import runtime

pytestmark = pytest.mark.unit


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[MutableMapping[str, Any]]]:
    """What runtime logs. Its module logger is cached on first use once another test has
    configured structlog, which capture_logs alone would not see, so it gets a fresh one."""
    with capture_logs() as captured:
        monkeypatch.setattr(runtime, "log", structlog.get_logger(runtime.__name__))
        yield captured


async def _ignores_cancellation(stopped: asyncio.Event) -> None:
    # Like a client library that swallows CancelledError while waiting on its peer.
    while True:
        try:
            await stopped.wait()
            return
        except asyncio.CancelledError:
            continue


async def test_a_step_that_never_finishes_is_abandoned_after_the_bound(
    monkeypatch: pytest.MonkeyPatch, logs: list[MutableMapping[str, Any]]
) -> None:
    monkeypatch.setattr(runtime, "STOP_STEP_SECONDS", 0.2)
    stopped = asyncio.Event()
    started = time.monotonic()
    try:
        await runtime.Runtime._bounded("stuck peer", _ignores_cancellation(stopped))
    finally:
        stopped.set()  # a failed assertion must not leave the stuck task looping
    assert time.monotonic() - started < 2
    assert [(e["event"], e["step"]) for e in logs] == [("shutdown step abandoned", "stuck peer")]


async def test_a_step_that_finishes_is_awaited_to_the_end() -> None:
    finished: list[str] = []

    async def close() -> None:
        await asyncio.sleep(0.05)
        finished.append("closed")

    await runtime.Runtime._bounded("kafka", close())
    assert finished == ["closed"]


async def test_a_failing_step_is_logged_not_raised(logs: list[MutableMapping[str, Any]]) -> None:
    async def broken() -> None:
        raise ConnectionError("peer gone")

    await runtime.Runtime._bounded("kafka", broken())
    assert [(e["event"], e["error"]) for e in logs] == [("shutdown step failed", "ConnectionError")]
