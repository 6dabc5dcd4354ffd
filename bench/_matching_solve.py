"""Solve a CONTRACTS.md instance with the `matching` package; print {"assignments": ...}.

The whole-process baseline for bench_vs_matching.py: `python bench/_matching_solve.py FILE`.
"""

from __future__ import annotations

import json
import sys

from _engine_bench import matching_dictionaries, run_in_big_stack, solve_with_matching


def main() -> int:
    with open(sys.argv[1], "rb") as handle:
        document = json.load(handle)
    residents, hospitals, capacities = matching_dictionaries(document)
    ids = [s["id"] for s in document["students"]]
    assignments = run_in_big_stack(
        lambda: solve_with_matching(residents, hospitals, capacities, ids)
    )
    sys.stdout.write(json.dumps({"assignments": assignments}, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
