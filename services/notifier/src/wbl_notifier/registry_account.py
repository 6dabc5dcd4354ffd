"""Notifier's adapter for what a coordinator does about their own account from the workspace:
class lists and their own notification settings, forwarded to registry under their token.
Registry alone checks and stores them; nothing of a class list (it names students) is kept
or logged here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

# Registry's headers that mean something to the page: the version to send back, when to
# try again.
PASSED_ON = ("etag", "retry-after")


@dataclass(frozen=True)
class Forwarded:
    """Registry's answer as it came: status, bytes and type, and the headers passed on."""

    status_code: int
    content: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


class RegistryAccount:
    def __init__(self, client: httpx.AsyncClient, class_list_timeout_s: float) -> None:
        self._client = client
        self._class_list_timeout_s = class_list_timeout_s

    async def register_class(self, token: str, csv: bytes, answer_format: str) -> Forwarded:
        response = await self._client.post(
            "/v1/students/bulk",
            params={"format": answer_format},
            content=csv,
            headers=bearer(token) | {"Content-Type": "text/csv"},
            timeout=self._class_list_timeout_s,
        )
        return forwarded(response)

    async def class_list_columns(self) -> Forwarded:
        return forwarded(await self._client.get("/v1/reference/class-list-columns"))

    async def settings(self, token: str) -> Forwarded:
        return forwarded(await self._client.get("/v1/coordinators/me", headers=bearer(token)))

    async def change_settings(
        self, token: str, changes: dict[str, Any], if_match: str | None
    ) -> Forwarded:
        headers = bearer(token) | ({"If-Match": if_match} if if_match else {})
        response = await self._client.patch("/v1/coordinators/me", json=changes, headers=headers)
        return forwarded(response)

    async def rotate_webhook_secret(self, token: str, coordinator_id: str) -> Forwarded:
        response = await self._client.post(
            f"/v1/coordinators/{quote(coordinator_id, safe='')}/webhook-secret/rotate",
            headers=bearer(token),
        )
        return forwarded(response)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def forwarded(response: httpx.Response) -> Forwarded:
    headers = {name: response.headers[name] for name in PASSED_ON if name in response.headers}
    return Forwarded(
        response.status_code,
        response.content,
        response.headers.get("content-type", "application/octet-stream"),
        headers,
    )
