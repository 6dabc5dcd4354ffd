"""Where each student stands in placement, for the coordinator's roster. Pure: no I/O.

Registry knows a student's matches and what became of them, so it says whether the student
is placed (confirmed), has an offer awaiting the coordinator (offered), had one declined, or
has none. Whether a student without an offer is still waiting for a round or came out of
one unmatched is the matcher's to say (its why-not), since only it knows its rounds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from wbl_registry.domain import Match, MatchStatus

MAX_QUERY = 100  # characters of a roster search


class PlacementState(StrEnum):
    NONE = "none"  # no offer now: waiting for a round, or unmatched (ask the matcher)
    OFFERED = "offered"  # an offer awaits the coordinator's decision
    CONFIRMED = "confirmed"
    DECLINED = "declined"  # the coordinator declined an offer; no other offer now


@dataclass(frozen=True)
class StudentPlacement:
    state: PlacementState
    match: Match | None = None  # the match the state is about


@dataclass(frozen=True)
class RosterEntry:
    """A student's id and name, enough to search, order and page a roster."""

    student_id: str
    first_name: str
    last_name: str


def placement_of(matches: Iterable[Match], now: datetime) -> StudentPlacement:
    """A confirmed placement stands over everything; then an offer still open to a decision
    (an expired one is no offer: its seat goes back to matching); then a declined offer."""
    found = sorted(matches, key=lambda m: m.id)
    for state, keep in (
        (PlacementState.CONFIRMED, lambda m: m.status == MatchStatus.CONFIRMED),
        (PlacementState.OFFERED, lambda m: _open(m, now)),
        (PlacementState.DECLINED, lambda m: m.status == MatchStatus.DECLINED),
    ):
        match = next((m for m in found if keep(m)), None)
        if match is not None:
            return StudentPlacement(state, match)
    return StudentPlacement(PlacementState.NONE)


def _open(match: Match, now: datetime) -> bool:
    return match.status == MatchStatus.PROPOSED and (
        match.expires_at is None or now < match.expires_at
    )


def placements_by_student(
    student_ids: Iterable[str], matches: Sequence[Match], now: datetime
) -> dict[str, StudentPlacement]:
    by_student: dict[str, list[Match]] = {s: [] for s in student_ids}
    for m in matches:
        if m.student_id in by_student:
            by_student[m.student_id].append(m)
    return {s: placement_of(ms, now) for s, ms in by_student.items()}


def matches_query(entry: RosterEntry, query: str) -> bool:
    """A search names the student (any part of the name, any case) or their reference."""
    wanted = query.strip().casefold()
    if not wanted:
        return True
    name = f"{entry.first_name} {entry.last_name}".casefold()
    return wanted in name or entry.student_id.casefold().startswith(wanted)


def by_name(entries: Iterable[RosterEntry]) -> list[RosterEntry]:
    return sorted(
        entries, key=lambda e: (e.last_name.casefold(), e.first_name.casefold(), e.student_id)
    )
