"""An employer sets its own webhook and rotates its signing secret (issue 13, item 6), under
the same URL rules and grace as coordinators; registry tells the notifier through
EmployerRegistered/EmployerUpdated, which name the secret's generation, never the secret.
Who may call what: tests/unit/registry/test_authorisation.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from tests.unit.registry.conftest import ADMIN_TOKEN, WEBHOOK_KEY, bearer, events_on
from tests.unit.registry.test_http import BAD_CHANNELS
from wbl_common.bus import serialize
from wbl_common.secrets import webhook_secret
from wbl_registry.store import InMemoryRegistryStore
from wbl_schemas.events import EmployerProfile, EmployerRegistered, EmployerUpdated
from wbl_schemas.topics import EMPLOYERS

pytestmark = pytest.mark.unit

HOOK = "https://hr.acme.example/hooks/wbl"
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
BAD_URLS = [c["webhook_url"] for c, _ in BAD_CHANNELS if "webhook_url" in c]


@pytest.fixture
async def acme(app: FastAPI, http: httpx.AsyncClient) -> dict[str, str]:
    app.state.registry.clock = lambda: NOW
    created = await http.post("/v1/employers", json={"name": "Acme"}, headers=bearer(ADMIN_TOKEN))
    return {"id": created.json()["id"], "key": created.json()["api_key"]}


def profiles(store: InMemoryRegistryStore) -> list[EmployerProfile]:
    found = [e.payload for e in events_on(store, EMPLOYERS)]
    assert all(isinstance(p, EmployerProfile) for p in found)
    return found  # type: ignore[return-value]


async def test_a_new_employer_is_published_without_a_webhook(
    memory_store: InMemoryRegistryStore, acme: dict[str, str]
) -> None:
    [event] = events_on(memory_store, EMPLOYERS)
    assert isinstance(event, EmployerRegistered)
    assert event.key() == acme["id"]
    assert (event.payload.webhook_url, event.payload.active) == (None, True)


async def test_setting_a_webhook_shows_its_secret_once_and_publishes_no_secret(
    http: httpx.AsyncClient, memory_store: InMemoryRegistryStore, acme: dict[str, str]
) -> None:
    key = bearer(acme["key"])
    first = await http.patch("/v1/employers/me", json={"webhook_url": HOOK}, headers=key)
    assert first.status_code == 200, first.text
    secret = first.json()["webhook_secret"]
    assert secret == webhook_secret(WEBHOOK_KEY, acme["id"], 1)
    assert first.json()["webhook_url"] == HOOK
    me = (await http.get("/v1/employers/me", headers=key)).json()
    assert me == {"id": acme["id"], "name": "Acme", "webhook_url": HOOK, "webhook_secret": None}
    moved = await http.patch("/v1/employers/me", json={"webhook_url": HOOK + "/v2"}, headers=key)
    assert moved.json()["webhook_secret"] is None  # the same secret still signs
    [_, set_first, set_again] = events_on(memory_store, EMPLOYERS)
    assert isinstance(set_first, EmployerUpdated)
    assert [p.webhook_url for p in profiles(memory_store)] == [None, HOOK, HOOK + "/v2"]
    assert [p.version for p in profiles(memory_store)] == [1, 2, 3]
    assert all(secret.encode() not in serialize(e) for e in (set_first, set_again))


async def test_null_removes_the_webhook(
    http: httpx.AsyncClient, memory_store: InMemoryRegistryStore, acme: dict[str, str]
) -> None:
    key = bearer(acme["key"])
    await http.patch("/v1/employers/me", json={"webhook_url": HOOK}, headers=key)
    removed = await http.patch("/v1/employers/me", json={"webhook_url": None}, headers=key)
    assert removed.status_code == 200 and removed.json()["webhook_url"] is None
    assert profiles(memory_store)[-1].webhook_url is None


@pytest.mark.parametrize("url", BAD_URLS)
async def test_a_bad_webhook_url_names_the_field_and_changes_nothing(
    http: httpx.AsyncClient, memory_store: InMemoryRegistryStore, acme: dict[str, str], url: str
) -> None:
    before = len(memory_store.events)
    response = await http.patch(
        "/v1/employers/me", json={"webhook_url": url}, headers=bearer(acme["key"])
    )
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["webhook_url"]
    assert len(memory_store.events) == before
    assert memory_store.employers[acme["id"]].webhook_url is None


async def test_the_body_must_say_which_webhook(
    http: httpx.AsyncClient, acme: dict[str, str]
) -> None:
    for body in ({}, {"webhook_url": HOOK, "email": "hr@acme.example"}):
        response = await http.patch("/v1/employers/me", json=body, headers=bearer(acme["key"]))
        assert response.status_code == 422, body


async def test_rotating_gives_a_new_secret_and_keeps_the_old_one_signing_for_the_grace(
    http: httpx.AsyncClient, memory_store: InMemoryRegistryStore, acme: dict[str, str]
) -> None:
    key = bearer(acme["key"])
    rotate = "/v1/employers/me/webhook-secret/rotate"
    no_hook = await http.post(rotate, headers=key)
    assert no_hook.status_code == 409
    assert no_hook.json()["errors"][0]["field"] == "webhook_url"
    assert "set a webhook URL first" in no_hook.json()["errors"][0]["message"]
    first = (await http.patch("/v1/employers/me", json={"webhook_url": HOOK}, headers=key)).json()
    rotated = await http.post(rotate, headers=key)
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["webhook_secret"] == webhook_secret(WEBHOOK_KEY, acme["id"], 2)
    assert body["webhook_secret"] != first["webhook_secret"]
    assert (body["employer_id"], body["generation"]) == (acme["id"], 2)
    grace_ends = NOW + timedelta(hours=24)  # WBL_REGISTRY_WEBHOOK_GRACE_S's default
    assert datetime.fromisoformat(body["previous_valid_until"]) == grace_ends
    last = profiles(memory_store)[-1]
    assert (last.webhook_secret_generation, last.previous_generation_until) == (2, grace_ends)


async def test_a_revoked_key_is_published_so_the_notifier_stops_its_webhooks(
    http: httpx.AsyncClient, memory_store: InMemoryRegistryStore, acme: dict[str, str]
) -> None:
    await http.patch("/v1/employers/me", json={"webhook_url": HOOK}, headers=bearer(acme["key"]))
    revoked = await http.delete(f"/v1/employers/{acme['id']}/api-key", headers=bearer(ADMIN_TOKEN))
    assert revoked.status_code == 204
    assert (profiles(memory_store)[-1].active, profiles(memory_store)[-1].webhook_url) == (
        False,
        HOOK,
    )
    reinstated = await http.post(f"/v1/employers/{acme['id']}/api-key", headers=bearer(ADMIN_TOKEN))
    assert reinstated.status_code == 200
    assert profiles(memory_store)[-1].active
