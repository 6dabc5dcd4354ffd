"""The coordinator's placements list (issue 14 item 7): the confirmed placements of a scope
(a coordinator's schools, or every school for the admin), each read where it stands, then
sorted, counted and paged by `placement_views`. Reads only: nothing here writes a fact."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from wbl_registry.domain import (
    Coordinator,
    Forbidden,
    Match,
    MatchStatus,
    NotFound,
    WorkBasedLearning,
)
from wbl_registry.placement_views import Need, NeedsPage, page_of
from wbl_registry.placements import Placements, PlacementState

log = structlog.get_logger(__name__)

CONFIRMED = MatchStatus.CONFIRMED.value


@dataclass(frozen=True)
class DeskQuery:
    need: Need | None
    school_id: str | None
    after: str | None
    limit: int


@dataclass
class PlacementDesk:
    placements: Placements

    async def needs(self, caller: Coordinator | None, query: DeskQuery) -> NeedsPage:
        """`caller` None: the admin, over every school."""
        matches = await self._confirmed(caller, query.school_id)
        states = [s for m in matches if (s := await self._standing(m)) is not None]
        return page_of(states, query.need, query.after, query.limit)

    async def learning(self, school_ids: tuple[str, ...] | None) -> dict[str, WorkBasedLearning]:
        """Each placed student's verified hours and completion, for the outcomes report
        (`school_ids` None: every school)."""
        found = {}
        for match in await self._confirmed_in(school_ids):
            state = await self._standing(match)
            if state is not None:
                found[match.student_id] = WorkBasedLearning(
                    state.facts.verified_hours, state.stage() == "complete"
                )
        return found

    async def _standing(self, match: Match) -> PlacementState | None:
        """None for a placement whose opening or student is gone from the record: one such
        placement must not take the whole list down."""
        try:
            return await self.placements.standing(match)
        except NotFound:
            log.warning("placement left out of the list", match_id=match.id)
            return None

    async def _confirmed(self, caller: Coordinator | None, school_id: str | None) -> list[Match]:
        if caller is not None and school_id is not None and not caller.serves(school_id):
            raise Forbidden(f"you do not coordinate school {school_id!r}", "school_id")
        if school_id is not None:
            return await self._confirmed_in((school_id,))
        return await self._confirmed_in(caller.school_ids if caller is not None else None)

    async def _confirmed_in(self, school_ids: tuple[str, ...] | None) -> list[Match]:
        store = self.placements.registry.store
        if school_ids is not None:
            return await store.matches_of_schools(list(school_ids), CONFIRMED, 0, 0)
        # Every school's: the students holding a placement, then their confirmed match.
        placed = sorted(await store.placed_students(None))
        return _confirmed_of(await store.matches_of_students(placed))


def _confirmed_of(matches: Sequence[Match]) -> list[Match]:
    return [m for m in matches if m.status == MatchStatus.CONFIRMED]
