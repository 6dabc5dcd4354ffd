"""Unknown school ids are refused by default (WBL_REGISTRY_SCHOOLS_LISTED_ONLY is true):
against the bundled reference data, as a fresh deployment has it, a coordinator, a student
and a class-list row naming an unlisted school are refused with the id and where the list
is; a listed school is accepted. Ops list more schools with WBL_REFERENCE_DIR."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.unit.registry.builders import student_body
from tests.unit.registry.conftest import ADMIN_TOKEN, WEBHOOK_KEY, bearer, settings
from wbl_registry.handlers import Registry
from wbl_registry.store import InMemoryRegistryStore
from wbl_schemas.reference import BUNDLED_DIR, load_reference

pytestmark = pytest.mark.unit

LISTED, UNLISTED = "sch_worcester_tech", "sch_invented"


@pytest.fixture
def defaults(app: FastAPI) -> FastAPI:
    """The app's registry as the service builds it by default, on the bundled reference."""
    assert settings().schools_listed_only is True
    app.state.registry = Registry(
        store=InMemoryRegistryStore(),
        reference=load_reference(BUNDLED_DIR),
        webhook_key=WEBHOOK_KEY,
    )
    assert app.state.registry.schools_listed_only is True
    return app


def refused_naming(response: httpx.Response, field: str) -> str:
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == field
    message: str = error["message"]
    assert f"'{UNLISTED}'" in message and "GET /v1/reference/schools" in message
    return message


async def test_an_unlisted_school_is_refused_by_default_and_a_listed_one_accepted(
    defaults: FastAPI, http: httpx.AsyncClient
) -> None:
    admin = bearer(ADMIN_TOKEN)
    unknown = await http.post(
        "/v1/coordinators", json={"name": "Dana", "school_ids": [UNLISTED]}, headers=admin
    )
    assert "WBL_REFERENCE_DIR" in refused_naming(unknown, "school_ids")
    known = await http.post(
        "/v1/coordinators", json={"name": "Dana", "school_ids": [LISTED]}, headers=admin
    )
    assert known.status_code == 201, known.text
    token = bearer(known.json()["token"])
    student = await http.post("/v1/students", json=student_body(UNLISTED), headers=token)
    refused_naming(student, "school_id")
    rows = await http.post(
        "/v1/students/bulk",
        json=[student_body(LISTED), student_body(UNLISTED, first="Ben")],
        headers=token,
    )
    assert rows.status_code == 200, rows.text
    [row_error] = rows.json()["errors"]
    assert row_error["field"] == "school_id" and f"'{UNLISTED}'" in row_error["message"]
    assert "GET /v1/reference/schools" in row_error["message"]
    assert len(rows.json()["registered"]) == 1  # the listed school's row
    accepted = await http.post("/v1/students", json=student_body(LISTED), headers=token)
    assert accepted.status_code == 201, accepted.text


async def test_the_test_suite_lists_its_schools_as_ops_would(http: httpx.AsyncClient) -> None:
    """tests/conftest.py points WBL_REFERENCE_DIR at an edited copy: bundled plus tests'."""
    codes = {s["code"] for s in (await http.get("/v1/reference/schools")).json()}
    bundled = {s.code for s in load_reference(BUNDLED_DIR).schools}
    assert bundled < codes and "sch_1" in codes and UNLISTED not in codes
