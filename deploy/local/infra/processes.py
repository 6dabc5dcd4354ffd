"""Background processes of an instance: pid files, start, stop, ports, waiting on a probe.

Generic: the servers (Kafka, FerretDB) and the services (``run_services.py``) use the same
helpers. A pid file holds the pid and the process's start time, so a pid reused by another
process after a crash is never mistaken for ours.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from infra.config import HOST, InfraError

log = logging.getLogger("wbl.infra")


def pid_path(name: str, run_dir: Path) -> Path:
    """The pid file of process ``name`` of the instance whose state lives in ``run_dir``."""
    return run_dir / "pids" / f"{name}.pid"


def parse_pid_file(text: str) -> tuple[int, str | None] | None:
    """(pid, start time) from a pid file's text, or None when it is not one."""
    parts = text.split()
    if not parts or not parts[0].isdigit() or int(parts[0]) <= 0:
        return None
    return int(parts[0]), parts[1] if len(parts) > 1 else None


def proc_start_time(pid: int) -> str | None:
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
    """The pid of process ``name`` if it is running, else None (a stale pid file is removed)."""
    path = pid_path(name, run_dir)
    try:
        parsed = parse_pid_file(path.read_text())
    except OSError:
        parsed = None
    if parsed is not None:
        pid, started = parsed
        if pid_alive(pid) and (started is None or proc_start_time(pid) in (None, started)):
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

    It runs in its own session (it outlives the caller and ignores the caller's Ctrl-C),
    stdin from /dev/null, stdout and stderr appended to ``log_path``. Its pid is written to
    ``pid_path(name, run_dir)`` and returned. ``env`` is the whole environment (None:
    inherit). InfraError if ``name`` is already running or cannot be executed.
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
    tmp.write_text(f"{proc.pid} {proc_start_time(proc.pid) or ''}\n")
    tmp.replace(path)
    return proc.pid


def stop_process(name: str, run_dir: Path, timeout_s: float = 30.0) -> bool:
    """Stop process ``name`` of the instance in ``run_dir``; True if it was running.

    SIGTERM to its process group, up to ``timeout_s`` to exit, then SIGKILL. Removes the pid
    file. Stopping a process that is not running is not an error.
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

    send(signal.SIGTERM)
    if not _exits(pid, timeout_s):
        log.warning("%s (pid %d) did not exit within %ss of SIGTERM: SIGKILL", name, pid, timeout_s)
        send(signal.SIGKILL)
        _exits(pid, 10)
    with contextlib.suppress(OSError):
        pid_path(name, run_dir).unlink()
    return True


def _exits(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
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


def free_port() -> int:
    """A port nothing listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def require_free_ports(
    ports: Mapping[str, int], command: str = "python deploy/local/infra start"
) -> None:
    """InfraError for the first of ``ports`` (variable -> port) that is taken, suggesting a
    free one as ``<VAR>=<port> <command>``."""
    for var, port in ports.items():
        if port_in_use(port):
            candidates = [port + k * 10000 for k in range(1, 6) if port + k * 10000 <= 65535]
            free = next((p for p in candidates if not port_in_use(p)), None) or free_port()
            raise InfraError(
                f"port {port} ({var}) on {HOST} is already in use by another process; stop "
                f"that process or choose another port, e.g. {var}={free} {command} "
                f"(use a separate WBL_RUN_DIR too)"
            )


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

    An exception from ``check`` counts as "not yet" (the last one is quoted on failure).
    ``abort``, called between attempts, returns a message when waiting is pointless (e.g.
    the process died): it is raised at once. On timeout, InfraError naming ``what`` and
    ending with ``hint`` (e.g. which log file to read).
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
