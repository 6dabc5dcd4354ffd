"""Registry's HTTP entrypoint: parse, authorise, call one use case, shape the response."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from pydantic_core import to_json
from starlette.datastructures import UploadFile

from wbl_common.ratelimit import throttled
from wbl_common.web import errors, problem
from wbl_common.workers import Workers, WorkersBusy
from wbl_registry import bulk
from wbl_registry.auth import (
    Admin,
    AdminOrCoordinator,
    AdminRole,
    CurrentCoordinator,
    CurrentEmployer,
    EmployerOrCoordinator,
    RegistryDep,
)
from wbl_registry.domain import (
    Conflict,
    DomainError,
    Employer,
    Forbidden,
    MatchStatus,
    NotFound,
    PreconditionFailed,
)
from wbl_registry.exports import csv_text
from wbl_registry.handlers import RosterQuery
from wbl_registry.models import (
    OPENING_PATCH_EXAMPLES,
    STUDENT_PATCH_EXAMPLES,
    ClassListColumn,
    ClassRegistration,
    CoordinatorCreate,
    CoordinatorCreated,
    CoordinatorPublic,
    CoordinatorUpdate,
    Decision,
    EmployerCreate,
    EmployerKey,
    EmployerMatch,
    EmployerPublic,
    EmployerSecretRotated,
    EmployerWebhook,
    MatchPublic,
    OpeningCreate,
    OpeningPublic,
    OwnSettingsUpdate,
    ParkedChangePublic,
    Reference,
    StudentCreate,
    StudentPublic,
    WebhookSecretRotated,
)
from wbl_registry.roster import MAX_QUERY, PlacementState
from wbl_schemas.events import NotificationChannels
from wbl_schemas.reference import ReferenceEntry

router = APIRouter(prefix="/v1")
T = TypeVar("T")

EmployerId = Annotated[str, Path(examples=["emp_3f2a9c1d0b7e4a55"], max_length=64)]
CoordinatorId = Annotated[str, Path(examples=["coo_a1b2c3d4e5f60718"], max_length=64)]
OpeningId = Annotated[str, Path(examples=["opn_9e8d7c6b5a493827"], max_length=64)]
StudentId = Annotated[str, Path(examples=["stu_0a1b2c3d4e5f6071"], max_length=64)]
MatchId = Annotated[str, Path(examples=["mat_5c4b3a2918273645"], max_length=64)]
# Bounded so that (page - 1) * size stays a 64-bit integer for the database.
MAX_PAGE = 1_000_000
Page = Annotated[int, Query(ge=1, le=MAX_PAGE, examples=[1])]
Size = Annotated[int, Query(ge=1, le=200, examples=[50])]


LIST_HEADERS: dict[str, Any] = {
    "Link": {
        "description": 'The next page, as `<URL>; rel="next"`; absent on the last page',
        "schema": {"type": "string"},
    },
    "X-Total-Count": {
        "description": "How many items match the query, over all pages",
        "schema": {"type": "integer"},
    },
}


def listed(*codes: int) -> dict[int | str, dict[str, Any]]:
    """A list endpoint's responses: the page is the JSON array, paging in the headers."""
    return {200: {"headers": LIST_HEADERS}, **errors(*codes)}


def page_headers(request: Request, response: Response, total: int, page: int, size: int) -> None:
    """`X-Total-Count`, and `Link: <...>; rel="next"` while a later page has items."""
    response.headers["X-Total-Count"] = str(total)
    if page * size < total and page < MAX_PAGE:
        following = request.url.include_query_params(page=page + 1, size=size)
        response.headers["Link"] = f'<{following}>; rel="next"'


class RequestError(HTTPException):
    """Input the domain refuses, with the fields it concerns (see `invalid_request`): 422,
    or 409 when the input is well formed but clashes with what is stored (an email taken)."""

    def __init__(self, message: str, field_name: str | None, status_code: int = 422) -> None:
        self.errors = [{"field": field_name or "", "message": message}]
        super().__init__(status_code, message)

    @classmethod
    def of(cls, error: ValidationError) -> RequestError:
        fields = [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in error.errors()]
        made = cls(fields[0][1], fields[0][0])
        made.errors = [{"field": f, "message": m} for f, m in fields]
        return made


