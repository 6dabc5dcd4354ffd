"""Where a confirmed placement stands, derived from its facts (ADR 6): who still has to sign,
whether a permit is missing, whether it may start, how far its verified hours are behind,
which evaluation is due, and whether it is complete. Pure: the coordinator's views and the
gates on hours read it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from wbl_registry.party_links import Party
from wbl_registry.work_hours import QUARTER_HOUR, age_on

ADULT = 18


class Stage(StrEnum):
    AWAITING_SIGNATURES = "awaiting-signatures"
    AWAITING_PERMIT = "awaiting-permit"
    READY = "ready"  # may start: signed and, for a minor, permitted
    UNDER_WAY = "under-way"
    COMPLETE = "complete"
    CLOSED = "closed"  # ended early, with a reason


class Evaluation(StrEnum):
    MIDPOINT = "midpoint"
    FINAL = "final"


@dataclass(frozen=True)
class PlacementFacts:
    starts_on: date
    ends_on: date
    hours_per_week: int
    born_on: date
    signed: frozenset[Party]  # the parties who signed the agreement's current text
    permit_on_file: bool
    hours_logged: bool
    verified_hours: Decimal
    evaluations: frozenset[Evaluation]
    closed_reason: str | None = None
    completed: bool = False  # the completion fact is on record


def has_ended(facts: PlacementFacts) -> bool:
    """Completed or closed early: nothing more is logged, signed, verified or evaluated."""
    return facts.completed or facts.closed_reason is not None


def completes(facts: PlacementFacts) -> bool:
    """The planned hours are verified and the final evaluation is in, and the placement has
    not ended yet: the completion fact is due."""
    return (
        not has_ended(facts)
        and facts.verified_hours >= planned_hours(facts)
        and Evaluation.FINAL in facts.evaluations
    )


def is_minor_at_start(facts: PlacementFacts) -> bool:
    return age_on(facts.born_on, facts.starts_on) < ADULT


def parties_to_sign(facts: PlacementFacts) -> frozenset[Party]:
    """A guardian signs for a student under 18 at the start (603 CMR 4.03); an adult student
    signs alone."""
    needed = {Party.SCHOOL, Party.EMPLOYER, Party.STUDENT}
    if is_minor_at_start(facts):
        needed.add(Party.GUARDIAN)
    return frozenset(needed)


def not_yet_signed(facts: PlacementFacts) -> frozenset[Party]:
    return parties_to_sign(facts) - facts.signed


def why_not_started(facts: PlacementFacts) -> list[str]:
    """Why hours cannot be logged yet, in plain words (empty: the placement may start)."""
    reasons = []
    missing = sorted(not_yet_signed(facts))
    if missing:
        reasons.append(
            f"The training agreement still needs the signature of: {', '.join(missing)}."
        )
    if is_minor_at_start(facts) and not facts.permit_on_file:
        reasons.append("The student is under 18 and no work permit is on file.")
    return reasons


def planned_hours(facts: PlacementFacts) -> Decimal:
    """Hours a week over the placement's weeks (a part week counted pro rata)."""
    days = (facts.ends_on - facts.starts_on).days + 1
    hours = Decimal(facts.hours_per_week) * Decimal(days) / Decimal(7)
    return (hours / QUARTER_HOUR).quantize(Decimal(1), ROUND_HALF_UP) * QUARTER_HOUR


def expected_hours_by(facts: PlacementFacts, today: date) -> Decimal:
    if today < facts.starts_on:
        return Decimal(0)
    elapsed = min(today, facts.ends_on)
    return planned_hours(replace(facts, ends_on=elapsed))


def hours_behind(facts: PlacementFacts, today: date) -> Decimal:
    """How many expected hours are not verified yet (0 when on track)."""
    return max(Decimal(0), expected_hours_by(facts, today) - facts.verified_hours)


def evaluation_due(facts: PlacementFacts, today: date) -> Evaluation | None:
    """The midpoint evaluation once half the placement has passed, the final once its last
    day comes; none once it has ended."""
    if has_ended(facts):
        return None
    midpoint = facts.starts_on + (facts.ends_on - facts.starts_on) / 2
    if today >= facts.ends_on and Evaluation.FINAL not in facts.evaluations:
        return Evaluation.FINAL
    if today >= midpoint and not facts.evaluations:  # a final one makes the midpoint moot
        return Evaluation.MIDPOINT
    return None


def stage(facts: PlacementFacts) -> Stage:
    if facts.closed_reason is not None:
        return Stage.CLOSED
    if facts.completed or completes(facts):  # due and not yet on record: as good as done
        return Stage.COMPLETE
    if not_yet_signed(facts):
        return Stage.AWAITING_SIGNATURES
    if is_minor_at_start(facts) and not facts.permit_on_file:
        return Stage.AWAITING_PERMIT
    return Stage.UNDER_WAY if facts.hours_logged else Stage.READY
