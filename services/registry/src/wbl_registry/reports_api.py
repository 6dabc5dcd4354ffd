"""Registry's reports over HTTP: the outcomes report (JSON rows or CSV) and what its words
mean. The JSON body stays an array of rows (as every list of this API); the period, the
as-of time and the suppression threshold travel in headers, the definitions at a sibling
endpoint that the report links to (`Link: <...>; rel="describedby"`)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse

from wbl_common.ratelimit import throttled
from wbl_common.web import errors
from wbl_registry.api import attempt, domain_error
from wbl_registry.auth import AdminOrCoordinator, AdminRole, RegistryDep
from wbl_registry.domain import DomainError
from wbl_registry.exports import csv_text
from wbl_registry.models import OutcomeDefinitions, OutcomePublic
from wbl_registry.placement_views_api import DeskDep
from wbl_registry.report import OutcomesReport, definitions, school_year_of

router = APIRouter(prefix="/v1", tags=["reports"])

DEFINITIONS_PATH = "/v1/reports/outcomes/definitions"
# The CSV's columns: the JSON row's, then the period and as-of time on every line, so a
# file renamed or pasted elsewhere still says what it covers.
CSV_EXTRA = ("period_from", "period_to", "as_of")

REPORT_HEADERS: dict[str, Any] = {
    "X-Report-Period-From": {
        "description": "The period's first day (ISO date)",
        "schema": {"type": "string", "format": "date"},
    },
    "X-Report-Period-To": {
        "description": "The period's last day (ISO date, included)",
        "schema": {"type": "string", "format": "date"},
    },
    "X-Report-School-Year": {
        "description": "The school year the period is (e.g. 2026-27); absent for other dates",
        "schema": {"type": "string"},
    },
    "X-Report-As-Of": {
        "description": "When the figures were counted (ISO date-time, UTC)",
        "schema": {"type": "string", "format": "date-time"},
    },
    "X-Report-WBL-Hours-Threshold": {
        "description": "Perkins 5S3: the verified hours at which a CTE student counts as "
        "having taken part in work-based learning",
        "schema": {"type": "integer"},
    },
    "X-Report-Suppressed-Below": {
        "description": "Groups of fewer students are withheld; absent for exact figures",
        "schema": {"type": "integer"},
    },
    "Link": {
        "description": f'`<{DEFINITIONS_PATH}>; rel="describedby"`: what the words mean',
        "schema": {"type": "string"},
    },
    "Content-Disposition": {
        "description": "CSV only: `attachment; filename="
        '"wbl-outcomes-<from>-<to>-asof-<date>.csv"`',
        "schema": {"type": "string"},
    },
}

From = Annotated[
    date | None,
    Query(alias="from", description="The period's first day", examples=["2026-07-01"]),
]
To = Annotated[
    date | None,
    Query(alias="to", description="The period's last day (included)", examples=["2027-06-30"]),
]
SchoolYear = Annotated[
    str | None,
    Query(
        description="A school year instead of dates, e.g. `2026-27` (from 1 July, by default)",
        max_length=7,
        examples=["2026-27"],
    ),
]
Suppress = Annotated[
    bool | None,
    Query(
        description="Withhold small groups, as a report for sharing beyond the school does. "
        "Statewide (admin) always; a coordinator's own schools: exact unless `true`.",
        examples=[True],
    ),
]


def report_headers(report: OutcomesReport) -> dict[str, str]:
    headers = {
        "X-Report-Period-From": report.period.start.isoformat(),
        "X-Report-Period-To": report.period.end.isoformat(),
        "X-Report-As-Of": report.as_of.isoformat(timespec="seconds"),
        "Link": f'<{DEFINITIONS_PATH}>; rel="describedby"',
        "Cache-Control": "no-store",
        "X-Report-WBL-Hours-Threshold": str(report.wbl_hours_threshold),
    }
    if report.period.school_year:
        headers["X-Report-School-Year"] = report.period.school_year
    if report.min_group is not None:
        headers["X-Report-Suppressed-Below"] = str(report.min_group)
    return headers


def report_csv(report: OutcomesReport, rows: list[OutcomePublic]) -> str:
    extra = {
        "period_from": report.period.start.isoformat(),
        "period_to": report.period.end.isoformat(),
        "as_of": report.as_of.isoformat(timespec="seconds"),
    }
    fields = [*OutcomePublic.model_fields, *CSV_EXTRA]
    return csv_text(fields, ({**r.model_dump(mode="json"), **extra} for r in rows))


@router.get(
    "/reports/outcomes",
    summary="Placement rates by program, career field, school and special population",
    response_model=list[OutcomePublic],
    dependencies=[Depends(throttled("reports"))],
    responses={
        200: {
            "headers": REPORT_HEADERS,
            "content": {
                "text/csv": {
                    "example": "dimension,dimension_name,group,group_name,students,placed,"
                    "pending,not_placed,placement_rate,placement_percent,hours_verified,"
                    "completed,completion_rate,cte_concentrators,wbl_participants,"
                    "five_s3_rate,five_s3_percent,suppressed,"
                    "suppression,suppressed_reason,period_from,period_to,as_of\n"
                }
            },
        },
        **errors(401, 403, 422, 429),
    },
)
async def outcomes_report(
    caller: AdminOrCoordinator,
    registry: RegistryDep,
    desk: DeskDep,
    report_format: Annotated[
        Literal["json", "csv"], Query(alias="format", examples=["csv"])
    ] = "json",
    start: From = None,
    end: To = None,
    school_year: SchoolYear = None,
    suppress: Suppress = None,
) -> Any:
    """Admin: every school; a coordinator: their schools. Counts only, no personal data.
    Every group of the reference data has a row, with 0 students when empty; a withheld
    group has a row too, marked `suppressed` with the reason. The students counted are those
    available for a placement during the period (by default the current school year); see
    the definitions endpoint for every term."""
    schools = None if isinstance(caller, AdminRole) else caller.school_ids
    try:
        period = registry.outcomes_period(start, end, school_year)
    except DomainError as error:
        raise domain_error(error) from error
    learning = await attempt(desk.learning(schools))
    report = await attempt(registry.outcomes(schools, period, suppress, learning))
    rows = [OutcomePublic.of(r, report) for r in report.rows]
    headers = report_headers(report)
    if report_format == "json":
        return JSONResponse([r.model_dump(mode="json") for r in rows], headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{report.csv_filename()}"'
    return Response(report_csv(report, rows), media_type="text/csv", headers=headers)


@router.get(
    "/reports/outcomes/definitions",
    summary="What the outcomes report's terms mean, its period and its suppression rule",
    responses=errors(401, 403),
)
async def outcomes_definitions(_: AdminOrCoordinator, registry: RegistryDep) -> OutcomeDefinitions:
    month = registry.school_year_start_month
    current = school_year_of(registry.clock().date(), month)
    return OutcomeDefinitions(
        definitions=definitions(registry.report_min_group, month, registry.wbl_hours_threshold),
        min_group=registry.report_min_group,
        school_year_start_month=month,
        current_school_year=current.school_year or "",
        current_period={"from": current.start, "to": current.end},
    )
