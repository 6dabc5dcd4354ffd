"""The settings page's API: a coordinator's own notification settings (email, webhook URL,
digest) and their webhook signing secret, read and changed in registry with their token.
Registry checks every change; notifier learns the result from `wbl.coordinators`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header
from fastapi.responses import Response

from wbl_common.web import errors
from wbl_notifier.api import CurrentCoordinator, Token
from wbl_notifier.class_list_api import AccountDep, forward

router = APIRouter(prefix="/v1/inbox", tags=["settings"])

SETTINGS_EXAMPLE = {
    "channels": {"email": "dana.rivera@worcester-tech.example.org", "digest": "daily"}
}


@router.get(
    "/settings",
    summary="Your notification settings, as registry holds them (`ETag` names the version)",
    responses=errors(401, 503),
)
async def settings(_: CurrentCoordinator, token: Token, account: AccountDep) -> Response:
    return await forward(account.settings(token))


@router.patch(
    "/settings",
    summary="Change your notification settings: registry's PATCH /v1/coordinators/me",
    description=(
        '`{"channels": {...}}` with any of `email`, `webhook_url` (null removes either) and '
        "`digest` (`immediate` or `daily`). `If-Match` with the settings' `ETag`: 412 if "
        "they changed since. Field errors name `channels.email` and so on."
    ),
    responses=errors(401, 403, 409, 412, 413, 422, 503),
)
async def change_settings(
    _: CurrentCoordinator,
    token: Token,
    account: AccountDep,
    changes: Annotated[dict[str, Any], Body(examples=[SETTINGS_EXAMPLE])],
    if_match: Annotated[str | None, Header(max_length=40)] = None,
) -> Response:
    return await forward(account.change_settings(token, changes, if_match))


@router.post(
    "/webhook-secret",
    summary="A new webhook signing secret, shown once (the previous one signs a while longer)",
    responses=errors(401, 409, 503),
)
async def rotate_webhook_secret(
    coordinator: CurrentCoordinator, token: Token, account: AccountDep
) -> Response:
    return await forward(account.rotate_webhook_secret(token, coordinator.coordinator_id))
