"""Employers in the loop (issue 13, item 6): openings that start in the past are refused,
list endpoints page with Link and X-Total-Count, schools are reference data."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from tests.unit.registry.builders import opening_body, student_body
from tests.unit.registry.conftest import ADMIN_TOKEN, bearer

pytestmark = pytest.mark.unit


@pytest.fixture
async def employer_key(http: httpx.AsyncClient) -> str:
    created = await http.post("/v1/employers", json={"name": "Acme"}, headers=bearer(ADMIN_TOKEN))
    key: str = created.json()["api_key"]
    return key


# -- openings that start in the past -----------------------------------------------------


async def test_an_opening_that_started_in_the_past_is_refused_naming_starts_on(
    http: httpx.AsyncClient, employer_key: str
) -> None:
    response = await http.post(
        "/v1/openings",
        json=opening_body(starts_on="2020-06-01", ends_on="2020-08-31"),
        headers=bearer(employer_key),
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "starts_on"
    assert "2020-06-01 has passed" in error["message"]


async def test_a_patch_may_not_move_the_start_into_the_past_but_may_keep_a_passed_one(
    app: FastAPI, http: httpx.AsyncClient, employer_key: str
) -> None:
    posted = await http.post("/v1/openings", json=opening_body(), headers=bearer(employer_key))
    path = f"/v1/openings/{posted.json()['id']}"
    moved = await http.patch(path, json={"starts_on": "2020-06-01"}, headers=bearer(employer_key))
    assert moved.status_code == 422
    assert moved.json()["errors"][0]["field"] == "starts_on"
    # Later, once the opening is under way, its seats may still be corrected.
    app.state.registry.clock = lambda: datetime(2027, 7, 1, tzinfo=UTC)
    corrected = await http.patch(path, json={"seats": 3}, headers=bearer(employer_key))
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["seats"] == 3


# -- list endpoints page with Link and X-Total-Count --------------------------------------


async def test_openings_come_a_page_at_a_time_with_a_next_link_and_a_total(
    http: httpx.AsyncClient, employer_key: str
) -> None:
    for n in range(5):
        await http.post(
            "/v1/openings", json=opening_body(title=f"Intern {n}"), headers=bearer(employer_key)
        )
    seen: list[str] = []
    url: str | None = "/v1/openings?size=2&status=open"
    while url:
        page = await http.get(url, headers=bearer(employer_key))
        assert page.status_code == 200
        assert isinstance(page.json(), list)  # the body stays a bare JSON array
        assert page.headers["X-Total-Count"] == "5"
        seen.extend(o["title"] for o in page.json())
        url = page.links.get("next", {}).get("url")
        assert url is None or "status=open" in url  # the filter carries over
    assert sorted(seen) == [f"Intern {n}" for n in range(5)]


async def test_students_and_matches_lists_carry_the_total_too(
    http: httpx.AsyncClient, employer_key: str
) -> None:
    created = await http.post(
        "/v1/coordinators",
        json={"name": "Dana", "school_ids": ["sch_1"]},
        headers=bearer(ADMIN_TOKEN),
    )
    token = created.json()["token"]
    students = await http.get("/v1/students", headers=bearer(token))
    assert students.json() == [] and students.headers["X-Total-Count"] == "0"
    assert "Link" not in students.headers
    for secret in (token, employer_key):
        matches = await http.get("/v1/matches?status=proposed", headers=bearer(secret))
        assert matches.status_code == 200 and matches.headers["X-Total-Count"] == "0"


async def test_the_paging_headers_are_in_the_openapi_document(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]
    for path in ("/v1/openings", "/v1/students", "/v1/matches"):
        headers = paths[path]["get"]["responses"]["200"]["headers"]
        assert set(headers) == {"Link", "X-Total-Count"}, path


# -- schools as reference data -----------------------------------------------------------


async def test_the_schools_are_served_as_reference_data_to_anyone(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/reference/schools")
    assert response.status_code == 200
    codes = {s["code"] for s in response.json()}
    assert {"sch_worcester_tech", "sch_demo"} <= codes
    assert all(s["name"] for s in response.json())


async def test_an_unknown_school_id_is_refused_once_schools_are_listed_only(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    app.state.registry.schools_listed_only = True
    create = await http.post(
        "/v1/coordinators",
        json={"name": "Dana", "school_ids": ["sch_worcester_tech", "sch_invented"]},
        headers=bearer(ADMIN_TOKEN),
    )
    assert create.status_code == 422, create.text
    [error] = create.json()["errors"]
    assert error["field"] == "school_ids"
    assert "'sch_invented'" in error["message"] and "/v1/reference/schools" in error["message"]
    known = await http.post(
        "/v1/coordinators",
        json={"name": "Dana", "school_ids": ["sch_worcester_tech"]},
        headers=bearer(ADMIN_TOKEN),
    )
    assert known.status_code == 201
    moved = await http.patch(
        f"/v1/coordinators/{known.json()['id']}",
        json={"school_ids": ["sch_invented"]},
        headers=bearer(ADMIN_TOKEN),
    )
    assert moved.status_code == 422 and moved.json()["errors"][0]["field"] == "school_ids"
    token = known.json()["token"]
    student = await http.post(
        "/v1/students", json=student_body("sch_invented"), headers=bearer(token)
    )
    assert student.status_code == 422 and student.json()["errors"][0]["field"] == "school_id"
    listed = await http.post(
        "/v1/students/bulk", json=[student_body("sch_invented")], headers=bearer(token)
    )
    [row_error] = listed.json()["errors"]
    assert row_error["field"] == "school_id" and "unknown school" in row_error["message"]
