"""Registry's outcomes report, fetched for a coordinator's page with their own token: the
notifier keeps none of it (counts only, but registry decides who may see which schools)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx

# What the page needs of registry's answer besides the body: the period, the as-of time,
# the suppression threshold, the definitions' address and the CSV's filename.
FORWARDED_HEADERS = (
    "content-type",
    "content-disposition",
    "link",
    "x-report-period-from",
    "x-report-period-to",
    "x-report-school-year",
    "x-report-as-of",
    "x-report-suppressed-below",
    "x-report-wbl-hours-threshold",
)


@dataclass(frozen=True)
class ReportAnswer:
    status_code: int
    content: bytes
    headers: dict[str, str]


class ReportDesk(Protocol):
    async def outcomes(self, token: str, query: Mapping[str, str]) -> ReportAnswer: ...

    async def definitions(self, token: str) -> ReportAnswer: ...


class RegistryReports:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def outcomes(self, token: str, query: Mapping[str, str]) -> ReportAnswer:
        return await self._get("/v1/reports/outcomes", token, query)

    async def definitions(self, token: str) -> ReportAnswer:
        return await self._get("/v1/reports/outcomes/definitions", token, {})

    async def _get(self, path: str, token: str, query: Mapping[str, str]) -> ReportAnswer:
        response = await self._client.get(
            path, params=dict(query), headers={"Authorization": f"Bearer {token}"}
        )
        kept = {k: v for k, v in response.headers.items() if k.lower() in FORWARDED_HEADERS}
        return ReportAnswer(response.status_code, response.content, kept)
