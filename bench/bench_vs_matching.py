"""Our deferred acceptance vs the `matching` package (HospitalResident, resident-optimal).

Same seeded random instances (N students x M openings, 10 choices each, capacities
1-5, one career field), solved by both; assignments must be identical. Reports:

- in-process: from the decoded JSON document to assignments. Ours is
  ``solve_document(document)``; the baseline is ``HospitalResident.
  create_from_dictionaries(...).solve()`` (its input dictionaries are prepared
  beforehand, untimed). Target ratio >= 100x.
- whole process: ``wbl-match solve FILE`` vs ``python bench/_matching_solve.py FILE``
  (reads the same file, solves with `matching`, prints the same JSON). Target >= 25x at
  5,000 x 1,000. At 1,000 x 200 the target is retired (issue 9): there the interpreter's
  own start-up is most of the time. Also timed: ``wbl-match``'s own interpreter doing
  nothing (``python -c pass``), the floor no console script can go below, and the ratio
  that floor would give.

    python bench/bench_vs_matching.py [--wbl-match PATH] [--seed S] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from functools import partial
from pathlib import Path

from _engine_bench import (
    ROOT,
    best_of,
    interpreter_of,
    machine,
    matching_dictionaries,
    run_child,
    run_in_big_stack,
    solve_with_matching,
    solver_in_use,
    wbl_match_command,
    write_json,
)

from wbl_matcher.engine.acceptance import (
    columns_of_document,
    solve_columns_in_python,
)
from wbl_matcher.engine.generate import random_instance_document
from wbl_matcher.engine.stable import parse_instance, solve, solve_document

SIZES = ((1_000, 200), (5_000, 1_000))
# Whole-process targets by size; the 1,000 x 200 one (25x) is retired: start-up dominates.
WHOLE_PROCESS_TARGETS = {(5_000, 1_000): 25.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--wbl-match", help='wbl-match command: a path, or e.g. "python -m wbl_matcher.cli"'
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (best kept)")
    args = parser.parse_args()
    command = wbl_match_command(args.wbl_match)
    idle = interpreter_of(command)
    print(f"machine: {machine()}")
    print(f"wbl-match command: {' '.join(command)}")
    print(f"solver: {solver_in_use()}")
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for students, openings in SIZES:
            document = random_instance_document(
                students=students, openings=openings, fields=1, choices=10, seed=args.seed
            )
            label = f"{students:,} students x {openings:,} openings"
            residents, hospitals, capacities = matching_dictionaries(document)
            ids = [s["id"] for s in document["students"]]

            # ours first: the baseline leaves a fragmented heap behind it
            ours_s, ours = best_of(partial(solve_document, document), args.repeat * 6)
            instance = parse_instance(document)
            solve_only_s, _ = best_of(partial(solve, instance), args.repeat * 6)
            python_s, _ = best_of(
                partial(solve_columns_in_python, columns_of_document(document)), args.repeat * 2
            )
            baseline = partial(solve_with_matching, residents, hospitals, capacities, ids)
            theirs_s, theirs = run_in_big_stack(
                partial(best_of, baseline, max(1, args.repeat // 2))
            )
            same = dict(ours.assignments) == theirs
            failures += not same
            matched = sum(v is not None for v in theirs.values())
            print(f"\n{label}: {matched:,} matched; identical assignments: {same}")
            print(f"  in-process  matching {theirs_s * 1e3:9.1f} ms (baseline)")
            print(f"  in-process  ours     {ours_s * 1e3:9.2f} ms  (solve_document)")
            print(
                f"  in-process  ours     {solve_only_s * 1e3:9.2f} ms  (solve on a parsed Instance)"
            )
            print(f"  in-process  ours     {python_s * 1e3:9.2f} ms  (its pure-Python solver)")
            print(
                f"  in-process ratio {theirs_s / ours_s:7.1f}x  (target >= 100x; "
                f"{theirs_s / solve_only_s:.1f}x against solve alone)"
            )

            path = Path(tmp) / f"instance-{students}.json"
            write_json(document, path)
            ours_out, theirs_out = Path(tmp) / "ours.json", Path(tmp) / "theirs.json"
            ours_p = min(
                run_child([*command, "solve", str(path)], ours_out)[0] for _ in range(args.repeat)
            )
            baseline_cmd = [sys.executable, str(ROOT / "bench" / "_matching_solve.py"), str(path)]
            theirs_p = min(
                run_child(baseline_cmd, theirs_out)[0] for _ in range(max(1, args.repeat // 2))
            )
            idle_p = min(run_child([idle, "-c", "pass"])[0] for _ in range(args.repeat))
            same_p = json.loads(ours_out.read_bytes()) == json.loads(theirs_out.read_bytes())
            failures += not same_p
            print(f"  process     matching {theirs_p * 1e3:9.1f} ms (baseline)")
            print(f"  process     wbl-match {ours_p * 1e3:8.1f} ms; identical output: {same_p}")
            print(f"  process     {idle} -c pass {idle_p * 1e3:.1f} ms (its interpreter, idle)")
            target = WHOLE_PROCESS_TARGETS.get((students, openings))
            goal = f"target >= {target:g}x" if target else "no target: retired, start-up dominates"
            print(
                f"  whole-process ratio {theirs_p / ours_p:6.1f}x  ({goal}; "
                f"{theirs_p / idle_p:.1f}x if wbl-match took no time beyond start-up)"
            )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
