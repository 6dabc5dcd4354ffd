"""The servers an instance runs, each behind one interface.

A server module (``kafka``, ``ferretdb``) says how to fetch or build it into the cache,
how to start it, which ports it takes and how to tell it works. Another server (say a
PostgreSQL under FerretDB) is one more module with a ``SERVER`` and a place in
``SERVERS``, placed before what needs it: servers are health-checked in that order and
stopped in reverse.
"""

from __future__ import annotations

from typing import Protocol

from infra import ferretdb, kafka
from infra.config import Config, Port
from infra.progress import Progress


class Server(Protocol):
    name: str  # its pid file and log file are named after it
    stop_timeout_s: float  # how long a clean stop may take before SIGKILL
    health_check: str  # what its health check does, in a few words

    def ports(self, config: Config) -> tuple[Port, ...]: ...

    def address(self, config: Config) -> str:
        """Where clients reach it, e.g. ``mongodb://127.0.0.1:27017/``."""
        ...

    def cached(self, config: Config) -> bool:
        """Whether it is in the cache, ready to start without the network."""
        ...

    def fetch(self, config: Config, progress: Progress) -> bool:
        """Fetch or build it into the cache, reporting progress; False if already there."""
        ...

    def start(self, config: Config) -> int:
        """Start it in the background (it must be fetched); its pid."""
        ...

    def healthy(self, config: Config, attempt_timeout_s: float) -> bool:
        """One real round trip: True when it works, False or an exception when not yet."""
        ...


SERVERS: tuple[Server, ...] = (ferretdb.SERVER, kafka.SERVER)
