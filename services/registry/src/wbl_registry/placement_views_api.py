"""HTTP for the coordinator's placements list: `GET /v1/placements`, the confirmed placements
of their schools (every school for the admin), each with what it still needs in words, and
how many need each thing. One placement's detail stays at `GET /v1/placements/{match_id}`."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from wbl_common.web import errors
from wbl_registry.api import attempt
from wbl_registry.auth import AdminOrCoordinator, AdminRole
from wbl_registry.placement_desk import DeskQuery, PlacementDesk
from wbl_registry.placement_life import is_minor_at_start
from wbl_registry.placement_views import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Need,
    NeedsPage,
    PlacementNeeds,
)
from wbl_registry.placements import stage_words

router = APIRouter(prefix="/v1", tags=["placements"])

Cursor = Annotated[
    str | None,
    Query(
        max_length=64,
        description="The `next_after` of the page before: the placements after that match id",
        examples=["mat_5c4b3a2918273645"],
    ),
]


def get_desk(request: Request) -> PlacementDesk:
    return PlacementDesk(request.app.state.placements)


DeskDep = Annotated[PlacementDesk, Depends(get_desk)]


class NeedPublic(BaseModel):
    need: Need
    text: str = Field(description="What is missing and who acts, for the coordinator")


class PlacementListed(BaseModel):
    match_id: str
    school_id: str
    student_name: str
    opening_title: str
    employer_name: str
    starts_on: date
    ends_on: date
    stage: str = Field(description="As in GET /v1/placements/{match_id}")
    stage_text: str
    paid: bool = Field(description="The agreement then names an hourly wage")
    minor_at_start: bool = Field(
        description="Under 18 when it starts: a guardian signs and a work permit is needed"
    )
    needs: list[NeedPublic] = Field(description="Empty when nothing is waiting on anyone")

    @classmethod
    def of(cls, listed: PlacementNeeds) -> PlacementListed:
        state = listed.state
        context, facts = state.context, state.facts
        return cls(
            match_id=context.match.id,
            school_id=context.match.school_id,
            student_name=context.student_name,
            opening_title=context.opening.terms.title,
            employer_name=context.employer_name,
            starts_on=facts.starts_on,
            ends_on=facts.ends_on,
            stage=state.stage(),
            stage_text=stage_words(state),
            paid=context.opening.terms.paid,
            minor_at_start=is_minor_at_start(facts),
            needs=[NeedPublic(need=n.need, text=n.text) for n in listed.needs],
        )


class PlacementsPage(BaseModel):
    placements: list[PlacementListed]
    counts: dict[Need, int] = Field(
        description="Placements of the whole scope (not just this page) that need each thing"
    )
    total: int = Field(description="Confirmed placements in the scope")
    matching: int = Field(description="Of those, how many the `needs` filter keeps")
    next_after: str | None = Field(description="Pass as `after` for the next page; null last")

    @classmethod
    def of(cls, page: NeedsPage) -> PlacementsPage:
        return cls(
            placements=[PlacementListed.of(p) for p in page.placements],
            counts=page.counts,
            total=page.total,
            matching=page.matching,
            next_after=page.next_after,
        )


@router.get(
    "/placements",
    summary="Your confirmed placements and what each still needs",
    responses=errors(401, 403, 422),
)
async def placements_needing(
    caller: AdminOrCoordinator,
    desk: DeskDep,
    request: Request,
    response: Response,
    needs: Annotated[
        Need | None,
        Query(description="Only the placements that need this", examples=["signatures"]),
    ] = None,
    school_id: Annotated[
        str | None,
        Query(max_length=64, description="One of your schools only", examples=["sch_wtech"]),
    ] = None,
    after: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, examples=[DEFAULT_LIMIT])] = DEFAULT_LIMIT,
) -> PlacementsPage:
    """A coordinator's schools (or one of them, `school_id`); every school for the admin.
    Each placement says in words who still has to sign, whether the work permit is missing,
    how many hours are behind and which evaluation is due; `counts` gives, over the whole
    scope, how many placements need each. In match id order, `limit` at a time: pass
    `next_after` as `after` for the next page (also in the `Link` header)."""
    coordinator = None if isinstance(caller, AdminRole) else caller
    query = DeskQuery(needs, school_id, after, limit)
    page = await attempt(desk.needs(coordinator, query))
    response.headers["Cache-Control"] = "no-store"  # student names
    if page.next_after is not None:
        following = request.url.include_query_params(after=page.next_after)
        response.headers["Link"] = f'<{following}>; rel="next"'
    return PlacementsPage.of(page)