async def invalid_request(_: Request, exc: Exception) -> JSONResponse:
    """The same problem+json shape as a request that fails schema validation."""
    assert isinstance(exc, RequestError)
    if exc.status_code != 422:
        return problem(exc.status_code, "Conflict", str(exc.detail), errors=exc.errors)
    return problem(422, "Invalid request", "One or more fields are invalid.", errors=exc.errors)


def domain_error(error: DomainError) -> HTTPException:
    if isinstance(error, NotFound):
        return HTTPException(status.HTTP_404_NOT_FOUND, str(error))
    if isinstance(error, Forbidden):
        return HTTPException(status.HTTP_403_FORBIDDEN, str(error))
    if isinstance(error, Conflict) and error.field:
        return RequestError(str(error), error.field, status.HTTP_409_CONFLICT)
    if isinstance(error, Conflict):
        return HTTPException(status.HTTP_409_CONFLICT, str(error))
    if isinstance(error, PreconditionFailed):
        return HTTPException(status.HTTP_412_PRECONDITION_FAILED, str(error))
    return RequestError(str(error), error.field)


def etag(version: int) -> str:
    return f'"{version}"'


def if_match_version(request: Request) -> int | None:
    """The version an `If-Match` header names (`"3"` or `W/"3"`); None without one, or `*`."""
    raw = request.headers.get("if-match")
    if raw is None or raw.strip() == "*":
        return None
    tag = raw.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise HTTPException(
            status.HTTP_412_PRECONDITION_FAILED,
            'If-Match must be the ETag a GET returned, such as "3"',
        )
    return int(tag)


async def attempt(work: Awaitable[T]) -> T:
    """Run one use case, mapping its refusals to HTTP statuses."""
    try:
        return await work
    except DomainError as error:
        raise domain_error(error) from error


def field_errors(error: ValidationError) -> HTTPException:
    return HTTPException(
        422,
        [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in error.errors()
        ],
    )


# -- employers ----------------------------------------------------------------------------


@router.post(
    "/employers",
    status_code=201,
    tags=["admin"],
    summary="Create an employer",
    responses=errors(401, 403, 413, 422),
)
async def create_employer(body: EmployerCreate, _: Admin, registry: RegistryDep) -> EmployerKey:
    employer, api_key = await registry.create_employer(body.name)
    return EmployerKey(id=employer.id, name=employer.name, api_key=api_key)


@router.post(
    "/employers/me/api-key",
    tags=["employers"],
    summary="Rotate your own API key",
    responses=errors(401, 403, 409),
)
async def rotate_own_key(employer: CurrentEmployer, registry: RegistryDep) -> EmployerKey:
    """The old key stops working at once; the new one is shown once."""
    rotated, api_key = await attempt(registry.rotate_employer_key(employer.id))
    return EmployerKey(id=rotated.id, name=rotated.name, api_key=api_key)


@router.get(
    "/employers/me",
    tags=["employers"],
    summary="Your employer account and webhook",
    responses=errors(401, 403),
)
async def employer_me(employer: CurrentEmployer) -> EmployerPublic:
    return EmployerPublic.of(employer)


@router.patch(
    "/employers/me",
    tags=["employers"],
    summary="Set or remove your webhook",
    responses=errors(401, 403, 409, 413, 422),
)
async def set_own_webhook(
    body: EmployerWebhook, employer: CurrentEmployer, registry: RegistryDep
) -> EmployerPublic:
    """Signed webhooks (Standard Webhooks) tell you of your openings' matches: a candidate
    proposed, a placement confirmed or declined, an offer expired or withdrawn. The signing
    secret is in the answer when a webhook is first set, shown once."""
    revised, secret = await attempt(registry.set_employer_webhook(employer, body.webhook_url))
    return EmployerPublic.of(revised, secret)


