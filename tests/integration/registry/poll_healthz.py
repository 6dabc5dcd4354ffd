"""`python -m tests.integration.registry.poll_healthz URL`: GET URL every 50 ms until its
stdin closes. Prints `ready` after the first answer, then at the end a JSON list of
`[sent, latency]` pairs: when each GET was sent (`time.monotonic()`, a clock every process
on the machine shares) and how long its answer took, in seconds.

A process of its own, so the latencies it measures are the server's and the machine's,
not those of a test's event loop busy sending or reading a 5 MiB upload."""

from __future__ import annotations

import json
import sys
import threading
import time

import httpx


def main(url: str) -> None:
    stop = threading.Event()

    def stop_at_end_of_input() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=stop_at_end_of_input, daemon=True).start()
    answers: list[tuple[float, float]] = []
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            sent = time.monotonic()
            answer = client.get(url)
            answers.append((sent, time.monotonic() - sent))
            if answer.status_code != 200:
                raise SystemExit(f"{url} answered {answer.status_code}")
            if len(answers) == 1:
                print("ready", flush=True)
            stop.wait(0.05)
    print(json.dumps(answers))


if __name__ == "__main__":
    main(sys.argv[1])
