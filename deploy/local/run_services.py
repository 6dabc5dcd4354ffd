"""Start and stop the three wbl-placements services as local processes.

Run as ``python deploy/local/run_services.py {start|stop|status|logs}`` with the project's
venv python. ``start`` returns once every service answers ``GET /readyz`` with 200 (its
broker and database work); a service that exits or stays unready past the deadline is
reported with the log file to read. ``logs [-n N]`` prints the services' log paths (and
their last N lines).

Configuration (environment variables, beside those of ``infra``: ``WBL_RUN_DIR``,
``WBL_KAFKA_PORT``, ``WBL_MONGO_PORT``):

``WBL_REGISTRY_HTTP__PORT`` / ``WBL_MATCHER_HTTP__PORT`` / ``WBL_NOTIFIER_HTTP__PORT``
    The services' ports, default 8001, 8002, 8003.
``WBL_ADMIN_TOKEN``, ``WBL_WEBHOOK_KEY``, ``WBL_NOTIFIER_LINK_SECRET``
    The admin secret, the key webhook signing secrets are derived from, and the key that
    signs email action links. When unset, each is read from ``.env`` at the repository
    root; on the first run a random one is generated there (git-ignored) and its location
    printed.
``WBL_REGISTRY_WEBHOOK_LOOPBACK``
    Default true here (a local system is development): webhook URLs may be http:// to this
    machine. Off in any other deployment.
``WBL_READY_TIMEOUT_S``
    How long ``start`` waits for readiness, default 60.

Any other ``WBL_<SERVICE>_*`` setting in the environment reaches the service unchanged.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import infra
from infra.logs import show


@dataclass(frozen=True)
class Service:
    name: str
    prefix: str
    default_port: int

    def port(self, env: Mapping[str, str]) -> int:
        return int(env.get(f"{self.prefix}HTTP__PORT", self.default_port))

    def url(self, env: Mapping[str, str]) -> str:
        return f"http://{infra.HOST}:{self.port(env)}"


SERVICES = (
    Service("registry", "WBL_REGISTRY_", 8001),
    Service("matcher", "WBL_MATCHER_", 8002),
    Service("notifier", "WBL_NOTIFIER_", 8003),
)
ENV_FILE = infra.REPO_ROOT / ".env"


# Secrets every local run needs; each comes from the environment, else from .env, else is
# generated into .env on the first run.
SECRETS = ("WBL_ADMIN_TOKEN", "WBL_WEBHOOK_KEY", "WBL_NOTIFIER_LINK_SECRET")


def _dotenv() -> dict[str, str]:
    if not ENV_FILE.exists():
        return {}
    pairs = (line.partition("=") for line in ENV_FILE.read_text().splitlines())
    return {k.strip(): v.strip() for k, _, v in pairs if k.strip() and v.strip()}


def local_secret(name: str, env: Mapping[str, str]) -> str:
    """`name` from the environment, else from .env, else a new random one saved there."""
    if env.get(name):
        return env[name]
    saved = _dotenv().get(name)
    if saved:
        return saved
    value = secrets.token_urlsafe(32)
    with ENV_FILE.open("a") as env_file:
        env_file.write(f"{name}={value}\n")
    ENV_FILE.chmod(0o600)
    print(f"generated {name} in {ENV_FILE}")
    return value


def admin_token(env: Mapping[str, str]) -> str:
    return local_secret("WBL_ADMIN_TOKEN", env)


def service_env(config: infra.Config, base: Mapping[str, str]) -> dict[str, str]:
    """The environment every service gets: the instance's broker, database and ports."""
    env = dict(base)
    for name in SECRETS:
        env[name] = local_secret(name, base)
    for service in SERVICES:
        env.setdefault(f"{service.prefix}KAFKA__BOOTSTRAP_SERVERS", config.bootstrap_servers)
        env.setdefault(f"{service.prefix}MONGO__URI", config.mongo_url)
        env.setdefault(f"{service.prefix}HTTP__PORT", str(service.default_port))
    env.setdefault("WBL_NOTIFIER_REGISTRY__URL", SERVICES[0].url(env))
    env.setdefault("WBL_MATCHER_REGISTRY__URL", SERVICES[0].url(env))
    env.setdefault("WBL_NOTIFIER_MATCHER__URL", SERVICES[1].url(env))
    # A local system is development: webhook receivers may run on this machine.
    env.setdefault("WBL_REGISTRY_WEBHOOK_LOOPBACK", "true")
    # Local webhook receivers listen on this machine; deployments leave loopback refused.
    env.setdefault("WBL_NOTIFIER_DELIVERY__ALLOW_LOOPBACK", "true")
    # The notifier checks every coordinator token it is shown at registry, from loopback
    # here: registry does not count those refusals against it (the notifier limits its own).
    env.setdefault("WBL_REGISTRY_HTTP__RATE_LIMITS__EXEMPT", '["127.0.0.1"]')
    # Likewise the roster's why-not at the matcher: the notifier throttles each coordinator.
    env.setdefault("WBL_MATCHER_HTTP__RATE_LIMITS__EXEMPT", '["127.0.0.1"]')
    return env


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start(config: infra.Config, base_env: Mapping[str, str]) -> dict[str, str]:
    """Start whichever services are not running and wait until all are ready."""
    env = service_env(config, base_env)
    bin_dir = Path(sys.executable).parent
    for service in SERVICES:
        if infra.read_pid(service.name, config.run_dir) is not None:
            continue
        port_var = f"{service.prefix}HTTP__PORT"
        infra.require_free_ports({port_var: service.port(env)}, command="make up")
        infra.start_process(
            service.name,
            [str(bin_dir / f"wbl-{service.name}")],
            env,
            config.run_dir,
            config.log_path(service.name),
        )
    timeout = float(base_env.get("WBL_READY_TIMEOUT_S", "60"))
    for service in SERVICES:
        log_path = config.log_path(service.name)
        infra.wait_until(
            lambda s=service: _ready(s.url(env)),  # type: ignore[misc]
            timeout,
            f"{service.name} at {service.url(env)}/readyz",
            abort=lambda s=service, p=log_path: (  # type: ignore[misc]
                None
                if infra.read_pid(s.name, config.run_dir)
                else f"{s.name} exited during start-up; read {p}"
            ),
            hint=f"; read {log_path}",
        )
        print(f"{service.name:9} ready at {service.url(env)}")
    return env


def stop(config: infra.Config) -> None:
    for service in reversed(SERVICES):
        if infra.stop_process(service.name, config.run_dir, timeout_s=20):
            print(f"{service.name:9} stopped")


def status(config: infra.Config, env: Mapping[str, str]) -> None:
    for service in SERVICES:
        pid = infra.read_pid(service.name, config.run_dir)
        state = f"running (pid {pid})" if pid else "stopped"
        print(f"{service.name:9} {state}, {service.url(env)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("command", choices=["start", "stop", "status", "logs"])
    parser.add_argument("-n", "--lines", type=int, default=0, help="logs: last N lines too")
    args = parser.parse_args(argv)
    try:
        config = infra.Config.from_env()
        if args.command == "start":
            start(config, os.environ)
        elif args.command == "stop":
            stop(config)
        elif args.command == "status":
            status(config, os.environ)
        else:
            show({s.name: config.log_path(s.name) for s in SERVICES}, args.lines)
    except infra.InfraError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
