"""What the long steps are doing, printed while they run.

Each step (a server's fetch, build, start or health check) sets its current activity; a
line naming every activity, with how far each has come and the time elapsed, is printed
when an activity begins and then every few seconds, so a cold start never looks hung.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TextIO


@dataclass(frozen=True)
class Activity:
    what: str  # e.g. "downloading jars from Maven Central"
    done: int | None = None
    total: int | None = None
    unit: str = ""  # what `done` counts, e.g. "files"
    detail: str = ""  # e.g. "31.2 MB"


def clock(seconds: float) -> str:
    """Elapsed time as m:ss (h:mm:ss past an hour)."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def size(n_bytes: float) -> str:
    """A byte count the way download tools print it (decimal units)."""
    for unit in ("B", "kB", "MB"):
        if n_bytes < 1000:
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    return f"{n_bytes:.2f} GB"


def describe(name: str, activity: Activity) -> str:
    """`kafka: downloading jars, 12 files (3.1 MB)`; `ferretdb: compiling, 212/509 packages`."""
    counted = ""
    if activity.done is not None:
        of = f"/{activity.total}" if activity.total else ""
        counted = f"{activity.done}{of} {activity.unit}".rstrip()
    extra = f" ({activity.detail})" if activity.detail and counted else activity.detail
    tail = f"{counted}{extra}" if counted else extra
    return f"{name}: {activity.what}{', ' + tail if tail else ''}"


def status_line(elapsed_s: float, activities: Mapping[str, Activity]) -> str:
    parts = " · ".join(describe(name, a) for name, a in activities.items())
    return f"  [{clock(elapsed_s)}] {parts}"


class Progress:
    """Thread-safe: the steps of the servers run concurrently and share one reporter."""

    def __init__(
        self,
        out: TextIO | None = None,
        interval_s: float = 3.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._out = out or sys.stdout
        self._interval_s = interval_s
        self._now = now
        self._started = now()
        self._activities: dict[str, Activity] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def elapsed(self) -> float:
        return self._now() - self._started

    def set(
        self,
        name: str,
        what: str,
        *,
        done: int | None = None,
        total: int | None = None,
        unit: str = "",
        detail: str = "",
    ) -> None:
        """Begin an activity of `name` (printed at once), or update the one under way."""
        activity = Activity(what, done, total, unit, detail)
        with self._lock:
            current = self._activities.get(name)
            self._activities[name] = activity
            if current is None or current.what != what:
                self._print(status_line(self.elapsed(), {name: activity}))

    def finish(self, name: str, text: str) -> None:
        """End `name`'s activity with a line saying what came of it."""
        with self._lock:
            self._activities.pop(name, None)
            self._print(f"  [{clock(self.elapsed())}] {name}: {text}")

    def say(self, text: str) -> None:
        with self._lock:
            self._print(f"  [{clock(self.elapsed())}] {text}")

    def tick(self) -> None:
        """One line about every activity under way (none when nothing is)."""
        with self._lock:
            if self._activities:
                self._print(status_line(self.elapsed(), self._activities))

    def _print(self, line: str) -> None:
        print(line, file=self._out, flush=True)

    def __enter__(self) -> Progress:
        def beat() -> None:
            while not self._stop.wait(self._interval_s):
                self.tick()

        self._ticker = threading.Thread(target=beat, name="progress", daemon=True)
        self._ticker.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
