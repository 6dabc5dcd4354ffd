"""Profile mode at statewide scale: 60,000 student profiles x 12,000 openings, 40 fields.

Reports CPU seconds (time.process_time: this process only, so other load on the machine
counts less than in wall time) and wall seconds for each stage of ``propose_matches``
(eligibility, ranking, assignment, explanation, fingerprint), on seeded random profiles
spread over Massachusetts (``wbl_matcher.engine.generate.random_profiles``), for:

- **after**: this checkout's engine as the matcher's rounds call it (``why_not_limit=0``:
  why-not is asked for on demand, so a round explains only the offers it makes);
- **before**: the engine at git ``--before-ref`` (default ``main``), extracted into a
  temporary package and run in the same process on the same profiles, as rounds called
  it then (why-not for every unmatched student, up to 10 entries). Skipped with
  ``--before-ref ''``. Assignments and fingerprints of the two are checked to be equal.

Baseline, measured in the same run: eligibility the straightforward way, calling
``check_pair`` for every (student, opening in one of the student's fields or
related fields) pair, on a sample of students and scaled to the whole population.

    python bench/bench_profiles.py [--students N] [--openings M] [--seed S] [--sample K]
        [--before-ref REF]
"""

from __future__ import annotations

import argparse
import importlib
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _engine_bench import machine, solver_in_use

from wbl_matcher.engine.eligibility import check_pair
from wbl_matcher.engine.generate import random_profiles
from wbl_matcher.engine.rounds import Round, propose_matches

ENGINE = "services/matcher/src/wbl_matcher/engine"
ROOT = Path(__file__).resolve().parent.parent


def engine_at(ref: str, into: Path) -> Any:
    """The engine package as it was at git `ref`, imported as `engine_before`."""
    package = into / "engine_before"
    package.mkdir()
    listing = subprocess.run(
        ["git", "-C", str(ROOT), "ls-tree", "--name-only", ref, f"{ENGINE}/"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for path in listing:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{ref}:{path}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (package / Path(path).name).write_text(source)
    sys.path.insert(0, str(into))
    return importlib.import_module("engine_before.rounds")


def timed_round(solve: Callable[..., Any], label: str, *args: Any, **kw: Any) -> Any:
    """Run one round; print CPU and wall seconds per stage."""
    stages: list[tuple[str, float, float]] = []
    last = [time.process_time()]

    def on_stage(name: str, seconds: float) -> None:
        now = time.process_time()
        stages.append((name, now - last[0], seconds))
        last[0] = now

    started, cpu = time.perf_counter(), time.process_time()
    result = solve(*args, on_stage=on_stage, **kw)
    total, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"{label}:")
    for name, cpu_s, wall_s in stages:
        print(f"  stage {name:<12} {cpu_s:7.2f} s CPU {wall_s:7.2f} s wall")
    print(f"  total              {cpu:7.2f} s CPU {total:7.2f} s wall")
    matched = sum(v is not None for v in result.assignments.values())
    reasons = sum(len(w) for w in result.why_not.values())
    print(
        f"  matched {matched:,}; {len(result.explanations):,} explanations, "
        f"{reasons:,} why-not entries"
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=60_000)
    parser.add_argument("--openings", type=int, default=12_000)
    parser.add_argument("--fields", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sample", type=int, default=1_000, help="students in the baseline")
    parser.add_argument("--before-ref", default="main", help="git ref of the 'before' engine")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"solver: {solver_in_use()}")
    started = time.perf_counter()
    openings, students, related = random_profiles(
        students=args.students, openings=args.openings, fields=args.fields, seed=args.seed
    )
    print(
        f"profiles: {len(students):,} students x {len(openings):,} openings, "
        f"{args.fields} fields, {len(related)} related-field links "
        f"(generated in {time.perf_counter() - started:.1f} s)"
    )

    seats = sum(o.seats for o in openings)
    print(f"seats: {seats:,}; load average at the start of the rounds: {load()}")
    after: Round = timed_round(
        propose_matches,
        "after",
        openings,
        students,
        seed=args.seed,
        related_fields=related,
        why_not_limit=0,
    )
    if args.before_ref:
        with tempfile.TemporaryDirectory() as into:
            before = engine_at(args.before_ref, Path(into))
            # The same profiles, as that engine's own classes (its checks are by type).
            generate = importlib.import_module("engine_before.generate")
            profiles = generate.random_profiles(
                students=args.students, openings=args.openings, fields=args.fields, seed=args.seed
            )
            old = timed_round(
                before.propose_matches,
                f"before ({args.before_ref})",
                *profiles[:2],
                seed=args.seed,
                related_fields=profiles[2],
            )

        def words(r: Any) -> dict[str, list[str]]:
            return {sid: list(e.lines()) for sid, e in r.explanations.items()}

        same = (old.assignments, words(old)) == (after.assignments, words(after))
        print(f"same assignments and explanations before and after: {same}")
    print(f"load average at the end of the rounds: {load()}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak memory of this process (ru_maxrss, includes the inputs): {peak / 1024:.0f} MiB")

    by_field: dict[str, list[int]] = {}
    for i, o in enumerate(openings):
        by_field.setdefault(o.career_field, []).append(i)
    sample = students[: args.sample]
    started = time.perf_counter()
    eligible = 0
    for s in sample:
        fields = list(s.career_fields)
        for f in s.career_fields:
            fields.extend(related.get(f, ()))
        for f in dict.fromkeys(fields):
            for i in by_field.get(f, ()):
                eligible += all(c.held for c in check_pair(openings[i], s, related))
    sampled = time.perf_counter() - started
    scaled = sampled * len(students) / len(sample)
    ours = after.timings["eligibility"]
    print(
        f"baseline eligibility (check_pair on every same-field pair): {sampled:.2f} s for "
        f"{len(sample):,} students, scaled to {scaled:.1f} s for {len(students):,}"
    )
    print(f"ratio baseline / eligibility stage: {scaled / ours:.1f}x")
    return 0


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


if __name__ == "__main__":
    sys.exit(main())
