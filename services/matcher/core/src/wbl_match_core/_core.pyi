from collections.abc import Sequence

def solve(
    student_ids: list[str],
    student_rankings: list[Sequence[str]],
    opening_ids: list[str],
    capacities: list[int],
    opening_rankings: list[Sequence[str]],
    /,
) -> tuple[dict[str, str | None], int] | None: ...
def deferred_acceptance(
    student_choices: Sequence[Sequence[int]],
    ranked: Sequence[Sequence[int]],
    capacities: Sequence[int],
    /,
) -> tuple[list[int], int] | None: ...
