"""Notifier's adapter for the coordinator's placements page: registry's placements list and
the calls that move a placement on (issue the agreement, record the permit), each made with
the coordinator's own token. Registry alone checks and stores; nothing is kept or logged
here (the answers name students, supervisors and guardians)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from wbl_notifier.registry_account import Forwarded, bearer, forwarded


class RegistryDesk:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def placements(self, token: str, query: Mapping[str, str | int]) -> Forwarded:
        response = await self._client.get(
            "/v1/placements", params=dict(query), headers=bearer(token)
        )
        return forwarded(response)

    async def issue_agreement(self, token: str, match_id: str, body: Any) -> Forwarded:
        response = await self._client.post(
            f"{_placement(match_id)}/agreement", json=body, headers=bearer(token)
        )
        return forwarded(response)

    async def record_permit(self, token: str, match_id: str, body: Any) -> Forwarded:
        response = await self._client.put(
            f"{_placement(match_id)}/permit", json=body, headers=bearer(token)
        )
        return forwarded(response)


def _placement(match_id: str) -> str:
    return f"/v1/placements/{quote(match_id, safe='')}"
