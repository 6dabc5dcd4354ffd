"""The placements page's API: the coordinator's confirmed placements and what each still
needs (registry's `GET /v1/placements`), and the calls that move one on from the page:
issue the training agreement, record the work permit. Each is forwarded to registry with the
coordinator's own token (the page may call this origin only); registry answers who may see
which placement, checks the input and writes the facts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import Response

from wbl_common.ratelimit import throttled
from wbl_common.web import errors
from wbl_notifier.api import CurrentCoordinator, Token
from wbl_notifier.class_list_api import forward
from wbl_notifier.desk import RegistryDesk

router = APIRouter(prefix="/v1/inbox/placements", tags=["placements"])

NeedFilter = Literal["agreement", "signatures", "permit", "hours", "evaluation"]
MatchId = Annotated[str, Path(min_length=1, max_length=64, examples=["mat_5c4b3a2918273645"])]
AGREEMENT_EXAMPLE = {
    "supervisor": {"name": "Pat Lee", "email": "pat.lee@acme.example.org"},
    "safety_training": "OSHA 10-Hour General Industry",
    "hourly_wage": "16.50",
    "guardian": {"name": "Rosa Souza", "email": "rosa.souza@family.example.org"},
}
PERMIT_EXAMPLE = {
    "number": "WP-2027-0412",
    "issued_by": "Worcester Public Schools",
    "issued_on": "2027-05-20",
}


def get_desk(request: Request) -> RegistryDesk:
    desk: RegistryDesk = request.app.state.desk
    return desk


DeskDep = Annotated[RegistryDesk, Depends(get_desk)]


@router.get(
    "",
    summary="Your confirmed placements and what each still needs (registry's, with your token)",
    description=(
        "As registry's `GET /v1/placements`: `placements` (each with `needs` in words), "
        "`counts` per need over all your placements, and `next_after` to pass as `after` for "
        "the next page. Names are fetched for this answer only (`Cache-Control: no-store`)."
    ),
    dependencies=[Depends(throttled("placements"))],
    responses=errors(401, 403, 422, 429, 503),
)
async def placements(
    _: CurrentCoordinator,
    token: Token,
    desk: DeskDep,
    needs: Annotated[NeedFilter | None, Query(examples=["signatures"])] = None,
    school_id: Annotated[str | None, Query(max_length=64)] = None,
    after: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
) -> Response:
    query: dict[str, str | int] = {"limit": limit}
    for name, value in (("needs", needs), ("school_id", school_id), ("after", after)):
        if value is not None:
            query[name] = value
    return await forward(desk.placements(token, query))


@router.post(
    "/{match_id}/agreement",
    summary="Issue the training agreement: registry's POST /v1/placements/{match_id}/agreement",
    description=(
        "The supervisor's name and email, the safety training, the hourly wage when the "
        "opening is paid and the guardian when the student is under 18 at the start. Field "
        "errors name `supervisor.email` and so on."
    ),
    responses=errors(401, 403, 404, 409, 413, 422, 503),
)
async def issue_agreement(
    match_id: MatchId,
    _: CurrentCoordinator,
    token: Token,
    desk: DeskDep,
    body: Annotated[dict[str, Any], Body(examples=[AGREEMENT_EXAMPLE])],
) -> Response:
    return await forward(desk.issue_agreement(token, match_id, body))


@router.put(
    "/{match_id}/permit",
    summary="Record the work permit: registry's PUT /v1/placements/{match_id}/permit",
    responses=errors(401, 403, 404, 409, 413, 422, 503),
)
async def record_permit(
    match_id: MatchId,
    _: CurrentCoordinator,
    token: Token,
    desk: DeskDep,
    body: Annotated[dict[str, Any], Body(examples=[PERMIT_EXAMPLE])],
) -> Response:
    return await forward(desk.record_permit(token, match_id, body))
