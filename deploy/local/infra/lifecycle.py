"""Fetch, start, stop and check every server of an instance (see ``infra.servers``).

Starting runs each server's pipeline (fetch or build, then start) in a thread of its own:
the Kafka jars download, and Kafka formats and starts, while FerretDB compiles.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from infra import topics
from infra.config import HOST, Config
from infra.processes import (
    port_listening,
    read_pid,
    require_free_ports,
    stop_process,
    wait_until,
)
from infra.progress import Progress
from infra.servers import SERVERS, Server

T = TypeVar("T")


def concurrently(jobs: Mapping[str, Callable[[], T]]) -> dict[str, T]:
    """Run every job in its own thread; their results, or the first failure once all end."""
    if not jobs:
        return {}
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
    failures = [f.exception() for f in futures.values() if f.exception() is not None]
    if failures:
        raise failures[0]  # type: ignore[misc]
    return {name: future.result() for name, future in futures.items()}


def fetch(config: Config) -> None:
    """Every server in the cache (downloading or building what is missing, concurrently)."""
    t0 = time.monotonic()
    with Progress() as progress:
        fetched = concurrently({s.name: _bind_fetch(s, config, progress) for s in SERVERS})
    state = "fetched" if any(fetched.values()) else "already cached"
    print(f"{state}: {', '.join(fetched)} ({time.monotonic() - t0:.1f}s)")


def _bind_fetch(server: Server, config: Config, progress: Progress) -> Callable[[], bool]:
    return lambda: server.fetch(config, progress)


def _mark_run_dir(run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    ignore = run_dir / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Runtime state of deploy/local/infra\n*\n")


def start(config: Config, timeout_s: float | None = None) -> None:
    """Start what is not running, wait until every server is healthy, create the topics.

    A server that fails to fetch or start stops the others this call started; one that
    starts but never gets healthy is left running for its log to be read."""
    t0 = time.monotonic()
    _mark_run_dir(config.run_dir)
    running = {s.name: read_pid(s.name, config.run_dir) for s in SERVERS}
    wanted = [s for s in SERVERS if running[s.name] is None]
    require_free_ports({p.variable: p.number for s in wanted for p in s.ports(config)})
    (config.run_dir / "instance.json").write_text(json.dumps(config.ports, indent=2) + "\n")
    with Progress() as progress:
        for server in SERVERS:
            if running[server.name] is not None:
                progress.say(f"{server.name}: already running (pid {running[server.name]})")
        launched: dict[str, int] = {}

        def launch(server: Server) -> None:
            server.fetch(config, progress)
            launched[server.name] = server.start(config)
            progress.say(
                f"{server.name}: started pid {launched[server.name]} on {server.address(config)}"
            )

        try:
            concurrently({s.name: _bind_launch(launch, s) for s in wanted})
        except BaseException:
            for name in launched:
                stop_process(name, config.run_dir)
            raise
        wait_healthy(config, config.health_timeout_s if timeout_s is None else timeout_s, progress)
    topics.ensure(config)
    print(
        f"healthy: kafka {config.bootstrap_servers}, mongodb {config.mongo_url} "
        f"({time.monotonic() - t0:.1f}s)"
    )


def _bind_launch(launch: Callable[[Server], None], server: Server) -> Callable[[], None]:
    return lambda: launch(server)


def wait_healthy(config: Config, timeout_s: float, progress: Progress | None = None) -> None:
    """Poll every server until healthy, sharing one deadline; InfraError otherwise."""
    deadline = time.monotonic() + timeout_s
    for server in SERVERS:
        if progress is not None:
            progress.set(server.name, f"waiting for a {server.health_check} round trip")
        wait_until(
            _bind_health(server, config, deadline),
            max(1.0, deadline - time.monotonic()),
            f"{server.name} on {server.address(config)}",
            abort=_died(server.name, config, starting=progress is not None),
            hint=f"; read {config.log_path(server.name)}",
        )
        if progress is not None:
            progress.finish(server.name, f"healthy ({server.health_check})")


def _bind_health(server: Server, config: Config, deadline: float) -> Callable[[], bool]:
    return lambda: server.healthy(config, max(1.0, min(15.0, deadline - time.monotonic())))


def _died(name: str, config: Config, starting: bool) -> Callable[[], str | None]:
    def check() -> str | None:
        if read_pid(name, config.run_dir) is not None:
            return None
        if starting:
            return f"{name} exited during start-up; read {config.log_path(name)}"
        return (
            f"{name} is not running for run dir {config.run_dir}; start it with "
            f"python deploy/local/infra start (its log: {config.log_path(name)})"
        )

    return check


def stop(config: Config) -> None:
    for server in reversed(SERVERS):
        pid = read_pid(server.name, config.run_dir)
        if stop_process(server.name, config.run_dir, timeout_s=server.stop_timeout_s):
            print(f"{server.name}: stopped (pid {pid})")
        else:
            print(f"{server.name}: not running")


def status(config: Config) -> None:
    print(f"run dir: {config.run_dir}")
    for server in SERVERS:
        pid = read_pid(server.name, config.run_dir)
        listening = ", ".join(
            f"{p.label} {HOST}:{p.number} "
            f"{'listening' if port_listening(p.number) else 'not listening'}"
            for p in server.ports(config)
        )
        state = f"running (pid {pid})" if pid is not None else "not running"
        cached = "" if server.cached(config) else "; not fetched yet"
        print(f"{server.name}: {state}; {listening}{cached}")
    try:
        recorded = json.loads((config.run_dir / "instance.json").read_text())
    except (OSError, ValueError):
        return
    if recorded != config.ports:
        print(f"note: this run dir was last started with {recorded}, not {config.ports}")


def health(config: Config, timeout_s: float | None = None) -> None:
    t0 = time.monotonic()
    wait_healthy(config, config.health_timeout_s if timeout_s is None else timeout_s)
    checks = ", ".join(f"{s.name} {s.address(config)} ({s.health_check})" for s in SERVERS)
    print(f"healthy: {checks} ({time.monotonic() - t0:.1f}s)")