@router.post(
    "/employers/me/webhook-secret/rotate",
    tags=["employers"],
    summary="Rotate your webhook signing secret",
    responses=errors(401, 403, 409),
)
async def rotate_own_webhook_secret(
    employer: CurrentEmployer, registry: RegistryDep
) -> EmployerSecretRotated:
    """The new secret is shown once and signs every webhook from now on; the previous one
    also signs during the grace period, so the receiver can switch without a gap. 409
    without a webhook URL."""
    rotated, secret = await attempt(registry.rotate_employer_webhook_secret(employer))
    return EmployerSecretRotated.of(rotated, secret)


@router.post(
    "/employers/{employer_id}/api-key",
    tags=["admin"],
    summary="Rotate an employer's API key",
    responses=errors(401, 403, 404, 409),
)
async def rotate_employer_key(
    employer_id: EmployerId, _: Admin, registry: RegistryDep
) -> EmployerKey:
    """Issues a new key (shown once) and reinstates a revoked employer."""
    rotated, api_key = await attempt(registry.rotate_employer_key(employer_id))
    return EmployerKey(id=rotated.id, name=rotated.name, api_key=api_key)


@router.delete(
    "/employers/{employer_id}/api-key",
    status_code=204,
    tags=["admin"],
    summary="Revoke an employer's API key",
    responses=errors(401, 403, 404, 409),
)
async def revoke_employer_key(employer_id: EmployerId, _: Admin, registry: RegistryDep) -> Response:
    await attempt(registry.revoke_employer_key(employer_id))
    return Response(status_code=204)


# -- coordinators -------------------------------------------------------------------------


@router.post(
    "/coordinators",
    status_code=201,
    tags=["admin"],
    summary="Create a coordinator",
    responses=errors(401, 403, 409, 413, 422),
)
async def create_coordinator(
    body: CoordinatorCreate, _: Admin, registry: RegistryDep
) -> CoordinatorCreated:
    coordinator, token = await attempt(
        registry.create_coordinator(body.name, tuple(body.school_ids), body.channels)
    )
    public = CoordinatorPublic.of(coordinator, registry.webhook_secret(coordinator))
    return CoordinatorCreated(**public.model_dump(), token=token)


@router.get(
    "/coordinators/me",
    tags=["coordinators"],
    summary="Who this token belongs to",
    responses=errors(401, 403),
)
async def coordinator_me(coordinator: CurrentCoordinator, response: Response) -> CoordinatorPublic:
    """Other services (notifier) use it to check coordinator tokens. The `ETag` header names
    this version: send it back as `If-Match` with `PATCH /v1/coordinators/me`."""
    response.headers["ETag"] = etag(coordinator.version)
    return CoordinatorPublic.of(coordinator)


@router.patch(
    "/coordinators/me",
    tags=["coordinators"],
    summary="Change your own notification settings",
    responses=errors(401, 403, 409, 412, 413, 422),
)
async def update_own_settings(
    body: OwnSettingsUpdate,
    coordinator: CurrentCoordinator,
    registry: RegistryDep,
    request: Request,
    response: Response,
) -> CoordinatorPublic:
    """Email, webhook URL and digest (only the fields given change; `null` removes an email
    or a webhook), checked as the admin's PATCH checks them; 422 for `school_ids` or `name`,
    which only an administrator changes. `If-Match` with the ETag of `GET
    /v1/coordinators/me`: 412 if the settings changed since; 409 if another change landed
    while this one was written. `webhook_secret` is in the answer (once) when a webhook URL
    is first set. Publishes CoordinatorUpdated: the notifier uses the new settings for what
    it sends from then on."""
    wanted = if_match_version(request)
    try:
        channels = NotificationChannels.model_validate(
            body.channels.applied_to(coordinator.channels).model_dump()
        )
    except ValidationError as error:
        raise RequestError.of(error) from None
    revised, secret = await attempt(
        registry.update_coordinator(
            coordinator.id, None, None, channels, based_on=coordinator.version, if_match=wanted
        )
    )
    response.headers["ETag"] = etag(revised.version)
    return CoordinatorPublic.of(revised, secret)


@router.post(
    "/coordinators/me/token",
    tags=["coordinators"],
    summary="Replace your own token",
    responses=errors(401, 403, 409),
)
async def reissue_own_token(
    coordinator: CurrentCoordinator, registry: RegistryDep
) -> CoordinatorCreated:
    """The old token stops working at once; the new one is shown once."""
    revised, token = await attempt(registry.reissue_coordinator_token(coordinator.id))
    return CoordinatorCreated(**CoordinatorPublic.of(revised).model_dump(), token=token)


