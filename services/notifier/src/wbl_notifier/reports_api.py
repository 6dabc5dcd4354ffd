"""The outcomes report for the coordinator's page, forwarded to registry with their token
(the page may call this origin only). Registry answers who may see which schools, checks the
query and counts; this adds nothing and keeps nothing."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import httpx
from fastapi import APIRouter, Depends, Query, Request, Response

from wbl_common.ratelimit import throttled
from wbl_common.web import PROBLEM, errors
from wbl_notifier.api import CurrentCoordinator, Token, registry_unavailable
from wbl_notifier.reports import ReportAnswer, ReportDesk

router = APIRouter(prefix="/v1/inbox/reports", tags=["reports"])
DEFINITIONS = "/v1/inbox/reports/outcomes/definitions"


def get_reports(request: Request) -> ReportDesk:
    reports: ReportDesk = request.app.state.reports
    return reports


ReportsDep = Annotated[ReportDesk, Depends(get_reports)]


def forwarded(answer: ReportAnswer) -> Response:
    headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-type"}
    if "link" in {k.lower() for k in headers}:  # this origin's address of the definitions
        headers = {k: v for k, v in headers.items() if k.lower() != "link"}
        headers["Link"] = f'<{DEFINITIONS}>; rel="describedby"'
    headers["Cache-Control"] = "no-store"
    media = answer.headers.get("content-type", "application/json")
    if answer.status_code >= 400 and "json" in media:
        media = PROBLEM
    return Response(answer.content, answer.status_code, headers=headers, media_type=media)


@router.get(
    "/outcomes",
    summary="Your schools' outcomes report (registry's, fetched with your token)",
    dependencies=[Depends(throttled("reports"))],
    responses=errors(401, 403, 422, 429, 503),
)
async def outcomes(
    _: CurrentCoordinator,
    token: Token,
    reports: ReportsDep,
    report_format: Annotated[
        Literal["json", "csv"], Query(alias="format", examples=["csv"])
    ] = "json",
    start: Annotated[date | None, Query(alias="from", examples=["2026-07-01"])] = None,
    end: Annotated[date | None, Query(alias="to", examples=["2027-06-30"])] = None,
    school_year: Annotated[str | None, Query(max_length=7, examples=["2026-27"])] = None,
    suppress: Annotated[bool | None, Query(examples=[True])] = None,
) -> Response:
    """As registry's `GET /v1/reports/outcomes`: the same rows, headers and CSV."""
    query: dict[str, str] = {"format": report_format}
    if start is not None:
        query["from"] = start.isoformat()
    if end is not None:
        query["to"] = end.isoformat()
    if school_year is not None:
        query["school_year"] = school_year
    if suppress is not None:
        query["suppress"] = "true" if suppress else "false"
    try:
        return forwarded(await reports.outcomes(token, query))
    except httpx.HTTPError as error:
        raise registry_unavailable() from error


@router.get(
    "/outcomes/definitions",
    summary="What the outcomes report's words mean (registry's, fetched with your token)",
    responses=errors(401, 403, 503),
)
async def definitions(_: CurrentCoordinator, token: Token, reports: ReportsDep) -> Response:
    try:
        return forwarded(await reports.definitions(token))
    except httpx.HTTPError as error:
        raise registry_unavailable() from error
