"""Statewide scale: 60,000 students x 12,000 openings, 40 career fields, 10 choices each.

Reports, on one seeded random instance (capacities 1-5):

- the whole ``wbl-match solve FILE`` process: wall time (target < 2 s) and peak
  memory (ru_maxrss of that child, from os.wait4);
- the solve in-process, from the decoded document (``solve_document``) and from a
  parsed ``Instance`` (``solve``), best of several runs (target < 1 s);
- the baseline, measured in the same run: a straightforward textbook deferred
  acceptance (string ids, a queue of free students, each opening's held students
  in a list and its worst found with ``max`` over ranks), the way one would first
  write it. Same assignments are checked.

    python bench/bench_statewide.py [--wbl-match PATH] [--seed S] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import deque
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from _engine_bench import (
    best_of,
    machine,
    run_child,
    solver_in_use,
    wbl_match_command,
    write_json,
)

from wbl_matcher.engine.generate import random_instance_document
from wbl_matcher.engine.stable import parse_instance, solve, solve_document

STUDENTS, OPENINGS, FIELDS, CHOICES = 60_000, 12_000, 40, 10


def textbook_deferred_acceptance(document: Mapping[str, Any]) -> dict[str, str | None]:
    """The baseline: a direct transcription of the algorithm, validation left out."""
    students: Sequence[Mapping[str, Any]] = document["students"]
    openings: Sequence[Mapping[str, Any]] = document["openings"]
    prefs = {s["id"]: list(s["ranking"]) for s in students}
    rank = {o["id"]: {sid: r for r, sid in enumerate(o["ranking"])} for o in openings}
    capacity = {o["id"]: o["capacity"] for o in openings}
    held: dict[str, list[str]] = {o["id"]: [] for o in openings}
    match: dict[str, str | None] = {s["id"]: None for s in students}
    next_choice = dict.fromkeys(prefs, 0)
    free = deque(prefs)
    while free:
        sid = free.popleft()
        while next_choice[sid] < len(prefs[sid]):
            oid = prefs[sid][next_choice[sid]]
            next_choice[sid] += 1
            if sid not in rank[oid] or capacity[oid] == 0:
                continue
            if len(held[oid]) < capacity[oid]:
                held[oid].append(sid)
                match[sid] = oid
                break
            worst = max(held[oid], key=rank[oid].__getitem__)
            if rank[oid][sid] < rank[oid][worst]:
                held[oid].remove(worst)
                match[worst] = None
                free.append(worst)
                held[oid].append(sid)
                match[sid] = oid
                break
    return match


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--wbl-match", help='wbl-match command: a path, or e.g. "python -m wbl_matcher.cli"'
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    command = wbl_match_command(args.wbl_match)
    print(f"machine: {machine()}")
    print(f"wbl-match command: {' '.join(command)}")
    print(f"solver: {solver_in_use()}")
    started = time.perf_counter()
    document = random_instance_document(
        students=STUDENTS, openings=OPENINGS, fields=FIELDS, choices=CHOICES, seed=args.seed
    )
    entries = sum(len(s["ranking"]) for s in document["students"]) + sum(
        len(o["ranking"]) for o in document["openings"]
    )
    print(
        f"instance: {STUDENTS:,} students x {OPENINGS:,} openings, {FIELDS} fields, "
        f"{CHOICES} choices, {entries:,} ranking entries "
        f"(generated in {time.perf_counter() - started:.1f} s)"
    )
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "statewide.json"
        write_json(document, path)
        print(f"file: {path.stat().st_size / 1e6:.1f} MB")
        out = Path(tmp) / "out.json"
        runs = [run_child([*command, "solve", str(path)], out) for _ in range(args.repeat)]
        wall = min(r[0] for r in runs)
        peak_kib = max(r[2] for r in runs)
        statuses = {r[1] for r in runs}
        process_assignments = json.loads(out.read_bytes())["assignments"]

    solve_document_s, matching = best_of(partial(solve_document, document), args.repeat)
    instance = parse_instance(document)
    solve_s, _ = best_of(partial(solve, instance), args.repeat)
    baseline_s, baseline = best_of(
        partial(textbook_deferred_acceptance, document), max(1, args.repeat // 2)
    )
    same = dict(matching.assignments) == baseline == process_assignments
    failures += not same or statuses != {0}
    matched = sum(v is not None for v in baseline.values())
    print(f"matched: {matched:,}; identical assignments (ours, process, baseline): {same}")
    print(f"whole process `wbl-match solve FILE`: {wall:.3f} s (target < 2 s), exit {statuses}")
    print(f"peak memory of that process (ru_maxrss): {peak_kib / 1024:.0f} MiB")
    print(f"in-process solve_document(document): {solve_document_s:.3f} s (target < 1 s)")
    print(f"in-process solve(Instance):          {solve_s:.3f} s")
    print(f"baseline, textbook deferred acceptance: {baseline_s:.3f} s")
    print(f"ratio baseline / solve_document: {baseline_s / solve_document_s:.1f}x")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
