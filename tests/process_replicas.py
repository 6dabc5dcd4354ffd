"""Several replicas of one service as real processes (the asyncio flavour of tests.replicas,
which runs whole fleets): one environment (so one database and
one consumer group), each on its own HTTP port with its own log file. A test can kill one
with SIGKILL mid-work, and stops the rest with SIGTERM, as an orchestrator would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support import eventually

STOP_TIMEOUT_S = 30.0


@dataclass
class Replica:
    index: int
    port: int
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no commit, no cleanup, as in a crash."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)


def start_replica(
    command: str, port_variable: str, env: Mapping[str, str], port: int, log: Path, index: int
) -> Replica:
    """Start the console script `command` of the project's venv, listening on `port`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / command)],
            env={**env, port_variable: str(port)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Replica(index=index, port=port, log=log, process=process)


async def wait_ready(replicas: Sequence[Replica], within_s: float = 90.0) -> None:
    async def all_ready() -> bool:
        for replica in replicas:
            if replica.process.poll() is not None:
                raise AssertionError(
                    f"replica {replica.index} exited ({replica.process.returncode}); "
                    f"read {replica.log}"
                )
        answers = await asyncio.gather(*(asyncio.to_thread(r.ready) for r in replicas))
        return all(answers)

    await eventually(all_ready, within=within_s, what="every replica ready")


@contextlib.asynccontextmanager
async def replicas(
    command: str,
    port_variable: str,
    env: Mapping[str, str],
    ports: Sequence[int],
    log_dir: Path,
) -> AsyncIterator[list[Replica]]:
    """`len(ports)` replicas of `command`, ready; all stopped on exit."""
    started: list[Replica] = []
    try:
        for index, port in enumerate(ports):
            log = log_dir / f"{command}-{index}.log"
            started.append(start_replica(command, port_variable, env, port, log, index))
        await wait_ready(started)
        yield started
    finally:
        await asyncio.gather(*(asyncio.to_thread(r.stop) for r in started))


def environment(overrides: Mapping[str, str]) -> dict[str, str]:
    """The test process's environment without any WBL_ setting but the run's reference data
    (tests/conftest.py), plus `overrides`."""
    kept = ("WBL_REFERENCE_DIR",)
    base = {k: v for k, v in os.environ.items() if not k.startswith("WBL_") or k in kept}
    return {**base, **overrides}
