"""Notifier's HTTP entrypoint for undoing a decision from the inbox: forwarded to registry
under the coordinator's own token (registry alone decides whether the undo may happen)."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from wbl_common.web import errors
from wbl_notifier.api import (
    CurrentCoordinator,
    DecisionsDep,
    Token,
    forwarded,
    registry_unavailable,
)

router = APIRouter(prefix="/v1", tags=["inbox"])


@router.post(
    "/inbox/{match_id}/undo",
    summary="Undo your school's confirm or decline while it has not reached the employer",
    responses=errors(
        401,
        404,
        409,
        422,
        503,
        described={
            409: "Already sent to the employer (the undo window has passed), or nothing to undo"
        },
    ),
)
async def undo(
    match_id: Annotated[str, Path(min_length=1, max_length=64)],
    coordinator: CurrentCoordinator,
    token: Token,
    decisions: DecisionsDep,
) -> JSONResponse:
    """The match awaits a decision again (registry's answer: the match, `undo_until` null);
    its decision was never sent to the employer, the matcher or anyone's email."""
    try:
        answer = await decisions.undo(token, match_id)
    except httpx.HTTPError as error:
        raise registry_unavailable() from error
    return forwarded(answer)
