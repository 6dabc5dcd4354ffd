"""`PATCH /v1/coordinators/me`: a coordinator changes their own notification settings (email,
webhook, digest) with the admin PATCH's checks and versioned write, never their schools or
name; a refused change changes nothing. Roles are covered by test_authorisation's matrix."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest

from tests.unit.registry.conftest import ADMIN_TOKEN, bearer
from tests.unit.registry.test_http import BAD_CHANNELS, problem_fields
from wbl_registry.bulk import CSV_COLUMNS, CSV_REQUIRED
from wbl_registry.store import InMemoryRegistryStore

pytestmark = pytest.mark.unit

ME = "/v1/coordinators/me"


@pytest.fixture
async def dana(http: httpx.AsyncClient) -> dict[str, Any]:
    created = await http.post(
        "/v1/coordinators",
        json={"name": "Dana", "school_ids": ["sch_1"], "channels": {"email": "d@example.org"}},
        headers=bearer(ADMIN_TOKEN),
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def test_a_coordinator_changes_their_own_channels_field_by_field(
    http: httpx.AsyncClient, memory_store: InMemoryRegistryStore, dana: dict[str, Any]
) -> None:
    events = len(memory_store.events)
    changed = await http.patch(
        ME, json={"channels": {"digest": "daily"}}, headers=bearer(dana["token"])
    )
    assert changed.status_code == 200, changed.text
    # Only the field given changed: the email stays.
    assert changed.json()["channels"] == {
        "email": "d@example.org",
        "webhook_url": None,
        "digest": "daily",
    }
    assert changed.json()["school_ids"] == ["sch_1"]
    assert changed.headers["etag"] == '"2"'
    [event] = memory_store.events[events:]
    assert event.event_type == "CoordinatorUpdated"
    assert event.payload.channels.digest == "daily"  # type: ignore[attr-defined]

    removed = await http.patch(
        ME, json={"channels": {"email": None}}, headers=bearer(dana["token"])
    )
    assert removed.json()["channels"] == {"email": None, "webhook_url": None, "digest": "daily"}
    me = await http.get(ME, headers=bearer(dana["token"]))
    assert me.json()["channels"]["email"] is None and me.headers["etag"] == '"3"'


async def test_a_first_webhook_answers_its_secret_once(
    http: httpx.AsyncClient, dana: dict[str, Any]
) -> None:
    hook = {"channels": {"webhook_url": "https://hooks.example.org/wbl"}}
    first = await http.patch(ME, json=hook, headers=bearer(dana["token"]))
    assert first.status_code == 200, first.text
    assert first.json()["webhook_secret"].startswith("whsec_")
    again = await http.patch(
        ME, json={"channels": {"digest": "daily"}}, headers=bearer(dana["token"])
    )
    assert again.json()["webhook_secret"] is None
    assert again.json()["channels"]["webhook_url"] == "https://hooks.example.org/wbl"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"school_ids": ["sch_2"]}, "school_ids"),
        ({"school_ids": ["sch_2"], "channels": {"digest": "daily"}}, "school_ids"),
        ({"name": "Someone else"}, "name"),
        ({"channels": {"digest": "weekly"}}, "channels.digest"),
        ({"channels": {"digest": None}}, "channels.digest"),
        ({"channels": {"email": "dana@example.org", "sms": "555"}}, "channels.sms"),
        *[({"channels": channels}, field) for channels, field in BAD_CHANNELS],
    ],
)
async def test_bad_input_names_the_field_and_changes_nothing(
    http: httpx.AsyncClient,
    memory_store: InMemoryRegistryStore,
    dana: dict[str, Any],
    body: dict[str, Any],
    field: str,
) -> None:
    events = len(memory_store.events)
    refused = await http.patch(ME, json=body, headers=bearer(dana["token"]))
    assert field in problem_fields(refused)
    assert len(memory_store.events) == events
    stored = memory_store.coordinators[dana["id"]]
    assert stored.school_ids == ("sch_1",) and stored.name == "Dana"
    assert stored.channels.email == "d@example.org" and stored.channels.digest == "immediate"
    assert stored.version == 1


async def test_if_match_refuses_a_change_over_settings_changed_since(
    http: httpx.AsyncClient, memory_store: InMemoryRegistryStore, dana: dict[str, Any]
) -> None:
    read = await http.get(ME, headers=bearer(dana["token"]))
    tag = read.headers["etag"]
    # Meanwhile the administrator changes the email.
    admin = await http.patch(
        f"/v1/coordinators/{dana['id']}",
        json={"channels": {"email": "dana@school.example.org"}},
        headers=bearer(ADMIN_TOKEN),
    )
    assert admin.status_code == 200, admin.text
    stale = await http.patch(
        ME,
        json={"channels": {"digest": "daily"}},
        headers=bearer(dana["token"]) | {"If-Match": tag},
    )
    assert stale.status_code == 412, stale.text
    assert memory_store.coordinators[dana["id"]].channels.digest == "immediate"
    fresh = await http.patch(
        ME,
        json={"channels": {"digest": "daily"}},
        headers=bearer(dana["token"]) | {"If-Match": admin.headers["etag"]},
    )
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["channels"] == {
        "email": "dana@school.example.org",
        "webhook_url": None,
        "digest": "daily",
    }


async def test_a_change_that_loses_a_race_is_a_conflict_not_a_lost_update(
    http: httpx.AsyncClient, memory_store: InMemoryRegistryStore, dana: dict[str, Any]
) -> None:
    """Another writer lands the next version between the read and the write: the versioned
    write refuses (409), as the admin PATCH's does, and the other change stands."""
    original = memory_store.replace_coordinator

    async def raced(coordinator: Any, event: Any) -> bool:
        memory_store.replace_coordinator = original  # type: ignore[method-assign]
        stored = memory_store.coordinators[coordinator.id]
        await original(replace(stored, name="Dana R.", version=stored.version + 1), event)
        return await original(coordinator, event)

    memory_store.replace_coordinator = raced  # type: ignore[method-assign]
    lost = await http.patch(
        ME, json={"channels": {"digest": "daily"}}, headers=bearer(dana["token"])
    )
    assert lost.status_code == 409, lost.text
    stored = memory_store.coordinators[dana["id"]]
    assert stored.name == "Dana R." and stored.channels.digest == "immediate"


async def test_the_class_list_columns_are_listed_in_order_with_help(
    http: httpx.AsyncClient,
) -> None:
    columns = (await http.get("/v1/reference/class-list-columns")).json()
    assert tuple(c["column"] for c in columns) == CSV_COLUMNS
    assert {c["column"] for c in columns if c["required"]} == CSV_REQUIRED
    assert all(c["meaning"] for c in columns)
    grade = next(c for c in columns if c["column"] == "grade")
    assert grade["example"] == "11"
