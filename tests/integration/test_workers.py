"""The worker-process pool behind class lists: jobs run in other processes, at most
`processes` at once and `waiting` more in line; beyond that, or past `wait_s`, a caller is
told at once that the workers are busy; a worker that dies costs one job, not the pool."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

import pytest

from wbl_common.workers import ProcessWorkers, WorkersBusy, WorkerSettings, open_workers
from wbl_registry.bulk import ClassListError, check_class_list

pytestmark = pytest.mark.integration


@pytest.fixture
async def one_worker() -> AsyncIterator[ProcessWorkers]:
    async with open_workers(WorkerSettings(processes=1, waiting=1, wait_s=20)) as workers:
        await workers.warm_up()
        yield workers


async def test_a_job_runs_in_another_process_and_its_refusal_comes_back_whole(
    one_worker: ProcessWorkers,
) -> None:
    assert await one_worker.run(os.getpid) != os.getpid()
    with pytest.raises(ClassListError) as refused:
        await one_worker.run(check_class_list, "json", b'{"not": "a list"}')
    assert (str(refused.value), refused.value.field) == (
        "expected a JSON array of students",
        "body",
    )


async def test_past_the_running_and_the_waiting_a_job_is_refused_at_once(
    one_worker: ProcessWorkers,
) -> None:
    running = asyncio.create_task(one_worker.run(time.sleep, 1.5))
    await asyncio.sleep(0)  # it holds the one process
    waiting = asyncio.create_task(one_worker.run(os.getpid))
    await asyncio.sleep(0)  # it holds the one place in line
    started = time.monotonic()
    with pytest.raises(WorkersBusy) as busy:
        await one_worker.run(os.getpid)
    assert time.monotonic() - started < 0.5
    assert busy.value.retry_after_s == 20
    await running
    assert await waiting != os.getpid()


async def test_a_job_that_waits_longer_than_wait_s_is_refused() -> None:
    async with open_workers(WorkerSettings(processes=1, waiting=4, wait_s=0.5)) as workers:
        running = asyncio.create_task(workers.run(time.sleep, 2))
        await asyncio.sleep(0)
        started = time.monotonic()
        with pytest.raises(WorkersBusy):
            await workers.run(os.getpid)
        assert 0.4 < time.monotonic() - started < 1.5
        await running


async def test_a_worker_that_dies_costs_its_job_and_the_next_job_runs(
    one_worker: ProcessWorkers,
) -> None:
    with pytest.raises(WorkersBusy):
        await one_worker.run(os._exit, 1)
    assert await one_worker.run(os.getpid) != os.getpid()
