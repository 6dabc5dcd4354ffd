"""Where a placement stands, from its facts: signatures, permit, hours, evaluations."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from wbl_registry.party_links import Party
from wbl_registry.placement_life import (
    Evaluation,
    PlacementFacts,
    Stage,
    completes,
    evaluation_due,
    expected_hours_by,
    has_ended,
    hours_behind,
    not_yet_signed,
    parties_to_sign,
    planned_hours,
    stage,
    why_not_started,
)

ALL = frozenset(Party)
# Eight weeks, Monday 5 July to Sunday 29 August 2027, 20 hours a week; she is 16 at the start.
MINOR = PlacementFacts(
    starts_on=date(2027, 7, 5),
    ends_on=date(2027, 8, 29),
    hours_per_week=20,
    born_on=date(2011, 3, 1),
    signed=frozenset(),
    permit_on_file=False,
    hours_logged=False,
    verified_hours=Decimal(0),
    evaluations=frozenset(),
)
ADULT = replace(MINOR, born_on=date(2009, 7, 5))  # 18 on the first day


def test_a_guardian_signs_for_a_minor_only() -> None:
    assert parties_to_sign(MINOR) == ALL
    assert parties_to_sign(ADULT) == ALL - {Party.GUARDIAN}


def test_a_minor_waits_for_every_signature_then_the_permit() -> None:
    assert stage(MINOR) is Stage.AWAITING_SIGNATURES
    assert why_not_started(replace(MINOR, signed=frozenset({Party.SCHOOL}))) == [
        "The training agreement still needs the signature of: employer, guardian, student.",
        "The student is under 18 and no work permit is on file.",
    ]
    signed = replace(MINOR, signed=ALL)
    assert not_yet_signed(signed) == frozenset()
    assert stage(signed) is Stage.AWAITING_PERMIT
    permitted = replace(signed, permit_on_file=True)
    assert (stage(permitted), why_not_started(permitted)) == (Stage.READY, [])
    assert stage(replace(permitted, hours_logged=True)) is Stage.UNDER_WAY


def test_an_adult_needs_no_permit() -> None:
    assert stage(replace(ADULT, signed=ALL - {Party.GUARDIAN})) is Stage.READY


def test_planned_hours_count_the_weeks_and_part_weeks() -> None:
    assert planned_hours(MINOR) == Decimal(160)  # 8 weeks of 20
    assert planned_hours(replace(MINOR, ends_on=date(2027, 7, 8))) == Decimal("11.50")  # 4 days


def test_hours_behind_count_what_is_expected_by_today_and_not_verified() -> None:
    assert expected_hours_by(MINOR, date(2027, 7, 1)) == 0
    assert expected_hours_by(MINOR, date(2027, 7, 18)) == Decimal(40)  # two weeks
    assert hours_behind(replace(MINOR, verified_hours=Decimal(30)), date(2027, 7, 18)) == 10
    assert hours_behind(replace(MINOR, verified_hours=Decimal(45)), date(2027, 7, 18)) == 0
    assert expected_hours_by(MINOR, date(2027, 12, 1)) == planned_hours(MINOR)


def test_the_midpoint_then_the_final_evaluation_fall_due() -> None:
    assert evaluation_due(MINOR, date(2027, 7, 31)) is None
    assert evaluation_due(MINOR, date(2027, 8, 1)) is Evaluation.MIDPOINT
    midway = replace(MINOR, evaluations=frozenset({Evaluation.MIDPOINT}))
    assert evaluation_due(midway, date(2027, 8, 28)) is None
    assert evaluation_due(midway, date(2027, 8, 29)) is Evaluation.FINAL
    assert evaluation_due(MINOR, date(2027, 9, 1)) is Evaluation.FINAL  # the midpoint is moot


def test_complete_takes_the_planned_hours_verified_and_the_final_evaluation() -> None:
    ready = replace(MINOR, signed=ALL, permit_on_file=True, hours_logged=True)
    done = replace(ready, verified_hours=Decimal(160), evaluations=frozenset(Evaluation))
    assert stage(done) is Stage.COMPLETE
    assert stage(replace(done, verified_hours=Decimal("159.75"))) is Stage.UNDER_WAY
    assert stage(replace(done, evaluations=frozenset({Evaluation.MIDPOINT}))) is Stage.UNDER_WAY
    assert stage(replace(ready, closed_reason="the student moved away")) is Stage.CLOSED


def test_completion_is_due_once_and_an_ended_placement_asks_for_nothing_more() -> None:
    ready = replace(MINOR, signed=ALL, permit_on_file=True, hours_logged=True)
    done = replace(ready, verified_hours=Decimal(160), evaluations=frozenset({Evaluation.FINAL}))
    assert completes(done) and not has_ended(done)
    recorded = replace(done, completed=True)
    assert has_ended(recorded) and not completes(recorded)  # on record: not due again
    assert stage(recorded) is Stage.COMPLETE
    assert not completes(replace(done, verified_hours=Decimal("159.75")))
    closed = replace(done, closed_reason="the student moved away")
    assert has_ended(closed) and not completes(closed) and stage(closed) is Stage.CLOSED
    late = date(2027, 9, 1)
    assert evaluation_due(replace(ready, closed_reason="moved"), late) is None
    assert evaluation_due(replace(ready, completed=True), late) is None
