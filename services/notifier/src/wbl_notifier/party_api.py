"""The party pages' API: `POST /v1/party/{call}`, each of registry's party calls forwarded as
it came (the JSON body, its status and JSON answer back). The pages talk to this origin only,
so registry needs no CORS and the pages' content security policy stays `connect-src 'self'`.
The body holds the link, the party's credential: it is bounded and never logged."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from fastapi.responses import Response

from wbl_common.web import errors
from wbl_notifier.api import registry_unavailable
from wbl_notifier.class_list_api import passed_on
from wbl_notifier.registry_party import PARTY_CALLS, RegistryParty

router = APIRouter(prefix="/v1/party", tags=["parties"])
PARTY_MAX_BYTES = 64 * 1024  # a link, a name, a comment: far less than this (app.py)
PARTY_PATHS = tuple(f"/v1/party/{call}" for call in sorted(PARTY_CALLS))


def get_party(request: Request) -> RegistryParty:
    party: RegistryParty = request.app.state.party
    return party


PartyDep = Annotated[RegistryParty, Depends(get_party)]

JSON_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object"},
                "example": {"link": "WyJzaWduLWFncmVlbWVudCIsIm1hdF8uLi4iXQ.Z1a2b3.c4d5e6f7"},
            }
        },
    }
}


@router.post(
    "/{call:path}",
    summary="A party's call by link, forwarded to registry's POST /v1/party/{call}",
    description=(
        "`call` is one of `agreement`, `agreement/sign`, `hours`, `hours/week`, `week`, "
        "`week/verify`, `evaluation`, `evaluation/submit`; the body and answer are "
        "registry's (docs/registry.md). At most 64 KiB of JSON."
    ),
    openapi_extra=JSON_BODY,
    responses=errors(400, 404, 409, 410, 413, 415, 422, 503),
)
async def party_call(
    request: Request,
    call: Annotated[str, Path(max_length=40, examples=["agreement/sign"])],
    party: PartyDep,
) -> Response:
    if call not in PARTY_CALLS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such party call")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send the body as JSON")
    try:
        answer = await party.call(call, await request.body())
    except httpx.HTTPError as error:
        raise registry_unavailable() from error
    return passed_on(answer)
