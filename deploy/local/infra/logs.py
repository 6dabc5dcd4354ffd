"""Where an instance's log files are, and their last lines."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

# PyMongo ends sessions FerretDB does not have: a warning pair per client, pure noise.
NOISE = ("endSessions", 'msg="Response header:')


def tail(path: Path, lines: int) -> list[str]:
    """The last `lines` lines of `path`, without the known noise (reads at most ~1 MiB)."""
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        start = max(0, f.tell() - max(1 << 20, 512 * lines))
        f.seek(start)
        text = f.read().decode(errors="replace").splitlines()[1 if start else 0 :]
    return [line for line in text if not any(n in line for n in NOISE)][-lines:]


def show(paths: Mapping[str, Path], lines: int) -> None:
    """Print each log's path and, when `lines` > 0, its last lines."""
    for name, path in paths.items():
        print(f"{name}: {path}{'' if path.exists() else ' (absent)'}")
        if lines > 0 and path.exists():
            for line in tail(path, lines):
                print(f"  {line}")
