"""Where an instance lives and on which ports: read once from the environment."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent.parent  # deploy/local: templates and Go sources
REPO_ROOT = HERE.parent.parent
HOST = "127.0.0.1"


class Port(NamedTuple):
    label: str  # what listens there, e.g. "controller"
    variable: str  # the environment variable that sets it
    number: int


class InfraError(Exception):
    """A failure with a message fit for one line on stderr: what is wrong and what to do."""


def env_port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise InfraError(f"{name}={raw!r} is not a port number; set it to 1-65535") from None
    if not 1 <= port <= 65535:
        raise InfraError(f"{name}={port} is out of range; set it to 1-65535")
    return port


def env_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        raise InfraError(f"{name}={raw!r} is not a number of seconds") from None
    if not 0 < seconds <= 3600:
        raise InfraError(f"{name}={raw} is out of range; set it to more than 0, at most 3600")
    return seconds


def default_cache_dir(env: Mapping[str, str]) -> Path:
    xdg = env.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "wbl-placements"


def _dir(env: Mapping[str, str], name: str, default: Path) -> Path:
    raw = env.get(name, "").strip()
    return Path(raw).expanduser().resolve() if raw else default


@dataclass(frozen=True)
class Config:
    """Everything an instance needs (the variables are described in ``infra/__init__.py``)."""

    cache_dir: Path
    run_dir: Path
    kafka_port: int
    controller_port: int
    mongo_port: int
    kafka_heap: tuple[str, ...]
    health_timeout_s: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        config = cls(
            cache_dir=_dir(env, "WBL_CACHE_DIR", default_cache_dir(env)),
            run_dir=_dir(env, "WBL_RUN_DIR", REPO_ROOT / ".run" / "dev"),
            kafka_port=env_port(env, "WBL_KAFKA_PORT", 9092),
            controller_port=env_port(env, "WBL_KAFKA_CONTROLLER_PORT", 9093),
            mongo_port=env_port(env, "WBL_MONGO_PORT", 27017),
            kafka_heap=tuple(shlex.split(env.get("WBL_KAFKA_HEAP", "").strip()))
            or ("-Xmx512m", "-Xms256m"),
            health_timeout_s=env_seconds(env, "WBL_HEALTH_TIMEOUT_S", 90.0),
        )
        ports = config.ports
        if len(set(ports.values())) != len(ports):
            raise InfraError(f"the ports must differ from each other, got {ports}")
        return config

    @property
    def ports(self) -> dict[str, int]:
        """Every port of the instance, by the variable that sets it."""
        return {
            "WBL_KAFKA_PORT": self.kafka_port,
            "WBL_KAFKA_CONTROLLER_PORT": self.controller_port,
            "WBL_MONGO_PORT": self.mongo_port,
        }

    @property
    def bootstrap_servers(self) -> str:
        return f"{HOST}:{self.kafka_port}"

    @property
    def mongo_url(self) -> str:
        return f"mongodb://{HOST}:{self.mongo_port}/"

    @property
    def logs_dir(self) -> Path:
        return self.run_dir / "logs"

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"
