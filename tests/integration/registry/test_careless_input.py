"""Careless input at the registry over real Kafka and FerretDB (issue 12): refused with a
problem that names the field, nothing changed, nothing personal in the logs."""

from __future__ import annotations

import logging

import pytest

from tests.integration.registry.conftest import RunningRegistry
from tests.unit.registry.builders import student_body
from tests.unit.registry.conftest import bearer
from wbl_common.logs import configure_logging

pytestmark = pytest.mark.integration


async def test_an_email_already_used_at_the_school_is_a_409_naming_the_field(
    running: RunningRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging("registry", "DEBUG")
    caplog.set_level(logging.DEBUG)
    key = bearer((await running.coordinator("sch_dup"))["token"])
    first = await running.http.post("/v1/students", json=student_body("sch_dup"), headers=key)
    second = await running.http.post(
        "/v1/students", json=student_body("sch_dup", "Bea"), headers=key
    )
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    taken = first.json()["email"]
    url = f"/v1/students/{second.json()['id']}"

    changed = await running.http.patch(url, json={"email": taken.upper()}, headers=key)

    assert changed.status_code == 409, changed.text
    assert changed.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in changed.json()["errors"]] == ["email"]
    assert taken not in changed.text
    after = await running.http.get(url, headers=key)
    assert after.json()["email"] == second.json()["email"]
    assert after.json()["version"] == second.json()["version"]
    logged = [r for r in caplog.records if taken.lower() in f"{r.getMessage()} {r.args!r}".lower()]
    assert logged == []