@router.post(
    "/coordinators/{coordinator_id}/token",
    tags=["admin"],
    summary="Issue a coordinator a new token",
    responses=errors(401, 403, 404, 409),
)
async def reissue_coordinator_token(
    coordinator_id: CoordinatorId, _: Admin, registry: RegistryDep
) -> CoordinatorCreated:
    """For a lost or leaked token: the old one stops working at once."""
    revised, token = await attempt(registry.reissue_coordinator_token(coordinator_id))
    return CoordinatorCreated(**CoordinatorPublic.of(revised).model_dump(), token=token)


@router.post(
    "/coordinators/{coordinator_id}/webhook-secret/rotate",
    tags=["coordinators"],
    summary="Rotate the webhook signing secret",
    responses=errors(401, 403, 404, 409),
)
async def rotate_webhook_secret(
    coordinator_id: CoordinatorId, caller: AdminOrCoordinator, registry: RegistryDep
) -> WebhookSecretRotated:
    """Admin, or the coordinator for themself. The new secret is shown once and signs every
    webhook from now on; the previous one also signs during the grace period (header
    `X-WBL-Signature` then carries both), so the receiver can switch without a gap."""
    if not isinstance(caller, AdminRole) and caller.id != coordinator_id:
        raise domain_error(Forbidden("coordinators can rotate only their own webhook secret"))
    rotated, secret = await attempt(registry.rotate_webhook_secret(coordinator_id))
    return WebhookSecretRotated.of(rotated, secret)


@router.patch(
    "/coordinators/{coordinator_id}",
    tags=["admin"],
    summary="Change schools or channels",
    responses=errors(401, 403, 404, 409, 412, 413, 422),
)
async def update_coordinator(
    coordinator_id: CoordinatorId,
    body: CoordinatorUpdate,
    _: Admin,
    registry: RegistryDep,
    request: Request,
    response: Response,
) -> CoordinatorPublic:
    """`If-Match` (optional) with a version the coordinator had: 412 if it changed since."""
    coordinator, webhook_secret = await attempt(
        registry.update_coordinator(
            coordinator_id,
            body.name,
            tuple(body.school_ids) if body.school_ids is not None else None,
            body.channels,
            if_match=if_match_version(request),
        )
    )
    response.headers["ETag"] = etag(coordinator.version)
    return CoordinatorPublic.of(coordinator, webhook_secret)


@router.delete(
    "/coordinators/{coordinator_id}",
    status_code=204,
    tags=["admin"],
    summary="Remove one",
    responses=errors(401, 403, 404, 409),
)
async def remove_coordinator(
    coordinator_id: CoordinatorId, _: Admin, registry: RegistryDep
) -> Response:
    await attempt(registry.remove_coordinator(coordinator_id))
    return Response(status_code=204)


# -- openings -----------------------------------------------------------------------------


@router.post(
    "/openings",
    status_code=201,
    tags=["openings"],
    summary="Post an opening",
    responses=errors(401, 403, 413, 422),
)
async def post_opening(
    body: OpeningCreate, employer: CurrentEmployer, registry: RegistryDep
) -> OpeningPublic:
    return OpeningPublic.of(await attempt(registry.post_opening(employer, body.terms())))


@router.get(
    "/openings",
    tags=["openings"],
    summary="Your openings, a page at a time",
    responses=listed(401, 403, 422),
)
async def list_openings(
    employer: CurrentEmployer,
    registry: RegistryDep,
    request: Request,
    response: Response,
    status_filter: Annotated[
        Literal["open", "closed"] | None, Query(alias="status", examples=["open"])
    ] = None,
    career_field: Annotated[str | None, Query(examples=["cybersecurity"], max_length=80)] = None,
    page: Page = 1,
    size: Size = 50,
) -> list[OpeningPublic]:
    """Paged by `page` and `size`; see the `Link` and `X-Total-Count` headers."""
    found = await registry.openings_of(employer, status_filter, career_field, page, size)
    total = await registry.count_openings_of(employer, status_filter, career_field)
    page_headers(request, response, total, page, size)
    return [OpeningPublic.of(o) for o in found]


