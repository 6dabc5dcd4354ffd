"""The coordinator's views of their placements (issue 14 item 7): what each confirmed
placement still needs, in words, how many placements need each thing, and a page of them.
Pure: `placement_desk` gathers the placements' states, this decides what they need.

A placement that may not start yet needs its agreement, signatures or permit; hours behind
and a due evaluation count only once it may start (before that, the hours cannot be logged
and there is nothing to evaluate: the agreement or permit is what to chase). A complete or
closed placement needs nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from wbl_registry.party_links import Party
from wbl_registry.placement_life import is_minor_at_start, not_yet_signed
from wbl_registry.placements import (
    PARTY_ORDER,
    PlacementState,
    evaluation_words,
    party_words,
)

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
FINISHED = ("complete", "closed")


class Need(StrEnum):
    AGREEMENT = "agreement"
    SIGNATURES = "signatures"
    PERMIT = "permit"
    HOURS = "hours"
    EVALUATION = "evaluation"


@dataclass(frozen=True)
class NeedText:
    need: Need
    text: str  # for the coordinator: what is missing and who acts


@dataclass(frozen=True)
class PlacementNeeds:
    state: PlacementState
    needs: tuple[NeedText, ...]

    @property
    def match_id(self) -> str:
        return self.state.context.match.id

    def has(self, need: Need) -> bool:
        return any(n.need is need for n in self.needs)


@dataclass(frozen=True)
class NeedsPage:
    placements: list[PlacementNeeds]
    counts: dict[Need, int]  # over the whole scope, whatever the filter
    total: int  # placements in the scope
    matching: int  # placements the filter keeps
    next_after: str | None  # the cursor of the next page; None on the last


def needs_of(state: PlacementState) -> tuple[NeedText, ...]:
    if state.stage() in FINISHED:
        return ()
    found = [*_paperwork(state)]
    if not state.reasons_not_started():
        found += _progress(state)
    return tuple(found)


def _paperwork(state: PlacementState) -> list[NeedText]:
    found = []
    if state.issue is None:
        found.append(
            NeedText(
                Need.AGREEMENT,
                "No training agreement yet: issue it with the supervisor's details.",
            )
        )
    else:
        missing = not_yet_signed(state.facts)
        if missing:
            who = ", ".join(party_words(state, p) for p in PARTY_ORDER if p in missing)
            found.append(NeedText(Need.SIGNATURES, f"Still to sign the agreement: {who}."))
    if is_minor_at_start(state.facts) and state.permit is None:
        found.append(
            NeedText(
                Need.PERMIT,
                "No work permit on file: the student is under 18 at the start. Record it "
                "once the superintendent's office has issued it.",
            )
        )
    return found


def _progress(state: PlacementState) -> list[NeedText]:
    found = []
    behind = state.behind()
    if behind > 0:
        found.append(
            NeedText(
                Need.HOURS,
                f"{hours_words(behind)} behind: expected by today and not yet verified by "
                f"{party_words(state, Party.EMPLOYER)}.",
            )
        )
    due, _ = evaluation_words(state)
    if due is not None:
        found.append(
            NeedText(
                Need.EVALUATION,
                f"{due.capitalize()} evaluation due from {party_words(state, Party.EMPLOYER)}.",
            )
        )
    return found


def hours_words(hours: Decimal) -> str:
    figure = f"{hours.normalize():f}"
    return f"{figure} hour" if hours == 1 else f"{figure} hours"


def page_of(
    states: Sequence[PlacementState],
    need: Need | None = None,
    after: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> NeedsPage:
    """The placements in match id order (a cursor that holds while placements are added),
    those after `after` that have `need` (all without one), at most `limit`."""
    every = sorted((PlacementNeeds(s, needs_of(s)) for s in states), key=lambda p: p.match_id)
    counts = {n: sum(1 for p in every if p.has(n)) for n in Need}
    kept = [p for p in every if need is None or p.has(need)]
    later = [p for p in kept if after is None or p.match_id > after]
    shown = later[:limit]
    more = len(later) > limit
    return NeedsPage(
        placements=shown,
        counts=counts,
        total=len(every),
        matching=len(kept),
        next_after=shown[-1].match_id if more and shown else None,
    )
