"""The roster's HTTP entrypoint: `GET /v1/inbox/roster`, the coordinator's students and where
each stands, from registry and the matcher, both asked with the coordinator's own token."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from wbl_common.ratelimit import throttled
from wbl_common.web import PROBLEM, errors
from wbl_notifier.api import CurrentCoordinator, Token, registry_unavailable
from wbl_notifier.roster import (
    PLACEMENT_OF,
    RosterRow,
    RosterSources,
    RosterState,
    StateFilter,
    needs_why_not,
    roster_rows,
)

router = APIRouter(prefix="/v1", tags=["roster"])
MAX_SEARCH = 100


class RosterItem(BaseModel):
    student_id: str
    name: str = Field(description="From registry, for this answer only: never stored here")
    state: RosterState = Field(
        description="`waiting` (no round has considered the student yet, or the main round "
        "is ahead), `unmatched` (a round left them without an offer), `offered` (awaiting "
        "your decision), `confirmed` (placed) or `declined` (you declined an offer)"
    )
    summary: str = Field(description="Where the student stands, in one or two sentences")
    details: list[str] = Field(description="Unmatched: openings that came close, and why not")
    changes: list[str] = Field(description="Unmatched: what would change it")
    match_id: str | None = Field(description="The offer, placement or declined offer")
    opening_text: str | None = Field(description="Its opening: title at employer · town")
    expires_at: str | None = Field(description="An offer's deadline for your decision")

    @classmethod
    def of(cls, row: RosterRow) -> RosterItem:
        return cls(
            student_id=row.student_id,
            name=row.name,
            state=row.state,
            summary=row.summary,
            details=list(row.details),
            changes=list(row.changes),
            match_id=row.match_id,
            opening_text=row.opening_text,
            expires_at=row.expires_at,
        )


def get_roster(request: Request) -> RosterSources:
    sources: RosterSources = request.app.state.roster
    return sources


@router.get(
    "/inbox/roster",
    summary="Your students and where each stands in placement, with why-not in words",
    description=(
        "A JSON array, ordered by last name; `X-Total-Count` gives how many students match "
        "and `Link` (rel=next) the next page. Names come from registry for this answer and "
        "are never stored by the notifier (`Cache-Control: no-store`)."
    ),
    response_model=list[RosterItem],
    dependencies=[Depends(throttled("roster"))],
    responses=errors(401, 422, 429, 503),
)
async def roster(
    coordinator: CurrentCoordinator,
    token: Token,
    sources: Annotated[RosterSources, Depends(get_roster)],
    state: Annotated[StateFilter | None, Query(examples=["no-offer"])] = None,
    q: Annotated[str, Query(max_length=MAX_SEARCH, examples=["Souza"])] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 25,
) -> Response:
    """`state`: `no-offer` (waiting or unmatched), `offered`, `confirmed` or `declined`;
    `q`: part of a name or the start of a student reference."""
    params: dict[str, str | int] = {"status": "active", "order": "name", "page": page}
    params |= {"size": size, **({"q": q.strip()} if q.strip() else {})}
    if state is not None:
        params["placement"] = PLACEMENT_OF[state]
    try:
        listed = await sources.students(token, params)
    except httpx.HTTPError as error:
        raise registry_unavailable() from error
    if listed.status_code >= 400:
        return JSONResponse(listed.body, status_code=listed.status_code, media_type=PROBLEM)
    students = listed.body if isinstance(listed.body, list) else []
    asked = [s["id"] for s in students if needs_why_not(s)]
    why = await sources.why_not(token, asked)
    ok = why is not None and why.status_code == 200 and isinstance(why.body, list)
    rows = roster_rows(students, why.body if ok and why is not None else None)
    body = [RosterItem.of(r).model_dump(mode="json") for r in rows]
    response = JSONResponse(body, headers={"Cache-Control": "no-store"})
    response.headers["X-Total-Count"] = str(listed.total)
    if listed.has_next:
        following = {k: v for k, v in params.items() if k in ("q", "size")}
        following |= {"page": page + 1, **({"state": state} if state else {})}
        response.headers["Link"] = f'</v1/inbox/roster?{urlencode(following)}>; rel="next"'
    return response
