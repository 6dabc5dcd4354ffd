"""The class-list page's API: a coordinator's CSV upload, checked for what is plainly not a
class list, then forwarded to registry (`POST /v1/students/bulk`) with their token; and the
columns a class list has, for the page's help and sample file. Nothing is stored here."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import Response

from wbl_common.ratelimit import throttled
from wbl_common.web import errors, problem
from wbl_notifier.api import CurrentCoordinator, Token, registry_unavailable
from wbl_notifier.registry_account import Forwarded, RegistryAccount

router = APIRouter(prefix="/v1/inbox", tags=["class lists"])
CLASS_LISTS_PATH = "/v1/inbox/class-lists"  # its own body limit (app.py)
CSV_TYPES = ("text/csv", "application/csv")


def get_account(request: Request) -> RegistryAccount:
    account: RegistryAccount = request.app.state.account
    return account


AccountDep = Annotated[RegistryAccount, Depends(get_account)]

# How other files begin: named, so the coordinator learns how to save the list as CSV.
NOT_CSV = (
    (b"PK\x03\x04", "an Excel workbook (.xlsx)"),
    (b"\xd0\xcf\x11\xe0", "an Excel workbook (.xls)"),
    (b"%PDF", "a PDF document"),
    (b"\xff\xfe", "UTF-16 text (Excel's 'Unicode Text')"),
    (b"\xfe\xff", "UTF-16 text"),
)
SAVE_AS_CSV = "In Excel choose File > Save As > 'CSV UTF-8', then upload that file."


def upload_problem(raw: bytes) -> str | None:
    """Why these bytes are plainly not a class list, in the coordinator's words; None when
    they may be one (registry reads and checks it)."""
    if not raw.strip():
        return "The file is empty. Choose the class list, saved as a CSV file."
    for start, what in NOT_CSV:
        if raw.startswith(start):
            return f"This file is {what}, not a CSV file. {SAVE_AS_CSV}"
    if b"\x00" in raw[:4096]:
        return f"This file is not CSV text. {SAVE_AS_CSV}"
    return None


def passed_on(answer: Forwarded) -> Response:
    headers = answer.headers | {"Cache-Control": "no-store"}  # student names, secrets
    return Response(answer.content, answer.status_code, headers, answer.content_type)


async def forward(call: Awaitable[Forwarded]) -> Response:
    """Registry's answer to a call made with the coordinator's token, passed on; 503 when
    registry cannot be reached."""
    try:
        answer = await call
    except httpx.HTTPError as error:
        raise registry_unavailable() from error
    return passed_on(answer)


CSV_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


@router.post(
    "/class-lists",
    summary="Register a class from a CSV file; registry checks and stores it with your token",
    description=(
        "The file as the body (`Content-Type: text/csv`), up to `WBL_NOTIFIER_CLASS_LIST_MAX_"
        "BYTES` (4 MiB by default). Registry's answer as it is: registered rows, rows already "
        "registered, every error by spreadsheet line and column, notes. `?format=csv` answers "
        "the errors as a CSV file. Sending the same list again registers nobody twice."
    ),
    openapi_extra=CSV_BODY,
    dependencies=[Depends(throttled("class-lists"))],
    responses=errors(401, 413, 415, 422, 429, 503),
)
async def upload_class_list(
    request: Request,
    coordinator: CurrentCoordinator,
    token: Token,
    account: AccountDep,
    answer_format: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Response:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in CSV_TYPES:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send the class list as text/csv"
        )
    raw = await request.body()
    wrong = upload_problem(raw)
    if wrong:
        return problem(422, "Invalid request", wrong, errors=[{"field": "file", "message": wrong}])
    try:
        answer = await account.register_class(token, raw, answer_format)
    except httpx.TimeoutException as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The class list took too long to store. Some rows may be registered: upload the "
            "same file again to see (rows already registered are reported as such).",
        ) from error
    except httpx.HTTPError as error:
        raise registry_unavailable() from error
    return passed_on(answer)


@router.get(
    "/class-lists/columns",
    summary="The columns of a class list: required or not, what each holds, a sample cell",
    responses=errors(401, 503),
)
async def class_list_columns(_: CurrentCoordinator, account: AccountDep) -> Response:
    try:
        return passed_on(await account.class_list_columns())
    except httpx.HTTPError as error:
        raise registry_unavailable() from error
