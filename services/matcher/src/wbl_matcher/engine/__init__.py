"""The matching engine: pure functions and frozen dataclasses, no I/O.

- :mod:`.acceptance`: the dependency-free deferred-acceptance core (for the CLI).
- :mod:`.stable`: student-proposing deferred acceptance with capacities on explicit
  preference lists (``solve``), the instance types and ``InstanceError``.
- :mod:`.profiles`: ``OpeningProfile``, ``StudentProfile`` and friends.
- :mod:`.eligibility`: hard constraints, ``check_pair`` and the bulk index.
- :mod:`.ranking`: employer and student rankings, the seeded lottery.
- :mod:`.explain`: ``Explanation`` and ``WhyNot`` in plain words.
- :mod:`.rounds`: ``propose_matches`` -> ``Round``; ``partition_by_career_field``.
- :mod:`.generate`: seeded random instances for tests and benchmarks.

Names are re-exported lazily so ``import wbl_matcher.engine.stable`` (the
``wbl-match`` command's path) does not pay for the profile-mode modules.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (start-up cost)
if TYPE_CHECKING:
    from typing import Any

    from .eligibility import check_pair, haversine_km, legal_weekly_hours
    from .explain import Contribution, Explanation, WhyNot
    from .profiles import HiringPreferences, Location, OpeningProfile, StudentProfile
    from .rounds import Partition, Round, partition_by_career_field, propose_matches
    from .stable import (
        Instance,
        InstanceError,
        OpeningPrefs,
        StableMatching,
        StudentPrefs,
        blocking_pairs,
        parse_instance,
        solve,
        solve_document,
    )

_WHERE = {
    "check_pair": "eligibility",
    "haversine_km": "eligibility",
    "legal_weekly_hours": "eligibility",
    "Contribution": "explain",
    "Explanation": "explain",
    "WhyNot": "explain",
    "HiringPreferences": "profiles",
    "Location": "profiles",
    "OpeningProfile": "profiles",
    "StudentProfile": "profiles",
    "Partition": "rounds",
    "Round": "rounds",
    "partition_by_career_field": "rounds",
    "propose_matches": "rounds",
    "Instance": "stable",
    "InstanceError": "stable",
    "OpeningPrefs": "stable",
    "StableMatching": "stable",
    "StudentPrefs": "stable",
    "blocking_pairs": "stable",
    "parse_instance": "stable",
    "solve": "stable",
    "solve_document": "stable",
}

__all__ = [
    "Contribution",
    "Explanation",
    "HiringPreferences",
    "Instance",
    "InstanceError",
    "Location",
    "OpeningPrefs",
    "OpeningProfile",
    "Partition",
    "Round",
    "StableMatching",
    "StudentPrefs",
    "StudentProfile",
    "WhyNot",
    "blocking_pairs",
    "check_pair",
    "haversine_km",
    "legal_weekly_hours",
    "parse_instance",
    "partition_by_career_field",
    "propose_matches",
    "solve",
    "solve_document",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module  # here: importlib costs the CLI ~0.5 ms at start

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
