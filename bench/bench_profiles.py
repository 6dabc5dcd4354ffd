"""Profile mode at statewide scale: 60,000 student profiles x 12,000 openings, 40 fields.

Times each stage of ``propose_matches`` (eligibility, ranking, assignment,
explanation, fingerprint) on seeded random profiles spread over Massachusetts
(see ``wbl_matcher.engine.generate.random_profiles``).

Baseline, measured in the same run: eligibility the straightforward way, calling
``check_pair`` for every (student, opening in one of the student's fields or
related fields) pair, on a sample of students and scaled to the whole population;
compared with the eligibility stage (field + lat/lon grid index).

    python bench/bench_profiles.py [--students N] [--openings M] [--seed S] [--sample K]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

from _engine_bench import machine, solver_in_use

from wbl_matcher.engine.eligibility import check_pair
from wbl_matcher.engine.generate import random_profiles
from wbl_matcher.engine.rounds import propose_matches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=60_000)
    parser.add_argument("--openings", type=int, default=12_000)
    parser.add_argument("--fields", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sample", type=int, default=1_000, help="students in the baseline")
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

    stages: list[tuple[str, float]] = []
    started = time.perf_counter()
    result = propose_matches(
        openings,
        students,
        seed=args.seed,
        related_fields=related,
        on_stage=lambda name, seconds: stages.append((name, seconds)),
    )
    total = time.perf_counter() - started
    matched = sum(v is not None for v in result.assignments.values())
    seats = sum(o.seats for o in openings)
    reasons = sum(len(w) for w in result.why_not.values())
    for name, seconds in stages:
        print(f"  stage {name:<12} {seconds:7.2f} s")
    print(f"  total              {total:7.2f} s")
    print(
        f"matched {matched:,} of {len(students):,} students ({seats:,} seats); "
        f"{len(result.explanations):,} explanations, {reasons:,} why-not entries"
    )
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
    ours = dict(stages)["eligibility"]
    print(
        f"baseline eligibility (check_pair on every same-field pair): {sampled:.2f} s for "
        f"{len(sample):,} students, scaled to {scaled:.1f} s for {len(students):,}"
    )
    print(f"ratio baseline / eligibility stage: {scaled / ours:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
