"""Local infrastructure of wbl-placements without Docker: Apache Kafka (KRaft) and FerretDB.

Run as ``python deploy/local/infra.py <command>``:

``fetch``
    Download the Kafka jars (Maven Central, through ``mvn``) and build the FerretDB binary
    (Go module proxy, through ``go build``) into the shared cache. Nothing else.
``start``
    Fetch if needed, start both servers in the background, wait until both are healthy,
    then create every topic of ``wbl_schemas.topics.all_topics()``. Idempotent: what is
    already running is left alone (and still health-checked).
``stop``
    SIGTERM each server, wait for it to exit (SIGKILL after a deadline), remove pid files.
    Stopping what is not running is fine.
``status``
    Whether each server is running, its pid and its ports. Always exits 0.
``health``
    Kafka: a real produce + consume (with an offset commit) round trip on the
    ``wbl.healthcheck`` topic via aiokafka. MongoDB: a real ``ping`` plus a write and a read
    via pymongo. Polls until healthy or the deadline passes.
``logs``
    Print the log file paths; with ``-n N``, also their last N lines.

Every command exits 0 on success. On failure it prints one line on stderr saying what is
wrong and what to do, and exits 1.

Configuration (environment variables):

``WBL_CACHE_DIR``
    Read-only-after-fetch cache shared by every clone and instance on the machine.
    Default ``${XDG_CACHE_HOME:-~/.cache}/wbl-placements``. Holds
    ``kafka-<version>/libs/*.jar`` and ``ferretdb-<version>/ferretdb``. Each is fetched into
    a temporary directory beside it and renamed into place when complete (under a file lock),
    so an interrupted fetch never leaves a broken cache, and a warm ``start`` uses no network.
``WBL_RUN_DIR``
    Per-instance state. Default ``<repo>/.run/dev``. Holds ``kafka/`` (server.properties,
    cluster id, log dirs), ``ferretdb/`` (SQLite databases), ``logs/kafka.log``,
    ``logs/ferretdb.log`` and ``pids/<name>.pid``. Two instances never share anything but the
    cache, so e.g. a test instance can run beside a dev instance::

        WBL_RUN_DIR=$PWD/.run/test WBL_KAFKA_PORT=19092 WBL_KAFKA_CONTROLLER_PORT=19093 \\
            WBL_MONGO_PORT=17017 python deploy/local/infra.py start

``WBL_KAFKA_PORT`` (default 9092)
    Kafka client (PLAINTEXT) listener, on 127.0.0.1.
``WBL_KAFKA_CONTROLLER_PORT`` (default 9093)
    Kafka KRaft controller listener, on 127.0.0.1.
``WBL_MONGO_PORT`` (default 27017)
    FerretDB (MongoDB wire protocol) listener, on 127.0.0.1.
``WBL_KAFKA_HEAP`` (default ``-Xmx512m -Xms256m``)
    JVM heap options of the broker (split like a shell would).
``WBL_HEALTH_TIMEOUT_S`` (default 90)
    Deadline in seconds of the health checks of ``start`` and ``health``
    (``--timeout`` overrides it).

Requirements: Java >= 17 to run Kafka; Maven (``mvn``) and Go >= 1.24 only to fill the cache
the first time; aiokafka and pymongo (the project venv) for ``start``/``health``; the
``wbl_schemas`` package (``<repo>/schemas/src`` is added to ``sys.path`` when needed).

The process helpers (``start_process``, ``stop_process``, ``read_pid``, ``port_in_use``,
``wait_until``, ``InfraError``) are generic and meant to be imported by other scripts of
``deploy/local`` (e.g. ``run_services.py``): import this file as a module, it does nothing on
import.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wbl_schemas.topics import TopicSpec

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
SCHEMAS_SRC = REPO_ROOT / "schemas" / "src"

# Kafka 4.3.0 is the newest release that can be assembled from Maven Central and works with
# aiokafka 0.14.0: produce (acks=all, idempotent), consume in a consumer group with offset
# commits, and admin create_topics/describe_configs/delete_topics were tested against it.
# 4.4.0 cannot be assembled: its dependency org.apache.kafka:kafka-tools-api:4.4.0 is not
# served by Maven Central (jar and POM missing), so `mvn dependency:copy-dependencies` fails.
KAFKA_VERSION = "4.3.0"
# Kafka 4.x logs through SLF4J 1.7; its POM brings no binding, so we add Log4j 2's.
LOG4J_VERSION = "2.24.3"
JAVA_MIN_MAJOR = 17
GO_MIN = (1, 24)

HOST = "127.0.0.1"
HEALTH_TOPIC = "wbl.healthcheck"
HEALTH_GROUP = "wbl.healthcheck"
HEALTH_DB = "wbl_healthcheck"

KAFKA_POM_TEMPLATE = HERE / "kafka-pom.xml.template"
KAFKA_PROPERTIES_TEMPLATE = HERE / "server.properties.template"
KAFKA_LOG4J_CONFIG = HERE / "log4j2.properties"
FERRETDB_SRC = HERE / "ferretdb"
FERRETDB_BUILD_TAGS = "ferretdb_no_postgresql"

KAFKA = "kafka"
FERRETDB = "ferretdb"

log = logging.getLogger("wbl.infra")


class InfraError(Exception):
    """A failure with a message fit for one line on stderr: what is wrong and what to do."""


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


def _env_port(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise InfraError(f"{name}={raw!r} is not a port number; set it to 1-65535") from None
    if not 1 <= port <= 65535:
        raise InfraError(f"{name}={port} is out of range; set it to 1-65535")
    return port


def default_cache_dir() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "wbl-placements"


@dataclass(frozen=True)
class Config:
    """Everything an instance needs, read from the environment (see the module docstring)."""

    cache_dir: Path
    run_dir: Path
    kafka_port: int
    controller_port: int
    mongo_port: int
    kafka_heap: tuple[str, ...]
    health_timeout_s: float

    @classmethod
    def from_env(cls) -> Config:
        cache = os.environ.get("WBL_CACHE_DIR", "").strip()
        run = os.environ.get("WBL_RUN_DIR", "").strip()
        timeout_raw = os.environ.get("WBL_HEALTH_TIMEOUT_S", "").strip() or "90"
        try:
            timeout = float(timeout_raw)
        except ValueError:
            raise InfraError(
                f"WBL_HEALTH_TIMEOUT_S={timeout_raw!r} is not a number of seconds"
            ) from None
        config = cls(
            cache_dir=Path(cache).expanduser().resolve() if cache else default_cache_dir(),
            run_dir=Path(run).expanduser().resolve() if run else REPO_ROOT / ".run" / "dev",
            kafka_port=_env_port("WBL_KAFKA_PORT", 9092),
            controller_port=_env_port("WBL_KAFKA_CONTROLLER_PORT", 9093),
            mongo_port=_env_port("WBL_MONGO_PORT", 27017),
            kafka_heap=tuple(
                shlex.split(os.environ.get("WBL_KAFKA_HEAP", "").strip() or "-Xmx512m -Xms256m")
            ),
            health_timeout_s=timeout,
        )
        ports = {
            "WBL_KAFKA_PORT": config.kafka_port,
            "WBL_KAFKA_CONTROLLER_PORT": config.controller_port,
            "WBL_MONGO_PORT": config.mongo_port,
        }
        if len(set(ports.values())) != len(ports):
            raise InfraError(f"the ports must differ from each other, got {ports}")
        return config

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

    @property
    def kafka_home(self) -> Path:
        return self.cache_dir / f"kafka-{KAFKA_VERSION}"

    @property
    def ferretdb_home(self) -> Path:
        return self.cache_dir / f"ferretdb-{ferretdb_version()}"

    @property
    def ferretdb_binary(self) -> Path:
        return self.ferretdb_home / "ferretdb"


# --------------------------------------------------------------------------------------------
# Generic process helpers (reusable by other deploy/local scripts)
# --------------------------------------------------------------------------------------------


def pid_path(name: str, run_dir: Path) -> Path:
    """The pid file of process ``name`` of the instance whose state lives in ``run_dir``."""
    return run_dir / "pids" / f"{name}.pid"


def _proc_start_time(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks since boot (Linux), to detect a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (comm) may contain spaces and parentheses: split after its closing paren.
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


# Children started by start_process in this Python process: kept so that a long-lived caller
# (e.g. a test fixture) reaps them through Popen and gets no ResourceWarning about them.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (zombies count as dead and are reaped if ours)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2 :].split()[:1] != ["Z"]


def read_pid(name: str, run_dir: Path) -> int | None:
    """The pid of process ``name`` if it is running, else None.

    A stale pid file (process gone, or pid reused by another process) is removed.
    """
    path = pid_path(name, run_dir)
    try:
        parts = path.read_text().split()
        pid = int(parts[0])
    except (OSError, ValueError, IndexError):
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    started = parts[1] if len(parts) > 1 else None
    if pid_alive(pid) and (started is None or _proc_start_time(pid) in (None, started)):
        return pid
    with contextlib.suppress(OSError):
        path.unlink()
    return None


def start_process(
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str] | None,
    run_dir: Path,
    log_path: Path,
    cwd: Path | None = None,
) -> int:
    """Start ``argv`` in the background as process ``name`` of the instance in ``run_dir``.

    The process runs in its own session (so it outlives the caller and ignores the caller's
    Ctrl-C), with stdin from /dev/null and stdout+stderr appended to ``log_path``. Its pid is
    written to ``pid_path(name, run_dir)`` and returned. ``env`` is the full environment
    (None: inherit). Raises InfraError if ``name`` is already running or cannot be executed.
    """
    running = read_pid(name, run_dir)
    if running is not None:
        raise InfraError(f"{name} is already running (pid {running}) for run dir {run_dir}")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    path = pid_path(name, run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        log_file.write(f"\n=== {stamp} starting {name}: {shlex.join(argv)}\n".encode())
        log_file.flush()
        try:
            proc = subprocess.Popen(
                list(argv),
                env=dict(env) if env is not None else None,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise InfraError(f"cannot execute {argv[0]} for {name}: {exc.strerror}") from None
    _CHILDREN[proc.pid] = proc
    tmp = path.with_suffix(".pid.tmp")
    tmp.write_text(f"{proc.pid} {_proc_start_time(proc.pid) or ''}\n")
    tmp.replace(path)
    return proc.pid


def stop_process(name: str, run_dir: Path, timeout_s: float = 30.0) -> bool:
    """Stop process ``name`` of the instance in ``run_dir``; True if it was running.

    Sends SIGTERM to its process group, waits up to ``timeout_s`` for it to exit, then sends
    SIGKILL. Removes the pid file. Stopping a process that is not running is not an error.
    """
    pid = read_pid(name, run_dir)
    if pid is None:
        return False

    def send(sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)

    with contextlib.suppress(ProcessLookupError):
        send(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        log.warning(
            "%s (pid %d) did not exit after SIGTERM within %ss: SIGKILL", name, pid, timeout_s
        )
        with contextlib.suppress(ProcessLookupError):
            send(signal.SIGKILL)
        kill_deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < kill_deadline:
            time.sleep(0.1)
    with contextlib.suppress(OSError):
        pid_path(name, run_dir).unlink()
    return True


def port_in_use(port: int, host: str = HOST) -> bool:
    """Whether ``host:port`` cannot be bound because something already listens there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def port_listening(port: int, host: str = HOST, timeout_s: float = 0.5) -> bool:
    """Whether a TCP connection to ``host:port`` is accepted."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def wait_until(
    check: Callable[[], bool],
    deadline_s: float,
    what: str,
    *,
    interval_s: float = 0.25,
    abort: Callable[[], str | None] | None = None,
    hint: str = "",
) -> None:
    """Call ``check`` every ``interval_s`` until it returns True, for at most ``deadline_s``.

    An exception raised by ``check`` counts as "not yet" (the last one is quoted on
    failure). ``abort``, if given, is called between attempts: a non-None message means that
    waiting is pointless (e.g. the process died) and is raised at once. On timeout, raises
    InfraError naming ``what`` and ending with ``hint`` (e.g. which log file to read).
    """
    deadline = time.monotonic() + deadline_s
    last_error = ""
    while True:
        try:
            if check():
                return
            last_error = ""
        except InfraError:
            raise
        except Exception as exc:  # any failure of a probe means "not yet"
            last_error = f"{type(exc).__name__}: {exc}".strip()
        if abort is not None:
            message = abort()
            if message is not None:
                raise InfraError(message)
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error[:200]})" if last_error else ""
            raise InfraError(f"{what} not ready after {deadline_s:g}s{detail}{hint}")
        time.sleep(min(interval_s, max(0.0, deadline - time.monotonic())))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def require_free_ports(
    ports: Mapping[str, int], command: str = "python deploy/local/infra.py start"
) -> None:
    """Raise InfraError for the first of ``ports`` (env var name -> port) that is taken.

    The message suggests a free port, as ``<VAR>=<port> <command>``.
    """
    for var, port in ports.items():
        if port_in_use(port):
            candidates = [port + k * 10000 for k in range(1, 6) if port + k * 10000 <= 65535]
            free = next((p for p in candidates if not port_in_use(p)), None) or _free_port()
            raise InfraError(
                f"port {port} ({var}) on {HOST} is already in use by another process; stop "
                f"that process or choose another port, e.g. {var}={free} {command} "
                f"(use a separate WBL_RUN_DIR too)"
            )


# --------------------------------------------------------------------------------------------
# Cache: atomic fetch of the Kafka jars and build of FerretDB
# --------------------------------------------------------------------------------------------

STAMP = ".complete"


def _sha256(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _cache_valid(home: Path, inputs: str) -> bool:
    try:
        return (home / STAMP).read_text().strip() == inputs
    except OSError:
        return False


@contextlib.contextmanager
def _cache_lock(cache_dir: Path, name: str) -> Iterator[None]:
    """Serialise fetches of one artifact across processes (dev and test start together).

    Whoever holds the lock also removes what an interrupted fetch of ``name`` left behind.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for leftover in [*cache_dir.glob(f".tmp-{name}-*"), *cache_dir.glob(f".old-{name}-*")]:
            shutil.rmtree(leftover, ignore_errors=True)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _install_atomically(tmp: Path, home: Path, inputs: str) -> None:
    """Mark ``tmp`` complete and rename it to ``home``, replacing an outdated ``home``."""
    (tmp / STAMP).write_text(inputs + "\n")
    tmp.chmod(0o755)  # mkdtemp makes it 0700
    if home.exists():
        old = home.with_name(f".old-{home.name}-{uuid.uuid4().hex[:8]}")
        home.rename(old)
        tmp.rename(home)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(home)


