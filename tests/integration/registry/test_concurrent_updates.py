"""Concurrent changes to one opening against real FerretDB: each accepted change is a new
version, and the others are refused with 409, never silently overwritten."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.registry.conftest import RunningRegistry
from tests.unit.registry.builders import opening_body
from tests.unit.registry.conftest import bearer

pytestmark = pytest.mark.integration

WRITERS = 8


async def test_concurrent_patches_of_one_opening_lose_no_update(running: RunningRegistry) -> None:
    employer = await running.employer()
    key = bearer(employer["api_key"])
    created = await running.http.post("/v1/openings", json=opening_body(), headers=key)
    assert created.status_code == 201, created.text
    opening_id = created.json()["id"]

    responses = await asyncio.gather(
        *(
            running.http.patch(f"/v1/openings/{opening_id}", json={"seats": n}, headers=key)
            for n in range(3, 3 + WRITERS)
        )
    )
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 409}, [r.text for r in responses]
    accepted = [r.json() for r in responses if r.status_code == 200]
    assert accepted, "at least one change lands"
    # Each accepted change produced its own version; none was written over another.
    assert sorted(a["version"] for a in accepted) == list(range(2, 2 + len(accepted)))
    stored = (await running.http.get(f"/v1/openings/{opening_id}", headers=key)).json()
    assert stored["version"] == 1 + len(accepted)
    last = max(accepted, key=lambda a: a["version"])
    assert stored["seats"] == last["seats"]
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.headers["content-type"].startswith("application/problem+json")
