"""A service's shutdown is bounded even when a dependency stops answering."""

from __future__ import annotations

import asyncio
import time

import pytest
from structlog.testing import capture_logs

from wbl_common import runtime

pytestmark = pytest.mark.unit


async def _ignores_cancellation(stopped: asyncio.Event) -> None:
    # Like a client library that swallows CancelledError while waiting on its peer.
    while True:
        try:
            await stopped.wait()
            return
        except asyncio.CancelledError:
            continue


async def test_a_step_that_never_finishes_is_abandoned_after_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime, "STOP_STEP_SECONDS", 0.2)
    stopped = asyncio.Event()
    started = time.monotonic()
    with capture_logs() as logs:
        await runtime.Runtime._bounded("stuck peer", _ignores_cancellation(stopped))
    assert time.monotonic() - started < 2
    assert [(e["event"], e["step"]) for e in logs] == [("shutdown step abandoned", "stuck peer")]
    stopped.set()


async def test_a_step_that_finishes_is_awaited_to_the_end() -> None:
    finished: list[str] = []

    async def close() -> None:
        await asyncio.sleep(0.05)
        finished.append("closed")

    await runtime.Runtime._bounded("kafka", close())
    assert finished == ["closed"]


async def test_a_failing_step_is_logged_not_raised() -> None:
    async def broken() -> None:
        raise ConnectionError("peer gone")

    with capture_logs() as logs:
        await runtime.Runtime._bounded("kafka", broken())
    assert [(e["event"], e["error"]) for e in logs] == [("shutdown step failed", "ConnectionError")]