def _which(tool: str, what_for: str, install: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise InfraError(f"`{tool}` not found on PATH; it is needed {what_for}: install {install}")
    return path


def check_java() -> str:
    """The path of a ``java`` of version >= 17, or InfraError saying what to install."""
    java = _which("java", "to run Kafka", f"a Java {JAVA_MIN_MAJOR}+ runtime (e.g. openjdk-17)")
    proc = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    if match:
        major = int(match.group(1))
        if major == 1 and match.group(2):  # "1.8.0_..." style
            major = int(match.group(2))
        if major < JAVA_MIN_MAJOR:
            raise InfraError(
                f"{java} is Java {major}; Kafka {KAFKA_VERSION} needs Java {JAVA_MIN_MAJOR}+: "
                f"install openjdk-{JAVA_MIN_MAJOR} or put a newer java first on PATH"
            )
    return java


def kafka_pom() -> str:
    text = KAFKA_POM_TEMPLATE.read_text()
    return text.replace("@KAFKA_VERSION@", KAFKA_VERSION).replace("@LOG4J_VERSION@", LOG4J_VERSION)


def kafka_cached(config: Config) -> bool:
    return _cache_valid(config.kafka_home, _sha256(kafka_pom().encode()))


def fetch_kafka(config: Config) -> bool:
    """Fill ``<cache>/kafka-<version>/libs`` from Maven Central; False if already there."""
    pom = kafka_pom()
    inputs = _sha256(pom.encode())
    home = config.kafka_home
    if _cache_valid(home, inputs):
        return False
    mvn = _which(
        "mvn", "once, to download the Kafka jars", "Maven 3.8+ (e.g. apt-get install maven)"
    )
    check_java()
    with _cache_lock(config.cache_dir, home.name):
        if _cache_valid(home, inputs):
            return False
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{home.name}-", dir=config.cache_dir))
        try:
            (tmp / "pom.xml").write_text(pom)
            cmd = [
                mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(tmp / "pom.xml"),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={tmp / 'libs'}",
            ]  # fmt: skip
            print(f"fetching Kafka {KAFKA_VERSION} jars from Maven Central ...", flush=True)
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            jars = list((tmp / "libs").glob(f"kafka_2.13-{KAFKA_VERSION}.jar"))
            if proc.returncode != 0 or not jars:
                fetch_log = config.cache_dir / f"fetch-{home.name}.log"
                fetch_log.write_text(f"$ {shlex.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
                output = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
                errors = [ln for ln in output.splitlines() if "ERROR" in ln]
                reason = errors[0].replace("[ERROR] ", "")[:300] if errors else "no jars"
                raise InfraError(
                    f"downloading org.apache.kafka:kafka_2.13:{KAFKA_VERSION} (+ log4j "
                    f"{LOG4J_VERSION}) with mvn failed: {reason}; the first fetch needs the "
                    f"network and Maven Central (full output: {fetch_log})"
                )
            (tmp / "pom.xml").unlink()
            _install_atomically(tmp, home, inputs)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return True


def ferretdb_version() -> str:
    """The FerretDB version pinned in ``ferretdb/go.mod`` (e.g. ``1.24.2``)."""
    match = re.search(
        r"github\.com/FerretDB/FerretDB\s+v(\S+)", (FERRETDB_SRC / "go.mod").read_text()
    )
    if match is None:
        raise InfraError(f"{FERRETDB_SRC / 'go.mod'} does not require github.com/FerretDB/FerretDB")
    return match.group(1)


def _ferretdb_inputs() -> str:
    files = [FERRETDB_SRC / n for n in ("main.go", "go.mod", "go.sum")]
    return _sha256(FERRETDB_BUILD_TAGS.encode(), *(f.read_bytes() for f in files))


def ferretdb_cached(config: Config) -> bool:
    return _cache_valid(config.ferretdb_home, _ferretdb_inputs())


def _check_go(go: str) -> None:
    proc = subprocess.run(
        [go, "env", "GOVERSION"], capture_output=True, text=True, check=False,
        env={**os.environ, "GOTOOLCHAIN": "local"},
    )  # fmt: skip
    match = re.match(r"go(\d+)\.(\d+)", proc.stdout.strip())
    if match and (int(match.group(1)), int(match.group(2))) < GO_MIN:
        raise InfraError(
            f"{go} is {proc.stdout.strip()}; building FerretDB needs Go "
            f"{GO_MIN[0]}.{GO_MIN[1]}+: install a newer Go (https://go.dev/dl/)"
        )


def fetch_ferretdb(config: Config) -> bool:
    """Build ``<cache>/ferretdb-<version>/ferretdb``; False if already there."""
    inputs = _ferretdb_inputs()
    home = config.ferretdb_home
    if _cache_valid(home, inputs):
        return False
    go = _which(
        "go", "once, to build FerretDB", f"Go {GO_MIN[0]}.{GO_MIN[1]}+ (https://go.dev/dl/)"
    )
    _check_go(go)
    with _cache_lock(config.cache_dir, home.name):
        if _cache_valid(home, inputs):
            return False
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{home.name}-", dir=config.cache_dir))
        try:
            env = {
                **os.environ,
                "CGO_ENABLED": "0",
                "GOTOOLCHAIN": "local",
                "GOFLAGS": "-mod=mod -buildvcs=false",
            }
            cmd = [
                go, "build", "-tags", FERRETDB_BUILD_TAGS, "-trimpath",
                "-o", str(tmp / "ferretdb"), ".",
            ]  # fmt: skip
            print(f"building FerretDB {ferretdb_version()} (Go module proxy) ...", flush=True)
            proc = subprocess.run(
                cmd, cwd=FERRETDB_SRC, env=env, capture_output=True, text=True, check=False
            )
            if proc.returncode != 0 or not (tmp / "ferretdb").is_file():
                fetch_log = config.cache_dir / f"fetch-{home.name}.log"
                fetch_log.write_text(f"$ {shlex.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
                lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
                reason = lines[-1][:300] if lines else f"exit code {proc.returncode}"
                raise InfraError(
                    f"building github.com/FerretDB/FerretDB v{ferretdb_version()} with go failed:"
                    f" {reason}; the first build needs the network and the Go module proxy "
                    f"(full output: {fetch_log})"
                )
            _install_atomically(tmp, home, inputs)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return True


def fetch(config: Config) -> None:
    """Make sure both servers are in the cache (downloading/building what is missing)."""
    t0 = time.monotonic()
    got_kafka = fetch_kafka(config)
    got_ferretdb = fetch_ferretdb(config)
    state = "fetched" if got_kafka or got_ferretdb else "already cached"
    print(f"{state}: {config.kafka_home}, {config.ferretdb_binary} ({time.monotonic() - t0:.1f}s)")


# --------------------------------------------------------------------------------------------
# Kafka and FerretDB processes
# --------------------------------------------------------------------------------------------


def _random_cluster_id() -> str:
    """A KRaft cluster id (base64url of 16 random bytes), without a leading '-'."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _mark_run_dir(run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    ignore = run_dir / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Runtime state of deploy/local/infra.py\n*\n")


def _kafka_java_argv(java: str, config: Config, main: str, *args: str) -> list[str]:
    return [
        java,
        *config.kafka_heap,
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={KAFKA_LOG4J_CONFIG}",
        f"-Dkafka.logs.dir={config.logs_dir}",
        "-cp",
        f"{config.kafka_home / 'libs'}/*",
        main,
        *args,
    ]


def prepare_kafka(config: Config, java: str) -> Path:
    """Render server.properties and format the KRaft storage once; return the properties."""
    kafka_dir = config.run_dir / "kafka"
    data_dir = kafka_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    props = kafka_dir / "server.properties"
    text = (
        KAFKA_PROPERTIES_TEMPLATE.read_text()
        .replace("@KAFKA_PORT@", str(config.kafka_port))
        .replace("@CONTROLLER_PORT@", str(config.controller_port))
        .replace("@LOG_DIR@", str(data_dir))
    )
    props.write_text(text)
    if (data_dir / "meta.properties").exists():
        return props
    id_file = kafka_dir / "cluster.id"
    if not id_file.exists():
        id_file.write_text(_random_cluster_id() + "\n")
    cluster_id = id_file.read_text().strip()
    log_path = config.log_path(KAFKA)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    argv = _kafka_java_argv(
        java, config, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), "-g"
    )
    with log_path.open("ab") as log_file:
        log_file.write(f"\n=== formatting KRaft storage: {shlex.join(argv)}\n".encode())
        log_file.flush()
        proc = subprocess.run(argv, stdout=log_file, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        raise InfraError(
            f"formatting the Kafka storage in {data_dir} failed (exit {proc.returncode}); "
            f"read {log_path}"
        )
    return props


def start_kafka(config: Config, java: str | None = None, props: Path | None = None) -> int:
    """Start the broker (formatting its storage first if needed); return its pid."""
    java = java or check_java()
    props = props or prepare_kafka(config, java)
    argv = _kafka_java_argv(java, config, "kafka.Kafka", str(props))
    return start_process(KAFKA, argv, None, config.run_dir, config.log_path(KAFKA))


def start_ferretdb(config: Config) -> int:
    sqlite_dir = config.run_dir / "ferretdb"
    sqlite_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        str(config.ferretdb_binary),
        "-host", HOST,
        "-port", str(config.mongo_port),
        "-sqlite-dir", str(sqlite_dir),
    ]  # fmt: skip
    return start_process(FERRETDB, argv, None, config.run_dir, config.log_path(FERRETDB))


# --------------------------------------------------------------------------------------------
# Health checks and topics
# --------------------------------------------------------------------------------------------


def _import_kafka_client() -> Any:
    try:
        import aiokafka  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise InfraError(
            f"aiokafka is not installed for {sys.executable}; run this script with the "
            "project venv's python (or pip install aiokafka==0.14.0)"
        ) from None
    return aiokafka


def _run_async(coro: Any, timeout_s: float) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout_s)

    return asyncio.run(bounded())


async def _kafka_round_trip(bootstrap: str) -> bool:
    aiokafka = _import_kafka_client()
    from aiokafka.admin import (  # type: ignore[import-untyped,unused-ignore]
        AIOKafkaAdminClient,
        NewTopic,
    )

    timeouts: dict[str, Any] = {"request_timeout_ms": 5000, "retry_backoff_ms": 100}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **timeouts)
    await admin.start()
    try:
        if HEALTH_TOPIC not in await admin.list_topics():
            topic = NewTopic(HEALTH_TOPIC, 1, 1, topic_configs={"retention.ms": "3600000"})
            response = await admin.create_topics([topic])
            for _, code, message in _topic_errors(response):
                if code not in (0, 36):  # 36: TOPIC_ALREADY_EXISTS
                    raise RuntimeError(f"create {HEALTH_TOPIC}: error {code} {message}")
    finally:
        await admin.close()

    token = uuid.uuid4().hex.encode()
    producer = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **timeouts)
    await producer.start()
    try:
        sent = await producer.send_and_wait(HEALTH_TOPIC, value=token, key=b"health")
    finally:
        await producer.stop()

    consumer = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=HEALTH_GROUP,
        enable_auto_commit=False,
        **timeouts,
    )
    await consumer.start()
    try:
        tp = aiokafka.TopicPartition(HEALTH_TOPIC, sent.partition)
        consumer.assign([tp])
        consumer.seek(tp, sent.offset)
        message = await consumer.getone()
        if message.value != token:
            raise RuntimeError(f"read back {message.value!r} at offset {sent.offset}")
        await consumer.commit({tp: message.offset + 1})
    finally:
        await consumer.stop()
    return True


def kafka_healthy(config: Config, attempt_timeout_s: float = 15.0) -> bool:
    """One real produce + consume + commit round trip; raises on failure."""
    if not port_listening(config.kafka_port):
        return False
    return bool(_run_async(_kafka_round_trip(config.bootstrap_servers), attempt_timeout_s))


def mongo_healthy(config: Config) -> bool:
    """A real ping plus a write and a read back; raises on failure."""
    if not port_listening(config.mongo_port):
        return False
    try:
        import pymongo
    except ImportError:
        raise InfraError(
            f"pymongo is not installed for {sys.executable}; run this script with the "
            "project venv's python (or pip install pymongo)"
        ) from None
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        config.mongo_url,
        serverSelectionTimeoutMS=2000,
        connectTimeoutMS=2000,
        socketTimeoutMS=5000,
    )
    try:
        client.admin.command("ping")
        token = uuid.uuid4().hex
        probe = client[HEALTH_DB]["probe"]
        probe.replace_one({"_id": "infra"}, {"_id": "infra", "token": token}, upsert=True)
        found = probe.find_one({"_id": "infra"})
        if found is None or found.get("token") != token:
            raise RuntimeError(f"read back {found!r}")
    finally:
        client.close()
    return True


def _died(name: str, config: Config, starting: bool) -> Callable[[], str | None]:
    def check() -> str | None:
        if read_pid(name, config.run_dir) is not None:
            return None
        if starting:
            return f"{name} exited during start-up; read {config.log_path(name)}"
        return (
            f"{name} is not running for run dir {config.run_dir}; start it with "
            f"python deploy/local/infra.py start (its log: {config.log_path(name)})"
        )

    return check


def wait_healthy(config: Config, timeout_s: float, starting: bool = False) -> None:
    """Poll both servers until healthy, sharing one deadline; InfraError otherwise."""
    deadline = time.monotonic() + timeout_s
    wait_until(
        lambda: mongo_healthy(config),
        timeout_s,
        f"FerretDB on {config.mongo_url}",
        abort=_died(FERRETDB, config, starting),
        hint=f"; read {config.log_path(FERRETDB)}",
    )
    wait_until(
        lambda: kafka_healthy(config, max(1.0, min(15.0, deadline - time.monotonic()))),
        max(1.0, deadline - time.monotonic()),
        f"Kafka on {config.bootstrap_servers}",
        interval_s=0.5,
        abort=_died(KAFKA, config, starting),
        hint=f"; read {config.log_path(KAFKA)}",
    )


def _topic_errors(response: Any) -> list[tuple[str, int, str | None]]:
    """(topic, error_code, message) of a CreateTopics response of any version."""
    out: list[tuple[str, int, str | None]] = []
    for entry in response.topic_errors:
        message = entry[2] if len(entry) > 2 else None
        out.append((entry[0], entry[1], message))
    return out


def _load_topic_specs() -> list[TopicSpec]:
    try:
        from wbl_schemas.topics import all_topics
    except ImportError:
        if str(SCHEMAS_SRC) not in sys.path:
            sys.path.insert(0, str(SCHEMAS_SRC))
        try:
            from wbl_schemas.topics import all_topics
        except ImportError as exc:
            raise InfraError(
                f"cannot import wbl_schemas.topics ({exc}); expected it in {SCHEMAS_SRC}"
            ) from None
    return list(all_topics())


async def _ensure_topics(bootstrap: str, specs: list[TopicSpec]) -> tuple[list[str], list[str]]:
    """Create missing topics; return (created, problems with existing ones)."""
    _import_kafka_client()
    from aiokafka.admin import (  # type: ignore[import-untyped,unused-ignore]
        AIOKafkaAdminClient,
        NewTopic,
    )
    from aiokafka.admin.config_resource import (  # type: ignore[import-untyped,unused-ignore]
        ConfigResource,
        ConfigResourceType,
    )

    def policy(spec: TopicSpec) -> str:
        return "compact" if spec.compacted else "delete"

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        created: list[str] = []
        if missing:
            new = [
                NewTopic(s.name, s.partitions, 1, topic_configs={"cleanup.policy": policy(s)})
                for s in missing
            ]
            response = await admin.create_topics(new, timeout_ms=10000)
            for name, code, message in _topic_errors(response):
                if code == 0:
                    created.append(name)
                elif code != 36:  # 36: TOPIC_ALREADY_EXISTS (created concurrently): fine
                    raise InfraError(f"creating Kafka topic {name} failed: error {code} {message}")
        problems: list[str] = []
        old = [s for s in specs if s.name not in created]
        if old:
            resources = [
                ConfigResource(ConfigResourceType.TOPIC, s.name, configs={"cleanup.policy": None})
                for s in old
            ]
            actual: dict[str, str] = {}
            for response in await admin.describe_configs(resources):
                for resource in response.resources:
                    for entry in resource[4]:
                        if entry[0] == "cleanup.policy":
                            actual[resource[3]] = entry[1]
            described = {t["topic"]: t for t in await admin.describe_topics([s.name for s in old])}
            for spec in old:
                have = actual.get(spec.name)
                if have is not None and have != policy(spec):
                    problems.append(f"{spec.name} has cleanup.policy={have}, not {policy(spec)}")
                count = len(described.get(spec.name, {}).get("partitions", []))
                if count and count != spec.partitions:
                    problems.append(f"{spec.name} has {count} partitions, not {spec.partitions}")
        return created, problems
    finally:
        await admin.close()


def ensure_topics(config: Config) -> None:
    """Create every topic of ``wbl_schemas.topics.all_topics()``; report misconfigured ones."""
    specs = _load_topic_specs()
    created, problems = _run_async(_ensure_topics(config.bootstrap_servers, specs), 60)
    print(f"kafka topics: {len(specs)} ready ({len(created)} created)")
    if problems:
        raise InfraError(
            "existing Kafka topics differ from wbl_schemas.topics: "
            + "; ".join(problems)
            + f" (servers left running; to recreate them: infra.py stop, then delete "
            f"{config.run_dir / 'kafka'})"
        )


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


def _ports(config: Config) -> dict[str, int]:
    return {
        "WBL_KAFKA_PORT": config.kafka_port,
        "WBL_KAFKA_CONTROLLER_PORT": config.controller_port,
        "WBL_MONGO_PORT": config.mongo_port,
    }


def cmd_fetch(config: Config, args: argparse.Namespace) -> None:
    fetch(config)


def cmd_start(config: Config, args: argparse.Namespace) -> None:
    t0 = time.monotonic()
    fetch_kafka(config)
    fetch_ferretdb(config)
    _mark_run_dir(config.run_dir)
    kafka_pid = read_pid(KAFKA, config.run_dir)
    ferretdb_pid = read_pid(FERRETDB, config.run_dir)
    wanted: dict[str, int] = {}
    if kafka_pid is None:
        wanted["WBL_KAFKA_PORT"] = config.kafka_port
        wanted["WBL_KAFKA_CONTROLLER_PORT"] = config.controller_port
    if ferretdb_pid is None:
        wanted["WBL_MONGO_PORT"] = config.mongo_port
    require_free_ports(wanted)
    java, props = "", None
    if kafka_pid is None:  # prepare Kafka first: a failure here starts nothing
        java = check_java()
        props = prepare_kafka(config, java)
    (config.run_dir / "instance.json").write_text(json.dumps(_ports(config), indent=2) + "\n")
    if ferretdb_pid is None:
        print(f"ferretdb: started pid {start_ferretdb(config)} on {config.mongo_url}")
    else:
        print(f"ferretdb: already running (pid {ferretdb_pid})")
    if kafka_pid is None:
        print(
            f"kafka: started pid {start_kafka(config, java, props)} on {config.bootstrap_servers}"
        )
    else:
        print(f"kafka: already running (pid {kafka_pid})")
    wait_healthy(config, args.timeout, starting=True)
    ensure_topics(config)
    print(
        f"healthy: kafka {config.bootstrap_servers}, mongodb {config.mongo_url} "
        f"({time.monotonic() - t0:.1f}s)"
    )


def cmd_stop(config: Config, args: argparse.Namespace) -> None:
    for name, timeout in ((KAFKA, 60.0), (FERRETDB, 20.0)):
        pid = read_pid(name, config.run_dir)
        if stop_process(name, config.run_dir, timeout_s=timeout):
            print(f"{name}: stopped (pid {pid})")
        else:
            print(f"{name}: not running")


def cmd_status(config: Config, args: argparse.Namespace) -> None:
    print(f"run dir: {config.run_dir}")
    recorded: dict[str, int] = {}
    with contextlib.suppress(OSError, ValueError):
        recorded = json.loads((config.run_dir / "instance.json").read_text())
    for name, ports in (
        (KAFKA, (("kafka", config.kafka_port), ("controller", config.controller_port))),
        (FERRETDB, (("mongodb", config.mongo_port),)),
    ):
        pid = read_pid(name, config.run_dir)
        listening = ", ".join(
            f"{label} {HOST}:{port} {'listening' if port_listening(port) else 'not listening'}"
            for label, port in ports
        )
        state = f"running (pid {pid})" if pid is not None else "not running"
        print(f"{name}: {state}; {listening}")
    if recorded and recorded != _ports(config):
        print(f"note: this run dir was last started with {recorded}, not {_ports(config)}")


def cmd_health(config: Config, args: argparse.Namespace) -> None:
    t0 = time.monotonic()
    wait_healthy(config, args.timeout)
    print(
        f"healthy: kafka {config.bootstrap_servers} (produce/consume/commit), "
        f"mongodb {config.mongo_url} (ping/write/read) ({time.monotonic() - t0:.1f}s)"
    )


def _noise(line: str) -> bool:
    return "endSessions" in line or 'msg="Response header:' in line


def cmd_logs(config: Config, args: argparse.Namespace) -> None:
    for name in (KAFKA, FERRETDB):
        path = config.log_path(name)
        print(f"{name}: {path}{'' if path.exists() else ' (absent)'}")
        if args.lines > 0 and path.exists():
            with path.open("rb") as f:
                f.seek(0, os.SEEK_END)
                start = max(0, f.tell() - max(1 << 20, 512 * args.lines))
                f.seek(start)
                lines = f.read().decode(errors="replace").splitlines()[1 if start else 0 :]
            # PyMongo ends sessions FerretDB does not have: a warning pair per client, noise.
            tail = [line for line in lines if not _noise(line)][-args.lines :]
            for line in tail:
                print(f"  {line}")


COMMANDS: dict[str, tuple[Callable[[Config, argparse.Namespace], None], str]] = {
    "fetch": (cmd_fetch, "download Kafka and build FerretDB into the shared cache"),
    "start": (cmd_start, "start Kafka and FerretDB, wait until healthy, create topics"),
    "stop": (cmd_stop, "stop both servers (idempotent)"),
    "status": (cmd_status, "show whether the servers are running and their ports"),
    "health": (cmd_health, "real round trips against Kafka and FerretDB"),
    "logs": (cmd_logs, "print the log paths (and tails with -n)"),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="infra.py",
        description="Local Kafka + FerretDB for wbl-placements (see the module docstring).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        if name in ("start", "health"):
            p.add_argument(
                "--timeout", type=float, default=None,
                help="health deadline in seconds (default: $WBL_HEALTH_TIMEOUT_S or 90)",
            )  # fmt: skip
        if name == "logs":
            p.add_argument("-n", "--lines", type=int, default=0, help="also print N last lines")
    args = parser.parse_args(argv)
    # The clients log every refused connection while a server starts: keep stderr clean.
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    logging.getLogger("pymongo").setLevel(logging.CRITICAL)
    try:
        config = Config.from_env()
        if getattr(args, "timeout", None) is None:
            args.timeout = config.health_timeout_s
        COMMANDS[args.command][0](config, args)
    except InfraError as exc:
        print(f"infra.py {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"infra.py {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"infra.py {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
