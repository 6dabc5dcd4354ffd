"""The outcomes page's calls: notifier forwards the report and its definitions to registry
with the coordinator's own token, passes the query through checked, and hands back registry's
body, status and report headers (the definitions' address rewritten to this origin)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from wbl_notifier.adapters import CoordinatorIdentity
from wbl_notifier.app import create_app
from wbl_notifier.config import NotifierSettings
from wbl_notifier.reports import ReportAnswer

pytestmark = pytest.mark.unit

TOKEN = "coo-token-" + "t" * 30
CSV_NAME = "wbl-outcomes-2026-07-01-2027-06-30-asof-2026-12-02.csv"


class Directory:
    async def identify(self, token: str) -> CoordinatorIdentity | None:
        return CoordinatorIdentity("coo_1", ("sch_1",), "Rosa") if token == TOKEN else None


class Vouched:
    async def scope(self, coordinator_id: str, vouched: tuple[str, ...]) -> tuple[str, ...]:
        return vouched


@dataclass
class Reports:
    asked: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    down: bool = False

    async def outcomes(self, token: str, query: Mapping[str, str]) -> ReportAnswer:
        if self.down:
            raise httpx.ConnectError("registry is down")
        self.asked.append((token, dict(query)))
        if query.get("from") == "2027-01-01":
            return ReportAnswer(
                422,
                b'{"title": "Invalid request", "errors": [{"field": "query.to"}]}',
                {"content-type": "application/problem+json"},
            )
        if query.get("format") == "csv":
            return ReportAnswer(
                200,
                b"dimension,group\r\nschool,sch_1\r\n",
                {
                    "content-type": "text/csv; charset=utf-8",
                    "content-disposition": f'attachment; filename="{CSV_NAME}"',
                },
            )
        return ReportAnswer(
            200,
            b'[{"dimension": "school", "group": "sch_1"}]',
            {
                "content-type": "application/json",
                "x-report-period-from": "2026-07-01",
                "x-report-as-of": "2026-12-02T16:05:00+00:00",
                "link": '</v1/reports/outcomes/definitions>; rel="describedby"',
            },
        )

    async def definitions(self, token: str) -> ReportAnswer:
        self.asked.append((token, {}))
        return ReportAnswer(200, b'{"min_group": 10}', {"content-type": "application/json"})


@pytest.fixture
def reports() -> Reports:
    return Reports()


@pytest.fixture
async def http(reports: Reports) -> Any:
    settings = NotifierSettings.model_validate(
        {"WBL_WEBHOOK_KEY": "w" * 40, "link_secret": "l" * 40}
    )
    app: FastAPI = create_app(settings)
    app.state.directory = Directory()
    app.state.notifier = Vouched()
    app.state.reports = reports
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://notifier"
    ) as client:
        yield client


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_report_goes_to_registry_with_the_coordinators_token(
    http: httpx.AsyncClient, reports: Reports
) -> None:
    response = await http.get(
        "/v1/inbox/reports/outcomes",
        params={"school_year": "2026-27", "suppress": "true"},
        headers=bearer(),
    )
    assert response.status_code == 200, response.text
    assert response.json() == [{"dimension": "school", "group": "sch_1"}]
    assert reports.asked == [
        (TOKEN, {"format": "json", "school_year": "2026-27", "suppress": "true"})
    ]
    assert response.headers["x-report-period-from"] == "2026-07-01"
    assert response.headers["x-report-as-of"] == "2026-12-02T16:05:00+00:00"
    assert response.headers["link"] == (
        '</v1/inbox/reports/outcomes/definitions>; rel="describedby"'
    )
    assert response.headers["cache-control"] == "no-store"


async def test_the_csv_keeps_its_filename_and_a_refusal_stays_a_problem(
    http: httpx.AsyncClient, reports: Reports
) -> None:
    csv = await http.get(
        "/v1/inbox/reports/outcomes",
        params={"format": "csv", "from": "2026-09-01", "to": "2026-12-31"},
        headers=bearer(),
    )
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.headers["content-disposition"] == f'attachment; filename="{CSV_NAME}"'
    assert reports.asked[-1][1] == {"format": "csv", "from": "2026-09-01", "to": "2026-12-31"}
    refused = await http.get(
        "/v1/inbox/reports/outcomes", params={"from": "2027-01-01"}, headers=bearer()
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    # Checked here before registry is asked: a date that is not one, a school year too long.
    for query in ({"from": "yesterday"}, {"school_year": "2026-2027"}, {"format": "xml"}):
        bad = await http.get("/v1/inbox/reports/outcomes", params=query, headers=bearer())
        assert bad.status_code == 422, query
    assert len(reports.asked) == 2


async def test_without_a_known_token_nothing_is_forwarded_and_registry_down_is_503(
    http: httpx.AsyncClient, reports: Reports
) -> None:
    for headers in ({}, bearer("nobody-" + "x" * 30)):
        refused = await http.get("/v1/inbox/reports/outcomes", headers=headers)
        assert refused.status_code == 401
    assert reports.asked == []
    definitions = await http.get("/v1/inbox/reports/outcomes/definitions", headers=bearer())
    assert definitions.json() == {"min_group": 10}
    reports.down = True
    down = await http.get("/v1/inbox/reports/outcomes", headers=bearer())
    assert down.status_code == 503