@router.get(
    "/openings/{opening_id}",
    tags=["openings"],
    summary="One of your openings",
    responses=errors(401, 403, 404, 422),
)
async def get_opening(
    opening_id: OpeningId, employer: CurrentEmployer, registry: RegistryDep, response: Response
) -> OpeningPublic:
    """The `ETag` header names this version: send it back as `If-Match` with a PATCH."""
    opening = await attempt(registry.opening_of(employer, opening_id))
    response.headers["ETag"] = etag(opening.version)
    return OpeningPublic.of(opening)


@router.patch(
    "/openings/{opening_id}",
    tags=["openings"],
    summary="Change an opening",
    responses=errors(401, 403, 404, 409, 412, 413, 422),
)
async def update_opening(
    opening_id: OpeningId,
    changes: Annotated[dict[str, Any], Body(openapi_examples=OPENING_PATCH_EXAMPLES)],
    employer: CurrentEmployer,
    registry: RegistryDep,
    request: Request,
    response: Response,
) -> OpeningPublic:
    """Only the fields given change; the result is checked like a new opening. With
    `If-Match`, only if the opening is still at that version (412 if not); without, a change
    made meanwhile by someone else is never overwritten (409)."""
    wanted = if_match_version(request)
    read = await attempt(registry.opening_of(employer, opening_id))
    current = OpeningPublic.of(read)
    merged = _merge(
        OpeningCreate, current.model_dump(include=set(OpeningCreate.model_fields)), changes
    )
    revised = await attempt(
        registry.revise_opening(
            employer, opening_id, merged.terms(), based_on=read.version, if_match=wanted
        )
    )
    response.headers["ETag"] = etag(revised.version)
    return OpeningPublic.of(revised)


def _merge(model: type[T], current: dict[str, Any], changes: dict[str, Any]) -> T:
    try:
        return model.model_validate({**current, **changes})  # type: ignore[attr-defined, no-any-return]
    except ValidationError as error:
        raise RequestError.of(error) from None


@router.delete(
    "/openings/{opening_id}",
    status_code=204,
    tags=["openings"],
    summary="Close an opening",
    responses=errors(401, 403, 404, 409, 422),
)
async def close_opening(
    opening_id: OpeningId, employer: CurrentEmployer, registry: RegistryDep
) -> Response:
    await attempt(registry.close_opening(employer, opening_id))
    return Response(status_code=204)


# -- students -----------------------------------------------------------------------------


@router.post(
    "/students",
    status_code=201,
    tags=["students"],
    summary="Register a student",
    responses=errors(401, 403, 409, 413, 422),
)
async def register_student(
    body: StudentCreate, coordinator: CurrentCoordinator, registry: RegistryDep
) -> StudentPublic:
    a = body.application()
    student = await attempt(
        registry.register_student(coordinator, a.school_id, a.person, a.plan, a.special_populations)
    )
    return StudentPublic.of(student)


BULK_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": bulk.CSV_EXAMPLE,
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                },
                "example": {"file": bulk.CSV_EXAMPLE},
            },
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/StudentCreate"},
                },
                "example": [StudentCreate.model_config["json_schema_extra"]["examples"][0]],  # type: ignore[index]
            },
        },
    }
}


