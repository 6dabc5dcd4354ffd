"""The placements page's API in notifier: the list and the calls that move a placement on go
to registry under the coordinator's own token, the query and body as given, and registry's
answer comes back as it was (a refusal stays problem+json), never cached; a `needs` registry
does not know is refused here; the page is in the navigation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.unit.notifier.test_opening_text import TOKEN, Directory, profile
from tests.unit.notifier.test_workspace_forwarding import FakeRegistry, Workspace
from wbl_notifier.app import create_app
from wbl_notifier.config import NotifierSettings
from wbl_notifier.desk import RegistryDesk
from wbl_notifier.handlers import Notifier
from wbl_notifier.store import InMemoryNotifierStore
from wbl_schemas.events import CoordinatorRegistered

pytestmark = pytest.mark.unit


@pytest.fixture
async def desk() -> AsyncIterator[Workspace]:
    settings = NotifierSettings.model_validate(
        {"WBL_WEBHOOK_KEY": "w" * 40, "link_secret": "l" * 40}
    )
    app = create_app(settings)
    notifier = Notifier(store=InMemoryNotifierStore())
    await notifier.on_coordinator_event(CoordinatorRegistered(producer="t", payload=profile()))
    registry = FakeRegistry()
    async with (
        httpx.AsyncClient(
            transport=httpx.MockTransport(registry), base_url="http://registry"
        ) as to_registry,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://notifier",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as http,
    ):
        app.state.directory = Directory()
        app.state.notifier = notifier
        app.state.desk = RegistryDesk(to_registry)
        yield Workspace(http, registry)


async def test_the_list_is_registrys_asked_with_the_coordinators_token(desk: Workspace) -> None:
    listed = await desk.http.get("/v1/inbox/placements?needs=permit&after=mat_1&limit=10")
    assert listed.status_code == 200 and listed.json() == {"ok": True}
    assert listed.headers["cache-control"] == "no-store"
    sent = desk.registry.seen[-1]
    assert sent.method == "GET" and sent.url.path == "/v1/placements"
    assert dict(sent.url.params) == {"needs": "permit", "after": "mat_1", "limit": "10"}
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"


async def test_a_need_registry_does_not_know_is_refused_here(desk: Workspace) -> None:
    refused = await desk.http.get("/v1/inbox/placements?needs=paperwork")
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert desk.registry.seen == []


async def test_issuing_and_the_permit_go_to_that_placement_with_the_body_as_given(
    desk: Workspace,
) -> None:
    body = {"supervisor": {"name": "Pat", "email": "pat@acme.example.org"}, "x": [1]}
    issued = await desk.http.post("/v1/inbox/placements/mat_1/agreement", json=body)
    assert issued.status_code == 200
    sent = desk.registry.seen[-1]
    assert sent.method == "POST" and sent.url.path == "/v1/placements/mat_1/agreement"
    assert json.loads(sent.content) == body
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"

    desk.registry.answer = httpx.Response(
        422,
        json={"title": "Invalid request", "errors": [{"field": "issued_on", "message": "no"}]},
        headers={"content-type": "application/problem+json"},
    )
    refused = await desk.http.put("/v1/inbox/placements/mat_1/permit", json={"number": "1"})
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["field"] == "issued_on"
    assert desk.registry.seen[-1].method == "PUT"
    assert desk.registry.seen[-1].url.path == "/v1/placements/mat_1/permit"


async def test_registry_out_of_reach_is_a_503(desk: Workspace) -> None:
    desk.registry.down = True
    assert (await desk.http.get("/v1/inbox/placements")).status_code == 503


async def test_the_page_is_in_the_navigation(desk: Workspace) -> None:
    page = await desk.http.get("/placements")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert 'href="/placements" aria-current="page"' in page.text
    assert 'src="/inbox/static/placements.js"' in page.text
    script = await desk.http.get("/inbox/static/placements.js")
    assert script.status_code == 200
