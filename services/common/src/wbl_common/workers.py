"""CPU-heavy pure work off the event loop: a bounded pool of worker processes.

A process, not a thread: pydantic and the csv module hold the GIL while they work, so a
thread would still take the loop's CPU; and a process can run at a lower priority. The
pool is bounded twice: `processes` jobs run at once, and at most `waiting` more wait, each
for at most `wait_s`; beyond that a caller gets `WorkersBusy` at once, which HTTP answers
as 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")
WORKER_NICENESS = 10  # added to the service's own (Unix nice: higher runs later)


class WorkerSettings(BaseModel):
    processes: int = Field(default=2, ge=1, le=32, description="Jobs that run at once")
    waiting: int = Field(default=4, ge=0, le=256, description="Jobs that may wait for one")
    wait_s: float = Field(default=30, gt=0, le=600, description="How long one may wait")


class WorkersBusy(Exception):
    """Every worker is busy and the waiting room is full, or the wait ran out."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"all workers are busy; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class Workers(Protocol):
    async def run(self, job: Callable[..., T], *args: object) -> T:
        """`job(*args)` in a worker; `job` and its arguments and result must pickle."""
        ...


@dataclass
class ProcessWorkers:
    settings: WorkerSettings
    _executor: ProcessPoolExecutor = field(init=False)
    _running: asyncio.Semaphore = field(init=False)
    _waiting: int = 0

    def __post_init__(self) -> None:
        self._executor = self._new_executor()
        self._running = asyncio.Semaphore(self.settings.processes)

    def _new_executor(self) -> ProcessPoolExecutor:
        # Spawned, not forked: a fork of a process running an event loop, a database
        # client and Kafka clients would copy their threads' locks mid-use.
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(
            self.settings.processes,
            mp_context=context,
            initializer=_start_worker,
            initargs=(os.getpid(),),
        )

    async def run(self, job: Callable[..., T], *args: object) -> T:
        await self._take_a_place()
        executor = self._executor
        try:
            future = asyncio.get_running_loop().run_in_executor(executor, job, *args)
        except BaseException as error:
            self._running.release()
            raise self._busy_if_broken(error, executor) from None
        # The place is given back when the job ends, not when its caller stops waiting
        # (a client that hangs up): so jobs in the processes never exceed `processes`.
        future.add_done_callback(lambda _: self._running.release())
        try:
            return await asyncio.shield(future)
        except BrokenProcessPool as error:
            raise self._busy_if_broken(error, executor) from None

    def _busy_if_broken(self, error: BaseException, executor: ProcessPoolExecutor) -> BaseException:
        """A worker died (killed, out of memory): that job is lost, and the pool with it;
        later jobs get a new pool, this one a 503."""
        if not isinstance(error, BrokenProcessPool):
            return error
        if self._executor is executor:
            executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
        return WorkersBusy(self._retry_after())

    async def _take_a_place(self) -> None:
        if self._running.locked() and self._waiting >= self.settings.waiting:
            raise WorkersBusy(self._retry_after())
        self._waiting += 1
        try:
            async with asyncio.timeout(self.settings.wait_s):
                await self._running.acquire()
        except TimeoutError:
            raise WorkersBusy(self._retry_after()) from None
        finally:
            self._waiting -= 1

    def _retry_after(self) -> int:
        return max(1, round(self.settings.wait_s))

    async def warm_up(self) -> None:
        """Start every process now (each imports its modules once), not on the first job."""
        loop = asyncio.get_running_loop()
        jobs = [
            loop.run_in_executor(self._executor, _ready) for _ in range(self.settings.processes)
        ]
        await asyncio.gather(*jobs)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _ready() -> None:
    """A job that does nothing: it makes the pool start a process."""


def _start_worker(service_pid: int) -> None:
    """Workers run at a lower priority: on a busy machine the service's own event loop
    (health checks, other requests) is scheduled before them. And they end with the
    service: killed (kill -9), it cannot stop them, and they would wait for work forever."""
    os.nice(WORKER_NICENESS)
    threading.Thread(target=_end_with, args=(service_pid,), daemon=True).start()


def _end_with(service_pid: int) -> None:
    while os.getppid() == service_pid:
        time.sleep(1)
    os._exit(0)


@contextlib.asynccontextmanager
async def open_workers(settings: WorkerSettings) -> AsyncIterator[ProcessWorkers]:
    """The pool, its processes starting in the background; shut down on exit."""
    workers = ProcessWorkers(settings)
    warming = asyncio.create_task(workers.warm_up())
    try:
        yield workers
    finally:
        warming.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await warming
        workers.close()


class InlineWorkers:
    """Runs each job at once, on the caller's thread: for unit tests of the HTTP edge."""

    async def run(self, job: Callable[..., T], *args: object) -> T:
        return job(*args)