@router.post(
    "/students/bulk",
    tags=["students"],
    summary="Register a class from a CSV upload or a JSON array",
    openapi_extra=BULK_BODY,
    response_model=ClassRegistration,
    dependencies=[Depends(throttled("class-lists"))],
    responses={
        200: {"content": {"text/csv": {"example": "line,column,student,message\n"}}},
        **errors(
            401,
            403,
            413,
            415,
            422,
            429,
            503,
            described={503: "Other class lists are being read: send it again after Retry-After"},
        ),
    },
)
async def register_class(
    request: Request,
    coordinator: CurrentCoordinator,
    registry: RegistryDep,
    answer_format: Annotated[
        Literal["json", "csv"], Query(alias="format", examples=["csv"])
    ] = "json",
) -> Response:
    """Every row is checked; good rows are stored (each with its event), bad rows come back
    with every error (up to 10 a row): the row (a CSV's spreadsheet line, header = line 1),
    the CSV column and the student's name. A row is either fully stored or not at all; a
    row naming a student already registered with the same details is listed in
    `already_registered`, so a list can be sent again, or corrected and sent again. At most
    10,000 rows. CSV: `,` or `;` between cells, headers in any case, extra columns ignored
    (see `notes`), UTF-8 or Windows-1252; lists inside a cell are separated by ';'.
    `?format=csv` answers the errors as a CSV file (line, column, student, message)."""
    kind, raw = await _class_list(request)
    workers: Workers = request.app.state.class_lists
    try:
        checked = await workers.run(bulk.check_class_list, kind, raw)
    except bulk.ClassListError as error:
        raise RequestError(str(error), error.field) from None
    except WorkersBusy as busy:
        raise HTTPException(
            503,
            "Other class lists are being read right now. Send this one again in a moment.",
            {"Retry-After": str(busy.retry_after_s)},
        ) from None
    result = ClassResult([], [], list(checked.errors), list(checked.notes))
    # A part at a time, so that no stretch of checking and storing holds the event loop.
    async for rows in checked.good_rows():
        outcome = await registry.register_class(coordinator, rows)
        result.registered.extend((row, student.id) for row, student in outcome.registered)
        result.already.extend((row, student.id) for row, student in outcome.already_registered)
        result.errors.extend((p.row, p.field, p.message, p.student) for p in outcome.problems)
    if answer_format == "csv":
        return error_csv(result.errors)
    return class_registration(result)


@dataclass
class ClassResult:
    registered: list[tuple[int, str]]
    already: list[tuple[int, str]]
    errors: list[bulk.RowIssue]
    notes: list[str]


def class_registration(result: ClassResult) -> Response:
    """The ClassRegistration body, written by pydantic-core from plain values: as models
    through FastAPI's response validation, 10,000 rows took the event loop 0.3 s."""
    errors = sorted(result.errors, key=lambda e: e[0])  # stable within a row
    body = {
        "registered": [{"row": row, "id": id_} for row, id_ in sorted(result.registered)],
        "errors": [
            {"row": row, "field": field, "message": message, "student": student}
            for row, field, message, student in errors
        ],
        "already_registered": [{"row": row, "id": id_} for row, id_ in sorted(result.already)],
        "notes": result.notes,
        "counts": {
            "registered": len(result.registered),
            "already_registered": len(result.already),
            "rows_with_errors": len({e[0] for e in errors}),
        },
    }
    return Response(to_json(body), media_type="application/json")


ERROR_CSV_COLUMNS = ("line", "column", "student", "message")


def error_csv(errors: list[bulk.RowIssue]) -> Response:
    """The errors as a spreadsheet a coordinator fixes the list from; cells that would start
    a formula are neutralised (the student's name is theirs to type)."""
    rows = (
        dict(zip(ERROR_CSV_COLUMNS, (row, field, student, message), strict=True))
        for row, field, message, student in sorted(errors, key=lambda e: e[0])
    )
    return Response(
        csv_text(ERROR_CSV_COLUMNS, rows),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="class-list-errors.csv"'},
    )


