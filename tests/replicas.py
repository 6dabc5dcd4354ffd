"""Services as real processes, several replicas each, for race, crash and replica tests:
start them, wait until ready, kill -9 one, start it again."""

from __future__ import annotations

import os
import secrets
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import infra

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Replica:
    service: str  # registry, matcher or notifier
    index: int
    port: int

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Fleet:
    """Replicas of the services sharing one set of databases and consumer groups."""

    run_dir: Path
    env: dict[str, str]
    tag: str  # in its databases' and consumer groups' names
    replicas: list[Replica] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        run_dir: Path,
        kafka: str,
        mongo: str,
        tag: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> Fleet:
        tag = tag or secrets.token_hex(4)
        env = dict(os.environ)
        env.update(
            {
                "WBL_ADMIN_TOKEN": secrets.token_urlsafe(24),
                "WBL_WEBHOOK_KEY": secrets.token_urlsafe(32),
                "WBL_NOTIFIER_LINK_SECRET": secrets.token_urlsafe(24),
                "WBL_MATCHER_BATCH_WINDOW_MS": "50",
            }
        )
        for service in ("registry", "matcher", "notifier"):
            prefix = f"WBL_{service.upper()}_"
            env[f"{prefix}KAFKA__BOOTSTRAP_SERVERS"] = kafka
            env[f"{prefix}MONGO__URI"] = mongo
            env[f"{prefix}MONGO__DATABASE"] = f"fleet_{tag}_{service}"
            env[f"{prefix}CONSUMER_NAME"] = f"fleet-{tag}-{service}"
        env.update(extra or {})
        return cls(run_dir=run_dir, env=env, tag=tag)

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.env['WBL_ADMIN_TOKEN']}"}

    def add(self, service: str, port: int) -> Replica:
        index = sum(1 for r in self.replicas if r.service == service)
        replica = Replica(service, index, port)
        self.replicas.append(replica)
        return replica

    def of(self, service: str) -> list[Replica]:
        return [r for r in self.replicas if r.service == service]

    def start(self, replica: Replica, within: float = 60) -> None:
        env = dict(self.env)
        env[f"WBL_{replica.service.upper()}_HTTP__PORT"] = str(replica.port)
        if replica.service == "notifier" and "WBL_NOTIFIER_REGISTRY__URL" not in env:
            env["WBL_NOTIFIER_REGISTRY__URL"] = self.of("registry")[0].url
        infra.start_process(
            replica.name,
            [str(BIN / f"wbl-{replica.service}")],
            env,
            self.run_dir,
            self.run_dir / "logs" / f"{replica.name}.log",
        )
        self.wait_ready(replica, within)

    def wait_ready(self, replica: Replica, within: float = 60) -> None:
        log = self.run_dir / "logs" / f"{replica.name}.log"
        infra.wait_until(
            lambda: ready(replica.url),
            within,
            f"{replica.name} at {replica.url}/readyz",
            abort=lambda: (
                None
                if infra.read_pid(replica.name, self.run_dir)
                else f"{replica.name} exited; read {log}"
            ),
        )

    def start_all(self) -> None:
        for replica in self.replicas:
            self.start(replica)

    def kill(self, replica: Replica) -> None:
        """kill -9, as a crash would: no shutdown of any kind."""
        pid = infra.read_pid(replica.name, self.run_dir)
        assert pid is not None, f"{replica.name} is not running"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while infra.processes.pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop_all(self) -> None:
        for replica in reversed(self.replicas):
            infra.stop_process(replica.name, self.run_dir, timeout_s=20)

    def log(self, replica: Replica) -> str:
        path = self.run_dir / "logs" / f"{replica.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""
