"""Perkins 5S3 and work-based learning in the outcomes report (issue 14): verified hours and
completions by group, the CTE concentrators who reached the hours threshold, and the new
figures withheld with a small group."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from wbl_registry.domain import OutcomeFacts, WorkBasedLearning, outcomes, suppress_small_groups

pytestmark = pytest.mark.unit


def facts(n: int, **changes: Any) -> OutcomeFacts:
    base = OutcomeFacts(f"s{n}", "sch_a", "chapter-74", "robotics", (), True)
    return replace(base, **changes)


def row_of(rows: list[Any], dimension: str, group: str) -> Any:
    [row] = [r for r in rows if (r.dimension, r.group) == (dimension, group)]
    return row


def test_5s3_counts_cte_students_whose_verified_hours_reach_the_threshold() -> None:
    cohort = [
        facts(1),  # 60 verified hours: took part
        facts(2),  # 54 exactly: took part
        facts(3),  # 53.75: not yet
        facts(4),  # not placed: a concentrator who did not take part
        facts(5, program="early-college"),  # not CTE: in neither count
    ]
    learning = {
        "s1": WorkBasedLearning(Decimal(60), completed=True),
        "s2": WorkBasedLearning(Decimal(54), completed=False),
        "s3": WorkBasedLearning(Decimal("53.75"), completed=False),
        "s5": WorkBasedLearning(Decimal(80), completed=True),
    }
    rows = outcomes(cohort, {"s1", "s2", "s3", "s5"}, learning=learning)
    school = row_of(rows, "school", "sch_a")
    assert (school.cte_concentrators, school.wbl_participants) == (4, 2)
    assert school.five_s3_rate == 0.5
    assert school.hours_verified == Decimal("247.75")
    assert (school.completed, school.completion_rate) == (2, 0.5)
    assert row_of(rows, "program", "early-college").five_s3_rate == 0.0  # no concentrator


def test_the_threshold_is_the_states_to_set() -> None:
    learning = {"s1": WorkBasedLearning(Decimal(30), completed=False)}
    at_54 = row_of(outcomes([facts(1)], {"s1"}, learning=learning), "school", "sch_a")
    at_30 = row_of(
        outcomes([facts(1)], {"s1"}, learning=learning, threshold=Decimal(30)), "school", "sch_a"
    )
    assert (at_54.wbl_participants, at_30.wbl_participants) == (0, 1)


def test_hours_of_a_student_not_placed_do_not_count() -> None:
    """Only a confirmed placement's hours are work-based learning for the report."""
    learning = {"s1": WorkBasedLearning(Decimal(99), completed=True)}
    school = row_of(outcomes([facts(1)], set(), learning=learning), "school", "sch_a")
    assert (school.hours_verified, school.wbl_participants, school.completed) == (0, 0, 0)


def test_a_small_group_withholds_its_5s3_figures_too() -> None:
    cohort = [facts(n) for n in range(12)] + [facts(99, school_id="sch_small")]
    learning = {"s99": WorkBasedLearning(Decimal(60), completed=True)}
    rows = suppress_small_groups(outcomes(cohort, {"s99"}, learning=learning), 10)
    small = row_of(rows, "school", "sch_small")
    assert small.suppressed  # and OutcomePublic nulls every figure of a suppressed row
