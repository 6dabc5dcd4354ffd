"""Notifier's adapter for what the parties without an account (supervisor, guardian,
student) do from their emailed links: each call forwarded to registry's `/v1/party` as it
came. The link is the credential and travels in the body; registry alone reads and checks
it. Nothing of the body is kept or logged here."""

from __future__ import annotations

import httpx

from wbl_notifier.registry_account import Forwarded, forwarded

# The party calls registry answers, each by its path under /v1/party. Evaluations come with
# the placement's life (the supervisor's midpoint and final ratings).
PARTY_CALLS = frozenset(
    {
        "agreement",
        "agreement/sign",
        "hours",
        "hours/week",
        "week",
        "week/verify",
        "evaluation",
        "evaluation/submit",
    }
)


class RegistryParty:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def call(self, action: str, body: bytes) -> Forwarded:
        """`action` is one of PARTY_CALLS (the route checks it before it comes here)."""
        response = await self._client.post(
            f"/v1/party/{action}", content=body, headers={"Content-Type": "application/json"}
        )
        return forwarded(response)
