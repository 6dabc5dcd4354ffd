"""Shared helpers for the matching-engine benchmarks (plain scripts, no framework)."""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
MATCHER_SRC = ROOT / "services" / "matcher" / "src"
if str(MATCHER_SRC) not in sys.path:
    sys.path.insert(0, str(MATCHER_SRC))

T = TypeVar("T")


def machine() -> str:
    cores = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.python_implementation()} {platform.python_version()} on "
        f"{platform.system()} {platform.machine()}, {cores} cores (nproc), "
        f"load average {load:.2f} at start"
    )


def best_of(fn: Callable[[], T], repeat: int) -> tuple[float, T]:
    """Smallest wall time of ``repeat`` calls, and the last result."""
    best = float("inf")
    result: Any = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def run_in_big_stack(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a thread with a 1 GiB stack and a high recursion limit.

    The `matching` package deep-copies its players recursively; at 1,000 students
    that overflows CPython's default recursion limit.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller
            box["error"] = exc

    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1_000_000)
    old_size = threading.stack_size(1 << 30)
    try:
        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
    finally:
        threading.stack_size(old_size)
        sys.setrecursionlimit(old_limit)
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def matching_dictionaries(
    document: dict[str, Any],
) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, int]]:
    """The instance in the form `matching`'s HospitalResident accepts.

    `matching` wants every hospital to rank exactly the residents who rank it, no
    empty lists and capacities >= 1, so keep mutually acceptable pairs only (this
    leaves the student-optimal stable matching unchanged). Not timed.
    """
    capacity = {o["id"]: o["capacity"] for o in document["openings"] if o["capacity"] > 0}
    ranks = {o["id"]: set(o["ranking"]) for o in document["openings"]}
    residents: dict[str, list[str]] = {}
    for s in document["students"]:
        prefs = [o for o in s["ranking"] if o in capacity and s["id"] in ranks[o]]
        if prefs:
            residents[s["id"]] = prefs
    hospitals: dict[str, list[str]] = {}
    for o in document["openings"]:
        if o["id"] in capacity:
            prefs = [s for s in o["ranking"] if o["id"] in residents.get(s, ())]
            if prefs:
                hospitals[o["id"]] = prefs
    return residents, hospitals, {h: capacity[h] for h in hospitals}


def solve_with_matching(
    residents: dict[str, list[str]],
    hospitals: dict[str, list[str]],
    capacities: dict[str, int],
    student_ids: Sequence[str],
) -> dict[str, str | None]:
    """Resident-optimal HospitalResident solution as {student: opening or None}."""
    from matching.games import HospitalResident

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        game = HospitalResident.create_from_dictionaries(residents, hospitals, capacities)
        result = game.solve(optimal="resident")
    assignments: dict[str, str | None] = dict.fromkeys(student_ids)
    for hospital, matched in result.items():
        for resident in matched:
            assignments[resident.name] = hospital.name
    return assignments


def wbl_match_command(option: str | None) -> list[str]:
    """The `wbl-match` command: --wbl-match, else .venv/bin/wbl-match, else python -m.

    ``option`` is a path or a command line (split like a shell would), e.g.
    ``"/path/to/python -m wbl_matcher.cli"``.
    """
    if option:
        return shlex.split(option)
    script = ROOT / ".venv" / "bin" / "wbl-match"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "wbl_matcher.cli"]


def solver_in_use() -> str:
    """Which deferred acceptance the engine runs here, for the benchmarks' headers."""
    from wbl_matcher.engine.acceptance import native_solve

    return "C (wbl_match_core)" if native_solve else "pure Python (C not built)"


def interpreter_of(command: list[str]) -> str:
    """The Python that runs ``command``: a script's ``#!`` line, else its first word."""
    try:
        with open(command[0], "rb") as handle:
            first = handle.readline()
    except OSError:
        return command[0]
    if first.startswith(b"#!"):
        return first[2:].decode().split()[0]
    return command[0]


def child_env() -> dict[str, str]:
    """Environment of measured child processes.

    Bytecode is cached (outside the repository, under /tmp) as it would be in an
    installed environment, even if the caller's shell sets PYTHONDONTWRITEBYTECODE.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", "/tmp/wbl-bench-pycache")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(MATCHER_SRC), env.get("PYTHONPATH")) if p)
    return env


def run_child(command: list[str], stdout_path: Path | None = None) -> tuple[float, int, int]:
    """Run ``command``; return (wall seconds, exit status, peak RSS in KiB of that child)."""
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, env=child_env())
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if stdout_path:
            out.close()  # type: ignore[union-attr]
    return elapsed, child.returncode, usage.ru_maxrss


def write_json(document: Any, path: Path) -> None:
    path.write_text(json.dumps(document, separators=(",", ":")))


def which(name: str) -> str | None:
    return shutil.which(name)