async def _class_list(request: Request) -> tuple[bulk.ClassListKind, bytes]:
    """The upload's format and bytes; reading them is left to a worker."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise RequestError("attach the class list as the form field 'file'", "file")
        return "csv", await upload.read()
    if kind in ("text/csv", "application/csv"):
        return "csv", await request.body()
    if kind == "application/json":
        return "json", await request.body()
    raise HTTPException(
        415, "send multipart/form-data (field 'file'), text/csv or application/json"
    )


@router.get(
    "/students",
    tags=["students"],
    summary="Students of your schools",
    responses=listed(401, 403, 422),
)
async def list_students(
    coordinator: CurrentCoordinator,
    registry: RegistryDep,
    request: Request,
    response: Response,
    status_filter: Annotated[
        Literal["active", "withdrawn"] | None, Query(alias="status", examples=["active"])
    ] = None,
    placement: Annotated[PlacementState | None, Query(examples=["offered"])] = None,
    search: Annotated[str, Query(alias="q", max_length=MAX_QUERY, examples=["Souza"])] = "",
    order: Annotated[Literal["id", "name"], Query(examples=["name"])] = "id",
    page: Page = 1,
    size: Size = 50,
) -> list[StudentPublic]:
    """Each with its `placement`: where the student stands (confirmed, offered, declined or
    none) and the opening and employer it is about. Filter by `status`, by `placement`, and
    search with `q` (part of a name, any case, or the start of a student reference); `order`
    by `id` or by `name` (last name, first name). Paged by `page` and `size`; see the `Link`
    and `X-Total-Count` headers."""
    query = RosterQuery(status_filter, placement, search, order)
    rows, total = await registry.roster(coordinator, query, page, size)
    page_headers(request, response, total, page, size)
    return [StudentPublic.listed(row) for row in rows]


@router.get(
    "/students/{student_id}",
    tags=["students"],
    summary="One student of your schools",
    responses=errors(401, 403, 404, 422),
)
async def get_student(
    student_id: StudentId,
    coordinator: CurrentCoordinator,
    registry: RegistryDep,
    response: Response,
) -> StudentPublic:
    """The `ETag` header names this version: send it back as `If-Match` with a PATCH.
    `placement` says where the student stands."""
    student = await attempt(registry.student_for(coordinator, student_id))
    response.headers["ETag"] = etag(student.version)
    return StudentPublic.listed((await registry.roster_rows([student]))[0])


@router.patch(
    "/students/{student_id}",
    tags=["students"],
    summary="Change a student",
    responses=errors(401, 403, 404, 409, 412, 413, 422),
)
async def update_student(
    student_id: StudentId,
    changes: Annotated[dict[str, Any], Body(openapi_examples=STUDENT_PATCH_EXAMPLES)],
    coordinator: CurrentCoordinator,
    registry: RegistryDep,
    request: Request,
    response: Response,
) -> StudentPublic:
    """Only the fields given change; publishes StudentUpdated (matching attributes only).
    `If-Match` as for openings: 412 if the student changed since that version."""
    wanted = if_match_version(request)
    read = await attempt(registry.student_for(coordinator, student_id))
    current = StudentPublic.of(read)
    merged = _merge(
        StudentCreate, current.model_dump(include=set(StudentCreate.model_fields)), changes
    )
    revised = await attempt(
        registry.update_student(
            coordinator, student_id, merged.application(), based_on=read.version, if_match=wanted
        )
    )
    response.headers["ETag"] = etag(revised.version)
    return StudentPublic.of(revised)


@router.post(
    "/students/{student_id}/withdraw",
    tags=["students"],
    summary="Withdraw a student",
    responses=errors(401, 403, 404, 409, 422),
)
async def withdraw_student(
    student_id: StudentId, coordinator: CurrentCoordinator, registry: RegistryDep
) -> StudentPublic:
    """The student leaves matching (StudentWithdrawn); the record stays for the report."""
    return StudentPublic.of(await attempt(registry.withdraw_student(coordinator, student_id)))


# -- matches ------------------------------------------------------------------------------


@router.get(
    "/matches",
    tags=["matches"],
    summary="Matches of your schools (coordinator) or of your openings (employer)",
    response_model=list[MatchPublic] | list[EmployerMatch],
    responses=listed(401, 403, 422),
)
async def list_matches(
    caller: EmployerOrCoordinator,
    registry: RegistryDep,
    request: Request,
    response: Response,
    status_filter: Annotated[
        MatchStatus | None, Query(alias="status", examples=["proposed"])
    ] = None,
    page: Page = 1,
    size: Size = 50,
) -> list[MatchPublic] | list[EmployerMatch]:
    """Employers see anonymous candidate summaries until a placement is confirmed, then
    the student's name and the confirming coordinator's contact. Paged by `page` and `size`;
    see the `Link` and `X-Total-Count` headers."""
    wanted = status_filter.value if status_filter else None
    page_headers(request, response, await registry.count_matches_for(caller, wanted), page, size)
    if isinstance(caller, Employer):
        placements = await registry.matches_for_employer(caller, wanted, page, size)
        return [EmployerMatch.of(p) for p in placements]
    found = await registry.matches_for_coordinator(caller, wanted, page, size)
    return [MatchPublic.of(m) for m in found]


@router.post(
    "/matches/{match_id}/confirm",
    tags=["matches"],
    summary="Confirm a placement",
    responses=errors(401, 403, 404, 409, 413, 422),
)
async def confirm_match(
    match_id: MatchId,
    coordinator: CurrentCoordinator,
    registry: RegistryDep,
    body: Decision | None = None,
) -> MatchPublic:
    """Takes a seat atomically; 409 when none is left or the match is no longer proposed.
    Publishes PlacementConfirmed."""
    note = body.note if body else ""
    return MatchPublic.of(await attempt(registry.confirm_match(coordinator, match_id, note)))


@router.post(
    "/matches/{match_id}/decline",
    tags=["matches"],
    summary="Decline a placement",
    responses=errors(401, 403, 404, 409, 413, 422),
)
async def decline_match(
    match_id: MatchId,
    coordinator: CurrentCoordinator,
    registry: RegistryDep,
    body: Decision | None = None,
) -> MatchPublic:
    """Publishes PlacementDeclined; 409 when the match is no longer proposed."""
    note = body.note if body else ""
    return MatchPublic.of(await attempt(registry.decline_match(coordinator, match_id, note)))


@router.post(
    "/matches/{match_id}/undo",
    tags=["matches"],
    summary="Undo a confirm or decline within its undo window",
    responses=errors(401, 403, 404, 409),
)
async def undo_decision(
    match_id: MatchId, coordinator: CurrentCoordinator, registry: RegistryDep
) -> MatchPublic:
    """Any coordinator of the student's school may undo a decision until its `undo_until`
    (`WBL_REGISTRY_UNDO_S` after it, never past the offer's deadline): the match awaits a
    decision again, with its seat and its original `expires_at`, and its event is never
    published, so neither the employer nor the matcher ever saw it. 409 once the decision has
    been sent ("already sent to <employer>"), or when there is no decision to undo."""
    return MatchPublic.of(await attempt(registry.undo_decision(coordinator, match_id)))


# -- reference ----------------------------------------------------------------------------


def _reference(entries: tuple[ReferenceEntry, ...]) -> list[Reference]:
    return [Reference(code=e.code, name=e.name) for e in entries]


@router.get(
    "/admin/parked-events",
    tags=["admin"],
    summary="Changes whose events the broker refused",
    responses=errors(401, 403),
)
async def parked_events(_: Admin, registry: RegistryDep) -> list[ParkedChangePublic]:
    """Newest first. Each is also counted by `wbl_outbox_parked_events` and at `/readyz`."""
    return [ParkedChangePublic.of(p) for p in await registry.store.parked_changes()]


@router.get("/reference/career-fields", tags=["reference"], summary="Career field codes")
async def career_fields(registry: RegistryDep) -> list[Reference]:
    return _reference(registry.reference.career_fields)


@router.get("/reference/programs", tags=["reference"], summary="Program codes")
async def programs(registry: RegistryDep) -> list[Reference]:
    return _reference(registry.reference.programs)


@router.get("/reference/credentials", tags=["reference"], summary="Credential codes")
async def credentials(registry: RegistryDep) -> list[Reference]:
    return _reference(registry.reference.credentials)


@router.get("/reference/schools", tags=["reference"], summary="School ids")
async def schools(registry: RegistryDep) -> list[Reference]:
    """The schools coordinators and students may name (`school_ids`, `school_id`): reference
    data ops edit like the other lists (`schools.json` under `WBL_REFERENCE_DIR`)."""
    return _reference(registry.reference.schools)


@router.get(
    "/reference/class-list-columns",
    tags=["reference"],
    summary="The columns of a class list (CSV)",
)
async def class_list_columns() -> list[ClassListColumn]:
    """In order: the header a class list's first line names (in any case; `;` or `,`
    between cells), whether each is required, what it holds and a sample cell."""
    return [
        ClassListColumn(column=c.column, required=c.required, meaning=c.meaning, example=c.example)
        for c in bulk.column_help()
    ]
