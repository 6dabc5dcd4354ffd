"""The shared cache: what is fetched or built once per machine, installed atomically.

Each artifact is made in a temporary directory beside its home and renamed into place
when complete, under a file lock, with a stamp naming the inputs it was made from: an
interrupted fetch never leaves a broken cache, two instances starting together fetch
once, and a warm start uses no network.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import shlex
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from infra.config import InfraError

STAMP = ".complete"


def digest(*parts: bytes) -> str:
    """A hash of the inputs an artifact is made from (length-prefixed, so unambiguous)."""
    sha = hashlib.sha256()
    for part in parts:
        sha.update(len(part).to_bytes(8, "big"))
        sha.update(part)
    return sha.hexdigest()


def is_current(home: Path, inputs: str) -> bool:
    try:
        return (home / STAMP).read_text().strip() == inputs
    except OSError:
        return False


@contextlib.contextmanager
def building(cache_dir: Path, home: Path, inputs: str) -> Iterator[Path | None]:
    """A fresh temporary directory to make ``home`` in, installed on success; None when
    another process finished it while this one waited for the lock.

    Whoever holds the lock also removes what an interrupted build of ``home`` left behind.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    name = home.name
    with (cache_dir / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            for leftover in [*cache_dir.glob(f".tmp-{name}-*"), *cache_dir.glob(f".old-{name}-*")]:
                shutil.rmtree(leftover, ignore_errors=True)
            if is_current(home, inputs):
                yield None
                return
            tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=cache_dir))
            try:
                yield tmp
                _install(tmp, home, inputs)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _install(tmp: Path, home: Path, inputs: str) -> None:
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


def require_tool(tool: str, what_for: str, install: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise InfraError(f"`{tool}` not found on PATH; it is needed {what_for}: install {install}")
    return path


def run_reading(
    argv: Sequence[str],
    on_line: Callable[[str], None],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[int, str]:
    """Run ``argv`` and hand each line of its output (stdout and stderr) to ``on_line``
    as it comes; (exit code, the whole output)."""
    lines: list[str] = []
    with subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            on_line(line.rstrip("\n"))
    return proc.returncode, "".join(lines)


def keep_output(cache_dir: Path, home: Path, argv: Sequence[str], output: str) -> Path:
    """Save a failed command's output where the error message can point to it."""
    path = cache_dir / f"fetch-{home.name}.log"
    path.write_text(f"$ {shlex.join(argv)}\n{output}")
    return path
